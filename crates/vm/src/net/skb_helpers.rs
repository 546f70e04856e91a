//! The skb helpers of tc programs and socket filters, with the kernel's semantics, limits
//! and errors (net/core/filter.c, net/core/skbuff.c), for the skb a test run builds: linear,
//! not cloned, no checksum offload state (`CHECKSUM_NONE`), not at tc ingress, on the
//! loopback device.
//!
//! Where bpfkit cannot give the kernel's answer, it says so here:
//! - `bpf_get_hash_recalc` computes bpfkit's own flow hash (symmetric, never 0): the
//!   kernel's is keyed by a random value drawn at boot.
//! - `bpf_clone_redirect` checks its arguments and the packet as the kernel does and
//!   returns what sending to the loopback device returns, but the copy goes nowhere.
//! - When a helper reallocates the head (more room in front than the headroom), the
//!   buffer past the packet's end is zero; the kernel's holds whatever its allocator gave,
//!   which a later header move past a cut packet's end copies into the packet.

use super::csum;
use super::packet::PacketState;
use super::skb::{eth_p, tc_act, SkBuff, ETH_HLEN, LOOPBACK_IFINDEX, MAX_LEN, UNSET};
use super::skb_flow::flow_hash;
use crate::helpers::{HelperContext, HelperError, Helpers};

/// Numbers of the skb helpers (`enum bpf_func_id`).
pub mod id {
    pub const SKB_STORE_BYTES: i32 = 9;
    pub const L3_CSUM_REPLACE: i32 = 10;
    pub const L4_CSUM_REPLACE: i32 = 11;
    pub const CLONE_REDIRECT: i32 = 13;
    pub const SKB_VLAN_PUSH: i32 = 18;
    pub const SKB_VLAN_POP: i32 = 19;
    pub const REDIRECT: i32 = 23;
    pub const SKB_LOAD_BYTES: i32 = 26;
    pub const CSUM_DIFF: i32 = 28;
    pub const SKB_CHANGE_TYPE: i32 = 32;
    pub const GET_HASH_RECALC: i32 = 34;
    pub const SKB_CHANGE_TAIL: i32 = 38;
    pub const SKB_PULL_DATA: i32 = 39;
    pub const CSUM_UPDATE: i32 = 40;
    pub const SKB_CHANGE_PROTO: i32 = 31;
    pub const CSUM_LEVEL: i32 = 135;
    pub const SET_HASH_INVALID: i32 = 41;
    pub const SKB_CHANGE_HEAD: i32 = 43;
    pub const SET_HASH: i32 = 48;
    pub const SKB_ADJUST_ROOM: i32 = 50;
    pub const SKB_LOAD_BYTES_RELATIVE: i32 = 68;
}

/// Flags of the helpers (`linux/bpf.h`).
pub mod flags {
    pub const BPF_F_RECOMPUTE_CSUM: u64 = 1 << 0;
    pub const BPF_F_INVALIDATE_HASH: u64 = 1 << 1;
    pub const BPF_F_HDR_FIELD_MASK: u64 = 0xf;
    pub const BPF_F_PSEUDO_HDR: u64 = 1 << 4;
    pub const BPF_F_MARK_MANGLED_0: u64 = 1 << 5;
    pub const BPF_F_MARK_ENFORCE: u64 = 1 << 6;
    pub const BPF_F_IPV6: u64 = 1 << 7;
    pub const BPF_F_INGRESS: u64 = 1 << 0;
    pub const BPF_F_ADJ_ROOM_FIXED_GSO: u64 = 1 << 0;
    pub const BPF_F_ADJ_ROOM_ENCAP_L3_IPV4: u64 = 1 << 1;
    pub const BPF_F_ADJ_ROOM_ENCAP_L3_IPV6: u64 = 1 << 2;
    pub const BPF_F_ADJ_ROOM_ENCAP_L4_GRE: u64 = 1 << 3;
    pub const BPF_F_ADJ_ROOM_ENCAP_L4_UDP: u64 = 1 << 4;
    pub const BPF_F_ADJ_ROOM_NO_CSUM_RESET: u64 = 1 << 5;
    pub const BPF_F_ADJ_ROOM_ENCAP_L2_ETH: u64 = 1 << 6;
    /// Since Linux 6.18: shrinking removes an outer IPv4 (IPv6) header, the packet's
    /// protocol becomes IPv4 (IPv6).
    pub const BPF_F_ADJ_ROOM_DECAP_L3_IPV4: u64 = 1 << 7;
    pub const BPF_F_ADJ_ROOM_DECAP_L3_IPV6: u64 = 1 << 8;
    pub const DECAP_MASK: u64 = BPF_F_ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_DECAP_L3_IPV6;
    /// `BPF_F_ADJ_ROOM_ENCAP_L2(len)`: the inner MAC header's length in the top byte.
    pub const BPF_ADJ_ROOM_ENCAP_L2_SHIFT: u32 = 56;
    pub const BPF_CSUM_LEVEL_QUERY: u64 = 0;
    pub const BPF_CSUM_LEVEL_INC: u64 = 1;
    pub const BPF_CSUM_LEVEL_DEC: u64 = 2;
    pub const BPF_CSUM_LEVEL_RESET: u64 = 3;
    pub const BPF_ADJ_ROOM_NET: u64 = 0;
    pub const BPF_ADJ_ROOM_MAC: u64 = 1;
}

use flags::*;

