//! `BPF_MAP_TYPE_HASH`, `PERCPU_HASH`, `LRU_HASH` and `LRU_PERCPU_HASH`: one
//! implementation, with the value layout ([`Layout`]) making the per-CPU variants and an
//! eviction policy making the LRU ones.
//!
//! Keys are spread over [`SHARDS`] independently locked tables (readers share a shard,
//! writers take it alone), so there is no global lock on lookups; only inserting or
//! deleting an element briefly takes the slot allocator's lock. Values live in a [`Slab`].
//!
//! The LRU maps evict with the "clock" approximation of least-recently-used that Linux's
//! own LRU lists also approximate: a program's lookup sets the element's reference bit
//! (a user-space lookup does not, as in Linux), and when the map is full an insertion
//! sweeps the shards, clearing reference bits, and evicts the first element found
//! without one.

use super::error::MapError;
use super::layout::Layout;
use super::slab::{Slab, SlotId};
use super::spec::MapSpec;
use super::{check_update_flags, Cpus, Map, ValuePtr, BPF_EXIST, BPF_NOEXIST};
use crate::memory::Region;
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Number of independently locked shards.
const SHARDS: usize = 64;
/// Largest key Linux accepts for a hash map (`MAX_BPF_STACK`, keys come from the stack).
const KEY_SIZE_MAX: u32 = 512;

/// A key, stored inline when short (most BPF keys are 4 to 16 bytes) so that comparing it
/// reads the entry itself rather than following a pointer.
#[derive(Clone, Debug)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

/// Longest key stored inline: with the length byte and the tag, 24 bytes.
const INLINE_KEY: usize = 22;

impl Key {
    fn new(key: &[u8]) -> Key {
        if key.len() <= INLINE_KEY {
            let mut bytes = [0; INLINE_KEY];
            bytes[..key.len()].copy_from_slice(key);
            Key::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(key.into())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Heap(key) => key,
        }
    }
}

#[derive(Debug)]
struct Entry {
    key: Key,
    slot: SlotId,
    /// LRU reference bit: set by a program's lookup, cleared by the eviction sweep.
    referenced: AtomicBool,
}

type Shard = HashTable<Entry>;

/// A shard's lock on a cache line of its own: shards hit by different threads must not
/// share the line their lock word lives on, or every read lock would bounce it between
/// cores.
#[derive(Debug)]
#[repr(align(128))]
struct Padded(RwLock<Shard>);

#[derive(Debug)]
pub(super) struct Hash {
    spec: MapSpec,
    layout: Layout,
    lru: bool,
    slab: Slab,
    shards: Box<[Padded]>,
    hasher: RandomState,
    /// Where the LRU eviction sweep resumes.
    hand: AtomicUsize,
}

fn read(shard: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    shard.read().unwrap_or_else(|e| e.into_inner())
}

fn write(shard: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    shard.write().unwrap_or_else(|e| e.into_inner())
}

impl Hash {
    /// Checks as `htab_map_alloc_check`: non-empty keys and values of bounded size.
    pub fn new(spec: &MapSpec) -> Result<Hash, MapError> {
        if spec.key_size == 0 || spec.value_size == 0 || spec.key_size > KEY_SIZE_MAX {
            return Err(MapError::Invalid);
        }
        if spec.value_size > super::array::VALUE_SIZE_MAX {
            return Err(MapError::TooBig);
        }
        let layout = Layout::new(spec);
        Ok(Hash {
            spec: spec.clone(),
            layout,
            lru: matches!(
                spec.map_type,
                super::MapType::LruHash | super::MapType::LruPercpuHash
            ),
            slab: Slab::new(layout.slot_len(), spec.max_entries),
            shards: (0..SHARDS)
                .map(|_| Padded(RwLock::new(Shard::new())))
                .collect(),
            hasher: RandomState::default(),
            hand: AtomicUsize::new(0),
        })
    }

    fn check_key(&self, key: &[u8]) -> Result<(), MapError> {
        if key.len() != self.spec.key_size as usize {
            return Err(MapError::Invalid);
        }
        Ok(())
    }

    /// The key's hash and its shard. The shard comes from bits the table itself does not
    /// use for tables under 2^32 buckets, so each shard's table still sees spread hashes.
    fn locate(&self, key: &[u8]) -> (u64, usize) {
        let hash = self.hasher.hash_one(key);
        (hash, (hash >> 32) as usize % SHARDS)
    }

    fn rehash(&self) -> impl Fn(&Entry) -> u64 + '_ {
        |e: &Entry| self.hasher.hash_one(e.key.as_slice())
    }

    /// Removes `key`'s element, first calling `before` with its slot under the shard's write
    /// lock (an error from it keeps the element).
    fn remove(
        &self,
        key: &[u8],
        before: impl FnOnce(*mut u8) -> Result<(), MapError>,
    ) -> Result<(), MapError> {
        self.check_key(key)?;
        let (hash, i) = self.locate(key);
        let mut table = write(&self.shards[i].0);
        let entry = table
            .find_entry(hash, |e| e.key.as_slice() == key)
            .map_err(|_| MapError::NoEntry)?;
        before(self.slab.addr(entry.get().slot))?;
        let (entry, _) = entry.remove();
        self.slab.free(entry.slot);
        Ok(())
    }

    /// Evicts one element (LRU maps), sweeping the shards from where the last sweep
    /// stopped. Two rounds suffice: the first clears every reference bit it passes.
    fn evict(&self) {
        for _ in 0..2 * SHARDS {
            let i = self.hand.fetch_add(1, Relaxed) % SHARDS;
            let mut shard = write(&self.shards[i].0);
            let victim = shard
                .iter()
                .find(|e| !e.referenced.swap(false, Relaxed))
                .map(|e| e.key.clone());
            if let Some(key) = victim {
                let key = key.as_slice();
                let hash = self.hasher.hash_one(key);
                if let Ok(entry) = shard.find_entry(hash, |e| e.key.as_slice() == key) {
                    let (entry, _) = entry.remove();
                    self.slab.free(entry.slot);
                }
                return;
            }
        }
    }
}

