//! The disassembler: instructions printed exactly as `llvm-objdump-19 -d` prints them.
//!
//! [`format_insn`] prints one instruction (`r0 = *(u32 *)(r1 + 0x4)`); [`disassemble`]
//! prints the body of one section the way llvm-objdump lists it, with the `<symbol>:`
//! headers, the slot-index column, jump labels (`goto +0x3 <prog+0x48>`) and optionally the
//! raw instruction bytes.
//!
//! llvm-objdump's text depends on the CPU it disassembles for ([`Dialect`]): without
//! `--mcpu`, 32-bit loads, stores and atomics are printed with 64-bit register names and
//! some 32-bit atomics are not recognised at all. Both behaviours are reproduced.

use crate::decode::{decode_at, raw_slots, DecodeError};
use crate::insn::*;
use std::fmt::Write;

pub use crate::asm::tables::{alu_operator, cond_operator};

/// Which llvm-objdump-19 CPU setting the text matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// llvm-objdump's default (`--mcpu=generic`, also v1 and v2). Loads and stores of 8 to
    /// 32 bits name the 64-bit register (`r0 = *(u8 *)(r1 + 0x0)`); of the 32-bit atomics
    /// only `lock ... +=` is recognised, and it is printed for `atomic_fetch_add` too; the
    /// other 32-bit atomics print as `<unknown>`.
    #[default]
    Generic,
    /// `--mcpu=v3` and later: 32-bit register names (`w0 = *(u8 *)(r1 + 0x0)`) and every
    /// 32-bit atomic printed in full.
    Alu32,
}

/// What llvm-objdump prints for an instruction it cannot decode.
const UNKNOWN: &str = "<unknown>";

/// The text of one instruction, as llvm-objdump-19 prints it in `dialect`, without the
/// `<symbol+offset>` label that follows a jump in a listing.
pub fn format_insn(insn: &Insn, dialect: Dialect) -> String {
    let mut s = String::new();
    write_insn(&mut s, insn, dialect);
    s
}

/// Options of a [`disassemble`] listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListingOptions {
    /// Show each instruction's bytes, like `llvm-objdump -d` without `--no-show-raw-insn`.
    pub raw_bytes: bool,
    pub dialect: Dialect,
}

/// A named position in a section: a function start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol<'a> {
    /// Slot index (8-byte units from the start of the section).
    pub slot: usize,
    pub name: &'a str,
}

/// Lists the code of section `section` as llvm-objdump-19 prints it after the
/// `Disassembly of section ...:` line: a blank line and `<address> <name>:` before each
/// symbol, then one `<index>:\t[<bytes>\t]<instruction>` line per instruction. As
/// llvm-objdump does, the section's own name stands in for a symbol at slot 0 when there
/// is none, and labels jump targets with the nearest symbol at or before them.
///
/// Branch targets are not checked (a relocatable object's calls are still unresolved);
/// instructions that do not decode are an error.
pub fn disassemble(
    code: &[u8],
    section: &str,
    symbols: &[Symbol<'_>],
    options: ListingOptions,
) -> Result<String, DecodeError> {
    let slots = raw_slots(code)?;
    let symbols = label_symbols(section, symbols);
    let mut out = String::new();
    let mut next_symbol = 0;
    let mut pc = 0;
    while pc < slots.len() {
        let insn = decode_at(&slots, pc).map_err(|kind| DecodeError { index: pc, kind })?;
        while let Some(sym) = symbols.get(next_symbol).filter(|s| s.slot <= pc) {
            let _ = writeln!(out, "\n{:016x} <{}>:", byte_address(sym.slot), sym.name);
            next_symbol += 1;
        }
        let _ = write!(out, "{pc:>8}:\t");
        if options.raw_bytes {
            let bytes = &code[pc * RawInsn::SIZE..(pc + insn.slots()) * RawInsn::SIZE];
            for (i, b) in bytes.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                let _ = write!(out, "{sep}{b:02x}");
            }
            out.push('\t');
        }
        write_insn(&mut out, &insn, options.dialect);
        if let Some(target) = jump_target(&insn, pc) {
            write_label(&mut out, &symbols, target);
        }
        out.push('\n');
        pc += insn.slots();
    }
    Ok(out)
}

fn byte_address(slot: usize) -> u64 {
    slot as u64 * RawInsn::SIZE as u64
}

