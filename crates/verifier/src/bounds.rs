//! Scalar bounds: what is known about a 64-bit value, as the kernel's `bpf_reg_state`
//! tracks it: known bits ([`Tnum`]) plus signed and unsigned ranges of the full 64 bits
//! and of the low 32 bits, all kept consistent by [`Scalar::sync`] (`reg_bounds_sync`).
//!
//! Arithmetic and comparisons work on a [`View`]: the 64-bit or the 32-bit half of a
//! scalar, with the same code for both widths (the kernel has `scalar_min_max_add` and
//! `scalar32_min_max_add`, and so on; here the width is a parameter).

use crate::tnum::Tnum;
use bpfkit_isa::{AluOp, JmpCond, Width};
use std::fmt;

/// Known bits and ranges of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scalar {
    pub var_off: Tnum,
    pub smin: i64,
    pub smax: i64,
    pub umin: u64,
    pub umax: u64,
    pub s32_min: i32,
    pub s32_max: i32,
    pub u32_min: u32,
    pub u32_max: u32,
}

/// One width's worth of a [`Scalar`], values widened to 64 bits: for 32 bits the tnum is
/// the low half and the ranges are those of the low half (signed ones sign-extended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub bits: u32,
    pub tnum: Tnum,
    pub smin: i64,
    pub smax: i64,
    pub umin: u64,
    pub umax: u64,
}

impl View {
    /// Every value of `bits` bits.
    pub fn unbounded(bits: u32) -> View {
        View {
            bits,
            tnum: if bits == 32 {
                Tnum::UNKNOWN.subreg()
            } else {
                Tnum::UNKNOWN
            },
            smin: smin_of(bits),
            smax: smax_of(bits),
            umin: 0,
            umax: umax_of(bits),
        }
    }

    /// Exactly `v` (truncated to the width).
    pub fn constant(bits: u32, v: u64) -> View {
        let u = v & umax_of(bits);
        let s = sext(u, bits);
        View {
            bits,
            tnum: Tnum::constant(u),
            smin: s,
            smax: s,
            umin: u,
            umax: u,
        }
    }

    /// The value, when only one is possible.
    pub fn as_const(&self) -> Option<u64> {
        self.tnum.is_const().then_some(self.tnum.value)
    }

    /// Sets the signed range from `lo..=hi` (i128 so that overflow can be seen), or to the
    /// full range when it does not fit the width.
    fn set_signed(&mut self, lo: i128, hi: i128) {
        if lo < smin_of(self.bits) as i128 || hi > smax_of(self.bits) as i128 {
            self.smin = smin_of(self.bits);
            self.smax = smax_of(self.bits);
        } else {
            self.smin = lo as i64;
            self.smax = hi as i64;
        }
    }

    /// Sets the unsigned range from `lo..=hi`, or to the full range when it overflows.
    fn set_unsigned(&mut self, lo: i128, hi: i128) {
        if lo < 0 || hi > umax_of(self.bits) as i128 {
            self.umin = 0;
            self.umax = umax_of(self.bits);
        } else {
            self.umin = lo as u64;
            self.umax = hi as u64;
        }
    }
}

const fn umax_of(bits: u32) -> u64 {
    if bits == 32 {
        u32::MAX as u64
    } else {
        u64::MAX
    }
}

const fn smin_of(bits: u32) -> i64 {
    if bits == 32 {
        i32::MIN as i64
    } else {
        i64::MIN
    }
}

const fn smax_of(bits: u32) -> i64 {
    if bits == 32 {
        i32::MAX as i64
    } else {
        i64::MAX
    }
}

/// `v`'s low `bits` bits, sign-extended.
const fn sext(v: u64, bits: u32) -> i64 {
    if bits == 32 {
        v as u32 as i32 as i64
    } else {
        v as i64
    }
}

impl Scalar {
    /// Every 64-bit value.
    pub fn unknown() -> Scalar {
        Scalar {
            var_off: Tnum::UNKNOWN,
            smin: i64::MIN,
            smax: i64::MAX,
            umin: 0,
            umax: u64::MAX,
            s32_min: i32::MIN,
            s32_max: i32::MAX,
            u32_min: 0,
            u32_max: u32::MAX,
        }
    }

