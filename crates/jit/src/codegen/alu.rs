//! ALU instructions. 32-bit forms use 32-bit host instructions, which zero the upper half
//! of their destination as BPF requires; where a 32-bit instruction would leave the
//! register untouched (a shift by 0, a modulo by 0) an explicit `mov r32, r32` does it.

use super::Compiler;
use crate::emit::{Arith, Cc, Rm, Shift, Sz, R};
use crate::regs::{host, T0, T1};
use bpfkit_isa::{AluOp, Endian, Insn, Operand, SwapBits, SxBits, Width};

fn sz(width: Width) -> Sz {
    match width {
        Width::W64 => Sz::Q,
        Width::W32 => Sz::W,
    }
}

/// The immediate as the operation uses it: sign-extended for 64 bits, else its 32 bits.
fn imm_value(width: Width, imm: i32) -> u64 {
    match width {
        Width::W64 => imm as i64 as u64,
        Width::W32 => imm as u32 as u64,
    }
}

pub(super) fn alu(c: &mut Compiler<'_>, width: Width, op: AluOp, d: R, src: Operand) {
    let sz = sz(width);
    match op {
        AluOp::Add => arith(c, sz, Arith::Add, d, src),
        AluOp::Sub => arith(c, sz, Arith::Sub, d, src),
        AluOp::Or => arith(c, sz, Arith::Or, d, src),
        AluOp::And => arith(c, sz, Arith::And, d, src),
        AluOp::Xor => arith(c, sz, Arith::Xor, d, src),
        AluOp::Mov => match src {
            Operand::Reg(s) => c.e.mov_rr(sz, d, host(s)),
            Operand::Imm(i) => c.load_const(d, imm_value(width, i)),
        },
        AluOp::Mul => match src {
            Operand::Reg(s) => c.e.imul_rr(sz, d, host(s)),
            Operand::Imm(i) => match c.blinded_imm(i) {
                Some(t) => c.e.imul_rr(sz, d, t),
                None => c.e.imul_ri(sz, d, i),
            },
        },
        AluOp::Lsh => shift(c, sz, Shift::Shl, d, src),
        AluOp::Rsh => shift(c, sz, Shift::Shr, d, src),
        AluOp::Arsh => shift(c, sz, Shift::Sar, d, src),
        AluOp::Div | AluOp::Mod | AluOp::Sdiv | AluOp::Smod => div(c, width, op, d, src),
        AluOp::Movsx(bits) => {
            // The decoder only produces register sources; a hand-built immediate form
            // reads r0, as in the interpreter (whose source field is then 0).
            let s = match src {
                Operand::Reg(s) => host(s),
                Operand::Imm(_) => R::RAX,
            };
            match (width, bits) {
                (Width::W64, SxBits::B8) => c.e.movsx(Sz::B, false, d, Rm::Reg(s)),
                (Width::W64, SxBits::B16) => c.e.movsx(Sz::H, false, d, Rm::Reg(s)),
                (Width::W64, SxBits::B32) => c.e.movsx(Sz::W, false, d, Rm::Reg(s)),
                (Width::W32, SxBits::B8) => c.e.movsx(Sz::B, true, d, Rm::Reg(s)),
                (Width::W32, SxBits::B16) => c.e.movsx(Sz::H, true, d, Rm::Reg(s)),
                // A 32-bit move from 32 bits is a plain 32-bit move.
                (Width::W32, SxBits::B32) => c.e.mov_rr(Sz::W, d, s),
            }
        }
    }
}

/// `add/sub/or/and/xor` with a register or an immediate (blinded when asked).
fn arith(c: &mut Compiler<'_>, sz: Sz, a: Arith, d: R, src: Operand) {
    match src {
        Operand::Reg(s) => c.e.arith_rr(sz, a, Rm::Reg(d), host(s)),
        Operand::Imm(i) => match c.blinded_imm(i) {
            Some(t) => c.e.arith_rr(sz, a, Rm::Reg(d), t),
            None => c.e.arith_ri(sz, a, Rm::Reg(d), i),
        },
    }
}

/// A zero-extension idiom at the start of `insns` (slot `pc`) that one `mov r32, r32`
/// does: `d <<= 32; d >>= 32`, or `d = s; d <<= 32; d >>= 32`, with no branch target
/// after its first instruction. Returns the number of instructions and `d`, `s`.
pub(super) fn zero_extension(insns: &[Insn], pc: usize, leader: &[bool]) -> Option<(usize, R, R)> {
    let shift = |insn: Option<&Insn>, op: AluOp| match insn {
        Some(&Insn::Alu {
            width: Width::W64,
            op: o,
            dst,
            src: Operand::Imm(32),
        }) if o == op => Some(dst),
        _ => None,
    };
    // `d <<= 32; d >>= 32` at `at`, the shift right not a branch target.
    let pair = |at: usize| {
        let d = shift(insns.get(at), AluOp::Lsh)?;
        (shift(insns.get(at + 1), AluOp::Rsh) == Some(d) && !leader[pc + at + 1]).then_some(d)
    };
    if let Some(d) = pair(0) {
        return Some((2, host(d), host(d)));
    }
    match insns.first() {
        Some(&Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst,
            src: Operand::Reg(s),
        }) if pair(1) == Some(dst) && !leader[pc + 1] => Some((3, host(dst), host(s))),
        _ => None,
    }
}

