//! BPF maps with Linux's types, flags and error codes, shared between programs running on
//! several threads and user space.
//!
//! Every map type is a small module implementing the [`Map`] trait; [`create`] builds one
//! from a [`MapSpec`] and checks its attributes the way `BPF_MAP_CREATE` does. Maps are
//! `Send + Sync` and shared through `Arc<dyn Map>`.
//!
//! # Values programs point into
//! `bpf_map_lookup_elem` hands a program a pointer into the value, which it may read and
//! write in place. Values therefore live in stable allocations that are never moved or
//! freed while the map exists: the array's one block, and for the other keyed maps slots
//! (the `slab` module) that a deleted element returns to a free list and a later insertion
//! reuses. This is what the kernel does for preallocated hash maps: a program still
//! holding the pointer of a deleted element may see another element's value, but always
//! points into live map memory of the right size, so nothing is ever used after it is
//! freed. Nothing needs to know when runs start or end, and memory stays bounded by
//! `max_entries`; the cost is that a stale pointer sees reused memory, as in Linux.
//!
//! # Per-CPU maps
//! A "CPU" is a small per-thread index ([`cpu::current`]); per-CPU maps keep
//! [`cpu::possible`] slots per element, programs see their thread's slot, and user space
//! reads and writes all of them, each rounded up to 8 bytes as in Linux.
//!
//! ```
//! use bpfkit_vm::maps::{self, MapSpec, MapType, BPF_ANY};
//! let map = maps::create(&MapSpec::new(MapType::Hash, 4, 8, 16)).unwrap();
//! map.update(&7u32.to_ne_bytes(), &42u64.to_ne_bytes(), BPF_ANY).unwrap();
//! let mut value = [0u8; 8];
//! map.lookup(&7u32.to_ne_bytes(), &mut value).unwrap();
//! assert_eq!(u64::from_ne_bytes(value), 42);
//! ```

mod array;
pub mod cpu;
mod error;
mod hash;
mod layout;
mod lpm;
mod of_maps;
mod perf;
pub mod pin;

mod queue;
mod ringbuf;
mod shared;
mod slab;
mod spec;
mod table;
mod target;

pub use error::MapError;
pub use perf::{PerfEventArray, Sample};
pub use ringbuf::RingBuf;
pub use spec::{MapSpec, MapType};
pub use table::{MapTable, MAP_HANDLE_BASE};

use crate::memory::Region;
use std::sync::Arc;

/// Update flag: create the element or replace it.
pub const BPF_ANY: u64 = 0;
/// Update flag: create the element only if it does not exist (else `-EEXIST`).
pub const BPF_NOEXIST: u64 = 1;
/// Update flag: replace the element only if it exists (else `-ENOENT`).
pub const BPF_EXIST: u64 = 2;
/// Update flag: update the value under its `bpf_spin_lock`. bpfkit's maps carry no BTF,
/// so no value has a spin lock and, as in Linux for such maps, the flag is `-EINVAL`.
pub const BPF_F_LOCK: u64 = 4;

/// Map creation flag: do not preallocate elements (required by `lpm_trie`).
pub const BPF_F_NO_PREALLOC: u32 = 1;
/// Map creation flag: programs may read values but not write them (`.rodata`).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;

/// Which slots of a per-CPU map's element an operation reads or writes. Plain maps have
/// one slot and ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpus {
    /// Every slot, laid out one after the other, each rounded up to 8 bytes: user space.
    All,
    /// The slot of this CPU index: a program.
    One(usize),
}

/// Where a program's lookup points: the value's address and the region of map memory
/// that holds it, which the caller adds to the run's checked memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValuePtr {
    /// Address of the value's first byte (this CPU's slot for per-CPU maps).
    pub addr: u64,
    /// A region of map memory containing `[addr, addr + value_size)`. Regions are few and
    /// reused (one per allocation block of the map), so adding them for every lookup of a
    /// run, deduplicated, stays bounded.
    pub region: Region,
}

/// A map: the operations of `bpf(2)`'s map commands and of the map helpers.
///
/// Errors are the kernel's for the same operation. Methods a map type does not have
/// answer as Linux does for that type (often `-EINVAL` or `-ENOTSUPP`).
pub trait Map: Send + Sync + std::fmt::Debug {
    /// The attributes the map was created with.
    fn spec(&self) -> &MapSpec;

    /// Copies the value of `key` into `out`, which holds [`MapSpec::user_value_size`]
    /// bytes (every CPU's slot for per-CPU maps). `BPF_MAP_LOOKUP_ELEM`.
    fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError>;

    /// Creates or replaces the value of `key` according to `flags`; `value` holds every
    /// CPU's slot for per-CPU maps with [`Cpus::All`], one value with [`Cpus::One`].
    fn update_cpus(&self, key: &[u8], value: &[u8], flags: u64, cpus: Cpus)
        -> Result<(), MapError>;

