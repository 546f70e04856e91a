//! Linux's helpers, with their numbers (`enum bpf_func_id` in `linux/bpf.h`) and
//! semantics: maps, tail calls and callbacks (`bpf_loop`, `bpf_for_each_map_elem`), ring
//! buffers, clocks, ids, trace output and string formatting, string to integer
//! conversion, spin locks.
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

use super::{callback, host, lock, map, output, strto, trace, HelperContext, HelperError, Helpers};
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
type Plain = fn(&mut HelperContext, Args) -> Result<u64, HelperError>;
type WithMaps = fn(&MapTable, &mut HelperContext, Args) -> Result<u64, HelperError>;

/// Helpers that need only the program's memory.
const PLAIN: [(i32, &str, Plain); 14] = [
    (id::KTIME_GET_NS, "ktime_get_ns", host::ktime_get_ns),
    (
        id::KTIME_GET_BOOT_NS,
        "ktime_get_boot_ns",
        host::ktime_get_boot_ns,
    ),
    (id::JIFFIES64, "jiffies64", host::jiffies64),
    (
        id::GET_PRANDOM_U32,
        "get_prandom_u32",
        host::get_prandom_u32,
    ),
    (
        id::GET_SMP_PROCESSOR_ID,
        "get_smp_processor_id",
        host::get_smp_processor_id,
    ),
    (
        id::GET_CURRENT_PID_TGID,
        "get_current_pid_tgid",
        host::get_current_pid_tgid,
    ),
    (
        id::GET_CURRENT_UID_GID,
        "get_current_uid_gid",
        host::get_current_uid_gid,
    ),
    (
        id::GET_CURRENT_COMM,
        "get_current_comm",
        host::get_current_comm,
    ),
    (id::STRTOL, "strtol", strto::strtol),
    (id::STRTOUL, "strtoul", strto::strtoul),
    (id::SNPRINTF, "snprintf", trace::snprintf),
    (id::SPIN_LOCK, "spin_lock", lock::spin_lock),
    (id::SPIN_UNLOCK, "spin_unlock", lock::spin_unlock),
    (id::LOOP, "loop", callback::loop_),
];

/// Helpers that resolve map handles through the program's map table.
const WITH_MAPS: [(i32, &str, WithMaps); 14] = [
    (id::MAP_LOOKUP_ELEM, "map_lookup_elem", map::lookup),
    (id::MAP_UPDATE_ELEM, "map_update_elem", map::update),
    (id::MAP_DELETE_ELEM, "map_delete_elem", map::delete),
    (id::MAP_PUSH_ELEM, "map_push_elem", map::push),
    (id::MAP_POP_ELEM, "map_pop_elem", map::pop),
    (id::MAP_PEEK_ELEM, "map_peek_elem", map::peek),
    (id::RINGBUF_OUTPUT, "ringbuf_output", output::output),
    (id::RINGBUF_RESERVE, "ringbuf_reserve", output::reserve),
    (id::RINGBUF_SUBMIT, "ringbuf_submit", output::submit),
    (id::RINGBUF_DISCARD, "ringbuf_discard", output::discard),
    (id::RINGBUF_QUERY, "ringbuf_query", output::query),
    (
        id::PERF_EVENT_OUTPUT,
        "perf_event_output",
        output::perf_event_output,
    ),
    (id::TAIL_CALL, "tail_call", callback::tail_call),
    (
        id::FOR_EACH_MAP_ELEM,
        "for_each_map_elem",
        callback::for_each_map_elem,
    ),
];

/// Registers every Linux helper bpfkit implements, sharing `runtime`.
pub fn register(helpers: &mut Helpers, runtime: &Runtime) {
    for (id, name, f) in PLAIN {
        helpers.register(id, name, f);
    }
    for (id, name, f) in WITH_MAPS {
        let maps = runtime.maps.clone();
        helpers.register(id, name, move |ctx, a| f(&maps, ctx, a));
    }
    helpers.lookup_maps = helpers
        .get(id::MAP_LOOKUP_ELEM)
        .map(|h| (h.clone(), runtime.maps.clone()));
    let log = runtime.trace.clone();
    helpers.register(id::TRACE_PRINTK, "trace_printk", move |ctx, a| {
        trace::trace_printk(&log, ctx, a)
    });
}
