//! Reading the ELF file: its header, executable sections, function symbols and the
//! relocations that apply to code. Every index and range is checked here, so later stages
//! can slice section bytes by a function's or relocation's range without checking again.

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

/// A relocation of a code section (`SHT_REL`, as clang emits for BPF).
#[derive(Clone, Debug)]
pub(crate) struct Relocation {
    /// Byte offset in the section, a multiple of 8 inside it.
    pub offset: u64,
    /// ELF relocation type (`R_BPF_*`).
    pub kind: u32,
    /// The symbol's name; a section symbol is named by its section.
    pub symbol: String,
    /// Index into the object's code sections, when the symbol is defined in one.
    pub code_section: Option<usize>,
    /// The symbol's value (its offset in its section).
    pub value: u64,
}

/// Where the code sections are in the ELF section table.
struct CodeIndex {
    /// `code_of[elf_index]` is the position in the list of code sections.
    code_of: Vec<Option<usize>>,
}

/// Checks the header and reads every executable section with its functions and relocations.
pub(crate) fn read_code_sections(data: &[u8]) -> Result<Vec<CodeSection>, ObjectError> {
    let header = check_header(data)?;
    let sections = header
        .sections(LE, data)
        .map_err(|e| malformed("section headers", e))?;
    let (mut code, index) = read_executable_sections(&sections, data)?;
    let symbols = sections
        .symbols(LE, data, elf::SHT_SYMTAB)
        .map_err(|e| malformed("symbol table", e))?;
    read_functions(&sections, &symbols, &index, &mut code)?;
    read_relocations(&sections, &symbols, &index, data, &mut code)?;
    Ok(code)
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

fn read_executable_sections(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    data: &[u8],
) -> Result<(Vec<CodeSection>, CodeIndex), ObjectError> {
    let mut code = Vec::new();
    let mut code_of = vec![None; sections.len()];
    for (index, header) in sections.enumerate() {
        let executable = header.sh_flags(LE) & u64::from(elf::SHF_EXECINSTR) != 0;
        if !executable || header.sh_type(LE) != elf::SHT_PROGBITS {
            continue;
        }
        let name = section_name(sections, header, index)?;
        let bytes = header
            .data(LE, data)
            .map_err(|e| malformed(&format!("contents of section {name}"), e))?;
        if !bytes.len().is_multiple_of(8) {
            return Err(ObjectError::SectionSize {
                section: name,
                size: bytes.len() as u64,
            });
        }
        code_of[index.0] = Some(code.len());
        code.push(CodeSection {
            name,
            bytes: bytes.to_vec(),
            functions: Vec::new(),
            relocations: Vec::new(),
        });
    }
    Ok((code, CodeIndex { code_of }))
}

fn read_functions(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    index: &CodeIndex,
    code: &mut [CodeSection],
) -> Result<(), ObjectError> {
    for (sym_index, sym) in symbols.enumerate() {
        let Some(shndx) = defining_section(sections, symbols, sym_index, sym)? else {
            continue;
        };
        let Some(c) = index.code_of[shndx] else {
            continue;
        };
        if sym.st_type() != elf::STT_FUNC {
            continue;
        }
        let section = &mut code[c];
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
    }
    Ok(())
}

fn read_relocations(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    index: &CodeIndex,
    data: &[u8],
    code: &mut [CodeSection],
) -> Result<(), ObjectError> {
    for (rel_index, header) in sections.enumerate() {
        if header.sh_type(LE) != elf::SHT_REL {
            continue;
        }
        let target = header.sh_info(LE);
        let Some(code_of) = index.code_of.get(target as usize) else {
            return Err(ObjectError::SectionIndexOutOfRange {
                what: format!("relocation section {}", rel_index.0),
                index: target,
                count: sections.len(),
            });
        };
        let Some(c) = *code_of else {
            // Relocations of debug information and BTF: not needed to run code.
            continue;
        };
        let rels: &[Rel64<LE>] = header
            .data_as_array(LE, data)
            .map_err(|e| malformed(&format!("relocations of {}", code[c].name), e))?;
        for rel in rels {
            let relocation = read_relocation(sections, symbols, index, rel, &code[c])?;
            code[c].relocations.push(relocation);
        }
    }
    Ok(())
}

fn read_relocation(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    index: &CodeIndex,
    rel: &Rel64<LE>,
    section: &CodeSection,
) -> Result<Relocation, ObjectError> {
    let offset = rel.r_offset(LE);
    let size = section.bytes.len() as u64;
    if offset.checked_add(8).is_none_or(|end| end > size) {
        return Err(ObjectError::RelocationOutOfSection {
            section: section.name.clone(),
            offset,
            size,
        });
    }
    if !offset.is_multiple_of(8) {
        return Err(ObjectError::RelocationNotOnInstruction {
            section: section.name.clone(),
            offset,
        });
    }
    let sym_index = rel.r_sym(LE);
    // Symbol 0 is the null symbol: a relocation against it names nothing.
    let sym = match symbols.symbol(SymbolIndex(sym_index as usize)) {
        Ok(sym) if sym_index != 0 => sym,
        _ => {
            return Err(ObjectError::RelocationSymbolMissing {
                section: section.name.clone(),
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
        code_section: shndx.and_then(|s| index.code_of[s]),
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
