//! Reading the ELF file: its header, executable sections with their function symbols, the
//! non-code sections a loader needs (maps, global data, license, version, BTF) with their
//! object symbols, and the relocations of code and of `.maps`. Every index and range is
//! checked here, so later stages can slice section bytes by a symbol's or relocation's
//! range without checking again.

use crate::error::ObjectError;
use object::elf::{self, FileHeader64, Rel64, SectionHeader64};
use object::read::elf::{FileHeader, Rel, SectionHeader, SectionTable, Sym, SymbolTable};
use object::{LittleEndian as LE, SectionIndex, SymbolIndex};

/// An executable section (`SHF_EXECINSTR`): BPF code.
#[derive(Clone, Debug)]
pub(crate) struct CodeSection {
    pub name: String,
    pub bytes: Vec<u8>,
    /// Function symbols (`STT_FUNC`) defined in the section, in symbol table order.
    pub functions: Vec<Function>,
    /// Relocations applying to the section, each at the start of an 8-byte slot.
    pub relocations: Vec<Relocation>,
}

impl CodeSection {
    /// The relocation at byte `offset`, if any.
    pub fn relocation_at(&self, offset: u64) -> Option<&Relocation> {
        self.relocations.iter().find(|r| r.offset == offset)
    }
}

/// What a non-code section is to a loader, by its name as libbpf classifies sections
/// (`bpf_object__elf_collect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataKind {
    /// `license`: a NUL-terminated string.
    License,
    /// `version`: the kernel version a kprobe program was built for, a `u32`.
    Version,
    /// `maps`: legacy map definitions (`struct bpf_map_def`), one per symbol.
    LegacyMaps,
    /// `.maps`: BTF-defined maps, one variable per map.
    BtfMaps,
    /// `.data`, `.data.*`: writable global data.
    Data,
    /// `.rodata`, `.rodata.*`: read-only global data.
    Rodata,
    /// `.bss` (`SHT_NOBITS`): zero-initialised global data. libbpf takes no `.bss.*`.
    Bss,
    /// `.BTF`: type information.
    Btf,
    /// `.BTF.ext`: function and line information, CO-RE relocations.
    BtfExt,
    /// `.kconfig`: the `__kconfig` externs, laid out by bpfkit (no ELF section holds
    /// them; see [`crate::externs`]).
    Kconfig,
}

impl DataKind {
    fn classify(name: &str, sh_type: u32) -> Option<DataKind> {
        let prefixed = |prefix: &str| {
            name == prefix
                || name
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.'))
        };
        Some(match name {
            "license" => DataKind::License,
            "version" => DataKind::Version,
            "maps" => DataKind::LegacyMaps,
            ".maps" => DataKind::BtfMaps,
            ".BTF" => DataKind::Btf,
            ".BTF.ext" => DataKind::BtfExt,
            ".bss" if sh_type == elf::SHT_NOBITS => DataKind::Bss,
            _ if sh_type == elf::SHT_PROGBITS && prefixed(".data") => DataKind::Data,
            _ if sh_type == elf::SHT_PROGBITS && prefixed(".rodata") => DataKind::Rodata,
            _ => return None,
        })
    }
}

/// A non-code section a loader uses.
#[derive(Clone, Debug)]
pub(crate) struct DataSection {
    pub name: String,
    pub kind: DataKind,
    /// The contents; empty for `.bss`, whose size is `size`.
    pub bytes: Vec<u8>,
    pub size: u64,
    /// Named symbols defined in the section (variables, map definitions), in symbol table
    /// order; each lies inside the section.
    pub symbols: Vec<DataSymbol>,
    /// Relocations of the section, read for `.maps` only: elsewhere they matter to linkers,
    /// not to loaders, and libbpf ignores them too.
    pub relocations: Vec<Relocation>,
}

/// A named symbol in a data section.
#[derive(Clone, Debug)]
pub(crate) struct DataSymbol {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// A function symbol; its range lies inside its section and is 8-byte aligned.
#[derive(Clone, Debug)]
pub(crate) struct Function {
    pub name: String,
    pub offset: u64,
    pub size: u64,
    /// `STB_GLOBAL` or `STB_WEAK`: a program entry point when outside `.text`.
    pub global: bool,
}

impl Function {
    /// Whether byte `offset` of the section lies inside the function.
    pub fn contains(&self, offset: u64) -> bool {
        offset >= self.offset && offset - self.offset < self.size
    }
}

/// Where a relocation's symbol is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// In the code section of this index.
    Code(usize),
    /// In the data section of this index.
    Data(usize),
    /// Undefined: an extern (`__kconfig`, `__ksym`), `STB_WEAK` or not.
    Extern { weak: bool },
    /// Absolute, or in a section a loader does not read.
    Elsewhere,
}

