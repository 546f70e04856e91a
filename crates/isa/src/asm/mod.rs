//! The assembler: text to [`Insn`]s, in either of the two syntaxes in use, chosen line by
//! line.
//!
//! ```
//! use bpfkit_isa::{assemble, Insn, Reg};
//! let prog = assemble("r0 = 0\n  jeq r1, 0, out\n  mov r0, 1\nout:\n  exit").unwrap();
//! assert_eq!(prog.len(), 4);
//! assert_eq!(prog[3], Insn::Exit);
//! ```
//!
//! # Lines
//!
//! A line holds any number of `name:` labels, then at most one instruction. Comments start
//! with `;`, `//`, or `#` at the start of a line or after a blank. Labels name the slot of
//! the next instruction; a branch to a label gets `target - pc - 1` (an `lddw` takes two
//! slots). `pc` is not a label name: `pc+3` is the kernel log's relative target.
//!
//! Text from `llvm-objdump -d` and from the kernel verifier log assembles as printed: the
//! `file format` and `Disassembly of section` headers are skipped, `0000000000000000
//! <name>:` defines label `name`, a leading `12:` slot index is dropped with the raw bytes
//! (`bf 30 00 00 00 00 00 00`) or kernel opcode (`(bf)`) after it, relocation lines
//! (`R_BPF_...`) are skipped, and so is the `<func+0x18>` after a jump target.
//!
//! # Syntax 1: llvm / kernel log
//!
//! A line is in this syntax when it starts with `if`, `goto`, `gotol`, `lock`,
//! `ld_pseudo` or `*`, or its second token is `=` or a compound assignment. Registers are
//! `r0`..`r10`, or `w0`..`w10` for 32-bit operations.
//!
//! | form                                              | instruction                |
//! |---------------------------------------------------|----------------------------|
//! | `r0 += r1`, `w0 s/= 3` (ops below)                | ALU / ALU64                |
//! | `r0 = r1`, `w0 = 5`                               | mov                        |
//! | `r0 = (s8)r1`, `w0 = (s16)w1`                     | movsx                      |
//! | `r0 = -r0`                                        | neg                        |
//! | `r1 = be16 r1`, `r1 = le64 r1`, `r1 = bswap32 r1` | byte swaps                 |
//! | `r0 = *(u32 *)(r1 + 0x4)`, `w0 = *(u8 *)(r1 + 0)` | ldx                        |
//! | `r0 = *(s8 *)(r1 + 2)` (`s8`, `s16`, `s32`)       | ldsx                       |
//! | `*(u64 *)(r10 - 8) = r1`                          | stx                        |
//! | `*(u32 *)(r10 - 4) = 7`                           | st                         |
//! | `if r3 > r2 goto +0xb`, `if w3 s< 5 goto label`   | conditional jumps          |
//! | `goto +3`, `goto label`, `gotol +5`               | ja, ja32                   |
//! | `call 1`                                          | helper call                |
//! | `call name`, `call pc+3`, `call local +3`          | local call                 |
//! | `call kfunc 42`, `call kfunc 42, 1`               | kfunc call (BTF id, module) |
//! | `callx r1`, `exit`                                | indirect call, exit        |
//! | `r1 = 12345678901 ll`                             | lddw                       |
//! | `r1 = map[fd:3]` and more (see below)             | lddw pseudo forms          |
//! | `ld_pseudo r1, 2, 0x5`                            | lddw with src_reg 2        |
//! | `r0 = *(u8 *)skb[3]`                              | ld_abs                     |
//! | `r0 = *(u16 *)skb[r3 + 4]`, `skb[r3]`             | ld_ind                     |
//! | `lock *(u64 *)(r1 + 8) += r2` (`+= \|= &= ^=`)    | atomic                     |
//! | `r0 = atomic_fetch_add((u64 *)(r1 + 8), r0)`      | atomic with fetch          |
//! | `r2 = xchg_64(r1 + 8, r2)`, `w2 = xchg32_32(...)` | atomic exchange            |
//! | `r0 = cmpxchg_64(r1 + 8, r0, r2)`, `cmpxchg32_32` | atomic compare-exchange    |
//!
//! ALU operators: `+= -= *= /= s/= %= s%= |= &= ^= <<= >>= s>>=`. Jump conditions:
//! `== != > >= < <= s> s>= s< s<= &`. The kernel log's atomic spellings
//! `atomic64_fetch_add((u64 *)(r1 +8), r0)`, `atomic64_xchg(...)`, `atomic64_cmpxchg(...)`
//! and its helper calls `call bpf_map_lookup_elem#1` are accepted too. A move of a value
//! beyond 32 bits needs `ll`.
//!
//! # Syntax 2: mnemonics (uBPF, rbpf)
//!
//! `mnemonic operands`, operands separated by commas; registers with or without `%`;
//! memory operands `[r1+4]`, `[r10-8]`, `[r1]`. A width suffix `32` selects the 32-bit
//! ALU or jump class (or a 32-bit atomic); no suffix or `64` the 64-bit one.
//!
//! | mnemonics                                                   | operands            |
//! |-------------------------------------------------------------|---------------------|
//! | `add sub mul div sdiv mod smod or and xor lsh rsh arsh mov` (+`32`/`64`) | `dst, src\|imm` |
//! | `movsx8 movsx16 movsx32` (64-bit), `movsx8_32 movsx16_32`   | `dst, src`          |
//! | `neg neg32`                                                 | `dst`               |
//! | `le16 le32 le64 be16 be32 be64 bswap16 bswap32 bswap64`     | `dst`               |
//! | `jeq jne jgt jge jlt jle jsgt jsge jslt jsle jset` (+`32`)  | `dst, src\|imm, target` |
//! | `ja` / `ja32` (`gotol`)                                     | `target`            |
//! | `call`                                                      | `imm`, `local target`, `name`, `kfunc id[, module]` |
//! | `callx`                                                     | `reg`               |
//! | `exit`                                                      |                     |
//! | `lddw`                                                      | `dst, imm64` or a pseudo form |
//! | `ldxb ldxh ldxw ldxdw`, sign-extending `ldxsb ldxsh ldxsw`  | `dst, [src+off]`    |
//! | `stb sth stw stdw`                                          | `[dst+off], imm`    |
//! | `stxb stxh stxw stxdw`                                      | `[dst+off], src`    |
//! | `ldabsb ldabsh ldabsw`                                      | `imm`               |
//! | `ldindb ldindh ldindw`                                      | `src, imm`          |
//! | `xaddw xadddw`, `atomic_add atomic_or atomic_and atomic_xor` (+`32`/`64`) | `[dst+off], src` |
//! | `atomic_fetch_add` ... `atomic_fetch_xor`, `xchg`, `cmpxchg` (+`32`/`64`) | `[dst+off], src` |
//!
//! A target is a signed slot offset (`+3`, `-2`) or a label. `cmpxchg` compares with `r0`
//! implicitly.
//!
//! # 64-bit immediate loads
//!
//! In both syntaxes the value of an `lddw` may be a pseudo form (llvm syntax:
//! `r1 = map[fd:3]`; mnemonic: `lddw r1, map[fd:3]`):
//!
//! | text                                     | `LddwKind`    | imm | next imm |
//! |------------------------------------------|---------------|-----|----------|
//! | `map[fd:N]`, bpftool's `map[id:N]`       | `MapFd`       | N   | 0        |
//! | `map[fd:N]+M`, bpftool's `map[id:N][0]+M` | `MapValue`   | N   | M        |
//! | `btf_id[N]`                              | `BtfId`       | N   | 0        |
//! | `subprog[+N]`, `subprog[name]`           | `Func`        | N   | 0        |
//! | `map[idx:N]`                             | `MapIdx`      | N   | 0        |
//! | `map[idx:N]+M`                           | `MapIdxValue` | N   | M        |
//!
//! Numbers are decimal or `0x` hex, with an optional sign. A 32-bit immediate takes any
//! value of `i32` or `u32` (`0xffffffff` is `-1`); offsets are 16-bit signed.

