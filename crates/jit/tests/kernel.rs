//! The JIT against the kernel: every fixture's `NAME_mem` program, compiled, returns on
//! every sample input (in the low 32 bits of r0) what the fixture's `NAME_xdp` twin returns
//! in the kernel (`BPF_PROG_TEST_RUN`, the input as the packet). Both entry points compute
//! the same function of the bytes (fixtures/common.h). Skipped, saying why, where this
//! process may not load BPF programs.
#![cfg(target_os = "linux")]

use bpfkit_isa::encode_program;
use bpfkit_jit::JitProgram;
use bpfkit_kernel::{ProgType, Program, TestRun};
use bpfkit_vm::Helpers;

#[test]
fn jit_agrees_with_the_kernel_on_every_fixture_and_input() {
    if let Err(why) = bpfkit_kernel::available() {
        eprintln!("skipped: the kernel cannot be asked here: {why}");
        return;
    }
    let mut compared = 0;
    for run in bpfkit_fixtures::expected() {
        let (name, input) = (&run.name, &run.input);
        let mut jit =
            JitProgram::new(&bpfkit_fixtures::mem_program(name), &Helpers::new()).unwrap();
        let xdp = format!("{name}_xdp");
        let code = encode_program(&bpfkit_fixtures::program(name, &xdp));
        let kernel = Program::load(ProgType::Xdp, &code, "GPL", &xdp)
            .unwrap_or_else(|e| panic!("{xdp}: {e}"));
        let mut mem = run.input_bytes();
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
