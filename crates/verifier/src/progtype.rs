//! Program types as data: what `r1` points to on entry (a context structure, field by
//! field, or the 'memory' buffer), which helpers may be called, whether the legacy packet
//! loads exist. The kernel spreads this over each type's `bpf_verifier_ops`
//! (`*_is_valid_access`, `*_func_proto` in net/core/filter.c and kernel/trace/bpf_trace.c);
//! here each type is one table.

use crate::helpers::ids::*;

/// What a context field holds when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A number.
    Scalar,
    /// `data`: a pointer to the packet's first byte.
    PacketData,
    /// `data_end`: a pointer one past the packet's last byte.
    PacketEnd,
    /// `data_meta`: a pointer to the metadata before the packet.
    PacketMeta,
    /// `sk`: the socket the packet belongs to, or null (`PTR_TO_SOCK_COMMON_OR_NULL`).
    SockCommonOrNull,
}

/// Which loads narrower than a field are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Narrow {
    /// None: the field is read whole (the first 8 bytes of a larger one).
    No,
    /// Loads of a size dividing their offset, anywhere within the field; in a field
    /// larger than 8 bytes, of up to 8.
    Anywhere,
    /// Loads of 1, 2 or 4 bytes at the field's start only (`bpf_sock`'s fields, which
    /// the kernel matches by their first offset).
    Start,
}

/// One field of a context structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CtxField {
    pub name: &'static str,
    /// Byte offset in the structure.
    pub off: u32,
    /// Size in bytes.
    pub size: u32,
    /// Which loads narrower than the field are allowed.
    pub narrow: Narrow,
    /// Whether stores may be as narrow as [`Narrow::Anywhere`] loads (`__sk_buff.cb`,
    /// which the kernel stores into byte by byte).
    pub narrow_write: bool,
    pub kind: FieldKind,
    /// Flavours (bits of [`ProgType::flavour`]) that may read the field.
    pub read: u8,
    /// Flavours that may write it (full width only, unless [`CtxField::narrow_write`]).
    pub write: u8,
}

/// A context structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Context {
    /// The C type, e.g. `struct xdp_md`.
    pub name: &'static str,
    pub size: u32,
    pub fields: &'static [CtxField],
}

/// What `r1` (and `r2`) hold on entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    /// `r1` points to a context structure.
    Context(&'static Context),
    /// bpfkit's 'memory' type: `r1` = a buffer, `r2` = its length. The buffer is verified
    /// like a packet whose end is `r1 + r2`; comparisons on `r2` itself bound it as well.
    Buffer,
}

/// A program type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProgType {
    /// The kernel's name in lower case without `BPF_PROG_TYPE_` (bpfkit's own: `memory`).
    pub name: &'static str,
    /// `enum bpf_prog_type` (0 for bpfkit's 'memory').
    pub kernel_id: u32,
    pub entry: Entry,
    /// Which field permissions of a shared context apply (see [`CtxField::read`]).
    pub flavour: u8,
    /// Helpers the type may call (`enum bpf_func_id`), in groups.
    pub helpers: &'static [&'static [u32]],
    /// Whether `LD_ABS`/`LD_IND` are allowed (the `__sk_buff` types).
    pub ld_abs: bool,
    /// Whether the packet may be written through direct packet pointers.
    pub packet_write: bool,
    /// The values r0 may hold at exit, when the type restricts them
    /// (`check_return_code`: cgroup programs return 0 or 1).
    pub ret_range: Option<(i64, i64)>,
}

const ALL: u8 = 0xff;
/// Every flavour: for structures all program types see alike.
pub(crate) const ALL_FLAVOURS: u8 = ALL;
const NONE: u8 = 0;
// Flavours of `struct __sk_buff`.
const SOCK: u8 = 1;
const TC: u8 = 2;
const CGSKB: u8 = 4;
const SKB: u8 = SOCK | TC | CGSKB;

