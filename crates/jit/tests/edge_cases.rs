//! The traps other JITs fell into, each run on the interpreter and the JIT (plain and
//! blinded, which must agree: see `common::run_both`) and checked against a value derived
//! by hand from RFC 9669 and the interpreter's documented semantics.

mod common;

use bpfkit_isa::{AluOp, AtomicOp, Insn, JmpCond, LddwKind, Operand, Size, Width};
use bpfkit_vm::interp::{FUNC_ADDR_BASE, MAX_FRAMES};
use bpfkit_vm::{Access, Fault, HelperError, Helpers, Outcome, PrepareErrorKind, VmError};
use common::*;

fn run(insns: &[Insn], mem: &[u8]) -> Result<Outcome, VmError> {
    run_both(insns, mem, &Helpers::new(), 1_000_000)
        .expect("program prepares")
        .0
}

fn r0(insns: &[Insn]) -> u64 {
    run(insns, &[]).expect("program runs").r0
}

#[test]
fn bounds_checks_never_form_addr_plus_size() {
    // r1 = mem + 12, an 8-byte load from a 16-byte buffer: [12, 20) is out.
    let prog = [ldx(Size::DW, 0, 1, 12), EXIT];
    let (res, _) = run_both(&prog, &[0; 16], &Helpers::new(), 100).unwrap();
    let Err(VmError {
        pc: 0,
        fault:
            Fault::OutOfBounds {
                size: 8,
                access: Access::Read,
                ..
            },
    }) = res
    else {
        panic!("expected an out-of-bounds read at 0, got {res:?}");
    };
    // addr = 2^64 - 2: addr + 8 wraps to 6, which a naive `addr + size <= end` check of a
    // region starting at a low address would accept.
    let prog = [lddw(1, u64::MAX - 1), ldx(Size::DW, 0, 1, 0), EXIT];
    assert_eq!(
        run(&prog, &[0; 16]),
        Err(VmError {
            pc: 2,
            fault: Fault::OutOfBounds {
                addr: u64::MAX - 1,
                size: 8,
                access: Access::Read
            }
        })
    );
    // The last byte of the buffer is readable; the last 8 bytes too.
    let prog = [
        ldx(Size::B, 0, 1, 15),
        ldx(Size::DW, 3, 1, 8),
        alu64(AluOp::Add, 0, 3),
        EXIT,
    ];
    let mut mem = [0u8; 16];
    mem[8] = 1;
    mem[15] = 2;
    // 2 + (little-endian u64 of bytes 8..16 = 1 + 2 << 56).
    assert_eq!(run(&prog, &mem).unwrap().r0, 2 + 1 + (2 << 56));
}

#[test]
fn stores_to_read_only_or_foreign_memory_fault() {
    // Writing one byte past the buffer.
    let prog = [mov(2, 7), stx(Size::B, 1, 2, 4), EXIT];
    let res = run(&prog, &[0; 4]);
    assert!(
        matches!(
            res,
            Err(VmError {
                pc: 1,
                fault: Fault::OutOfBounds {
                    size: 1,
                    access: Access::Write,
                    ..
                }
            })
        ),
        "{res:?}"
    );
    // r10 + 8 is above the frame: checked, and outside every region.
    let prog = [mov(2, 7), stx(Size::DW, 10, 2, 8), EXIT];
    let res = run(&prog, &[]);
    assert!(
        matches!(
            res,
            Err(VmError {
                pc: 1,
                fault: Fault::OutOfBounds { .. }
            })
        ),
        "{res:?}"
    );
}