/// The symbols sorted by position, with the section name at slot 0 if no symbol is there.
fn label_symbols<'a>(section: &'a str, symbols: &[Symbol<'a>]) -> Vec<Symbol<'a>> {
    let mut sorted = symbols.to_vec();
    sorted.sort_by_key(|s| s.slot);
    if sorted.first().map(|s| s.slot) != Some(0) {
        sorted.insert(
            0,
            Symbol {
                slot: 0,
                name: section,
            },
        );
    }
    sorted
}

/// The byte address a jump at slot `pc` goes to. llvm computes it in 64-bit wrapping
/// arithmetic, so a jump before the section start gets a huge address.
fn jump_target(insn: &Insn, pc: usize) -> Option<u64> {
    let off = match *insn {
        Insn::Ja { off } | Insn::Jmp { off, .. } => off as i64,
        Insn::JaLong { imm } => imm as i64,
        _ => return None,
    };
    let slot = (pc as u64).wrapping_add(1).wrapping_add(off as u64);
    Some(slot.wrapping_mul(RawInsn::SIZE as u64))
}

/// Appends ` <name+0xoff>` (or ` <name>` at offset 0) for the last symbol at or before
/// `target`.
fn write_label(out: &mut String, symbols: &[Symbol<'_>], target: u64) {
    let Some(sym) = symbols
        .iter()
        .rev()
        .find(|s| byte_address(s.slot) <= target)
    else {
        return;
    };
    let off = target - byte_address(sym.slot);
    if off == 0 {
        let _ = write!(out, " <{}>", sym.name);
    } else {
        let _ = write!(out, " <{}+{off:#x}>", sym.name);
    }
}

/// A signed value in llvm's hex style: `0x5`, `-0x5`, `-0x8000000000000000`.
struct Hex(i64);

impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 < 0 {
            write!(f, "-{:#x}", self.0.unsigned_abs())
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

/// A jump offset: like [`Hex`] but always signed, `+0x0`.
struct Offset(i64);

impl std::fmt::Display for Offset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 >= 0 {
            f.write_str("+")?;
        }
        Hex(self.0).fmt(f)
    }
}

/// A register named for an operation of `width`: `r1` or `w1`.
struct WReg(Reg, Width);

impl std::fmt::Display for WReg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Width::W64 => write!(f, "r{}", self.0.num()),
            Width::W32 => write!(f, "w{}", self.0.num()),
        }
    }
}

/// A memory operand `*(u32 *)(r1 + 0x4)`; `s` instead of `u` for sign-extending loads.
struct Mem {
    size: Size,
    signed: bool,
    base: Reg,
    off: i16,
}

impl std::fmt::Display for Mem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.signed { 's' } else { 'u' };
        write!(
            f,
            "*({sign}{} *)({})",
            self.size.bytes() * 8,
            Addr(self.base, self.off)
        )
    }
}

/// An address `r1 + 0x4` / `r10 - 0x8`.
struct Addr(Reg, i16);

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (sign, magnitude) = if self.1 < 0 {
            ('-', -(self.1 as i32))
        } else {
            ('+', self.1 as i32)
        };
        write!(f, "{} {sign} {magnitude:#x}", self.0)
    }
}

/// The register width llvm names for the value operand of a load, store or atomic of
/// `size`: 32-bit names for sizes below 64 bits, in the [`Dialect::Alu32`] dialect only.
fn value_width(size: Size, dialect: Dialect) -> Width {
    match (size, dialect) {
        (Size::DW, _) | (_, Dialect::Generic) => Width::W64,
        (_, Dialect::Alu32) => Width::W32,
    }
}

fn operand(src: Operand, width: Width) -> String {
    match src {
        Operand::Reg(r) => WReg(r, width).to_string(),
        Operand::Imm(imm) => Hex(imm as i64).to_string(),
    }
}

