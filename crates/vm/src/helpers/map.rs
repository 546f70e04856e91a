//! The map helpers: `bpf_map_lookup_elem`, `_update_elem`, `_delete_elem`, `_push_elem`,
//! `_pop_elem`, `_peek_elem`. Keys and values are read from and written to the program's
//! checked memory; errors are returned to the program as `-errno`, as in Linux.

use super::{HelperContext, HelperError};
use crate::error::Fault;
use crate::maps::{cpu, Cpus, Map, MapTable, MapType};
use crate::memory::{Memory, Region};
use std::sync::Arc;

/// The map a handle in `r1` names; anything else is a program error (the kernel's verifier
/// would have rejected it).
pub(super) fn map(maps: &MapTable, handle: u64) -> Result<&Arc<dyn Map>, HelperError> {
    maps.by_handle(handle)
        .ok_or_else(|| HelperError::Failed(format!("{handle:#x} is not a map of this program")))
}

/// Lets the run reach `region` of map memory, once: a loop of lookups adds nothing new.
pub(super) fn add_region(memory: &mut Memory<'_>, region: Region) {
    if !memory.regions().any(|r| *r == region) {
        // SAFETY: map memory stays allocated while the map lives; the map lives in the
        // table the calling helper holds, which lives as long as the prepared program that
        // is running. Map memory is only accessed through atomics and raw pointers.
        unsafe { memory.add_raw(region) };
    }
}

fn result(r: Result<(), crate::maps::MapError>) -> u64 {
    r.map_or_else(|e| e.to_r0(), |()| 0)
}

/// `void *bpf_map_lookup_elem(map, const void *key)`: the value's address or NULL; for a
/// map of maps, the inner map (its handle) or NULL.
pub(super) fn lookup(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let map = map(maps, a[0])?;
    Ok(lookup_in(maps, &**map, ctx.memory, a[1])?)
}

/// `bpf_map_lookup_elem` once its map is known: the key is read at `key` in the run's
/// `memory`, and the result is the value's address with the value's region added to
/// `memory`, or NULL; for a map of maps of `maps`, the inner map's handle or NULL. Engines
/// that know a call's map when preparing the program call this directly, as Linux
/// replaces the helper by the map's own lookup.
pub fn lookup_in(
    maps: &MapTable,
    map: &dyn Map,
    memory: &mut Memory<'_>,
    key: u64,
) -> Result<u64, Fault> {
    let key = memory.slice(key, map.spec().key_size as u64)?;
    if matches!(
        map.spec().map_type,
        MapType::ArrayOfMaps | MapType::HashOfMaps
    ) {
        let inner = map.inner_fd(key).and_then(|fd| maps.handle_of_fd(fd));
        return Ok(inner.unwrap_or(0));
    }
    // Only per-CPU maps need the thread's CPU index (a thread-local look-up).
    let cpu = if map.spec().map_type.is_percpu() {
        cpu::current()
    } else {
        0
    };
    Ok(match map.lookup_ptr(key, cpu) {
        Some(value) => {
            add_region(memory, value.region);
            value.addr
        }
        None => 0,
    })
}

/// `long bpf_map_update_elem(map, const void *key, const void *value, u64 flags)`.
pub(super) fn update(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let map = map(maps, a[0])?;
    let spec = map.spec();
    let key = ctx.memory.slice(a[1], spec.key_size as u64)?;
    let value = ctx.memory.slice(a[2], spec.value_size as u64)?;
    Ok(result(map.update_cpus(
        key,
        value,
        a[3],
        Cpus::One(cpu::current()),
    )))
}

/// `long bpf_map_delete_elem(map, const void *key)`.
pub(super) fn delete(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let map = map(maps, a[0])?;
    let key = ctx.memory.slice(a[1], map.spec().key_size as u64)?;
    Ok(result(map.delete(key)))
}

/// `long bpf_map_push_elem(map, const void *value, u64 flags)`.
pub(super) fn push(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let map = map(maps, a[0])?;
    let value = ctx.memory.slice(a[1], map.spec().value_size as u64)?;
    Ok(result(map.push(value, a[2])))
}

/// Pop or peek into the program's buffer at `a[1]`.
fn take(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
    f: fn(&dyn Map, &mut [u8]) -> Result<(), crate::maps::MapError>,
) -> Result<u64, HelperError> {
    let map = map(maps, a[0])?;
    let out = ctx.memory.slice_mut(a[1], map.spec().value_size as u64)?;
    Ok(result(f(&**map, out)))
}

/// `long bpf_map_pop_elem(map, void *value)`.
pub(super) fn pop(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    take(maps, ctx, a, |m, out| m.pop(out))
}

/// `long bpf_map_peek_elem(map, void *value)`.
pub(super) fn peek(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    take(maps, ctx, a, |m, out| m.peek(out))
}