#[test]
fn thirty_two_bit_operations_clear_the_upper_half() {
    let high = 0xffff_ffff_0000_0001;
    // w0 = w0: 1.
    assert_eq!(r0(&[lddw(0, high), alu32(AluOp::Mov, 0, 0), EXIT]), 1);
    // w0 += 0: 1.
    assert_eq!(r0(&[lddw(0, high), alu32i(AluOp::Add, 0, 0), EXIT]), 1);
    // w0 <<= 0 (immediate) and w0 <<= w1 with w1 = 0: 1.
    assert_eq!(r0(&[lddw(0, high), alu32i(AluOp::Lsh, 0, 0), EXIT]), 1);
    assert_eq!(
        r0(&[lddw(0, high), mov(1, 0), alu32(AluOp::Lsh, 0, 1), EXIT]),
        1
    );
    // w0 = w1 with r1 = 0xffffffff_00000005: 5.
    assert_eq!(
        r0(&[
            lddw(1, 0xffff_ffff_0000_0005),
            alu32(AluOp::Mov, 0, 1),
            EXIT
        ]),
        5
    );
    // w0 = -1 (mov32 imm): 0xffffffff, not sign-extended.
    assert_eq!(r0(&[alu32i(AluOp::Mov, 0, -1), EXIT]), 0xffff_ffff);
    // r0 = -1 (mov64 imm): sign-extended.
    assert_eq!(r0(&[mov(0, -1), EXIT]), u64::MAX);
    // w0 = -w0 with r0 = 0xffffffff_00000001: 0xffffffff.
    assert_eq!(
        r0(&[
            lddw(0, high),
            Insn::Neg {
                width: Width::W32,
                dst: r(0)
            },
            EXIT
        ]),
        0xffff_ffff
    );
    // le32 truncates; be16 of 0x1122334455667788 is 0x8877.
    let end = |kind, bits| Insn::End {
        kind,
        bits,
        dst: r(0),
    };
    use bpfkit_isa::{Endian, SwapBits};
    assert_eq!(
        r0(&[
            lddw(0, 0x1122_3344_5566_7788),
            end(Endian::ToLe, SwapBits::B32),
            EXIT
        ]),
        0x5566_7788
    );
    assert_eq!(
        r0(&[
            lddw(0, 0x1122_3344_5566_7788),
            end(Endian::ToBe, SwapBits::B16),
            EXIT
        ]),
        0x8877
    );
    assert_eq!(
        r0(&[
            lddw(0, 0x1122_3344_5566_7788),
            end(Endian::Swap, SwapBits::B64),
            EXIT
        ]),
        0x8877_6655_4433_2211
    );
}

#[test]
fn shift_counts_are_masked() {
    // 1 << (65 & 63) = 2, by register and by immediate.
    assert_eq!(
        r0(&[mov(0, 1), mov(1, 65), alu64(AluOp::Lsh, 0, 1), EXIT]),
        2
    );
    assert_eq!(r0(&[mov(0, 1), alu64i(AluOp::Lsh, 0, 65), EXIT]), 2);
    // 32-bit: 1 << (33 & 31) = 2.
    assert_eq!(
        r0(&[mov(0, 1), mov(1, 33), alu32(AluOp::Lsh, 0, 1), EXIT]),
        2
    );
    // Arithmetic shift of i64::MIN by 127 & 63 = 63: all ones.
    assert_eq!(
        r0(&[lddw(0, 1 << 63), alu64i(AluOp::Arsh, 0, 127), EXIT]),
        u64::MAX
    );
    // 32-bit arithmetic shift of 0x80000000 by 31: 0xffffffff, upper half clear.
    assert_eq!(
        r0(&[
            lddw(0, 0x8000_0000),
            mov(1, 31),
            alu32(AluOp::Arsh, 0, 1),
            EXIT
        ]),
        0xffff_ffff
    );
}

#[test]
fn shifts_keep_r4_the_count_register() {
    // r4 (rcx on the host) = 0x10 survives r2 <<= r1.
    let prog = [
        mov(4, 0x10),
        mov(2, 3),
        mov(1, 2),
        alu64(AluOp::Lsh, 2, 1), // r2 = 12
        alu64(AluOp::Add, 2, 4), // r2 = 28
        alu64(AluOp::Mov, 0, 2),
        EXIT,
    ];
    assert_eq!(r0(&prog), 28);
    // r4 shifted by r1: 0x10 >> 2 = 4; r1 unchanged.
    let prog = [
        mov(4, 0x10),
        mov(1, 2),
        alu64(AluOp::Rsh, 4, 1),
        alu64(AluOp::Mov, 0, 4),
        alu64(AluOp::Add, 0, 1), // 4 + 2
        EXIT,
    ];
    assert_eq!(r0(&prog), 6);
    // r4 <<= r4: 3 << 3 = 24; r1 <<= r4 with r4 = 24 & 63: 1 << 24.
    let prog = [
        mov(4, 3),
        alu64(AluOp::Lsh, 4, 4),
        mov(1, 1),
        alu64(AluOp::Lsh, 1, 4),
        alu64(AluOp::Mov, 0, 1),
        alu64(AluOp::Add, 0, 4),
        EXIT,
    ];
    assert_eq!(r0(&prog), (1 << 24) + 24);
}

