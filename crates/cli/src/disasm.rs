//! `bpfkit disasm`: bytecode to a listing in llvm-objdump-19's syntax.

use crate::error::{CliError, CliResult};
use crate::input::{self, Format, Input, LoadOptions, Selector};
use crate::output;
use bpfkit_isa::{disassemble, encode_program, Dialect, ListingOptions, Symbol};
use bpfkit_jit::JitProgram;
use bpfkit_object::LineInfo;
use clap::Args;
use object::{Object as _, ObjectSection, ObjectSymbol, SectionFlags, SymbolKind};
use serde::Serialize;

/// The section name listings of code outside an ELF object are labelled with.
const ANONYMOUS_SECTION: &str = "prog";

/// Arguments of `bpfkit disasm`.
#[derive(Debug, Args)]
#[command(after_help = "\
For an ELF object the listing is what `llvm-objdump-19 -d --no-show-raw-insn` prints \
(`llvm-objdump-19 -d` with --raw): every executable section, or the one --section names, or \
only the function --program names. With -S, source lines from the object's BTF line info \
(clang -g) are interleaved as `; <line>` comments, like `llvm-objdump -S`. Raw, hex and \
assembly inputs are listed as one block labelled <prog>.")]
pub struct DisasmArgs {
    /// The code: a BPF ELF object, raw or hex bytecode, or assembly text; `-` for standard
    /// input.
    file: String,
    /// How FILE is encoded.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    #[command(flatten)]
    selector: Selector,
    /// Show each instruction's bytes, as `llvm-objdump -d` does.
    #[arg(long)]
    raw: bool,
    /// For an ELF object built with -g: interleave the source lines recorded in its BTF
    /// line info.
    #[arg(short = 'S', long)]
    source: bool,
    /// Print `{"file": ..., "sections": [{"name": ..., "lines": [...]}]}` on one line.
    #[arg(long)]
    json: bool,
    /// Compile the program (the one --program or --section names, or the first) with the
    /// x86-64 JIT and list the native code under each BPF instruction it came from.
    #[arg(long, conflicts_with_all = ["raw", "source", "json"])]
    jited: bool,
}

/// The listing of one section.
#[derive(Serialize)]
struct SectionListing {
    name: String,
    /// Lines after the `Disassembly of section` line, without line ends.
    lines: Vec<String>,
}

/// The JSON output of `bpfkit disasm`.
#[derive(Serialize)]
struct DisasmJson {
    file: String,
    sections: Vec<SectionListing>,
}

/// Runs `bpfkit disasm`.
pub fn run(args: &DisasmArgs) -> CliResult {
    let input = Input::read(&args.file)?;
    if args.jited {
        return jited(&input, args);
    }
    let options = ListingOptions {
        raw_bytes: args.raw,
        dialect: Dialect::Generic,
    };
    let format = args.format.resolve(&input.bytes);
    let sections = if format == Format::Elf {
        elf_listings(&input, &args.selector, options, args.source)?
    } else {
        // Only an ELF object has programs to select; `load_program` reports that.
        let code = encode_program(
            &input::load_program(&input, format, &args.selector, &LoadOptions::default())?.insns,
        );
        vec![listing(&input, &code, ANONYMOUS_SECTION, &[], options)?]
    };
    if args.json {
        return output::json(&DisasmJson {
            file: input.name,
            sections,
        });
    }
    let mut text = String::new();
    if format == Format::Elf {
        text.push_str(&format!("\n{}:\tfile format elf64-bpf\n", input.name));
    }
    for section in &sections {
        if format == Format::Elf {
            text.push_str(&format!("\nDisassembly of section {}:\n", section.name));
        }
        for line in &section.lines {
            text.push_str(line);
            text.push('\n');
        }
    }
    output::stdout(text.as_bytes())
}

