//! Helper prototypes as data (`struct bpf_func_proto`): what each argument register must
//! hold and what `r0` holds afterwards. Numbers are Linux's `enum bpf_func_id`.

/// Helper numbers (`enum bpf_func_id`) of the prototypes bpfkit knows.
pub mod ids {
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const PROBE_READ: u32 = 4;
    pub const KTIME_GET_NS: u32 = 5;
    pub const TRACE_PRINTK: u32 = 6;
    pub const GET_PRANDOM_U32: u32 = 7;
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    pub const SKB_STORE_BYTES: u32 = 9;
    pub const L3_CSUM_REPLACE: u32 = 10;
    pub const L4_CSUM_REPLACE: u32 = 11;
    pub const TAIL_CALL: u32 = 12;
    pub const CLONE_REDIRECT: u32 = 13;
    pub const GET_CURRENT_PID_TGID: u32 = 14;
    pub const GET_CURRENT_UID_GID: u32 = 15;
    pub const GET_CURRENT_COMM: u32 = 16;
    pub const GET_CGROUP_CLASSID: u32 = 17;
    pub const SKB_VLAN_PUSH: u32 = 18;
    pub const SKB_VLAN_POP: u32 = 19;
    pub const REDIRECT: u32 = 23;
    pub const GET_ROUTE_REALM: u32 = 24;
    pub const PERF_EVENT_OUTPUT: u32 = 25;
    pub const SKB_LOAD_BYTES: u32 = 26;
    pub const CSUM_DIFF: u32 = 28;
    pub const SKB_CHANGE_PROTO: u32 = 31;
    pub const SKB_CHANGE_TYPE: u32 = 32;
    pub const GET_HASH_RECALC: u32 = 34;
    pub const SKB_CHANGE_TAIL: u32 = 38;
    pub const SKB_PULL_DATA: u32 = 39;
    pub const CSUM_UPDATE: u32 = 40;
    pub const SET_HASH_INVALID: u32 = 41;
    pub const GET_NUMA_NODE_ID: u32 = 42;
    pub const SKB_CHANGE_HEAD: u32 = 43;
    pub const XDP_ADJUST_HEAD: u32 = 44;
    pub const GET_SOCKET_COOKIE: u32 = 46;
    pub const GET_SOCKET_UID: u32 = 47;
    pub const SET_HASH: u32 = 48;
    pub const SKB_ADJUST_ROOM: u32 = 50;
    pub const REDIRECT_MAP: u32 = 51;
    pub const XDP_ADJUST_META: u32 = 54;
    pub const XDP_ADJUST_TAIL: u32 = 65;
    pub const SKB_LOAD_BYTES_RELATIVE: u32 = 68;
    pub const FIB_LOOKUP: u32 = 69;
    pub const MAP_PUSH_ELEM: u32 = 87;
    pub const MAP_POP_ELEM: u32 = 88;
    pub const MAP_PEEK_ELEM: u32 = 89;
    pub const SPIN_LOCK: u32 = 93;
    pub const SPIN_UNLOCK: u32 = 94;
    pub const STRTOL: u32 = 105;
    pub const STRTOUL: u32 = 106;
    pub const PROBE_READ_KERNEL: u32 = 113;
    pub const JIFFIES64: u32 = 118;
    pub const KTIME_GET_BOOT_NS: u32 = 125;
    pub const RINGBUF_OUTPUT: u32 = 130;
    pub const RINGBUF_RESERVE: u32 = 131;
    pub const RINGBUF_SUBMIT: u32 = 132;
    pub const RINGBUF_DISCARD: u32 = 133;
    pub const RINGBUF_QUERY: u32 = 134;
    pub const CSUM_LEVEL: u32 = 135;
    pub const CHECK_MTU: u32 = 163;
    pub const FOR_EACH_MAP_ELEM: u32 = 164;
    pub const SNPRINTF: u32 = 165;
    pub const LOOP: u32 = 181;
    pub const XDP_GET_BUFF_LEN: u32 = 188;
    pub const XDP_LOAD_BYTES: u32 = 189;
    pub const XDP_STORE_BYTES: u32 = 190;
    pub const MAP_LOOKUP_PERCPU_ELEM: u32 = 195;
}