#[test]
fn division_by_zero_in_both_widths() {
    let v = 0x1_0000_0007;
    // div by zero: 0; mod by zero: dst unchanged (zero-extended in 32 bits).
    for (op, width, want) in [
        (AluOp::Div, Width::W64, 0),
        (AluOp::Mod, Width::W64, v),
        (AluOp::Sdiv, Width::W64, 0),
        (AluOp::Smod, Width::W64, v),
        (AluOp::Div, Width::W32, 0),
        (AluOp::Mod, Width::W32, 7),
        (AluOp::Sdiv, Width::W32, 0),
        (AluOp::Smod, Width::W32, 7),
    ] {
        let by_reg = [
            lddw(0, v),
            mov(1, 0),
            alu(width, op, 0, Operand::Reg(r(1))),
            EXIT,
        ];
        assert_eq!(r0(&by_reg), want, "{op:?} {width:?} by register");
        let by_imm = [lddw(0, v), alu(width, op, 0, Operand::Imm(0)), EXIT];
        assert_eq!(r0(&by_imm), want, "{op:?} {width:?} by immediate");
    }
    // A 32-bit divisor register whose low half is zero is zero: 0x1_0000_0000 counts as 0.
    let prog = [mov(0, 9), lddw(1, 1 << 32), alu32(AluOp::Div, 0, 1), EXIT];
    assert_eq!(r0(&prog), 0);
}

#[test]
fn signed_division_of_int_min_by_minus_one_wraps() {
    let min64 = i64::MIN as u64;
    for src in [Operand::Reg(r(1)), Operand::Imm(-1)] {
        let prog = |op, width, a: u64| [lddw(0, a), mov(1, -1), alu(width, op, 0, src), EXIT];
        // INT_MIN / -1 overflows to INT_MIN; INT_MIN % -1 is 0.
        assert_eq!(r0(&prog(AluOp::Sdiv, Width::W64, min64)), min64);
        assert_eq!(r0(&prog(AluOp::Smod, Width::W64, min64)), 0);
        assert_eq!(r0(&prog(AluOp::Sdiv, Width::W32, 0x8000_0000)), 0x8000_0000);
        assert_eq!(r0(&prog(AluOp::Smod, Width::W32, 0x8000_0000)), 0);
        // -7 / -1 = 7, and the registers r0 and r3 (rax, rdx on the host) are intact.
        assert_eq!(r0(&prog(AluOp::Sdiv, Width::W64, -7i64 as u64)), 7);
    }
    // -7 s/ 2 = -3 (truncation), -7 s% 2 = -1; 32-bit results zero-extended.
    assert_eq!(
        r0(&[mov(0, -7), alu64i(AluOp::Sdiv, 0, 2), EXIT]),
        -3i64 as u64
    );
    assert_eq!(
        r0(&[mov(0, -7), alu32i(AluOp::Smod, 0, 2), EXIT]),
        0xffff_ffff
    );
    // Division keeps r3 (rdx) when it is neither operand: 100 / 7 = 14, + r3 = 5.
    assert_eq!(
        r0(&[
            mov(3, 5),
            mov(2, 100),
            mov(4, 7),
            alu64(AluOp::Div, 2, 4),
            alu64(AluOp::Mov, 0, 2),
            alu64(AluOp::Add, 0, 3),
            EXIT
        ]),
        19
    );
}

