//! The JIT against the kernel: every fixture's `NAME_mem` program, compiled, returns on
//! every sample input (in the low 32 bits of r0) what the fixture's `NAME_xdp` twin returns
//! in the kernel (`BPF_PROG_TEST_RUN`, the input as the packet). Both entry points compute
//! the same function of the bytes (fixtures/common.h). Skipped, saying why, where this
//! process may not load BPF programs.
#![cfg(target_os = "linux")]

use bpfkit_isa::encode_program;
use bpfkit_jit::JitProgram;
use bpfkit_kernel::{ProgType, Program, TestRun};
use bpfkit_object::Object;
use bpfkit_vm::Helpers;
use std::path::PathBuf;

#[test]
fn jit_agrees_with_the_kernel_on_every_fixture_and_input() {
    if let Err(why) = bpfkit_kernel::available() {
        eprintln!("skipped: the kernel cannot be asked here: {why}");
        return;
    }
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let expected = std::fs::read_to_string(fixtures.join("expected.txt")).unwrap();
    let mut compared = 0;
    for line in expected.lines() {
        let [name, input, _] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            panic!("malformed line in expected.txt: {line:?}");
        };
        let object = Object::parse(&std::fs::read(fixtures.join(format!("{name}.o"))).unwrap())
            .unwrap_or_else(|e| panic!("{name}.o: {e}"));
        let insns = object
            .program(&format!("{name}_mem"))
            .unwrap()
            .insns()
            .unwrap();
        let mut jit = JitProgram::new(&insns, &Helpers::new()).unwrap();
        let xdp = object.program(&format!("{name}_xdp")).unwrap();
        let code = encode_program(&xdp.insns().unwrap());
        let kernel = Program::load(ProgType::Xdp, &code, "GPL", xdp.name())
            .unwrap_or_else(|e| panic!("{name}_xdp: {e}"));
        let mut mem = std::fs::read(fixtures.join(input)).unwrap();
        let packet = mem.clone();
        let ours = jit
            .run_mem(&mut mem)
            .unwrap_or_else(|e| panic!("{name} on {input}: {e}"));
        let theirs = kernel
            .test_run(&TestRun {
                data_in: &packet,
                data_out_size: packet.len(),
                repeat: 1,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{name}_xdp on {input}: {e}"));
        assert_eq!(ours.r0 as u32, theirs.retval, "{name} on {input}");
        compared += 1;
    }
    assert!(compared >= 30, "only {compared} comparisons");
}
