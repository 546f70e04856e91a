//! The output helpers: `bpf_ringbuf_output`, `_reserve`, `_submit`, `_discard`, `_query`,
//! and `bpf_perf_event_output`.

use super::map::{add_region, map};
use super::{HelperContext, HelperError};
use crate::maps::{MapTable, RingBuf};

fn ring(maps: &MapTable, handle: u64) -> Result<&RingBuf, HelperError> {
    map(maps, handle)?
        .as_ringbuf()
        .ok_or_else(|| HelperError::Failed("the map is not a ring buffer".into()))
}

/// `long bpf_ringbuf_output(map, void *data, u64 size, u64 flags)`.
pub(super) fn output(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let ring = ring(maps, a[0])?;
    let data = ctx.memory.slice(a[1], a[2])?;
    Ok(ring.output(data, a[3]) as u64)
}

/// `void *bpf_ringbuf_reserve(map, u64 size, u64 flags)`: NULL if full or if `flags` is
/// not 0. The record's memory becomes part of the run's memory.
pub(super) fn reserve(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let ring = ring(maps, a[0])?;
    if a[2] != 0 {
        return Ok(0);
    }
    Ok(match ring.reserve(a[1]) {
        Some(addr) => {
            // The whole ring is one region, so reserving in a loop adds it once.
            add_region(ctx.memory, ring.region());
            addr
        }
        None => 0,
    })
}

/// Submits or discards the record at `a[0]`, in whichever of the program's rings holds it.
fn commit(maps: &MapTable, a: [u64; 5], discard: bool) -> Result<u64, HelperError> {
    let ring = maps
        .iter()
        .filter_map(|m| m.as_ringbuf())
        .find(|r| r.region().contains(a[0], 1))
        .ok_or_else(|| HelperError::Failed(format!("{:#x} is not a ring buffer record", a[0])))?;
    ring.commit(a[0], discard, a[1])
        .map_err(|_| HelperError::Failed(format!("{:#x} is not a reserved record", a[0])))?;
    Ok(0)
}

/// `void bpf_ringbuf_submit(void *data, u64 flags)`.
pub(super) fn submit(
    maps: &MapTable,
    _ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    commit(maps, a, false)
}

/// `void bpf_ringbuf_discard(void *data, u64 flags)`.
pub(super) fn discard(
    maps: &MapTable,
    _ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    commit(maps, a, true)
}

/// `u64 bpf_ringbuf_query(map, u64 flags)`.
pub(super) fn query(
    maps: &MapTable,
    _ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    Ok(ring(maps, a[0])?.query(a[1]))
}

/// `long bpf_perf_event_output(void *ctx, map, u64 flags, void *data, u64 size)`.
pub(super) fn perf_event_output(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let perf = map(maps, a[1])?
        .as_perf_event_array()
        .ok_or_else(|| HelperError::Failed("the map is not a perf event array".into()))?;
    let data = ctx.memory.slice(a[3], a[4])?;
    Ok(perf.output(a[2], data).map_or_else(|e| e.to_r0(), |()| 0))
}