const fn field(name: &'static str, off: u32, size: u32, read: u8, write: u8) -> CtxField {
    CtxField {
        name,
        off,
        size,
        narrow: Narrow::Anywhere,
        narrow_write: false,
        kind: FieldKind::Scalar,
        read,
        write,
    }
}

const fn exact(mut f: CtxField) -> CtxField {
    f.narrow = Narrow::No;
    f
}

/// A field read narrower at its start only.
const fn start(mut f: CtxField) -> CtxField {
    f.narrow = Narrow::Start;
    f
}

/// A field whose stores may be as narrow as its loads.
const fn narrow_rw(mut f: CtxField) -> CtxField {
    f.narrow_write = true;
    f
}

const fn ptr(name: &'static str, off: u32, kind: FieldKind, read: u8) -> CtxField {
    CtxField {
        name,
        off,
        size: 4,
        narrow: Narrow::No,
        narrow_write: false,
        kind,
        read,
        write: NONE,
    }
}

/// `struct xdp_md` (`xdp_is_valid_access`: 4-byte reads only; `egress_ifindex` only for
/// devmap programs).
pub static XDP_MD: Context = Context {
    name: "struct xdp_md",
    size: 24,
    fields: &[
        ptr("data", 0, FieldKind::PacketData, ALL),
        ptr("data_end", 4, FieldKind::PacketEnd, ALL),
        ptr("data_meta", 8, FieldKind::PacketMeta, ALL),
        exact(field("ingress_ifindex", 12, 4, ALL, NONE)),
        exact(field("rx_queue_index", 16, 4, ALL, NONE)),
    ],
};

/// `struct __sk_buff` (`bpf_skb_is_valid_access` and its callers
/// `sk_filter_is_valid_access`, `tc_cls_act_is_valid_access`, `cg_skb_is_valid_access`).
/// 4-byte fields may be read 1, 2 or 4 bytes at a time at an offset the size divides,
/// and written (by the flavours that may) 4 bytes at a time; `cb` may be read and written
/// in 1, 2, 4 or 8 aligned bytes. The IP addresses, the packet pointers, `tstamp`,
/// `hwtstamp`, `sk` and `tstamp_type` are read whole only. `flow_keys` (144) and the
/// padding after `tstamp_type` are never accessible.
pub static SK_BUFF: Context = Context {
    name: "struct __sk_buff",
    size: 192,
    fields: &[
        field("len", 0, 4, SKB, NONE),
        field("pkt_type", 4, 4, SKB, NONE),
        field("mark", 8, 4, SKB, TC | CGSKB),
        field("queue_mapping", 12, 4, SKB, TC),
        field("protocol", 16, 4, SKB, NONE),
        field("vlan_present", 20, 4, SKB, NONE),
        field("vlan_tci", 24, 4, SKB, NONE),
        field("vlan_proto", 28, 4, SKB, NONE),
        field("priority", 32, 4, SKB, TC | CGSKB),
        field("ingress_ifindex", 36, 4, SKB, NONE),
        field("ifindex", 40, 4, SKB, NONE),
        field("tc_index", 44, 4, SKB, TC),
        narrow_rw(field("cb", 48, 20, SKB, SKB)),
        field("hash", 68, 4, SKB, NONE),
        field("tc_classid", 72, 4, TC, TC),
        ptr("data", 76, FieldKind::PacketData, TC | CGSKB),
        ptr("data_end", 80, FieldKind::PacketEnd, TC | CGSKB),
        field("napi_id", 84, 4, SKB, NONE),
        field("family", 88, 4, CGSKB, NONE),
        exact(field("remote_ip4", 92, 4, CGSKB, NONE)),
        exact(field("local_ip4", 96, 4, CGSKB, NONE)),
        exact(field("remote_ip6[0]", 100, 4, CGSKB, NONE)),
        exact(field("remote_ip6[1]", 104, 4, CGSKB, NONE)),
        exact(field("remote_ip6[2]", 108, 4, CGSKB, NONE)),
        exact(field("remote_ip6[3]", 112, 4, CGSKB, NONE)),
        exact(field("local_ip6[0]", 116, 4, CGSKB, NONE)),
        exact(field("local_ip6[1]", 120, 4, CGSKB, NONE)),
        exact(field("local_ip6[2]", 124, 4, CGSKB, NONE)),
        exact(field("local_ip6[3]", 128, 4, CGSKB, NONE)),
        field("remote_port", 132, 4, CGSKB, NONE),
        field("local_port", 136, 4, CGSKB, NONE),
        ptr("data_meta", 140, FieldKind::PacketMeta, TC),
        exact(field("tstamp", 152, 8, TC | CGSKB, TC | CGSKB)),
        field("wire_len", 160, 4, TC, NONE),
        field("gso_segs", 164, 4, SKB, NONE),
        CtxField {
            size: 8,
            ..ptr("sk", 168, FieldKind::SockCommonOrNull, SKB)
        },
        field("gso_size", 176, 4, SKB, NONE),
        exact(field("tstamp_type", 180, 1, TC, NONE)),
        exact(field("hwtstamp", 184, 8, TC | CGSKB, NONE)),
    ],
};

