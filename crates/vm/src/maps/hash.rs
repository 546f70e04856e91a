//! `BPF_MAP_TYPE_HASH`, `PERCPU_HASH`, `LRU_HASH` and `LRU_PERCPU_HASH`: one
//! implementation, with the value layout ([`Layout`]) making the per-CPU variants and an
//! eviction policy making the LRU ones.
//!
//! # Structure
//! As Linux's `htab`: a power-of-two array of buckets, each the head of a singly linked
//! chain of elements, with locks that only writers take (one per bucket, or per group of
//! buckets in large maps). Elements are the slots of a [`Slab`]: a slot's value is map
//! memory that programs may point into, and beside it the slab keeps words that programs
//! can never reach, which hold the element's version, its link to the next element of its
//! chain, its hash with its LRU reference bit, and its key: four words for keys of up to
//! 8 bytes, few so that a map's hot data stays small.
//! A deleted element's slot goes back to the slab and is reused by a later insertion.
//!
//! # Readers take no lock
//! Every word a reader touches is an atomic, so concurrent updates are never data races,
//! and slots are never freed while the map lives, so a reader following a stale link still
//! reads live memory. What remains is reading a consistent element and not losing the way:
//! - Versions: an element's version is odd while it is in the map and is bumped when it
//!   is removed and again when it is reused. A reader matches a key between two reads of
//!   the version (a sequence lock), so a key torn by a concurrent reuse never matches.
//! - Nulls markers: a chain ends not in "null" but in a marker naming its bucket, as
//!   `hlist_nulls` does. A reader standing on an element that is removed and reinserted
//!   into another bucket follows that bucket's chain; ending on another bucket's marker,
//!   it starts over. Insertions go to the head of a chain, so a reader that strays back
//!   into its own bucket comes in at the head and misses nothing.
//! - Bounds: every index read from a link is checked ([`Slab::meta`]), a walk takes at most
//!   `max_entries + 1` steps (no chain is longer), and after [`RESTARTS`] lock-free
//!   attempts a lookup walks its chain under the bucket's lock, where it cannot stray. So
//!   a reader never loops forever, even under constant concurrent updates.
//!
//! A lookup racing the deletion of its own key may return the element just removed (whose
//! value may then be reused by another key), as in Linux; a key that stays in the map is
//! always found, with its own value.
//!
//! The LRU maps evict with the "clock" approximation of least-recently-used that Linux's
//! own LRU lists also approximate: a program's lookup sets the element's reference bit
//! (a user-space lookup does not, as in Linux), and when the map is full an insertion
//! sweeps the slots, clearing reference bits, and evicts the first element found
//! without one.

use super::error::MapError;
use super::layout::Layout;
use super::slab::{Slab, SlotId};
use super::spec::MapSpec;
use super::{check_update_flags, Cpus, Map, ValuePtr, BPF_EXIST, BPF_NOEXIST};
use crate::memory::Region;
use foldhash::fast::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{
    fence, AtomicU64, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Mutex, MutexGuard};

/// Largest key Linux accepts for a hash map (`MAX_BPF_STACK`, keys come from the stack).
const KEY_SIZE_MAX: u32 = 512;
/// Most buckets: a map with more entries than this has chains longer than one on
/// average, rather than a bucket array allocated up front for billions of elements.
const MAX_BUCKETS: usize = 1 << 20;
/// Most bucket locks: buckets share them beyond this.
const MAX_LOCKS: usize = 1 << 12;
/// Lock-free attempts of a lookup before it takes its bucket's lock.
const RESTARTS: usize = 3;

/// The words of an element beside its value, at these indexes; the key follows, in
/// 8-byte words (the last one zero-padded).
const VERSION: usize = 0;
const NEXT: usize = 1;
/// The key's hash, whose lowest bit, not part of any hash compared, is the LRU reference
/// bit.
const HASH: usize = 2;
const KEY: usize = 3;
/// The reference bit in the [`HASH`] word.
const REFERENCED: u64 = 1;

/// A link to element `id`.
fn link_to(id: SlotId) -> u64 {
    (id as u64) << 1
}

