//! `.BTF.ext`: per code section, the function info (where each function starts and its
//! BTF `FUNC` type) and the line info (which source line each instruction comes from).
//! Offsets in the object are in bytes from the start of the code section, as clang writes
//! them; libbpf divides them by 8 when it hands them to the kernel.
//!
//! Newer headers add a third table, the CO-RE relocations ([`crate::core`]).

use crate::btf::{error, string_at, sub_range, Reader};
use crate::error::ObjectError;

/// Bytes of the version 1 header up to the line info table.
const MIN_HEADER_LEN: usize = 24;
/// Bytes of one `struct bpf_func_info` / `struct bpf_line_info`.
const FUNC_INFO_LEN: usize = 8;
const LINE_INFO_LEN: usize = 16;
const CORE_RELO_LEN: usize = 16;
/// Bytes of a header with the CO-RE relocation table.
const CORE_HEADER_LEN: usize = 32;

/// A function's start and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    /// Byte offset of the function's first instruction in its section.
    pub offset: u64,
    /// Its BTF `FUNC` type id.
    pub type_id: u32,
}

/// The source position of the instructions from `offset` up to the next record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// Byte offset of the first instruction in its section.
    pub offset: u64,
    /// The source file, as clang recorded its name.
    pub file: String,
    /// The text of the source line, as clang recorded it.
    pub source: String,
    /// Line number, from 1.
    pub line: u32,
    /// Column, from 1 (0 when unknown).
    pub column: u32,
}

/// A CO-RE relocation record (`struct bpf_core_relo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// Byte offset of the instruction to patch in its section.
    pub offset: u64,
    /// The local BTF type the access starts from.
    pub type_id: u32,
    /// The access string: `0:1:2`, member and array indices from the type.
    pub access: String,
    /// `enum bpf_core_relo_kind`.
    pub kind: u32,
}

/// A parsed `.BTF.ext`: records per code section name.
#[derive(Clone, Debug, Default)]
pub struct BtfExt {
    pub func_info: Vec<(String, Vec<FuncInfo>)>,
    pub line_info: Vec<(String, Vec<LineInfo>)>,
    pub core_relos: Vec<(String, Vec<CoreRelo>)>,
}

impl BtfExt {
    /// Parses `.BTF.ext`; names are offsets into the string table of `.BTF`.
    pub fn parse(bytes: &[u8], strings: &[u8]) -> Result<BtfExt, ObjectError> {
        let section = ".BTF.ext";
        let mut r = Reader::new(bytes, 0, section);
        if r.u16()? != 0xeb9f {
            return Err(error(section, 0, "bad magic number (expected 0xeb9f)"));
        }
        let version = r.u8()?;
        if version != 1 {
            return Err(error(section, 2, format!("unknown version {version}")));
        }
        r.u8()?; // flags
        let hdr_len = r.u32()? as usize;
        if hdr_len < MIN_HEADER_LEN {
            return Err(error(section, 4, format!("header length {hdr_len} < 24")));
        }
        let (func_off, func_len) = (r.u32()? as usize, r.u32()? as usize);
        let (line_off, line_len) = (r.u32()? as usize, r.u32()? as usize);
        let func = sub_range(bytes, hdr_len, func_off, func_len, section, "func info")?;
        let line = sub_range(bytes, hdr_len, line_off, line_len, section, "line info")?;
        let func_info = read_table(func, hdr_len + func_off, strings, FUNC_INFO_LEN, |r| {
            let offset = u64::from(r.u32()?);
            Ok(FuncInfo {
                offset,
                type_id: r.u32()?,
            })
        })?;
        let line_info = read_table(line, hdr_len + line_off, strings, LINE_INFO_LEN, |r| {
            let offset = u64::from(r.u32()?);
            let file = string_at(strings, r.u32()?, ".BTF")?;
            let source = string_at(strings, r.u32()?, ".BTF")?;
            // `line_col`: the line in the high 22 bits, the column in the low 10.
            let line_col = r.u32()?;
            Ok(LineInfo {
                offset,
                file,
                source,
                line: line_col >> 10,
                column: line_col & 0x3ff,
            })
        })?;
        let core_relos = if hdr_len >= CORE_HEADER_LEN {
            let (core_off, core_len) = (r.u32()? as usize, r.u32()? as usize);
            let core = sub_range(
                bytes,
                hdr_len,
                core_off,
                core_len,
                section,
                "CO-RE relocations",
            )?;
            read_table(core, hdr_len + core_off, strings, CORE_RELO_LEN, |r| {
                Ok(CoreRelo {
                    offset: u64::from(r.u32()?),
                    type_id: r.u32()?,
                    access: string_at(strings, r.u32()?, ".BTF")?,
                    kind: r.u32()?,
                })
            })?
        } else {
            Vec::new()
        };
        Ok(BtfExt {
            func_info,
            line_info,
            core_relos,
        })
    }
}

/// One table: a record size, then per section its name, its record count and the
/// records. Records larger than bpfkit knows are allowed (newer fields follow), smaller
/// ones are not.
fn read_table<T>(
    bytes: &[u8],
    base: usize,
    strings: &[u8],
    min_record: usize,
    mut record: impl FnMut(&mut Reader<'_>) -> Result<T, ObjectError>,
) -> Result<Vec<(String, Vec<T>)>, ObjectError> {
    let section = ".BTF.ext";
    let mut sections = Vec::new();
    if bytes.is_empty() {
        return Ok(sections);
    }
    let mut r = Reader::new(bytes, base, section);
    let record_size = r.u32()? as usize;
    if record_size < min_record {
        return Err(error(
            section,
            base,
            format!("record size {record_size} is smaller than {min_record}"),
        ));
    }
    while !r.is_empty() {
        let name = string_at(strings, r.u32()?, ".BTF")?;
        let count = r.u32()?;
        let mut records = Vec::new();
        for _ in 0..count {
            let at = r.position();
            let mut one = Reader::new(r.take(record_size)?, at, section);
            records.push(record(&mut one)?);
        }
        sections.push((name, records));
    }
    Ok(sections)
}
