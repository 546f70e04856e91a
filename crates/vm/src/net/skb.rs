//! tc (`sched_cls`, `sched_act`) and socket filters: bpfkit's real `struct sk_buff`
//! ([`SkBuff`]), how `struct __sk_buff` maps onto it ([`LAYOUT`]), and the packet as the
//! kernel's `BPF_PROG_TEST_RUN` builds it (`bpf_prog_test_run_skb` in net/bpf/test_run.c):
//!
//! - the packet is copied behind `NET_SKB_PAD` (64) bytes of headroom, at most a page
//!   minus that headroom and the `skb_shared_info` (3712 bytes), at least an Ethernet
//!   header;
//! - `eth_type_trans` on the loopback device (ifindex 1, address and broadcast address
//!   all zero) sets `protocol` and `pkt_type` and pulls the Ethernet header; the network
//!   header is where the pull left `data`; an IPv4 (IPv6) packet shorter than its header
//!   is refused;
//! - tc programs see the Ethernet header again (it is pushed back): `data` and offset 0 of
//!   `LD_ABS` are the MAC header. Socket filters run on the network header, and after the
//!   run the test run pushes 14 zero bytes in front of what it copies out;
//! - with a context (`ctx_in`), only `mark`, `priority`, `ingress_ifindex`, `ifindex`
//!   (0 or 1: the loopback device), `cb`, `tstamp`, `wire_len`, `gso_segs`, `gso_size` and
//!   `hwtstamp` may be non-zero (`convert___skb_to_skb`); after the run the context out
//!   is the context in with `mark`, `priority`, `ingress_ifindex`, `ifindex`, `tstamp`,
//!   `cb`, `wire_len`, `gso_segs` and `hwtstamp` read back (`convert_skb_to___skb`).
//!   Without a context every field starts at zero but `ifindex` (1), `len`, `protocol`
//!   and `pkt_type`: even `wire_len`, which the test run only sets from a context;
//! - the skb has a socket (`sk`), made from the packet's addresses ([`super::sock`]).

use super::convert::{ContextLayout, FieldMap};
use super::packet::{Bounds, Context, Headers, PacketState};
use super::sock::BpfSock;
use super::{KindOps, PacketError, PacketInput};
use std::any::Any;
use std::mem::offset_of;

/// Headroom in front of the packet (`NET_SKB_PAD + NET_IP_ALIGN` on x86-64).
pub const HEADROOM: usize = 64;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86-64.
const SHARED_INFO_SIZE: usize = 320;
/// Longest packet the test run accepts: a page less the headroom and the shared info.
pub const MAX_PACKET: usize = 4096 - HEADROOM - SHARED_INFO_SIZE;
/// Longest an skb may grow through the helpers (`BPF_SKB_MAX_LEN`, `SKB_MAX_ALLOC`:
/// four pages less the shared info).
pub const MAX_LEN: u32 = 4 * 4096 - SHARED_INFO_SIZE as u32;
/// `ETH_HLEN`.
pub const ETH_HLEN: usize = 14;
/// Size of `struct __sk_buff`.
pub const SK_BUFF_UAPI_SIZE: usize = 192;
/// `GSO_LEGACY_MAX_SIZE`: the largest `wire_len` a context may give.
const GSO_LEGACY_MAX_SIZE: u32 = 65536;
/// `GSO_MAX_SEGS`.
const GSO_MAX_SEGS: u32 = 65535;
/// The loopback device's ifindex: the device of every test-run skb.
pub const LOOPBACK_IFINDEX: u32 = 1;
/// A header offset that was never set (`(u16)~0U` in the kernel).
pub const UNSET: u32 = u32::MAX;

