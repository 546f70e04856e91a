//! Reading the fixture objects and finding, by hand, the byte positions of ELF fields to
//! corrupt: the layouts are those of the ELF64 specification (`/usr/include/elf.h`).

#![allow(dead_code)] // each test file uses a different part

use std::path::PathBuf;

/// The fixture object `fixtures/<name>.o`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(format!("{name}.o"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The loader fixture object `fixtures/loader/<file>` (e.g. `hash_map.o`).
pub fn loader_fixture(file: &str) -> Vec<u8> {
    let path = fixtures_dir().join("loader").join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every loader fixture object's file name.
pub fn loader_fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir().join("loader"))
        .expect("fixtures/loader")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".o"))
        .collect();
    names.sort();
    names
}

/// fixtures/loader/expected.txt: (object file, program, r0 on input.bin), derived by hand
/// and checked against the kernel by fixtures/loader/build.sh --kernel.
pub fn loader_expected() -> Vec<(String, String, u64)> {
    let text = std::fs::read_to_string(fixtures_dir().join("loader/expected.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let r0 = u64::from_str_radix(f[2].trim_start_matches("0x"), 16).unwrap();
            (f[0].to_string(), f[1].to_string(), r0)
        })
        .collect()
}

/// Prepares a loader fixture for this host as a loader would: CO-RE relocations against
/// the kernel's BTF and `__kconfig` externs from the kernel's configuration. `Err` says
/// what this host lacks, for a test to skip the object with.
pub fn resolve_for_host(object: &mut bpfkit_object::Object) -> Result<(), String> {
    if object.pending_core_relocations() > 0 {
        let bytes = std::fs::read("/sys/kernel/btf/vmlinux")
            .map_err(|_| "no /sys/kernel/btf/vmlinux".to_string())?;
        let vmlinux = bpfkit_object::Btf::parse(&bytes).expect("the kernel's BTF parses");
        object.relocate_core(&vmlinux).unwrap();
    }
    if object.pending_kconfig() {
        let config = bpfkit_object::Kconfig::host().map_err(|e| e.to_string())?;
        object.resolve_kconfig(&config).unwrap();
    }
    Ok(())
}

/// How many of the loader fixtures' programs of one entry point need what this host may
/// lack: CO-RE fixtures its BTF (core, core_bitfield, core_match), kconfig its
/// configuration.
pub fn host_dependent_programs() -> usize {
    let btf = std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    let config = bpfkit_object::Kconfig::host().is_ok();
    3 * usize::from(btf) + usize::from(config)
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Every fixture object's name.
pub const FIXTURES: [&str; 6] = ["calls", "checksum", "hash", "loop", "parse", "sort"];

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// `e_machine` and `e_type` in the file header.
pub const E_TYPE: usize = 16;
pub const E_MACHINE: usize = 18;

/// Offsets of section header fields (Elf64_Shdr, 64 bytes).
pub const SH_TYPE: usize = 4;
pub const SH_OFFSET: usize = 0x18;
pub const SH_SIZE: usize = 0x20;
pub const SH_LINK: usize = 0x28;
pub const SH_INFO: usize = 0x2c;

/// Offsets of symbol fields (Elf64_Sym, 24 bytes).
pub const ST_INFO: usize = 4;
pub const ST_SHNDX: usize = 6;
pub const ST_SIZE: usize = 16;

/// Position of section header `index`.
pub fn section_header(b: &[u8], index: usize) -> usize {
    let shoff = u64_at(b, 0x28) as usize;
    let shentsize = u16_at(b, 0x3a) as usize;
    shoff + index * shentsize
}

fn section_count(b: &[u8]) -> usize {
    u16_at(b, 0x3c) as usize
}

fn c_string(b: &[u8], at: usize) -> &[u8] {
    let end = b[at..].iter().position(|&c| c == 0).unwrap();
    &b[at..at + end]
}

/// Index of the section called `name`.
pub fn section_index(b: &[u8], name: &str) -> usize {
    let shstrndx = u16_at(b, 0x3e) as usize;
    let names = u64_at(b, section_header(b, shstrndx) + SH_OFFSET) as usize;
    (0..section_count(b))
        .find(|&i| c_string(b, names + u32_at(b, section_header(b, i)) as usize) == name.as_bytes())
        .unwrap_or_else(|| panic!("no section {name}"))
}

/// File offset of the contents of section `name`.
pub fn section_data(b: &[u8], name: &str) -> usize {
    u64_at(b, section_header(b, section_index(b, name)) + SH_OFFSET) as usize
}

/// File position of the symbol called `name` in `.symtab`.
pub fn symbol(b: &[u8], name: &str) -> usize {
    let symtab = section_header(b, section_index(b, ".symtab"));
    let (start, size) = (
        u64_at(b, symtab + SH_OFFSET) as usize,
        u64_at(b, symtab + SH_SIZE) as usize,
    );
    let strings = u64_at(
        b,
        section_header(b, u32_at(b, symtab + SH_LINK) as usize) + SH_OFFSET,
    ) as usize;
    (start..start + size)
        .step_by(24)
        .find(|&s| c_string(b, strings + u32_at(b, s) as usize) == name.as_bytes())
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

/// Index in `.symtab` of the symbol called `name`.
pub fn symbol_index(b: &[u8], name: &str) -> u32 {
    let symtab = u64_at(
        b,
        section_header(b, section_index(b, ".symtab")) + SH_OFFSET,
    ) as usize;
    ((symbol(b, name) - symtab) / 24) as u32
}

/// File position of relocation `n` (Elf64_Rel, 16 bytes: r_offset, r_info) of section `rel`.
pub fn relocation(b: &[u8], rel: &str, n: usize) -> usize {
    section_data(b, rel) + n * 16
}

/// r_info of a relocation: symbol index in the high half, type in the low half.
pub fn r_info(symbol: u32, kind: u32) -> u64 {
    (u64::from(symbol) << 32) | u64::from(kind)
}