/// `struct bpf_sock` as seen through `__sk_buff.sk` (`bpf_sock_common_is_valid_access`):
/// read-only, without `type`, `protocol`, `mark` and `priority`. The addresses are read
/// 1, 2 or 4 bytes at a time anywhere in them, `bound_dev_if` whole, the other fields
/// 1, 2 or 4 bytes at their start; `dst_port` 2 bytes (or 4 with the padding after it)
/// at 48. The kernel also takes a 1-byte read of `dst_port`'s second byte; bpfkit does
/// not.
pub static BPF_SOCK_COMMON: Context = Context {
    name: "struct bpf_sock",
    size: 80,
    fields: &[
        exact(field("bound_dev_if", 0, 4, ALL, NONE)),
        start(field("family", 4, 4, ALL, NONE)),
        field("src_ip4", 24, 4, ALL, NONE),
        field("src_ip6[0]", 28, 4, ALL, NONE),
        field("src_ip6[1]", 32, 4, ALL, NONE),
        field("src_ip6[2]", 36, 4, ALL, NONE),
        field("src_ip6[3]", 40, 4, ALL, NONE),
        start(field("src_port", 44, 4, ALL, NONE)),
        start(field("dst_port", 48, 4, ALL, NONE)),
        field("dst_ip4", 52, 4, ALL, NONE),
        field("dst_ip6[0]", 56, 4, ALL, NONE),
        field("dst_ip6[1]", 60, 4, ALL, NONE),
        field("dst_ip6[2]", 64, 4, ALL, NONE),
        field("dst_ip6[3]", 68, 4, ALL, NONE),
        start(field("state", 72, 4, ALL, NONE)),
        start(field("rx_queue_mapping", 76, 4, ALL, NONE)),
    ],
};

/// `struct pt_regs` on x86-64 (kprobes read it, `kprobe_prog_is_valid_access`).
pub static PT_REGS: Context = Context {
    name: "struct pt_regs",
    size: 168,
    fields: &[
        field("r15", 0, 8, ALL, NONE),
        field("r14", 8, 8, ALL, NONE),
        field("r13", 16, 8, ALL, NONE),
        field("r12", 24, 8, ALL, NONE),
        field("bp", 32, 8, ALL, NONE),
        field("bx", 40, 8, ALL, NONE),
        field("r11", 48, 8, ALL, NONE),
        field("r10", 56, 8, ALL, NONE),
        field("r9", 64, 8, ALL, NONE),
        field("r8", 72, 8, ALL, NONE),
        field("ax", 80, 8, ALL, NONE),
        field("cx", 88, 8, ALL, NONE),
        field("dx", 96, 8, ALL, NONE),
        field("si", 104, 8, ALL, NONE),
        field("di", 112, 8, ALL, NONE),
        field("orig_ax", 120, 8, ALL, NONE),
        field("ip", 128, 8, ALL, NONE),
        field("cs", 136, 8, ALL, NONE),
        field("flags", 144, 8, ALL, NONE),
        field("sp", 152, 8, ALL, NONE),
        field("ss", 160, 8, ALL, NONE),
    ],
};