impl Map for Hash {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        self.check_key(key)?;
        let (hash, i) = self.locate(key);
        let shard = read(&self.shards[i].0);
        let entry = shard
            .find(hash, |e| e.key.as_slice() == key)
            .ok_or(MapError::NoEntry)?;
        // SAFETY: a slot of a live entry; the read lock keeps it from being deleted and
        // reused while we copy.
        unsafe { self.layout.read(self.slab.addr(entry.slot), out) }
    }

    /// As `htab_map_update_elem`: bad flags `-EINVAL`; `BPF_NOEXIST` on an existing key
    /// `-EEXIST`; `BPF_EXIST` on a missing one `-ENOENT`; a new key in a full map
    /// `-E2BIG`, except for LRU maps, which evict instead. An existing element's value is
    /// replaced in place (Linux's LRU maps take a new element even then, which in a full
    /// map evicts another one; bpfkit's evict only to insert a new key).
    fn update_cpus(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpus: Cpus,
    ) -> Result<(), MapError> {
        check_update_flags(flags)?;
        self.check_key(key)?;
        let (hash, i) = self.locate(key);
        loop {
            let mut table = write(&self.shards[i].0);
            if let Some(entry) = table.find(hash, |e| e.key.as_slice() == key) {
                if flags == BPF_NOEXIST {
                    return Err(MapError::Exists);
                }
                // SAFETY: a slot of a live entry, which our write lock keeps live.
                return unsafe {
                    self.layout
                        .write(self.slab.addr(entry.slot), value, cpus, false)
                };
            }
            if flags == BPF_EXIST {
                return Err(MapError::NoEntry);
            }
            let Some(slot) = self.slab.alloc()? else {
                if !self.lru {
                    return Err(MapError::TooBig);
                }
                // Evicting may need this shard's lock: release it, then retry.
                drop(table);
                self.evict();
                continue;
            };
            // SAFETY: a slot just allocated, not yet visible to anyone else.
            if let Err(e) = unsafe { self.layout.write(self.slab.addr(slot), value, cpus, true) } {
                self.slab.free(slot);
                return Err(e);
            }
            table.insert_unique(
                hash,
                Entry {
                    key: Key::new(key),
                    slot,
                    referenced: AtomicBool::new(false),
                },
                self.rehash(),
            );
            return Ok(());
        }
    }

    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.remove(key, |_| Ok(()))
    }

    fn lookup_and_delete(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        // SAFETY: the slot of the entry being removed, still allocated while we copy.
        self.remove(key, |slot| unsafe { self.layout.read(slot, out) })
    }

    /// Iterates shard by shard, each in its table's order. A key not in the map restarts
    /// from the first key, as in Linux.
    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), MapError> {
        if next.len() != self.spec.key_size as usize {
            return Err(MapError::Invalid);
        }
        let mut start = 0;
        if let Some(key) = key {
            self.check_key(key)?;
            let (_, i) = self.locate(key);
            let table = read(&self.shards[i].0);
            let mut entries = table.iter();
            if entries.any(|e| e.key.as_slice() == key) {
                if let Some(e) = entries.next() {
                    next.copy_from_slice(e.key.as_slice());
                    return Ok(());
                }
                start = i + 1;
            }
        }
        for shard in &self.shards[start..] {
            if let Some(e) = read(&shard.0).iter().next() {
                next.copy_from_slice(e.key.as_slice());
                return Ok(());
            }
        }
        Err(MapError::NoEntry)
    }

    /// One pass over the shards, each under its read lock (get-next-key from user space
    /// would search a shard for every key).
    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for shard in &self.shards[..] {
            for e in read(&shard.0).iter() {
                let mut value = vec![0u8; self.spec.user_value_size()];
                // SAFETY: a live entry's slot, kept live by the read lock.
                if unsafe { self.layout.read(self.slab.addr(e.slot), &mut value) }.is_ok() {
                    out.push((e.key.as_slice().to_vec(), value));
                }
            }
        }
        out
    }

    fn lookup_ptr(&self, key: &[u8], cpu: usize) -> Option<ValuePtr> {
        let (hash, i) = self.locate(key);
        let shard = read(&self.shards[i].0);
        let entry = shard.find(hash, |e| e.key.as_slice() == key)?;
        // Reading first keeps a hot element's cache line shared between threads.
        if self.lru && !entry.referenced.load(Relaxed) {
            entry.referenced.store(true, Relaxed);
        }
        Some(ValuePtr {
            addr: self.layout.cpu_addr(self.slab.addr(entry.slot), cpu) as u64,
            region: Region {
                writable: self.spec.program_writable(),
                ..self.slab.region(entry.slot)
            },
        })
    }
}
