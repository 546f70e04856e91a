//! BPF ELF objects as `clang -target bpf -c` produces them, read into programs ready to run.
//!
//! An object holds code in executable sections. Following libbpf's conventions, every
//! global function in an executable section other than `.text` is a program, and the
//! section's name (`SEC("xdp")`, `SEC("memory")`, ...) says what kind of program it is;
//! functions in `.text` are subprograms, linked into the programs that call them.
//!
//! As with libbpf, an object is opened ([`Object::parse`]), adjusted, then loaded:
//! - its maps ([`Object::maps`]) come from BTF-defined `.maps`, legacy `maps` and global
//!   data sections (`.data*`, `.rodata*`, `.bss`), and may be adjusted ([`Object::map_mut`],
//!   [`Object::set_global`] for `const volatile` parameters);
//! - CO-RE relocations are resolved against a target BTF ([`Object::relocate_core`]);
//! - each program links into instructions whose `lddw`s name maps by index
//!   ([`Program::insns`]), with source line info from `.BTF.ext` ([`Program::line_info`]);
//! - with the `vm` feature, [`Object::load`] creates the maps in bpfkit's virtual machine.
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

mod btf;
mod btf_ext;
mod core;
mod elf;
mod error;
mod externs;
#[cfg(feature = "kernel")]
mod kernel;
mod kernel_btf;
mod link;
#[cfg(feature = "vm")]
mod load;
mod maps;
mod relocations;

pub use btf::{Btf, BtfKind, BtfType, Member, TypeId, VarSecinfo};
pub use btf_ext::{BtfExt, CoreRelo, FuncInfo, LineInfo};
pub use error::{
    relocation_name, ObjectError, R_BPF_64_32, R_BPF_64_64, R_BPF_64_ABS32, R_BPF_64_ABS64,
    R_BPF_64_NODYLD32,
};
pub use externs::{kernel_version, Kconfig};
#[cfg(feature = "kernel")]
pub use kernel::{kernel_code, KernelLoadError, KernelObject};
#[cfg(feature = "vm")]
pub use load::{map_fd, LoadError, Loaded, LoadedProgram, ProgramSlot};
pub use maps::{
    Initial, MapDef, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_PROG_ARRAY,
};

use bpfkit_isa::Insn;
use elf::{CodeSection, DataKind, Elf};
use relocations::MapSites;
use std::ops::Range;

/// The section holding subprograms.
const TEXT: &str = ".text";

/// A parsed BPF object: its code sections, the programs in them, its map definitions
/// (which [`Object::map_mut`] and [`Object::set_global`] adjust before loading), license,
/// kernel version and BTF.
#[derive(Clone, Debug)]
pub struct Object {
    elf: Elf,
    programs: Vec<ProgramInfo>,
    maps: Vec<MapDef>,
    sites: Vec<maps::Site>,
    btf: Option<Btf>,
    btf_ext: BtfExt,
    /// The `__kconfig` externs and the index of their map, until resolved.
    kconfig: Option<(Vec<externs::KconfigVar>, usize)>,
    /// The names of the `__ksym` externs.
    ksyms: Vec<String>,
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
    /// finds its programs, reads its BTF and its map definitions. Every range used later
    /// (functions, relocations) is checked here; instructions are decoded and relocated
    /// when a program's [`Program::insns`] is asked for.
    pub fn parse(bytes: &[u8]) -> Result<Object, ObjectError> {
        let mut elf = elf::read(bytes)?;
        let programs = find_programs(&elf.code);
        let btf = elf
            .data
            .iter()
            .find(|d| d.kind == DataKind::Btf)
            .map(|d| Btf::parse(&d.bytes))
            .transpose()?;
        let btf_ext = match (&btf, elf.data.iter().find(|d| d.kind == DataKind::BtfExt)) {
            (Some(btf), Some(ext)) => BtfExt::parse(&ext.bytes, btf.strings())?,
            _ => BtfExt::default(),
        };
        let kconfig = match &btf {
            Some(btf) => add_kconfig_section(&mut elf, btf)?,
            None => None,
        };
        let ksyms = btf.as_ref().map(ksym_names).unwrap_or_default();
        let (maps, sites) = maps::read_maps(&elf, btf.as_ref())?;
        let kconfig = kconfig.map(|vars| {
            let map = maps
                .iter()
                .position(|m| m.section == externs::KCONFIG)
                .expect("read_maps makes a map of the .kconfig section");
            (vars, map)
        });
        Ok(Object {
            elf,
            programs,
            maps,
            sites,
            btf,
            btf_ext,
            kconfig,
            ksyms,
        })
    }