/// A relocation (`SHT_REL`, as clang emits for BPF), 8 bytes inside its section.
#[derive(Clone, Debug)]
pub(crate) struct Relocation {
    /// Byte offset in the section; a multiple of 8 in code.
    pub offset: u64,
    /// ELF relocation type (`R_BPF_*`).
    pub kind: u32,
    /// The symbol's name; a section symbol is named by its section.
    pub symbol: String,
    pub target: Target,
    /// The symbol's value (its offset in its section).
    pub value: u64,
}

/// A read object: the sections a loader uses.
#[derive(Clone, Debug)]
pub(crate) struct Elf {
    pub code: Vec<CodeSection>,
    pub data: Vec<DataSection>,
}

/// Where the sections a loader reads are in the ELF section table.
struct Placement {
    /// `of[elf_index]` is where that ELF section went, if it is read.
    of: Vec<Option<Target>>,
}

impl Placement {
    fn target(&self, elf_index: usize) -> Target {
        self.of[elf_index].unwrap_or(Target::Elsewhere)
    }
}

/// Checks the header and reads the code and data sections with their symbols and
/// relocations.
pub(crate) fn read(data: &[u8]) -> Result<Elf, ObjectError> {
    let header = check_header(data)?;
    let sections = header
        .sections(LE, data)
        .map_err(|e| malformed("section headers", e))?;
    let (mut elf, index) = read_sections(&sections, data)?;
    let symbols = sections
        .symbols(LE, data, elf::SHT_SYMTAB)
        .map_err(|e| malformed("symbol table", e))?;
    read_symbols(&sections, &symbols, &index, &mut elf)?;
    read_relocations(&sections, &symbols, &index, data, &mut elf)?;
    Ok(elf)
}

/// Layout of `e_ident`: its size and the positions of the class and data encoding bytes.
const EI_NIDENT: usize = 16;
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;

fn check_header(data: &[u8]) -> Result<&FileHeader64<LE>, ObjectError> {
    // The identification bytes are checked by hand first so that each mismatch is named.
    let Some(ident) = data.get(..EI_NIDENT) else {
        return Err(ObjectError::NotElf {
            reason: "file is shorter than the ELF identification (16 bytes)",
        });
    };
    if ident[..4] != elf::ELFMAG {
        return Err(ObjectError::NotElf {
            reason: "the file does not start with the ELF magic number \\x7fELF",
        });
    }
    if ident[EI_CLASS] != elf::ELFCLASS64 {
        return Err(ObjectError::WrongClass {
            found: ident[EI_CLASS],
        });
    }
    if ident[EI_DATA] != elf::ELFDATA2LSB {
        return Err(ObjectError::WrongEndianness {
            found: ident[EI_DATA],
        });
    }
    let header = FileHeader64::<LE>::parse(data).map_err(|e| malformed("ELF header", e))?;
    let machine = header.e_machine(LE);
    if machine != elf::EM_BPF {
        return Err(ObjectError::WrongMachine { found: machine });
    }
    let kind = header.e_type(LE);
    if kind != elf::ET_REL {
        return Err(ObjectError::NotRelocatable { found: kind });
    }
    Ok(header)
}

fn read_sections(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    data: &[u8],
) -> Result<(Elf, Placement), ObjectError> {
    let mut elf = Elf {
        code: Vec::new(),
        data: Vec::new(),
    };
    let mut of = vec![None; sections.len()];
    for (index, header) in sections.enumerate() {
        let sh_type = header.sh_type(LE);
        let executable = header.sh_flags(LE) & u64::from(elf::SHF_EXECINSTR) != 0;
        if executable && sh_type == elf::SHT_PROGBITS {
            let name = section_name(sections, header, index)?;
            let bytes = section_data(header, data, &name)?;
            if !bytes.len().is_multiple_of(8) {
                return Err(ObjectError::SectionSize {
                    section: name,
                    size: bytes.len() as u64,
                });
            }
            of[index.0] = Some(Target::Code(elf.code.len()));
            elf.code.push(CodeSection {
                name,
                bytes: bytes.to_vec(),
                functions: Vec::new(),
                relocations: Vec::new(),
            });
            continue;
        }
        if sh_type != elf::SHT_PROGBITS && sh_type != elf::SHT_NOBITS {
            continue;
        }
        let name = section_name(sections, header, index)?;
        let Some(kind) = DataKind::classify(&name, sh_type) else {
            continue;
        };
        // `.bss` occupies no file space: only its size is read.
        let bytes = if kind == DataKind::Bss {
            Vec::new()
        } else {
            section_data(header, data, &name)?.to_vec()
        };
        of[index.0] = Some(Target::Data(elf.data.len()));
        elf.data.push(DataSection {
            name,
            kind,
            bytes,
            size: header.sh_size(LE),
            symbols: Vec::new(),
            relocations: Vec::new(),
        });
    }
    Ok((elf, Placement { of }))
}