/// The listing of `code` as section `name` with function `symbols`.
fn listing(
    input: &Input,
    code: &[u8],
    name: &str,
    symbols: &[Symbol<'_>],
    options: ListingOptions,
) -> CliResult<SectionListing> {
    let text = disassemble(code, name, symbols, options).map_err(|e| {
        CliError::input(format!(
            "cannot disassemble section {name} of {}: {e}",
            input.name
        ))
    })?;
    Ok(SectionListing {
        name: name.to_string(),
        lines: text.lines().map(str::to_string).collect(),
    })
}

/// The listings of an object's executable sections, narrowed to the section and the
/// function `selector` names.
fn elf_listings(
    input: &Input,
    selector: &Selector,
    options: ListingOptions,
    source: bool,
) -> CliResult<Vec<SectionListing>> {
    // Checks the object the way the loader does, with the same errors.
    let parsed = input.object()?;
    let file = object::File::parse(&*input.bytes).map_err(|e| {
        CliError::input(format!("cannot read {} as an ELF object: {e}", input.name))
    })?;
    let mut listings = Vec::new();
    let mut functions = Vec::new();
    let mut sections = Vec::new();
    for section in file.sections() {
        let executable = matches!(section.flags(),
            SectionFlags::Elf { sh_flags } if sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0);
        let name = section.name().unwrap_or_default();
        if !executable || section.size() == 0 {
            continue;
        }
        sections.push(name);
        if selector.section.as_deref().is_some_and(|s| s != name) {
            continue;
        }
        let code = section.data().map_err(|e| {
            CliError::input(format!("cannot read section {name} of {}: {e}", input.name))
        })?;
        let names: Vec<(usize, &str)> = file
            .symbols()
            .filter(|s| s.section_index() == Some(section.index()))
            .filter(|s| !matches!(s.kind(), SymbolKind::Section | SymbolKind::File))
            .filter_map(|s| Some((s.address() as usize / 8, s.name().ok()?)))
            .filter(|(_, n)| !n.is_empty())
            .collect();
        functions.extend(names.iter().map(|&(_, n)| n));
        let symbols: Vec<Symbol<'_>> = names
            .iter()
            .map(|&(slot, name)| Symbol { slot, name })
            .collect();
        let mut listing = listing(input, code, name, &symbols, options)?;
        if source {
            listing.lines = with_source(&listing.lines, parsed.line_info(name));
        }
        if let Some(function) = &selector.program {
            listing.lines = function_lines(&listing.lines, function);
            if listing.lines.is_empty() {
                continue;
            }
        }
        listings.push(listing);
    }
    if let Some(section) = selector
        .section
        .as_deref()
        .filter(|s| !sections.contains(s))
    {
        return Err(CliError::input(format!(
            "{}: no executable section named `{section}`; the object has: {}",
            input.name,
            sections.join(", ")
        )));
    }
    if let Some(function) = selector.program.as_deref().filter(|_| listings.is_empty()) {
        return Err(CliError::input(format!(
            "{}: no function named `{function}`{}; it has: {}",
            input.name,
            selector
                .section
                .as_deref()
                .map_or(String::new(), |s| format!(" in section {s}")),
            functions.join(", ")
        )));
    }
    Ok(listings)
}

/// The lines of a section listing that belong to `function`: its blank line, its
/// `<address> <function>:` header and its instructions, as `llvm-objdump
/// --disassemble-symbols` prints them.
fn function_lines(lines: &[String], function: &str) -> Vec<String> {
    let header = format!(" <{function}>:");
    let Some(start) = lines.iter().position(|l| l.ends_with(&header)) else {
        return Vec::new();
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.is_empty())
        .map_or(lines.len(), |i| start + 1 + i);
    lines[start.saturating_sub(1)..end].to_vec()
}

/// The listing `lines` with `; <source line>` before each instruction where the line info
/// starts a new source line (a record whose line differs from the previous record's).
fn with_source(lines: &[String], info: &[LineInfo]) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len() + info.len());
    let mut last: Option<(&str, u32)> = None;
    for line in lines {
        // Instruction lines start with the right-aligned slot number and a colon.
        let slot = line
            .starts_with(' ')
            .then(|| line.trim_start().split_once(':'))
            .flatten()
            .and_then(|(slot, _)| slot.parse::<u64>().ok());
        if let Some(record) = slot.and_then(|s| info.iter().find(|l| l.offset == s * 8)) {
            let position = (record.file.as_str(), record.line);
            if last != Some(position) && !record.source.is_empty() {
                out.push(format!("; {}", record.source));
            }
            last = Some(position);
        }
        out.push(line.clone());
    }
    out
}

/// `--jited`: the program compiled by the JIT, listed under its BPF instructions.
fn jited(input: &Input, args: &DisasmArgs) -> CliResult {
    let loaded = input::load_program(input, args.format, &args.selector, &LoadOptions::default())?;
    let runnable = loaded.runnable()?;
    let jit = JitProgram::new(&runnable.insns, &runnable.helpers)
        .map_err(|e| CliError::failed(format!("{} cannot be compiled: {e}", runnable.origin)))?;
    output::stdout(jit.disasm_jited().as_bytes())
}