/// What an argument register must hold (`enum bpf_arg_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arg {
    /// Unused: the register is not read.
    None,
    /// Any initialized value, scalar or pointer.
    Anything,
    /// A map pointer (`ARG_CONST_MAP_PTR`).
    ConstMapPtr,
    /// A pointer to the map's `key_size` readable, initialized bytes (`ARG_PTR_TO_MAP_KEY`).
    MapKey,
    /// A pointer to the map's `value_size` readable, initialized bytes
    /// (`ARG_PTR_TO_MAP_VALUE`).
    MapValue,
    /// A pointer to the map's `value_size` writable bytes the helper fills
    /// (`ARG_PTR_TO_MAP_VALUE | MEM_UNINIT`: `bpf_map_pop_elem`, `bpf_map_peek_elem`).
    MapValueOut,
    /// A pointer to 8 writable, aligned bytes the helper fills (`bpf_strtol`'s result).
    LongOut,
    /// A pointer to 4 initialized, writable, aligned bytes the helper reads and may
    /// overwrite (`bpf_check_mtu`'s `mtu_len`: `ARG_PTR_TO_FIXED_SIZE_MEM | MEM_WRITE |
    /// MEM_ALIGNED`).
    IntInOut,
    /// A function of the program, called back by the helper (`ARG_PTR_TO_FUNC`) any
    /// number of times: with the map, a key and its value and the context (r4) for
    /// `bpf_for_each_map_elem`, and for every other helper like `bpf_loop`'s callback,
    /// with a number and the context (r3). It returns 0 or 1.
    Func,
    /// A pointer to the stack, or null (`ARG_PTR_TO_STACK_OR_NULL`): the callback's
    /// context.
    StackOrNull,
    /// A known constant size for a memory the helper allocates
    /// (`ARG_CONST_ALLOC_SIZE_OR_ZERO`).
    AllocSize,
    /// A ring buffer record, unmodified, which the helper releases (`ARG_PTR_TO_ALLOC_MEM
    /// | OBJ_RELEASE`).
    RingbufRecord,
    /// The context pointer, unmodified (`ARG_PTR_TO_CTX`).
    Ctx,
    /// A pointer to readable, initialized memory whose size is the next argument
    /// (`ARG_PTR_TO_MEM`).
    Mem,
    /// A pointer to writable memory whose size is the next argument; the helper fills
    /// it (`ARG_PTR_TO_UNINIT_MEM`).
    UninitMem,
    /// The size of the previous memory argument: a bounded scalar greater than zero
    /// (`ARG_CONST_SIZE`).
    ConstSize,
    /// Like [`Arg::ConstSize`], zero allowed (`ARG_CONST_SIZE_OR_ZERO`).
    ConstSizeOrZero,
    /// A map value pointer at a constant offset, that of the value's `struct
    /// bpf_spin_lock` (`ARG_PTR_TO_SPIN_LOCK`).
    SpinLock,
    /// A NUL-terminated string at a constant offset in a frozen read-only map
    /// (`ARG_PTR_TO_CONST_STR`), which the verifier can read.
    ConstStr,
}

/// What `r0` holds after the call (`enum bpf_return_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// A number (`RET_INTEGER`, and `RET_VOID`: r0 is then an unknown scalar too).
    Integer,
    /// A map value of the map in `r1`, or null (`RET_PTR_TO_MAP_VALUE_OR_NULL`); for a
    /// map of maps, one of the maps it holds, or null.
    MapValueOrNull,
    /// A ring buffer record of the size in `r2`, or null (`RET_PTR_TO_ALLOC_MEM_OR_NULL`).
    RingbufRecordOrNull,
}

/// One helper's prototype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HelperProto {
    pub id: u32,
    /// The name without `bpf_`, e.g. `map_lookup_elem`.
    pub name: &'static str,
    /// Argument registers r1..r5.
    pub args: [Arg; 5],
    pub ret: Ret,
    /// Whether the helper may move or resize the packet, invalidating every packet
    /// pointer (`bpf_helper_changes_pkt_data`).
    pub changes_packet: bool,
}

const fn proto(id: u32, name: &'static str, args: [Arg; 5], ret: Ret) -> HelperProto {
    HelperProto {
        id,
        name,
        args,
        ret,
        changes_packet: false,
    }
}

