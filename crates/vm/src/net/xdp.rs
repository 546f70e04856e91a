//! XDP: the context (`struct xdp_md` over bpfkit's [`XdpBuff`]), the packet layout of the
//! kernel's `BPF_PROG_TEST_RUN` for XDP (`bpf_prog_test_run_xdp` in net/bpf/test_run.c),
//! and the XDP helpers with the kernel's limits and errors (net/core/filter.c).
//!
//! The packet sits in a page-sized frame: `XDP_PACKET_HEADROOM` bytes of headroom, the
//! packet, then tailroom up to the page, of which the last
//! `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` bytes are reserved. The start of the
//! headroom holds the kernel's `struct xdp_frame`, which neither the packet nor its
//! metadata may grow into.

use super::convert::{ContextLayout, FieldMap};
use super::packet::{Bounds, Context, PacketState};
use super::{KindOps, PacketError, PacketInput};
use crate::helpers::linux::Runtime;
use crate::helpers::{HelperContext, HelperError, Helpers};
use crate::maps::{MapTable, MapType, MAP_HANDLE_BASE};
use std::any::Any;
use std::mem::offset_of;

/// Headroom before the packet (`XDP_PACKET_HEADROOM`).
pub const XDP_PACKET_HEADROOM: usize = 256;
/// Size of the frame the test run gives a packet (`PAGE_SIZE` on x86-64).
pub const FRAME_SIZE: usize = 4096;
/// Reserved end of the frame: `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86-64.
const SHARED_INFO_SIZE: usize = 320;
/// `sizeof(struct xdp_frame)` on x86-64, kept at the start of the headroom.
const XDP_FRAME_STRUCT_SIZE: usize = 40;
/// Longest packet the test run keeps in one frame; longer ones would need XDP
/// multi-buffer (fragments), which bpfkit does not model.
pub const MAX_PACKET: usize = FRAME_SIZE - XDP_PACKET_HEADROOM - SHARED_INFO_SIZE;
/// `ETH_HLEN`: no packet may become shorter than an Ethernet header.
const ETH_HLEN: usize = 14;
/// Most metadata bytes (`xdp_metalen_invalid`: the range of
/// `skb_shared_info.meta_len`, a `u8`); metadata is also a multiple of 4 bytes.
const META_MAX: usize = 255;

/// XDP verdicts (`enum xdp_action`).
pub mod action {
    pub const ABORTED: u32 = 0;
    pub const DROP: u32 = 1;
    pub const PASS: u32 = 2;
    pub const TX: u32 = 3;
    pub const REDIRECT: u32 = 4;
}

/// Numbers of the XDP helpers (`enum bpf_func_id`).
pub mod id {
    pub const REDIRECT: i32 = 23;
    pub const CSUM_DIFF: i32 = 28;
    pub const XDP_ADJUST_HEAD: i32 = 44;
    pub const REDIRECT_MAP: i32 = 51;
    pub const XDP_ADJUST_META: i32 = 54;
    pub const XDP_ADJUST_TAIL: i32 = 65;
    pub const FIB_LOOKUP: i32 = 69;
}

/// `BPF_F_BROADCAST`: `bpf_redirect_map` to every device of a device map.
const BPF_F_BROADCAST: u64 = 1 << 3;
/// `BPF_F_EXCLUDE_INGRESS`: with `BPF_F_BROADCAST`, all but the receiving device.
const BPF_F_EXCLUDE_INGRESS: u64 = 1 << 4;

const EINVAL: u64 = -22i64 as u64;
const EACCES: u64 = -13i64 as u64;