    /// Exactly `v` (`__mark_reg_known`).
    pub fn constant(v: u64) -> Scalar {
        Scalar {
            var_off: Tnum::constant(v),
            smin: v as i64,
            smax: v as i64,
            umin: v,
            umax: v,
            s32_min: v as i32,
            s32_max: v as i32,
            u32_min: v as u32,
            u32_max: v as u32,
        }
    }

    /// Any value of `[0, max]`.
    pub fn up_to(max: u64) -> Scalar {
        let mut s = Scalar::unknown();
        s.umax = max;
        s.sync();
        s
    }

    /// Values known only by their bits.
    pub fn from_tnum(t: Tnum) -> Scalar {
        let mut s = Scalar::unknown();
        s.var_off = t;
        s.sync();
        s
    }

    /// The value, when only one is possible.
    pub fn as_const(&self) -> Option<u64> {
        self.var_off.is_const().then_some(self.var_off.value)
    }

    /// The 64-bit or 32-bit view.
    pub fn view(&self, width: Width) -> View {
        match width {
            Width::W64 => View {
                bits: 64,
                tnum: self.var_off,
                smin: self.smin,
                smax: self.smax,
                umin: self.umin,
                umax: self.umax,
            },
            Width::W32 => View {
                bits: 32,
                tnum: self.var_off.subreg(),
                smin: self.s32_min as i64,
                smax: self.s32_max as i64,
                umin: self.u32_min as u64,
                umax: self.u32_max as u64,
            },
        }
    }

    /// A scalar whose 64 bits are the zero-extension of a 32-bit result (`zext_32_to_64`
    /// after a 32-bit ALU operation).
    pub fn from_view32(v: View) -> Scalar {
        let mut s = Scalar::unknown();
        s.var_off = v.tnum.subreg();
        s.set32(v);
        s.umin = s.u32_min as u64;
        s.umax = s.u32_max as u64;
        s.smin = s.umin as i64;
        s.smax = s.umax as i64;
        s.sync();
        s
    }

    /// A scalar from a 64-bit result and what is known of its low half.
    fn from_views(v64: View, v32: View) -> Scalar {
        let mut s = Scalar::unknown();
        s.var_off = v64.tnum;
        s.smin = v64.smin;
        s.smax = v64.smax;
        s.umin = v64.umin;
        s.umax = v64.umax;
        s.set32(v32);
        s.sync();
        s
    }

    fn set32(&mut self, v: View) {
        self.s32_min = v.smin as i32;
        self.s32_max = v.smax as i32;
        self.u32_min = v.umin as u32;
        self.u32_max = v.umax as u32;
    }

    /// Narrows the bounds with what a refined view says; both remain valid since
    /// refinement only removes values.
    pub fn refine(&mut self, v: View) {
        if v.bits == 64 {
            self.var_off = self.var_off.intersect(v.tnum);
            self.smin = self.smin.max(v.smin);
            self.smax = self.smax.min(v.smax);
            self.umin = self.umin.max(v.umin);
            self.umax = self.umax.min(v.umax);
        } else {
            self.var_off = self
                .var_off
                .with_subreg(self.var_off.subreg().intersect(v.tnum));
            self.s32_min = self.s32_min.max(v.smin as i32);
            self.s32_max = self.s32_max.min(v.smax as i32);
            self.u32_min = self.u32_min.max(v.umin as u32);
            self.u32_max = self.u32_max.min(v.umax as u32);
            // With the upper half known zero, the 32-bit ranges are the 64-bit ones
            // (`__reg_combine_32_into_64`).
            if self.var_off.clear_subreg() == Tnum::constant(0) {
                self.umin = self.umin.max(self.u32_min as u64);
                self.umax = self.umax.min(self.u32_max as u64);
            }
        }
        self.sync();
    }

    /// Whether no value satisfies the bounds (a branch that cannot be taken).
    pub fn is_empty(&self) -> bool {
        self.smin > self.smax
            || self.umin > self.umax
            || self.s32_min > self.s32_max
            || self.u32_min > self.u32_max
            || self.var_off.value & self.var_off.mask != 0
    }

    /// Makes the tnum and the four ranges agree (`reg_bounds_sync`).
    pub fn sync(&mut self) {
        self.update_bounds();
        self.deduce_bounds();
        self.bound_offset();
        self.update_bounds();
    }