mod common;
mod cursor;
mod error;
mod labels;
mod lexer;
mod llvm;
mod mnemonic;
mod source;
pub(crate) mod tables;

pub use error::{AsmError, AsmErrorKind};

use crate::insn::Insn;
use cursor::Cursor;
use error::Pos;
use labels::Program;
use lexer::TokKind;
use source::Line;

/// Assembles `text` into instructions, resolving labels.
pub fn assemble(text: &str) -> Result<Vec<Insn>, AsmError> {
    let mut program = Program::default();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let pos_at = |byte: usize| Pos {
            line: line_no,
            column: line[..byte].chars().count() + 1,
        };
        match source::classify(line) {
            Line::Blank => {}
            Line::Symbol { name, start } => program.define(name, pos_at(start))?,
            Line::Code { start, end } => {
                let tokens = lexer::tokenize(&line[..end], start, line_no)?;
                statement(&mut program, Cursor::new(&tokens, pos_at(end)))?;
            }
        }
    }
    program.finish()
}

/// Adds the labels and the instruction of one line to `program`.
fn statement(program: &mut Program, mut cur: Cursor) -> Result<(), AsmError> {
    while let (Some(label), Some(colon)) = (cur.peek().copied(), cur.peek_nth(1)) {
        match label.kind {
            TokKind::Ident(name) if colon.text == ":" => program.define(name, label.pos)?,
            _ => break,
        }
        cur.bump();
        cur.bump();
    }
    if cur.at_end() {
        return Ok(());
    }
    let stmt = if llvm::is_llvm(&cur) {
        llvm::parse(&mut cur)?
    } else {
        mnemonic::parse(&mut cur)?
    };
    cur.expect_end()?;
    program.push(stmt);
    Ok(())
}