const fn changing(mut p: HelperProto) -> HelperProto {
    p.changes_packet = true;
    p
}

use ids::*;
use Arg::*;

/// The prototypes of Linux's helpers that bpfkit knows (kernel/bpf/helpers.c,
/// kernel/bpf/ringbuf.c, kernel/bpf/bpf_iter.c, net/core/filter.c,
/// kernel/trace/bpf_trace.c), by number. The ones that may move or resize the packet are
/// those `bpf_helper_changes_pkt_data` lists.
pub static STANDARD: &[HelperProto] = &[
    proto(
        MAP_LOOKUP_ELEM,
        "map_lookup_elem",
        [ConstMapPtr, MapKey, None, None, None],
        Ret::MapValueOrNull,
    ),
    proto(
        MAP_UPDATE_ELEM,
        "map_update_elem",
        [ConstMapPtr, MapKey, MapValue, Anything, None],
        Ret::Integer,
    ),
    proto(
        MAP_DELETE_ELEM,
        "map_delete_elem",
        [ConstMapPtr, MapKey, None, None, None],
        Ret::Integer,
    ),
    proto(
        PROBE_READ,
        "probe_read",
        [UninitMem, ConstSizeOrZero, Anything, None, None],
        Ret::Integer,
    ),
    proto(KTIME_GET_NS, "ktime_get_ns", [None; 5], Ret::Integer),
    proto(
        TRACE_PRINTK,
        "trace_printk",
        // The kernel's prototype declares only the format and its size: the values
        // (up to three) are not checked, so bpf_printk with one value leaves r4 and r5
        // unset and still loads.
        [Mem, ConstSize, None, None, None],
        Ret::Integer,
    ),
    proto(GET_PRANDOM_U32, "get_prandom_u32", [None; 5], Ret::Integer),
    proto(
        GET_SMP_PROCESSOR_ID,
        "get_smp_processor_id",
        [None; 5],
        Ret::Integer,
    ),
    changing(proto(
        SKB_STORE_BYTES,
        "skb_store_bytes",
        [Ctx, Anything, Mem, ConstSize, Anything],
        Ret::Integer,
    )),
    changing(proto(
        L3_CSUM_REPLACE,
        "l3_csum_replace",
        [Ctx, Anything, Anything, Anything, Anything],
        Ret::Integer,
    )),
    changing(proto(
        L4_CSUM_REPLACE,
        "l4_csum_replace",
        [Ctx, Anything, Anything, Anything, Anything],
        Ret::Integer,
    )),
    proto(
        TAIL_CALL,
        "tail_call",
        [Ctx, ConstMapPtr, Anything, None, None],
        Ret::Integer,
    ),
    changing(proto(
        CLONE_REDIRECT,
        "clone_redirect",
        [Ctx, Anything, Anything, None, None],
        Ret::Integer,
    )),
    proto(
        GET_CURRENT_PID_TGID,
        "get_current_pid_tgid",
        [None; 5],
        Ret::Integer,
    ),
    proto(
        GET_CURRENT_UID_GID,
        "get_current_uid_gid",
        [None; 5],
        Ret::Integer,
    ),
    proto(
        GET_CURRENT_COMM,
        "get_current_comm",
        [UninitMem, ConstSize, None, None, None],
        Ret::Integer,
    ),
    proto(
        GET_CGROUP_CLASSID,
        "get_cgroup_classid",
        [Ctx, None, None, None, None],
        Ret::Integer,
    ),
    changing(proto(
        SKB_VLAN_PUSH,
        "skb_vlan_push",
        [Ctx, Anything, Anything, None, None],
        Ret::Integer,
    )),
    changing(proto(
        SKB_VLAN_POP,
        "skb_vlan_pop",
        [Ctx, None, None, None, None],
        Ret::Integer,
    )),
    proto(
        REDIRECT,
        "redirect",
        [Anything, Anything, None, None, None],
        Ret::Integer,
    ),
    proto(
        GET_ROUTE_REALM,
        "get_route_realm",
        [Ctx, None, None, None, None],
        Ret::Integer,
    ),
    proto(
        PERF_EVENT_OUTPUT,
        "perf_event_output",
        [Ctx, ConstMapPtr, Anything, Mem, ConstSizeOrZero],
        Ret::Integer,
    ),
    proto(
        SKB_LOAD_BYTES,
        "skb_load_bytes",
        [Ctx, Anything, UninitMem, ConstSize, None],
        Ret::Integer,
    ),
    proto(
        CSUM_DIFF,
        "csum_diff",
        [Mem, ConstSizeOrZero, Mem, ConstSizeOrZero, Anything],
        Ret::Integer,
    ),
    changing(proto(
        SKB_CHANGE_PROTO,
        "skb_change_proto",
        [Ctx, Anything, Anything, None, None],
        Ret::Integer,
    )),
    proto(
        SKB_CHANGE_TYPE,
        "skb_change_type",
        [Ctx, Anything, None, None, None],
        Ret::Integer,
    ),
    proto(
        GET_HASH_RECALC,
        "get_hash_recalc",
        [Ctx, None, None, None, None],
        Ret::Integer,
    ),
    changing(proto(
        SKB_CHANGE_TAIL,
        "skb_change_tail",
        [Ctx, Anything, Anything, None, None],
        Ret::Integer,
    )),
    changing(proto(
        SKB_PULL_DATA,
        "skb_pull_data",
        [Ctx, Anything, None, None, None],
        Ret::Integer,
    )),
    proto(
        CSUM_UPDATE,
        "csum_update",
        [Ctx, Anything, None, None, None],
        Ret::Integer,
    ),
    proto(
        SET_HASH_INVALID,
        "set_hash_invalid",
        [Ctx, None, None, None, None],
        Ret::Integer,
    ),
    proto(
        GET_NUMA_NODE_ID,
        "get_numa_node_id",
        [None; 5],
        Ret::Integer,
    ),
    changing(proto(
        SKB_CHANGE_HEAD,
        "skb_change_head",
        [Ctx, Anything, Anything, None, None],
        Ret::Integer,
    )),
    changing(proto(
        XDP_ADJUST_HEAD,
        "xdp_adjust_head",
        [Ctx, Anything, None, None, None],
        Ret::Integer,
    )),
    proto(
        GET_SOCKET_COOKIE,
        "get_socket_cookie",
        [Ctx, None, None, None, None],
        Ret::Integer,
    ),
    proto(
        GET_SOCKET_UID,
        "get_socket_uid",
        [Ctx, None, None, None, None],
        Ret::Integer,
    ),
    proto(
        SET_HASH,
        "set_hash",
        [Ctx, Anything, None, None, None],
        Ret::Integer,
    ),
    changing(proto(
        SKB_ADJUST_ROOM,
        "skb_adjust_room",
        [Ctx, Anything, Anything, Anything, None],
        Ret::Integer,
    )),
    proto(
        REDIRECT_MAP,
        "redirect_map",
        [ConstMapPtr, Anything, Anything, None, None],
        Ret::Integer,
    ),
    changing(proto(
        XDP_ADJUST_META,
        "xdp_adjust_meta",
        [Ctx, Anything, None, None, None],
        Ret::Integer,
    )),
    changing(proto(
        XDP_ADJUST_TAIL,
        "xdp_adjust_tail",
        [Ctx, Anything, None, None, None],
        Ret::Integer,
    )),
    proto(
        SKB_LOAD_BYTES_RELATIVE,
        "skb_load_bytes_relative",
        [Ctx, Anything, UninitMem, ConstSize, Anything],
        Ret::Integer,
    ),
    // The parameters are read and written: they must be initialized.
    proto(
        FIB_LOOKUP,
        "fib_lookup",
        [Ctx, Mem, ConstSize, Anything, None],
        Ret::Integer,
    ),
    proto(
        MAP_PUSH_ELEM,
        "map_push_elem",
        [ConstMapPtr, MapValue, Anything, None, None],
        Ret::Integer,
    ),
    proto(
        MAP_POP_ELEM,
        "map_pop_elem",
        [ConstMapPtr, MapValueOut, None, None, None],
        Ret::Integer,
    ),
    proto(
        MAP_PEEK_ELEM,
        "map_peek_elem",
        [ConstMapPtr, MapValueOut, None, None, None],
        Ret::Integer,
    ),
    proto(
        STRTOL,
        "strtol",
        [Mem, ConstSize, Anything, LongOut, None],
        Ret::Integer,
    ),
    proto(
        STRTOUL,
        "strtoul",
        [Mem, ConstSize, Anything, LongOut, None],
        Ret::Integer,
    ),
    proto(
        PROBE_READ_KERNEL,
        "probe_read_kernel",
        [UninitMem, ConstSizeOrZero, Anything, None, None],
        Ret::Integer,
    ),
    proto(JIFFIES64, "jiffies64", [None; 5], Ret::Integer),
    proto(
        KTIME_GET_BOOT_NS,
        "ktime_get_boot_ns",
        [None; 5],
        Ret::Integer,
    ),
    proto(
        RINGBUF_OUTPUT,
        "ringbuf_output",
        [ConstMapPtr, Mem, ConstSizeOrZero, Anything, None],
        Ret::Integer,
    ),
    proto(
        RINGBUF_RESERVE,
        "ringbuf_reserve",
        [ConstMapPtr, AllocSize, Anything, None, None],
        Ret::RingbufRecordOrNull,
    ),
    proto(
        RINGBUF_SUBMIT,
        "ringbuf_submit",
        [RingbufRecord, Anything, None, None, None],
        Ret::Integer,
    ),
    proto(
        RINGBUF_DISCARD,
        "ringbuf_discard",
        [RingbufRecord, Anything, None, None, None],
        Ret::Integer,
    ),
    proto(
        RINGBUF_QUERY,
        "ringbuf_query",
        [ConstMapPtr, Anything, None, None, None],
        Ret::Integer,
    ),
    proto(
        CSUM_LEVEL,
        "csum_level",
        [Ctx, Anything, None, None, None],
        Ret::Integer,
    ),
    proto(
        CHECK_MTU,
        "check_mtu",
        [Ctx, Anything, IntInOut, Anything, Anything],
        Ret::Integer,
    ),
    proto(
        FOR_EACH_MAP_ELEM,
        "for_each_map_elem",
        [ConstMapPtr, Func, StackOrNull, Anything, None],
        Ret::Integer,
    ),
    proto(
        LOOP,
        "loop",
        [Anything, Func, StackOrNull, Anything, None],
        Ret::Integer,
    ),
    proto(
        XDP_GET_BUFF_LEN,
        "xdp_get_buff_len",
        [Ctx, None, None, None, None],
        Ret::Integer,
    ),
    proto(
        XDP_LOAD_BYTES,
        "xdp_load_bytes",
        [Ctx, Anything, UninitMem, ConstSize, None],
        Ret::Integer,
    ),
    proto(
        XDP_STORE_BYTES,
        "xdp_store_bytes",
        [Ctx, Anything, Mem, ConstSize, None],
        Ret::Integer,
    ),
    proto(
        SPIN_LOCK,
        "spin_lock",
        [SpinLock, None, None, None, None],
        Ret::Integer,
    ),
    proto(
        SPIN_UNLOCK,
        "spin_unlock",
        [SpinLock, None, None, None, None],
        Ret::Integer,
    ),
    // The output buffer is written (`MEM_WRITE`), and may be NULL with size 0; the
    // arguments are an array of u64 of `data_len` bytes, or NULL with 0. The format's
    // conversions are checked against `data_len` after the arguments (`format`).
    proto(
        SNPRINTF,
        "snprintf",
        [UninitMem, ConstSizeOrZero, ConstStr, Mem, ConstSizeOrZero],
        Ret::Integer,
    ),
    proto(
        MAP_LOOKUP_PERCPU_ELEM,
        "map_lookup_percpu_elem",
        [ConstMapPtr, MapKey, Anything, None, None],
        Ret::MapValueOrNull,
    ),
];