    /// Ranges from the known bits (`__update_reg_bounds`).
    fn update_bounds(&mut self) {
        let t32 = self.var_off.subreg();
        self.s32_min = self
            .s32_min
            .max((t32.value | (t32.mask & 0x8000_0000)) as u32 as i32);
        self.s32_max = self
            .s32_max
            .min((t32.value | (t32.mask & 0x7fff_ffff)) as u32 as i32);
        self.u32_min = self.u32_min.max(t32.value as u32);
        self.u32_max = self.u32_max.min((t32.value | t32.mask) as u32);
        let t = self.var_off;
        self.smin = self.smin.max((t.value | (t.mask & (1 << 63))) as i64);
        self.smax = self.smax.min((t.value | (t.mask & !(1 << 63))) as i64);
        self.umin = self.umin.max(t.value);
        self.umax = self.umax.min(t.value | t.mask);
        // The 64-bit ranges bound the low half when they stay within one 2^32 block.
        if self.umin >> 32 == self.umax >> 32 {
            self.u32_min = self.u32_min.max(self.umin as u32);
            self.u32_max = self.u32_max.min(self.umax as u32);
            if (self.umin as u32 as i32) <= (self.umax as u32 as i32) {
                self.s32_min = self.s32_min.max(self.umin as u32 as i32);
                self.s32_max = self.s32_max.min(self.umax as u32 as i32);
            }
        }
    }

    /// Signed from unsigned ranges and back (`__reg32_deduce_bounds`,
    /// `__reg64_deduce_bounds`).
    fn deduce_bounds(&mut self) {
        if self.s32_min >= 0 || self.s32_max < 0 {
            let lo = (self.s32_min as u32).max(self.u32_min);
            let hi = (self.s32_max as u32).min(self.u32_max);
            (self.s32_min, self.u32_min) = (lo as i32, lo);
            (self.s32_max, self.u32_max) = (hi as i32, hi);
        } else if self.u32_max as i32 >= 0 {
            self.s32_min = self.u32_min as i32;
            let hi = (self.s32_max as u32).min(self.u32_max);
            (self.s32_max, self.u32_max) = (hi as i32, hi);
        } else if (self.u32_min as i32) < 0 {
            let lo = (self.s32_min as u32).max(self.u32_min);
            (self.s32_min, self.u32_min) = (lo as i32, lo);
            self.s32_max = self.u32_max as i32;
        }
        if self.smin >= 0 || self.smax < 0 {
            let lo = (self.smin as u64).max(self.umin);
            let hi = (self.smax as u64).min(self.umax);
            (self.smin, self.umin) = (lo as i64, lo);
            (self.smax, self.umax) = (hi as i64, hi);
        } else if self.umax as i64 >= 0 {
            self.smin = self.umin as i64;
            let hi = (self.smax as u64).min(self.umax);
            (self.smax, self.umax) = (hi as i64, hi);
        } else if (self.umin as i64) < 0 {
            let lo = (self.smin as u64).max(self.umin);
            (self.smin, self.umin) = (lo as i64, lo);
            self.smax = self.umax as i64;
        }
    }

    /// Known bits from the unsigned ranges (`__reg_bound_offset`).
    fn bound_offset(&mut self) {
        let t64 = self.var_off.intersect(Tnum::range(self.umin, self.umax));
        let t32 = t64
            .subreg()
            .intersect(Tnum::range(self.u32_min as u64, self.u32_max as u64));
        self.var_off = t64.clear_subreg().or(t32);
    }

    /// Whether every value of `other` is a value of `self` (`range_within` and `tnum_in`,
    /// the subsumption test of state pruning).
    pub fn includes(&self, other: &Scalar) -> bool {
        self.smin <= other.smin
            && self.smax >= other.smax
            && self.umin <= other.umin
            && self.umax >= other.umax
            && self.s32_min <= other.s32_min
            && self.s32_max >= other.s32_max
            && self.u32_min <= other.u32_min
            && self.u32_max >= other.u32_max
            && self.var_off.includes(other.var_off)
    }

