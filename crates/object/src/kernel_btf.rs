//! The object's BTF as the kernel's `BPF_BTF_LOAD` accepts it. clang leaves each data
//! section's `DATASEC` with size 0 and its variables' offsets for the loader to fill, and
//! describes externs with `extern` linkage, which the kernel refuses; libbpf fixes both
//! before loading (`btf_fixup_datasec`, `bpf_object__collect_externs`), and so does this:
//!
//! - a `DATASEC` of a section the object has gets the section's size, and each variable
//!   its symbol's offset;
//! - `.kconfig`'s variables get their places in the `.kconfig` map and global linkage;
//! - `.ksyms`'s variables become 4-byte `int` variables one after another, as libbpf
//!   makes them (the kernel only checks the section is well formed);
//! - each `DATASEC`'s variables are sorted by offset, which the kernel requires.

use crate::btf::BtfKind;
use crate::error::ObjectError;
use crate::externs::KSYMS;
use crate::Object;

/// `BTF_VAR_GLOBAL_ALLOCATED`.
const GLOBAL_ALLOCATED: u32 = 1;
/// Bytes of a type's common header (name, info, size or type).
const HEADER: usize = 12;
/// Bytes of one `struct btf_var_secinfo`.
const SECINFO: usize = 12;

impl Object {
    /// The object's BTF fixed up for the kernel (see the module documentation), or `None`
    /// for an object without BTF.
    pub fn kernel_btf(&self) -> Result<Option<Vec<u8>>, ObjectError> {
        let Some(btf) = &self.btf else {
            return Ok(None);
        };
        let mut raw = btf.raw().to_vec();
        let int = btf
            .types()
            .find(|(_, t)| matches!(t.kind, BtfKind::Int { size: 4, .. }))
            .map(|(id, _)| id);
        for (id, ty) in btf.types() {
            let BtfKind::Datasec { vars } = &ty.kind else {
                continue;
            };
            let at = btf.position(id);
            if ty.name == KSYMS {
                let int = int.ok_or_else(|| ObjectError::Btf {
                    section: ".BTF".into(),
                    offset: at as u64,
                    reason: "__ksym variables need a 4-byte int type to stand for them, and the BTF has none".into(),
                })?;
                for (i, var) in vars.iter().enumerate() {
                    let secinfo = at + HEADER + i * SECINFO;
                    put(&mut raw, secinfo + 4, 4 * i as u32);
                    put(&mut raw, secinfo + 8, 4);
                    if let Some(BtfKind::Var { .. }) = btf.get(var.type_id)?.map(|t| &t.kind) {
                        let var_at = btf.position(var.type_id);
                        put(&mut raw, var_at + 8, int);
                        put(&mut raw, var_at + HEADER, GLOBAL_ALLOCATED);
                    }
                }
                put(&mut raw, at + 8, 4 * vars.len() as u32);
                continue;
            }
            let Some(section) = self.elf.data.iter().find(|d| d.name == ty.name) else {
                continue;
            };
            put(&mut raw, at + 8, section.size as u32);
            for (i, var) in vars.iter().enumerate() {
                let Some(var_type) = btf.get(var.type_id)? else {
                    continue;
                };
                let Some(symbol) = section.symbols.iter().find(|s| s.name == var_type.name) else {
                    continue;
                };
                put(
                    &mut raw,
                    at + HEADER + i * SECINFO + 4,
                    symbol.offset as u32,
                );
                if matches!(var_type.kind, BtfKind::Var { .. }) {
                    put(
                        &mut raw,
                        btf.position(var.type_id) + HEADER,
                        GLOBAL_ALLOCATED,
                    );
                }
            }
            sort_by_offset(&mut raw[at + HEADER..at + HEADER + vars.len() * SECINFO]);
        }
        Ok(Some(raw))
    }
}

/// Sorts `struct btf_var_secinfo` records (type, offset, size) by offset.
fn sort_by_offset(records: &mut [u8]) {
    let mut sorted: Vec<[u8; SECINFO]> = records
        .chunks_exact(SECINFO)
        .map(|r| r.try_into().expect("12-byte chunks"))
        .collect();
    sorted.sort_by_key(|r| u32::from_le_bytes([r[4], r[5], r[6], r[7]]));
    records.copy_from_slice(sorted.as_flattened());
}

/// Stores `value` little-endian at `at` (a position inside a parsed type, so in bounds).
fn put(raw: &mut [u8], at: usize, value: u32) {
    raw[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::Btf;

    /// A DATASEC: its name, size and variables (name, offset).
    type Datasec = (String, u32, Vec<(String, u32)>);

    /// The DATASECs of `bytes`.
    fn datasecs(bytes: &[u8]) -> Vec<Datasec> {
        let btf = Btf::parse(bytes).unwrap();
        let size_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        btf.types()
            .filter_map(|(id, t)| match &t.kind {
                BtfKind::Datasec { vars } => Some((
                    t.name.clone(),
                    size_at(btf.position(id) + 8),
                    vars.iter()
                        .map(|v| (btf.get(v.type_id).unwrap().unwrap().name.clone(), v.offset))
                        .collect(),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn datasecs_get_their_sections_sizes_and_symbols_offsets() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/loader/kconfig.o"
        );
        let object = Object::parse(&std::fs::read(path).unwrap()).unwrap();
        let fixed = object.kernel_btf().unwrap().unwrap();
        let secs = datasecs(&fixed);
        // license: "GPL\0", 4 bytes. .kconfig, laid out by alignment then size then name:
        // CONFIG_BPF_SYSCALL (4, tristate) 0, CONFIG_HZ (4) 4, LINUX_KERNEL_VERSION (4) 8,
        // CONFIG_BPF (1) 12, CONFIG_BPFKIT_NOT_AN_OPTION (1) 13,
        // CONFIG_DEFAULT_HOSTNAME (16 x 1) 14; 30 bytes.
        let kconfig = secs.iter().find(|s| s.0 == ".kconfig").unwrap();
        assert_eq!(kconfig.1, 30);
        let mut offsets = kconfig.2.clone();
        offsets.sort_by_key(|(_, o)| *o);
        let names: Vec<(&str, u32)> = offsets.iter().map(|(n, o)| (n.as_str(), *o)).collect();
        assert_eq!(
            names,
            [
                ("CONFIG_BPF_SYSCALL", 0),
                ("CONFIG_HZ", 4),
                ("LINUX_KERNEL_VERSION", 8),
                ("CONFIG_BPF", 12),
                ("CONFIG_BPFKIT_NOT_AN_OPTION", 13),
                ("CONFIG_DEFAULT_HOSTNAME", 14),
            ]
        );
        let license = secs.iter().find(|s| s.0 == "license").unwrap();
        assert_eq!(license.1, 4);
    }
}