#[test]
fn jumps_and_callx_into_the_middle_of_lddw_are_refused() {
    // A jump to slot 2, the second half of the lddw at 1: rejected before running.
    let prog = [Insn::Ja { off: 1 }, lddw(0, 1), EXIT];
    let err = run_both(&prog, &[], &Helpers::new(), 100).unwrap_err();
    assert_eq!(err.pc, 0);
    assert!(
        matches!(err.kind, PrepareErrorKind::BadBranch { .. }),
        "{err}"
    );
    // callx to slot 1, inside the lddw at 0: a fault at the callx.
    let prog = [
        lddw(2, 5),
        lddw(1, FUNC_ADDR_BASE + 1),
        Insn::Callx { dst: r(1) },
        EXIT,
    ];
    assert_eq!(
        run(&prog, &[]),
        Err(VmError {
            pc: 4,
            fault: Fault::BadCallTarget(FUNC_ADDR_BASE + 1)
        })
    );
    // ... and past the end, or below the base.
    for bad in [FUNC_ADDR_BASE + 6, FUNC_ADDR_BASE - 1, 0] {
        let prog = [lddw(1, bad), Insn::Callx { dst: r(1) }, EXIT];
        assert_eq!(
            run(&prog, &[]),
            Err(VmError {
                pc: 2,
                fault: Fault::BadCallTarget(bad)
            })
        );
    }
}

#[test]
fn callx_through_a_function_address() {
    // 0: r1 = &f (slot 4)   2: callx r1   3: exit   4: f: r0 = 42   5: exit
    let prog = [
        Insn::Lddw {
            dst: r(1),
            kind: LddwKind::Func,
            imm: 3,
            next_imm: 0,
        },
        Insn::Callx { dst: r(1) },
        EXIT,
        mov(0, 42),
        EXIT,
    ];
    // lddw, callx, mov, exit, exit: five instructions.
    assert_eq!(run(&prog, &[]), Ok(Outcome { r0: 42, insns: 5 }));
    // Entering the middle of a straight-line run still counts exactly: callx to slot 5
    // (the second mov) executes lddw, callx, mov, exit, exit.
    let prog = [
        lddw(1, FUNC_ADDR_BASE + 5),
        Insn::Callx { dst: r(1) },
        EXIT,
        mov(0, 1),
        mov(0, 2),
        EXIT,
    ];
    assert_eq!(run(&prog, &[]), Ok(Outcome { r0: 2, insns: 5 }));
}

#[test]
fn local_calls_save_registers_and_limit_depth() {
    // 0: r6 = 1; 1: call f; 2: r0 += r6; 3: exit; 4: f: r6 = 100; 5: r0 = 10; 6: exit.
    // r6 is restored after the call: 10 + 1.
    let prog = [
        mov(6, 1),
        Insn::CallLocal { imm: 2 },
        alu64(AluOp::Add, 0, 6),
        EXIT,
        mov(6, 100),
        mov(0, 10),
        EXIT,
    ];
    assert_eq!(run(&prog, &[]), Ok(Outcome { r0: 11, insns: 7 }));
    // Unbounded recursion: the call that would make a 9th frame faults.
    let prog = [Insn::CallLocal { imm: -1 }, EXIT];
    assert_eq!(
        run(&prog, &[]),
        Err(VmError {
            pc: 0,
            fault: Fault::CallDepth(MAX_FRAMES)
        })
    );
    // Each frame has its own 512 bytes: a callee's r10 - 8 is not its caller's.
    let prog = [
        mov(1, 7),
        stx(Size::DW, 10, 1, -8),
        Insn::CallLocal { imm: 2 },
        ldx(Size::DW, 0, 10, -8),
        EXIT,
        mov(1, 9),
        stx(Size::DW, 10, 1, -8),
        EXIT,
    ];
    assert_eq!(r0(&prog), 7);
}

