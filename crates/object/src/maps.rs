//! Map definitions, as libbpf finds them (`bpf_object__init_maps`), in its order:
//! legacy definitions of the `maps` section (`struct bpf_map_def`, one per symbol),
//! BTF-defined maps of `.maps` (one variable per map, described by its BTF struct), then
//! one single-element array per global data section (`.data*`, `.rodata*`, `.bss*`), and
//! last the `.kconfig` externs' array.
//! A program's `lddw`s name maps by their index in this order.

use crate::btf::{Btf, BtfKind, TypeId};
use crate::elf::{DataKind, DataSection, Elf, Target};
use crate::error::{ObjectError, R_BPF_64_64, R_BPF_64_ABS64};

/// `BPF_MAP_TYPE_ARRAY`.
pub const BPF_MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_PROG_ARRAY`.
pub const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
/// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
pub const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
/// `BPF_MAP_TYPE_HASH_OF_MAPS`.
pub const BPF_MAP_TYPE_HASH_OF_MAPS: u32 = 13;
/// `BPF_F_RDONLY_PROG`: programs may read the map but not write it.
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;

/// The map types whose values may hold a `struct bpf_spin_lock` (`map_check_btf`): hash,
/// array, and the cgroup, socket, inode, task and cgroup local storages.
const SPIN_LOCK_MAP_TYPES: [u32; 7] = [1, 2, 19, 24, 28, 29, 32];

/// What a map is made from: a plain description that a map implementation (bpfkit's, or
/// the kernel's through `BPF_MAP_CREATE`) creates maps from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// The variable's name, or the section's for global data (`.rodata`, ...).
    pub name: String,
    /// The section it was defined in: `.maps`, `maps`, or the global data section.
    pub section: String,
    /// `enum bpf_map_type`.
    pub map_type: u32,
    pub key_size: u32,
    /// The size of one value (for maps of maps and program arrays, 4: an fd).
    pub value_size: u32,
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    pub flags: u32,
    pub numa_node: u32,
    pub map_extra: u64,
    /// `LIBBPF_PIN_*` (0 none, 1 by name); for a legacy definition in iproute2's layout,
    /// its `PIN_*` (0 none, 1 object namespace, 2 global namespace).
    pub pinning: u32,
    /// For maps of maps: the definition of the maps it holds.
    pub inner: Option<Box<MapDef>>,
    /// The BTF type ids of the key and the value (`__type(key, ...)`,
    /// `__type(value, ...)`; for global data holding a spin lock, no key and its
    /// section's DATASEC), 0 where the definition gives only a size.
    pub btf_key_type: TypeId,
    pub btf_value_type: TypeId,
    /// The offset of the `struct bpf_spin_lock` in the value, when its BTF type has one
    /// ([`Btf::spin_lock_offset`], [`Btf::datasec_spin_lock`] for global data).
    pub spin_lock: Option<u32>,
    /// The contents to give the map once created.
    pub initial: Initial,
}

/// A map's initial contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Initial {
    /// None: created empty (or zeroed, for arrays).
    Empty,
    /// Global data: the value of element 0 (`.bss` has none: it is all zeros).
    Data(Vec<u8>),
    /// The `values` of a program array (program names) or a map of maps (map names), by
    /// slot index.
    Slots(Vec<(u32, String)>),
}

impl MapDef {
    /// What the verifier needs to know of the map (and of the maps a map of maps holds).
    #[cfg(feature = "verifier")]
    pub fn verifier_spec(&self) -> bpfkit_verifier::MapSpec {
        bpfkit_verifier::MapSpec {
            fd: None,
            map_type: self.map_type,
            key_size: self.key_size,
            value_size: self.value_size,
            max_entries: self.max_entries,
            flags: self.flags,
            inner: self.inner.as_deref().map(|d| Box::new(d.verifier_spec())),
            spin_lock: self.spin_lock,
            frozen: self.frozen_contents(),
        }
    }

    /// The contents of a global data map programs may only read (`.rodata`, `.kconfig`),
    /// which the loader freezes once they are written, as libbpf does
    /// (`bpf_object__populate_internal_map`); `None` for any other map.
    pub fn frozen_contents(&self) -> Option<Vec<u8>> {
        if !self.is_global_data() || self.flags & BPF_F_RDONLY_PROG == 0 {
            return None;
        }
        let mut value = match &self.initial {
            Initial::Data(bytes) => bytes.clone(),
            _ => Vec::new(),
        };
        value.resize(self.value_size as usize, 0);
        Some(value)
    }

    /// Whether the map is global data (an array holding a section).
    pub fn is_global_data(&self) -> bool {
        self.map_type == BPF_MAP_TYPE_ARRAY && !matches!(self.section.as_str(), ".maps" | "maps")
    }
}

/// Where a map is defined: its symbol's range in a data section, which the code's
/// relocations point at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Site {
    pub data: usize,
    pub offset: u64,
    pub size: u64,
    /// For BTF-defined maps with `values`: the byte offset of that member.
    pub values: Option<u64>,
}

/// Where iproute2's `struct bpf_elf_map` has inner_id: the first byte of a legacy
/// definition bpfkit does not read.
const ELF_MAP_INNER: usize = 28;

/// Reads every map definition of the object, in libbpf's order.
pub(crate) fn read_maps(
    elf: &Elf,
    btf: Option<&Btf>,
) -> Result<(Vec<MapDef>, Vec<Site>), ObjectError> {
    let mut maps = Vec::new();
    let mut sites = Vec::new();
    for (d, section) in elf.data.iter().enumerate() {
        if section.kind == DataKind::LegacyMaps {
            read_legacy(section, d, &mut maps, &mut sites)?;
        }
    }
    for (d, section) in elf.data.iter().enumerate() {
        if section.kind == DataKind::BtfMaps {
            let btf = btf.ok_or_else(|| ObjectError::Map {
                map: section.name.clone(),
                reason: "the object has a .maps section but no .BTF to describe it".into(),
            })?;
            let first = maps.len();
            read_btf_maps(section, d, btf, &mut maps, &mut sites)?;
            read_slots(section, elf, &mut maps[first..], &sites[first..])?;
        }
    }
    for (d, section) in elf.data.iter().enumerate() {
        let flags = match section.kind {
            DataKind::Rodata | DataKind::Kconfig => BPF_F_RDONLY_PROG,
            DataKind::Data | DataKind::Bss => 0,
            _ => continue,
        };
        // libbpf makes no map of an empty section.
        if section.size == 0 {
            continue;
        }
        let value_size = u32::try_from(section.size).map_err(|_| ObjectError::Map {
            map: section.name.clone(),
            reason: format!(
                "the section is {} bytes, more than a map value can hold",
                section.size
            ),
        })?;
        // A global `struct bpf_spin_lock`: the kernel finds it in the section's DATASEC,
        // which libbpf gives as the value's type.
        let lock = match btf {
            Some(btf) => btf.datasec_spin_lock(&section.name, |name| {
                let symbol = section.symbols.iter().find(|s| s.name == name);
                symbol.map(|s| s.offset)
            })?,
            None => None,
        };
        maps.push(MapDef {
            name: section.name.clone(),
            section: section.name.clone(),
            map_type: BPF_MAP_TYPE_ARRAY,
            key_size: 4,
            value_size,
            max_entries: 1,
            flags,
            numa_node: 0,
            map_extra: 0,
            pinning: 0,
            inner: None,
            btf_key_type: 0,
            btf_value_type: lock.map_or(0, |(datasec, _)| datasec),
            spin_lock: lock.map(|(_, off)| off),
            initial: if section.kind == DataKind::Bss {
                Initial::Empty
            } else {
                Initial::Data(section.bytes.clone())
            },
        });
        sites.push(Site {
            data: d,
            offset: 0,
            size: section.size,
            values: None,
        });
    }
    Ok((maps, sites))
}

/// `struct bpf_map_def` (type, key_size, value_size, max_entries, map_flags): each symbol
/// of the section is one, all of the same size (the section size over the symbol count),
/// as libbpf 0.x's `bpf_object__init_user_maps` read them. A definition may be shorter
/// (the missing fields are 0) or longer: iproute2's `struct bpf_elf_map` continues with
/// id, pinning, inner_id and inner_idx; the id is only iproute2's own name for the map,
/// the pinning is kept, and any other byte must be 0 (iproute2's maps of maps are not
/// supported).
fn read_legacy(
    section: &DataSection,
    d: usize,
    maps: &mut Vec<MapDef>,
    sites: &mut Vec<Site>,
) -> Result<(), ObjectError> {
    let count = section.symbols.len() as u64;
    if count == 0 {
        return Ok(());
    }
    let def_size = section.size / count;
    if def_size == 0 || !section.size.is_multiple_of(count) {
        return Err(ObjectError::Map {
            map: section.name.clone(),
            reason: format!(
                "{} bytes do not divide into {count} map definitions of equal size",
                section.size
            ),
        });
    }
    for symbol in &section.symbols {
        let bytes = section
            .bytes
            .get(symbol.offset as usize..)
            .and_then(|b| b.get(..def_size as usize))
            .ok_or_else(|| ObjectError::Map {
                map: symbol.name.clone(),
                reason: format!(
                    "its definition at maps+{:#x} ({def_size} bytes) lies outside the section",
                    symbol.offset
                ),
            })?;
        if bytes.iter().skip(ELF_MAP_INNER).any(|&b| b != 0) {
            return Err(ObjectError::Map {
                map: symbol.name.clone(),
                reason: "its definition has non-zero fields past id and pinning (iproute2's inner_id/inner_idx for maps of maps are not supported)".into(),
            });
        }
        let field = |i: usize| {
            bytes
                .get(i * 4..i * 4 + 4)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        maps.push(MapDef {
            name: symbol.name.clone(),
            section: section.name.clone(),
            map_type: field(0),
            key_size: field(1),
            value_size: field(2),
            max_entries: field(3),
            flags: field(4),
            numa_node: 0,
            map_extra: 0,
            pinning: field(6),
            inner: None,
            btf_key_type: 0,
            btf_value_type: 0,
            spin_lock: None,
            initial: Initial::Empty,
        });
        sites.push(Site {
            data: d,
            offset: symbol.offset,
            size: def_size,
            values: None,
        });
    }
    Ok(())
}

/// Every variable of the `.maps` DATASEC is a map; its offset in the section is its
/// ELF symbol's (clang leaves the DATASEC's offsets 0 for the loader to fill in).
fn read_btf_maps(
    section: &DataSection,
    d: usize,
    btf: &Btf,
    maps: &mut Vec<MapDef>,
    sites: &mut Vec<Site>,
) -> Result<(), ObjectError> {
    let Some(vars) = btf.datasec(".maps") else {
        return Err(ObjectError::Map {
            map: section.name.clone(),
            reason: "BTF has no DATASEC .maps describing the section".into(),
        });
    };
    for var in vars {
        let var_type = btf.get(var.type_id)?;
        let Some((name, type_id)) = var_type.and_then(|t| match t.kind {
            BtfKind::Var { type_id } => Some((t.name.clone(), type_id)),
            _ => None,
        }) else {
            return Err(ObjectError::Map {
                map: section.name.clone(),
                reason: format!("DATASEC entry {} is not a variable", var.type_id),
            });
        };
        let symbol = section
            .symbols
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ObjectError::Map {
                map: name.clone(),
                reason: "no symbol of that name in .maps".into(),
            })?;
        let (def, values) = parse_btf_def(btf, &name, type_id, true)?;
        maps.push(def);
        sites.push(Site {
            data: d,
            offset: symbol.offset,
            size: symbol.size,
            values,
        });
    }
    Ok(())
}

/// A map's BTF struct: each member is one attribute, its value encoded in its type as
/// `bpf_helpers.h`'s `__uint`, `__type` and `__array` write it. Mirrors libbpf's
/// `parse_btf_map_def`, including its refusal of unknown members. Also gives the byte
/// offset of the `values` member, if any.
fn parse_btf_def(
    btf: &Btf,
    name: &str,
    type_id: TypeId,
    outer: bool,
) -> Result<(MapDef, Option<u64>), ObjectError> {
    let fail = |reason: String| ObjectError::Map {
        map: name.to_string(),
        reason,
    };
    let members = match btf.skip_mods(type_id)?.1.map(|t| &t.kind) {
        Some(BtfKind::Struct { members, .. }) => members,
        _ => return Err(fail("its type is not a struct".into())),
    };
    let mut def = MapDef {
        name: name.to_string(),
        // Inner map definitions too: they are described in `.maps`.
        section: ".maps".to_string(),
        map_type: 0,
        key_size: 0,
        value_size: 0,
        max_entries: 0,
        flags: 0,
        numa_node: 0,
        map_extra: 0,
        pinning: 0,
        inner: None,
        btf_key_type: 0,
        btf_value_type: 0,
        spin_lock: None,
        initial: Initial::Empty,
    };
    let mut key_type = None;
    let mut value_type = None;
    let mut values = None;
    for member in members {
        let int =
            || field_int(btf, member.type_id).map_err(|r| fail(format!("`{}`: {r}", member.name)));
        match member.name.as_str() {
            "type" => def.map_type = int()?,
            "max_entries" => def.max_entries = int()?,
            "map_flags" => def.flags = int()?,
            "numa_node" => def.numa_node = int()?,
            "key_size" => def.key_size = int()?,
            "value_size" => def.value_size = int()?,
            "pinning" => def.pinning = int()?,
            "map_extra" => def.map_extra = u64::from(int()?),
            "key" => {
                def.btf_key_type = pointee(btf, member.type_id, name, "key")?;
                key_type = Some(type_size(btf, def.btf_key_type, name, "key")?);
            }
            "value" => {
                def.btf_value_type = pointee(btf, member.type_id, name, "value")?;
                value_type = Some(type_size(btf, def.btf_value_type, name, "value")?);
                def.spin_lock = btf.spin_lock_offset(def.btf_value_type)?;
            }
            "values" => values = Some((member.type_id, u64::from(member.bit_offset / 8))),
            other => return Err(fail(format!("unknown member `{other}`"))),
        }
    }
    // The kernel refuses a spin lock in the values of other map types (`map_check_btf`),
    // and libbpf then creates the map without BTF: no lock the verifier knows of.
    if !SPIN_LOCK_MAP_TYPES.contains(&def.map_type) {
        def.spin_lock = None;
    }
    for (what, size, from_type) in [
        ("key", &mut def.key_size, key_type),
        ("value", &mut def.value_size, value_type),
    ] {
        if let Some(from_type) = from_type {
            if *size != 0 && *size != from_type {
                return Err(fail(format!(
                    "{what}_size {} differs from the size of its {what} type ({from_type})",
                    *size
                )));
            }
            *size = from_type;
        }
    }
    if let Some((values, _)) = values {
        let is_map_in_map = matches!(
            def.map_type,
            BPF_MAP_TYPE_ARRAY_OF_MAPS | BPF_MAP_TYPE_HASH_OF_MAPS
        );
        if !is_map_in_map && def.map_type != BPF_MAP_TYPE_PROG_ARRAY {
            return Err(fail(
                "`values` is for maps of maps and program arrays only".into(),
            ));
        }
        if def.value_size != 0 && def.value_size != 4 {
            return Err(fail(format!("value size {} is not 4", def.value_size)));
        }
        def.value_size = 4;
        let elem = match btf.get(values)?.map(|t| &t.kind) {
            Some(BtfKind::Array { elem, nelems: 0 }) => *elem,
            _ => return Err(fail("`values` is not a zero-sized array".into())),
        };
        let target = match btf.skip_mods(elem)?.1.map(|t| &t.kind) {
            Some(BtfKind::Ptr(target)) => btf.skip_mods(*target)?,
            _ => return Err(fail("`values` is not an array of pointers".into())),
        };
        match (is_map_in_map, target.1.map(|t| &t.kind)) {
            (false, Some(BtfKind::FuncProto { .. })) => {}
            (true, Some(BtfKind::Struct { .. })) if outer => {
                let (inner, _) = parse_btf_def(btf, &format!("{name}.inner"), target.0, false)?;
                def.inner = Some(Box::new(inner));
            }
            (true, Some(BtfKind::Struct { .. })) => {
                return Err(fail("a map of maps cannot be an inner map".into()))
            }
            (false, _) => return Err(fail("program array values are not functions".into())),
            (true, _) => return Err(fail("the inner map definition is not a struct".into())),
        }
    }
    Ok((def, values.map(|(_, offset)| offset)))
}

/// The number `__uint(name, n)` encodes: the type is a pointer to an array of `n`
/// elements (libbpf's `get_map_field_int`).
fn field_int(btf: &Btf, id: TypeId) -> Result<u32, String> {
    let array = match btf
        .skip_mods(id)
        .map_err(|e| e.to_string())?
        .1
        .map(|t| &t.kind)
    {
        Some(BtfKind::Ptr(target)) => btf.get(*target).map_err(|e| e.to_string())?,
        _ => return Err("not a pointer (as __uint declares)".into()),
    };
    match array.map(|t| &t.kind) {
        Some(BtfKind::Array { nelems, .. }) => Ok(*nelems),
        _ => Err("not a pointer to an array (as __uint declares)".into()),
    }
}

/// The type `T` that `__type(name, T)` encodes: the member's type is a pointer to `T`.
fn pointee(btf: &Btf, id: TypeId, map: &str, what: &str) -> Result<TypeId, ObjectError> {
    match btf.skip_mods(id)?.1.map(|t| &t.kind) {
        Some(BtfKind::Ptr(target)) => Ok(*target),
        _ => Err(ObjectError::Map {
            map: map.to_string(),
            reason: format!("`{what}` is not a pointer (as __type declares)"),
        }),
    }
}

/// The size of a key or value type.
fn type_size(btf: &Btf, id: TypeId, map: &str, what: &str) -> Result<u32, ObjectError> {
    let size = btf.size_of(id)?;
    u32::try_from(size).map_err(|_| ObjectError::Map {
        map: map.to_string(),
        reason: format!("{what} size {size} is too large"),
    })
}

/// The `values` of program arrays and maps of maps: relocations in `.maps` at the
/// pointer slots of the `values` member, against a program or a map (libbpf's
/// `bpf_object__collect_map_relos`).
fn read_slots(
    section: &DataSection,
    elf: &Elf,
    maps: &mut [MapDef],
    sites: &[Site],
) -> Result<(), ObjectError> {
    for rel in &section.relocations {
        let fail = |reason: String| ObjectError::BadReference {
            section: section.name.clone(),
            offset: rel.offset,
            symbol: rel.symbol.clone(),
            reason,
        };
        if rel.kind != R_BPF_64_64 && rel.kind != R_BPF_64_ABS64 {
            return Err(fail(format!(
                "{} is not a pointer relocation",
                crate::relocation_name(rel.kind)
            )));
        }
        // The map whose definition holds the slot.
        let Some(m) = sites
            .iter()
            .position(|s| s.offset <= rel.offset && rel.offset - s.offset < s.size)
        else {
            return Err(fail("it is not inside a map definition".into()));
        };
        let map = &mut maps[m];
        let slot = sites[m]
            .values
            .and_then(|values| rel.offset.checked_sub(sites[m].offset + values))
            .filter(|off| off.is_multiple_of(8))
            .map(|off| off / 8)
            .ok_or_else(|| fail(format!("it is not a `values` slot of map `{}`", map.name)))?;
        let name_ok = match (map.map_type, rel.target) {
            (BPF_MAP_TYPE_PROG_ARRAY, Target::Code(c)) => {
                elf.code[c].functions.iter().any(|f| f.name == rel.symbol)
            }
            (BPF_MAP_TYPE_ARRAY_OF_MAPS | BPF_MAP_TYPE_HASH_OF_MAPS, Target::Data(d)) => {
                elf.data[d].kind == DataKind::BtfMaps
            }
            _ => false,
        };
        if !name_ok {
            return Err(fail(format!(
                "a slot of map `{}` must name a {}",
                map.name,
                if map.map_type == BPF_MAP_TYPE_PROG_ARRAY {
                    "program"
                } else {
                    "map of .maps"
                }
            )));
        }
        if slot >= u64::from(map.max_entries) {
            return Err(fail(format!(
                "slot {slot} is past the {} entries of map `{}`",
                map.max_entries, map.name
            )));
        }
        let Initial::Slots(slots) = &mut map.initial else {
            map.initial = Initial::Slots(vec![(slot as u32, rel.symbol.clone())]);
            continue;
        };
        slots.push((slot as u32, rel.symbol.clone()));
    }
    Ok(())
}
