//! Makes the interpreter's semantics tests (crates/vm/tests/semantics.rs) run on the JIT:
//! writes them to `$OUT_DIR/vm_semantics.rs` with each `Interpreter::new` replaced by
//! `JitProgram::new` (the two have the same API) and without the file's inner doc comment,
//! for tests/vm_semantics.rs to include. Outside this repository (no such file) the
//! output is empty.

use std::path::Path;

fn main() {
    let source = Path::new("../vm/tests/semantics.rs");
    println!("cargo:rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(source).unwrap_or_default();
    let adapted: Vec<String> = text
        .lines()
        .filter(|line| !line.starts_with("//!"))
        .map(|line| line.replace("Interpreter::new(", "bpfkit_jit::JitProgram::new("))
        .collect();
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("vm_semantics.rs");
    std::fs::write(out, adapted.join("\n")).expect("write vm_semantics.rs");
}
