//! Linux's helpers, with their numbers (`enum bpf_func_id` in `linux/bpf.h`) and
//! semantics: maps, ring buffers, clocks, ids, trace output.
//!
//! ```
//! use bpfkit_vm::helpers::linux::{self, Runtime};
//! use bpfkit_vm::maps::MapTable;
//! use bpfkit_vm::Helpers;
//! let runtime = Runtime::new(MapTable::new());
//! let mut helpers = Helpers::new();
//! linux::register(&mut helpers, &runtime);
//! assert_eq!(helpers.get(linux::id::MAP_LOOKUP_ELEM).unwrap().name, "map_lookup_elem");
//! ```

use super::{host, map, ringbuf, trace, HelperContext, HelperError, Helpers};
use crate::maps::MapTable;
use std::sync::{Arc, Mutex};

/// Helper numbers, as `enum bpf_func_id`.
pub mod id {
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    pub const MAP_UPDATE_ELEM: i32 = 2;
    pub const MAP_DELETE_ELEM: i32 = 3;
    pub const KTIME_GET_NS: i32 = 5;
    pub const TRACE_PRINTK: i32 = 6;
    pub const GET_PRANDOM_U32: i32 = 7;
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    pub const TAIL_CALL: i32 = 12;
    pub const GET_CURRENT_PID_TGID: i32 = 14;
    pub const GET_CURRENT_UID_GID: i32 = 15;
    pub const GET_CURRENT_COMM: i32 = 16;
    pub const PERF_EVENT_OUTPUT: i32 = 25;
    pub const MAP_PUSH_ELEM: i32 = 87;
    pub const MAP_POP_ELEM: i32 = 88;
    pub const MAP_PEEK_ELEM: i32 = 89;
    pub const SPIN_LOCK: i32 = 93;
    pub const SPIN_UNLOCK: i32 = 94;
    pub const STRTOL: i32 = 105;
    pub const STRTOUL: i32 = 106;
    pub const JIFFIES64: i32 = 118;
    pub const KTIME_GET_BOOT_NS: i32 = 125;
    pub const RINGBUF_OUTPUT: i32 = 130;
    pub const RINGBUF_RESERVE: i32 = 131;
    pub const RINGBUF_SUBMIT: i32 = 132;
    pub const RINGBUF_DISCARD: i32 = 133;
    pub const RINGBUF_QUERY: i32 = 134;
    pub const FOR_EACH_MAP_ELEM: i32 = 164;
    pub const SNPRINTF: i32 = 165;
    pub const LOOP: i32 = 181;
}

/// `-EINVAL` as a helper's return value.
pub(super) const EINVAL: u64 = -22i64 as u64;

/// What the helpers of a program share: its maps and the trace output. Cloning shares.
#[derive(Clone, Debug, Default)]
pub struct Runtime {
    /// The maps the program's `lddw`s and helper calls name.
    pub maps: Arc<MapTable>,
    /// Lines written by `bpf_trace_printk`.
    pub trace: Arc<TraceLog>,
}

impl Runtime {
    /// A runtime over `maps`, with an empty trace log.
    pub fn new(maps: MapTable) -> Runtime {
        Runtime {
            maps: Arc::new(maps),
            trace: Arc::default(),
        }
    }
}

/// The output of `bpf_trace_printk` (the kernel's trace pipe), one message per call.
#[derive(Debug, Default)]
pub struct TraceLog {
    messages: Mutex<Vec<String>>,
}

impl TraceLog {
    pub(super) fn push(&self, message: String) {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }

    /// Removes and returns the messages written so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.messages.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

type Args = [u64; 5];

/// Registers every Linux helper bpfkit implements, sharing `runtime`.
pub fn register(helpers: &mut Helpers, runtime: &Runtime) {
    let with_maps = |f: fn(&MapTable, &mut HelperContext, Args) -> Result<u64, HelperError>| {
        let maps = runtime.maps.clone();
        move |ctx: &mut HelperContext, a: Args| f(&maps, ctx, a)
    };
    helpers
        .register(
            id::MAP_LOOKUP_ELEM,
            "map_lookup_elem",
            with_maps(map::lookup),
        )
        .register(
            id::MAP_UPDATE_ELEM,
            "map_update_elem",
            with_maps(map::update),
        )
        .register(
            id::MAP_DELETE_ELEM,
            "map_delete_elem",
            with_maps(map::delete),
        )
        .register(id::MAP_PUSH_ELEM, "map_push_elem", with_maps(map::push))
        .register(id::MAP_POP_ELEM, "map_pop_elem", with_maps(map::pop))
        .register(id::MAP_PEEK_ELEM, "map_peek_elem", with_maps(map::peek))
        .register(
            id::RINGBUF_OUTPUT,
            "ringbuf_output",
            with_maps(ringbuf::output),
        )
        .register(
            id::RINGBUF_RESERVE,
            "ringbuf_reserve",
            with_maps(ringbuf::reserve),
        )
        .register(
            id::RINGBUF_SUBMIT,
            "ringbuf_submit",
            with_maps(ringbuf::submit),
        )
        .register(
            id::RINGBUF_DISCARD,
            "ringbuf_discard",
            with_maps(ringbuf::discard),
        )
        .register(
            id::RINGBUF_QUERY,
            "ringbuf_query",
            with_maps(ringbuf::query),
        )
        .register(id::KTIME_GET_NS, "ktime_get_ns", host::ktime_get_ns)
        .register(
            id::KTIME_GET_BOOT_NS,
            "ktime_get_boot_ns",
            host::ktime_get_boot_ns,
        )
        .register(id::JIFFIES64, "jiffies64", host::jiffies64)
        .register(
            id::GET_PRANDOM_U32,
            "get_prandom_u32",
            host::get_prandom_u32,
        )
        .register(
            id::GET_SMP_PROCESSOR_ID,
            "get_smp_processor_id",
            host::get_smp_processor_id,
        )
        .register(
            id::GET_CURRENT_PID_TGID,
            "get_current_pid_tgid",
            host::get_current_pid_tgid,
        )
        .register(
            id::GET_CURRENT_UID_GID,
            "get_current_uid_gid",
            host::get_current_uid_gid,
        )
        .register(
            id::GET_CURRENT_COMM,
            "get_current_comm",
            host::get_current_comm,
        );
    let log = runtime.trace.clone();
    helpers.register(id::TRACE_PRINTK, "trace_printk", move |ctx, a| {
        trace::trace_printk(&log, ctx, a)
    });
}
