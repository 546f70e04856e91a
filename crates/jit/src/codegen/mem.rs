//! Loads, stores, atomics and legacy packet loads, with their bounds checks.
//!
//! An access at `r10 + off` with the whole range inside the current frame needs no check
//! (r10 is read-only and always the top of a frame in the stack), exactly as in the
//! interpreter; neither does one that verification proved in bounds of the stack, the
//! packet or a map value (`JitOptions::proven`), memory that stays allocated for the whole
//! run and that the program may write where the verifier let it (see `ProvenRegion`).
//! Any other access is checked inline against one of the context's fast
//! regions (`runtime::FastRegion`: one subtraction and one unsigned comparison, no
//! `addr + size` that could overflow): the stack for a register that may hold a value
//! derived from r10, the caller's second region (a packet program's context) for one that
//! may hold r1 as it was at entry (guesses made before code generation), else the caller's
//! first region (a packet program's packet); an address outside it jumps to an
//! out-of-line stub that tries one other fast region, then calls `runtime::check_access`,
//! which checks every region of the run (including those a helper added) and faults if
//! none holds the access.

use super::{Compiler, StubKind};
use crate::emit::{mem as m, Arith, Cc, Rm, Shift, Sz, R};
use crate::regs::{host, CTX, T0, T1};
use crate::runtime::{
    self, ctx_off, fast_lim_off, fast_start_off, kind, FAST_CTX, FAST_STACK, FAST_USER,
};
use bpfkit_isa::{AtomicOp, Reg, Size};
use bpfkit_vm::interp::STACK_FRAME_SIZE;
use bpfkit_vm::Access;

/// Whether `size` bytes at `r10 + off` lie inside the current frame.
fn in_frame(base: Reg, off: i16, size: Size) -> bool {
    let off = off as i64;
    base == Reg::R10 && off >= -(STACK_FRAME_SIZE as i64) && off + size.bytes() as i64 <= 0
}

/// The operand of a checked access of `size` bytes at `base + off`.
fn checked(c: &mut Compiler<'_>, pc: usize, base: Reg, off: i16, size: Size, access: Access) -> Rm {
    let at = m(host(base), off.into());
    if in_frame(base, off, size) {
        return at;
    }
    if c.proven.is_some_and(|p| p[pc].is_some()) {
        c.unchecked += 1;
        return at;
    }
    let bytes = size.bytes();
    let bit = 1 << base.index();
    let (first, other) = if c.pointers[pc] & bit != 0 {
        (FAST_STACK, FAST_USER)
    } else if c.pointers[pc] >> super::CTX_LANE & bit != 0 {
        (FAST_CTX, FAST_USER)
    } else {
        (FAST_USER, FAST_STACK)
    };
    let (start, lim) = fast_bounds(first, bytes, access);
    c.e.lea(T0, at);
    c.e.arith_r_rm(Sz::Q, Arith::Sub, T0, m(CTX, start));
    c.e.arith_r_rm(Sz::Q, Arith::Cmp, T0, m(CTX, lim));
    let slow = c.e.jcc32(Cc::Ae);
    let back = c.e.pos();
    c.stub(
        slow,
        pc,
        StubKind::SlowCheck {
            at,
            other: fast_bounds(other, bytes, access),
            code: runtime::check_code(pc, bytes, access),
            back,
        },
    );
    at
}

/// Context offsets of fast region `i`'s start and of its bound for the access.
fn fast_bounds(i: usize, bytes: usize, access: Access) -> (i32, i32) {
    (fast_start_off(i), fast_lim_off(i, access, bytes))
}

fn sz(size: Size) -> Sz {
    Sz::of_bytes(size.bytes())
}

pub(super) fn load(
    c: &mut Compiler<'_>,
    pc: usize,
    size: Size,
    sx: bool,
    d: R,
    src: Reg,
    off: i16,
) {
    let at = checked(c, pc, src, off, size, Access::Read);
    if sx && size != Size::DW {
        c.e.movsx(sz(size), false, d, at);
    } else {
        c.e.load(sz(size), d, at);
    }
}

pub(super) fn store(c: &mut Compiler<'_>, pc: usize, size: Size, dst: Reg, s: R, off: i16) {
    let at = checked(c, pc, dst, off, size, Access::Write);
    c.e.store(sz(size), at, s);
}

pub(super) fn store_imm(c: &mut Compiler<'_>, pc: usize, size: Size, dst: Reg, off: i16, imm: i32) {
    let at = checked(c, pc, dst, off, size, Access::Write);
    match c.blinded_imm(imm) {
        Some(t) => c.e.store(sz(size), at, t),
        None => c.e.mov_mi(sz(size), at, imm),
    }
}