    /// `self op src` at `width` (`adjust_scalar_min_max_vals`). `Mov` and `Movsx` are not
    /// arithmetic on `self`: the caller handles them (here they give an unknown value).
    pub fn alu(&self, op: AluOp, src: &Scalar, width: Width) -> Scalar {
        let (d, s) = (self.view(width), src.view(width));
        let r = alu_view(op, d, s);
        match width {
            Width::W32 => Scalar::from_view32(r),
            Width::W64 => {
                // The low half of an add, sub, mul, bitwise op or left shift depends on
                // the operands' low halves only; for the others it is recomputed from
                // the 64-bit result's bits.
                let low = match op {
                    AluOp::Add
                    | AluOp::Sub
                    | AluOp::Mul
                    | AluOp::And
                    | AluOp::Or
                    | AluOp::Xor
                    | AluOp::Lsh => alu_view(op, self.view(Width::W32), src.view(Width::W32)),
                    _ => View::unbounded(32),
                };
                Scalar::from_views(r, low)
            }
        }
    }

    /// Sign-extends the low `bits` bits (movsx, ldsx), or zero-extends when `signed` is
    /// false (a narrow load or `mov32`).
    pub fn extend(&self, bits: u32, signed: bool) -> Scalar {
        if bits >= 64 {
            return *self;
        }
        if let Some(v) = self.as_const() {
            let shift = 64 - bits;
            let e = if signed {
                ((v << shift) as i64 >> shift) as u64
            } else {
                (v << shift) >> shift
            };
            return Scalar::constant(e);
        }
        let low = self.var_off.cast(bits / 8);
        if !signed {
            return Scalar::from_tnum(low);
        }
        // Known sign bit: the extension is known too; otherwise only the range of a
        // `bits`-bit signed value is.
        let sign = 1u64 << (bits - 1);
        let t = if low.mask & sign == 0 {
            if low.value & sign != 0 {
                Tnum {
                    value: low.value | !((sign << 1).wrapping_sub(1)),
                    mask: low.mask,
                }
            } else {
                low
            }
        } else {
            Tnum {
                value: low.value,
                mask: low.mask | !((sign << 1).wrapping_sub(1)),
            }
        };
        let mut s = Scalar::from_tnum(t);
        s.smin = s.smin.max(-(sign as i64));
        s.smax = s.smax.min(sign as i64 - 1);
        s.sync();
        s
    }
}

/// `d op s` on one width.
fn alu_view(op: AluOp, d: View, s: View) -> View {
    let bits = d.bits;
    let mut r = View::unbounded(bits);
    if let (Some(a), Some(b)) = (d.as_const(), s.as_const()) {
        if let Some(v) = fold(op, a, b, bits) {
            return View::constant(bits, v);
        }
    }
    let mask = umax_of(bits);
    match op {
        AluOp::Add => {
            r.tnum = d.tnum.add(s.tnum);
            r.set_signed(
                d.smin as i128 + s.smin as i128,
                d.smax as i128 + s.smax as i128,
            );
            r.set_unsigned(
                d.umin as i128 + s.umin as i128,
                d.umax as i128 + s.umax as i128,
            );
        }
        AluOp::Sub => {
            r.tnum = d.tnum.sub(s.tnum);
            r.set_signed(
                d.smin as i128 - s.smax as i128,
                d.smax as i128 - s.smin as i128,
            );
            r.set_unsigned(
                d.umin as i128 - s.umax as i128,
                d.umax as i128 - s.umin as i128,
            );
        }
        AluOp::Mul => {
            r.tnum = d.tnum.mul(s.tnum);
            // Like the kernel, only products of small non-negative values get ranges.
            if d.smin >= 0 && s.smin >= 0 && d.umax <= u32::MAX as u64 && s.umax <= u32::MAX as u64
            {
                let (lo, hi) = (
                    d.umin as i128 * s.umin as i128,
                    d.umax as i128 * s.umax as i128,
                );
                r.set_unsigned(lo, hi);
                r.set_signed(lo, hi);
            }
        }
        AluOp::And => {
            r.tnum = d.tnum.and(s.tnum);
            r.umin = r.tnum.value;
            r.umax = d.umax.min(s.umax);
            if d.smin >= 0 && s.smin >= 0 {
                r.set_signed(r.umin as i128, r.umax as i128);
            }
        }
        AluOp::Or => {
            r.tnum = d.tnum.or(s.tnum);
            r.umin = d.umin.max(s.umin);
            r.umax = r.tnum.max();
            if d.smin >= 0 && s.smin >= 0 {
                r.set_signed(r.umin as i128, r.umax as i128);
            }
        }
        AluOp::Xor => {
            r.tnum = d.tnum.xor(s.tnum);
            r.umin = r.tnum.min();
            r.umax = r.tnum.max();
            if d.smin >= 0 && s.smin >= 0 {
                r.set_signed(r.umin as i128, r.umax as i128);
            }
        }
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
            // Shift amounts are masked to the width; only known amounts are tracked.
            if let Some(n) = s.as_const() {
                let n = (n & (bits as u64 - 1)) as u32;
                shift_view(&mut r, op, d, n);
            }
        }
        AluOp::Div => {
            if let Some(c) = s.as_const().filter(|&c| c != 0) {
                r.set_unsigned((d.umin / c) as i128, (d.umax / c) as i128);
            }
        }
        AluOp::Mod => match s.as_const() {
            // Modulo by zero leaves dst unchanged.
            Some(0) => return d,
            Some(c) => r.set_unsigned(0, (c - 1).min(d.umax) as i128),
            None => {}
        },
        AluOp::Sdiv | AluOp::Smod | AluOp::Mov | AluOp::Movsx(_) => {}
    }
    r.tnum = Tnum {
        value: r.tnum.value & mask,
        mask: r.tnum.mask & mask,
    };
    r
}

