//! Running one program on both engines and insisting they agree.

#![allow(dead_code)]

pub mod verified;

use bpfkit_isa::{AluOp, Insn, JmpCond, Operand, Reg, Size, Width};
use bpfkit_jit::{JitOptions, JitProgram};
use bpfkit_vm::{Helpers, Interpreter, Outcome, PrepareError, VmError};

const PAD: usize = 64 << 10;

/// What a run produced: the result and the memory afterwards.
pub type Run = (Result<Outcome, VmError>, Vec<u8>);

/// Runs `insns` on `mem` with the interpreter and with the JIT (without and with constant
/// blinding), asserts that the three agree on the result, the error and the memory, and
/// returns the interpreter's run. A program rejected by preparation must be rejected by
/// both with the same error, which is returned.
pub fn run_both(
    insns: &[Insn],
    mem: &[u8],
    helpers: &Helpers,
    budget: u64,
) -> Result<Run, PrepareError> {
    let interp = Interpreter::new(insns, helpers);
    let jit = JitProgram::new(insns, helpers);
    let blinded = JitProgram::with_options(
        insns,
        helpers,
        JitOptions {
            blinding: true,
            ..JitOptions::default()
        },
    );
    let (mut interp, mut jit, mut blinded) = match (interp, jit, blinded) {
        (Ok(i), Ok(j), Ok(b)) => (i, j, b),
        (Err(e), Err(j), Err(b)) => {
            assert_eq!(e, j, "both engines reject with the same error");
            assert_eq!(e, b, "blinding rejects alike");
            return Err(e);
        }
        (i, j, b) => panic!(
            "engines disagree on preparation: interpreter {:?}, jit {:?}, blinded {:?}",
            i.err(),
            j.err(),
            b.err()
        ),
    };
    interp.set_budget(budget);
    jit.set_budget(budget);
    blinded.set_budget(budget);
    // One buffer for all three runs, so that pointers into it are the same numbers, in
    // the middle of a larger allocation, so that no offset from it (at most 32 KiB) can
    // reach an engine's stack: what is in bounds must not depend on the heap's layout.
    let mut padded = vec![0u8; 2 * PAD + mem.len()];
    let buf = &mut padded[PAD..PAD + mem.len()];
    buf.copy_from_slice(mem);
    let r1 = interp.run_mem(buf);
    let m1 = buf.to_vec();
    buf.copy_from_slice(mem);
    let r2 = jit.run_mem(buf);
    assert_eq!(
        rebase(&r1, buf),
        rebase(&r2, buf),
        "interpreter vs JIT on {insns:?}"
    );
    assert_eq!(
        m1, buf,
        "memory after the run, interpreter vs JIT, on {insns:?}"
    );
    buf.copy_from_slice(mem);
    let r3 = blinded.run_mem(buf);
    assert_eq!(
        rebase(&r1, buf),
        rebase(&r3, buf),
        "interpreter vs blinded JIT"
    );
    assert_eq!(m1, buf, "memory after the run, interpreter vs blinded JIT");
    Ok((r1, m1))
}

/// A result with fault addresses outside `mem` replaced by 0: those are on the engine's
/// own stack, which is at a different address in each engine.
pub fn rebase(r: &Result<Outcome, VmError>, mem: &[u8]) -> Result<Outcome, VmError> {
    use bpfkit_vm::Fault;
    let base = mem.as_ptr() as u64;
    let rel = |a: u64| {
        if a.wrapping_sub(base) <= mem.len() as u64 + 64
            || a.wrapping_add(64).wrapping_sub(base) < 64
        {
            a
        } else {
            0
        }
    };
    match r {
        Ok(o) => Ok(*o),
        Err(e) => Err(VmError {
            pc: e.pc,
            fault: match e.fault.clone() {
                Fault::OutOfBounds { addr, size, access } => Fault::OutOfBounds {
                    addr: rel(addr),
                    size,
                    access,
                },
                Fault::Misaligned { addr, size } => Fault::Misaligned {
                    addr: rel(addr),
                    size,
                },
                f => f,
            },
        }),
    }
}

/// The engines' stacks are at different addresses, so r10's value differs: r10 stays as
/// a load/store base (where only the data matters) and is replaced by r9 as a value.
pub fn hide_frame_pointer(insn: Insn) -> Insn {
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

// Terse constructors for hand-written programs.

pub fn r(n: u8) -> Reg {
    Reg::new(n).unwrap()
}

pub fn alu(width: Width, op: AluOp, dst: u8, src: Operand) -> Insn {
    Insn::Alu {
        width,
        op,
        dst: r(dst),
        src,
    }
}

pub fn alu64(op: AluOp, dst: u8, src: u8) -> Insn {
    alu(Width::W64, op, dst, Operand::Reg(r(src)))
}

pub fn alu64i(op: AluOp, dst: u8, imm: i32) -> Insn {
    alu(Width::W64, op, dst, Operand::Imm(imm))
}

pub fn alu32(op: AluOp, dst: u8, src: u8) -> Insn {
    alu(Width::W32, op, dst, Operand::Reg(r(src)))
}

pub fn alu32i(op: AluOp, dst: u8, imm: i32) -> Insn {
    alu(Width::W32, op, dst, Operand::Imm(imm))
}

pub fn mov(dst: u8, imm: i32) -> Insn {
    alu64i(AluOp::Mov, dst, imm)
}

pub fn lddw(dst: u8, v: u64) -> Insn {
    Insn::lddw(r(dst), v)
}

pub fn jmp(cond: JmpCond, dst: u8, src: Operand, off: i16) -> Insn {
    Insn::Jmp {
        width: Width::W64,
        cond,
        dst: r(dst),
        src,
        off,
    }
}

pub fn ldx(size: Size, dst: u8, src: u8, off: i16) -> Insn {
    Insn::Ldx {
        size,
        sx: false,
        dst: r(dst),
        src: r(src),
        off,
    }
}

pub fn stx(size: Size, dst: u8, src: u8, off: i16) -> Insn {
    Insn::Stx {
        size,
        dst: r(dst),
        src: r(src),
        off,
    }
}

pub const EXIT: Insn = Insn::Exit;
