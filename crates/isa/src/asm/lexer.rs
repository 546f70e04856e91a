//! Splits one statement into tokens, shared by both syntaxes.

use super::error::{AsmError, AsmErrorKind, Pos};

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokKind<'a> {
    /// A name: mnemonic, register, label or keyword. A leading `%` (`%r1`) is kept.
    Ident(&'a str),
    /// An unsigned integer literal, decimal or `0x` hex; signs are separate tokens.
    Int(u64),
    /// An operator or punctuation, one of [`PUNCTS`].
    Punct(&'static str),
}

/// A token with its source text and position.
#[derive(Clone, Copy, Debug)]
pub(super) struct Token<'a> {
    pub kind: TokKind<'a>,
    pub text: &'a str,
    pub pos: Pos,
}

/// Operators and punctuation, longest first so that the first match is the longest.
/// The `s`-prefixed ones are llvm's signed operators (`s>>=`, `s/=`, `if r1 s< r2`).
const PUNCTS: &[&str] = &[
    "s>>=", "<<=", ">>=", "s/=", "s%=", "s<=", "s>=", "==", "!=", "<=", ">=", "+=", "-=", "*=",
    "/=", "%=", "|=", "&=", "^=", "s<", "s>", "=", "<", ">", "&", "+", "-", "*", "(", ")", "[",
    "]", ",", ":", "#",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '.'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Tokenizes `line[start..]`; positions refer to `line`, on line number `line_no`.
pub(super) fn tokenize(
    line: &str,
    start: usize,
    line_no: usize,
) -> Result<Vec<Token<'_>>, AsmError> {
    let pos_of = |at: usize| Pos {
        line: line_no,
        column: line[..at].chars().count() + 1,
    };
    let mut tokens = Vec::new();
    let mut at = start;
    while let Some(c) = line[at..].chars().next() {
        let rest = &line[at..];
        if c.is_whitespace() {
            at += c.len_utf8();
            continue;
        }
        let len = if let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) {
            tokens.push(Token {
                kind: TokKind::Punct(p),
                text: &rest[..p.len()],
                pos: pos_of(at),
            });
            p.len()
        } else if is_ident_start(c) || (c == '%' && rest[1..].starts_with(is_ident_start)) {
            let len = 1 + rest[1..]
                .find(|c| !is_ident_char(c))
                .unwrap_or(rest.len() - 1);
            tokens.push(Token {
                kind: TokKind::Ident(&rest[..len]),
                text: &rest[..len],
                pos: pos_of(at),
            });
            len
        } else if c.is_ascii_digit() {
            // Take letters too, so that `12ab` is one bad number rather than two tokens.
            let len = rest.find(|c| !is_ident_char(c)).unwrap_or(rest.len());
            let text = &rest[..len];
            let value = parse_int(text).ok_or_else(|| {
                AsmError::at(pos_of(at), AsmErrorKind::BadNumber(text.to_string()))
            })?;
            tokens.push(Token {
                kind: TokKind::Int(value),
                text,
                pos: pos_of(at),
            });
            len
        } else {
            return Err(AsmError::at(pos_of(at), AsmErrorKind::BadChar(c)));
        };
        at += len;
    }
    Ok(tokens)
}

/// A decimal or `0x`-prefixed hexadecimal literal that fits in 64 bits.
fn parse_int(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
