//! Jumps, calls and the instruction budget.
//!
//! A BPF-to-BPF call is a host `call`, and `exit` a host `ret`: the caller pushes r6..r9
//! and r10 (as the interpreter saves them in its frame), moves r10 down one 512-byte
//! frame, and pops them after the return. The call depth is read off r10 itself, which
//! only calls move.

use super::{Compiler, StubKind};
use crate::emit::{mem as m, Arith, Cc, Rm, Sz, R};
use crate::regs::{host, COUNT, CTX, T0, T1};
use crate::runtime::{self, ctx_off, kind};
use bpfkit_isa::{JmpCond, Operand, Reg, Width};
use bpfkit_vm::interp::{FUNC_ADDR_BASE, STACK_FRAME_SIZE};

/// Registers a local call preserves for its caller, in push order.
const CALLEE_SAVED: [R; 5] = [R::RBX, R::R13, R::R14, R::R15, R::RBP];
/// r1..r5 and the counter: the helper ABI may clobber them, the interpreter does not (the
/// counter is reloaded from the context after the call).
pub(super) const HELPER_SAVED: [R; 6] = [R::RDI, R::RSI, R::RDX, R::RCX, R::R8, R::R9];

/// `FUNC_ADDR_BASE` as a sign-extended 32-bit immediate.
const FUNC_BASE_IMM: i32 = FUNC_ADDR_BASE as i64 as i32;
const _: () = assert!(FUNC_BASE_IMM as i64 as u64 == FUNC_ADDR_BASE);

fn cc_of(cond: JmpCond) -> Cc {
    match cond {
        JmpCond::Eq => Cc::E,
        JmpCond::Ne | JmpCond::Set => Cc::Ne,
        JmpCond::Gt => Cc::A,
        JmpCond::Ge => Cc::Ae,
        JmpCond::Lt => Cc::B,
        JmpCond::Le => Cc::Be,
        JmpCond::Sgt => Cc::G,
        JmpCond::Sge => Cc::Ge,
        JmpCond::Slt => Cc::L,
        JmpCond::Sle => Cc::Le,
    }
}

pub(super) fn cond_jump(
    c: &mut Compiler<'_>,
    pc: usize,
    width: Width,
    cond: JmpCond,
    dst: Reg,
    src: Operand,
    target: usize,
) {
    let sz = if width == Width::W64 { Sz::Q } else { Sz::W };
    let d = host(dst);
    let test = cond == JmpCond::Set;
    match src {
        Operand::Reg(s) if test => c.e.test_rr(sz, d, host(s)),
        Operand::Reg(s) => c.e.arith_rr(sz, Arith::Cmp, Rm::Reg(d), host(s)),
        Operand::Imm(i) => match c.blinded_imm(i) {
            Some(t) if test => c.e.test_rr(sz, d, t),
            Some(t) => c.e.arith_rr(sz, Arith::Cmp, Rm::Reg(d), t),
            None if test => c.e.test_ri(sz, Rm::Reg(d), i),
            // Same flags as `cmp d, 0`, one byte shorter.
            None if i == 0 => c.e.test_rr(sz, d, d),
            None => c.e.arith_ri(sz, Arith::Cmp, Rm::Reg(d), i),
        },
    }
    branch(c, pc, Some(cc_of(cond)), target);
}

/// A jump (conditional when `cc` is given) to slot `target`. A backward jump checks the
/// budget when taken.
pub(super) fn branch(c: &mut Compiler<'_>, pc: usize, cc: Option<Cc>, target: usize) {
    if target <= pc {
        let skip = cc.map(|cc| c.e.jcc8(cc.negate()));
        budget_check(c, pc);
        let j = c.e.jmp32();
        c.jumps.push((j, target));
        if let Some(skip) = skip {
            c.e.bind8(skip);
        }
    } else {
        let j = match cc {
            Some(cc) => c.e.jcc32(cc),
            None => c.e.jmp32(),
        };
        c.jumps.push((j, target));
    }
}

/// Faults when more instructions than the budget have run.
fn budget_check(c: &mut Compiler<'_>, pc: usize) {
    c.e.arith_r_rm(Sz::Q, Arith::Cmp, COUNT, m(CTX, ctx_off!(budget)));
    c.fault_if(Cc::A, pc, kind::BUDGET, None);
}