#[test]
fn budget_stops_loops_at_the_back_edge() {
    // 0: r0 = 0; 1: r0 += 1; 2: if r0 < 10 goto 1; 3: exit.
    // Instructions: 1 + 10 * 2 + 1 = 22.
    let prog = [
        mov(0, 0),
        alu64i(AluOp::Add, 0, 1),
        jmp(JmpCond::Lt, 0, Operand::Imm(10), -2),
        EXIT,
    ];
    assert_eq!(run(&prog, &[]), Ok(Outcome { r0: 10, insns: 22 }));
    // An endless loop with a budget of 1000: after the back edge that has executed 1001
    // instructions (1 + 500 * 2 + ... : the jump at pc 2 is the first to exceed).
    let prog = [
        mov(0, 0),
        alu64i(AluOp::Add, 0, 1),
        Insn::Ja { off: -2 },
        EXIT,
    ];
    let (res, _) = run_both(&prog, &[], &Helpers::new(), 1000).unwrap();
    assert_eq!(
        res,
        Err(VmError {
            pc: 2,
            fault: Fault::BudgetExhausted(1000)
        })
    );
}

#[test]
fn falling_off_the_end_faults_past_the_last_slot() {
    let prog = [mov(0, 1), lddw(1, 2)];
    assert_eq!(
        run(&prog, &[]),
        Err(VmError {
            pc: 3,
            fault: Fault::FellOffEnd
        })
    );
}

#[test]
fn legacy_packet_loads_are_big_endian_and_end_the_program_out_of_range() {
    let pkt = [0x12, 0x34, 0x56, 0x78, 0x9a];
    let ld = |size, imm| Insn::LdAbs { size, imm };
    assert_eq!(run(&[ld(Size::H, 1), EXIT], &pkt).unwrap().r0, 0x3456);
    assert_eq!(run(&[ld(Size::W, 1), EXIT], &pkt).unwrap().r0, 0x3456_789a);
    // Offset 2 + 4 > 5: the program ends at once with r0 = 0 after two instructions.
    assert_eq!(
        run(&[mov(0, 5), ld(Size::W, 2), mov(0, 9), EXIT], &pkt),
        Ok(Outcome { r0: 0, insns: 2 })
    );
    // LD_IND: r1 (32 bits) + imm; an offset negative as i32 is out of range.
    let prog = |x: i32| {
        [
            mov(1, x),
            Insn::LdInd {
                size: Size::B,
                src: r(1),
                imm: 1,
            },
            EXIT,
        ]
    };
    assert_eq!(run(&prog(3), &pkt).unwrap().r0, 0x9a);
    assert_eq!(run(&prog(-2), &pkt), Ok(Outcome { r0: 0, insns: 2 }));
}

#[test]
fn atomics() {
    let at = |size, op, src, off| Insn::Atomic {
        size,
        op,
        dst: r(1),
        src: r(src),
        off,
    };
    // *(u64 *)mem = 5; r0 = 3; fetch_or with r0 as the source: r0 = old 5, mem = 7.
    let prog = [
        mov(2, 5),
        stx(Size::DW, 1, 2, 0),
        mov(0, 3),
        at(Size::DW, AtomicOp::Or { fetch: true }, 0, 0),
        ldx(Size::DW, 3, 1, 0),
        alu64i(AluOp::Lsh, 3, 8),
        alu64(AluOp::Or, 0, 3),
        EXIT,
    ];
    assert_eq!(run(&prog, &[0; 8]).unwrap().r0, (7 << 8) | 5);
    // 32-bit cmpxchg that succeeds: r0 = 0xffffffff_00000004 compares equal on 32 bits,
    // stores r2 = 9, and r0 becomes the old value zero-extended: 4.
    let prog = [
        mov(2, 4),
        stx(Size::W, 1, 2, 0),
        lddw(0, 0xffff_ffff_0000_0004),
        mov(2, 9),
        at(Size::W, AtomicOp::Cmpxchg, 2, 0),
        ldx(Size::W, 3, 1, 0),
        alu64i(AluOp::Lsh, 3, 8),
        alu64(AluOp::Or, 0, 3),
        EXIT,
    ];
    assert_eq!(run(&prog, &[0; 8]).unwrap().r0, (9 << 8) | 4);
    // fetch_and into r3 (rdx, the loop's usual temporary) and xchg.
    let prog = [
        mov(2, 0b1100),
        stx(Size::DW, 1, 2, 0),
        mov(3, 0b1010),
        at(Size::DW, AtomicOp::And { fetch: true }, 3, 0), // r3 = 0b1100, mem = 0b1000
        mov(4, 1),
        at(Size::W, AtomicOp::Xchg, 4, 0), // r4 = 0b1000, mem = 1
        ldx(Size::DW, 0, 1, 0),
        alu64i(AluOp::Lsh, 0, 8),
        alu64(AluOp::Or, 0, 3),
        alu64i(AluOp::Lsh, 0, 8),
        alu64(AluOp::Or, 0, 4),
        EXIT,
    ];
    assert_eq!(
        run(&prog, &[0; 8]).unwrap().r0,
        (1 << 16) | (0b1100 << 8) | 0b1000
    );
    // A misaligned 8-byte atomic on an 8-aligned buffer faults after the bounds check.
    let prog = [at(Size::DW, AtomicOp::Add { fetch: false }, 2, 1), EXIT];
    let res = run(&prog, &[0; 16]);
    assert!(
        matches!(
            res,
            Err(VmError {
                pc: 0,
                fault: Fault::Misaligned { size: 8, .. }
            })
        ),
        "{res:?}"
    );
}

