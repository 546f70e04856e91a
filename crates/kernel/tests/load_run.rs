//! Loading and running hand-assembled programs in the kernel. Skipped, with one line
//! saying why, where this process may not load BPF programs.
#![cfg(target_os = "linux")]

use bpfkit_kernel::{available, Errno, KernelError, ProgType, Program, TestRun};

/// Whether the kernel can be used; prints why not.
fn kernel(test: &str) -> bool {
    match available() {
        Ok(()) => true,
        Err(why) => {
            println!("skipped {test}: kernel BPF not available: {why}");
            false
        }
    }
}

/// Encodes `(opcode, dst | src << 4, off, imm)` instructions.
fn assemble(insns: &[(u8, u8, i16, i32)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(code, regs, off, imm) in insns {
        out.push(code);
        out.push(regs);
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&imm.to_le_bytes());
    }
    out
}

/// `mov64 r0, imm` (BPF_ALU64 | BPF_MOV | BPF_K) and `exit` (BPF_JMP | BPF_EXIT).
const MOV64_R0: u8 = 0xb7;
const EXIT: u8 = 0x95;

#[test]
fn xdp_pass_returns_2_and_leaves_the_packet_alone() {
    if !kernel("xdp_pass_returns_2_and_leaves_the_packet_alone") {
        return;
    }
    // XDP_PASS = 2 in enum xdp_action.
    let code = assemble(&[(MOV64_R0, 0, 0, 2), (EXIT, 0, 0, 0)]);
    let program = Program::load(ProgType::Xdp, &code, "GPL", "xdp_pass").unwrap();
    let packet: Vec<u8> = (0..64).collect();
    let result = program
        .test_run(&TestRun {
            data_in: &packet,
            data_out_size: 256,
            repeat: 10,
            ..TestRun::default()
        })
        .unwrap();
    assert_eq!(result.retval, 2);
    assert_eq!(result.data_out, packet);
}

#[test]
fn reading_an_uninitialised_register_is_rejected_with_the_verifier_log() {
    if !kernel("reading_an_uninitialised_register_is_rejected_with_the_verifier_log") {
        return;
    }
    // r0 = r2 (BPF_ALU64 | BPF_MOV | BPF_X): an XDP program gets only r1 (the context).
    let code = assemble(&[(0xbf, 0x20, 0, 0), (EXIT, 0, 0, 0)]);
    match Program::load(ProgType::Xdp, &code, "GPL", "uninit") {
        Err(KernelError::Rejected { name, errno, log }) => {
            assert_eq!(name, "uninit");
            // bpf(2): EACCES when the verifier finds the program unsafe.
            assert_eq!(errno, Errno(libc::EACCES));
            // kernel/bpf/verifier.c, check_reg_arg: "R%d !read_ok".
            assert!(log.contains("R2 !read_ok"), "log:\n{log}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn code_that_is_not_whole_instructions_is_refused_before_the_kernel() {
    let err = Program::load(ProgType::Xdp, &[0xb7, 0, 0], "GPL", "short").unwrap_err();
    assert!(matches!(err, KernelError::InvalidInput(_)), "{err}");
    let err = Program::load(ProgType::Xdp, &[0; 8], "G\0PL", "nul").unwrap_err();
    assert!(matches!(err, KernelError::InvalidInput(_)), "{err}");
}