/// A tracepoint's record: 8 bytes of common fields the program may not read, then the
/// event's fields (`tp_prog_is_valid_access`: reads below `PERF_MAX_TRACE_SIZE`).
pub static TRACEPOINT: Context = Context {
    name: "tracepoint record",
    size: 2048,
    fields: &[field("fields", 8, 2040, ALL, NONE)],
};

/// `struct bpf_raw_tracepoint_args`: up to 12 u64 arguments, read whole
/// (`raw_tp_prog_is_valid_access`).
pub static RAW_TRACEPOINT: Context = Context {
    name: "struct bpf_raw_tracepoint_args",
    size: 96,
    fields: &[exact(field("args", 0, 96, ALL, NONE))],
};

/// `struct bpf_perf_event_data` (`pe_prog_is_valid_access`).
pub static PERF_EVENT: Context = Context {
    name: "struct bpf_perf_event_data",
    size: 184,
    fields: &[
        field("regs", 0, 168, ALL, NONE),
        field("sample_period", 168, 8, ALL, NONE),
        field("addr", 176, 8, ALL, NONE),
    ],
};

/// `struct bpf_sock` as cgroup/sock programs see it (`sock_filter_is_valid_access`): the
/// addresses are read 4 bytes or fewer at a time (no 8-byte reads of `src_ip6`).
pub static BPF_SOCK: Context = Context {
    name: "struct bpf_sock",
    size: 80,
    fields: &[
        exact(field("bound_dev_if", 0, 4, ALL, ALL)),
        exact(field("family", 4, 4, ALL, NONE)),
        exact(field("type", 8, 4, ALL, NONE)),
        exact(field("protocol", 12, 4, ALL, NONE)),
        exact(field("mark", 16, 4, ALL, ALL)),
        exact(field("priority", 20, 4, ALL, ALL)),
        field("src_ip4", 24, 4, ALL, NONE),
        field("src_ip6[0]", 28, 4, ALL, NONE),
        field("src_ip6[1]", 32, 4, ALL, NONE),
        field("src_ip6[2]", 36, 4, ALL, NONE),
        field("src_ip6[3]", 40, 4, ALL, NONE),
        exact(field("src_port", 44, 4, ALL, NONE)),
        field("dst_port", 48, 2, ALL, NONE),
        field("dst_ip4", 52, 4, ALL, NONE),
        field("dst_ip6[0]", 56, 4, ALL, NONE),
        field("dst_ip6[1]", 60, 4, ALL, NONE),
        field("dst_ip6[2]", 64, 4, ALL, NONE),
        field("dst_ip6[3]", 68, 4, ALL, NONE),
        exact(field("state", 72, 4, ALL, NONE)),
        exact(field("rx_queue_mapping", 76, 4, ALL, NONE)),
    ],
};

/// `struct bpf_sock_addr` (`sock_addr_is_valid_access`).
pub static BPF_SOCK_ADDR: Context = Context {
    name: "struct bpf_sock_addr",
    size: 72,
    fields: &[
        exact(field("user_family", 0, 4, ALL, NONE)),
        field("user_ip4", 4, 4, ALL, ALL),
        field("user_ip6", 8, 16, ALL, NONE),
        field("user_port", 24, 4, ALL, ALL),
        exact(field("family", 28, 4, ALL, NONE)),
        exact(field("type", 32, 4, ALL, NONE)),
        exact(field("protocol", 36, 4, ALL, NONE)),
        field("msg_src_ip4", 40, 4, ALL, ALL),
        field("msg_src_ip6", 44, 16, ALL, NONE),
    ],
};