fn shift_view(r: &mut View, op: AluOp, d: View, n: u32) {
    let bits = d.bits;
    match op {
        AluOp::Lsh => {
            r.tnum = d.tnum.shl(n);
            // No bit of the unsigned maximum may be shifted out.
            if n == 0 || d.umax >> (bits - n) == 0 {
                r.set_unsigned((d.umin as i128) << n, (d.umax as i128) << n);
            }
        }
        AluOp::Rsh => {
            r.tnum = d.tnum.shr(n);
            r.set_unsigned((d.umin >> n) as i128, (d.umax >> n) as i128);
        }
        _ => {
            r.tnum = d.tnum.arshift(n, bits);
            r.set_signed((d.smin >> n) as i128, (d.smax >> n) as i128);
        }
    }
}

/// The concrete result of `a op b` at `bits` (RFC 9669 semantics), for constant operands.
fn fold(op: AluOp, a: u64, b: u64, bits: u32) -> Option<u64> {
    let m = umax_of(bits);
    let (a, b) = (a & m, b & m);
    let (sa, sb) = (sext(a, bits), sext(b, bits));
    let sh = (b & (bits as u64 - 1)) as u32;
    let v = match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b).unwrap_or(0),
        AluOp::Mod => a.checked_rem(b).unwrap_or(a),
        AluOp::Sdiv => {
            if b == 0 {
                0
            } else {
                sa.wrapping_div(sb) as u64
            }
        }
        AluOp::Smod => {
            if b == 0 {
                a
            } else {
                sa.wrapping_rem(sb) as u64
            }
        }
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Xor => a ^ b,
        AluOp::Lsh => a << sh,
        AluOp::Rsh => a >> sh,
        AluOp::Arsh => (sa >> sh) as u64,
        AluOp::Mov | AluOp::Movsx(_) => return None,
    };
    Some(v & m)
}

/// Whether `d cond s` holds for every value (`Some(true)`), for none (`Some(false)`), or
/// depends (`None`) (`is_branch_taken`).
pub fn branch_taken(cond: JmpCond, d: &View, s: &View) -> Option<bool> {
    use JmpCond::*;
    let always_or_never = |always: bool, never: bool| {
        if always {
            Some(true)
        } else if never {
            Some(false)
        } else {
            None
        }
    };
    match cond {
        Eq | Ne => {
            let eq = match (d.as_const(), s.as_const()) {
                (Some(a), Some(b)) => Some(a == b),
                _ => {
                    let disjoint = d.umin > s.umax
                        || d.umax < s.umin
                        || d.smin > s.smax
                        || d.smax < s.smin
                        || (d.tnum.value ^ s.tnum.value) & !(d.tnum.mask | s.tnum.mask) != 0;
                    disjoint.then_some(false)
                }
            };
            eq.map(|e| e == (cond == Eq))
        }
        Set => {
            let t = d.tnum.and(s.tnum);
            if t.value != 0 {
                Some(true)
            } else if t.mask == 0 {
                Some(false)
            } else {
                None
            }
        }
        Gt => always_or_never(d.umin > s.umax, d.umax <= s.umin),
        Ge => always_or_never(d.umin >= s.umax, d.umax < s.umin),
        Lt => always_or_never(d.umax < s.umin, d.umin >= s.umax),
        Le => always_or_never(d.umax <= s.umin, d.umin > s.umax),
        Sgt => always_or_never(d.smin > s.smax, d.smax <= s.smin),
        Sge => always_or_never(d.smin >= s.smax, d.smax < s.smin),
        Slt => always_or_never(d.smax < s.smin, d.smin >= s.smax),
        Sle => always_or_never(d.smax <= s.smin, d.smin > s.smax),
    }
}