/// The standard helpers that may take pointers into the packet for their memory
/// arguments (`.pkt_access = true`); the others need the bytes copied to the stack.
pub static PACKET_ARGS: &[u32] = &[
    MAP_LOOKUP_ELEM,
    MAP_UPDATE_ELEM,
    MAP_DELETE_ELEM,
    MAP_PUSH_ELEM,
    MAP_LOOKUP_PERCPU_ELEM,
    CSUM_DIFF,
];

/// The standard prototype of helper `id`.
pub fn standard(id: u32) -> Option<&'static HelperProto> {
    STANDARD.iter().find(|p| p.id == id)
}

/// The prototype a call of `id` uses: an embedder's among `extra` first, then Linux's.
pub fn resolve(extra: &[HelperProto], id: i32) -> Option<&HelperProto> {
    extra
        .iter()
        .find(|p| p.id as i32 == id)
        .or_else(|| u32::try_from(id).ok().and_then(standard))
}

/// Map types (`enum bpf_map_type`) some helpers are tied to.
pub mod map_types {
    pub const ARRAY: u32 = 2;
    pub const PROG_ARRAY: u32 = 3;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const ARRAY_OF_MAPS: u32 = 12;
    pub const HASH_OF_MAPS: u32 = 13;
    pub const DEVMAP: u32 = 14;
    pub const CPUMAP: u32 = 16;
    pub const XSKMAP: u32 = 17;
    pub const QUEUE: u32 = 22;
    pub const STACK: u32 = 23;
    pub const DEVMAP_HASH: u32 = 25;
    pub const RINGBUF: u32 = 27;
    pub const BLOOM_FILTER: u32 = 30;
}