/// `struct bpf_sock_ops` (`sock_ops_is_valid_access`): 4-byte fields read whole, `reply`
/// (`args[0]`) and `sk_txhash` writable; the TCP header as a read-only packet. `sk` is
/// not described.
pub static BPF_SOCK_OPS: Context = Context {
    name: "struct bpf_sock_ops",
    size: 216,
    fields: &[
        exact(field("op", 0, 4, ALL, NONE)),
        exact(field("args[0]", 4, 4, ALL, ALL)),
        exact(field("args[1]", 8, 4, ALL, NONE)),
        exact(field("args[2]", 12, 4, ALL, NONE)),
        exact(field("args[3]", 16, 4, ALL, NONE)),
        exact(field("family", 20, 4, ALL, NONE)),
        exact(field("remote_ip4", 24, 4, ALL, NONE)),
        exact(field("local_ip4", 28, 4, ALL, NONE)),
        exact(field("remote_ip6[0]", 32, 4, ALL, NONE)),
        exact(field("remote_ip6[1]", 36, 4, ALL, NONE)),
        exact(field("remote_ip6[2]", 40, 4, ALL, NONE)),
        exact(field("remote_ip6[3]", 44, 4, ALL, NONE)),
        exact(field("local_ip6[0]", 48, 4, ALL, NONE)),
        exact(field("local_ip6[1]", 52, 4, ALL, NONE)),
        exact(field("local_ip6[2]", 56, 4, ALL, NONE)),
        exact(field("local_ip6[3]", 60, 4, ALL, NONE)),
        exact(field("remote_port", 64, 4, ALL, NONE)),
        exact(field("local_port", 68, 4, ALL, NONE)),
        exact(field("is_fullsock", 72, 4, ALL, NONE)),
        exact(field("snd_cwnd", 76, 4, ALL, NONE)),
        exact(field("srtt_us", 80, 4, ALL, NONE)),
        exact(field("bpf_sock_ops_cb_flags", 84, 4, ALL, NONE)),
        exact(field("state", 88, 4, ALL, NONE)),
        exact(field("rtt_min", 92, 4, ALL, NONE)),
        exact(field("snd_ssthresh", 96, 4, ALL, NONE)),
        exact(field("rcv_nxt", 100, 4, ALL, NONE)),
        exact(field("snd_nxt", 104, 4, ALL, NONE)),
        exact(field("snd_una", 108, 4, ALL, NONE)),
        exact(field("mss_cache", 112, 4, ALL, NONE)),
        exact(field("ecn_flags", 116, 4, ALL, NONE)),
        exact(field("rate_delivered", 120, 4, ALL, NONE)),
        exact(field("rate_interval_us", 124, 4, ALL, NONE)),
        exact(field("packets_out", 128, 4, ALL, NONE)),
        exact(field("retrans_out", 132, 4, ALL, NONE)),
        exact(field("total_retrans", 136, 4, ALL, NONE)),
        exact(field("segs_in", 140, 4, ALL, NONE)),
        exact(field("data_segs_in", 144, 4, ALL, NONE)),
        exact(field("segs_out", 148, 4, ALL, NONE)),
        exact(field("data_segs_out", 152, 4, ALL, NONE)),
        exact(field("lost_out", 156, 4, ALL, NONE)),
        exact(field("sacked_out", 160, 4, ALL, NONE)),
        exact(field("sk_txhash", 164, 4, ALL, ALL)),
        exact(field("bytes_received", 168, 8, ALL, NONE)),
        exact(field("bytes_acked", 176, 8, ALL, NONE)),
        CtxField {
            size: 8,
            ..ptr("skb_data", 192, FieldKind::PacketData, ALL)
        },
        CtxField {
            size: 8,
            ..ptr("skb_data_end", 200, FieldKind::PacketEnd, ALL)
        },
        exact(field("skb_len", 208, 4, ALL, NONE)),
        field("skb_tcp_flags", 212, 4, ALL, NONE),
    ],
};