pub(super) fn neg(c: &mut Compiler<'_>, width: Width, d: R) {
    c.e.group3(sz(width), 3, d);
}

pub(super) fn end(c: &mut Compiler<'_>, kind: Endian, bits: SwapBits, d: R) {
    // The host is little-endian: to-LE truncates, to-BE and bswap swap.
    match (kind, bits) {
        (Endian::ToLe, SwapBits::B16) => c.e.movzx16(d, d),
        (Endian::ToLe, SwapBits::B32) => c.e.mov_rr(Sz::W, d, d),
        (Endian::ToLe, SwapBits::B64) => {}
        (_, SwapBits::B16) => {
            c.e.shift_ri(Sz::H, Shift::Ror, d, 8);
            c.e.movzx16(d, d);
        }
        (_, SwapBits::B32) => c.e.bswap(Sz::W, d),
        (_, SwapBits::B64) => c.e.bswap(Sz::Q, d),
    }
}

/// Shifts. x86 masks the count in cl to 5 or 6 bits exactly as BPF does, but the count
/// must be in cl, and rcx is BPF's r4: it is saved in T1 around the shift, and a shift of
/// r4 itself is done on that saved copy.
fn shift(c: &mut Compiler<'_>, sz: Sz, op: Shift, d: R, src: Operand) {
    let mask = if sz == Sz::Q { 63 } else { 31 };
    match src {
        Operand::Imm(i) => {
            let n = (i & mask) as u8;
            if n != 0 {
                c.e.shift_ri(sz, op, d, n);
            } else if sz == Sz::W {
                c.e.mov_rr(Sz::W, d, d);
            }
        }
        Operand::Reg(s) if host(s) == R::RCX => c.e.shift_cl(sz, op, d),
        Operand::Reg(s) => {
            c.e.mov_rr(Sz::Q, T1, R::RCX);
            c.e.mov_rr(Sz::Q, R::RCX, host(s));
            if d == R::RCX {
                c.e.shift_cl(sz, op, T1);
            } else {
                c.e.shift_cl(sz, op, d);
            }
            c.e.mov_rr(Sz::Q, R::RCX, T1);
        }
    }
}

/// Division and modulo. x86 `div` needs rax:rdx (BPF's r0 and r3) and faults on a zero
/// divisor or INT_MIN / -1, so both cases are handled before it: division by zero gives
/// 0, modulo by zero leaves dst (zero-extended in 32 bits), and a signed division by -1
/// is a negation (INT_MIN / -1 wraps to INT_MIN), its modulo 0.
fn div(c: &mut Compiler<'_>, width: Width, op: AluOp, d: R, src: Operand) {
    let sz = sz(width);
    let signed = matches!(op, AluOp::Sdiv | AluOp::Smod);
    let is_mod = matches!(op, AluOp::Mod | AluOp::Smod);
    let by_zero = |c: &mut Compiler<'_>| {
        if is_mod {
            if sz == Sz::W {
                c.e.mov_rr(Sz::W, d, d);
            }
        } else {
            c.e.mov_imm64(d, 0);
        }
    };
    let by_minus_one = |c: &mut Compiler<'_>| {
        if is_mod {
            c.e.mov_imm64(d, 0);
        } else {
            c.e.group3(sz, 3, d);
        }
    };
    match src {
        Operand::Imm(i) => {
            let v = imm_value(width, i);
            if v == 0 {
                by_zero(c);
            } else if signed && i == -1 {
                by_minus_one(c);
            } else {
                c.load_const(T1, v);
                divide(c, sz, signed, is_mod, d);
            }
        }
        Operand::Reg(s) => {
            c.e.mov_rr(Sz::Q, T1, host(s));
            c.e.test_rr(sz, T1, T1);
            let zero = c.e.jcc8(Cc::E);
            let mut minus_one = None;
            if signed {
                c.e.arith_ri(sz, Arith::Cmp, Rm::Reg(T1), -1);
                let normal = c.e.jcc8(Cc::Ne);
                by_minus_one(c);
                minus_one = Some(c.e.jmp8());
                c.e.bind8(normal);
            }
            divide(c, sz, signed, is_mod, d);
            let done = c.e.jmp8();
            c.e.bind8(zero);
            by_zero(c);
            c.e.bind8(done);
            if let Some(j) = minus_one {
                c.e.bind8(j);
            }
        }
    }
}

/// `d = d / T1` or `d % T1` with a divisor known to be safe; preserves rax and rdx
/// unless one of them is `d`.
fn divide(c: &mut Compiler<'_>, sz: Sz, signed: bool, is_mod: bool, d: R) {
    let e = &mut c.e;
    e.mov_rr(Sz::Q, T0, R::RAX);
    e.push(R::RDX);
    e.mov_rr(Sz::Q, R::RAX, d);
    if signed {
        e.sign_extend_rax(sz);
    } else {
        e.mov_imm64(R::RDX, 0);
    }
    e.group3(sz, if signed { 7 } else { 6 }, T1);
    e.mov_rr(Sz::Q, T1, if is_mod { R::RDX } else { R::RAX });
    e.pop(R::RDX);
    e.mov_rr(Sz::Q, R::RAX, T0);
    e.mov_rr(Sz::Q, d, T1);
}