use map_types::*;

/// Map creation flags (`BPF_F_*`) that restrict what programs may do with the values.
pub mod map_flags {
    /// Programs may read the values but not write them.
    pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
    /// Programs may write the values but not read them.
    pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
}

/// Map types that only some helpers may take (`check_map_func_compatibility`, first
/// half): a program array is for tail calls only, and so on.
pub static MAP_ONLY_WITH: &[(u32, &[u32])] = &[
    (PROG_ARRAY, &[TAIL_CALL]),
    (PERF_EVENT_ARRAY, &[PERF_EVENT_OUTPUT]),
    (RINGBUF, &[RINGBUF_OUTPUT, RINGBUF_RESERVE, RINGBUF_QUERY]),
    (ARRAY_OF_MAPS, &[MAP_LOOKUP_ELEM]),
    (HASH_OF_MAPS, &[MAP_LOOKUP_ELEM]),
    (DEVMAP, &[REDIRECT_MAP, MAP_LOOKUP_ELEM]),
    (DEVMAP_HASH, &[REDIRECT_MAP, MAP_LOOKUP_ELEM]),
    (CPUMAP, &[REDIRECT_MAP]),
    (XSKMAP, &[REDIRECT_MAP, MAP_LOOKUP_ELEM]),
    (QUEUE, &[MAP_PUSH_ELEM, MAP_POP_ELEM, MAP_PEEK_ELEM]),
    (STACK, &[MAP_PUSH_ELEM, MAP_POP_ELEM, MAP_PEEK_ELEM]),
    (BLOOM_FILTER, &[MAP_PUSH_ELEM, MAP_PEEK_ELEM]),
];

