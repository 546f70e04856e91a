//! Assembly errors: what was wrong, and where (1-based line and column).

use thiserror::Error;

/// A position in the source text, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// An assembly failure at a line and column of the input.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct AsmError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) where the offending token starts.
    pub column: usize,
    pub kind: AsmErrorKind,
}

impl AsmError {
    pub(super) fn at(pos: Pos, kind: AsmErrorKind) -> AsmError {
        AsmError {
            line: pos.line,
            column: pos.column,
            kind,
        }
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum AsmErrorKind {
    /// A token other than the one the grammar needs; `found` is quoted or `end of line`.
    #[error("expected {expected}, found {found}")]
    Expected { expected: String, found: String },
    #[error("unknown mnemonic '{0}'")]
    UnknownMnemonic(String),
    #[error("invalid character '{0}'")]
    BadChar(char),
    /// A numeric literal that is malformed or does not fit in 64 bits.
    #[error("invalid number '{0}'")]
    BadNumber(String),
    /// A value that does not fit the field it is encoded into.
    #[error("{what} {value} is out of range {min}..={max}")]
    OutOfRange {
        what: &'static str,
        value: i128,
        min: i128,
        max: i128,
    },
    /// `rN = <value>` with a value beyond 32 bits, which only an `lddw` can load.
    #[error("immediate {0} does not fit in 32 bits; add 'll' for a 64-bit immediate load")]
    NeedsLl(i128),
    #[error("undefined label '{0}'")]
    UndefinedLabel(String),
    #[error("label '{name}' is already defined on line {first_line}")]
    DuplicateLabel { name: String, first_line: usize },
    /// A label whose distance does not fit the instruction's offset field.
    #[error("label '{label}' is {offset} slots away, beyond the reach of a {bits}-bit offset")]
    LabelTooFar {
        label: String,
        offset: i64,
        bits: u32,
    },
}
