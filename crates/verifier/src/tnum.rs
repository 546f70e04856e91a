//! Tristate numbers: the known bits of a 64-bit value (the kernel's `kernel/bpf/tnum.c`).
//!
//! A [`Tnum`] describes every value `v` with `v & !mask == value`: bits set in `mask` are
//! unknown, the others are those of `value`. `value & mask` is always 0.

use std::fmt;

/// A set of 64-bit values described by their known bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tnum {
    /// The known bits (0 where unknown).
    pub value: u64,
    /// The unknown bits.
    pub mask: u64,
}

impl Tnum {
    /// Every value.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Exactly `value`.
    pub const fn constant(value: u64) -> Tnum {
        Tnum { value, mask: 0 }
    }

    /// The smallest tnum containing every value of `[min, max]` (`tnum_range`).
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum {
            value: min & !delta,
            mask: delta,
        }
    }

    /// Whether exactly one value is described.
    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Whether every value is possible.
    pub const fn is_unknown(self) -> bool {
        self.mask == u64::MAX
    }

    /// The smallest value described.
    pub const fn min(self) -> u64 {
        self.value
    }

    /// The largest value described.
    pub const fn max(self) -> u64 {
        self.value | self.mask
    }

    /// Whether `v` is one of the values.
    pub const fn contains(self, v: u64) -> bool {
        v & !self.mask == self.value
    }

    /// Whether every value of `other` is one of `self` (`tnum_in`).
    pub const fn includes(self, other: Tnum) -> bool {
        if other.mask & !self.mask != 0 {
            return false;
        }
        other.value & !self.mask == self.value
    }

    /// Shift left by a known amount.
    pub const fn shl(self, shift: u32) -> Tnum {
        Tnum {
            value: self.value << shift,
            mask: self.mask << shift,
        }
    }

    /// Logical shift right by a known amount.
    pub const fn shr(self, shift: u32) -> Tnum {
        Tnum {
            value: self.value >> shift,
            mask: self.mask >> shift,
        }
    }

    /// Arithmetic shift right by a known amount, of the low `bits` (32 or 64) bits
    /// (`tnum_arshift`); a 32-bit result is zero-extended.
    pub const fn arshift(self, shift: u32, bits: u32) -> Tnum {
        if bits == 32 {
            Tnum {
                value: ((self.value as i32) >> shift) as u32 as u64,
                mask: ((self.mask as i32) >> shift) as u32 as u64,
            }
        } else {
            Tnum {
                value: ((self.value as i64) >> shift) as u64,
                mask: ((self.mask as i64) >> shift) as u64,
            }
        }
    }

    /// Sum (`tnum_add`).
    pub const fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: sv & !mu,
            mask: mu,
        }
    }

    /// Difference (`tnum_sub`).
    pub const fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: dv & !mu,
            mask: mu,
        }
    }

    /// Bitwise and.
    pub const fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }

    /// Bitwise or.
    pub const fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v,
            mask: mu & !v,
        }
    }

    /// Bitwise exclusive or.
    pub const fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// Product (`tnum_mul`: shift-and-add over the bits of `self`).
    pub const fn mul(self, b: Tnum) -> Tnum {
        let acc_v = self.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::constant(0);
        let (mut a, mut b) = (self, b);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.add(Tnum {
                    value: 0,
                    mask: b.mask,
                });
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.add(Tnum {
                    value: 0,
                    mask: b.value | b.mask,
                });
            }
            a = a.shr(1);
            b = b.shl(1);
        }
        Tnum::constant(acc_v).add(acc_m)
    }

    /// The values described by both (`tnum_intersect`).
    pub const fn intersect(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// The low `bytes` bytes, zero-extended (`tnum_cast`).
    pub const fn cast(self, bytes: u32) -> Tnum {
        let keep = if bytes >= 8 {
            u64::MAX
        } else {
            (1u64 << (bytes * 8)) - 1
        };
        Tnum {
            value: self.value & keep,
            mask: self.mask & keep,
        }
    }

    /// The low 32 bits (`tnum_subreg`).
    pub const fn subreg(self) -> Tnum {
        self.cast(4)
    }

    /// The high 32 bits, low 32 cleared (`tnum_clear_subreg`).
    pub const fn clear_subreg(self) -> Tnum {
        self.shr(32).shl(32)
    }

    /// The high 32 bits of `self` with the low 32 bits of `low` (`tnum_with_subreg`).
    pub const fn with_subreg(self, low: Tnum) -> Tnum {
        self.clear_subreg().or(low.subreg())
    }

    /// Whether every value is a multiple of `size` (a power of two).
    pub const fn is_aligned(self, size: u64) -> bool {
        size == 0 || (self.value | self.mask) & (size - 1) == 0
    }
}