/// Helpers that take only some map types (`check_map_func_compatibility`, second half).
pub static HELPER_ONLY_WITH: &[(u32, &[u32])] = &[
    (TAIL_CALL, &[PROG_ARRAY]),
    (PERF_EVENT_OUTPUT, &[PERF_EVENT_ARRAY]),
    (RINGBUF_OUTPUT, &[RINGBUF]),
    (RINGBUF_RESERVE, &[RINGBUF]),
    (RINGBUF_QUERY, &[RINGBUF]),
    (REDIRECT_MAP, &[DEVMAP, DEVMAP_HASH, CPUMAP, XSKMAP]),
    (MAP_PUSH_ELEM, &[QUEUE, STACK, BLOOM_FILTER]),
    (MAP_POP_ELEM, &[QUEUE, STACK]),
    (MAP_PEEK_ELEM, &[QUEUE, STACK, BLOOM_FILTER]),
    (
        MAP_LOOKUP_PERCPU_ELEM,
        &[PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH],
    ),
];

/// Whether helper `id` may take a map of type `map_type`.
pub fn map_compatible(id: u32, map_type: u32) -> bool {
    let allows = |table: &[(u32, &[u32])], key: u32, value: u32| {
        table
            .iter()
            .filter(|(k, _)| *k == key)
            .all(|(_, values)| values.contains(&value))
    };
    allows(MAP_ONLY_WITH, map_type, id) && allows(HELPER_ONLY_WITH, id, map_type)
}