/// The real context of an XDP program: what the kernel's `struct xdp_buff` and its
/// receive queue provide, with the packet pointers as host addresses.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpBuff {
    pub data: u64,
    pub data_end: u64,
    pub data_meta: u64,
    /// `rxq->dev->ifindex`.
    pub ingress_ifindex: u32,
    /// `rxq->queue_index`.
    pub rx_queue_index: u32,
    /// `txq->dev->ifindex`; only device-map programs may read it, which the test run
    /// does not run, so it stays 0.
    pub egress_ifindex: u32,
    /// Explicit padding: the whole struct is memory the program may read, so no byte of
    /// it may be left uninitialized.
    _pad: u32,
}

impl Context for XdpBuff {
    fn set_bounds(&mut self, b: Bounds) {
        self.data = b.data;
        self.data_end = b.data_end;
        self.data_meta = b.meta;
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `struct xdp_md` over [`XdpBuff`].
pub const XDP_MD: ContextLayout = ContextLayout {
    name: "xdp_md",
    fields: &[
        FieldMap::pointer(0, offset_of!(XdpBuff, data)),
        FieldMap::pointer(4, offset_of!(XdpBuff, data_end)),
        FieldMap::pointer(8, offset_of!(XdpBuff, data_meta)),
        FieldMap::scalar(12, 4, offset_of!(XdpBuff, ingress_ifindex), 4),
        FieldMap::scalar(16, 4, offset_of!(XdpBuff, rx_queue_index), 4),
        FieldMap::scalar(20, 4, offset_of!(XdpBuff, egress_ifindex), 4),
    ],
};

/// How XDP programs run on packets.
pub(super) const OPS: KindOps = KindOps {
    layout: XDP_MD,
    new_state: || PacketState::new::<XdpBuff>(false),
    prepare,
    finish: |_| {},
    // The test run copies out the metadata and the packet (`bpf_test_finish` from
    // `data_meta`).
    output: PacketState::meta_and_packet,
    redirect_verdict: Some(action::REDIRECT),
};

/// Size of `struct xdp_md`.
pub const XDP_MD_SIZE: usize = 24;

/// What a context in (`ctx_in`, a `struct xdp_md`) asks of a run.
struct ContextIn {
    /// Bytes of metadata at the start of the data (`xdp_md.data`).
    meta_len: usize,
    ingress_ifindex: u32,
    rx_queue_index: u32,
}

/// The context in padded with zeros to a whole `struct xdp_md`, as `bpf_ctx_init` reads
/// it (a longer one must end in zeros, else `-E2BIG`).
fn full_ctx(ctx: &[u8], len: usize) -> Result<[u8; XDP_MD_SIZE], PacketError> {
    if ctx.iter().skip(XDP_MD_SIZE).any(|&b| b != 0) {
        return Err(PacketError::Input {
            len,
            reason: "the context is longer than struct xdp_md and its tail is not zero",
        });
    }
    let mut full = [0u8; XDP_MD_SIZE];
    let n = ctx.len().min(XDP_MD_SIZE);
    full[..n].copy_from_slice(&ctx[..n]);
    Ok(full)
}

/// Reads and checks the context in as `bpf_prog_test_run_xdp` and
/// `xdp_convert_md_to_buff` do; without one, the input's device and queue and no
/// metadata. A device of 0 is the loopback device (ifindex 1), queue 0, as the test run's
/// default receive queue.
fn context_in(input: &PacketInput<'_>) -> Result<ContextIn, PacketError> {
    let len = input.data.len();
    let Some(ctx) = input.ctx else {
        return Ok(ContextIn {
            meta_len: 0,
            ingress_ifindex: input.ingress_ifindex,
            rx_queue_index: input.rx_queue_index,
        });
    };
    let md = full_ctx(ctx, len)?;
    let field = |i: usize| u32::from_ne_bytes(md[4 * i..4 * i + 4].try_into().unwrap());
    let (data, data_end, data_meta) = (field(0) as usize, field(1) as usize, field(2));
    let (ingress_ifindex, rx_queue_index, egress) = (field(3), field(4), field(5));
    let fail = |reason| Err(PacketError::Input { len, reason });
    if data_meta != 0 || data_end > len || data > data_end {
        return fail(
            "the context's data_meta must be 0 and data <= data_end <= the packet's length",
        );
    }
    if !data.is_multiple_of(4)
        || data > META_MAX
        || data > XDP_PACKET_HEADROOM - XDP_FRAME_STRUCT_SIZE
    {
        return fail(
            "the context's data (the metadata's length) must be a multiple of 4 of at most 216",
        );
    }
    if data_end < len {
        return fail("a context whose data_end is short of the packet's end needs fragments (XDP multi-buffer), which bpfkit does not model");
    }
    if len - data < ETH_HLEN {
        return fail(
            "an XDP packet holds at least an Ethernet header (14 bytes) after the metadata",
        );
    }
    if egress != 0 || (ingress_ifindex == 0 && rx_queue_index != 0) {
        return fail(
            "the context's egress_ifindex must be 0, and rx_queue_index needs an ingress_ifindex",
        );
    }
    Ok(ContextIn {
        meta_len: data,
        ingress_ifindex: ingress_ifindex.max(1),
        rx_queue_index,
    })
}

/// Lays out `input` as the test run does, or refuses it as the test run does (`-EINVAL`
/// for a packet shorter than an Ethernet header, or a bad context).
fn prepare(state: &mut PacketState, input: &PacketInput<'_>) -> Result<(), PacketError> {
    let len = input.data.len();
    let ctx = context_in(input)?;
    if len < ctx.meta_len + ETH_HLEN {
        return Err(PacketError::Input {
            len,
            reason: "an XDP packet holds at least an Ethernet header (14 bytes)",
        });
    }
    if len - ctx.meta_len > MAX_PACKET {
        return Err(PacketError::Input {
            len,
            reason: "an XDP packet longer than 3520 bytes needs fragments (XDP multi-buffer), which bpfkit does not model",
        });
    }
    // Metadata comes out of the headroom.
    let headroom = XDP_PACKET_HEADROOM - ctx.meta_len;
    state.load(headroom, input.data, FRAME_SIZE);
    if ctx.meta_len != 0 {
        state.set_bounds(headroom, headroom + ctx.meta_len, headroom + len);
    }
    // The state was made by `OPS.new_state`, so it holds an XdpBuff.
    if let Some(buff) = state.context_mut::<XdpBuff>() {
        *buff = XdpBuff {
            ingress_ifindex: ctx.ingress_ifindex,
            rx_queue_index: ctx.rx_queue_index,
            ..XdpBuff::default()
        };
    }
    Ok(())
}

/// The context the test run copies out after the run (`xdp_convert_buff_to_md`): the
/// context in, with `data` and `data_end` as offsets from `data_meta` after the run.
pub fn ctx_out(buff: &XdpBuff, ctx_in: &[u8]) -> [u8; XDP_MD_SIZE] {
    let mut out = full_ctx(ctx_in, 0).unwrap_or([0; XDP_MD_SIZE]);
    let data = (buff.data - buff.data_meta) as u32;
    let data_end = (buff.data_end - buff.data_meta) as u32;
    out[..4].copy_from_slice(&data.to_ne_bytes());
    out[4..8].copy_from_slice(&data_end.to_ne_bytes());
    out
}

/// The packet state of an XDP run, for the XDP helpers.
fn xdp_state<'a>(
    packet: &'a mut Option<&mut PacketState>,
    name: &str,
) -> Result<&'a mut PacketState, HelperError> {
    if let Some(state) = packet.as_deref_mut() {
        if state.context_mut::<XdpBuff>().is_some() {
            return Ok(state);
        }
    }
    Err(HelperError::Failed(format!(
        "bpf_{name} needs the packet of an XDP run"
    )))
}