/// The condition that holds when `cond` does not.
pub fn negate(cond: JmpCond) -> Option<JmpCond> {
    use JmpCond::*;
    Some(match cond {
        Eq => Ne,
        Ne => Eq,
        Gt => Le,
        Le => Gt,
        Ge => Lt,
        Lt => Ge,
        Sgt => Sle,
        Sle => Sgt,
        Sge => Slt,
        Slt => Sge,
        Set => return None,
    })
}

/// Narrows both operands' views assuming `d cond s` holds (`reg_set_min_max`, generalised
/// to two ranges as later kernels do in `regs_refine_cond_op`). For `Set` with a known
/// operand, `holds == false` clears the tested bits.
pub fn refine_views(cond: JmpCond, d: &mut View, s: &mut View) {
    use JmpCond::*;
    match cond {
        Eq => {
            let t = d.tnum.intersect(s.tnum);
            d.tnum = t;
            s.tnum = t;
            d.umin = d.umin.max(s.umin);
            d.umax = d.umax.min(s.umax);
            d.smin = d.smin.max(s.smin);
            d.smax = d.smax.min(s.smax);
            (s.umin, s.umax, s.smin, s.smax) = (d.umin, d.umax, d.smin, d.smax);
        }
        Ne => {
            let (d0, s0) = (*d, *s);
            exclude_const(d, &s0);
            exclude_const(s, &d0);
        }
        Set => {
            // The true side learns a bit only from a single-bit constant.
            if let Some(c) = s.as_const().filter(|c| c.is_power_of_two()) {
                d.tnum = d.tnum.or(Tnum::constant(c));
            }
        }
        Gt | Lt => {
            let (lo, hi) = if cond == Gt { (s, d) } else { (d, s) };
            // lo < hi
            lo.umax = lo.umax.min(hi.umax.saturating_sub(1));
            hi.umin = hi.umin.max(lo.umin.saturating_add(1));
        }
        Ge | Le => {
            let (lo, hi) = if cond == Ge { (s, d) } else { (d, s) };
            lo.umax = lo.umax.min(hi.umax);
            hi.umin = hi.umin.max(lo.umin);
        }
        Sgt | Slt => {
            let (lo, hi) = if cond == Sgt { (s, d) } else { (d, s) };
            lo.smax = lo.smax.min(hi.smax.saturating_sub(1));
            hi.smin = hi.smin.max(lo.smin.saturating_add(1));
        }
        Sge | Sle => {
            let (lo, hi) = if cond == Sge { (s, d) } else { (d, s) };
            lo.smax = lo.smax.min(hi.smax);
            hi.smin = hi.smin.max(lo.smin);
        }
    }
}

/// `a != b` for a constant `b`: only a constant at the edge of `a`'s ranges removes
/// something.
fn exclude_const(a: &mut View, b: &View) {
    let Some(c) = b.as_const() else {
        return;
    };
    if a.umin == c {
        a.umin = a.umin.wrapping_add(1);
    } else if a.umax == c {
        a.umax = a.umax.wrapping_sub(1);
    }
    let sc = sext(c, a.bits);
    if a.smin == sc {
        a.smin = a.smin.wrapping_add(1);
    } else if a.smax == sc {
        a.smax = a.smax.wrapping_sub(1);
    }
}

