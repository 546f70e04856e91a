//! The llvm syntax, as llvm-objdump and the kernel's verifier log print it:
//! `r0 = *(u32 *)(r1 + 0x4)`, `if r3 > r2 goto +0xb`, `lock *(u64 *)(r1 + 8) += r2`.

use super::common;
use super::cursor::{mismatch, parse_reg, Cursor};
use super::error::{AsmError, AsmErrorKind};
use super::labels::Stmt;
use super::lexer::{TokKind, Token};
use super::tables::{atomic_rmw, byte_swap, sx_bits, ALU_OPS, ATOMIC_RMW, CONDS, SIZES};
use crate::insn::*;

/// Whether the statement at `cur` is in llvm syntax: it starts with a keyword only llvm
/// uses or with a store, or its second token is an assignment.
pub(super) fn is_llvm(cur: &Cursor) -> bool {
    let starts_llvm = match cur.peek().map(|t| t.kind) {
        Some(TokKind::Ident(word)) => {
            matches!(word, "if" | "goto" | "gotol" | "lock" | "ld_pseudo")
        }
        Some(TokKind::Punct(p)) => p == "*",
        _ => false,
    };
    let assigns = match cur.peek_nth(1).map(|t| t.kind) {
        Some(TokKind::Punct(p)) => ALU_OPS.iter().any(|&(_, sym, _)| sym == p),
        _ => false,
    };
    starts_llvm || assigns
}

/// Parses one llvm-syntax statement (the caller checks that nothing follows it).
pub(super) fn parse(cur: &mut Cursor) -> Result<Stmt, AsmError> {
    if cur.is_punct("*") {
        return store(cur);
    }
    match cur.peek_ident() {
        Some("if") => {
            cur.bump();
            let (dst, width) = cur.reg_any()?;
            let cond = lookup_punct(cur, CONDS, "a comparison such as '==' or 's<'")?;
            let src = cur.operand(Some(width))?;
            cur.expect_ident("goto")?;
            let target = cur.target(16)?;
            cur.skip_annotation();
            Ok(Stmt::branch(target, |off| Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off: off as i16,
            }))
        }
        Some("goto") => {
            cur.bump();
            let target = cur.target(16)?;
            cur.skip_annotation();
            Ok(Stmt::branch(target, |off| Insn::Ja { off: off as i16 }))
        }
        Some("gotol") => {
            cur.bump();
            let target = cur.target(32)?;
            cur.skip_annotation();
            Ok(Stmt::branch(target, |imm| Insn::JaLong { imm: imm as i32 }))
        }
        Some("lock") => {
            cur.bump();
            lock(cur)
        }
        Some("ld_pseudo") => {
            cur.bump();
            ld_pseudo(cur)
        }
        _ => assignment(cur),
    }
}

/// Looks the next punctuation token up in a table of (value, llvm symbol, mnemonic).
fn lookup_punct<T: Copy>(
    cur: &mut Cursor,
    table: &[(T, &str, &str)],
    expected: &str,
) -> Result<T, AsmError> {
    let found = match cur.peek().map(|t| t.kind) {
        Some(TokKind::Punct(p)) => table.iter().find(|&&(_, sym, _)| sym == p),
        _ => None,
    };
    let &(value, _, _) = found.ok_or_else(|| cur.expected(expected))?;
    cur.bump();
    Ok(value)
}

/// Which memory types an access allows.
#[derive(Clone, Copy, PartialEq)]
enum Access {
    /// Loads: `u8`..`u64` and the sign-extending `s8`..`s32`.
    Load,
    /// Stores: `u8`..`u64`.
    Store,
    /// Atomics: `u32` and `u64`.
    Atomic,
}

