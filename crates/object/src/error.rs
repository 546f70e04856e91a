//! Everything that can be wrong with an object, each error saying what and where.

use bpfkit_isa::DecodeError;
use thiserror::Error;

/// `R_BPF_64_64`: the 64-bit immediate of an `lddw` (a map, global data or a function address).
pub const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_ABS64`: a 64-bit absolute address in data (BTF, DWARF).
pub const R_BPF_64_ABS64: u32 = 2;
/// `R_BPF_64_ABS32`: a 32-bit absolute address in data (BTF, DWARF).
pub const R_BPF_64_ABS32: u32 = 3;
/// `R_BPF_64_NODYLD32`: a 32-bit value in `.BTF.ext`.
pub const R_BPF_64_NODYLD32: u32 = 4;
/// `R_BPF_64_32`: the immediate of a BPF-to-BPF call (`call` with `src_reg = BPF_PSEUDO_CALL`).
pub const R_BPF_64_32: u32 = 10;

/// The ELF name of a BPF relocation type.
pub fn relocation_name(kind: u32) -> &'static str {
    match kind {
        R_BPF_64_64 => "R_BPF_64_64",
        R_BPF_64_ABS64 => "R_BPF_64_ABS64",
        R_BPF_64_ABS32 => "R_BPF_64_ABS32",
        R_BPF_64_NODYLD32 => "R_BPF_64_NODYLD32",
        R_BPF_64_32 => "R_BPF_64_32",
        _ => "an unknown relocation type",
    }
}

/// Why an object could not be read, or a program in it not linked.
///
/// Locations are given as `section+offset`, the offset in bytes from the section start,
/// as `llvm-objdump -dr` prints them.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ObjectError {
    /// Too short for an ELF header, or the magic number is wrong.
    #[error("not an ELF file: {reason}")]
    NotElf { reason: &'static str },
    /// `EI_CLASS` is not `ELFCLASS64`.
    #[error("ELF class is {found} ({}), but BPF objects are 64-bit (ELFCLASS64 = 2)", class_name(*found))]
    WrongClass { found: u8 },
    /// `EI_DATA` is not `ELFDATA2LSB`.
    #[error("ELF data encoding is {found} ({}), but bpfkit reads little-endian BPF objects (ELFDATA2LSB = 1)", endian_name(*found))]
    WrongEndianness { found: u8 },
    /// `e_machine` is not `EM_BPF`.
    #[error("ELF machine is {found}, not BPF (EM_BPF = 247)")]
    WrongMachine { found: u16 },
    /// `e_type` is not `ET_REL`.
    #[error("ELF type is {found}, not a relocatable object (ET_REL = 1) as clang -c produces")]
    NotRelocatable { found: u16 },
    /// A table or a section's contents lie outside the file or are otherwise unreadable.
    #[error("malformed ELF: {what}: {reason}")]
    Malformed { what: String, reason: String },
    /// A section index (of a symbol, or a relocation section's target) does not exist.
    #[error("{what} refers to section index {index}, but the object has {count} sections")]
    SectionIndexOutOfRange {
        what: String,
        index: u32,
        count: usize,
    },
    /// An executable section's size is not a whole number of instructions.
    #[error("executable section {section} is {size} bytes long, not a multiple of 8 (the instruction size)")]
    SectionSize { section: String, size: u64 },
    /// A function symbol's range does not fit in its section.
    #[error("function {symbol} at {section}+{value:#x} of size {size:#x} lies outside the section ({section_size:#x} bytes)")]
    SymbolOutOfSection {
        symbol: String,
        section: String,
        value: u64,
        size: u64,
        section_size: u64,
    },
    /// A function symbol's start or size is not a whole number of instructions.
    #[error("function {symbol} at {section}+{value:#x} of size {size:#x} is not aligned to 8-byte instructions")]
    SymbolMisaligned {
        symbol: String,
        section: String,
        value: u64,
        size: u64,
    },
    /// A relocation's offset is past the end of the section it applies to.
    #[error("relocation at {section}+{offset:#x} is outside the section ({size:#x} bytes)")]
    RelocationOutOfSection {
        section: String,
        offset: u64,
        size: u64,
    },
    /// A relocation's offset is not the start of an instruction.
    #[error("relocation at {section}+{offset:#x} is not at the start of an instruction")]
    RelocationNotOnInstruction { section: String, offset: u64 },
    /// A relocation names a symbol index past the end of the symbol table.
    #[error("relocation at {section}+{offset:#x} refers to symbol {index}, but the symbol table has {count} symbols")]
    RelocationSymbolMissing {
        section: String,
        offset: u64,
        index: u32,
        count: usize,
    },
    /// A relocation of a type, or on an instruction, that a loader does not apply: code
    /// takes `R_BPF_64_32` on local calls and `R_BPF_64_64` on `lddw`s only.
    #[error("{} relocation at {section}+{offset:#x} against `{symbol}` is not supported (code takes R_BPF_64_32 on a local call and R_BPF_64_64 on an lddw)", relocation_name(*kind))]
    UnsupportedRelocation {
        section: String,
        offset: u64,
        symbol: String,
        /// The ELF relocation type, e.g. [`R_BPF_64_64`].
        kind: u32,
    },
    /// A relocation whose symbol is not what its place needs: an `lddw` of something that
    /// is neither a map nor global data, a `values` slot naming no program or map.
    #[error("relocation at {section}+{offset:#x} against `{symbol}`: {reason}")]
    BadReference {
        section: String,
        offset: u64,
        symbol: String,
        reason: String,
    },
    /// A map definition that cannot be read.
    #[error("map `{map}`: {reason}")]
    Map { map: String, reason: String },
    /// `.BTF` or `.BTF.ext` is malformed.
    #[error("{section}+{offset:#x}: {reason}")]
    Btf {
        section: String,
        offset: u64,
        reason: String,
    },
    /// A CO-RE relocation that cannot be resolved or applied.
    #[error("CO-RE {kind} relocation at {section}+{offset:#x}: {reason}")]
    Core {
        section: String,
        offset: u64,
        kind: &'static str,
        reason: String,
    },
    /// A program uses code with CO-RE relocations that [`crate::Object::relocate_core`]
    /// has not resolved: its field offsets are the compiler's guesses.
    #[error("section {section} has {count} CO-RE relocations: resolve them against a target BTF first (the kernel's /sys/kernel/btf/vmlinux, or a BTF file)")]
    CoreNotApplied { section: String, count: usize },
    /// The object reads `__kconfig` externs that [`crate::Object::resolve_kconfig`] has
    /// not set.
    #[error("the object reads {count} __kconfig externs ({names}): resolve them from a kernel configuration first (the host's /boot/config-$(uname -r) or /proc/config.gz, or a .config file)")]
    KconfigNotResolved { count: usize, names: String },
    /// An extern variable (`__kconfig`, `__ksym`, or another undefined symbol) that
    /// cannot be given a value.
    #[error("extern `{name}`: {reason}")]
    Extern { name: String, reason: String },
    /// A kernel configuration that cannot be read; `line` is 0 when the file itself is
    /// missing.
    #[error("kernel configuration, line {line}: {reason}")]
    Kconfig { line: usize, reason: String },
    /// [`crate::Object::set_global`] named no variable of a global data section, or gave
    /// the wrong number of bytes.
    #[error("global variable `{name}`: {reason}")]
    Global { name: String, reason: String },
    /// A BPF-to-BPF call whose target is not inside a function of the object.
    #[error("call at {section}+{offset:#x} targets {target}, which is not inside a function of the object")]
    BadCallTarget {
        section: String,
        offset: u64,
        /// The target as `section+offset`, or as a negative offset.
        target: String,
    },
    /// [`crate::Object::program`] was asked for a name the object does not have.
    #[error("no program named `{name}`; the object has: {}", available.join(", "))]
    UnknownProgram {
        name: String,
        available: Vec<String>,
    },
    /// [`crate::Object::program_by_section`] was asked for a section with no program.
    #[error("no program in section `{section}`; the object has programs in: {}", available.join(", "))]
    UnknownSection {
        section: String,
        available: Vec<String>,
    },
    /// An instruction could not be decoded; the index counts 8-byte slots from the section start.
    #[error("section {section}: {source}")]
    Decode {
        section: String,
        #[source]
        source: DecodeError,
    },
}

fn class_name(class: u8) -> &'static str {
    match class {
        1 => "ELFCLASS32, 32-bit",
        2 => "ELFCLASS64, 64-bit",
        _ => "invalid",
    }
}

fn endian_name(data: u8) -> &'static str {
    match data {
        1 => "ELFDATA2LSB, little-endian",
        2 => "ELFDATA2MSB, big-endian",
        _ => "invalid",
    }
}
