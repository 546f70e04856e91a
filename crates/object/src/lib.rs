//! BPF ELF objects as `clang -target bpf -c` produces them, read into programs ready to run.
//!
//! An object holds code in executable sections. Following libbpf's conventions, every
//! global function in an executable section other than `.text` is a program, and the
//! section's name (`SEC("xdp")`, `SEC("memory")`, ...) says what kind of program it is;
//! functions in `.text` are subprograms, linked into the programs that call them.
//!
//! ```no_run
//! let bytes = std::fs::read("prog.o").unwrap();
//! let object = bpfkit_object::Object::parse(&bytes).unwrap();
//! let program = object.program("count_mem").unwrap();
//! let insns = program.insns().unwrap(); // with its subprograms appended and calls linked
//! # let _ = insns;
//! ```
//!
//! Reading never panics on malformed input: every problem is an [`ObjectError`] naming the
//! section and byte offset concerned.

mod elf;
mod error;
mod link;

pub use error::{
    relocation_name, ObjectError, R_BPF_64_32, R_BPF_64_64, R_BPF_64_ABS32, R_BPF_64_ABS64,
    R_BPF_64_NODYLD32,
};

use bpfkit_isa::Insn;
use elf::CodeSection;
use std::ops::Range;

/// The section holding subprograms.
const TEXT: &str = ".text";

/// A parsed BPF object: its code sections and the programs in them.
#[derive(Clone, Debug)]
pub struct Object {
    sections: Vec<CodeSection>,
    programs: Vec<ProgramInfo>,
}

#[derive(Clone, Debug)]
struct ProgramInfo {
    name: String,
    /// Index into `Object::sections`.
    section: usize,
    range: Range<u64>,
}

impl Object {
    /// Reads an object: checks it is a 64-bit little-endian relocatable ELF file for BPF,
    /// and finds its programs. Every range used later (functions, relocations) is checked
    /// here; instructions are decoded when a program's [`Program::insns`] is asked for.
    pub fn parse(bytes: &[u8]) -> Result<Object, ObjectError> {
        let sections = elf::read_code_sections(bytes)?;
        let programs = find_programs(&sections);
        Ok(Object { sections, programs })
    }

    /// The programs, in section order and, within a section, in symbol table order.
    pub fn programs(&self) -> impl Iterator<Item = Program<'_>> {
        self.programs.iter().map(|info| self.handle(info))
    }

    /// The program named `name` (its function's name).
    pub fn program(&self, name: &str) -> Result<Program<'_>, ObjectError> {
        self.programs
            .iter()
            .find(|p| p.name == name)
            .map(|info| self.handle(info))
            .ok_or_else(|| ObjectError::UnknownProgram {
                name: name.to_string(),
                available: self.programs.iter().map(|p| p.name.clone()).collect(),
            })
    }

    /// The first program in section `section`.
    pub fn program_by_section(&self, section: &str) -> Result<Program<'_>, ObjectError> {
        self.programs()
            .find(|p| p.section() == section)
            .ok_or_else(|| {
                let mut available: Vec<String> =
                    self.programs().map(|p| p.section().to_string()).collect();
                available.dedup();
                ObjectError::UnknownSection {
                    section: section.to_string(),
                    available,
                }
            })
    }

    fn handle<'a>(&'a self, info: &'a ProgramInfo) -> Program<'a> {
        Program { object: self, info }
    }
}

/// Global functions outside `.text`; a code section without any is one program named by
/// the section (what older compilers emit).
fn find_programs(sections: &[CodeSection]) -> Vec<ProgramInfo> {
    let mut programs = Vec::new();
    for (index, section) in sections.iter().enumerate() {
        if section.name == TEXT {
            continue;
        }
        let before = programs.len();
        programs.extend(
            section
                .functions
                .iter()
                .filter(|f| f.global)
                .map(|f| ProgramInfo {
                    name: f.name.clone(),
                    section: index,
                    range: f.offset..f.offset + f.size,
                }),
        );
        if programs.len() == before {
            programs.push(ProgramInfo {
                name: section.name.clone(),
                section: index,
                range: 0..section.bytes.len() as u64,
            });
        }
    }
    programs
}

/// A program of an [`Object`].
#[derive(Clone, Copy, Debug)]
pub struct Program<'a> {
    object: &'a Object,
    info: &'a ProgramInfo,
}

impl<'a> Program<'a> {
    /// The program's name: its function symbol, or its section for a section without one.
    pub fn name(&self) -> &'a str {
        &self.info.name
    }

    /// The section the program is in. Its name is the program type hint, as in libbpf:
    /// `xdp`, `socket`, `tc`, `memory`, ...
    pub fn section(&self) -> &'a str {
        &self.object.sections[self.info.section].name
    }

    /// The program's byte range inside its section.
    pub fn range(&self) -> Range<u64> {
        self.info.range.clone()
    }

    /// The program's code linked for execution: its own instructions followed by every
    /// function it reaches, transitively, through BPF-to-BPF calls (clang puts them in
    /// `.text`), each appended once, in the order first called, and each call's immediate
    /// set to the relative slot offset of its target. Relocations other than calls (maps,
    /// global data) give [`ObjectError::UnsupportedRelocation`].
    pub fn insns(&self) -> Result<Vec<Insn>, ObjectError> {
        link::link(&self.object.sections, self.info.section, self.range())
    }
}