/// Helpers every type has (`bpf_base_func_proto` for a privileged loader, the subset
/// bpfkit describes).
const BASE: &[u32] = &[
    MAP_LOOKUP_ELEM,
    MAP_UPDATE_ELEM,
    MAP_DELETE_ELEM,
    MAP_PUSH_ELEM,
    MAP_POP_ELEM,
    MAP_PEEK_ELEM,
    MAP_LOOKUP_PERCPU_ELEM,
    KTIME_GET_NS,
    KTIME_GET_BOOT_NS,
    JIFFIES64,
    TRACE_PRINTK,
    GET_PRANDOM_U32,
    GET_SMP_PROCESSOR_ID,
    GET_NUMA_NODE_ID,
    TAIL_CALL,
    RINGBUF_OUTPUT,
    RINGBUF_RESERVE,
    RINGBUF_SUBMIT,
    RINGBUF_DISCARD,
    RINGBUF_QUERY,
    STRTOL,
    STRTOUL,
    FOR_EACH_MAP_ELEM,
    LOOP,
    SPIN_LOCK,
    SPIN_UNLOCK,
    SNPRINTF,
];

/// `sk_filter_func_proto`.
const SOCKET_FILTER_HELPERS: &[&[u32]] = &[
    BASE,
    &[
        SKB_LOAD_BYTES,
        SKB_LOAD_BYTES_RELATIVE,
        GET_SOCKET_COOKIE,
        GET_SOCKET_UID,
        PERF_EVENT_OUTPUT,
    ],
];

/// `tc_cls_act_func_proto`.
const TC_HELPERS: &[&[u32]] = &[
    BASE,
    &[
        SKB_STORE_BYTES,
        SKB_LOAD_BYTES,
        SKB_LOAD_BYTES_RELATIVE,
        SKB_PULL_DATA,
        CSUM_DIFF,
        CSUM_UPDATE,
        CSUM_LEVEL,
        L3_CSUM_REPLACE,
        L4_CSUM_REPLACE,
        CLONE_REDIRECT,
        GET_CGROUP_CLASSID,
        SKB_VLAN_PUSH,
        SKB_VLAN_POP,
        SKB_CHANGE_PROTO,
        SKB_CHANGE_TYPE,
        SKB_ADJUST_ROOM,
        SKB_CHANGE_TAIL,
        SKB_CHANGE_HEAD,
        REDIRECT,
        GET_ROUTE_REALM,
        GET_HASH_RECALC,
        SET_HASH_INVALID,
        SET_HASH,
        PERF_EVENT_OUTPUT,
        GET_SOCKET_COOKIE,
        GET_SOCKET_UID,
        FIB_LOOKUP,
        CHECK_MTU,
    ],
];

/// `xdp_func_proto`.
const XDP_HELPERS: &[&[u32]] = &[
    BASE,
    &[
        PERF_EVENT_OUTPUT,
        CSUM_DIFF,
        XDP_ADJUST_HEAD,
        XDP_ADJUST_META,
        REDIRECT,
        REDIRECT_MAP,
        XDP_ADJUST_TAIL,
        XDP_GET_BUFF_LEN,
        XDP_LOAD_BYTES,
        XDP_STORE_BYTES,
        FIB_LOOKUP,
        CHECK_MTU,
    ],
];

const TRACING_HELPERS: &[&[u32]] = &[
    BASE,
    &[
        PROBE_READ,
        GET_CURRENT_PID_TGID,
        GET_CURRENT_UID_GID,
        GET_CURRENT_COMM,
        PERF_EVENT_OUTPUT,
        PROBE_READ_KERNEL,
    ],
];

const CGROUP_HELPERS: &[&[u32]] = &[BASE, &[GET_CURRENT_PID_TGID, GET_CURRENT_UID_GID]];

const fn skb_type(
    name: &'static str,
    kernel_id: u32,
    flavour: u8,
    helpers: &'static [&'static [u32]],
) -> ProgType {
    ProgType {
        name,
        kernel_id,
        entry: Entry::Context(&SK_BUFF),
        flavour,
        helpers,
        ld_abs: true,
        packet_write: flavour == TC,
        ret_range: if flavour == CGSKB { Some((0, 1)) } else { None },
    }
}