/// Atomic read-modify-write at `dst + off`: checked for writing (also on the stack: the
/// alignment depends on the address), then for alignment, then one `lock`ed instruction,
/// or a `cmpxchg` loop for the fetching and/or/xor that x86 lacks.
pub(super) fn atomic(
    c: &mut Compiler<'_>,
    pc: usize,
    size: Size,
    op: AtomicOp,
    dst: Reg,
    s: R,
    off: i16,
) {
    let at = checked(c, pc, dst, off, size, Access::Write);
    c.e.lea(T1, at);
    let at = m(T1, 0);
    let wide = size == Size::DW;
    c.e.test_ri(Sz::B, Rm::Reg(T1), if wide { 7 } else { 3 });
    let misaligned = if wide {
        kind::MISALIGNED_8
    } else {
        kind::MISALIGNED_4
    };
    c.fault_if(Cc::Ne, pc, misaligned, Some(T1));
    let sz = if wide { Sz::Q } else { Sz::W };
    let plain = |op| match op {
        AtomicOp::Add { .. } => Arith::Add,
        AtomicOp::Or { .. } => Arith::Or,
        AtomicOp::And { .. } => Arith::And,
        _ => Arith::Xor,
    };
    match op {
        AtomicOp::Add { fetch: true } => {
            c.e.lock();
            c.e.xadd(sz, at, s);
        }
        AtomicOp::Add { fetch: false }
        | AtomicOp::Or { fetch: false }
        | AtomicOp::And { fetch: false }
        | AtomicOp::Xor { fetch: false } => {
            c.e.lock();
            c.e.arith_rr(sz, plain(op), at, s);
        }
        AtomicOp::Xchg => c.e.xchg(sz, at, s),
        AtomicOp::Cmpxchg => {
            c.e.lock();
            c.e.cmpxchg(sz, at, s);
            if !wide {
                // A successful 32-bit cmpxchg leaves the upper half of rax as it was.
                c.e.mov_rr(Sz::W, R::RAX, R::RAX);
            }
        }
        AtomicOp::Or { fetch: true }
        | AtomicOp::And { fetch: true }
        | AtomicOp::Xor { fetch: true } => fetch_loop(c, sz, plain(op), s),
    }
}

/// `s = atomic_fetch_op(*T1, s)` as a `cmpxchg` loop. cmpxchg compares with rax (r0), so
/// r0 is kept in T0 meanwhile, and a temporary other than rax and `s` is pushed.
fn fetch_loop(c: &mut Compiler<'_>, sz: Sz, op: Arith, s: R) {
    let tmp = if s == R::RDX { R::RCX } else { R::RDX };
    let operand = if s == R::RAX { T0 } else { s };
    let e = &mut c.e;
    e.mov_rr(Sz::Q, T0, R::RAX);
    e.push(tmp);
    e.load(sz, R::RAX, m(T1, 0));
    let again = e.pos();
    e.mov_rr(Sz::Q, tmp, R::RAX);
    e.arith_rr(sz, op, Rm::Reg(tmp), operand);
    e.lock();
    e.cmpxchg(sz, m(T1, 0), tmp);
    e.jcc8_to(Cc::Ne, again);
    e.pop(tmp);
    e.mov_rr(sz, s, R::RAX);
    if s != R::RAX {
        e.mov_rr(Sz::Q, R::RAX, T0);
    }
}

/// Legacy packet load: `r0 = ntoh(*(size *)(packet + offset))` with offset = `imm` (+
/// the 32 bits of `src`, wrapping); past the end the program ends with r0 = 0. A negative
/// offset (as i32) is relative to a header of the packet (`SKF_NET_OFF`, `SKF_LL_OFF`):
/// `runtime::packet_load_negative` answers it.
pub(super) fn packet_load(c: &mut Compiler<'_>, size: Size, src: Option<R>, imm: i32) {
    c.load_const(T1, imm as u32 as u64);
    if let Some(s) = src {
        c.e.arith_rr(Sz::W, Arith::Add, Rm::Reg(T1), s);
    }
    let bytes = if size == Size::DW { 4 } else { size.bytes() };
    c.e.test_rr(Sz::W, T1, T1);
    let negative = c.e.jcc32(Cc::L);
    // The offset is below 2^31, so offset + size does not overflow.
    c.e.lea(T0, m(T1, bytes as i32));
    c.e.arith_r_rm(Sz::Q, Arith::Cmp, T0, m(CTX, ctx_off!(pkt_len)));
    let out = c.e.jcc32(Cc::A);
    c.e.patch(out, c.shared.packet_out);
    c.e.arith_r_rm(Sz::Q, Arith::Add, T1, m(CTX, ctx_off!(pkt_start)));
    match bytes {
        1 => c.e.load(Sz::B, R::RAX, m(T1, 0)),
        2 => {
            c.e.load(Sz::H, R::RAX, m(T1, 0));
            c.e.shift_ri(Sz::H, Shift::Ror, R::RAX, 8);
        }
        _ => {
            c.e.load(Sz::W, R::RAX, m(T1, 0));
            c.e.bswap(Sz::W, R::RAX);
        }
    }
    let done = c.e.jmp32();
    // Negative: ask Rust, keeping r1..r5 and the counter as a helper call does (six
    // pushes keep the stack aligned for the call).
    c.e.bind(negative);
    const SAVED: [R; 6] = [R::RDI, R::RSI, R::RDX, R::RCX, R::R8, R::R9];
    for r in SAVED {
        c.e.push(r);
    }
    c.e.lea(R::RDI, m(CTX, -runtime::CTX_BIAS));
    c.e.mov_rr(Sz::Q, R::RSI, T1);
    c.e.mov_imm64(R::RDX, bytes as u64);
    c.e.mov_imm64(T0, runtime::packet_load_negative as *const () as u64);
    c.e.call_r(T0);
    for r in SAVED.into_iter().rev() {
        c.e.pop(r);
    }
    c.e.test_rr(Sz::Q, R::RAX, R::RAX);
    let out = c.e.jcc32(Cc::L);
    c.e.patch(out, c.shared.packet_out);
    c.e.bind(done);
}