/// The marker ending bucket `b`'s chain.
fn nulls(b: usize) -> u64 {
    ((b as u64) << 1) | 1
}

/// An element's words (see [`VERSION`] and the following constants).
#[derive(Clone, Copy)]
struct Elem<'a>(&'a [AtomicU64]);

impl<'a> Elem<'a> {
    fn version(self) -> &'a AtomicU64 {
        &self.0[VERSION]
    }
    fn next(self) -> &'a AtomicU64 {
        &self.0[NEXT]
    }
    fn hash(self) -> &'a AtomicU64 {
        &self.0[HASH]
    }

    /// Whether the element's hash is `hash` (which has no reference bit).
    fn hash_is(self, hash: u64) -> bool {
        self.hash().load(Relaxed) & !REFERENCED == hash
    }

    /// Whether the element's key is `key` (of the map's key size).
    fn key_is(self, key: &[u8]) -> bool {
        self.0[KEY..]
            .iter()
            .zip(key.chunks(8))
            .all(|(w, chunk)| w.load(Relaxed) == pack(chunk))
    }

    fn set_key(self, key: &[u8]) {
        for (w, chunk) in self.0[KEY..].iter().zip(key.chunks(8)) {
            w.store(pack(chunk), Relaxed);
        }
    }

    fn copy_key(self, out: &mut [u8]) {
        for (w, chunk) in self.0[KEY..].iter().zip(out.chunks_mut(8)) {
            chunk.copy_from_slice(&w.load(Relaxed).to_ne_bytes()[..chunk.len()]);
        }
    }
}

/// Up to 8 key bytes as a word, zero-padded. The common key sizes avoid a variable-length
/// copy, which would be a call to `memcpy` on every comparison.
#[inline]
fn pack(chunk: &[u8]) -> u64 {
    match *chunk {
        [a, b, c, d, e, f, g, h] => u64::from_ne_bytes([a, b, c, d, e, f, g, h]),
        [a, b, c, d] => u64::from_ne_bytes([a, b, c, d, 0, 0, 0, 0]),
        _ => {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(chunk) {
                *w = *b;
            }
            u64::from_ne_bytes(word)
        }
    }
}

/// A chain's head and the lock its writers take.
#[derive(Clone, Copy)]
struct Bucket<'a> {
    head: &'a AtomicU64,
    lock: &'a Mutex<()>,
}

impl<'a> Bucket<'a> {
    fn lock(self) -> MutexGuard<'a, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An element a lock-free walk matched, with the version it had then.
struct Found<'a> {
    id: SlotId,
    elem: Elem<'a>,
    version: u64,
}

/// How a lock-free walk of a chain ended.
enum Walk<'a> {
    Found(Found<'a>),
    /// The chain of the key's bucket ended without it.
    Absent,
    /// The walk left the bucket's chain (or saw a key change under it): start over.
    Strayed,
}