/// Ethernet protocol numbers (`ETH_P_*`), host order.
pub mod eth_p {
    pub const IP: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const P_8021Q: u16 = 0x8100;
    pub const P_8021AD: u16 = 0x88a8;
    pub const P_802_3: u16 = 0x0001;
    pub const P_802_2: u16 = 0x0004;
    /// Smallest value of the Ethernet type field that is a protocol, not a length.
    pub const P_802_3_MIN: u16 = 0x0600;
}

/// Packet types (`PACKET_*` of `linux/if_packet.h`).
pub mod pkt_type {
    pub const HOST: u8 = 0;
    pub const MULTICAST: u8 = 2;
    pub const OTHERHOST: u8 = 3;
}

/// tc verdicts (`TC_ACT_*` of `linux/pkt_cls.h`).
pub mod tc_act {
    pub const UNSPEC: i32 = -1;
    pub const OK: i32 = 0;
    pub const RECLASSIFY: i32 = 1;
    pub const SHOT: i32 = 2;
    pub const PIPE: i32 = 3;
    pub const STOLEN: i32 = 4;
    pub const QUEUED: i32 = 5;
    pub const REPEAT: i32 = 6;
    pub const REDIRECT: i32 = 7;
    pub const TRAP: i32 = 8;
}

/// bpfkit's real socket buffer: the fields `struct __sk_buff` accesses are converted to
/// (sizes and byte orders as the kernel's `struct sk_buff` keeps them, so converted narrow
/// loads see the same bytes), then the skb state the helpers keep, then the socket `sk`
/// points to.
///
/// The program's memory includes the whole struct, the socket as a read-only region of
/// its own, so a program run without verification could overwrite the helper state;
/// helpers check it before use and fail the run rather than trust it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SkBuff {
    /// Host address of the packet's first byte (`skb->data`).
    pub data: u64,
    /// Host address one past the packet's last byte.
    pub data_end: u64,
    /// Host address of the metadata in front of the packet (`data` when none).
    pub data_meta: u64,
    /// `skb->tstamp`.
    pub tstamp: u64,
    /// `skb_shinfo(skb)->hwtstamps.hwtstamp`.
    pub hwtstamp: u64,
    /// `skb->sk`: host address of [`SkBuff::sock`].
    pub sk: u64,
    /// `skb->len`.
    pub len: u32,
    pub mark: u32,
    pub priority: u32,
    /// `skb->skb_iif`.
    pub ingress_ifindex: u32,
    /// `skb->dev->ifindex`.
    pub ifindex: u32,
    /// The `data` of `struct qdisc_skb_cb`: the 20 bytes of `__sk_buff.cb`.
    pub cb: [u32; 5],
    pub hash: u32,
    /// `qdisc_skb_cb.pkt_len`.
    pub wire_len: u32,
    /// Always 0: a test-run skb never went through busy polling.
    pub napi_id: u32,
    /// `skb->protocol`, in network byte order (the bytes as on the wire).
    pub protocol: u16,
    /// `skb->vlan_proto`, in network byte order.
    pub vlan_proto: u16,
    /// `skb->vlan_tci`, host order.
    pub vlan_tci: u16,
    pub queue_mapping: u16,
    pub tc_index: u16,
    /// `qdisc_skb_cb.tc_classid`.
    pub tc_classid: u16,
    /// `skb_shinfo(skb)->gso_segs`.
    pub gso_segs: u16,
    /// `skb_shinfo(skb)->gso_size`.
    pub gso_size: u16,
    pub pkt_type: u8,
    pub vlan_present: u8,
    /// `skb->tstamp_type`: 0, a real-time receive timestamp, in every test run.
    pub tstamp_type: u8,
    /// Whether the hash is a software hash over the flow's ports (`skb->l4_hash`).
    pub l4_hash: u8,
    /// Whether the hash was computed or set in software (`skb->sw_hash`).
    pub sw_hash: u8,
    /// `skb->encapsulation`, set by `bpf_skb_adjust_room` encapsulating.
    pub encapsulation: u8,
    /// Whether the program is a socket filter (else tc).
    pub socket_filter: u8,
    /// Whether `ip_summed` is `CHECKSUM_UNNECESSARY` (else `CHECKSUM_NONE`, as the test
    /// run leaves it): changed by `bpf_csum_level`, reset by `bpf_skb_adjust_room`.
    pub csum_unnecessary: u8,
    /// `skb->csum_level`, 0 to 3.
    pub csum_level: u8,
    /// Explicit padding: every byte of the struct is initialized, programs may read them.
    _pad: [u8; 7],
    /// Buffer offset of the MAC header.
    pub mac_header: u32,
    /// Buffer offset of the network header.
    pub network_header: u32,
    /// Buffer offset of the transport header, [`UNSET`] until set.
    pub transport_header: u32,
    /// The socket of the skb, which the test run makes from the packet.
    pub sock: BpfSock,
}