/// A local call to slot `target`, or a `callx` through the address in `via`.
pub(super) fn call_local(c: &mut Compiler<'_>, pc: usize, target: Option<usize>, via: Option<R>) {
    if let Some(d) = via {
        // T1 = slot index; it must be below the program's length and an instruction start
        // (the table holds 0 for the second slot of an lddw).
        c.e.mov_rr(Sz::Q, T1, d);
        c.e.arith_ri(Sz::Q, Arith::Sub, Rm::Reg(T1), FUNC_BASE_IMM);
        // The count of slots fits an i32: larger programs cannot be mapped anyway.
        c.e.arith_ri(Sz::Q, Arith::Cmp, Rm::Reg(T1), c.nslots as i32);
        c.fault_if(Cc::Ae, pc, kind::BAD_CALL, Some(d));
        c.e.shift_ri(Sz::Q, crate::emit::Shift::Shl, T1, 4);
        c.e.mov_imm64(T0, c.tables.functions.as_ptr() as u64);
        c.e.arith_rr(Sz::Q, Arith::Add, Rm::Reg(T1), T0);
        c.e.load(Sz::Q, T0, m(T1, 0));
        c.e.test_rr(Sz::Q, T0, T0);
        c.fault_if(Cc::E, pc, kind::BAD_CALL, Some(d));
    }
    c.e.arith_r_rm(Sz::Q, Arith::Cmp, R::RBP, m(CTX, ctx_off!(min_fp)));
    c.fault_if(Cc::Be, pc, kind::CALL_DEPTH, None);
    budget_check(c, pc);
    if via.is_some() {
        // Entering mid-segment: count the rest of it.
        c.e.arith_r_rm(Sz::Q, Arith::Add, COUNT, m(T1, 8));
    }
    for r in CALLEE_SAVED {
        c.e.push(r);
    }
    c.e.arith_ri(Sz::Q, Arith::Sub, Rm::Reg(R::RBP), STACK_FRAME_SIZE as i32);
    match target {
        Some(t) => {
            let j = c.e.call32();
            c.jumps.push((j, t));
        }
        None => c.e.call_r(T0),
    }
    for r in CALLEE_SAVED.into_iter().rev() {
        c.e.pop(r);
    }
}

/// A helper call: r1..r5 are already the System V argument registers; the context goes
/// in the sixth; the program's tables, the helper's index, r10 and the counter in the
/// context. `bpf_tail_call` jumps to the address it returns, if any, with r0 as it was.
pub(super) fn call_helper(c: &mut Compiler<'_>, pc: usize, id: i32) {
    let index = c
        .tables
        .helpers
        .iter()
        .position(|(h, _)| *h == id)
        .expect("every helper called is in the tables");
    let tail_call = id == bpfkit_vm::helpers::linux::id::TAIL_CALL;
    if tail_call {
        // Seven pushes with the one below: realigned to 16 for the call.
        c.e.push(R::RAX);
    }
    for r in HELPER_SAVED {
        c.e.push(r);
    }
    if tail_call {
        c.e.arith_ri(Sz::Q, Arith::Sub, Rm::Reg(R::RSP), 8);
    }
    c.e.mov_imm64(T0, c.tables as *const runtime::Tables as u64);
    c.e.store(Sz::Q, m(CTX, ctx_off!(cur_prog)), T0);
    c.e.mov_mi(Sz::Q, m(CTX, ctx_off!(cur_helper)), index as i32);
    c.e.store(Sz::Q, m(CTX, ctx_off!(fp)), R::RBP);
    c.e.store(Sz::Q, m(CTX, ctx_off!(insns)), COUNT);
    c.e.lea(R::R9, m(CTX, -runtime::CTX_BIAS));
    let func = if tail_call {
        runtime::tail_call as *const ()
    } else {
        runtime::call_helper as *const ()
    };
    c.e.mov_imm64(T0, func as u64);
    c.e.call_r(T0);
    if tail_call {
        c.e.mov_rr(Sz::Q, T0, R::RAX);
        c.e.arith_ri(Sz::Q, Arith::Add, Rm::Reg(R::RSP), 8);
    }
    for r in HELPER_SAVED.into_iter().rev() {
        c.e.pop(r);
    }
    if tail_call {
        c.e.pop(R::RAX);
    }
    // Functions the helper called back counted their instructions.
    c.e.load(Sz::Q, COUNT, m(CTX, ctx_off!(insns)));
    c.e.arith_ri(Sz::Q, Arith::Cmp, m(CTX, ctx_off!(fault_kind)), 0);
    let j = c.e.jcc32(Cc::Ne);
    c.stub(j, pc, StubKind::RustFault);
    if tail_call {
        // The target runs in this frame, returning to this function's caller.
        c.e.test_rr(Sz::Q, T0, T0);
        let skip = c.e.jcc8(Cc::E);
        c.e.jmp_r(T0);
        c.e.bind8(skip);
    }
}