#[test]
fn helpers_see_memory_and_failures_become_faults() {
    let mut helpers = Helpers::new();
    // Sum of the bytes [r1, r1 + r2), through the checked memory.
    helpers.register(7, "sum", |ctx, a| {
        Ok(ctx
            .memory
            .slice(a[0], a[1])?
            .iter()
            .map(|&b| b as u64)
            .sum())
    });
    helpers.register(8, "fail", |_, _| Err(HelperError::Failed("no".into())));
    // r6 = 1 survives the call (callee-saved) and so do r1..r5 (the interpreter keeps
    // them): 1 + 2 + 3 + 4 = 10, + r6 + r2 (4) = 15.
    let prog = [
        mov(6, 1),
        Insn::Call { imm: 7 },
        alu64(AluOp::Add, 0, 6),
        alu64(AluOp::Add, 0, 2),
        EXIT,
    ];
    let (res, _) = run_both(&prog, &[1, 2, 3, 4], &helpers, 100).unwrap();
    assert_eq!(res.unwrap().r0, 15);
    let prog = [mov(0, 0), Insn::Call { imm: 8 }, EXIT];
    let (res, _) = run_both(&prog, &[], &helpers, 100).unwrap();
    assert_eq!(
        res,
        Err(VmError {
            pc: 1,
            fault: Fault::Helper {
                id: 8,
                reason: "no".into()
            }
        })
    );
    // A helper number nobody registered: refused at preparation.
    let err = run_both(&[Insn::Call { imm: 99 }, EXIT], &[], &helpers, 100).unwrap_err();
    assert_eq!(err.kind, PrepareErrorKind::UnknownHelper(99));
}

#[test]
fn writes_to_r10_are_refused() {
    let err = run_both(&[mov(10, 0), EXIT], &[], &Helpers::new(), 100).unwrap_err();
    assert_eq!(err.kind, PrepareErrorKind::WritesFramePointer);
}

#[test]
fn disassembly_interleaves_bpf_and_host_code() {
    let prog = [mov(0, 1), alu64(AluOp::Add, 0, 1), EXIT];
    let jit = bpfkit_jit::JitProgram::new(&prog, &Helpers::new()).unwrap();
    let text = jit.disasm_jited();
    // r0 = 1 is `mov eax, 1`; r0 += r1 is `add rax, rdi`; exit is `ret`.
    let after = |marker: &str| text.split(marker).nth(1).unwrap_or_default().to_string();
    assert!(after("; 0: r0 = 0x1").contains("mov eax,1"), "{text}");
    assert!(after("; 1: r0 += r1").contains("add rax,rdi"), "{text}");
    assert!(
        after("; 2: exit")
            .trim_start()
            .lines()
            .next()
            .unwrap()
            .contains("ret"),
        "{text}"
    );
}

