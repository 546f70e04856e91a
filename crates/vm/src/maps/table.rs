//! The maps a program refers to, and how `lddw` map references resolve against them.
//!
//! A program names maps in two ways (the `src_reg` pseudo forms of `lddw`): by file
//! descriptor (`BPF_PSEUDO_MAP_FD`, `BPF_PSEUDO_MAP_VALUE`), as a loader that created the
//! maps through `bpf(2)` would write, and by index into the program's map array
//! (`BPF_PSEUDO_MAP_IDX`, `BPF_PSEUDO_MAP_IDX_VALUE`). A [`MapTable`] answers both.
//!
//! The register value of a map reference is a handle, [`MAP_HANDLE_BASE`] plus the map's
//! index in the table, rather than an address: helpers resolve it through the same table,
//! and a program that forges a handle gets at most another map of its own table.
//!
//! Resolution is a relocation pass before an engine prepares the program, as Linux's
//! verifier rewrites these `lddw`s into plain 64-bit constants (`resolve_pseudo_ldimm64`):
//! [`MapTable::relocate`] turns every map reference into an `lddw` of its handle or value
//! address, so the interpreter and the JIT need nothing map-specific, and
//! [`MapTable::add_value_regions`] lets a run reach the values such addresses point to.

use super::{Map, MapType};
use crate::memory::Memory;
use bpfkit_isa::{Insn, LddwKind};
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

/// A map reference that does not resolve, with the slot index of its `lddw`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("instruction {pc}: {reason}")]
pub struct RelocateError {
    pub pc: usize,
    pub reason: &'static str,
}

/// Value range of map handles: far from user-space addresses and from the interpreter's
/// function addresses, so no data pointer is mistaken for a map.
pub const MAP_HANDLE_BASE: u64 = 0xffff_ffff_b000_0000;

/// The maps of a program: by index (in the order added) and by file descriptor.
#[derive(Clone, Debug, Default)]
pub struct MapTable {
    maps: Vec<Arc<dyn Map>>,
    fds: BTreeMap<i32, usize>,
}

impl MapTable {
    /// No maps.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `map` at the next index (as `BPF_PSEUDO_MAP_IDX` counts) and returns that
    /// index.
    pub fn push(&mut self, map: Arc<dyn Map>) -> u32 {
        self.maps.push(map);
        (self.maps.len() - 1) as u32
    }

    /// Adds `map` as file descriptor `fd` (it also gets the next index).
    pub fn insert_fd(&mut self, fd: i32, map: Arc<dyn Map>) {
        let index = self.push(map) as usize;
        self.fds.insert(fd, index);
    }

    /// The map at `index`.
    pub fn get(&self, index: u32) -> Option<&Arc<dyn Map>> {
        self.maps.get(index as usize)
    }

    /// The map a handle in a register names.
    pub fn by_handle(&self, handle: u64) -> Option<&Arc<dyn Map>> {
        let index = handle.checked_sub(MAP_HANDLE_BASE)?;
        self.maps.get(usize::try_from(index).ok()?)
    }

    /// The handle of the map with file descriptor `fd`: what a program's lookup in a map of
    /// maps yields.
    pub fn handle_of_fd(&self, fd: u32) -> Option<u64> {
        let index = self.fds.get(&i32::try_from(fd).ok()?)?;
        Some(MAP_HANDLE_BASE + *index as u64)
    }

    /// Every map, by index.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Map>> {
        self.maps.iter()
    }

    fn index(&self, by_fd: bool, imm: i32) -> Result<usize, &'static str> {
        if by_fd {
            self.fds
                .get(&imm)
                .copied()
                .ok_or("no map has this file descriptor")
        } else {
            usize::try_from(imm)
                .ok()
                .filter(|i| *i < self.maps.len())
                .ok_or("no map has this index")
        }
    }

    /// Resolves a map reference: the handle of map `imm` (a file descriptor if `by_fd`,
    /// else an index).
    fn resolve_map(&self, by_fd: bool, imm: i32) -> Result<u64, &'static str> {
        Ok(MAP_HANDLE_BASE + self.index(by_fd, imm)? as u64)
    }

    /// Resolves a map value reference: the address of byte `offset` of the value of
    /// element 0 of map `imm`, which must be an array (as Linux requires of direct
    /// value access), with `offset` inside the value.
    fn resolve_value(&self, by_fd: bool, imm: i32, offset: u32) -> Result<u64, &'static str> {
        let map = &self.maps[self.index(by_fd, imm)?];
        let spec = map.spec();
        if spec.map_type != MapType::Array {
            return Err("direct value access needs an array map");
        }
        if offset >= spec.value_size {
            return Err("the offset is past the end of the map's value");
        }
        let value = map
            .lookup_ptr(&0u32.to_ne_bytes(), 0)
            .ok_or("the array has no element 0")?;
        Ok(value.addr + offset as u64)
    }

    /// The program with every map reference (`lddw` of `MapFd`, `MapIdx`, `MapValue`,
    /// `MapIdxValue`) replaced by an `lddw` of the value it resolves to.
    pub fn relocate(&self, insns: &[Insn]) -> Result<Vec<Insn>, RelocateError> {
        let mut pc = 0;
        insns
            .iter()
            .map(|insn| {
                let at = pc;
                pc += insn.slots();
                let Insn::Lddw {
                    dst,
                    kind,
                    imm,
                    next_imm,
                } = *insn
                else {
                    return Ok(*insn);
                };
                let resolved = match kind {
                    LddwKind::MapFd => self.resolve_map(true, imm),
                    LddwKind::MapIdx => self.resolve_map(false, imm),
                    LddwKind::MapValue => self.resolve_value(true, imm, next_imm as u32),
                    LddwKind::MapIdxValue => self.resolve_value(false, imm, next_imm as u32),
                    _ => return Ok(*insn),
                };
                let value = resolved.map_err(|reason| RelocateError { pc: at, reason })?;
                Ok(Insn::lddw(dst, value))
            })
            .collect()
    }

    /// Adds to `memory` the regions that map value references of [`MapTable::relocate`]
    /// may point into: the value memory of the table's array maps. Borrowing the table for
    /// as long as the memory lives keeps the maps alive for the run.
    pub fn add_value_regions<'m>(&'m self, memory: &mut Memory<'m>) {
        for map in &self.maps {
            if map.spec().map_type != MapType::Array {
                continue;
            }
            if let Some(value) = map.lookup_ptr(&0u32.to_ne_bytes(), 0) {
                // SAFETY: the region is the array's value block, live while the map is,
                // which `'m` guarantees for the run; map memory is only ever accessed
                // through atomics and raw pointers, never through exclusive references.
                unsafe { memory.add_raw(value.region) };
            }
        }
    }
}
