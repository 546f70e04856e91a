//! A small x86-64 encoder: exactly the instruction forms the code generator uses, each
//! built from one REX/ModRM/SIB routine ([`Emitter::op_rm`]) so that the special cases of
//! the encoding (rsp/r12 need a SIB byte, rbp/r13 need a displacement, byte registers
//! sil/dil/bpl need a REX prefix) live in one place.

/// A host register, by its 4-bit hardware number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct R(pub u8);

impl R {
    pub const RAX: R = R(0);
    pub const RCX: R = R(1);
    pub const RDX: R = R(2);
    pub const RBX: R = R(3);
    pub const RSP: R = R(4);
    pub const RBP: R = R(5);
    pub const RSI: R = R(6);
    pub const RDI: R = R(7);
    pub const R8: R = R(8);
    pub const R9: R = R(9);
    pub const R10: R = R(10);
    pub const R11: R = R(11);
    pub const R12: R = R(12);
    pub const R13: R = R(13);
    pub const R14: R = R(14);
    pub const R15: R = R(15);

    fn low(self) -> u8 {
        self.0 & 7
    }

    fn ext(self) -> u8 {
        self.0 >> 3
    }
}

/// Operand size of an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sz {
    B,
    H,
    W,
    Q,
}

impl Sz {
    /// The size of an access of `bytes` bytes.
    pub fn of_bytes(bytes: usize) -> Sz {
        match bytes {
            1 => Sz::B,
            2 => Sz::H,
            4 => Sz::W,
            _ => Sz::Q,
        }
    }
}

/// The r/m operand of an instruction: a register or `[base + disp]`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rm {
    Reg(R),
    Mem { base: R, disp: i32 },
}

/// `[base + disp]`.
pub(crate) fn mem(base: R, disp: i32) -> Rm {
    Rm::Mem { base, disp }
}

/// Condition codes, by their encoding in `Jcc`/`SETcc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Cc {
    B = 0x2,
    Ae = 0x3,
    E = 0x4,
    Ne = 0x5,
    Be = 0x6,
    A = 0x7,
    L = 0xc,
    Ge = 0xd,
    Le = 0xe,
    G = 0xf,
}

impl Cc {
    /// The opposite condition (the low bit of the encoding flips it).
    pub fn negate(self) -> Cc {
        match self {
            Cc::B => Cc::Ae,
            Cc::Ae => Cc::B,
            Cc::E => Cc::Ne,
            Cc::Ne => Cc::E,
            Cc::Be => Cc::A,
            Cc::A => Cc::Be,
            Cc::L => Cc::Ge,
            Cc::Ge => Cc::L,
            Cc::Le => Cc::G,
            Cc::G => Cc::Le,
        }
    }
}

/// Group-1 arithmetic operations: the `/digit` of opcodes 0x81/0x83 and, times 8 plus 1,
/// the register form's opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Arith {
    Add = 0,
    Or = 1,
    And = 4,
    Sub = 5,
    Xor = 6,
    Cmp = 7,
}

/// Shift and rotate operations: the `/digit` of opcodes 0xC1/0xD3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Shift {
    Ror = 1,
    Shl = 4,
    Shr = 5,
    Sar = 7,
}

/// A position in the code whose 32-bit relative displacement is patched later.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rel32(usize);

/// A position whose 8-bit relative displacement is patched later (short local jumps).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rel8(usize);

/// The code buffer.
pub(crate) struct Emitter {
    pub code: Vec<u8>,
}

impl Emitter {
    pub fn with_capacity(n: usize) -> Emitter {
        Emitter {
            code: Vec::with_capacity(n),
        }
    }

    /// Current offset.
    pub fn pos(&self) -> usize {
        self.code.len()
    }

    fn byte(&mut self, b: u8) {
        self.code.push(b);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.code.extend_from_slice(b);
    }

    fn imm32(&mut self, v: i32) {
        self.bytes(&v.to_le_bytes());
    }

