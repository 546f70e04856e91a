//! Listing of the generated code: each BPF instruction followed by its host instructions.

use bpfkit_isa::{disasm::format_insn, with_pcs, Dialect, Insn};
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use std::fmt::Write;

pub(crate) fn listing(
    code: &[u8],
    base: u64,
    insns: &[Insn],
    starts: &[u32],
    stubs_at: usize,
) -> String {
    let mut out = String::new();
    let mut formatter = IntelFormatter::new();
    let mut text = String::new();
    let mut section = |out: &mut String, title: &str, from: usize, to: usize| {
        let _ = writeln!(out, "; {title}");
        let mut decoder = Decoder::with_ip(
            64,
            &code[from..to],
            base + from as u64,
            DecoderOptions::NONE,
        );
        for ins in &mut decoder {
            text.clear();
            formatter.format(&ins, &mut text);
            let _ = writeln!(out, "  {:6x}:  {text}", ins.ip() - base);
        }
    };
    section(&mut out, "prologue and shared exits", 0, starts[0] as usize);
    let mut ends = starts[1..].iter();
    for (pc, insn) in with_pcs(insns) {
        let from = starts[pc] as usize;
        let to = starts[pc + insn.slots()] as usize;
        let title = format!("{pc}: {}", format_insn(insn, Dialect::Generic));
        section(&mut out, &title, from, to);
        ends.next();
    }
    let end = starts[starts.len() - 1] as usize;
    section(&mut out, "falling off the end", end, stubs_at);
    section(&mut out, "fault stubs", stubs_at, code.len());
    out
}