fn section_data<'d>(
    header: &SectionHeader64<LE>,
    data: &'d [u8],
    name: &str,
) -> Result<&'d [u8], ObjectError> {
    header
        .data(LE, data)
        .map_err(|e| malformed(&format!("contents of section {name}"), e))
}

/// Files function symbols under their code sections and named symbols under their data
/// sections, checking each lies inside its section.
fn read_symbols(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    index: &Placement,
    elf: &mut Elf,
) -> Result<(), ObjectError> {
    for (sym_index, sym) in symbols.enumerate() {
        let Some(shndx) = defining_section(sections, symbols, sym_index, sym)? else {
            continue;
        };
        match index.target(shndx) {
            Target::Code(c) if sym.st_type() == elf::STT_FUNC => {
                read_function(symbols, sym_index, sym, &mut elf.code[c])?
            }
            Target::Data(d) if !matches!(sym.st_type(), elf::STT_SECTION | elf::STT_FILE) => {
                let section = &mut elf.data[d];
                let name = symbol_name(symbols, sym, sym_index)?;
                let (offset, size) = (sym.st_value(LE), sym.st_size(LE));
                if name.is_empty() {
                    continue;
                }
                if offset
                    .checked_add(size)
                    .is_none_or(|end| end > section.size)
                {
                    return Err(ObjectError::SymbolOutOfSection {
                        symbol: name,
                        section: section.name.clone(),
                        value: offset,
                        size,
                        section_size: section.size,
                    });
                }
                section.symbols.push(DataSymbol { name, offset, size });
            }
            _ => {}
        }
    }
    Ok(())
}

fn read_function(
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    sym_index: SymbolIndex,
    sym: &elf::Sym64<LE>,
    section: &mut CodeSection,
) -> Result<(), ObjectError> {
    let name = symbol_name(symbols, sym, sym_index)?;
    let (value, size) = (sym.st_value(LE), sym.st_size(LE));
    let section_size = section.bytes.len() as u64;
    if value.checked_add(size).is_none_or(|end| end > section_size) {
        return Err(ObjectError::SymbolOutOfSection {
            symbol: name,
            section: section.name.clone(),
            value,
            size,
            section_size,
        });
    }
    if !value.is_multiple_of(8) || !size.is_multiple_of(8) {
        return Err(ObjectError::SymbolMisaligned {
            symbol: name,
            section: section.name.clone(),
            value,
            size,
        });
    }
    let bind = sym.st_bind();
    section.functions.push(Function {
        name,
        offset: value,
        size,
        global: bind == elf::STB_GLOBAL || bind == elf::STB_WEAK,
    });
    Ok(())
}

fn read_relocations(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    index: &Placement,
    data: &[u8],
    elf: &mut Elf,
) -> Result<(), ObjectError> {
    for (rel_index, header) in sections.enumerate() {
        if header.sh_type(LE) != elf::SHT_REL {
            continue;
        }
        let target = header.sh_info(LE);
        let Some(placed) = index.of.get(target as usize) else {
            return Err(ObjectError::SectionIndexOutOfRange {
                what: format!("relocation section {}", rel_index.0),
                index: target,
                count: sections.len(),
            });
        };
        let (name, size, code, relocations) = match *placed {
            Some(Target::Code(c)) => {
                let section = &mut elf.code[c];
                let size = section.bytes.len() as u64;
                (&section.name, size, true, &mut section.relocations)
            }
            Some(Target::Data(d)) if elf.data[d].kind == DataKind::BtfMaps => {
                let section = &mut elf.data[d];
                (&section.name, section.size, false, &mut section.relocations)
            }
            // Relocations of debug information, BTF and other data: not needed to load.
            _ => continue,
        };
        let rels: &[Rel64<LE>] = header
            .data_as_array(LE, data)
            .map_err(|e| malformed(&format!("relocations of {name}"), e))?;
        for rel in rels {
            let offset = rel.r_offset(LE);
            if offset.checked_add(8).is_none_or(|end| end > size) {
                return Err(ObjectError::RelocationOutOfSection {
                    section: name.clone(),
                    offset,
                    size,
                });
            }
            if code && !offset.is_multiple_of(8) {
                return Err(ObjectError::RelocationNotOnInstruction {
                    section: name.clone(),
                    offset,
                });
            }
            relocations.push(read_relocation(sections, symbols, index, rel, name)?);
        }
    }
    Ok(())
}