const fn ctx_type(
    name: &'static str,
    kernel_id: u32,
    ctx: &'static Context,
    helpers: &'static [&'static [u32]],
) -> ProgType {
    ProgType {
        name,
        kernel_id,
        entry: Entry::Context(ctx),
        flavour: ALL,
        helpers,
        ld_abs: false,
        packet_write: false,
        ret_range: None,
    }
}

impl ProgType {
    /// bpfkit's own type: `r1` = buffer, `r2` = its length.
    pub const MEMORY: ProgType = ProgType {
        name: "memory",
        kernel_id: 0,
        entry: Entry::Buffer,
        flavour: ALL,
        helpers: &[BASE],
        ld_abs: false,
        packet_write: true,
        ret_range: None,
    };
    pub const SOCKET_FILTER: ProgType = skb_type("socket_filter", 1, SOCK, SOCKET_FILTER_HELPERS);
    pub const KPROBE: ProgType = ctx_type("kprobe", 2, &PT_REGS, TRACING_HELPERS);
    pub const SCHED_CLS: ProgType = skb_type("sched_cls", 3, TC, TC_HELPERS);
    pub const SCHED_ACT: ProgType = skb_type("sched_act", 4, TC, TC_HELPERS);
    pub const TRACEPOINT: ProgType = ctx_type("tracepoint", 5, &TRACEPOINT, TRACING_HELPERS);
    pub const XDP: ProgType = ProgType {
        name: "xdp",
        kernel_id: 6,
        entry: Entry::Context(&XDP_MD),
        flavour: ALL,
        helpers: XDP_HELPERS,
        ld_abs: false,
        packet_write: true,
        ret_range: None,
    };
    pub const PERF_EVENT: ProgType = ctx_type("perf_event", 7, &PERF_EVENT, TRACING_HELPERS);
    pub const CGROUP_SKB: ProgType = skb_type("cgroup_skb", 8, CGSKB, CGROUP_HELPERS);
    pub const CGROUP_SOCK: ProgType = ProgType {
        ret_range: Some((0, 1)),
        ..ctx_type("cgroup_sock", 9, &BPF_SOCK, CGROUP_HELPERS)
    };
    pub const RAW_TRACEPOINT: ProgType =
        ctx_type("raw_tracepoint", 17, &RAW_TRACEPOINT, TRACING_HELPERS);
    pub const CGROUP_SOCK_ADDR: ProgType = ProgType {
        ret_range: Some((0, 1)),
        ..ctx_type("cgroup_sock_addr", 18, &BPF_SOCK_ADDR, CGROUP_HELPERS)
    };

    pub const SOCK_OPS: ProgType = ProgType {
        ret_range: Some((0, 1)),
        ..ctx_type("sock_ops", 13, &BPF_SOCK_OPS, CGROUP_HELPERS)
    };