/// The false side of `d & s`: with a known `s`, its bits are clear in `d`.
pub fn refine_not_set(d: &mut View, s: &View) {
    if let Some(c) = s.as_const() {
        d.tnum = d.tnum.and(Tnum {
            value: !c & umax_of(d.bits),
            mask: 0,
        });
        d.tnum.mask &= !c;
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = self.as_const() {
            return write!(f, "{}", v as i64);
        }
        let mut parts = Vec::new();
        if self.smin != i64::MIN {
            parts.push(format!("smin={}", self.smin));
        }
        if self.smax != i64::MAX {
            parts.push(format!("smax={}", self.smax));
        }
        if self.umin != 0 {
            parts.push(format!("umin={}", self.umin));
        }
        if self.umax != u64::MAX {
            parts.push(format!("umax={}", self.umax));
        }
        if !self.var_off.is_unknown() {
            parts.push(format!("var_off={}", self.var_off));
        }
        if parts.is_empty() {
            write!(f, "unknown")
        } else {
            write!(f, "{}", parts.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_with_mask_bounds_the_result() {
        // x & 0xff is in [0, 255] whatever x is.
        let r = Scalar::unknown().alu(AluOp::And, &Scalar::constant(0xff), Width::W64);
        assert_eq!((r.umin, r.umax, r.smin, r.smax), (0, 255, 0, 255));
        assert_eq!(
            r.var_off,
            Tnum {
                value: 0,
                mask: 0xff
            }
        );
    }

    #[test]
    fn add_overflow_loses_the_range() {
        let big = Scalar::up_to(u64::MAX - 1);
        let r = big.alu(AluOp::Add, &Scalar::constant(2), Width::W64);
        assert_eq!((r.umin, r.umax), (0, u64::MAX));
        let small = Scalar::up_to(10);
        let r = small.alu(AluOp::Add, &Scalar::constant(2), Width::W64);
        assert_eq!((r.umin, r.umax), (2, 12));
    }

    #[test]
    fn alu32_zero_extends() {
        // w0 = -1 (0xffffffff) as a 32-bit op: 64-bit value 0xffffffff.
        let r = Scalar::constant(0).alu(AluOp::Sub, &Scalar::constant(1), Width::W32);
        assert_eq!(r.as_const(), Some(0xffff_ffff));
    }

    #[test]
    fn shifts_of_known_amounts() {
        // (x & 0xf) << 2 is in [0, 60] with the low two bits zero.
        let x = Scalar::from_tnum(Tnum {
            value: 0,
            mask: 0xf,
        });
        let r = x.alu(AluOp::Lsh, &Scalar::constant(2), Width::W64);
        assert_eq!((r.umin, r.umax), (0, 60));
        assert!(r.var_off.is_aligned(4));
        // u32 zero-extension idiom: (x << 32) >> 32 has the upper half known zero.
        let y = Scalar::unknown()
            .alu(AluOp::Lsh, &Scalar::constant(32), Width::W64)
            .alu(AluOp::Rsh, &Scalar::constant(32), Width::W64);
        assert_eq!(y.umax, u32::MAX as u64);
    }

    #[test]
    fn sync_learns_unsigned_from_signed() {
        let mut s = Scalar::unknown();
        s.smin = 0;
        s.smax = 100;
        s.sync();
        assert_eq!((s.umin, s.umax), (0, 100));
        assert_eq!((s.u32_min, s.u32_max), (0, 100));
    }

    #[test]
    fn branches_on_ranges() {
        let d = Scalar::up_to(10).view(Width::W64);
        assert_eq!(
            branch_taken(JmpCond::Gt, &d, &View::constant(64, 10)),
            Some(false)
        );
        assert_eq!(
            branch_taken(JmpCond::Le, &d, &View::constant(64, 10)),
            Some(true)
        );
        assert_eq!(branch_taken(JmpCond::Gt, &d, &View::constant(64, 5)), None);
        let (mut a, mut b) = (d, View::constant(64, 5));
        refine_views(JmpCond::Gt, &mut a, &mut b);
        assert_eq!((a.umin, a.umax), (6, 10));
    }

    #[test]
    fn sign_extension() {
        assert_eq!(
            Scalar::constant(0x80).extend(8, true).as_const(),
            Some(-128i64 as u64)
        );
        let s = Scalar::up_to(0xff).extend(8, true);
        assert_eq!((s.smin, s.smax), (-128, 127));
    }
}