impl fmt::Display for Tnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#x}; {:#x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of a small tnum, by enumerating its unknown bits.
    fn members(t: Tnum) -> Vec<u64> {
        let bits: Vec<u32> = (0..64).filter(|b| t.mask >> b & 1 == 1).collect();
        assert!(bits.len() <= 10);
        (0..1u64 << bits.len())
            .map(|n| {
                bits.iter()
                    .enumerate()
                    .fold(t.value, |v, (i, b)| v | ((n >> i & 1) << b))
            })
            .collect()
    }

    #[test]
    fn range_covers_its_bounds() {
        // [4, 7] differ in the low two bits: value 0b100, mask 0b011.
        assert_eq!(Tnum::range(4, 7), Tnum { value: 4, mask: 3 });
        // [3, 4] differ in bits 0..=2.
        assert_eq!(Tnum::range(3, 4), Tnum { value: 0, mask: 7 });
        assert_eq!(Tnum::range(9, 9), Tnum::constant(9));
        assert_eq!(Tnum::range(0, u64::MAX), Tnum::UNKNOWN);
    }

    #[test]
    fn operations_contain_every_concrete_result() {
        let samples = [
            Tnum::constant(5),
            Tnum { value: 4, mask: 3 },
            Tnum {
                value: 0x10,
                mask: 0x21,
            },
            Tnum {
                value: 0xffff_fff0,
                mask: 0x0f,
            },
            Tnum {
                value: 0,
                mask: 0x7,
            },
        ];
        type Op = (fn(Tnum, Tnum) -> Tnum, fn(u64, u64) -> u64);
        let ops: [Op; 6] = [
            (Tnum::add, u64::wrapping_add),
            (Tnum::sub, u64::wrapping_sub),
            (Tnum::mul, u64::wrapping_mul),
            (Tnum::and, |a, b| a & b),
            (Tnum::or, |a, b| a | b),
            (Tnum::xor, |a, b| a ^ b),
        ];
        for a in samples {
            for b in samples {
                for (abstract_op, concrete) in ops {
                    let r = abstract_op(a, b);
                    assert_eq!(r.value & r.mask, 0);
                    for x in members(a) {
                        for y in members(b) {
                            assert!(r.contains(concrete(x, y)), "{a} {b} {x} {y} -> {r}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn includes_and_intersect() {
        let wide = Tnum {
            value: 0,
            mask: 0xf,
        };
        assert!(wide.includes(Tnum::constant(9)));
        assert!(!wide.includes(Tnum::constant(0x10)));
        assert!(!Tnum::constant(9).includes(wide));
        // Known 1 in bit 0 intersected with "low nibble unknown" keeps bit 0 known.
        let odd = Tnum { value: 1, mask: !1 };
        assert_eq!(
            odd.intersect(wide),
            Tnum {
                value: 1,
                mask: 0xe
            }
        );
    }

    #[test]
    fn arshift_sign_extends() {
        let neg = Tnum::constant(0x8000_0000);
        assert_eq!(neg.arshift(4, 32), Tnum::constant(0xf800_0000));
        assert_eq!(neg.arshift(4, 64), Tnum::constant(0x0800_0000));
    }
}
