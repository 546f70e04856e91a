//! A cursor over one statement's tokens, with the operand parsers both syntaxes share:
//! registers, integers in range, `reg ± offset` addresses and branch targets.

use super::error::{AsmError, AsmErrorKind, Pos};
use super::labels::{LabelRef, Target};
use super::lexer::{TokKind, Token};
use crate::insn::{Operand, Reg, Width};

/// The tokens of one statement and a read position.
pub(super) struct Cursor<'t, 'a> {
    tokens: &'t [Token<'a>],
    next: usize,
    /// Where "end of line" is, for errors about missing tokens.
    end: Pos,
}

impl<'t, 'a> Cursor<'t, 'a> {
    pub fn new(tokens: &'t [Token<'a>], end: Pos) -> Self {
        Cursor {
            tokens,
            next: 0,
            end,
        }
    }

    pub fn peek(&self) -> Option<&'t Token<'a>> {
        self.tokens.get(self.next)
    }

    /// The token `n` places ahead of the next one.
    pub fn peek_nth(&self, n: usize) -> Option<&'t Token<'a>> {
        self.tokens.get(self.next + n)
    }

    pub fn bump(&mut self) -> Option<&'t Token<'a>> {
        let t = self.tokens.get(self.next)?;
        self.next += 1;
        Some(t)
    }

    /// Position of the next token, or of the end of the line.
    pub fn pos(&self) -> Pos {
        self.peek().map_or(self.end, |t| t.pos)
    }

    /// An error at the next token saying `expected` was expected there.
    pub fn expected(&self, expected: &str) -> AsmError {
        match self.peek() {
            Some(t) => mismatch(t.pos, t.text, expected),
            None => AsmError::at(
                self.end,
                AsmErrorKind::Expected {
                    expected: expected.to_string(),
                    found: "end of line".to_string(),
                },
            ),
        }
    }

    pub fn at_end(&self) -> bool {
        self.next >= self.tokens.len()
    }

    pub fn expect_end(&self) -> Result<(), AsmError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.expected("end of line"))
        }
    }

    pub fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: TokKind::Punct(q), .. }) if *q == p)
    }

    pub fn eat_punct(&mut self, p: &str) -> bool {
        let yes = self.is_punct(p);
        if yes {
            self.next += 1;
        }
        yes
    }

    pub fn expect_punct(&mut self, p: &str) -> Result<(), AsmError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{p}'")))
        }
    }

    /// The next token's text if it is an identifier.
    pub fn peek_ident(&self) -> Option<&'a str> {
        match self.peek()?.kind {
            TokKind::Ident(s) => Some(s),
            _ => None,
        }
    }

    pub fn eat_ident(&mut self, name: &str) -> bool {
        let yes = self.peek_ident() == Some(name);
        if yes {
            self.next += 1;
        }
        yes
    }

    pub fn expect_ident(&mut self, name: &str) -> Result<(), AsmError> {
        if self.eat_ident(name) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{name}'")))
        }
    }

    /// A register of either width: `r0`..`r10`, `w0`..`w10`, optionally `%`-prefixed.
    pub fn reg_any(&mut self) -> Result<(Reg, Width), AsmError> {
        let parsed = self.peek_ident().and_then(parse_reg);
        let reg = parsed.ok_or_else(|| self.expected("a register r0..r10"))?;
        self.next += 1;
        Ok(reg)
    }

    /// A register named for `width` (`r1` for 64 bits, `w1` for 32).
    pub fn reg_of(&mut self, width: Width) -> Result<Reg, AsmError> {
        match self.peek_ident().and_then(parse_reg) {
            Some((reg, w)) if w == width => {
                self.next += 1;
                Ok(reg)
            }
            _ => Err(self.expected(match width {
                Width::W64 => "a 64-bit register r0..r10",
                Width::W32 => "a 32-bit register w0..w10",
            })),
        }
    }

    /// The register `want`, under either width's name (`r0`/`w0`).
    pub fn expect_reg(&mut self, want: Reg, what: &str) -> Result<(), AsmError> {
        match self.peek_ident().and_then(parse_reg) {
            Some((reg, _)) if reg == want => {
                self.next += 1;
                Ok(())
            }
            _ => Err(self.expected(what)),
        }
    }

    /// The second operand of an ALU operation or conditional jump: a 32-bit immediate, or
    /// a register named for `width` (either name when `width` is `None`).
    pub fn operand(&mut self, width: Option<Width>) -> Result<Operand, AsmError> {
        if self.at_int() {
            return Ok(Operand::Imm(self.imm32()?));
        }
        match width {
            Some(w) => Ok(Operand::Reg(self.reg_of(w)?)),
            None => match self.peek_ident().and_then(parse_reg) {
                Some((reg, _)) => {
                    self.next += 1;
                    Ok(Operand::Reg(reg))
                }
                None => Err(self.expected("a register r0..r10 or a number")),
            },
        }
    }

    /// An integer with an optional sign, as written (not yet range-checked).
    pub fn int(&mut self) -> Result<i128, AsmError> {
        let negative = if self.eat_punct("-") {
            true
        } else {
            self.eat_punct("+");
            false
        };
        match self.peek() {
            Some(Token {
                kind: TokKind::Int(v),
                ..
            }) => {
                self.next += 1;
                let v = *v as i128;
                Ok(if negative { -v } else { v })
            }
            _ => Err(self.expected("a number")),
        }
    }

    /// Whether the next tokens form an integer (with an optional sign).
    pub fn at_int(&self) -> bool {
        let t = if self.is_punct("-") || self.is_punct("+") {
            self.peek_nth(1)
        } else {
            self.peek()
        };
        matches!(
            t,
            Some(Token {
                kind: TokKind::Int(_),
                ..
            })
        )
    }

    /// An integer within `min..=max`, reported as `what` when it is not.
    pub fn int_in(&mut self, what: &'static str, min: i128, max: i128) -> Result<i128, AsmError> {
        let pos = self.pos();
        let value = self.int()?;
        check_range(pos, what, value, min, max)
    }

    /// A 32-bit immediate: any value of `i32` or `u32` (stored as its two's complement).
    pub fn imm32(&mut self) -> Result<i32, AsmError> {
        let v = self.int_in("immediate", i32::MIN.into(), u32::MAX.into())?;
        Ok(v as u32 as i32)
    }

    /// A 64-bit immediate: any value of `i64` or `u64`.
    pub fn imm64(&mut self) -> Result<u64, AsmError> {
        let v = self.int_in("64-bit immediate", i64::MIN.into(), u64::MAX.into())?;
        Ok(v as u64)
    }

    /// A 16-bit signed memory offset.
    pub fn off16(&mut self) -> Result<i16, AsmError> {
        Ok(self.int_in("offset", i16::MIN.into(), i16::MAX.into())? as i16)
    }

    /// `reg`, `reg + n` or `reg - n` (the form inside `(...)` and `[...]`), with `n` within
    /// `min..=max` after applying the sign.
    pub fn address(&mut self, min: i128, max: i128) -> Result<(Reg, i128), AsmError> {
        let (reg, _) = self.reg_any()?;
        if !(self.is_punct("+") || self.is_punct("-")) {
            return Ok((reg, 0));
        }
        // The operator between register and offset is the offset's sign.
        Ok((reg, self.int_in("offset", min, max)?))
    }

    /// A memory address with a 16-bit offset.
    pub fn address16(&mut self) -> Result<(Reg, i16), AsmError> {
        let (reg, off) = self.address(i16::MIN.into(), i16::MAX.into())?;
        Ok((reg, off as i16))
    }

    /// A branch target: a signed slot offset (`+3`, `-0x2`), the kernel log's `pc+3`, or a
    /// label. An offset must fit `bits` (16 for jumps, 32 for `gotol` and calls).
    pub fn target(&mut self, bits: u32) -> Result<Target, AsmError> {
        let pos = self.pos();
        let limit = 1i128 << (bits - 1);
        if self.at_int() {
            let v = self.int_in("jump offset", -limit, limit - 1)?;
            return Ok(Target::Rel(v as i64));
        }
        let name = self
            .peek_ident()
            .ok_or_else(|| self.expected("a jump offset or a label"))?;
        self.next += 1;
        if name == "pc" && (self.is_punct("+") || self.is_punct("-")) {
            let v = self.int_in("jump offset", -limit, limit - 1)?;
            return Ok(Target::Rel(v as i64));
        }
        Ok(Target::Label(LabelRef {
            name: name.to_string(),
            pos,
        }))
    }

    /// Skips the ` <func+0x18>` annotation llvm-objdump prints after a jump target.
    pub fn skip_annotation(&mut self) {
        if self.is_punct("<") && self.tokens.last().is_some_and(|t| t.text == ">") {
            self.next = self.tokens.len();
        }
    }
}

/// An "expected ..., found '...'" error about the text `found` at `pos`.
pub(super) fn mismatch(pos: Pos, found: &str, expected: &str) -> AsmError {
    AsmError::at(
        pos,
        AsmErrorKind::Expected {
            expected: expected.to_string(),
            found: format!("'{found}'"),
        },
    )
}

/// Parses `r3`, `w3` or `%r3`.
pub(super) fn parse_reg(name: &str) -> Option<(Reg, Width)> {
    let name = name.strip_prefix('%').unwrap_or(name);
    let width = match name.as_bytes().first()? {
        b'r' => Width::W64,
        b'w' => Width::W32,
        _ => return None,
    };
    let digits = &name[1..];
    // No leading zeros or signs: `r01` is not a register.
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let n: u8 = digits.parse().ok()?;
    Some((Reg::new(n)?, width))
}

fn check_range(
    pos: Pos,
    what: &'static str,
    value: i128,
    min: i128,
    max: i128,
) -> Result<i128, AsmError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(AsmError::at(
            pos,
            AsmErrorKind::OutOfRange {
                what,
                value,
                min,
                max,
            },
        ))
    }
}