    /// The core encoder: optional operand-size prefix, REX, opcode bytes, ModRM (+SIB,
    /// + displacement) for `reg` (a register or a `/digit`) and `rm`.
    fn op_rm(&mut self, sz: Sz, opcode: &[u8], reg: R, rm: Rm) {
        // Assembled in place (at most 1 + 1 + 3 + 1 + 1 + 4 bytes), then appended as a
        // whole buffer and cut back: a copy of a constant size is a few moves, where a copy
        // of `n` bytes calls `memcpy`.
        let mut buf = [0u8; 16];
        let mut n = 0;
        let mut put = |b: u8| {
            buf[n] = b;
            n += 1;
        };
        if sz == Sz::H {
            put(0x66);
        }
        let rm_base = match rm {
            Rm::Reg(r) | Rm::Mem { base: r, .. } => r,
        };
        let mut rex = 0x40 | (reg.ext() << 2) | rm_base.ext();
        if sz == Sz::Q {
            rex |= 0x08;
        }
        // Byte operations on registers 4..=7 mean spl/bpl/sil/dil only with a REX prefix
        // (without one they are ah/ch/dh/bh).
        let byte_needs_rex = sz == Sz::B
            && ((4..8).contains(&reg.0) || matches!(rm, Rm::Reg(r) if (4..8).contains(&r.0)));
        if rex != 0x40 || byte_needs_rex {
            put(rex);
        }
        for &b in opcode {
            put(b);
        }
        match rm {
            Rm::Reg(r) => put(0xc0 | (reg.low() << 3) | r.low()),
            Rm::Mem { base, disp } => {
                // rbp/r13 with mod 00 would mean rip-relative/no base: always give them a
                // displacement.
                let md = if disp == 0 && base.low() != 5 {
                    0x00
                } else if i8::try_from(disp).is_ok() {
                    0x40
                } else {
                    0x80
                };
                put(md | (reg.low() << 3) | base.low());
                // rsp/r12 as a base need a SIB byte (no index).
                if base.low() == 4 {
                    put(0x24);
                }
                if md == 0x40 {
                    put(disp as i8 as u8);
                } else if md == 0x80 {
                    for b in disp.to_le_bytes() {
                        put(b);
                    }
                }
            }
        }
        let at = self.code.len();
        self.bytes(&buf);
        self.code.truncate(at + n);
    }

    fn digit(d: u8) -> R {
        R(d)
    }

    /// `op dst, src` for the group-1 operations, `mov` and `test`: register to r/m.
    pub fn arith_rr(&mut self, sz: Sz, op: Arith, dst: Rm, src: R) {
        let opc = match sz {
            Sz::B => op as u8 * 8,
            _ => op as u8 * 8 + 1,
        };
        self.op_rm(sz, &[opc], src, dst);
    }

    /// `op reg, r/m` (the load direction of group-1 operations).
    pub fn arith_r_rm(&mut self, sz: Sz, op: Arith, dst: R, src: Rm) {
        self.op_rm(sz, &[op as u8 * 8 + 3], dst, src);
    }

    /// `op r/m, imm` for the group-1 operations; the short form when the immediate fits
    /// a signed byte. 64-bit forms sign-extend the immediate.
    pub fn arith_ri(&mut self, sz: Sz, op: Arith, dst: Rm, imm: i32) {
        if let Ok(b) = i8::try_from(imm) {
            self.op_rm(sz, &[0x83], Self::digit(op as u8), dst);
            self.byte(b as u8);
        } else {
            self.op_rm(sz, &[0x81], Self::digit(op as u8), dst);
            self.imm32(imm);
        }
    }

    /// `mov dst, src` between registers.
    pub fn mov_rr(&mut self, sz: Sz, dst: R, src: R) {
        self.op_rm(sz, &[0x89], src, Rm::Reg(dst));
    }

    /// `test a, b`.
    pub fn test_rr(&mut self, sz: Sz, a: R, b: R) {
        self.op_rm(sz, &[0x85], b, Rm::Reg(a));
    }

    /// `test r/m, imm32` (sign-extended in the 64-bit form).
    pub fn test_ri(&mut self, sz: Sz, a: Rm, imm: i32) {
        if sz == Sz::B {
            self.op_rm(sz, &[0xf6], R(0), a);
            self.byte(imm as u8);
        } else {
            self.op_rm(sz, &[0xf7], R(0), a);
            self.imm32(imm);
        }
    }