/// `long bpf_xdp_adjust_head(xdp_md, int delta)`: moves the packet's start by `delta`
/// (metadata moves along); the start may not enter the `xdp_frame` area and the packet
/// keeps at least an Ethernet header.
fn adjust_head(ctx: &mut HelperContext<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let state = xdp_state(&mut ctx.packet, "xdp_adjust_head")?;
    let delta = a[1] as i32 as i64;
    let (meta, data, end) = (state.meta(), state.data(), state.data_end());
    let metalen = data - meta;
    let new_data = data as i64 + delta;
    if new_data < (XDP_FRAME_STRUCT_SIZE + metalen) as i64 || new_data > (end - ETH_HLEN) as i64 {
        return Ok(EINVAL);
    }
    let new_data = new_data as usize;
    let new_meta = new_data - metalen;
    state.copy_within(meta..data, new_meta);
    state.set_bounds(new_meta, new_data, end);
    Ok(0)
}

/// `long bpf_xdp_adjust_tail(xdp_md, int delta)`: moves the packet's end by `delta`,
/// zeroing bytes it grows into; the end stays before the reserved end of the frame and
/// the packet keeps at least an Ethernet header.
fn adjust_tail(ctx: &mut HelperContext<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let state = xdp_state(&mut ctx.packet, "xdp_adjust_tail")?;
    let delta = a[1] as i32 as i64;
    let (meta, data, end) = (state.meta(), state.data(), state.data_end());
    let new_end = end as i64 + delta;
    let hard_end = state.buffer().len() - SHARED_INFO_SIZE;
    if new_end > hard_end as i64 || new_end < (data + ETH_HLEN) as i64 {
        return Ok(EINVAL);
    }
    let new_end = new_end as usize;
    // Grown bytes may hold what the run wrote before shrinking the packet.
    if new_end > end {
        state.zero(end..new_end);
    }
    state.set_bounds(meta, data, new_end);
    Ok(0)
}