#[derive(Debug)]
pub(super) struct Hash {
    spec: MapSpec,
    layout: Layout,
    lru: bool,
    slab: Slab,
    /// Chain heads: a link, or the bucket's nulls marker.
    heads: Box<[AtomicU64]>,
    /// Bucket `b`'s lock is `locks[b % locks.len()]`.
    locks: Box<[Mutex<()>]>,
    hasher: RandomState,
    /// Where the LRU eviction sweep resumes.
    hand: AtomicUsize,
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
        let n = (spec.max_entries as usize)
            .next_power_of_two()
            .min(MAX_BUCKETS);
        let mut heads = Vec::new();
        heads.try_reserve_exact(n).map_err(|_| MapError::NoMemory)?;
        heads.extend((0..n).map(|b| AtomicU64::new(nulls(b))));
        let key_words = (spec.key_size as usize).div_ceil(8);
        Ok(Hash {
            spec: spec.clone(),
            layout,
            lru: matches!(
                spec.map_type,
                super::MapType::LruHash | super::MapType::LruPercpuHash
            ),
            slab: Slab::with_meta(layout.slot_len(), KEY + key_words, spec.max_entries),
            heads: heads.into_boxed_slice(),
            locks: (0..n.min(MAX_LOCKS)).map(|_| Mutex::new(())).collect(),
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

    /// The key's hash (without the reference bit) and its bucket's index.
    #[inline]
    fn locate(&self, key: &[u8]) -> (u64, usize) {
        let hash = self.hasher.hash_one(key) & !REFERENCED;
        (hash, self.bucket_of(hash))
    }

    /// The bucket of a hash, from bits above the reference bit.
    fn bucket_of(&self, hash: u64) -> usize {
        (hash >> 1) as usize & (self.heads.len() - 1)
    }

    /// Bucket `b` (below the number of buckets).
    fn bucket(&self, b: usize) -> Bucket<'_> {
        Bucket {
            head: &self.heads[b],
            lock: &self.locks[b & (self.locks.len() - 1)],
        }
    }

    /// Longest walk of a chain: no chain holds more than every element.
    fn max_steps(&self) -> u64 {
        self.spec.max_entries as u64 + 1
    }

    /// Walks from `link` looking for `key` without any lock (see the module's docs).
    #[inline(always)]
    fn walk(&self, mut link: u64, b: usize, key: &[u8], hash: u64) -> Walk<'_> {
        for _ in 0..self.max_steps() {
            if link & 1 == 1 {
                return if link >> 1 == b as u64 {
                    Walk::Absent
                } else {
                    Walk::Strayed
                };
            }
            let id = (link >> 1) as SlotId;
            let Some(words) = self.slab.meta(id) else {
                return Walk::Strayed;
            };
            let elem = Elem(words);
            let version = elem.version().load(Acquire);
            if version & 1 == 1 && elem.hash_is(hash) && elem.key_is(key) {
                // The key read is the element's only if the version did not move meanwhile.
                fence(Acquire);
                if elem.version().load(Relaxed) == version {
                    return Walk::Found(Found { id, elem, version });
                }
                return Walk::Strayed;
            }
            link = elem.next().load(Acquire);
        }
        Walk::Strayed
    }