/// `(u32 *)`: the size of a memory access and whether it sign-extends.
fn cast(cur: &mut Cursor, access: Access) -> Result<(Size, bool), AsmError> {
    cur.expect_punct("(")?;
    let parsed = cur.peek_ident().and_then(|name| {
        let signed = name.starts_with('s');
        let bits = name.strip_prefix(['u', 's'])?;
        let &(size, _, _) = SIZES.iter().find(|(_, b, _)| b.to_string() == bits)?;
        let ok = match access {
            // RFC 9669 has no sign-extending 64-bit load.
            Access::Load => !signed || size != Size::DW,
            Access::Store => !signed,
            Access::Atomic => !signed && matches!(size, Size::W | Size::DW),
        };
        ok.then_some((size, signed))
    });
    let (size, signed) = parsed.ok_or_else(|| {
        cur.expected(match access {
            Access::Load => "a memory type u8..u64 or s8..s32",
            Access::Store => "a memory type u8, u16, u32 or u64",
            Access::Atomic => "an atomic memory type u32 or u64",
        })
    })?;
    cur.bump();
    cur.expect_punct("*")?;
    cur.expect_punct(")")?;
    Ok((size, signed))
}

/// `(r1 + 0x4)`.
fn paren_address(cur: &mut Cursor) -> Result<(Reg, i16), AsmError> {
    cur.expect_punct("(")?;
    let addr = cur.address16()?;
    cur.expect_punct(")")?;
    Ok(addr)
}

/// `*(u32 *)(r1 + 4)`, unsigned: the memory operand of stores and `lock` atomics.
fn memory(cur: &mut Cursor, access: Access) -> Result<(Size, Reg, i16), AsmError> {
    cur.expect_punct("*")?;
    let (size, _) = cast(cur, access)?;
    let (reg, off) = paren_address(cur)?;
    Ok((size, reg, off))
}

/// `*(u32 *)(r10 - 4) = r1` or `= 7`.
fn store(cur: &mut Cursor) -> Result<Stmt, AsmError> {
    let (size, dst, off) = memory(cur, Access::Store)?;
    cur.expect_punct("=")?;
    let insn = if cur.at_int() {
        Insn::St {
            size,
            dst,
            off,
            imm: cur.imm32()?,
        }
    } else {
        let (src, _) = cur.reg_any()?;
        Insn::Stx {
            size,
            dst,
            src,
            off,
        }
    };
    Ok(Stmt::plain(insn))
}

/// `lock *(u64 *)(r1 + 8) += r2` (after `lock`).
fn lock(cur: &mut Cursor) -> Result<Stmt, AsmError> {
    let (size, dst, off) = memory(cur, Access::Atomic)?;
    let found = ATOMIC_RMW.iter().find(|r| cur.is_punct(r.symbol));
    let rmw = found.ok_or_else(|| cur.expected("'+=', '|=', '&=' or '^='"))?;
    cur.bump();
    let (src, _) = cur.reg_any()?;
    Ok(Stmt::plain(Insn::Atomic {
        size,
        op: (rmw.op)(false),
        dst,
        src,
        off,
    }))
}

/// `ld_pseudo r1, 2, 0x5` (after `ld_pseudo`): llvm's spelling of an `lddw` with `src_reg`
/// 2 and immediate 5. The immediate is split over both slots as for a plain `lddw`.
fn ld_pseudo(cur: &mut Cursor) -> Result<Stmt, AsmError> {
    let (dst, _) = cur.reg_any()?;
    cur.expect_punct(",")?;
    let pos = cur.pos();
    let src = cur.int()?;
    let kind = u8::try_from(src)
        .ok()
        .and_then(LddwKind::from_src)
        .ok_or_else(|| {
            let kind = AsmErrorKind::OutOfRange {
                what: "lddw pseudo source",
                value: src,
                min: 0,
                max: 6,
            };
            AsmError::at(pos, kind)
        })?;
    cur.expect_punct(",")?;
    let value = cur.imm64()?;
    Ok(Stmt::plain(Insn::Lddw {
        dst,
        kind,
        imm: value as u32 as i32,
        next_imm: (value >> 32) as u32 as i32,
    }))
}