    /// Every type bpfkit describes.
    pub const ALL: &'static [ProgType] = &[
        ProgType::MEMORY,
        ProgType::SOCKET_FILTER,
        ProgType::KPROBE,
        ProgType::SCHED_CLS,
        ProgType::SCHED_ACT,
        ProgType::TRACEPOINT,
        ProgType::XDP,
        ProgType::PERF_EVENT,
        ProgType::CGROUP_SKB,
        ProgType::CGROUP_SOCK,
        ProgType::RAW_TRACEPOINT,
        ProgType::CGROUP_SOCK_ADDR,
        ProgType::SOCK_OPS,
    ];

    /// The type named `name`: the kernel's name in lower case (`socket_filter`, `xdp`,
    /// `sched_cls`, ...), `memory`, or the aliases `tc` (sched_cls) and `socket`.
    pub fn by_name(name: &str) -> Option<&'static ProgType> {
        let name = match name {
            "tc" => "sched_cls",
            "socket" => "socket_filter",
            n => n,
        };
        ProgType::ALL.iter().find(|t| t.name == name)
    }

    /// The type libbpf infers from an ELF section name (`section_defs` in libbpf.c): the
    /// part before the first `/` decides, e.g. `xdp`, `tc/ingress`, `kprobe/sys_open`.
    pub fn for_section(section: &str) -> Option<&'static ProgType> {
        let head = section.split('/').next().unwrap_or(section);
        let name = match head {
            "memory" => "memory",
            "socket" => "socket_filter",
            "xdp" | "xdp.frags" => "xdp",
            "tc" | "classifier" | "tcx" => "sched_cls",
            "action" => "sched_act",
            "kprobe" | "kretprobe" | "uprobe" | "uretprobe" | "ksyscall" | "kretsyscall" => {
                "kprobe"
            }
            "tracepoint" | "tp" => "tracepoint",
            "raw_tracepoint" | "raw_tp" => "raw_tracepoint",
            "perf_event" => "perf_event",
            "cgroup_skb" => "cgroup_skb",
            "sockops" => "sock_ops",
            "cgroup" => return ProgType::for_cgroup_section(section),
            _ => return None,
        };
        ProgType::by_name(name)
    }

    /// `cgroup/<attach>` sections: socket creation and address hooks.
    fn for_cgroup_section(section: &str) -> Option<&'static ProgType> {
        let attach = section.strip_prefix("cgroup/")?;
        let name = match attach {
            "skb" => "cgroup_skb",
            "sock" | "sock_create" | "sock_release" | "post_bind4" | "post_bind6" => "cgroup_sock",
            a if a.starts_with("bind")
                || a.starts_with("connect")
                || a.starts_with("sendmsg")
                || a.starts_with("recvmsg")
                || a.starts_with("getpeername")
                || a.starts_with("getsockname") =>
            {
                "cgroup_sock_addr"
            }
            _ => return None,
        };
        ProgType::by_name(name)
    }

    /// Whether the type may call helper `id`.
    pub fn allows_helper(&self, id: u32) -> bool {
        self.helpers.iter().any(|set| set.contains(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases() {
        assert_eq!(ProgType::by_name("tc").unwrap().kernel_id, 3);
        assert_eq!(ProgType::by_name("socket").unwrap().kernel_id, 1);
        assert_eq!(ProgType::by_name("xdp").unwrap().kernel_id, 6);
        assert!(ProgType::by_name("BPF_PROG_TYPE_XDP").is_none());
    }

    #[test]
    fn sections_as_libbpf_names_them() {
        let t = |s| ProgType::for_section(s).map(|t| t.name);
        assert_eq!(t("xdp"), Some("xdp"));
        assert_eq!(t("tc/ingress"), Some("sched_cls"));
        assert_eq!(t("classifier"), Some("sched_cls"));
        assert_eq!(t("socket"), Some("socket_filter"));
        assert_eq!(t("kprobe/do_sys_open"), Some("kprobe"));
        assert_eq!(t("tp/syscalls/sys_enter_open"), Some("tracepoint"));
        assert_eq!(t("cgroup/connect4"), Some("cgroup_sock_addr"));
        assert_eq!(t("cgroup/sock_create"), Some("cgroup_sock"));
        assert_eq!(t("cgroup_skb/ingress"), Some("cgroup_skb"));
        assert_eq!(t("memory"), Some("memory"));
        assert_eq!(t("sockops"), Some("sock_ops"));
        assert_eq!(t(".text"), None);
    }

    #[test]
    fn context_tables_are_sorted_and_inside_their_structures() {
        for t in ProgType::ALL {
            if let Entry::Context(ctx) = t.entry {
                let mut end = 0;
                for f in ctx.fields {
                    assert!(f.off >= end, "{}: {} overlaps", ctx.name, f.name);
                    end = f.off + f.size;
                }
                assert!(end <= ctx.size, "{}", ctx.name);
            }
        }
    }
}