    /// The element holding `key`: lock-free first, then under the bucket's lock.
    #[inline(always)]
    fn find(&self, key: &[u8], hash: u64, b: usize) -> Option<Found<'_>> {
        let bucket = self.bucket(b);
        for _ in 0..RESTARTS {
            match self.walk(bucket.head.load(Acquire), b, key, hash) {
                Walk::Found(found) => return Some(found),
                Walk::Absent => return None,
                Walk::Strayed => continue,
            }
        }
        let _guard = bucket.lock();
        match self.walk(bucket.head.load(Acquire), b, key, hash) {
            Walk::Found(found) => Some(found),
            Walk::Absent | Walk::Strayed => None,
        }
    }

    /// Under `bucket`'s lock: the link pointing at the element holding `key`, and the
    /// element. The chain cannot change while the lock is held.
    #[inline(always)]
    fn find_locked<'a>(
        &'a self,
        bucket: Bucket<'a>,
        key: &[u8],
        hash: u64,
    ) -> Option<(&'a AtomicU64, SlotId, Elem<'a>)> {
        self.chain_locked(bucket)
            .find(|(_, _, e)| e.hash_is(hash) && e.key_is(key))
    }

    /// Under `bucket`'s lock: each element of its chain, with the link pointing at it.
    #[inline(always)]
    fn chain_locked<'a>(
        &'a self,
        bucket: Bucket<'a>,
    ) -> impl Iterator<Item = (&'a AtomicU64, SlotId, Elem<'a>)> + 'a {
        let mut prev = bucket.head;
        (0..self.max_steps()).map_while(move |_| {
            let link = prev.load(Relaxed);
            if link & 1 == 1 {
                return None;
            }
            let id = (link >> 1) as SlotId;
            let elem = Elem(self.slab.meta(id)?);
            let at = std::mem::replace(&mut prev, elem.next());
            Some((at, id, elem))
        })
    }

    /// Under the lock of its bucket: takes the element `id`, which `prev` points at, out
    /// of its chain and gives its slot back. Its link stays, for readers standing on it.
    fn unlink(&self, prev: &AtomicU64, id: SlotId, elem: Elem<'_>) {
        prev.store(elem.next().load(Relaxed), Release);
        elem.version().fetch_add(1, Release);
        self.slab.free(id);
    }

    /// Under `bucket`'s lock (bucket `b`): makes a fresh slot the element of `key`, with
    /// `value`, at the head of the chain.
    fn insert(
        &self,
        bucket: Bucket<'_>,
        id: SlotId,
        key: &[u8],
        hash: u64,
        value: &[u8],
        cpus: Cpus,
    ) -> Result<(), MapError> {
        let Some(words) = self.slab.meta(id) else {
            self.slab.free(id);
            return Err(MapError::NoMemory);
        };
        // SAFETY: a slot just allocated, in no chain: only stale readers may see it, and
        // they read its value through atomics only.
        if let Err(e) = unsafe { self.layout.write(self.slab.addr(id), value, cpus, true) } {
            self.slab.free(id);
            return Err(e);
        }
        let elem = Elem(words);
        let version = elem.version().load(Relaxed);
        // As a sequence lock's writer: the key stores below come after the version's
        // bump on removal, for any reader that sees one of them.
        fence(Release);
        elem.hash().store(hash, Relaxed);
        elem.set_key(key);
        elem.next().store(bucket.head.load(Relaxed), Relaxed);
        elem.version().store(version | 1, Release);
        bucket.head.store(link_to(id), Release);
        Ok(())
    }

    /// Removes `key`'s element, first calling `before` with its slot under the bucket's
    /// lock (an error from it keeps the element).
    fn remove(
        &self,
        key: &[u8],
        before: impl FnOnce(*mut u8) -> Result<(), MapError>,
    ) -> Result<(), MapError> {
        self.check_key(key)?;
        let (hash, b) = self.locate(key);
        let bucket = self.bucket(b);
        let _guard = bucket.lock();
        let (prev, id, elem) = self
            .find_locked(bucket, key, hash)
            .ok_or(MapError::NoEntry)?;
        before(self.slab.addr(id))?;
        self.unlink(prev, id, elem);
        Ok(())
    }

    /// Evicts one element (LRU maps), sweeping the slots from where the last sweep
    /// stopped. Two rounds suffice: the first clears every reference bit it passes.
    fn evict(&self) {
        let slots = self.spec.max_entries as usize;
        for _ in 0..2 * slots {
            let id = (self.hand.fetch_add(1, Relaxed) % slots) as SlotId;
            let Some(words) = self.slab.meta(id) else {
                continue;
            };
            let elem = Elem(words);
            let version = elem.version().load(Acquire);
            if version & 1 == 0 {
                continue;
            }
            let hash = elem.hash().load(Relaxed);
            if hash & REFERENCED != 0 {
                elem.hash().fetch_and(!REFERENCED, Relaxed);
                continue;
            }
            let bucket = self.bucket(self.bucket_of(hash));
            let _guard = bucket.lock();
            // Still the element seen above (not removed and reused meanwhile), so in this
            // bucket's chain; the fence orders the hash read before the version's second
            // read, as in `walk`.
            fence(Acquire);
            if elem.version().load(Relaxed) != version {
                continue;
            }
            if let Some((prev, _, _)) = self.chain_locked(bucket).find(|(_, i, _)| *i == id) {
                self.unlink(prev, id, elem);
                return;
            }
        }
    }

    /// The value of a found element as a program sees it.
    fn value_ptr(&self, id: SlotId, cpu: usize) -> ValuePtr {
        let (addr, region) = self.slab.value(id);
        ValuePtr {
            addr: self.layout.cpu_addr(addr, cpu) as u64,
            region: Region {
                writable: self.spec.program_writable(),
                ..region
            },
        }
    }
}

