//! `bpf_perf_event_output` for packet programs (the kernel's `bpf_xdp_event_output` and
//! `bpf_skb_event_output`): the sample is the program's data followed by the packet's
//! first bytes, as many as the flags' `BPF_F_CTXLEN_MASK` bits ask for.

use crate::helpers::linux::{id, Runtime};
use crate::helpers::{HelperContext, HelperError, Helpers};
use crate::maps::MapTable;

/// `BPF_F_INDEX_MASK`: the perf event array index (or `BPF_F_CURRENT_CPU`).
const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CTXLEN_MASK`: how many bytes of the packet to append.
const BPF_F_CTXLEN_MASK: u64 = 0xf_ffff << 32;

const EINVAL: u64 = -22i64 as u64;
const EFAULT: u64 = -14i64 as u64;

/// `long bpf_perf_event_output(ctx, map, u64 flags, void *data, u64 size)`: flags beyond
/// the index and the length are `-EINVAL`; more packet bytes than the packet has,
/// `-EFAULT`; then the perf event array's own errors.
fn perf_event_output(
    maps: &MapTable,
    ctx: &mut HelperContext<'_, '_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let flags = a[2];
    if flags & !(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK) != 0 {
        return Ok(EINVAL);
    }
    let Some(state) = ctx.packet.as_deref() else {
        return Err(HelperError::Failed(
            "bpf_perf_event_output of a packet program needs the packet of the run".into(),
        ));
    };
    let len = ((flags & BPF_F_CTXLEN_MASK) >> 32) as usize;
    let Some(packet) = state.packet().get(..len) else {
        return Ok(EFAULT);
    };
    let perf = maps
        .by_handle(a[1])
        .and_then(|m| m.as_perf_event_array())
        .ok_or_else(|| {
            HelperError::Failed(format!(
                "{:#x} is not a perf event array of this program",
                a[1]
            ))
        })?;
    let sample = [ctx.memory.slice(a[3], a[4])?, packet].concat();
    Ok(perf
        .output(flags & BPF_F_INDEX_MASK, &sample)
        .map_or_else(|e| e.to_r0(), |()| 0))
}

/// Registers the packet programs' `bpf_perf_event_output` (replacing the general one),
/// sharing `runtime`'s maps.
pub(super) fn register(helpers: &mut Helpers, runtime: &Runtime) {
    let maps = runtime.maps.clone();
    helpers.register(id::PERF_EVENT_OUTPUT, "perf_event_output", move |ctx, a| {
        perf_event_output(&maps, ctx, a)
    });
}