/// `dst op= src` and every `dst = ...` form.
fn assignment(cur: &mut Cursor) -> Result<Stmt, AsmError> {
    let dst_tok = *cur.peek().ok_or_else(|| cur.expected("a statement"))?;
    let (dst, width) = cur.reg_any()?;
    let op = lookup_punct(cur, ALU_OPS, "an assignment such as '=' or '+='")?;
    if op != AluOp::Mov {
        let src = cur.operand(Some(width))?;
        return Ok(Stmt::plain(Insn::Alu {
            width,
            op,
            dst,
            src,
        }));
    }
    if cur.at_int() {
        return immediate(cur, dst, width);
    }
    if cur.is_punct("*") {
        return load(cur, dst, &dst_tok);
    }
    if cur.eat_punct("-") {
        let in_place = format!("'{}' (negation is in place)", dst_tok.text);
        cur.expect_reg(dst, &in_place)?;
        return Ok(Stmt::plain(Insn::Neg { width, dst }));
    }
    if cur.is_punct("(") {
        return sign_extending_move(cur, dst, width);
    }
    if let Some((kind, bits)) = cur.peek_ident().and_then(byte_swap) {
        cur.bump();
        let in_place = format!("'{}' (byte swaps are in place)", dst_tok.text);
        cur.expect_reg(dst, &in_place)?;
        return Ok(Stmt::plain(Insn::End { kind, bits, dst }));
    }
    match cur.peek_ident() {
        Some("map" | "btf_id" | "subprog") => common::lddw_value(cur, dst),
        Some(name) if parse_reg(name).is_none() => atomic_call(cur, dst, &dst_tok),
        _ => {
            let src = cur.reg_of(width)?;
            Ok(Stmt::plain(Insn::Alu {
                width,
                op: AluOp::Mov,
                dst,
                src: Operand::Reg(src),
            }))
        }
    }
}

/// `dst = 5` (a move) or `dst = 5 ll` (a 64-bit immediate load).
fn immediate(cur: &mut Cursor, dst: Reg, width: Width) -> Result<Stmt, AsmError> {
    let pos = cur.pos();
    let value = cur.int()?;
    if cur.eat_ident("ll") {
        let fits = i128::from(i64::MIN)..=i128::from(u64::MAX);
        if !fits.contains(&value) {
            let kind = AsmErrorKind::OutOfRange {
                what: "64-bit immediate",
                value,
                min: *fits.start(),
                max: *fits.end(),
            };
            return Err(AsmError::at(pos, kind));
        }
        return Ok(Stmt::plain(Insn::lddw(dst, value as u64)));
    }
    let imm = i32::try_from(value)
        .or_else(|_| u32::try_from(value).map(|v| v as i32))
        .map_err(|_| AsmError::at(pos, AsmErrorKind::NeedsLl(value)))?;
    Ok(Stmt::plain(Insn::Alu {
        width,
        op: AluOp::Mov,
        dst,
        src: Operand::Imm(imm),
    }))
}

/// `dst = *(u32 *)(r1 + 4)`, `dst = *(s8 *)(...)`, and the legacy packet loads
/// `r0 = *(u8 *)skb[3]`, `r0 = *(u16 *)skb[r3 + 4]` (llvm-objdump prints `skb[r3]`, leaving
/// the immediate out; that form assembles with immediate 0).
fn load(cur: &mut Cursor, dst: Reg, dst_tok: &Token) -> Result<Stmt, AsmError> {
    cur.expect_punct("*")?;
    let (size, sx) = cast(cur, Access::Load)?;
    if !cur.eat_ident("skb") {
        let (src, off) = paren_address(cur)?;
        return Ok(Stmt::plain(Insn::Ldx {
            size,
            sx,
            dst,
            src,
            off,
        }));
    }
    if dst != Reg::R0 || sx || size == Size::DW {
        return Err(mismatch(
            dst_tok.pos,
            dst_tok.text,
            "'r0 = *(u8|u16|u32 *)skb[...]' for a legacy packet load",
        ));
    }
    cur.expect_punct("[")?;
    let insn = if cur.at_int() {
        Insn::LdAbs {
            size,
            imm: cur.imm32()?,
        }
    } else {
        let (src, imm) = cur.address(i32::MIN.into(), i32::MAX.into())?;
        Insn::LdInd {
            size,
            src,
            imm: imm as i32,
        }
    };
    cur.expect_punct("]")?;
    Ok(Stmt::plain(insn))
}