impl Map for Hash {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// Copies the value without a lock; when the element was removed during the copy
    /// (its version moved), looks again, in the end under the bucket's lock.
    fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        self.check_key(key)?;
        let (hash, b) = self.locate(key);
        for _ in 0..RESTARTS {
            let found = self.find(key, hash, b).ok_or(MapError::NoEntry)?;
            // SAFETY: a slot's value is live map memory for as long as the map exists;
            // it is only ever accessed through atomics.
            unsafe { self.layout.read(self.slab.addr(found.id), out)? };
            fence(Acquire);
            if found.elem.version().load(Relaxed) == found.version {
                return Ok(());
            }
        }
        let bucket = self.bucket(b);
        let _guard = bucket.lock();
        let (_, id, _) = self
            .find_locked(bucket, key, hash)
            .ok_or(MapError::NoEntry)?;
        // SAFETY: as above; the lock keeps the element in the map while we copy.
        unsafe { self.layout.read(self.slab.addr(id), out) }
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
        let (hash, b) = self.locate(key);
        let bucket = self.bucket(b);
        loop {
            let guard = bucket.lock();
            if let Some((_, id, _)) = self.find_locked(bucket, key, hash) {
                if flags == BPF_NOEXIST {
                    return Err(MapError::Exists);
                }
                // SAFETY: a live element's slot, kept in the map by our lock.
                return unsafe { self.layout.write(self.slab.addr(id), value, cpus, false) };
            }
            if flags == BPF_EXIST {
                return Err(MapError::NoEntry);
            }
            let Some(id) = self.slab.alloc()? else {
                if !self.lru {
                    return Err(MapError::TooBig);
                }
                // Evicting may need this bucket's lock: release it, then retry.
                drop(guard);
                self.evict();
                continue;
            };
            return self.insert(bucket, id, key, hash, value, cpus);
        }
    }

    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.remove(key, |_| Ok(()))
    }

    fn lookup_and_delete(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        // SAFETY: the slot of the element being removed, live map memory.
        self.remove(key, |slot| unsafe { self.layout.read(slot, out) })
    }

    /// As `htab_map_get_next_key`: the element after `key` in its chain, else the first
    /// element of the following buckets; a key not in the map restarts from the first.
    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), MapError> {
        if next.len() != self.spec.key_size as usize {
            return Err(MapError::Invalid);
        }
        let mut start = 0;
        if let Some(key) = key {
            self.check_key(key)?;
            let (hash, b) = self.locate(key);
            let bucket = self.bucket(b);
            let _guard = bucket.lock();
            if let Some((_, _, elem)) = self.find_locked(bucket, key, hash) {
                let link = elem.next().load(Relaxed);
                if let Some(words) = (link & 1 == 0)
                    .then(|| self.slab.meta((link >> 1) as SlotId))
                    .flatten()
                {
                    Elem(words).copy_key(next);
                    return Ok(());
                }
                start = b + 1;
            }
        }
        for b in start..self.heads.len() {
            let bucket = self.bucket(b);
            // Empty buckets are skipped without taking their lock.
            if bucket.head.load(Acquire) & 1 == 1 {
                continue;
            }
            let _guard = bucket.lock();
            if let Some((_, _, elem)) = self.chain_locked(bucket).next() {
                elem.copy_key(next);
                return Ok(());
            }
        }
        Err(MapError::NoEntry)
    }

    /// One pass over the buckets, each under its lock (get-next-key from user space would
    /// search a chain for every key).
    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for b in 0..self.heads.len() {
            let bucket = self.bucket(b);
            if bucket.head.load(Acquire) & 1 == 1 {
                continue;
            }
            let _guard = bucket.lock();
            for (_, id, elem) in self.chain_locked(bucket) {
                let mut key = vec![0u8; self.spec.key_size as usize];
                elem.copy_key(&mut key);
                let mut value = vec![0u8; self.spec.user_value_size()];
                // SAFETY: a live element's slot, kept in the map by the lock.
                if unsafe { self.layout.read(self.slab.addr(id), &mut value) }.is_ok() {
                    out.push((key, value));
                }
            }
        }
        out
    }

    fn lookup_ptr(&self, key: &[u8], cpu: usize) -> Option<ValuePtr> {
        if key.len() != self.spec.key_size as usize {
            return None;
        }
        let (hash, b) = self.locate(key);
        let found = self.find(key, hash, b)?;
        // Reading first keeps a hot element's cache line shared between threads.
        // An atomic or, not a store: the word's hash may be changing under a reuse.
        if self.lru && found.elem.hash().load(Relaxed) & REFERENCED == 0 {
            found.elem.hash().fetch_or(REFERENCED, Relaxed);
        }
        Some(self.value_ptr(found.id, cpu))
    }
}
