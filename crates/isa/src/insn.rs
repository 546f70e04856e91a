//! The typed instruction set.
//!
//! [`Insn`] is one eBPF instruction with every field checked: registers are in range,
//! reserved fields are zero and the operation exists. It is what the assembler produces,
//! the disassembler prints and the engines consume. [`RawInsn`] is the 8-byte wire form.
//!
//! Offsets of jumps and local calls stay relative, in instruction slots, exactly as encoded:
//! a 64-bit immediate load ([`Insn::Lddw`]) occupies two slots.

use std::fmt;

/// One of the eleven registers `r0`..`r10`. `r10` is the read-only frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reg(u8);

impl Reg {
    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    /// The frame pointer.
    pub const R10: Reg = Reg(10);
    /// Number of registers.
    pub const COUNT: usize = 11;

    /// The register numbered `n`, if `n <= 10`.
    pub const fn new(n: u8) -> Option<Reg> {
        if n <= 10 {
            Some(Reg(n))
        } else {
            None
        }
    }

    /// The register's number, 0..=10.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The register's number as the 4-bit field value.
    pub const fn num(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Operand width of ALU and jump instructions: `ALU`/`JMP32` work on the low 32 bits,
/// `ALU64`/`JMP` on all 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    W32,
    W64,
}

/// The second operand of an ALU or conditional jump instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// `BPF_X`: a register.
    Reg(Reg),
    /// `BPF_K`: the 32-bit immediate, sign-extended to 64 bits for 64-bit operations.
    Imm(i32),
}

/// Binary ALU operations (everything of the ALU classes but `neg` and byte swaps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    /// Unsigned division; division by zero gives 0.
    Div,
    /// Signed division (`off = 1`); division by zero gives 0.
    Sdiv,
    Or,
    And,
    /// Shift left; the amount is masked to 31 or 63.
    Lsh,
    /// Logical shift right.
    Rsh,
    /// Unsigned modulo; modulo by zero leaves dst unchanged.
    Mod,
    /// Signed modulo (`off = 1`).
    Smod,
    Xor,
    Mov,
    /// Move with sign extension from 8, 16 or 32 bits (`off` = 8, 16, 32; register source only).
    Movsx(SxBits),
    /// Arithmetic shift right.
    Arsh,
}

/// Source width of a sign-extending move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SxBits {
    B8,
    B16,
    B32,
}

impl SxBits {
    /// Number of bits, 8, 16 or 32.
    pub const fn bits(self) -> u32 {
        match self {
            SxBits::B8 => 8,
            SxBits::B16 => 16,
            SxBits::B32 => 32,
        }
    }
}

/// Kind of byte-swap instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    /// `le16/le32/le64`: convert to little endian (a truncation on a little-endian host).
    ToLe,
    /// `be16/be32/be64`: convert to big endian.
    ToBe,
    /// `bswap16/32/64` (`ALU64 | END`): unconditional swap.
    Swap,
}

/// Width of a byte swap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SwapBits {
    B16,
    B32,
    B64,
}

impl SwapBits {
    /// Number of bits, 16, 32 or 64.
    pub const fn bits(self) -> u32 {
        match self {
            SwapBits::B16 => 16,
            SwapBits::B32 => 32,
            SwapBits::B64 => 64,
        }
    }
}

/// Conditions of conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

/// Memory access sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    /// Size in bytes: 1, 2, 4 or 8.
    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

/// Atomic read-modify-write operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `+=`, with or without fetch.
    Add { fetch: bool },
    /// `|=`, with or without fetch.
    Or { fetch: bool },
    /// `&=`, with or without fetch.
    And { fetch: bool },
    /// `^=`, with or without fetch.
    Xor { fetch: bool },
    /// Exchange: src gets the old value.
    Xchg,
    /// Compare `r0` with memory; if equal, store src. `r0` always gets the old value.
    Cmpxchg,
}

/// What the 64-bit immediate of an [`Insn::Lddw`] stands for (its `src_reg`, `BPF_PSEUDO_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LddwKind {
    /// A plain 64-bit constant.
    Imm64,
    /// `BPF_PSEUDO_MAP_FD`: imm is a map file descriptor; loads the map's address.
    MapFd,
    /// `BPF_PSEUDO_MAP_VALUE`: imm is a map fd, the next imm an offset into its value.
    MapValue,
    /// `BPF_PSEUDO_BTF_ID`: imm is the BTF id of a kernel variable.
    BtfId,
    /// `BPF_PSEUDO_FUNC`: imm is a relative instruction offset of a local function.
    Func,
    /// `BPF_PSEUDO_MAP_IDX`: imm is an index into the program's map array.
    MapIdx,
    /// `BPF_PSEUDO_MAP_IDX_VALUE`: like `MapValue`, by map index.
    MapIdxValue,
}

