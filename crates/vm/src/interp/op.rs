//! The interpreter's pre-decoded form: one [`Op`] per instruction slot, with the operation
//! and its operand kinds folded into one opcode ([`Opc`]) so that the execution loop
//! dispatches once per instruction, and with jump targets made absolute.

/// Internal opcode: operation x width x operand kind. `I` = immediate, `R` = register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[rustfmt::skip]
pub(crate) enum Opc {
    Add64I, Add64R, Sub64I, Sub64R, Mul64I, Mul64R, Div64I, Div64R, Sdiv64I, Sdiv64R,
    Or64I, Or64R, And64I, And64R, Lsh64I, Lsh64R, Rsh64I, Rsh64R, Mod64I, Mod64R,
    Smod64I, Smod64R, Xor64I, Xor64R, Mov64I, Mov64R, Arsh64I, Arsh64R,
    Movsx64B, Movsx64H, Movsx64W, Neg64,
    Add32I, Add32R, Sub32I, Sub32R, Mul32I, Mul32R, Div32I, Div32R, Sdiv32I, Sdiv32R,
    Or32I, Or32R, And32I, And32R, Lsh32I, Lsh32R, Rsh32I, Rsh32R, Mod32I, Mod32R,
    Smod32I, Smod32R, Xor32I, Xor32R, Mov32I, Mov32R, Arsh32I, Arsh32R,
    Movsx32B, Movsx32H, Neg32,
    Le16, Le32, Le64, Be16, Be32, Be64,
    Ja,
    Jeq64I, Jeq64R, Jgt64I, Jgt64R, Jge64I, Jge64R, Jset64I, Jset64R, Jne64I, Jne64R,
    Jsgt64I, Jsgt64R, Jsge64I, Jsge64R, Jlt64I, Jlt64R, Jle64I, Jle64R, Jslt64I, Jslt64R,
    Jsle64I, Jsle64R,
    Jeq32I, Jeq32R, Jgt32I, Jgt32R, Jge32I, Jge32R, Jset32I, Jset32R, Jne32I, Jne32R,
    Jsgt32I, Jsgt32R, Jsge32I, Jsge32R, Jlt32I, Jlt32R, Jle32I, Jle32R, Jslt32I, Jslt32R,
    Jsle32I, Jsle32R,
    Call, TailCall, CallLocal, Callx, Exit,
    Lddw,
    LdAbsB, LdAbsH, LdAbsW, LdIndB, LdIndH, LdIndW,
    LdxB, LdxH, LdxW, LdxDw, LdxsB, LdxsH, LdxsW,
    StB, StH, StW, StDw,
    StxB, StxH, StxW, StxDw,
    // Accesses relative to r10 whose whole range lies inside the current frame: r10 is
    // read-only, so they are proven in bounds once, when the program is prepared.
    LdxStackB, LdxStackH, LdxStackW, LdxStackDw,
    StStackB, StStackH, StStackW, StStackDw,
    StxStackB, StxStackH, StxStackW, StxStackDw,
    AtomicAdd32, AtomicOr32, AtomicAnd32, AtomicXor32,
    FetchAdd32, FetchOr32, FetchAnd32, FetchXor32, Xchg32, Cmpxchg32,
    AtomicAdd64, AtomicOr64, AtomicAnd64, AtomicXor64,
    FetchAdd64, FetchOr64, FetchAnd64, FetchXor64, Xchg64, Cmpxchg64,
    // Fused sequences (see `fuse`), each standing for several instructions that clang emits
    // together; the instructions after the first are never branch targets.
    /// `d = s; d <<= 32; d >>= 32`: zero-extend s into d (three instructions).
    MovZext,
    /// `d <<= 32; d >>= 32`: zero-extend d (two instructions).
    Zext,
    /// `d = s; d += imm` (two instructions).
    MovAddI,
    /// `d = s; d += s2` (two instructions).
    MovAddR,
    /// `d = s; d += imm; if d > s2 goto target`: the bounds check of a loop over a buffer
    /// (three instructions).
    MovAddJgtR,
    /// `d += (i8)src2; if d != imm goto target`: a loop counter (two instructions).
    AddJneI,
    /// `d += (i8)src2; if d == imm goto target` (two instructions).
    AddJeqI,
    /// The second slot of an `lddw`: never executed (branches to it are rejected).
    LddwTail,
    /// One past the last instruction: reached only by falling off the end.
    FellOff,
}

/// One pre-decoded instruction slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    pub opc: Opc,
    pub dst: u8,
    pub src: u8,
    /// Second source register of fused three-address ops.
    pub src2: u8,
    /// Absolute slot index of a jump or local call target; for stores of an immediate,
    /// the 32-bit immediate to store (sign-extended when used).
    pub target: u32,
    /// The operand: an ALU or jump immediate (sign-extended for 64-bit operations,
    /// zero-extended 32 bits for 32-bit ones), a memory offset (sign-extended), an `lddw`
    /// value, or a helper's index.
    pub imm: u64,
}

impl Op {
    pub(crate) fn new(opc: Opc) -> Op {
        Op {
            opc,
            dst: 0,
            src: 0,
            src2: 0,
            target: 0,
            imm: 0,
        }
    }
}