fn write_insn(out: &mut String, insn: &Insn, dialect: Dialect) {
    // Writing to a String cannot fail.
    let _ = match *insn {
        Insn::Alu {
            width,
            op: AluOp::Movsx(bits),
            dst,
            src,
        } => write!(
            out,
            "{} = (s{}){}",
            WReg(dst, width),
            bits.bits(),
            operand(src, width)
        ),
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => write!(
            out,
            "{} {} {}",
            WReg(dst, width),
            alu_operator(op),
            operand(src, width)
        ),
        Insn::Neg { width, dst } => write!(out, "{0} = -{0}", WReg(dst, width)),
        Insn::End { kind, bits, dst } => {
            let name = match kind {
                Endian::ToLe => "le",
                Endian::ToBe => "be",
                Endian::Swap => "bswap",
            };
            write!(out, "{dst} = {name}{} {dst}", bits.bits())
        }
        Insn::Ja { off } => write!(out, "goto {}", Offset(off as i64)),
        Insn::JaLong { imm } => write!(out, "gotol {}", Offset(imm as i64)),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => write!(
            out,
            "if {} {} {} goto {}",
            WReg(dst, width),
            cond_operator(cond),
            operand(src, width),
            Offset(off as i64)
        ),
        // llvm prints helper, local and kfunc calls alike, by their immediate.
        Insn::Call { imm } | Insn::CallLocal { imm } | Insn::CallKfunc { imm, .. } => {
            write!(out, "call {}", Hex(imm as i64))
        }
        Insn::Callx { dst } => write!(out, "callx {dst}"),
        Insn::Exit => write!(out, "exit"),
        Insn::Lddw {
            dst,
            kind: LddwKind::Imm64,
            imm,
            next_imm,
        } => write!(out, "{dst} = {} ll", Hex(Insn::imm64(imm, next_imm) as i64)),
        // llvm has no syntax for the pseudo forms: it shows src_reg and the first
        // immediate only.
        Insn::Lddw { dst, kind, imm, .. } => write!(
            out,
            "ld_pseudo\t{dst}, {:#x}, {:#x}",
            kind.src(),
            imm as u32
        ),
        Insn::LdAbs { size, imm } => {
            write!(
                out,
                "r0 = *(u{} *)skb[{}]",
                size.bytes() * 8,
                Hex(imm as i64)
            )
        }
        // llvm prints the register only, leaving out the immediate added to it.
        Insn::LdInd { size, src, .. } => write!(out, "r0 = *(u{} *)skb[{src}]", size.bytes() * 8),
        Insn::Ldx {
            size,
            sx,
            dst,
            src,
            off,
        } => {
            // Sign-extending loads always fill the 64-bit register.
            let width = if sx {
                Width::W64
            } else {
                value_width(size, dialect)
            };
            let mem = Mem {
                size,
                signed: sx,
                base: src,
                off,
            };
            write!(out, "{} = {mem}", WReg(dst, width))
        }
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => {
            let mem = Mem {
                size,
                signed: false,
                base: dst,
                off,
            };
            write!(out, "{mem} = {}", Hex(imm as i64))
        }
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => {
            let mem = Mem {
                size,
                signed: false,
                base: dst,
                off,
            };
            write!(out, "{mem} = {}", WReg(src, value_width(size, dialect)))
        }
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            write_atomic(out, size, op, dst, src, off, dialect);
            Ok(())
        }
    };
}

fn write_atomic(
    out: &mut String,
    size: Size,
    op: AtomicOp,
    dst: Reg,
    src: Reg,
    off: i16,
    dialect: Dialect,
) {
    let value = WReg(src, value_width(size, dialect));
    let addr = Addr(dst, off);
    let mem = Mem {
        size,
        signed: false,
        base: dst,
        off,
    };
    if size != Size::DW && dialect == Dialect::Generic {
        // Generic llvm knows a single 32-bit atomic, add, recognised by its opcode alone:
        // the fetch flag is not looked at.
        let _ = match op {
            AtomicOp::Add { .. } => write!(out, "lock {mem} += {value}"),
            _ => write!(out, "{UNKNOWN}"),
        };
        return;
    }
    // `xchg_64` / `xchg32_32`, `cmpxchg_64` / `cmpxchg32_32`.
    let suffix = if size == Size::DW { "_64" } else { "32_32" };
    let (symbol, name, fetch) = match op {
        AtomicOp::Add { fetch } => ("+=", "add", fetch),
        AtomicOp::Or { fetch } => ("|=", "or", fetch),
        AtomicOp::And { fetch } => ("&=", "and", fetch),
        AtomicOp::Xor { fetch } => ("^=", "xor", fetch),
        AtomicOp::Xchg => {
            let _ = write!(out, "{value} = xchg{suffix}({addr}, {value})");
            return;
        }
        AtomicOp::Cmpxchg => {
            let r0 = WReg(Reg::R0, value.1);
            let _ = write!(out, "{r0} = cmpxchg{suffix}({addr}, {r0}, {value})");
            return;
        }
    };
    let _ = if fetch {
        let bits = size.bytes() * 8;
        write!(
            out,
            "{value} = atomic_fetch_{name}((u{bits} *)({addr}), {value})"
        )
    } else {
        write!(out, "lock {mem} {symbol} {value}")
    };
}
