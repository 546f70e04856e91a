//! Operands spelled the same way in both syntaxes: call targets and the pseudo forms of
//! 64-bit immediate loads.

use super::cursor::Cursor;
use super::error::AsmError;
use super::labels::Stmt;
use crate::insn::{Insn, LddwKind, Reg};

/// The operand of `call` (the mnemonic already read):
/// - `N`: helper number `N`; also the kernel log's `bpf_map_lookup_elem#1`;
/// - `name`, `local name`, `local +N`, `pc+N` (kernel log): a local function;
/// - `kfunc N` or `kfunc N, M`: kernel function with BTF id `N` from module BTF `M`.
pub(super) fn call(cur: &mut Cursor) -> Result<Stmt, AsmError> {
    if cur.at_int() {
        return Ok(Stmt::plain(Insn::Call { imm: cur.imm32()? }));
    }
    if cur.eat_ident("kfunc") {
        let imm = cur.imm32()?;
        let off = if cur.eat_punct(",") { cur.off16()? } else { 0 };
        return Ok(Stmt::plain(Insn::CallKfunc { imm, off }));
    }
    if cur.peek_ident().is_some() && cur.peek_nth(1).is_some_and(|t| t.text == "#") {
        cur.bump();
        cur.bump();
        return Ok(Stmt::plain(Insn::Call { imm: cur.imm32()? }));
    }
    cur.eat_ident("local");
    let target = cur.target(32)?;
    Ok(Stmt::branch(target, |imm| Insn::CallLocal {
        imm: imm as i32,
    }))
}

/// The value of a 64-bit immediate load into `dst`: a number, or a pseudo form naming
/// what the loader or kernel substitutes:
///
/// | text                                          | kind          | imm | next imm |
/// |-----------------------------------------------|---------------|-----|----------|
/// | `0x1234`                                      | `Imm64`       | low | high     |
/// | `map[fd:N]` (also bpftool's `map[id:N]`)      | `MapFd`       | N   | 0        |
/// | `map[fd:N]+M` (also `map[id:N][0]+M`)         | `MapValue`    | N   | M        |
/// | `btf_id[N]`                                   | `BtfId`       | N   | 0        |
/// | `subprog[+N]`, `subprog[name]`                | `Func`        | N   | 0        |
/// | `map[idx:N]`                                  | `MapIdx`      | N   | 0        |
/// | `map[idx:N]+M`                                | `MapIdxValue` | N   | M        |
pub(super) fn lddw_value(cur: &mut Cursor, dst: Reg) -> Result<Stmt, AsmError> {
    let pseudo = |kind, imm, next_imm| Insn::Lddw {
        dst,
        kind,
        imm,
        next_imm,
    };
    if cur.at_int() {
        return Ok(Stmt::plain(Insn::lddw(dst, cur.imm64()?)));
    }
    if cur.eat_ident("btf_id") {
        cur.expect_punct("[")?;
        let id = cur.imm32()?;
        cur.expect_punct("]")?;
        return Ok(Stmt::plain(pseudo(LddwKind::BtfId, id, 0)));
    }
    if cur.eat_ident("subprog") {
        cur.expect_punct("[")?;
        let target = cur.target(32)?;
        cur.expect_punct("]")?;
        return Ok(Stmt::branch(target, |imm| {
            pseudo(LddwKind::Func, imm as i32, 0)
        }));
    }
    if !cur.eat_ident("map") {
        return Err(cur.expected("a number, 'map[...]', 'btf_id[...]' or 'subprog[...]'"));
    }
    cur.expect_punct("[")?;
    let by_index = match cur.peek_ident() {
        Some("fd" | "id") => false,
        Some("idx") => true,
        _ => return Err(cur.expected("'fd', 'id' or 'idx'")),
    };
    cur.bump();
    cur.expect_punct(":")?;
    let map = cur.imm32()?;
    cur.expect_punct("]")?;
    // bpftool writes a map value address as `map[id:N][0]+M`.
    if cur.eat_punct("[") {
        cur.int_in("map element index", 0, 0)?;
        cur.expect_punct("]")?;
        if !cur.is_punct("+") {
            return Err(cur.expected("'+'"));
        }
    }
    let value_off = if cur.eat_punct("+") {
        Some(cur.imm32()?)
    } else {
        None
    };
    let kind = match (by_index, value_off.is_some()) {
        (false, false) => LddwKind::MapFd,
        (false, true) => LddwKind::MapValue,
        (true, false) => LddwKind::MapIdx,
        (true, true) => LddwKind::MapIdxValue,
    };
    Ok(Stmt::plain(pseudo(kind, map, value_off.unwrap_or(0))))
}