impl Context for SkBuff {
    fn set_bounds(&mut self, b: Bounds) {
        self.data = b.data;
        self.data_end = b.data_end;
        self.data_meta = b.meta;
        self.len = (b.data_end - b.data) as u32;
        // Set with the bounds because a context copied in from another struct (laying a
        // packet out again) has that struct's address; the packet state sets the bounds
        // before every run after that.
        self.sk = &self.sock as *const BpfSock as u64;
    }

    fn read_only_tail(&self) -> usize {
        std::mem::size_of::<BpfSock>()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn headers(&self) -> Option<Headers> {
        Some(Headers {
            mac: (self.mac_header != UNSET).then_some(self.mac_header as usize),
            network: self.network_header as usize,
        })
    }
}

const fn scalar(uapi_off: u16, uapi_size: u8, real_off: usize, real_size: u8) -> FieldMap {
    FieldMap::scalar(uapi_off, uapi_size, real_off, real_size)
}

/// `struct __sk_buff` over [`SkBuff`]: every field tc programs and socket filters may
/// access (which of them a type may read or write is the verifier's business:
/// `tc_cls_act_is_valid_access`, `sk_filter_is_valid_access`). The sizes of the real
/// fields are the kernel's: a 4-byte read of `protocol` loads 2 bytes, zero-extended.
pub const LAYOUT: ContextLayout = ContextLayout {
    name: "struct __sk_buff",
    fields: &[
        scalar(0, 4, offset_of!(SkBuff, len), 4),
        scalar(4, 4, offset_of!(SkBuff, pkt_type), 1),
        scalar(8, 4, offset_of!(SkBuff, mark), 4),
        // The kernel ignores a store of 0xffff or more (NO_QUEUE_MAPPING) to
        // queue_mapping, a comparison a one-instruction conversion cannot make: bpfkit
        // stores the low 16 bits.
        scalar(12, 4, offset_of!(SkBuff, queue_mapping), 2),
        scalar(16, 4, offset_of!(SkBuff, protocol), 2),
        scalar(20, 4, offset_of!(SkBuff, vlan_present), 1),
        scalar(24, 4, offset_of!(SkBuff, vlan_tci), 2),
        scalar(28, 4, offset_of!(SkBuff, vlan_proto), 2),
        scalar(32, 4, offset_of!(SkBuff, priority), 4),
        scalar(36, 4, offset_of!(SkBuff, ingress_ifindex), 4),
        scalar(40, 4, offset_of!(SkBuff, ifindex), 4),
        scalar(44, 4, offset_of!(SkBuff, tc_index), 2),
        scalar(48, 20, offset_of!(SkBuff, cb), 20),
        scalar(68, 4, offset_of!(SkBuff, hash), 4),
        scalar(72, 4, offset_of!(SkBuff, tc_classid), 2),
        FieldMap::pointer(76, offset_of!(SkBuff, data)),
        FieldMap::pointer(80, offset_of!(SkBuff, data_end)),
        scalar(84, 4, offset_of!(SkBuff, napi_id), 4),
        FieldMap::pointer(140, offset_of!(SkBuff, data_meta)),
        scalar(152, 8, offset_of!(SkBuff, tstamp), 8),
        scalar(160, 4, offset_of!(SkBuff, wire_len), 4),
        scalar(164, 4, offset_of!(SkBuff, gso_segs), 2),
        FieldMap::pointer64(168, offset_of!(SkBuff, sk)),
        scalar(176, 4, offset_of!(SkBuff, gso_size), 2),
        scalar(180, 1, offset_of!(SkBuff, tstamp_type), 1),
        scalar(184, 8, offset_of!(SkBuff, hwtstamp), 8),
    ],
};

/// Offsets of the `struct __sk_buff` fields a test run's context carries.
mod uapi {
    pub const MARK: usize = 8;
    pub const PRIORITY: usize = 32;
    pub const INGRESS_IFINDEX: usize = 36;
    pub const IFINDEX: usize = 40;
    pub const CB: usize = 48;
    pub const TSTAMP: usize = 152;
    pub const WIRE_LEN: usize = 160;
    pub const GSO_SEGS: usize = 164;
    pub const GSO_SIZE: usize = 176;
    pub const HWTSTAMP: usize = 184;
}

fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn get_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// The byte ranges of `struct __sk_buff` a test run's context may set
/// (`convert___skb_to_skb` refuses non-zero bytes anywhere else).
const CTX_IN_FIELDS: [(usize, usize); 6] = [
    (uapi::MARK, uapi::MARK + 4),
    (uapi::PRIORITY, uapi::IFINDEX + 4),
    (uapi::CB, uapi::CB + 20),
    (uapi::TSTAMP, uapi::GSO_SEGS + 4),
    (uapi::GSO_SIZE, uapi::GSO_SIZE + 4),
    (uapi::HWTSTAMP, uapi::HWTSTAMP + 8),
];

fn input_error(len: usize, reason: &'static str) -> PacketError {
    PacketError::Input { len, reason }
}

/// Checks a test run's context the way `convert___skb_to_skb` and the device lookup do,
/// before anything is laid out.
fn check_ctx(ctx: &[u8], len: usize) -> Result<(), PacketError> {
    if ctx.len() > SK_BUFF_UAPI_SIZE {
        // bpf_ctx_init: bytes beyond the struct must be zero.
        if ctx[SK_BUFF_UAPI_SIZE..].iter().any(|&b| b != 0) {
            return Err(input_error(
                len,
                "a context longer than struct __sk_buff has non-zero bytes past its end",
            ));
        }
    }
    let mut full = [0u8; SK_BUFF_UAPI_SIZE];
    let n = ctx.len().min(SK_BUFF_UAPI_SIZE);
    full[..n].copy_from_slice(&ctx[..n]);
    let allowed = |i: usize| CTX_IN_FIELDS.iter().any(|&(s, e)| (s..e).contains(&i));
    if full.iter().enumerate().any(|(i, &b)| b != 0 && !allowed(i)) {
        return Err(input_error(
            len,
            "the context sets a field of struct __sk_buff the test run does not take (only mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size and hwtstamp)",
        ));
    }
    if get_u32(&full, uapi::IFINDEX) > LOOPBACK_IFINDEX {
        return Err(input_error(
            len,
            "the context's ifindex names a device other than loopback (1), the only device bpfkit has",
        ));
    }
    if get_u32(&full, uapi::GSO_SEGS) > GSO_MAX_SEGS {
        return Err(input_error(
            len,
            "the context's gso_segs is above GSO_MAX_SEGS (65535)",
        ));
    }
    Ok(())
}

/// The context a test run gives the program: `ctx_in` padded with zeros to the size of
/// `struct __sk_buff` (as `bpf_ctx_init` does), or none.
fn full_ctx(ctx: Option<&[u8]>) -> Option<[u8; SK_BUFF_UAPI_SIZE]> {
    ctx.map(|c| {
        let mut full = [0u8; SK_BUFF_UAPI_SIZE];
        let n = c.len().min(SK_BUFF_UAPI_SIZE);
        full[..n].copy_from_slice(&c[..n]);
        full
    })
}

/// `eth_type_trans` on the loopback device for the Ethernet frame `frame` (at least 14
/// bytes): the protocol (host order) and the packet type.
fn eth_type_trans(frame: &[u8]) -> (u16, u8) {
    let dest = &frame[..6];
    // The loopback device's address and broadcast address are all zero.
    let pkt = if dest.iter().all(|&b| b == 0) {
        pkt_type::HOST
    } else if dest[0] & 1 != 0 {
        // Multicast, including ff:ff:ff:ff:ff:ff, which is not the device's broadcast
        // address.
        pkt_type::MULTICAST
    } else {
        pkt_type::OTHERHOST
    };
    let proto = u16::from_be_bytes([frame[12], frame[13]]);
    let proto = if proto >= eth_p::P_802_3_MIN {
        proto
    } else if frame.len() >= ETH_HLEN + 2 && frame[ETH_HLEN..ETH_HLEN + 2] == [0xff, 0xff] {
        // Novell's raw 802.3 frames start with 0xffff, the IPX checksum.
        eth_p::P_802_3
    } else {
        eth_p::P_802_2
    };
    (proto, pkt)
}

/// Lays out `data` as `bpf_prog_test_run_skb` builds its skb for a tc program or (with
/// `socket_filter`) a socket filter, with the context `ctx` (a `struct __sk_buff`, or none).
pub fn prepare(
    state: &mut PacketState,
    data: &[u8],
    ctx: Option<&[u8]>,
    socket_filter: bool,
) -> Result<(), PacketError> {
    let len = data.len();
    if len < ETH_HLEN {
        return Err(input_error(
            len,
            "an skb test run needs at least an Ethernet header (14 bytes)",
        ));
    }
    if len > MAX_PACKET {
        return Err(input_error(
            len,
            "an skb test run takes at most 3712 bytes (a page less the headroom and the shared info)",
        ));
    }
    if let Some(c) = ctx {
        check_ctx(c, len)?;
    }
    let (protocol, pkt) = eth_type_trans(data);
    let net_len = len - ETH_HLEN;
    if protocol == eth_p::IP && net_len < 20 {
        return Err(input_error(
            len,
            "an IPv4 packet shorter than its 20-byte header",
        ));
    }
    if protocol == eth_p::IPV6 && net_len < 40 {
        return Err(input_error(
            len,
            "an IPv6 packet shorter than its 40-byte header",
        ));
    }
    let full = full_ctx(ctx);
    let wire_len = match &full {
        Some(c) => {
            let skb_len = (if socket_filter { net_len } else { len }) as u32;
            match get_u32(c, uapi::WIRE_LEN) {
                0 => skb_len,
                w if w < skb_len || w > GSO_LEGACY_MAX_SIZE => {
                    return Err(input_error(
                        len,
                        "the context's wire_len is shorter than the packet or above 65536",
                    ))
                }
                w => w,
            }
        }
        // Without a context the test run leaves the control block alone: wire_len 0.
        None => 0,
    };
    // The kernel's buffer is a kmalloc'ed block; how much tailroom it has changes nothing
    // a program sees (growing past it reallocates), so give it the same page.
    state.load(HEADROOM, data, HEADROOM + MAX_PACKET + SHARED_INFO_SIZE);
    let mac = HEADROOM;
    let net = HEADROOM + ETH_HLEN;
    let start = if socket_filter { net } else { mac };
    let ok = state.set_bounds(start, start, HEADROOM + len);
    debug_assert!(ok, "bounds inside the buffer just laid out");
    let skb = skb_mut(state);
    *skb = SkBuff {
        ifindex: LOOPBACK_IFINDEX,
        protocol: protocol.to_be(),
        pkt_type: pkt,
        wire_len,
        socket_filter: socket_filter as u8,
        mac_header: mac as u32,
        network_header: net as u32,
        transport_header: UNSET,
        sock: BpfSock::for_packet(protocol, &data[ETH_HLEN..]),
        ..SkBuff::default()
    };
    if let Some(c) = &full {
        skb.mark = get_u32(c, uapi::MARK);
        skb.priority = get_u32(c, uapi::PRIORITY);
        skb.ingress_ifindex = get_u32(c, uapi::INGRESS_IFINDEX);
        for (i, w) in skb.cb.iter_mut().enumerate() {
            *w = get_u32(c, uapi::CB + 4 * i);
        }
        skb.tstamp = get_u64(c, uapi::TSTAMP);
        skb.gso_segs = get_u32(c, uapi::GSO_SEGS) as u16;
        // skb_shared_info keeps gso_size in 16 bits.
        skb.gso_size = get_u32(c, uapi::GSO_SIZE) as u16;
        skb.hwtstamp = get_u64(c, uapi::HWTSTAMP);
    }
    Ok(())
}

/// How tc programs run on packets.
pub(super) const TC_OPS: KindOps = KindOps {
    layout: LAYOUT,
    new_state,
    prepare: |state, input| prepare(state, input.data, input.ctx, false),
    finish: |_| {},
    output: PacketState::packet,
    redirect_verdict: Some(tc_act::REDIRECT as u32),
};

/// How socket filters run on packets.
pub(super) const SOCKET_FILTER_OPS: KindOps = KindOps {
    layout: LAYOUT,
    new_state,
    prepare: |state, input: &PacketInput<'_>| prepare(state, input.data, input.ctx, true),
    finish: zero_mac_header,
    output: socket_filter_output,
    redirect_verdict: None,
};

/// After a socket filter ran, the test run pushes an Ethernet header's room back in front
/// of the packet and zeroes it. Socket filters cannot move the packet's start, so the
/// room is the original Ethernet header's.
fn zero_mac_header(state: &mut PacketState) {
    let data = state.data();
    state.zero(data - ETH_HLEN..data);
}

/// What the test run copies out for a socket filter: the zeroed Ethernet header room and
/// the packet.
fn socket_filter_output(state: &PacketState) -> &[u8] {
    &state.buffer()[state.data() - ETH_HLEN..state.data_end()]
}

/// How many bytes of the packet a socket filter keeps when it returns `retval` on a
/// packet of `len` bytes (`sk_filter_trim_cap`): 0 drops the packet, less than its length
/// cuts it, anything else keeps it whole. The test run reports `retval` and the whole
/// packet; this is what a socket would receive.
pub fn socket_filter_keeps(retval: u64, len: usize) -> usize {
    (retval as u32 as usize).min(len)
}

/// The skb of a packet state made by [`new_state`].
fn skb_mut(state: &mut PacketState) -> &mut SkBuff {
    state
        .context_mut::<SkBuff>()
        .expect("an skb packet state holds an SkBuff")
}

/// A packet state for tc programs and socket filters.
pub fn new_state() -> PacketState {
    PacketState::new::<SkBuff>(true)
}

/// The context the test run copies out after the run (`convert_skb_to___skb`): the
/// context in, with the fields the kernel reads back from the skb.
pub fn ctx_out(skb: &SkBuff, ctx_in: &[u8]) -> Vec<u8> {
    let mut out = full_ctx(Some(ctx_in)).expect("a context").to_vec();
    put_u32(&mut out, uapi::MARK, skb.mark);
    put_u32(&mut out, uapi::PRIORITY, skb.priority);
    put_u32(&mut out, uapi::INGRESS_IFINDEX, skb.ingress_ifindex);
    put_u32(&mut out, uapi::IFINDEX, skb.ifindex);
    put_u64(&mut out, uapi::TSTAMP, skb.tstamp);
    for (i, w) in skb.cb.iter().enumerate() {
        put_u32(&mut out, uapi::CB + 4 * i, *w);
    }
    put_u32(&mut out, uapi::WIRE_LEN, skb.wire_len);
    put_u32(&mut out, uapi::GSO_SEGS, skb.gso_segs.into());
    put_u64(&mut out, uapi::HWTSTAMP, skb.hwtstamp);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Programs may read every byte of the struct, so it has no implicit padding: 6 u64,
    /// 13 u32, 8 u16, 16 u8, 3 u32, the socket (20 u32 and an i64).
    #[test]
    fn no_implicit_padding() {
        assert_eq!(
            std::mem::size_of::<SkBuff>(),
            6 * 8 + 13 * 4 + 8 * 2 + 16 + 3 * 4 + 20 * 4 + 8
        );
    }

    /// The socket is the struct's read-only tail.
    #[test]
    fn the_socket_ends_the_struct() {
        let skb = SkBuff::default();
        assert_eq!(
            offset_of!(SkBuff, sock) + skb.read_only_tail(),
            std::mem::size_of::<SkBuff>()
        );
    }

    #[test]
    fn layout_fields_are_inside_the_struct_and_sorted() {
        let size = std::mem::size_of::<SkBuff>();
        let mut last_end = 0;
        for f in LAYOUT.fields {
            assert!(usize::from(f.real_off) + usize::from(f.real_size) <= size);
            assert!(usize::from(f.uapi_off) >= last_end, "{f:?} overlaps");
            last_end = usize::from(f.uapi_off) + usize::from(f.uapi_size);
        }
        assert!(last_end <= SK_BUFF_UAPI_SIZE);
    }

    /// /usr/include/linux/bpf.h: len at 0, cb[0] at 48, data at 76, data_meta at 140,
    /// tstamp at 152, gso_size at 176, tstamp_type at 180, hwtstamp at 184 (192 bytes).
    #[test]
    fn uapi_offsets() {
        let at = |off: u16| LAYOUT.fields.iter().find(|f| f.uapi_off == off).unwrap();
        assert_eq!(at(48).uapi_size, 20);
        assert!(at(76).pointer && at(80).pointer && at(140).pointer);
        assert_eq!((at(152).uapi_size, at(184).uapi_size), (8, 8));
        assert_eq!(at(180).uapi_size, 1);
    }

    #[test]
    fn eth_type_trans_as_on_loopback() {
        let mut f = [0u8; 16];
        f[12] = 0x08;
        assert_eq!(eth_type_trans(&f), (eth_p::IP, pkt_type::HOST));
        f[0] = 0xff;
        assert_eq!(eth_type_trans(&f).1, pkt_type::MULTICAST);
        f[0] = 0x02;
        assert_eq!(eth_type_trans(&f).1, pkt_type::OTHERHOST);
        f[12] = 0x00;
        f[13] = 0x40;
        assert_eq!(eth_type_trans(&f).0, eth_p::P_802_2);
        f[14] = 0xff;
        f[15] = 0xff;
        assert_eq!(eth_type_trans(&f).0, eth_p::P_802_3);
    }

    #[test]
    fn context_fields_the_test_run_refuses() {
        let mut ctx = [0u8; SK_BUFF_UAPI_SIZE];
        assert!(check_ctx(&ctx, 60).is_ok());
        ctx[uapi::MARK] = 1;
        ctx[uapi::HWTSTAMP + 7] = 1;
        assert!(check_ctx(&ctx, 60).is_ok());
        ctx[4] = 1; // pkt_type
        assert!(check_ctx(&ctx, 60).is_err());
        ctx[4] = 0;
        ctx[uapi::IFINDEX] = 2;
        assert!(check_ctx(&ctx, 60).is_err());
    }
}
