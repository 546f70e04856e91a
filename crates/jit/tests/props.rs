//! Random programs on random memory: the JIT (with and without blinding) and the
//! interpreter give the same r0, instruction count, memory and errors. More cases with
//! `PROPTEST_CASES=100000`.

mod common;

use bpfkit_isa::arbitrary::program;
use bpfkit_isa::{Insn, Operand, Reg};
use bpfkit_vm::{HelperError, Helpers};
use proptest::prelude::*;

fn helpers() -> Helpers {
    let mut h = Helpers::new();
    h.register(1, "first_arg", |_, a| Ok(a[0]));
    // Reads 8 bytes at r1 through the checked memory: faults like a load would.
    h.register(2, "read_u64", |ctx, a| {
        let b = ctx.memory.slice(a[0], 8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap()))
    });
    h.register(3, "fail_on_odd", |_, a| {
        if a[0] & 1 == 1 {
            Err(HelperError::Failed("odd".into()))
        } else {
            Ok(a[0] ^ a[1])
        }
    });
    h
}

/// The engines' stacks are at different addresses, so r10's value differs: r10 stays as
/// a load/store base (where only the data matters) and is replaced by r9 as a value.
fn hide_frame_pointer(insn: Insn) -> Insn {
    let hide = |r: Reg| if r == Reg::R10 { Reg::R9 } else { r };
    let hide_op = |o: Operand| match o {
        Operand::Reg(r) => Operand::Reg(hide(r)),
        imm => imm,
    };
    match insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => Insn::Alu {
            width,
            op,
            dst,
            src: hide_op(src),
        },
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => Insn::Jmp {
            width,
            cond,
            dst: hide(dst),
            src: hide_op(src),
            off,
        },
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => Insn::Stx {
            size,
            dst,
            src: hide(src),
            off,
        },
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => Insn::Atomic {
            size,
            op,
            dst,
            src: hide(src),
            off,
        },
        Insn::LdInd { size, src, imm } => Insn::LdInd {
            size,
            src: hide(src),
            imm,
        },
        Insn::Callx { dst } => Insn::Callx { dst: hide(dst) },
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000)
    ))]

    #[test]
    fn jit_matches_interpreter(
        insns in program(48),
        mem in prop::collection::vec(any::<u8>(), 0..96),
    ) {
        let insns: Vec<Insn> = insns.into_iter().map(hide_frame_pointer).collect();
        let _ = common::run_both(&insns, &mem, &helpers(), 10_000);
    }
}