/// `long bpf_xdp_adjust_meta(xdp_md, int delta)`: moves the metadata's start by `delta`;
/// it may not enter the `xdp_frame` area nor pass the packet's start (`-EINVAL`), and the
/// metadata is a multiple of 4 bytes of at most [`META_MAX`] (`-EACCES`).
fn adjust_meta(ctx: &mut HelperContext<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let state = xdp_state(&mut ctx.packet, "xdp_adjust_meta")?;
    let delta = a[1] as i32 as i64;
    let (meta, data, end) = (state.meta(), state.data(), state.data_end());
    let new_meta = meta as i64 + delta;
    if new_meta < XDP_FRAME_STRUCT_SIZE as i64 || new_meta > data as i64 {
        return Ok(EINVAL);
    }
    let new_meta = new_meta as usize;
    let metalen = data - new_meta;
    if !metalen.is_multiple_of(4) || metalen > META_MAX {
        return Ok(EACCES);
    }
    state.set_bounds(new_meta, data, end);
    Ok(0)
}

/// `long bpf_redirect(u32 ifindex, u64 flags)` for XDP: records the device; any flag
/// makes it `XDP_ABORTED`.
fn redirect(ctx: &mut HelperContext<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let state = xdp_state(&mut ctx.packet, "redirect")?;
    if a[1] != 0 {
        return Ok(action::ABORTED.into());
    }
    state.redirect.set_ifindex(a[0] as u32, 0);
    Ok(action::REDIRECT.into())
}