    /// Removes `key`. `BPF_MAP_DELETE_ELEM`.
    fn delete(&self, key: &[u8]) -> Result<(), MapError>;

    /// Writes into `next` the key following `key`, or the first key when `key` is `None`
    /// or not in the map; `-ENOENT` after the last. `BPF_MAP_GET_NEXT_KEY`.
    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), MapError>;

    /// A program's lookup: where the value of `key` lives, for the CPU index `cpu`.
    fn lookup_ptr(&self, key: &[u8], cpu: usize) -> Option<ValuePtr>;

    /// Pushes `value` (queue and stack maps; `BPF_EXIST` replaces the oldest when full).
    fn push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        let _ = (value, flags);
        Err(MapError::Invalid)
    }

    /// Removes the next value into `out` (queue and stack maps).
    fn pop(&self, out: &mut [u8]) -> Result<(), MapError> {
        let _ = out;
        Err(MapError::Invalid)
    }

    /// Copies the next value into `out` without removing it (queue and stack maps).
    fn peek(&self, out: &mut [u8]) -> Result<(), MapError> {
        let _ = out;
        Err(MapError::Invalid)
    }

    /// Copies the value of `key` into `out` and removes the element, atomically
    /// (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`): a pop for queues and stacks. Linux implements
    /// it for those and the hash maps; the other types answer `-ENOTSUPP`.
    fn lookup_and_delete(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        let _ = (key, out);
        Err(MapError::NotSupported)
    }

    /// Every element as (key, value in the user-space layout), in iteration order; for
    /// queues and stacks, (empty key, value) in the order they were pushed.
    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let spec = self.spec();
        let mut out = Vec::new();
        let mut key = vec![0u8; spec.key_size as usize];
        let mut next = key.clone();
        let mut first = true;
        while self
            .next_key((!first).then_some(&key[..]), &mut next)
            .is_ok()
        {
            first = false;
            let mut value = vec![0u8; spec.user_value_size()];
            // An element deleted between the two calls is simply skipped.
            if self.lookup(&next, &mut value).is_ok() {
                out.push((next.clone(), value));
            }
            std::mem::swap(&mut key, &mut next);
            if out.len() > spec.max_entries as usize {
                // Concurrent updates can make iteration revisit keys; stop at capacity.
                break;
            }
        }
        out
    }

    /// The map as a ring buffer, for the ring buffer helpers and consumers.
    fn as_ringbuf(&self) -> Option<&RingBuf> {
        None
    }

    /// For maps of maps and program arrays: the descriptor stored at `key`, if any.
    fn inner_fd(&self, key: &[u8]) -> Option<u32> {
        let _ = key;
        None
    }

    /// The map as a perf event array, for `bpf_perf_event_output` and consumers.
    fn as_perf_event_array(&self) -> Option<&PerfEventArray> {
        None
    }
}

impl dyn Map + '_ {
    /// Creates or replaces `key` from user space (`BPF_MAP_UPDATE_ELEM`): every CPU's
    /// slot for per-CPU maps; a push for queues and stacks, as in Linux.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.update_cpus(key, value, flags, Cpus::All)
    }
}

/// Creates a map, checking its attributes as `BPF_MAP_CREATE` does (`-EINVAL` for the
/// ones Linux refuses).
pub fn create(spec: &MapSpec) -> Result<Arc<dyn Map>, MapError> {
    spec.check_common()?;
    Ok(match spec.map_type {
        MapType::Array | MapType::PercpuArray => Arc::new(array::Array::new(spec)?),
        MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
            Arc::new(hash::Hash::new(spec)?)
        }
        MapType::Queue | MapType::Stack => Arc::new(queue::Queue::new(spec)?),
        MapType::LpmTrie => Arc::new(lpm::LpmTrie::new(spec)?),
        MapType::Ringbuf => Arc::new(RingBuf::new(spec)?),
        MapType::PerfEventArray => Arc::new(PerfEventArray::new(spec)?),
        MapType::ArrayOfMaps | MapType::ProgArray => Arc::new(of_maps::FdArray::new(spec)?),
        MapType::HashOfMaps => Arc::new(of_maps::HashOfMaps::new(spec)?),
        MapType::DevMap | MapType::DevMapHash | MapType::CpuMap | MapType::XskMap => {
            Arc::new(target::TargetMap::new(spec)?)
        }
    })
}

/// Checks update flags common to the keyed maps: anything beyond `BPF_F_LOCK` is
/// `-EINVAL`, as is `BPF_F_LOCK` itself since no bpfkit value holds a spin lock, and the
/// rest must be one of `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`.
fn check_update_flags(flags: u64) -> Result<(), MapError> {
    if flags > BPF_EXIST {
        return Err(MapError::Invalid);
    }
    Ok(())
}