    /// Loads a 64-bit constant with the shortest encoding.
    pub fn mov_imm64(&mut self, dst: R, v: u64) {
        if v == 0 {
            self.arith_rr(Sz::W, Arith::Xor, Rm::Reg(dst), dst);
        } else if let Ok(v32) = u32::try_from(v) {
            // mov r32, imm32 zero-extends.
            if dst.ext() != 0 {
                self.byte(0x41);
            }
            self.byte(0xb8 + dst.low());
            self.bytes(&v32.to_le_bytes());
        } else if let Ok(s) = i32::try_from(v as i64) {
            self.op_rm(Sz::Q, &[0xc7], R(0), Rm::Reg(dst));
            self.imm32(s);
        } else {
            self.byte(0x48 | dst.ext());
            self.byte(0xb8 + dst.low());
            self.bytes(&v.to_le_bytes());
        }
    }

    /// `mov r/m, imm` of the given size (the 64-bit form sign-extends a 32-bit immediate).
    pub fn mov_mi(&mut self, sz: Sz, dst: Rm, imm: i32) {
        match sz {
            Sz::B => {
                self.op_rm(sz, &[0xc6], R(0), dst);
                self.byte(imm as u8);
            }
            Sz::H => {
                self.op_rm(sz, &[0xc7], R(0), dst);
                self.bytes(&(imm as u16).to_le_bytes());
            }
            _ => {
                self.op_rm(sz, &[0xc7], R(0), dst);
                self.imm32(imm);
            }
        }
    }

    /// `mov reg, [m]` of 4 or 8 bytes, or a zero-extending `movzx` of 1 or 2.
    pub fn load(&mut self, sz: Sz, dst: R, src: Rm) {
        match sz {
            Sz::B => self.op_rm(Sz::W, &[0x0f, 0xb6], dst, src),
            Sz::H => self.op_rm(Sz::W, &[0x0f, 0xb7], dst, src),
            _ => self.op_rm(sz, &[0x8b], dst, src),
        }
    }

    /// Sign-extending load or move to 64 bits (`movsx`/`movsxd`) from `from` bytes, or to
    /// 32 bits when `to32` (which zero-extends the rest).
    pub fn movsx(&mut self, from: Sz, to32: bool, dst: R, src: Rm) {
        let to = if to32 { Sz::W } else { Sz::Q };
        match from {
            Sz::B => {
                // With a byte register source, force REX so sil/dil/bpl are encodable.
                if let Rm::Reg(s) = src {
                    if to == Sz::W && (4..8).contains(&s.0) && dst.ext() == 0 && s.ext() == 0 {
                        self.byte(0x40);
                    }
                }
                self.op_rm(to, &[0x0f, 0xbe], dst, src)
            }
            Sz::H => self.op_rm(to, &[0x0f, 0xbf], dst, src),
            _ => self.op_rm(Sz::Q, &[0x63], dst, src),
        }
    }

    /// `mov [m], reg` of the given size.
    pub fn store(&mut self, sz: Sz, dst: Rm, src: R) {
        let opc = if sz == Sz::B { 0x88 } else { 0x89 };
        self.op_rm(sz, &[opc], src, dst);
    }

    /// `lea dst, [m]`.
    pub fn lea(&mut self, dst: R, src: Rm) {
        self.op_rm(Sz::Q, &[0x8d], dst, src);
    }

    /// `shl/shr/sar/ror r/m, imm8`.
    pub fn shift_ri(&mut self, sz: Sz, op: Shift, dst: R, n: u8) {
        self.op_rm(
            sz,
            &[if sz == Sz::B { 0xc0 } else { 0xc1 }],
            Self::digit(op as u8),
            Rm::Reg(dst),
        );
        self.byte(n);
    }

    /// `shl/shr/sar r/m, cl`.
    pub fn shift_cl(&mut self, sz: Sz, op: Shift, dst: R) {
        self.op_rm(sz, &[0xd3], Self::digit(op as u8), Rm::Reg(dst));
    }

