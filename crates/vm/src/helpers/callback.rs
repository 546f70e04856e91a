//! The helpers that call back into the running program or leave it for another:
//! `bpf_tail_call`, `bpf_loop` and `bpf_for_each_map_elem`. They run the program's code
//! through [`HelperContext::program`](super::HelperContext), the engine running it.

use super::linux::EINVAL;
use super::map::{add_region, map};
use super::{HelperContext, HelperError};
use crate::maps::{cpu, MapTable, MapType};
use crate::memory::Region;

/// Most iterations of `bpf_loop`, as Linux's `BPF_MAX_LOOPS`.
const MAX_LOOPS: u32 = 1 << 23;

/// `-E2BIG` as a helper's return value.
const E2BIG: u64 = -7i64 as u64;

/// `long bpf_tail_call(void *ctx, struct bpf_map *prog_array_map, u32 index)`: as the
/// kernel's `JMP_TAIL_CALL`, falls through when `index` is out of range or the run has
/// made its 33 tail calls; otherwise counts one and, if the slot holds a program, jumps
/// to it. The count is consumed even when the slot is empty, as in Linux.
pub(super) fn tail_call(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let array = map(maps, a[1])?;
    if array.spec().map_type != MapType::ProgArray {
        return Err(HelperError::Failed(format!(
            "r2 must be a program array, not a map of type {}",
            array.spec().map_type as u32
        )));
    }
    let index = a[2] as u32;
    if index >= array.spec().max_entries || !ctx.program.count_tail_call() {
        return Ok(0);
    }
    if let Some(target) = array.program(index) {
        ctx.program.tail_call(target);
    }
    Ok(0)
}

/// `long bpf_loop(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags)`:
/// calls `callback_fn(i, callback_ctx)` for `i` in `0..nr_loops` until it returns
/// non-zero; returns the number of calls made. `-EINVAL` for flags, `-E2BIG` for more
/// than [`MAX_LOOPS`] iterations.
pub(super) fn loop_(ctx: &mut HelperContext, a: [u64; 5]) -> Result<u64, HelperError> {
    let (nr_loops, func, callback_ctx, flags) = (a[0] as u32, a[1], a[2], a[3]);
    if flags != 0 {
        return Ok(EINVAL);
    }
    if nr_loops > MAX_LOOPS {
        return Ok(E2BIG);
    }
    for i in 0..nr_loops {
        if ctx.call(func, [i as u64, callback_ctx, 0, 0, 0])? != 0 {
            return Ok(i as u64 + 1);
        }
    }
    Ok(nr_loops as u64)
}

/// `long bpf_for_each_map_elem(struct bpf_map *map, void *callback_fn,
/// void *callback_ctx, u64 flags)`: calls `callback_fn(map, &key, &value, callback_ctx)`
/// for each element of an array or hash map (this CPU's value for per-CPU maps) until it
/// returns non-zero; returns the number of calls made. The key is a read-only copy, the
/// value the element's own memory. `-EINVAL` for flags.
///
/// The elements are those present when the call starts, in the map's key order; one
/// deleted by the callback before its turn is skipped (Linux walks its buckets live).
pub(super) fn for_each_map_elem(
    maps: &MapTable,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let (handle, func, callback_ctx, flags) = (a[0], a[1], a[2], a[3]);
    let map = map(maps, handle)?.clone();
    let spec = map.spec();
    let keys: Vec<Vec<u8>> = match spec.map_type {
        MapType::Array | MapType::PercpuArray => (0..spec.max_entries)
            .map(|i| i.to_ne_bytes().to_vec())
            .collect(),
        MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
            hash_keys(map.as_ref())
        }
        other => {
            return Err(HelperError::Failed(format!(
                "map type {} has no for_each_map_elem",
                other as u32
            )))
        }
    };
    if flags != 0 {
        return Ok(EINVAL);
    }
    let mut key = vec![0u8; spec.key_size as usize].into_boxed_slice();
    let key_region = Region {
        start: key.as_ptr() as u64,
        len: key.len() as u64,
        writable: false,
    };
    // SAFETY: `key` lives until after the region is removed below, on every path; the
    // program only reads it while `ctx.call` runs, never while it is written here.
    unsafe { ctx.memory.add_raw(key_region) };
    let mut visited = 0;
    let mut result = Ok(());
    for k in &keys {
        let Some(value) = map.lookup_ptr(k, cpu::current()) else {
            continue;
        };
        key.copy_from_slice(k);
        add_region(ctx.memory, value.region);
        visited += 1;
        match ctx.call(
            func,
            [handle, key_region.start, value.addr, callback_ctx, 0],
        ) {
            Ok(0) => {}
            Ok(_) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    ctx.memory.remove(&key_region);
    result.map(|()| visited)
}

/// The keys of a hash map, at most `max_entries` of them (concurrent updates cannot make
/// the walk go on forever).
fn hash_keys(map: &dyn crate::maps::Map) -> Vec<Vec<u8>> {
    let spec = map.spec();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut next = vec![0u8; spec.key_size as usize];
    while keys.len() < spec.max_entries as usize
        && map.next_key(keys.last().map(|k| &k[..]), &mut next).is_ok()
    {
        keys.push(next.clone());
    }
    keys
}