/// `KMALLOC_MAX_SIZE` on x86-64: the largest buffer the kernel allocates for an skb's
/// head, shared info included.
const KMALLOC_MAX_SIZE: usize = 4 << 20;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86-64.
const SHARED_INFO: usize = 320;

/// `NET_SKB_PAD`: head reallocations add headroom in multiples of it.
const NET_SKB_PAD: usize = 64;

/// `SKB_MAX_CSUM_LEVEL`.
const MAX_CSUM_LEVEL: u8 = 3;

const fn neg(errno: i64) -> u64 {
    (-errno) as u64
}
const ENOMEM: u64 = neg(12);
const EACCES: u64 = neg(13);
const EFAULT: u64 = neg(14);
const EINVAL: u64 = neg(22);
const ERANGE: u64 = neg(34);
const EBADMSG: u64 = neg(74);
const EALREADY: u64 = neg(114);
/// `ENOTSUPP`, the kernel-internal 524 the skb helpers return.
const ENOTSUPP: u64 = neg(524);

/// `CSUM_MANGLED_0`: a UDP checksum that computed to 0 is sent as 0xffff.
const CSUM_MANGLED_0: u16 = 0xffff;
/// `VLAN_HLEN`.
const VLAN_HLEN: usize = 4;

type Args = [u64; 5];
type HelperResult = Result<u64, HelperError>;

/// The skb of a run: its packet state and a copy of its real context, written back by
/// [`with_skb`].
struct Skb<'s> {
    state: &'s mut PacketState,
    skb: SkBuff,
}

fn corrupted() -> HelperError {
    HelperError::Failed("the skb's header offsets were overwritten through the context".into())
}

impl<'s> Skb<'s> {
    /// The skb of `ctx`'s run, its header offsets checked (a program run without
    /// verification may have overwritten them).
    fn of<'c>(packet: Option<&'c mut PacketState>, name: &str) -> Result<Skb<'c>, HelperError> {
        let fail = || {
            HelperError::Failed(format!(
                "bpf_{name} needs the packet of a tc or socket filter run"
            ))
        };
        let state = packet.ok_or_else(fail)?;
        let skb = *state.context_mut::<SkBuff>().ok_or_else(fail)?;
        let size = state.buffer().len() as u32;
        let header_ok = |h: u32| h <= size;
        if !header_ok(skb.mac_header)
            || !header_ok(skb.network_header)
            || (skb.transport_header != UNSET && !header_ok(skb.transport_header))
        {
            return Err(corrupted());
        }
        Ok(Skb { state, skb })
    }

    fn data(&self) -> usize {
        self.state.data()
    }

    fn len(&self) -> usize {
        self.state.data_end() - self.state.data()
    }

    fn is_gso(&self) -> bool {
        self.skb.gso_size != 0
    }

    fn protocol(&self) -> u16 {
        u16::from_be(self.skb.protocol)
    }

    /// `skb_network_offset`: the network header relative to `data` (may be negative).
    fn network_offset(&self) -> i64 {
        i64::from(self.skb.network_header) - self.data() as i64
    }

    /// `skb_mac_header_len`: from the MAC header to the network header.
    fn mac_header_len(&self) -> Result<usize, HelperError> {
        (self.skb.network_header as usize)
            .checked_sub(self.skb.mac_header as usize)
            .ok_or_else(corrupted)
    }

    /// Shifts every header offset by `by` bytes after the buffer grew in front
    /// (`skb_headers_offset_update`). The kernel adds to the transport header's 16-bit
    /// offset even when it is unset (0xffff): it wraps around to `by - 1` and reads as set
    /// from then on, which `bpf_skb_change_tail` then takes as the shortest length.
    fn shift_headers(&mut self, by: usize) {
        let by = by as u32;
        self.skb.mac_header += by;
        self.skb.network_header += by;
        self.skb.transport_header = if self.skb.transport_header == UNSET {
            (0xffff + by) & 0xffff
        } else {
            self.skb.transport_header + by
        };
    }

    /// `skb_push`: `n` more bytes in front of the packet, taking them from the headroom.
    /// When it is short, the head is reallocated with the missing room rounded up to
    /// `NET_SKB_PAD` in front (`skb_cow`, `skb_cow_head`); the reallocation copies the
    /// buffer up to the packet's end only, so what lay past it is gone (zero here; the
    /// kernel's new buffer holds whatever the allocator gave).
    fn push(&mut self, n: usize) {
        if self.data() < n {
            let front = (n - self.data()).next_multiple_of(NET_SKB_PAD);
            self.state.grow(front, 0);
            self.shift_headers(front);
            let end = self.state.data_end();
            self.state.buffer_mut()[end..].fill(0);
        }
        let (d, e) = (self.data() - n, self.state.data_end());
        self.set(d, e);
    }

    /// `__skb_pull`: `n` (at most the length) bytes off the front.
    fn pull(&mut self, n: usize) {
        let (d, e) = (self.data() + n, self.state.data_end());
        self.set(d, e);
    }

    /// Grows the packet to `new_len` bytes, the new ones zero.
    fn put_zeroed(&mut self, new_len: usize) {
        let end = self.data() + new_len;
        let size = self.state.buffer().len();
        if end > size {
            self.state.grow(0, end - size);
        }
        let old_end = self.state.data_end();
        self.state.buffer_mut()[old_end..end].fill(0);
        let d = self.data();
        self.set(d, end);
    }

    /// Cuts the packet to `new_len` bytes.
    fn trim(&mut self, new_len: usize) {
        let d = self.data();
        self.set(d, d + new_len);
    }

    fn set(&mut self, data: usize, end: usize) {
        let ok = self.state.set_bounds(data, data, end);
        debug_assert!(ok, "skb bounds inside the buffer");
    }

    /// The packet's bytes, for writing.
    fn bytes(&mut self) -> &mut [u8] {
        self.state.packet_mut()
    }

    /// The buffer from `data` on, at least `n` bytes of it (the tailroom grown if short):
    /// header moves may, as in the kernel, reach past the packet's end into the tailroom.
    fn data_and_tailroom(&mut self, n: usize) -> &mut [u8] {
        let size = self.state.buffer().len();
        if self.data() + n > size {
            self.state.grow(0, self.data() + n - size);
        }
        let d = self.data();
        &mut self.state.buffer_mut()[d..]
    }

    /// `skb_clear_hash`.
    fn clear_hash(&mut self) {
        self.skb.hash = 0;
        self.skb.sw_hash = 0;
        self.skb.l4_hash = 0;
    }
}