    /// Whether the object reads `__kconfig` externs that [`Object::resolve_kconfig`] has
    /// not set yet.
    pub fn pending_kconfig(&self) -> bool {
        self.kconfig.is_some()
    }

    /// Sets the `__kconfig` externs (`CONFIG_*` options, `LINUX_KERNEL_VERSION`) from
    /// `config`, as libbpf does before loading: in the `.kconfig` map, read-only for
    /// programs. An extern that `config` does not set reads 0 if it is `__weak`, and is an
    /// error otherwise. On error the object is unchanged.
    pub fn resolve_kconfig(&mut self, config: &Kconfig) -> Result<(), ObjectError> {
        let Some((vars, map)) = &self.kconfig else {
            return Ok(());
        };
        let mut data = vec![0; self.maps[*map].value_size as usize];
        externs::fill_kconfig(vars, config, &mut data)?;
        self.maps[*map].initial = Initial::Data(data);
        self.kconfig = None;
        Ok(())
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

    /// The map definitions, in the order programs' map references index them: legacy
    /// `maps`, BTF-defined `.maps`, then global data sections (libbpf's order).
    pub fn maps(&self) -> &[MapDef] {
        &self.maps
    }

    /// The map named `name`, to adjust before loading (as `bpf_map__set_max_entries`
    /// and friends do). Programs refer to maps by index, so renaming is harmless.
    pub fn map_mut(&mut self, name: &str) -> Option<&mut MapDef> {
        self.maps.iter_mut().find(|m| m.name == name)
    }

    /// Sets the initial value of the global variable `name` (in `.data*`, `.rodata*` or
    /// `.bss*`) to `bytes`, which must be exactly its size: how user space sets a
    /// `const volatile` parameter before load, as libbpf's skeletons do through `rodata`.
    pub fn set_global(&mut self, name: &str, bytes: &[u8]) -> Result<(), ObjectError> {
        let fail = |reason: String| ObjectError::Global {
            name: name.to_string(),
            reason,
        };
        let (d, symbol) = self
            .elf
            .data
            .iter()
            .enumerate()
            .filter(|(_, d)| matches!(d.kind, DataKind::Data | DataKind::Rodata | DataKind::Bss))
            .find_map(|(i, d)| Some((i, d.symbols.iter().find(|s| s.name == name)?)))
            .ok_or_else(|| fail("no global data section defines it".into()))?;
        if symbol.size != bytes.len() as u64 {
            return Err(fail(format!(
                "it is {} bytes, but {} were given",
                symbol.size,
                bytes.len()
            )));
        }
        let m = self
            .sites
            .iter()
            .position(|s| s.data == d)
            .ok_or_else(|| fail("its section has no map".into()))?;
        let map = &mut self.maps[m];
        if !matches!(map.initial, Initial::Data(_)) {
            map.initial = Initial::Data(vec![0; map.value_size as usize]);
        }
        let Initial::Data(data) = &mut map.initial else {
            unreachable!("set just above")
        };
        let (start, end) = (symbol.offset as usize, symbol.offset as usize + bytes.len());
        // The definition may have been adjusted through `map_mut` since it was read.
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(bytes);
        Ok(())
    }

    /// The `license` section's string, if there is one.
    pub fn license(&self) -> Option<String> {
        let section = self.data(DataKind::License)?;
        let end = section
            .bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(section.bytes.len());
        Some(String::from_utf8_lossy(&section.bytes[..end]).into_owned())
    }

    /// The `version` section's kernel version (`LINUX_VERSION_CODE`), if there is one.
    pub fn kernel_version(&self) -> Option<u32> {
        let bytes = self.data(DataKind::Version)?.bytes.get(..4)?;
        Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// The object's BTF, if it has a `.BTF` section.
    pub fn btf(&self) -> Option<&Btf> {
        self.btf.as_ref()
    }

    /// The line info of code section `section` (from `.BTF.ext`), by byte offset in the
    /// section; empty for objects built without `-g`.
    pub fn line_info(&self, section: &str) -> &[LineInfo] {
        self.btf_ext
            .line_info
            .iter()
            .find(|(name, _)| name == section)
            .map_or(&[], |(_, lines)| &lines[..])
    }

    /// The function info of code section `section` (from `.BTF.ext`).
    pub fn func_info(&self, section: &str) -> &[FuncInfo] {
        self.btf_ext
            .func_info
            .iter()
            .find(|(name, _)| name == section)
            .map_or(&[], |(_, funcs)| &funcs[..])
    }

    /// How many CO-RE relocations are still to resolve.
    pub fn pending_core_relocations(&self) -> usize {
        self.btf_ext.core_relos.iter().map(|(_, r)| r.len()).sum()
    }

    /// Resolves the CO-RE relocations against `target` (the kernel's BTF, read from
    /// /sys/kernel/btf/vmlinux with [`Btf::parse`], or another BTF), patching the code as
    /// libbpf does before loading. Fields, types or enum values missing from the target
    /// give 0 for the existence relocations; other instructions relocated against them
    /// are replaced by a call of helper 0xbad2310 (both slots of an `lddw`), so that a
    /// program reaching one fails.
    /// On error the object is unchanged.
    pub fn relocate_core(&mut self, target: &Btf) -> Result<(), ObjectError> {
        let Some(local) = &self.btf else {
            return Ok(());
        };
        let mut patched = self.elf.code.clone();
        for (section, relos) in &self.btf_ext.core_relos {
            let code = patched
                .iter_mut()
                .find(|c| &c.name == section)
                .ok_or_else(|| ObjectError::Core {
                    section: section.clone(),
                    offset: 0,
                    kind: "any",
                    reason: "no code section has this name".into(),
                })?;
            core::apply(local, target, section, &mut code.bytes, relos)?;
        }
        self.elf.code = patched;
        self.btf_ext.core_relos.clear();
        Ok(())
    }

    fn data(&self, kind: DataKind) -> Option<&elf::DataSection> {
        self.elf.data.iter().find(|d| d.kind == kind)
    }

    fn handle<'a>(&'a self, info: &'a ProgramInfo) -> Program<'a> {
        Program { object: self, info }
    }

    fn link(&self, info: &ProgramInfo) -> Result<link::Linked, ObjectError> {
        if let Some((vars, _)) = &self.kconfig {
            return Err(ObjectError::KconfigNotResolved {
                count: vars.len(),
                names: vars.iter().map(|v| v.name()).collect::<Vec<_>>().join(", "),
            });
        }
        let maps = MapSites {
            elf: &self.elf,
            sites: &self.sites,
            ksyms: &self.ksyms,
        };
        let linked = link::link(&self.elf.code, &maps, info.section, info.range.clone())?;
        for placed in &linked.placed {
            let section = &self.elf.code[placed.section].name;
            if let Some((_, relos)) = self.btf_ext.core_relos.iter().find(|(s, _)| s == section) {
                return Err(ObjectError::CoreNotApplied {
                    section: section.clone(),
                    count: relos.len(),
                });
            }
        }
        Ok(linked)
    }
}

/// The names of the `__ksym` externs: the variables of `.BTF`'s `.ksyms` data section.
fn ksym_names(btf: &Btf) -> Vec<String> {
    btf.datasec(externs::KSYMS)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| Some(btf.get(v.type_id).ok()??.name.clone()))
        .collect()
}

/// Adds the `.kconfig` section of the object's `__kconfig` externs, if it has any, and
/// points the code's relocations against them at their places in it.
fn add_kconfig_section(
    elf: &mut Elf,
    btf: &Btf,
) -> Result<Option<Vec<externs::KconfigVar>>, ObjectError> {
    let weak = |name: &str| {
        elf.code
            .iter()
            .flat_map(|c| &c.relocations)
            .any(|r| r.symbol == name && r.target == elf::Target::Extern { weak: true })
    };
    let Some(layout) = externs::kconfig_layout(btf, weak)? else {
        return Ok(None);
    };
    let index = elf.data.len();
    for rel in elf.code.iter_mut().flat_map(|c| &mut c.relocations) {
        if !matches!(rel.target, elf::Target::Extern { .. }) {
            continue;
        }
        if let Some(symbol) = layout.section.symbols.iter().find(|s| s.name == rel.symbol) {
            rel.target = elf::Target::Data(index);
            rel.value = symbol.offset;
        }
    }
    elf.data.push(layout.section);
    Ok(Some(layout.vars))
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
        &self.object.elf.code[self.info.section].name
    }