    /// `imul dst, src`.
    pub fn imul_rr(&mut self, sz: Sz, dst: R, src: R) {
        self.op_rm(sz, &[0x0f, 0xaf], dst, Rm::Reg(src));
    }

    /// `imul dst, dst, imm32` (sign-extended in the 64-bit form).
    pub fn imul_ri(&mut self, sz: Sz, dst: R, imm: i32) {
        self.op_rm(sz, &[0x69], dst, Rm::Reg(dst));
        self.imm32(imm);
    }

    /// Group 3 on a register: `not`(2) `neg`(3) `div`(6) `idiv`(7).
    pub fn group3(&mut self, sz: Sz, digit: u8, r: R) {
        self.op_rm(sz, &[0xf7], Self::digit(digit), Rm::Reg(r));
    }

    /// `cqo` (64) or `cdq` (32): sign-extend rax into rdx.
    pub fn sign_extend_rax(&mut self, sz: Sz) {
        if sz == Sz::Q {
            self.byte(0x48);
        }
        self.byte(0x99);
    }

    /// `bswap r32/r64`.
    pub fn bswap(&mut self, sz: Sz, r: R) {
        let rex = 0x40 | if sz == Sz::Q { 8 } else { 0 } | r.ext();
        if rex != 0x40 {
            self.byte(rex);
        }
        self.bytes(&[0x0f, 0xc8 + r.low()]);
    }

    /// `movzx r32, r16`.
    pub fn movzx16(&mut self, dst: R, src: R) {
        self.op_rm(Sz::W, &[0x0f, 0xb7], dst, Rm::Reg(src));
    }

    /// `lock` prefix for the next instruction.
    pub fn lock(&mut self) {
        self.byte(0xf0);
    }

    /// `xadd [m], reg` (prefix with [`Emitter::lock`]).
    pub fn xadd(&mut self, sz: Sz, dst: Rm, src: R) {
        self.op_rm(sz, &[0x0f, 0xc1], src, dst);
    }

    /// `cmpxchg [m], reg` (compares with rax/eax; prefix with [`Emitter::lock`]).
    pub fn cmpxchg(&mut self, sz: Sz, dst: Rm, src: R) {
        self.op_rm(sz, &[0x0f, 0xb1], src, dst);
    }

    /// `xchg [m], reg` (always locked).
    pub fn xchg(&mut self, sz: Sz, dst: Rm, src: R) {
        self.op_rm(sz, &[0x87], src, dst);
    }

    pub fn push(&mut self, r: R) {
        if r.ext() != 0 {
            self.byte(0x41);
        }
        self.byte(0x50 + r.low());
    }

    pub fn pop(&mut self, r: R) {
        if r.ext() != 0 {
            self.byte(0x41);
        }
        self.byte(0x58 + r.low());
    }

    /// `call reg`.
    pub fn call_r(&mut self, r: R) {
        self.op_rm(Sz::W, &[0xff], Self::digit(2), Rm::Reg(r));
    }

    /// `jmp reg`.
    pub fn jmp_r(&mut self, r: R) {
        self.op_rm(Sz::W, &[0xff], Self::digit(4), Rm::Reg(r));
    }

    pub fn ret(&mut self) {
        self.byte(0xc3);
    }

    /// `jmp rel32`, to be patched.
    pub fn jmp32(&mut self) -> Rel32 {
        self.byte(0xe9);
        self.rel32()
    }

    /// `call rel32`, to be patched.
    pub fn call32(&mut self) -> Rel32 {
        self.byte(0xe8);
        self.rel32()
    }

    /// `jcc rel32`, to be patched.
    pub fn jcc32(&mut self, cc: Cc) -> Rel32 {
        self.bytes(&[0x0f, 0x80 | cc as u8]);
        self.rel32()
    }

    fn rel32(&mut self) -> Rel32 {
        let at = self.pos();
        self.imm32(0);
        Rel32(at)
    }

