//! bpfkit against the kernel: for every fixture object and every sample input, the
//! object's `NAME_mem` program run in bpfkit's interpreter on the input's bytes must return
//! (in the low 32 bits of r0) what its `NAME_xdp` program returns in the kernel, run with
//! BPF_PROG_TEST_RUN on the same bytes as a packet. Both entry points compute the same
//! function of the bytes (fixtures/common.h).
//!
//! Where this process may not load BPF programs, each comparison is skipped with one line
//! saying why, and the summary line counts it as skipped, not passed.
#![cfg(target_os = "linux")]

use bpfkit_isa::encode_program;
use bpfkit_kernel::{available, ProgType, Program, TestRun};
use bpfkit_object::Object;
use bpfkit_vm::{Helpers, Interpreter};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The files of `dir` with extension `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn interpreter_agrees_with_the_kernel_on_every_fixture_and_input() {
    let kernel = available();
    let objects = files(&fixtures(), "o");
    let inputs = files(&fixtures().join("inputs"), "bin");
    assert!(
        !objects.is_empty() && !inputs.is_empty(),
        "no fixtures found"
    );

    let (mut ran, mut skipped) = (0, 0);
    let mut disagreements = Vec::new();
    for object_path in &objects {
        let name = stem(object_path);
        let object = Object::parse(&std::fs::read(object_path).unwrap())
            .unwrap_or_else(|e| panic!("{name}.o: {e}"));
        let mem = object.program(&format!("{name}_mem")).unwrap();
        let mut vm = Interpreter::new(&mem.insns().unwrap(), &Helpers::new())
            .unwrap_or_else(|e| panic!("{}: {e}", mem.name()));
        let xdp = object.program(&format!("{name}_xdp")).unwrap();
        let in_kernel = match &kernel {
            Ok(()) => {
                let code = encode_program(&xdp.insns().unwrap());
                Some(
                    Program::load(ProgType::Xdp, &code, "GPL", xdp.name())
                        .unwrap_or_else(|e| panic!("{}: {e}", xdp.name())),
                )
            }
            Err(_) => None,
        };

        for input_path in &inputs {
            let case = format!("{name} on inputs/{}.bin", stem(input_path));
            let Some(program) = &in_kernel else {
                let why = kernel.as_ref().unwrap_err();
                println!("skipped {case}: kernel BPF not available: {why}");
                skipped += 1;
                continue;
            };
            let input = std::fs::read(input_path).unwrap();
            let ours = vm
                .run_mem(&mut input.clone())
                .unwrap_or_else(|e| panic!("{case}: bpfkit: {e}"));
            let theirs = program
                .test_run(&TestRun {
                    data_in: &input,
                    ..TestRun::default()
                })
                .unwrap_or_else(|e| panic!("{case}: kernel: {e}"));
            ran += 1;
            if ours.r0 as u32 != theirs.retval {
                disagreements.push(format!(
                    "{case}: bpfkit r0 = {:#x}, kernel retval = {:#010x}",
                    ours.r0, theirs.retval
                ));
            }
        }
    }
    println!(
        "bpfkit vs kernel: {ran} comparisons ran, {} agreed, {} disagreed, {skipped} skipped",
        ran - disagreements.len(),
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
