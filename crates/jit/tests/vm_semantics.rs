//! The interpreter's semantics tests (crates/vm/tests/semantics.rs, values derived by hand
//! from RFC 9669), run on the JIT: build.rs copies them with `Interpreter::new` replaced
//! by `JitProgram::new`.

// The copied imports still name the interpreter.
#![allow(unused_imports)]

include!(concat!(env!("OUT_DIR"), "/vm_semantics.rs"));