#[test]
fn regions_added_by_helpers_are_honoured() {
    // A helper hands out a read-only 16-byte buffer (as a map lookup hands out a value)
    // holding 0, 1, ..., 15, by adding it to the run's memory.
    static VALUE: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    let mut helpers = Helpers::new();
    helpers.register(1, "lookup", |ctx, _| {
        let region = bpfkit_vm::Region {
            start: VALUE.as_ptr() as u64,
            len: 16,
            writable: false,
        };
        // SAFETY: a static buffer, valid for ever, and read-only as the region says.
        unsafe { ctx.memory.add_raw(region) };
        Ok(region.start)
    });
    // r0 = lookup(); r0 = *(u8 *)(r0 + 15): 15.
    let prog = [Insn::Call { imm: 1 }, ldx(Size::B, 0, 0, 15), EXIT];
    let (res, _) = run_both(&prog, &[], &helpers, 100).unwrap();
    assert_eq!(res.unwrap().r0, 15);
    // One byte further is outside it; a store into it is refused.
    let prog = [Insn::Call { imm: 1 }, ldx(Size::B, 0, 0, 16), EXIT];
    let (res, _) = run_both(&prog, &[], &helpers, 100).unwrap();
    assert!(
        matches!(
            res,
            Err(VmError {
                pc: 1,
                fault: Fault::OutOfBounds { .. }
            })
        ),
        "{res:?}"
    );
    let prog = [Insn::Call { imm: 1 }, stx(Size::B, 0, 1, 0), EXIT];
    let (res, _) = run_both(&prog, &[], &helpers, 100).unwrap();
    assert_eq!(
        res,
        Err(VmError {
            pc: 1,
            fault: Fault::OutOfBounds {
                addr: VALUE.as_ptr() as u64,
                size: 1,
                access: Access::Write
            }
        })
    );
}

#[test]
fn large_programs_compile() {
    // 0: r0 = 0; 1: goto +1; 2: exit; 3..=50002: r0 += 1; 50003: gotol -50002 (to 2).
    // Several hundred KiB of code with a backward jump across all of it: r0 = 50 000
    // after 50 004 instructions.
    let mut prog = vec![mov(0, 0), Insn::JaLong { imm: 1 }, EXIT];
    prog.extend(std::iter::repeat_n(alu64i(AluOp::Add, 0, 1), 50_000));
    prog.push(Insn::JaLong { imm: -50_002 });
    assert_eq!(
        run(&prog, &[]),
        Ok(Outcome {
            r0: 50_000,
            insns: 50_004
        })
    );
}

#[test]
fn function_addresses_outside_the_program_are_refused() {
    // r1 = &(slot 0 + 100 + 1): not a slot of this 3-slot program.
    let prog = [
        Insn::Lddw {
            dst: r(1),
            kind: LddwKind::Func,
            imm: 100,
            next_imm: 0,
        },
        EXIT,
    ];
    let err = bpfkit_jit::JitProgram::new(&prog, &Helpers::new()).err();
    assert_eq!(
        err.map(|e| (e.pc, e.kind)),
        Some((0, PrepareErrorKind::BadBranch { target: 101 }))
    );
}

#[test]
fn zero_extension_idioms_entered_in_the_middle() {
    // 0: r1 = -1; 2: r2 = &slot 8; 4: callx r2; 5: r0 = r1; 6: exit;
    // 7: r1 <<= 32; 8: r1 >>= 32; 9: exit.
    // The callx runs only the shift right: r1 = 0xffffffff; 7 instructions.
    let prog = [
        lddw(1, u64::MAX),
        lddw(2, FUNC_ADDR_BASE + 8),
        Insn::Callx { dst: r(2) },
        alu64(AluOp::Mov, 0, 1),
        EXIT,
        alu64i(AluOp::Lsh, 1, 32),
        alu64i(AluOp::Rsh, 1, 32),
        EXIT,
    ];
    assert_eq!(
        run(&prog, &[]),
        Ok(Outcome {
            r0: 0xffff_ffff,
            insns: 7
        })
    );
    // Straight through, r0 = r1 with r1 = 0x12345678_9abcdef0 made 32-bit: 0x9abcdef0.
    let prog = [
        lddw(1, 0x1234_5678_9abc_def0),
        alu64(AluOp::Mov, 0, 1),
        alu64i(AluOp::Lsh, 0, 32),
        alu64i(AluOp::Rsh, 0, 32),
        EXIT,
    ];
    assert_eq!(r0(&prog), 0x9abc_def0);
}
