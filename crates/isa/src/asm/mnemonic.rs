//! The mnemonic syntax of uBPF and rbpf: `mov r0, 1`, `ldxw r0, [r1+4]`, `jeq r1, 0, +2`.
//! The table of mnemonics is in the [module documentation](super).

use super::common;
use super::cursor::Cursor;
use super::error::{AsmError, AsmErrorKind};
use super::labels::Stmt;
use super::tables::{atomic_rmw, byte_swap, sx_bits, ALU_OPS, CONDS, SIZES};
use crate::insn::*;

/// What a mnemonic stands for, with everything its name fixes.
#[derive(Clone, Copy, Debug)]
enum Form {
    Alu(AluOp, Width),
    Neg(Width),
    End(Endian, SwapBits),
    Ja,
    JaLong,
    Jmp(JmpCond, Width),
    Call,
    Callx,
    Exit,
    Lddw,
    LdAbs(Size),
    LdInd(Size),
    Ldx(Size, bool),
    St(Size),
    Stx(Size),
    Atomic(AtomicOp, Size),
}

/// The form a mnemonic names (case-insensitive).
fn lookup(name: &str) -> Option<Form> {
    let name = name.to_ascii_lowercase();
    let exact = match name.as_str() {
        "ja" => Some(Form::Ja),
        "ja32" => Some(Form::JaLong),
        "call" => Some(Form::Call),
        "callx" => Some(Form::Callx),
        "exit" => Some(Form::Exit),
        "lddw" => Some(Form::Lddw),
        _ => None,
    };
    exact
        .or_else(|| byte_swap(&name).map(|(kind, bits)| Form::End(kind, bits)))
        .or_else(|| sign_extending_move(&name))
        .or_else(|| sized(&name))
        .or_else(|| widened(&name))
}

/// `movsx8`, `movsx16`, `movsx32` (64-bit) and `movsx8_32`, `movsx16_32` (32-bit).
fn sign_extending_move(name: &str) -> Option<Form> {
    let bits = name.strip_prefix("movsx")?;
    let (bits, width) = match bits.strip_suffix("_32") {
        Some(b) => (b, Width::W32),
        None => (bits, Width::W64),
    };
    let bits = sx_bits(bits).filter(|&b| width == Width::W64 || b != SxBits::B32)?;
    Some(Form::Alu(AluOp::Movsx(bits), width))
}

/// Memory instructions named by access size: `ldxw`, `ldxsb`, `stdw`, `stxh`, `ldabsb`,
/// `ldindh`, `xaddw`.
fn sized(name: &str) -> Option<Form> {
    SIZES.iter().find_map(|&(size, _, suffix)| {
        let family = name.strip_suffix(suffix)?;
        let wide = size == Size::DW;
        let atomic = matches!(size, Size::W | Size::DW);
        Some(match family {
            "ldx" => Form::Ldx(size, false),
            "ldxs" if !wide => Form::Ldx(size, true),
            "st" => Form::St(size),
            "stx" => Form::Stx(size),
            "ldabs" if !wide => Form::LdAbs(size),
            "ldind" if !wide => Form::LdInd(size),
            "xadd" if atomic => Form::Atomic(AtomicOp::Add { fetch: false }, size),
            _ => return None,
        })
    })
}

/// Operations with a width suffix, `32` or `64` (the default): `add`, `add64`, `add32`,
/// `neg32`, `jeq32`, `atomic_fetch_or32`, `xchg64`, `cmpxchg32`.
fn widened(name: &str) -> Option<Form> {
    let (base, width) = if let Some(b) = name.strip_suffix("32") {
        (b, Width::W32)
    } else {
        (name.strip_suffix("64").unwrap_or(name), Width::W64)
    };
    if let Some(&(op, _, _)) = ALU_OPS.iter().find(|&&(_, _, m)| m == base) {
        return Some(Form::Alu(op, width));
    }
    if let Some(&(cond, _, _)) = CONDS.iter().find(|&&(_, _, m)| m == base) {
        return Some(Form::Jmp(cond, width));
    }
    let size = match width {
        Width::W32 => Size::W,
        Width::W64 => Size::DW,
    };
    let atomic = match base {
        "neg" => return Some(Form::Neg(width)),
        "xchg" => AtomicOp::Xchg,
        "cmpxchg" => AtomicOp::Cmpxchg,
        _ => match base.strip_prefix("atomic_fetch_") {
            Some(op) => atomic_rmw(op, true)?,
            None => atomic_rmw(base.strip_prefix("atomic_")?, false)?,
        },
    };
    Some(Form::Atomic(atomic, size))
}