/// Runs `f` on the skb of `ctx`'s run and commits its changes.
fn with_skb(
    ctx: &mut HelperContext<'_, '_>,
    name: &str,
    f: impl FnOnce(&mut Skb<'_>) -> HelperResult,
) -> HelperResult {
    let mut skb = Skb::of(ctx.packet.as_deref_mut(), name)?;
    let ret = f(&mut skb);
    let Skb { state, skb } = skb;
    *state.context_mut::<SkBuff>().expect("an skb state") = skb;
    state.resync(ctx.memory);
    ret
}

/// `long bpf_skb_store_bytes(skb, u32 offset, const void *from, u32 len, u64 flags)`.
fn store_bytes(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (offset, from, len, flags) = (a[1] as u32, a[2], a[3] as u32, a[4]);
    if flags & !(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH) != 0 {
        return Ok(EINVAL);
    }
    let bytes = ctx.memory.slice(from, len.into()).map(<[u8]>::to_vec);
    with_skb(ctx, "skb_store_bytes", |skb| {
        if offset > i32::MAX as u32 || offset as usize + len as usize > skb.len() {
            return Ok(EFAULT);
        }
        let bytes = bytes?;
        let at = offset as usize;
        skb.bytes()[at..at + bytes.len()].copy_from_slice(&bytes);
        // BPF_F_RECOMPUTE_CSUM only updates skb->csum of CHECKSUM_COMPLETE skbs.
        if flags & BPF_F_INVALIDATE_HASH != 0 {
            skb.clear_hash();
        }
        Ok(0)
    })
}

/// Copies `len` bytes from `src` of the packet state to `to` in memory, or zeroes `to`
/// and returns `-EFAULT` when `src` is `None` (out of range).
fn copy_out(
    ctx: &mut HelperContext<'_, '_>,
    src: Option<Vec<u8>>,
    to: u64,
    len: u32,
) -> HelperResult {
    let dst = ctx.memory.slice_mut(to, len.into())?;
    match src {
        Some(bytes) => {
            dst.copy_from_slice(&bytes);
            Ok(0)
        }
        None => {
            dst.fill(0);
            Ok(EFAULT)
        }
    }
}

/// `long bpf_skb_load_bytes(skb, u32 offset, void *to, u32 len)`.
fn load_bytes(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (offset, to, len) = (a[1] as u32, a[2], a[3] as u32);
    let skb = Skb::of(ctx.packet.as_deref_mut(), "skb_load_bytes")?;
    let src = (offset <= i32::MAX as u32 && offset as usize + len as usize <= skb.len())
        .then(|| skb.state.packet()[offset as usize..offset as usize + len as usize].to_vec());
    copy_out(ctx, src, to, len)
}

/// `long bpf_skb_load_bytes_relative(skb, u32 offset, void *to, u32 len, u32 start_header)`:
/// from the MAC header (0) or the network header (1), up to the packet's end.
fn load_bytes_relative(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (offset, to, len, start) = (a[1] as u32, a[2], a[3] as u32, a[4] as u32);
    let skb = Skb::of(ctx.packet.as_deref_mut(), "skb_load_bytes_relative")?;
    let base = match start {
        0 => Some(skb.skb.mac_header as usize),
        1 => Some(skb.skb.network_header as usize),
        _ => None,
    };
    let end = skb.state.data_end();
    let src = base
        .filter(|_| offset <= 0xffff)
        .map(|b| b + offset as usize)
        .filter(|&p| p + len as usize <= end)
        .map(|p| skb.state.buffer()[p..p + len as usize].to_vec());
    copy_out(ctx, src, to, len)
}

/// `long bpf_skb_pull_data(skb, u32 len)`: makes `len` bytes (0: all) directly
/// accessible. A test-run skb is linear, so this only fails when the packet is shorter.
fn pull_data(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let len = a[1] as u32;
    with_skb(ctx, "skb_pull_data", |skb| {
        Ok(if len as usize > skb.len() { ENOMEM } else { 0 })
    })
}

/// The checksum field at `offset` for `bpf_l3_csum_replace`/`bpf_l4_csum_replace`: an even
/// offset below 64 KiB with the two bytes inside the packet, else `-EFAULT`.
fn csum_field(skb: &Skb<'_>, offset: u32) -> Result<usize, u64> {
    if offset > 0xffff || offset & 1 != 0 || offset as usize + 2 > skb.len() {
        return Err(EFAULT);
    }
    Ok(offset as usize)
}

fn read16(skb: &mut Skb<'_>, at: usize) -> u16 {
    let b = skb.bytes();
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn write16(skb: &mut Skb<'_>, at: usize, v: u16) {
    skb.bytes()[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// `long bpf_l3_csum_replace(skb, u32 offset, u64 from, u64 to, u64 flags)`: updates the
/// checksum at `offset` for a 2- or 4-byte field changed from `from` to `to` (the size in
/// the low 4 bits of `flags`), or by the difference `to` (size 0, `from` 0).
fn l3_csum_replace(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (offset, from, to, flags) = (a[1] as u32, a[2], a[3], a[4]);
    if flags & !BPF_F_HDR_FIELD_MASK != 0 {
        return Ok(EINVAL);
    }
    with_skb(ctx, "l3_csum_replace", |skb| {
        let at = match csum_field(skb, offset) {
            Ok(at) => at,
            Err(e) => return Ok(e),
        };
        let field = read16(skb, at);
        let new = match flags & BPF_F_HDR_FIELD_MASK {
            0 if from != 0 => return Ok(EINVAL),
            0 => csum::replace_by_diff(field, to as u32),
            2 => csum::replace2(field, from as u16, to as u16),
            4 => csum::replace4(field, from as u32, to as u32),
            _ => return Ok(EINVAL),
        };
        write16(skb, at, new);
        Ok(0)
    })
}

/// `long bpf_l4_csum_replace(skb, u32 offset, u64 from, u64 to, u64 flags)`: as
/// `bpf_l3_csum_replace` for a TCP/UDP checksum. `BPF_F_PSEUDO_HDR` (the field is part of
/// the pseudo header) only matters for offloaded checksums, which a test-run skb does not
/// have; with `BPF_F_MARK_MANGLED_0` a zero (disabled UDP) checksum stays zero unless
/// `BPF_F_MARK_ENFORCE`, and a result of zero is stored as 0xffff.
fn l4_csum_replace(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (offset, from, to, flags) = (a[1] as u32, a[2], a[3], a[4]);
    let known = BPF_F_MARK_MANGLED_0
        | BPF_F_MARK_ENFORCE
        | BPF_F_PSEUDO_HDR
        | BPF_F_HDR_FIELD_MASK
        | BPF_F_IPV6;
    if flags & !known != 0 {
        return Ok(EINVAL);
    }
    let mangled_0 = flags & BPF_F_MARK_MANGLED_0 != 0;
    with_skb(ctx, "l4_csum_replace", |skb| {
        let at = match csum_field(skb, offset) {
            Ok(at) => at,
            Err(e) => return Ok(e),
        };
        let field = read16(skb, at);
        if mangled_0 && flags & BPF_F_MARK_ENFORCE == 0 && field == 0 {
            return Ok(0);
        }
        let new = match flags & BPF_F_HDR_FIELD_MASK {
            0 if from != 0 => return Ok(EINVAL),
            0 => csum::replace_by_diff(field, to as u32),
            // inet_proto_csum_replace2 is replace4 of the zero-extended values.
            2 => csum::replace4(field, from as u16 as u32, to as u16 as u32),
            4 => csum::replace4(field, from as u32, to as u32),
            _ => return Ok(EINVAL),
        };
        let new = if mangled_0 && new == 0 {
            CSUM_MANGLED_0
        } else {
            new
        };
        write16(skb, at, new);
        Ok(0)
    })
}

/// `s64 bpf_csum_diff(__be32 *from, u32 from_size, __be32 *to, u32 to_size, __wsum seed)`.
pub(crate) fn csum_diff(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let read = |ptr: u64, size: u64| -> Result<Vec<u8>, HelperError> {
        if size == 0 {
            return Ok(Vec::new());
        }
        Ok(ctx.memory.slice(ptr, size)?.to_vec())
    };
    let from = read(a[0], a[1] as u32 as u64)?;
    let to = read(a[2], a[3] as u32 as u64)?;
    Ok(u64::from(csum::diff(&from, &to, a[4] as u32)))
}

/// `s64 bpf_csum_update(skb, __wsum csum)`: adds to the checksum of a `CHECKSUM_COMPLETE`
/// skb; a test-run skb's checksum is never complete, so `-ENOTSUPP`.
fn csum_update(ctx: &mut HelperContext<'_, '_>, _: Args) -> HelperResult {
    Skb::of(ctx.packet.as_deref_mut(), "csum_update")?;
    Ok(ENOTSUPP)
}

/// `long bpf_csum_level(skb, u64 level)`: queries or changes how many checksums of the
/// packet are known good (`CHECKSUM_UNNECESSARY` and `csum_level`).
fn csum_level(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    with_skb(ctx, "csum_level", |skb| {
        let s = &mut skb.skb;
        match a[1] {
            BPF_CSUM_LEVEL_INC if s.csum_unnecessary != 0 => {
                s.csum_level = s.csum_level.saturating_add(1).min(MAX_CSUM_LEVEL);
            }
            BPF_CSUM_LEVEL_INC => {
                s.csum_unnecessary = 1;
                s.csum_level = 0;
            }
            BPF_CSUM_LEVEL_DEC if s.csum_unnecessary != 0 && s.csum_level == 0 => {
                s.csum_unnecessary = 0;
            }
            BPF_CSUM_LEVEL_DEC if s.csum_unnecessary != 0 => s.csum_level -= 1,
            BPF_CSUM_LEVEL_DEC => {}
            BPF_CSUM_LEVEL_RESET => reset_csum_unnecessary(s),
            BPF_CSUM_LEVEL_QUERY if s.csum_unnecessary != 0 => return Ok(s.csum_level.into()),
            BPF_CSUM_LEVEL_QUERY => return Ok(EACCES),
            _ => return Ok(EINVAL),
        }
        Ok(0)
    })
}

/// `__skb_reset_checksum_unnecessary`.
fn reset_csum_unnecessary(s: &mut SkBuff) {
    s.csum_unnecessary = 0;
    s.csum_level = 0;
}

/// `long bpf_skb_change_proto(skb, __be16 proto, u64 flags)`: IPv4 to IPv6 makes 20
/// bytes of room after the MAC header, IPv6 to IPv4 removes 20 there; the program
/// rewrites the header.
fn change_proto(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (to, flags) = (u16::from_be(a[1] as u16), a[2]);
    if flags != 0 {
        return Ok(EINVAL);
    }
    with_skb(ctx, "skb_change_proto", |skb| {
        const LEN_DIFF: usize = 40 - 20;
        let off = skb.mac_header_len()?;
        match (skb.protocol(), to) {
            (eth_p::IP, eth_p::IPV6) => {
                net_hdr_push(skb, off, LEN_DIFF);
                skb.skb.protocol = eth_p::IPV6.to_be();
            }
            (eth_p::IPV6, eth_p::IP) => {
                if let Err(e) = net_hdr_pop(skb, off, LEN_DIFF) {
                    return Ok(e);
                }
                skb.skb.protocol = eth_p::IP.to_be();
            }
            _ => return Ok(ENOTSUPP),
        }
        skb.clear_hash();
        Ok(0)
    })
}

/// `long bpf_skb_change_head(skb, u32 len, u64 flags)`: `len` zero bytes in front of
/// the packet, which become the MAC header.
fn change_head(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (head_room, flags) = (a[1] as u32, a[2]);
    with_skb(ctx, "skb_change_head", |skb| {
        let len = skb.len() as u32;
        let new_len = len.wrapping_add(head_room);
        if flags != 0 || (!skb.is_gso() && new_len > MAX_LEN) || new_len < len {
            return Ok(EINVAL);
        }
        // A GSO skb may grow past the usual maximum, up to what the kernel can allocate.
        if skb.state.buffer().len() + head_room as usize > KMALLOC_MAX_SIZE - SHARED_INFO {
            return Ok(ENOMEM);
        }
        skb.push(head_room as usize);
        skb.bytes()[..head_room as usize].fill(0);
        skb.skb.mac_header = skb.data() as u32;
        Ok(0)
    })
}

/// `long bpf_skb_change_tail(skb, u32 len, u64 flags)`: grows (with zeros) or trims the
/// packet to `len` bytes, not below the network (or transport) header's offset.
fn change_tail(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (new_len, flags) = (a[1] as u32, a[2]);
    with_skb(ctx, "skb_change_tail", |skb| {
        let mut min_len = skb.network_offset().max(0);
        if skb.skb.transport_header != UNSET {
            let t = i64::from(skb.skb.transport_header) - skb.data() as i64;
            if t > 0 {
                min_len = t;
            }
        }
        if flags != 0 || new_len > MAX_LEN || i64::from(new_len) < min_len {
            return Ok(EINVAL);
        }
        if skb.skb.encapsulation != 0 {
            return Ok(ENOTSUPP);
        }
        let new_len = new_len as usize;
        if new_len > skb.len() {
            skb.put_zeroed(new_len);
        } else {
            skb.trim(new_len);
        }
        if skb.is_gso() {
            // skb_gso_reset.
            skb.skb.gso_size = 0;
            skb.skb.gso_segs = 0;
        }
        Ok(0)
    })
}

/// Length of the network header of `proto` without options (`bpf_skb_net_base_len`).
fn net_base_len(proto: u16) -> Option<usize> {
    match proto {
        eth_p::IP => Some(20),
        eth_p::IPV6 => Some(40),
        _ => None,
    }
}

/// Moves the network header (and the transport header when it coincides) by `delta`.
fn move_net_headers(skb: &mut Skb<'_>, delta: i64) {
    let trans_same = skb.skb.transport_header == skb.skb.network_header;
    let by = |h: u32| (i64::from(h) + delta) as u32;
    skb.skb.mac_header = by(skb.skb.mac_header);
    skb.skb.network_header = by(skb.skb.network_header);
    if trans_same {
        skb.skb.transport_header = skb.skb.network_header;
    }
}

/// `bpf_skb_net_hdr_push`: `len` zero bytes inserted at offset `off` of the packet.
fn net_hdr_push(skb: &mut Skb<'_>, off: usize, len: usize) {
    skb.push(len);
    let b = skb.data_and_tailroom(off + len);
    b.copy_within(len..len + off, 0);
    b[off..off + len].fill(0);
    move_net_headers(skb, -(len as i64));
}

/// `bpf_skb_net_hdr_pop`: `len` bytes removed at offset `off`, `-ENOMEM` if the packet
/// is shorter than `off + len`.
fn net_hdr_pop(skb: &mut Skb<'_>, off: usize, len: usize) -> Result<(), u64> {
    if off + len > skb.len() {
        return Err(ENOMEM);
    }
    skb.bytes().copy_within(0..off, len);
    skb.pull(len);
    move_net_headers(skb, len as i64);
    Ok(())
}

/// `long bpf_skb_adjust_room(skb, s32 len_diff, u32 mode, u64 flags)`: grows or shrinks
/// the room after the MAC header (`BPF_ADJ_ROOM_MAC`) or after the network header
/// (`BPF_ADJ_ROOM_NET`), optionally declaring an encapsulation.
fn adjust_room(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (len_diff, mode, flags) = (a[1] as i32, a[2] as u32, a[3]);
    let l3_mask = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6;
    let known = BPF_F_ADJ_ROOM_FIXED_GSO
        | DECAP_MASK
        | l3_mask
        | BPF_F_ADJ_ROOM_ENCAP_L4_GRE
        | BPF_F_ADJ_ROOM_ENCAP_L4_UDP
        | BPF_F_ADJ_ROOM_ENCAP_L2_ETH
        | (0xff << BPF_ADJ_ROOM_ENCAP_L2_SHIFT)
        | BPF_F_ADJ_ROOM_NO_CSUM_RESET;
    if flags & !known != 0 || flags & DECAP_MASK == DECAP_MASK {
        return Ok(EINVAL);
    }
    let diff = len_diff.unsigned_abs() as usize;
    if diff > 0xfff {
        return Ok(EFAULT);
    }
    with_skb(ctx, "skb_adjust_room", |skb| {
        let ret = adjust_room_of(skb, len_diff, diff, mode, flags)?;
        if ret == 0 && flags & BPF_F_ADJ_ROOM_NO_CSUM_RESET == 0 {
            reset_csum_unnecessary(&mut skb.skb);
        }
        Ok(ret)
    })
}

/// `bpf_skb_adjust_room` after its first checks, on the skb.
fn adjust_room_of(
    skb: &mut Skb<'_>,
    len_diff: i32,
    diff: usize,
    mode: u32,
    flags: u64,
) -> HelperResult {
    let proto = skb.protocol();
    let Some(base_len) = net_base_len(proto) else {
        return Ok(ENOTSUPP);
    };
    let mut len_min = base_len;
    let shrink = len_diff < 0;
    // Decapsulating only shrinks, and what remains must hold the inner header.
    if flags & DECAP_MASK != 0 {
        if !shrink {
            return Ok(EINVAL);
        }
        len_min = if flags & BPF_F_ADJ_ROOM_DECAP_L3_IPV4 != 0 {
            20
        } else {
            40
        };
    }
    let mut off = skb.mac_header_len()?;
    match u64::from(mode) {
        BPF_ADJ_ROOM_NET => off += base_len,
        BPF_ADJ_ROOM_MAC => {}
        _ => return Ok(ENOTSUPP),
    }
    let len = skb.len() as u32;
    let len_cur = len.wrapping_sub(skb.network_offset() as u32) as usize;
    if (shrink && (diff >= len_cur || len_cur - diff < len_min))
        || (!shrink && len as usize + diff > MAX_LEN as usize && !skb.is_gso())
    {
        return Ok(ENOTSUPP);
    }
    // A test-run skb's GSO type is always 0: neither TCP nor UDP_L4 segmentation,
    // which bpf_skb_net_grow and bpf_skb_net_shrink refuse.
    if shrink {
        let allowed = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_NO_CSUM_RESET | DECAP_MASK;
        if flags & !allowed != 0 {
            return Ok(EINVAL);
        }
        if skb.is_gso() {
            return Ok(ENOTSUPP);
        }
        if let Err(e) = net_hdr_pop(skb, off, diff) {
            return Ok(e);
        }
        if flags & BPF_F_ADJ_ROOM_DECAP_L3_IPV4 != 0 {
            skb.skb.protocol = eth_p::IP.to_be();
        } else if flags & BPF_F_ADJ_ROOM_DECAP_L3_IPV6 != 0 {
            skb.skb.protocol = eth_p::IPV6.to_be();
        }
        return Ok(0);
    }
    if skb.is_gso() {
        return Ok(ENOTSUPP);
    }
    grow_room(skb, off, diff, flags)
}

/// `bpf_skb_net_grow`.
fn grow_room(skb: &mut Skb<'_>, off: usize, len_diff: usize, flags: u64) -> HelperResult {
    let inner_mac_len = (flags >> BPF_ADJ_ROOM_ENCAP_L2_SHIFT) as usize;
    let v4 = flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 != 0;
    let v6 = flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 != 0;
    let gre = flags & BPF_F_ADJ_ROOM_ENCAP_L4_GRE != 0;
    let udp = flags & BPF_F_ADJ_ROOM_ENCAP_L4_UDP != 0;
    let encap = v4 || v6;
    let mut mac_len = 0;
    if encap {
        if (v4 && v6) || (gre && udp) {
            return Ok(EINVAL);
        }
        if flags & BPF_F_ADJ_ROOM_ENCAP_L2_ETH != 0 && inner_mac_len < ETH_HLEN {
            return Ok(EINVAL);
        }
        if skb.skb.encapsulation != 0 {
            return Ok(EALREADY);
        }
        mac_len = skb.mac_header_len()?;
        if inner_mac_len > len_diff {
            return Ok(EINVAL);
        }
    }
    net_hdr_push(skb, off, len_diff);
    if encap {
        skb.skb.encapsulation = 1;
        let data = skb.data() as u32;
        skb.skb.network_header = data + mac_len as u32;
        if gre || udp {
            let nh_len = if v6 { 40 } else { 20 };
            skb.skb.transport_header = data + (mac_len + nh_len) as u32;
        }
        let proto = skb.protocol();
        if proto == eth_p::IP && v6 {
            skb.skb.protocol = eth_p::IPV6.to_be();
        } else if proto == eth_p::IPV6 && v4 {
            skb.skb.protocol = eth_p::IP.to_be();
        }
    }
    Ok(0)
}

fn is_vlan(proto: u16) -> bool {
    proto == eth_p::P_8021Q || proto == eth_p::P_8021AD
}

/// `long bpf_skb_vlan_push(skb, __be16 vlan_proto, u16 vlan_tci)`: the tag becomes the
/// skb's (offloaded) VLAN tag; a tag already there is first written into the packet.
/// A protocol other than 802.1Q or 802.1ad is taken as 802.1Q.
fn vlan_push(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (proto, tci) = (u16::from_be(a[1] as u16), a[2] as u16);
    let proto = if is_vlan(proto) {
        proto
    } else {
        eth_p::P_8021Q
    };
    with_skb(ctx, "skb_vlan_push", |skb| {
        if skb.skb.vlan_present != 0 {
            if skb.data() != skb.skb.mac_header as usize {
                return Ok(EINVAL);
            }
            // __vlan_insert_tag: the tag goes after the two MAC addresses.
            let (old_proto, old_tci) = (skb.skb.vlan_proto, skb.skb.vlan_tci);
            skb.push(VLAN_HLEN);
            let b = skb.data_and_tailroom(16);
            b.copy_within(VLAN_HLEN..VLAN_HLEN + 12, 0);
            b[12..14].copy_from_slice(&old_proto.to_ne_bytes());
            b[14..16].copy_from_slice(&old_tci.to_be_bytes());
            skb.skb.mac_header = skb.data() as u32;
            // The network header moves back with the MAC header, keeping its offset from
            // the packet's start, as in Linux 6.18 (bpf_skb_change_tail's shortest
            // length shows it).
            skb.skb.network_header = skb
                .skb
                .network_header
                .checked_sub(VLAN_HLEN as u32)
                .ok_or_else(corrupted)?;
            skb.skb.protocol = old_proto;
        }
        skb.skb.vlan_proto = proto.to_be();
        skb.skb.vlan_tci = tci;
        skb.skb.vlan_present = 1;
        Ok(0)
    })
}

/// `__skb_vlan_pop`: removes the VLAN header after the MAC addresses; the encapsulated
/// protocol becomes the skb's. Returns the tag's TCI, or the error.
fn vlan_header_pop(skb: &mut Skb<'_>) -> Result<u16, u64> {
    if skb.data() != skb.skb.mac_header as usize {
        return Err(EINVAL);
    }
    if skb.len() < ETH_HLEN + VLAN_HLEN {
        return Err(ENOMEM);
    }
    let b = skb.bytes();
    let tci = u16::from_be_bytes([b[14], b[15]]);
    let inner = u16::from_be_bytes([b[16], b[17]]);
    b.copy_within(0..12, VLAN_HLEN);
    skb.pull(VLAN_HLEN);
    // vlan_set_encap_proto: a length instead of a protocol means 802.3 (raw, 0xffff
    // first) or 802.2.
    let proto = if inner >= eth_p::P_802_3_MIN {
        inner
    } else {
        let data = skb.data();
        let raw = skb.state.buffer().get(data + ETH_HLEN..data + ETH_HLEN + 2);
        if raw == Some(&[0xff, 0xff][..]) {
            eth_p::P_802_3
        } else {
            eth_p::P_802_2
        }
    };
    skb.skb.protocol = proto.to_be();
    skb.skb.mac_header += VLAN_HLEN as u32;
    if skb.network_offset() < ETH_HLEN as i64 {
        skb.skb.network_header = (skb.data() + ETH_HLEN) as u32;
    }
    Ok(tci)
}

/// `long bpf_skb_vlan_pop(skb)`: drops the offloaded tag, or the packet's outer tag; a
/// next tag in the packet becomes the offloaded one.
fn vlan_pop(ctx: &mut HelperContext<'_, '_>, _: Args) -> HelperResult {
    with_skb(ctx, "skb_vlan_pop", |skb| {
        if skb.skb.vlan_present != 0 {
            skb.skb.vlan_present = 0;
            skb.skb.vlan_proto = 0;
            skb.skb.vlan_tci = 0;
        } else {
            if !is_vlan(skb.protocol()) {
                return Ok(0);
            }
            if let Err(e) = vlan_header_pop(skb) {
                return Ok(e);
            }
        }
        if !is_vlan(skb.protocol()) {
            return Ok(0);
        }
        let proto = skb.skb.protocol;
        match vlan_header_pop(skb) {
            Ok(tci) => {
                skb.skb.vlan_proto = proto;
                skb.skb.vlan_tci = tci;
                skb.skb.vlan_present = 1;
                Ok(0)
            }
            Err(e) => Ok(e),
        }
    })
}

/// `long bpf_skb_change_type(skb, u32 type)`: only between host, broadcast, multicast
/// and other-host packets.
fn change_type(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let new = a[1] as u32;
    with_skb(ctx, "skb_change_type", |skb| {
        // skb_pkt_type_ok: PACKET_OTHERHOST (3) or below.
        if u32::from(skb.skb.pkt_type) > 3 || new > 3 {
            return Ok(EINVAL);
        }
        skb.skb.pkt_type = new as u8;
        Ok(0)
    })
}

/// `long bpf_redirect(u32 ifindex, u64 flags)`: `TC_ACT_REDIRECT`, or `TC_ACT_SHOT` for
/// flags other than `BPF_F_INGRESS`.
fn redirect(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (ifindex, flags) = (a[0] as u32, a[1]);
    let skb = Skb::of(ctx.packet.as_deref_mut(), "redirect")?;
    if flags & !BPF_F_INGRESS != 0 {
        return Ok(tc_act::SHOT as u64);
    }
    skb.state.redirect.set_ifindex(ifindex, flags);
    Ok(tc_act::REDIRECT as u64)
}

/// `long bpf_clone_redirect(skb, u32 ifindex, u64 flags)`: sends a copy of the packet to
/// device `ifindex`'s egress (or ingress with `BPF_F_INGRESS`). bpfkit's only device is
/// loopback, which takes every well-formed Ethernet frame.
fn clone_redirect(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    let (ifindex, flags) = (a[1] as u32, a[2]);
    if flags & !BPF_F_INGRESS != 0 {
        return Ok(EINVAL);
    }
    with_skb(ctx, "clone_redirect", |skb| {
        // convert___skb_to_skb can make GSO skbs without a GSO type; the kernel refuses
        // to let them out.
        if skb.is_gso() {
            return Ok(EBADMSG);
        }
        if ifindex != LOOPBACK_IFINDEX {
            return Ok(EINVAL);
        }
        // __bpf_redirect_common, for devices with a MAC header.
        if skb.skb.mac_header >= skb.skb.network_header || skb.len() == 0 {
            return Ok(ERANGE);
        }
        Ok(0)
    })
}

/// `u32 bpf_get_hash_recalc(skb)`: the skb's hash, computed from the flow if it has none.
fn get_hash_recalc(ctx: &mut HelperContext<'_, '_>, _: Args) -> HelperResult {
    with_skb(ctx, "get_hash_recalc", |skb| {
        if skb.skb.l4_hash == 0 && skb.skb.sw_hash == 0 {
            let net = (skb.skb.network_header as usize).min(skb.state.data_end());
            let proto = skb.protocol();
            let (hash, l4) = flow_hash(proto, &skb.state.buffer()[net..skb.state.data_end()]);
            skb.skb.hash = hash;
            skb.skb.sw_hash = 1;
            skb.skb.l4_hash = l4 as u8;
        }
        Ok(skb.skb.hash.into())
    })
}

/// `long bpf_set_hash_invalid(skb)`: the next `bpf_get_hash_recalc` computes the hash.
fn set_hash_invalid(ctx: &mut HelperContext<'_, '_>, _: Args) -> HelperResult {
    with_skb(ctx, "set_hash_invalid", |skb| {
        skb.clear_hash();
        Ok(0)
    })
}

/// `long bpf_set_hash(skb, u32 hash)`: sets the hash, as an L4 software hash.
fn set_hash(ctx: &mut HelperContext<'_, '_>, a: Args) -> HelperResult {
    with_skb(ctx, "set_hash", |skb| {
        skb.skb.hash = a[1] as u32;
        skb.skb.sw_hash = 1;
        skb.skb.l4_hash = 1;
        Ok(0)
    })
}

type Helper = fn(&mut HelperContext<'_, '_>, Args) -> HelperResult;

/// The helpers socket filters may call besides the general ones (`sk_filter_func_proto`).
const SOCKET_FILTER: [(i32, &str, Helper); 2] = [
    (id::SKB_LOAD_BYTES, "skb_load_bytes", load_bytes),
    (
        id::SKB_LOAD_BYTES_RELATIVE,
        "skb_load_bytes_relative",
        load_bytes_relative,
    ),
];

/// The helpers tc programs may call besides the general ones (`tc_cls_act_func_proto`).
const TC: [(i32, &str, Helper); 21] = [
    (id::SKB_STORE_BYTES, "skb_store_bytes", store_bytes),
    (id::L3_CSUM_REPLACE, "l3_csum_replace", l3_csum_replace),
    (id::L4_CSUM_REPLACE, "l4_csum_replace", l4_csum_replace),
    (id::CLONE_REDIRECT, "clone_redirect", clone_redirect),
    (id::SKB_VLAN_PUSH, "skb_vlan_push", vlan_push),
    (id::SKB_VLAN_POP, "skb_vlan_pop", vlan_pop),
    (id::REDIRECT, "redirect", redirect),
    (id::CSUM_DIFF, "csum_diff", csum_diff),
    (id::SKB_CHANGE_TYPE, "skb_change_type", change_type),
    (id::GET_HASH_RECALC, "get_hash_recalc", get_hash_recalc),
    (id::SKB_CHANGE_TAIL, "skb_change_tail", change_tail),
    (id::SKB_PULL_DATA, "skb_pull_data", pull_data),
    (id::CSUM_UPDATE, "csum_update", csum_update),
    (id::SET_HASH_INVALID, "set_hash_invalid", set_hash_invalid),
    (id::SKB_CHANGE_HEAD, "skb_change_head", change_head),
    (id::SET_HASH, "set_hash", set_hash),
    (id::SKB_ADJUST_ROOM, "skb_adjust_room", adjust_room),
    (id::SKB_LOAD_BYTES, "skb_load_bytes", load_bytes),
    (
        id::SKB_LOAD_BYTES_RELATIVE,
        "skb_load_bytes_relative",
        load_bytes_relative,
    ),
    (id::SKB_CHANGE_PROTO, "skb_change_proto", change_proto),
    (id::CSUM_LEVEL, "csum_level", csum_level),
];

/// Registers the skb helpers of a tc program, or (with `socket_filter`) of a socket filter.
pub fn register(helpers: &mut Helpers, socket_filter: bool) {
    let table: &[(i32, &str, Helper)] = if socket_filter { &SOCKET_FILTER } else { &TC };
    for &(id, name, f) in table {
        helpers.register(id, name, f);
    }
}