    /// `jcc rel8` over a short local sequence, to be bound with [`Emitter::bind8`].
    pub fn jcc8(&mut self, cc: Cc) -> Rel8 {
        self.bytes(&[0x70 | cc as u8, 0]);
        Rel8(self.pos() - 1)
    }

    /// `jcc rel8` back to offset `target`, at most 128 bytes behind.
    pub fn jcc8_to(&mut self, cc: Cc, target: usize) {
        let d = target as i64 - (self.pos() as i64 + 2);
        debug_assert!(d >= -128, "short jump back over {d} bytes");
        self.bytes(&[0x70 | cc as u8, d as i8 as u8]);
    }

    /// `jmp rel8`, to be bound with [`Emitter::bind8`].
    pub fn jmp8(&mut self) -> Rel8 {
        self.bytes(&[0xeb, 0]);
        Rel8(self.pos() - 1)
    }

    /// Points a short jump at the current position.
    pub fn bind8(&mut self, j: Rel8) {
        let d = self.pos() - (j.0 + 1);
        debug_assert!(d <= 127, "short jump over {d} bytes");
        self.code[j.0] = d as u8;
    }

    /// Points a 32-bit displacement at offset `target`.
    pub fn patch(&mut self, j: Rel32, target: usize) {
        let d = target as i64 - (j.0 as i64 + 4);
        self.code[j.0..j.0 + 4].copy_from_slice(&(d as i32).to_le_bytes());
    }

    /// Points a 32-bit displacement at the current position.
    pub fn bind(&mut self, j: Rel32) {
        let here = self.pos();
        self.patch(j, here);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Emitter)) -> Vec<u8> {
        let mut e = Emitter::with_capacity(16);
        f(&mut e);
        e.code
    }

    // Expected bytes from the Intel SDM's encoding tables (and cross-checked by hand with
    // the REX/ModRM layouts).
    #[test]
    fn special_base_registers() {
        // mov rax, [r12] needs a SIB byte: 49 8b 04 24.
        assert_eq!(
            enc(|e| e.load(Sz::Q, R::RAX, mem(R::R12, 0))),
            [0x49, 0x8b, 0x04, 0x24]
        );
        // mov rax, [rbp + 0] needs a disp8: 48 8b 45 00.
        assert_eq!(
            enc(|e| e.load(Sz::Q, R::RAX, mem(R::RBP, 0))),
            [0x48, 0x8b, 0x45, 0x00]
        );
        // mov rax, [r13 - 512]: 49 8b 85 00 fe ff ff.
        assert_eq!(
            enc(|e| e.load(Sz::Q, R::RAX, mem(R::R13, -512))),
            [0x49, 0x8b, 0x85, 0x00, 0xfe, 0xff, 0xff]
        );
    }

    #[test]
    fn byte_registers_get_rex() {
        // mov [rax], sil: 40 88 30 (without REX, 0x30 would be dh).
        assert_eq!(
            enc(|e| e.store(Sz::B, mem(R::RAX, 0), R::RSI)),
            [0x40, 0x88, 0x30]
        );
        // movsx eax, dil: 40 0f be c7.
        assert_eq!(
            enc(|e| e.movsx(Sz::B, true, R::RAX, Rm::Reg(R::RDI))),
            [0x40, 0x0f, 0xbe, 0xc7]
        );
    }

    #[test]
    fn immediates() {
        // add r9, 3: 49 83 c1 03.
        assert_eq!(
            enc(|e| e.arith_ri(Sz::Q, Arith::Add, Rm::Reg(R::R9), 3)),
            [0x49, 0x83, 0xc1, 0x03]
        );
        // mov r10, -1 (sign-extended): 49 c7 c2 ff ff ff ff.
        assert_eq!(
            enc(|e| e.mov_imm64(R::R10, u64::MAX)),
            [0x49, 0xc7, 0xc2, 0xff, 0xff, 0xff, 0xff]
        );
        // movabs rax, 1 << 32: 48 b8 00 00 00 00 01 00 00 00.
        assert_eq!(
            enc(|e| e.mov_imm64(R::RAX, 1 << 32)),
            [0x48, 0xb8, 0, 0, 0, 0, 1, 0, 0, 0]
        );
    }
}