/// `r0 = (s8)r1`, `w0 = (s16)w1`.
fn sign_extending_move(cur: &mut Cursor, dst: Reg, width: Width) -> Result<Stmt, AsmError> {
    cur.expect_punct("(")?;
    let bits = cur
        .peek_ident()
        .and_then(|name| sx_bits(name.strip_prefix('s')?))
        // A 32-bit register cannot be sign-extended from 32 bits.
        .filter(|&b| width == Width::W64 || b != SxBits::B32);
    let bits = bits.ok_or_else(|| {
        cur.expected(match width {
            Width::W64 => "'s8', 's16' or 's32'",
            Width::W32 => "'s8' or 's16'",
        })
    })?;
    cur.bump();
    cur.expect_punct(")")?;
    let src = cur.reg_of(width)?;
    Ok(Stmt::plain(Insn::Alu {
        width,
        op: AluOp::Movsx(bits),
        dst,
        src: Operand::Reg(src),
    }))
}

/// The atomics written as function calls, in llvm's and the kernel log's spellings:
/// `r0 = atomic_fetch_add((u64 *)(r1 + 8), r0)` (kernel: `atomic64_fetch_add`),
/// `r2 = xchg_64(r1 + 8, r2)`, `w2 = xchg32_32(r1 + 8, w2)` (kernel:
/// `atomic64_xchg((u64 *)(r1 +8), r2)`), `r0 = cmpxchg_64(r1 + 8, r0, r2)`,
/// `w0 = cmpxchg32_32(r1 + 8, w0, w2)` (kernel: `atomic64_cmpxchg((u64 *)(r1 +8), r0, r2)`).
fn atomic_call(cur: &mut Cursor, dst: Reg, dst_tok: &Token) -> Result<Stmt, AsmError> {
    const EXPECTED: &str = "a register, a number or an atomic operation";
    let name_pos = cur.pos();
    let name = cur.peek_ident().unwrap_or_default();
    // The size is in llvm's name (`xchg_64`) or the kernel's (`atomic64_`), or else in the
    // pointer cast of the first argument.
    let (op, named_size) = match name {
        "xchg_64" => (AtomicOp::Xchg, Some(Size::DW)),
        "xchg32_32" => (AtomicOp::Xchg, Some(Size::W)),
        "cmpxchg_64" => (AtomicOp::Cmpxchg, Some(Size::DW)),
        "cmpxchg32_32" => (AtomicOp::Cmpxchg, Some(Size::W)),
        _ => {
            let (rest, size) = match name.strip_prefix("atomic64_") {
                Some(rest) => (rest, Some(Size::DW)),
                None => (name.strip_prefix("atomic_").unwrap_or_default(), None),
            };
            let op = match rest {
                "xchg" => Some(AtomicOp::Xchg),
                "cmpxchg" => Some(AtomicOp::Cmpxchg),
                _ => rest
                    .strip_prefix("fetch_")
                    .and_then(|r| atomic_rmw(r, true)),
            };
            (op.ok_or_else(|| cur.expected(EXPECTED))?, size)
        }
    };
    cur.bump();
    cur.expect_punct("(")?;
    let (size, base, off) = if cur.is_punct("(") {
        let (size, _) = cast(cur, Access::Atomic)?;
        if named_size.is_some_and(|n| n != size) {
            let expected = "an operation whose size matches its pointer type";
            return Err(mismatch(name_pos, name, expected));
        }
        let (base, off) = paren_address(cur)?;
        (size, base, off)
    } else {
        let size = named_size.ok_or_else(|| cur.expected("'(u32 *)' or '(u64 *)'"))?;
        let (base, off) = cur.address16()?;
        (size, base, off)
    };
    cur.expect_punct(",")?;
    if op == AtomicOp::Cmpxchg {
        if dst != Reg::R0 {
            return Err(mismatch(
                dst_tok.pos,
                dst_tok.text,
                "'r0' (cmpxchg returns the old value in r0)",
            ));
        }
        cur.expect_reg(Reg::R0, "'r0' (cmpxchg compares with r0)")?;
        cur.expect_punct(",")?;
        let (src, _) = cur.reg_any()?;
        cur.expect_punct(")")?;
        return Ok(Stmt::plain(Insn::Atomic {
            size,
            op,
            dst: base,
            src,
            off,
        }));
    }
    let same = format!("'{}' (the register receiving the old value)", dst_tok.text);
    cur.expect_reg(dst, &same)?;
    cur.expect_punct(")")?;
    Ok(Stmt::plain(Insn::Atomic {
        size,
        op,
        dst: base,
        src: dst,
        off,
    }))
}