fn read_relocation(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    index: &Placement,
    rel: &Rel64<LE>,
    section: &str,
) -> Result<Relocation, ObjectError> {
    let offset = rel.r_offset(LE);
    let sym_index = rel.r_sym(LE);
    // Symbol 0 is the null symbol: a relocation against it names nothing.
    let sym = match symbols.symbol(SymbolIndex(sym_index as usize)) {
        Ok(sym) if sym_index != 0 => sym,
        _ => {
            return Err(ObjectError::RelocationSymbolMissing {
                section: section.to_string(),
                offset,
                index: sym_index,
                count: symbols.len(),
            })
        }
    };
    let shndx = defining_section(sections, symbols, SymbolIndex(sym_index as usize), sym)?;
    let symbol = match shndx {
        // Section symbols have no name of their own; llvm-objdump shows the section's.
        Some(s) if sym.st_type() == elf::STT_SECTION => {
            let header = sections
                .section(SectionIndex(s))
                .map_err(|e| malformed("section header", e))?;
            section_name(sections, header, SectionIndex(s))?
        }
        _ => symbol_name(symbols, sym, SymbolIndex(sym_index as usize))?,
    };
    Ok(Relocation {
        offset,
        kind: rel.r_type(LE),
        symbol,
        target: match shndx {
            Some(s) => index.target(s),
            None if sym.st_shndx(LE) == elf::SHN_UNDEF => Target::Extern {
                weak: sym.st_bind() == elf::STB_WEAK,
            },
            None => Target::Elsewhere,
        },
        value: sym.st_value(LE),
    })
}

/// The ELF index of the section a symbol is defined in; `None` for undefined, absolute and
/// common symbols.
fn defining_section(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    sym_index: SymbolIndex,
    sym: &elf::Sym64<LE>,
) -> Result<Option<usize>, ObjectError> {
    let shndx = sym.st_shndx(LE);
    let index = if shndx == elf::SHN_XINDEX {
        // The real index is in SHT_SYMTAB_SHNDX; a missing entry is as bad as a wrong one.
        symbols.shndx(LE, sym_index).unwrap_or(u32::MAX)
    } else if shndx == elf::SHN_UNDEF || shndx >= elf::SHN_LORESERVE {
        return Ok(None);
    } else {
        u32::from(shndx)
    };
    if index as usize >= sections.len() {
        return Err(ObjectError::SectionIndexOutOfRange {
            what: format!(
                "symbol {} ({})",
                sym_index.0,
                String::from_utf8_lossy(symbols.symbol_name(LE, sym).unwrap_or(&b"?"[..]))
            ),
            index,
            count: sections.len(),
        });
    }
    Ok(Some(index as usize))
}

fn section_name(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    header: &SectionHeader64<LE>,
    index: SectionIndex,
) -> Result<String, ObjectError> {
    let name = sections
        .section_name(LE, header)
        .map_err(|e| malformed(&format!("name of section {}", index.0), e))?;
    Ok(String::from_utf8_lossy(name).into_owned())
}

fn symbol_name(
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    sym: &elf::Sym64<LE>,
    index: SymbolIndex,
) -> Result<String, ObjectError> {
    let name = symbols
        .symbol_name(LE, sym)
        .map_err(|e| malformed(&format!("name of symbol {}", index.0), e))?;
    Ok(String::from_utf8_lossy(name).into_owned())
}

fn malformed(what: &str, error: object::Error) -> ObjectError {
    ObjectError::Malformed {
        what: what.to_string(),
        reason: error.to_string(),
    }
}
