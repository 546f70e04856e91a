//! What an `lddw` relocated against data becomes, as libbpf decides in
//! `bpf_program__record_reloc` and applies in `bpf_object__relocate_data`:
//!
//! - against a map's symbol (in `maps` or `.maps`): a map reference, `lddw` with
//!   `src_reg = BPF_PSEUDO_MAP_IDX` and the map's index in [`crate::Object::maps`];
//! - against global data (a variable, or the section symbol with the offset in the
//!   instruction's immediate): a map value reference, `BPF_PSEUDO_MAP_IDX_VALUE` with the
//!   section's map index and the byte offset `symbol value + imm` in the second immediate;
//!   a `__kconfig` extern is a variable of the `.kconfig` map;
//! - against a `__ksym` extern: address 0 when it is `__weak` (no kernel symbol exists
//!   outside the kernel), an error otherwise.
//!
//! bpfkit's map table resolves map indices when it prepares a program; a loader that
//! creates the maps in the kernel rewrites them to file descriptors.

use crate::elf::{CodeSection, DataKind, Elf, Relocation, Target};
use crate::error::ObjectError;
use crate::maps::Site;
use bpfkit_isa::LddwKind;

/// The maps of an object, for resolving relocations against them.
pub(crate) struct MapSites<'a> {
    pub elf: &'a Elf,
    pub sites: &'a [Site],
    /// The names of the `__ksym` externs.
    pub ksyms: &'a [String],
}

impl MapSites<'_> {
    /// The `lddw` pseudo form, immediate and second immediate that `rel` (at an `lddw`
    /// of `code` whose immediate is `imm`) turns into.
    pub fn resolve(
        &self,
        code: &CodeSection,
        rel: &Relocation,
        imm: i32,
    ) -> Result<(LddwKind, i32, i32), ObjectError> {
        let fail = |reason: &str| ObjectError::BadReference {
            section: code.name.clone(),
            offset: rel.offset,
            symbol: rel.symbol.clone(),
            reason: reason.to_string(),
        };
        let d = match rel.target {
            Target::Data(d) => d,
            Target::Extern { weak } if self.ksyms.contains(&rel.symbol) => {
                return if weak {
                    Ok((LddwKind::Imm64, 0, 0))
                } else {
                    Err(fail("it is a kernel symbol (__ksym), which exists only in the kernel: declare it __weak to read address 0 instead"))
                };
            }
            Target::Code(_) => {
                return Err(fail("a function's address is only taken by a callback lddw"))
            }
            _ => {
                return Err(fail(
                    "it is defined neither in the object (a map or global data) nor as a __kconfig or __ksym extern",
                ))
            }
        };
        let find = |offset: u64| {
            self.sites
                .iter()
                .position(|s| s.data == d && s.offset == offset)
        };
        match self.elf.data[d].kind {
            DataKind::LegacyMaps | DataKind::BtfMaps => {
                let index = find(rel.value).ok_or_else(|| fail("no map is defined there"))?;
                Ok((LddwKind::MapIdx, index as i32, 0))
            }
            DataKind::Data | DataKind::Rodata | DataKind::Bss | DataKind::Kconfig => {
                let index = find(0).ok_or_else(|| fail("the section is empty"))?;
                let offset = i64::try_from(rel.value)
                    .ok()
                    .and_then(|v| v.checked_add(i64::from(imm)))
                    .filter(|&o| o >= 0 && (o as u64) < self.sites[index].size)
                    .ok_or_else(|| fail("the offset lies outside the section"))?;
                Ok((LddwKind::MapIdxValue, index as i32, offset as i32))
            }
            _ => Err(fail("the section holds neither maps nor global data")),
        }
    }
}