impl LddwKind {
    /// The `src_reg` value encoding this kind.
    pub const fn src(self) -> u8 {
        match self {
            LddwKind::Imm64 => 0,
            LddwKind::MapFd => 1,
            LddwKind::MapValue => 2,
            LddwKind::BtfId => 3,
            LddwKind::Func => 4,
            LddwKind::MapIdx => 5,
            LddwKind::MapIdxValue => 6,
        }
    }

    /// The kind encoded by `src_reg`, if any.
    pub const fn from_src(src: u8) -> Option<LddwKind> {
        Some(match src {
            0 => LddwKind::Imm64,
            1 => LddwKind::MapFd,
            2 => LddwKind::MapValue,
            3 => LddwKind::BtfId,
            4 => LddwKind::Func,
            5 => LddwKind::MapIdx,
            6 => LddwKind::MapIdxValue,
            _ => return None,
        })
    }
}

/// One eBPF instruction, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    /// `dst = dst op src` (ALU / ALU64).
    Alu {
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Operand,
    },
    /// `dst = -dst`.
    Neg { width: Width, dst: Reg },
    /// Byte swap of `dst`.
    End {
        kind: Endian,
        bits: SwapBits,
        dst: Reg,
    },
    /// Unconditional jump by `off` slots (`JMP | JA`).
    Ja { off: i16 },
    /// Unconditional jump by a 32-bit offset (`JMP32 | JA`, `gotol`).
    JaLong { imm: i32 },
    /// Conditional jump by `off` slots when `dst cond src`.
    Jmp {
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Operand,
        off: i16,
    },
    /// Call helper number `imm` (`enum bpf_func_id`).
    Call { imm: i32 },
    /// Call the local function starting `imm + 1` slots after this one.
    CallLocal { imm: i32 },
    /// Call a kernel function by BTF id (`imm`), from module BTF `off` (0 = vmlinux).
    CallKfunc { imm: i32, off: i16 },
    /// Call the local function whose address is in `dst` (LLVM's `callx`).
    Callx { dst: Reg },
    /// Return from a function, or end the program with `r0`.
    Exit,
    /// 64-bit immediate load; occupies two slots. `imm` is the first slot's immediate,
    /// `next_imm` the second's.
    Lddw {
        dst: Reg,
        kind: LddwKind,
        imm: i32,
        next_imm: i32,
    },
    /// Legacy packet load `r0 = ntoh(*(size *)(skb->data + imm))`.
    LdAbs { size: Size, imm: i32 },
    /// Legacy packet load `r0 = ntoh(*(size *)(skb->data + src + imm))`.
    LdInd { size: Size, src: Reg, imm: i32 },
    /// `dst = *(size *)(src + off)`, sign-extending when `sx`.
    Ldx {
        size: Size,
        sx: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// `*(size *)(dst + off) = imm`.
    St {
        size: Size,
        dst: Reg,
        off: i16,
        imm: i32,
    },
    /// `*(size *)(dst + off) = src`.
    Stx {
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// Atomic operation on `*(size *)(dst + off)` with `src` (size is W or DW).
    Atomic {
        size: Size,
        op: AtomicOp,
        dst: Reg,
        src: Reg,
        off: i16,
    },
}

impl Insn {
    /// Number of 8-byte slots the instruction occupies: 2 for `lddw`, 1 otherwise.
    pub const fn slots(&self) -> usize {
        match self {
            Insn::Lddw { .. } => 2,
            _ => 1,
        }
    }

    /// For an `lddw`, the full 64-bit immediate (`imm` low, `next_imm` high).
    pub const fn imm64(imm: i32, next_imm: i32) -> u64 {
        (imm as u32 as u64) | ((next_imm as u32 as u64) << 32)
    }

    /// A plain 64-bit constant load `dst = value ll`.
    pub const fn lddw(dst: Reg, value: u64) -> Insn {
        Insn::Lddw {
            dst,
            kind: LddwKind::Imm64,
            imm: value as u32 as i32,
            next_imm: (value >> 32) as u32 as i32,
        }
    }

    /// The slot-relative offset of a branch, when this instruction is one
    /// (jumps and local calls; the target is `pc + offset + 1`).
    pub fn branch_offset(&self) -> Option<i64> {
        match *self {
            Insn::Ja { off } | Insn::Jmp { off, .. } => Some(off as i64),
            Insn::JaLong { imm } | Insn::CallLocal { imm } => Some(imm as i64),
            _ => None,
        }
    }
}

/// One 8-byte instruction slot as encoded: opcode, registers, offset, immediate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RawInsn {
    pub code: u8,
    /// Destination register field (low nibble of byte 1).
    pub dst: u8,
    /// Source register field (high nibble of byte 1).
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl RawInsn {
    /// Size of one slot in bytes.
    pub const SIZE: usize = 8;

    /// Decodes a little-endian slot.
    pub fn from_bytes(b: [u8; 8]) -> RawInsn {
        RawInsn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes as a little-endian slot.
    pub fn to_bytes(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }
}