    /// The program's byte range inside its section.
    pub fn range(&self) -> Range<u64> {
        self.info.range.clone()
    }

    /// The program's code linked for execution: its own instructions followed by every
    /// function it reaches, transitively, through BPF-to-BPF calls or callbacks (clang
    /// puts them in `.text`), each appended once, in the order first reached, and each
    /// call's immediate set to the relative slot offset of its target. Each `lddw` of a
    /// map becomes a `MapIdx` reference and each `lddw` of global data a `MapIdxValue`
    /// reference, by index into [`Object::maps`].
    pub fn insns(&self) -> Result<Vec<Insn>, ObjectError> {
        Ok(self.object.link(self.info)?.insns)
    }

    /// The line info of the linked program ([`Program::insns`]): each record with the slot
    /// index it starts at, in slot order.
    pub fn line_info(&self) -> Result<Vec<(usize, &'a LineInfo)>, ObjectError> {
        self.linked_records(|o, section| o.line_info(section), |l| l.offset)
    }

    /// The function info of the linked program: each function's first slot and BTF
    /// `FUNC` type, in slot order, as `BPF_PROG_LOAD`'s `func_info` wants it (the kernel
    /// requires it, with the object's BTF, for programs with callbacks).
    pub fn func_info(&self) -> Result<Vec<(usize, &'a FuncInfo)>, ObjectError> {
        self.linked_records(|o, section| o.func_info(section), |f| f.offset)
    }