/// `long bpf_redirect_map(map, u32 key, u64 flags)`: records the map's target at `key`
/// when there is one. Otherwise the low two bits of `flags` are the verdict (as
/// `__bpf_xdp_redirect_map`), except that a device map broadcast needs no key. Flags
/// beyond the verdict and the map type's own are `XDP_ABORTED`.
fn redirect_map(
    maps: &MapTable,
    ctx: &mut HelperContext<'_, '_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    const ACTION_MASK: u64 = 3;
    let map = maps
        .by_handle(a[0])
        .ok_or_else(|| HelperError::Failed(format!("{:#x} is not a map of this program", a[0])))?;
    let flag_mask = match map.spec().map_type {
        MapType::DevMap | MapType::DevMapHash => BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS,
        MapType::CpuMap | MapType::XskMap => 0,
        other => {
            return Err(HelperError::Failed(format!(
                "bpf_redirect_map needs a device, CPU or socket map, not a {other:?} map"
            )))
        }
    };
    let state = xdp_state(&mut ctx.packet, "redirect_map")?;
    let (key, flags) = (a[1] as u32, a[2]);
    if flags & !(ACTION_MASK | flag_mask) != 0 {
        return Ok(action::ABORTED.into());
    }
    let found = map.lookup_ptr(&key.to_ne_bytes(), 0).is_some();
    if !found && flags & BPF_F_BROADCAST == 0 {
        state.redirect.clear_map();
        return Ok(flags & ACTION_MASK);
    }
    let index = (a[0] - MAP_HANDLE_BASE) as u32;
    // The kernel keeps the flags only for a broadcast.
    let kept = if flags & BPF_F_BROADCAST != 0 {
        flags
    } else {
        0
    };
    state.redirect.set_map(index, key, kept);
    Ok(action::REDIRECT.into())
}

/// `long bpf_fib_lookup(ctx, params, plen, flags)` answers from the host's routing
/// tables in the kernel; bpfkit has none, so a call ends the run with this error.
fn fib_lookup(_: &mut HelperContext<'_, '_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Err(HelperError::Failed(
        "bpf_fib_lookup answers from the kernel's routing tables, which bpfkit does not have"
            .into(),
    ))
}

/// Registers the XDP helpers: packet adjustment, redirects (sharing `runtime`'s maps),
/// `bpf_csum_diff` (shared with tc) and `bpf_fib_lookup`, which fails the run.
pub(super) fn register(helpers: &mut Helpers, runtime: &Runtime) {
    helpers.register(id::XDP_ADJUST_HEAD, "xdp_adjust_head", adjust_head);
    helpers.register(id::XDP_ADJUST_TAIL, "xdp_adjust_tail", adjust_tail);
    helpers.register(id::XDP_ADJUST_META, "xdp_adjust_meta", adjust_meta);
    helpers.register(id::REDIRECT, "redirect", redirect);
    let maps = runtime.maps.clone();
    helpers.register(id::REDIRECT_MAP, "redirect_map", move |ctx, a| {
        redirect_map(&maps, ctx, a)
    });
    helpers.register(id::FIB_LOOKUP, "fib_lookup", fib_lookup);
    helpers.register(id::CSUM_DIFF, "csum_diff", super::skb_helpers::csum_diff);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_context_has_no_implicit_padding_and_holds_every_field() {
        // Three pointers and four u32s (the last one explicit padding).
        assert_eq!(std::mem::size_of::<XdpBuff>(), 3 * 8 + 4 * 4);
        for f in XDP_MD.fields {
            assert!(
                usize::from(f.real_off) + usize::from(f.real_size) <= 40,
                "{f:?}"
            );
            assert!(usize::from(f.uapi_off) + usize::from(f.uapi_size) <= XDP_MD_SIZE);
        }
    }

    #[test]
    fn redirect_info_keeps_the_last_target_index_when_a_lookup_fails() {
        let mut r = crate::net::RedirectInfo::default();
        assert_eq!(r.target(), None);
        r.set_ifindex(9, 0);
        r.set_map(2, 5, 0);
        assert_eq!(
            r.target(),
            Some(crate::net::Redirect::Map {
                map: 2,
                key: 5,
                flags: 0
            })
        );
        // As __bpf_xdp_redirect_map: a failed lookup clears the map, and the target
        // index left (the last key found) is taken as an ifindex.
        r.clear_map();
        assert_eq!(
            r.target(),
            Some(crate::net::Redirect::Ifindex {
                ifindex: 5,
                flags: 0
            })
        );
    }
}