/// Parses one mnemonic statement (the caller checks that nothing follows it).
pub(super) fn parse(cur: &mut Cursor) -> Result<Stmt, AsmError> {
    let pos = cur.pos();
    let name = cur
        .peek_ident()
        .ok_or_else(|| cur.expected("an instruction"))?;
    let form = lookup(name)
        .ok_or_else(|| AsmError::at(pos, AsmErrorKind::UnknownMnemonic(name.to_string())))?;
    cur.bump();
    let insn = match form {
        Form::Alu(op, width) => {
            let dst = reg(cur)?;
            cur.expect_punct(",")?;
            let src = match op {
                AluOp::Movsx(_) => Operand::Reg(reg(cur)?),
                _ => cur.operand(None)?,
            };
            Insn::Alu {
                width,
                op,
                dst,
                src,
            }
        }
        Form::Neg(width) => Insn::Neg {
            width,
            dst: reg(cur)?,
        },
        Form::End(kind, bits) => Insn::End {
            kind,
            bits,
            dst: reg(cur)?,
        },
        Form::Ja => {
            let target = cur.target(16)?;
            return Ok(Stmt::branch(target, |off| Insn::Ja { off: off as i16 }));
        }
        Form::JaLong => {
            let target = cur.target(32)?;
            return Ok(Stmt::branch(target, |imm| Insn::JaLong { imm: imm as i32 }));
        }
        Form::Jmp(cond, width) => {
            let dst = reg(cur)?;
            cur.expect_punct(",")?;
            let src = cur.operand(None)?;
            cur.expect_punct(",")?;
            let target = cur.target(16)?;
            return Ok(Stmt::branch(target, |off| Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off: off as i16,
            }));
        }
        Form::Call => return common::call(cur),
        Form::Callx => Insn::Callx { dst: reg(cur)? },
        Form::Exit => Insn::Exit,
        Form::Lddw => {
            let dst = reg(cur)?;
            cur.expect_punct(",")?;
            return common::lddw_value(cur, dst);
        }
        Form::LdAbs(size) => Insn::LdAbs {
            size,
            imm: cur.imm32()?,
        },
        Form::LdInd(size) => {
            let src = reg(cur)?;
            cur.expect_punct(",")?;
            Insn::LdInd {
                size,
                src,
                imm: cur.imm32()?,
            }
        }
        Form::Ldx(size, sx) => {
            let dst = reg(cur)?;
            cur.expect_punct(",")?;
            let (src, off) = memory(cur)?;
            Insn::Ldx {
                size,
                sx,
                dst,
                src,
                off,
            }
        }
        Form::St(size) => {
            let (dst, off) = memory(cur)?;
            cur.expect_punct(",")?;
            Insn::St {
                size,
                dst,
                off,
                imm: cur.imm32()?,
            }
        }
        Form::Stx(size) => {
            let (dst, off) = memory(cur)?;
            cur.expect_punct(",")?;
            Insn::Stx {
                size,
                dst,
                src: reg(cur)?,
                off,
            }
        }
        Form::Atomic(op, size) => {
            let (dst, off) = memory(cur)?;
            cur.expect_punct(",")?;
            Insn::Atomic {
                size,
                op,
                dst,
                src: reg(cur)?,
                off,
            }
        }
    };
    Ok(Stmt::plain(insn))
}

/// A register; the mnemonic fixes the width, so `r1` and `w1` mean the same.
fn reg(cur: &mut Cursor) -> Result<Reg, AsmError> {
    Ok(cur.reg_any()?.0)
}

/// `[r1+4]`, `[r10-8]`, `[r1]`.
fn memory(cur: &mut Cursor) -> Result<(Reg, i16), AsmError> {
    cur.expect_punct("[")?;
    let addr = cur.address16()?;
    cur.expect_punct("]")?;
    Ok(addr)
}
