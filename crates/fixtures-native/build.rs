//! Compiles every fixture's C source for the host with -DNATIVE (see fixtures/common.h),
//! preferring clang-19, the compiler of the BPF objects, so both sides share an optimizer.

use std::path::PathBuf;
use std::process::Command;

/// The fixtures with a native entry point, `<name>_mem`.
const FIXTURES: &[&str] = &["hash", "parse", "checksum", "sort", "loop", "calls"];

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../fixtures");
    let mut build = cc::Build::new();
    let clang = Command::new("clang-19").arg("--version").output().is_ok();
    if clang {
        build.compiler("clang-19");
    }
    build.opt_level(2).define("NATIVE", None).warnings(false);
    for name in FIXTURES {
        let src = dir.join(format!("{name}.c"));
        println!("cargo:rerun-if-changed={}", src.display());
        build.file(src);
    }
    println!("cargo:rerun-if-changed={}", dir.join("common.h").display());
    let compiler = build.get_compiler();
    println!(
        "cargo:rustc-env=FIXTURES_NATIVE_CC={}",
        compiler.path().display()
    );
    build.compile("fixtures_native");
}
