//! Source lines: comments, and the decorations of llvm-objdump listings and kernel
//! verifier logs that surround instructions when such text is pasted in.

/// What a line holds for the assembler.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// Nothing to assemble: blank, a comment, or a listing header.
    Blank,
    /// llvm-objdump's symbol header `0000000000000000 <name>:`, which defines label `name`
    /// starting at byte `start` of the line.
    Symbol { name: &'a str, start: usize },
    /// A statement between bytes `start` and `end` of the line, with labels, comments and
    /// listing prefixes taken off.
    Code { start: usize, end: usize },
}

/// Classifies a line. Comments run from `;`, `//` or a `#` at the start of the line or
/// after a blank (the kernel log writes helpers as `call bpf_map_lookup_elem#1`) to the end.
/// A leading `12:` slot index is dropped, then the kernel log's `(bf)` opcode or
/// llvm-objdump's raw bytes `bf 30 00 00 00 00 00 00` after it.
pub(super) fn classify(line: &str) -> Line<'_> {
    let end = comment_start(line).unwrap_or(line.len());
    let text = line[..end].trim_end();
    let trimmed = text.trim_start();
    if trimmed.is_empty() || is_listing_header(trimmed) {
        return Line::Blank;
    }
    let indent = text.len() - trimmed.len();
    if let Some(name) = symbol_header(trimmed) {
        let start = indent + trimmed.find('<').map_or(0, |i| i + 1);
        return Line::Symbol { name, start };
    }
    let start = indent + listing_prefix_len(trimmed);
    // `llvm-objdump -r` prints relocations as `<offset>:  R_BPF_64_32  sym` lines.
    if text[start..].starts_with("R_BPF_") {
        return Line::Blank;
    }
    Line::Code {
        start,
        end: text.len(),
    }
}

fn comment_start(line: &str) -> Option<usize> {
    let hash = line.match_indices('#').map(|(i, _)| i).find(|&i| {
        line[..i]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace)
    });
    [line.find(';'), line.find("//"), hash]
        .into_iter()
        .flatten()
        .min()
}

/// `prog.o:\tfile format elf64-bpf` and `Disassembly of section .text:`.
fn is_listing_header(line: &str) -> bool {
    let file_format = line
        .split_once(':')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with("file format "));
    file_format || (line.starts_with("Disassembly of section ") && line.ends_with(':'))
}

/// The name in `0000000000000000 <name>:`.
fn symbol_header(line: &str) -> Option<&str> {
    let (address, rest) = line.split_once(char::is_whitespace)?;
    if !address.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let name = rest.trim_start().strip_prefix('<')?.strip_suffix(">:")?;
    (!name.is_empty()).then_some(name)
}

/// Length of the `12:\t(bf) ` or `12:\tbf 30 00 00 00 00 00 00\t` prefix of a listing line,
/// 0 if there is none. The index starts with a decimal digit (labels cannot) and is
/// hexadecimal in relocation lines.
fn listing_prefix_len(line: &str) -> usize {
    if !line.starts_with(|c: char| c.is_ascii_digit()) {
        return 0;
    }
    let digits = line
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let Some(after) = line[digits..].strip_prefix(':') else {
        return 0;
    };
    let mut rest = after.trim_start();
    let opcode = rest
        .strip_prefix('(')
        .and_then(strip_hex_byte)
        .and_then(|r| r.strip_prefix(')'));
    if let Some(r) = opcode {
        rest = r.trim_start();
    }
    while let Some(r) = strip_hex_byte(rest).filter(|r| r.starts_with(char::is_whitespace)) {
        rest = r.trim_start();
    }
    line.len() - rest.len()
}

/// `s` without its first two characters, if they are hex digits.
fn strip_hex_byte(s: &str) -> Option<&str> {
    let byte = s.get(..2)?;
    byte.bytes().all(|b| b.is_ascii_hexdigit()).then(|| &s[2..])
}