    /// The first slots of the linked program's global functions (BTF `FUNC` linkage
    /// global), which the kernel verifies apart from their callers; the entry itself
    /// (slot 0) is not one of them.
    pub fn global_functions(&self) -> Result<Vec<usize>, ObjectError> {
        let Some(btf) = self.object.btf() else {
            return Ok(Vec::new());
        };
        let mut slots = Vec::new();
        for (slot, info) in self.func_info()? {
            let global = matches!(
                btf.get(info.type_id)?,
                Some(BtfType {
                    kind: BtfKind::Func { global: true, .. },
                    ..
                })
            );
            if global && slot != 0 {
                slots.push(slot);
            }
        }
        Ok(slots)
    }

    /// The `.BTF.ext` records of every function linked into the program, with the linked
    /// slot each applies to.
    fn linked_records<T>(
        &self,
        records: impl Fn(&'a Object, &str) -> &'a [T],
        offset: impl Fn(&T) -> u64,
    ) -> Result<Vec<(usize, &'a T)>, ObjectError> {
        let linked = self.object.link(self.info)?;
        let mut out = Vec::new();
        for placed in &linked.placed {
            let section = &self.object.elf.code[placed.section].name;
            out.extend(
                records(self.object, section)
                    .iter()
                    .filter(|r| (placed.start..placed.end).contains(&offset(r)))
                    .map(|r| (placed.slot_of(offset(r)), r)),
            );
        }
        out.sort_by_key(|(slot, _)| *slot);
        Ok(out)
    }
}
