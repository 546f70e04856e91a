//! Names of operations in both syntaxes, in one place: each row pairs the llvm operator
//! with the mnemonic.

use crate::insn::*;

/// Binary ALU operations: (operation, llvm compound assignment, mnemonic).
/// `Movsx` is absent: it has its own spelling in both syntaxes.
pub(super) const ALU_OPS: &[(AluOp, &str, &str)] = &[
    (AluOp::Add, "+=", "add"),
    (AluOp::Sub, "-=", "sub"),
    (AluOp::Mul, "*=", "mul"),
    (AluOp::Div, "/=", "div"),
    (AluOp::Sdiv, "s/=", "sdiv"),
    (AluOp::Or, "|=", "or"),
    (AluOp::And, "&=", "and"),
    (AluOp::Lsh, "<<=", "lsh"),
    (AluOp::Rsh, ">>=", "rsh"),
    (AluOp::Mod, "%=", "mod"),
    (AluOp::Smod, "s%=", "smod"),
    (AluOp::Xor, "^=", "xor"),
    (AluOp::Mov, "=", "mov"),
    (AluOp::Arsh, "s>>=", "arsh"),
];

/// Jump conditions: (condition, llvm operator, mnemonic).
pub(super) const CONDS: &[(JmpCond, &str, &str)] = &[
    (JmpCond::Eq, "==", "jeq"),
    (JmpCond::Gt, ">", "jgt"),
    (JmpCond::Ge, ">=", "jge"),
    (JmpCond::Set, "&", "jset"),
    (JmpCond::Ne, "!=", "jne"),
    (JmpCond::Sgt, "s>", "jsgt"),
    (JmpCond::Sge, "s>=", "jsge"),
    (JmpCond::Lt, "<", "jlt"),
    (JmpCond::Le, "<=", "jle"),
    (JmpCond::Slt, "s<", "jslt"),
    (JmpCond::Sle, "s<=", "jsle"),
];

/// The compound assignment llvm prints for `op` (`+=`, `s>>=`; `=` for moves, with or
/// without sign extension).
pub fn alu_operator(op: AluOp) -> &'static str {
    let op = match op {
        AluOp::Movsx(_) => AluOp::Mov,
        op => op,
    };
    ALU_OPS
        .iter()
        .find(|&&(o, _, _)| o == op)
        .map_or("=", |&(_, sym, _)| sym)
}

/// The comparison llvm prints for `cond` (`==`, `s<=`, `&` for jset).
pub fn cond_operator(cond: JmpCond) -> &'static str {
    CONDS
        .iter()
        .find(|&&(c, _, _)| c == cond)
        .map_or("==", |&(_, sym, _)| sym)
}

/// A read-modify-write atomic.
pub(super) struct Rmw {
    /// The name in `atomic_fetch_<name>` and in mnemonics.
    pub name: &'static str,
    /// The llvm operator of its `lock` form.
    pub symbol: &'static str,
    /// The operation, with or without fetch.
    pub op: fn(bool) -> AtomicOp,
}

/// The read-modify-write atomics.
pub(super) const ATOMIC_RMW: &[Rmw] = &[
    Rmw {
        name: "add",
        symbol: "+=",
        op: |fetch| AtomicOp::Add { fetch },
    },
    Rmw {
        name: "or",
        symbol: "|=",
        op: |fetch| AtomicOp::Or { fetch },
    },
    Rmw {
        name: "and",
        symbol: "&=",
        op: |fetch| AtomicOp::And { fetch },
    },
    Rmw {
        name: "xor",
        symbol: "^=",
        op: |fetch| AtomicOp::Xor { fetch },
    },
];

/// The read-modify-write atomic called `name` in [`ATOMIC_RMW`].
pub(super) fn atomic_rmw(name: &str, fetch: bool) -> Option<AtomicOp> {
    let rmw = ATOMIC_RMW.iter().find(|r| r.name == name)?;
    Some((rmw.op)(fetch))
}

/// Memory sizes: (size, bits, mnemonic suffix).
pub(super) const SIZES: &[(Size, u32, &str)] = &[
    (Size::B, 8, "b"),
    (Size::H, 16, "h"),
    (Size::W, 32, "w"),
    (Size::DW, 64, "dw"),
];

/// Byte-swap instructions by name, the same in both syntaxes: `le16`, `be64`, `bswap32`...
pub(super) fn byte_swap(name: &str) -> Option<(Endian, SwapBits)> {
    let (kind, bits) = if let Some(b) = name.strip_prefix("bswap") {
        (Endian::Swap, b)
    } else if let Some(b) = name.strip_prefix("le") {
        (Endian::ToLe, b)
    } else {
        (Endian::ToBe, name.strip_prefix("be")?)
    };
    let bits = match bits {
        "16" => SwapBits::B16,
        "32" => SwapBits::B32,
        "64" => SwapBits::B64,
        _ => return None,
    };
    Some((kind, bits))
}

/// Sign-extension widths by bits (8, 16, 32).
pub(super) fn sx_bits(bits: &str) -> Option<SxBits> {
    match bits {
        "8" => Some(SxBits::B8),
        "16" => Some(SxBits::B16),
        "32" => Some(SxBits::B32),
        _ => None,
    }
}
