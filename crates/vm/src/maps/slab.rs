//! Stable slots for the values of keyed maps: allocated in blocks that are never moved or
//! freed while the map exists, so a pointer a program got from a lookup always points
//! into live map memory. A deleted element's slot goes to a free list and is reused by a
//! later insertion, as the kernel reuses a preallocated hash map's elements.
//!
//! Blocks grow geometrically (16, 32, 64, ... slots, the last one cut to the capacity),
//! so a map costs memory in proportion to what it holds, and there are few blocks: each
//! is one [`Region`] that a lookup adds to a run's memory.
//!
//! A map may also keep a few words of its own per slot (a hash map's key, link and
//! version), in blocks of their own beside the value blocks: programs are given regions of
//! value memory only, so nothing they write can reach these words.

use super::error::MapError;
use super::shared;
use crate::memory::Region;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock};

/// Slots in the first block; block `k` has `FIRST << k`.
const FIRST: u64 = 16;
/// Enough blocks for 2^32 slots of `FIRST << k`.
const MAX_BLOCKS: usize = 29;

/// A slot's index; its address never changes.
pub(super) type SlotId = u32;

#[derive(Debug, Default)]
struct FreeList {
    /// Slots never handed out start here.
    next: u64,
    free: Vec<SlotId>,
}

/// At most `capacity` slots of `slot_len` bytes, each with `meta_words` words of the map's
/// own.
#[derive(Debug)]
pub(super) struct Slab {
    slot_len: usize,
    meta_words: usize,
    capacity: u64,
    blocks: [OnceLock<Box<[AtomicU64]>>; MAX_BLOCKS],
    /// Set after the value block of the same index, so a slot whose words are visible has
    /// its value block too.
    meta: [OnceLock<Box<[AtomicU64]>>; MAX_BLOCKS],
    /// Only allocation and freeing take this lock; finding a slot's address does not.
    state: Mutex<FreeList>,
}

/// Block of slot `id` and the slot's index inside it.
fn locate(id: SlotId) -> (usize, u64) {
    let n = id as u64 / FIRST + 1;
    let block = 63 - n.leading_zeros() as usize;
    (block, id as u64 - FIRST * ((1 << block) - 1))
}

/// Index of the first slot of `block`.
fn block_start(block: usize) -> u64 {
    FIRST * ((1 << block) - 1)
}

impl Slab {
    pub fn new(slot_len: usize, capacity: u32) -> Slab {
        Slab::with_meta(slot_len, 0, capacity)
    }

    /// A slab whose slots also have `meta_words` zeroed words each, outside value memory.
    pub fn with_meta(slot_len: usize, meta_words: usize, capacity: u32) -> Slab {
        Slab {
            slot_len,
            meta_words,
            capacity: capacity as u64,
            blocks: std::array::from_fn(|_| OnceLock::new()),
            meta: std::array::from_fn(|_| OnceLock::new()),
            state: Mutex::new(FreeList::default()),
        }
    }

    fn block_slots(&self, block: usize) -> u64 {
        (FIRST << block).min(self.capacity - block_start(block))
    }

    /// A free slot, or `None` when all `capacity` are in use (the map is full). Its
    /// contents are whatever its last user left: the caller writes the whole value.
    pub fn alloc(&self) -> Result<Option<SlotId>, MapError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = state.free.pop() {
            return Ok(Some(id));
        }
        if state.next == self.capacity {
            return Ok(None);
        }
        let id = state.next as SlotId;
        let (block, _) = locate(id);
        if self.blocks[block].get().is_none() {
            let slots = self.block_slots(block) as usize;
            let values = shared::alloc(slots * self.slot_len)?;
            let meta = shared::alloc(slots * self.meta_words * 8)?;
            // Set under the lock, so only one thread allocates the block.
            let _ = self.blocks[block].set(values);
            let _ = self.meta[block].set(meta);
        }
        state.next += 1;
        Ok(Some(id))
    }

    /// Gives slot `id` back. A program may still hold its address: the slot stays live
    /// map memory and is reused by a later insertion.
    pub fn free(&self, id: SlotId) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.free.push(id);
    }

    fn block(&self, block: usize) -> &[AtomicU64] {
        // Slot ids come only from `alloc`, which created the block first.
        self.blocks[block]
            .get()
            .expect("slot of an allocated block")
    }

    /// Address of slot `id`'s first byte (8-byte aligned).
    pub fn addr(&self, id: SlotId) -> *mut u8 {
        let (block, index) = locate(id);
        shared::base(self.block(block)).wrapping_add(index as usize * self.slot_len)
    }

    /// The words of slot `id` beside its value, if `id` is a slot of an allocated block:
    /// checked, so that an index read from memory other threads change can never be used
    /// out of bounds.
    #[inline(always)]
    pub fn meta(&self, id: SlotId) -> Option<&[AtomicU64]> {
        let (block, index) = locate(id);
        let words = self.meta.get(block)?.get()?;
        let at = index as usize * self.meta_words;
        words.get(at..at + self.meta_words)
    }

    /// The region of map memory holding slot `id`: its whole block.
    pub fn region(&self, id: SlotId) -> Region {
        self.value(id).1
    }

    /// Slot `id`'s address and its region, found at once.
    #[inline]
    pub fn value(&self, id: SlotId) -> (*mut u8, Region) {
        let (block, index) = locate(id);
        let start = shared::base(self.block(block));
        let region = Region {
            start: start as u64,
            len: self.block_slots(block) * self.slot_len as u64,
            writable: true,
        };
        (start.wrapping_add(index as usize * self.slot_len), region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_map_to_geometric_blocks() {
        // Blocks hold 16, 32, 64 slots: ids 0..16, 16..48, 48..112.
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(15), (0, 15));
        assert_eq!(locate(16), (1, 0));
        assert_eq!(locate(47), (1, 31));
        assert_eq!(locate(48), (2, 0));
        assert_eq!(locate(u32::MAX).0, 28);
    }

    #[test]
    fn capacity_is_enforced_and_freed_slots_are_reused() {
        let slab = Slab::new(8, 20);
        let ids: Vec<_> = (0..20).map(|_| slab.alloc().unwrap().unwrap()).collect();
        assert_eq!(slab.alloc().unwrap(), None);
        // The second block is cut to the 4 slots left of the capacity.
        assert_eq!(slab.region(ids[19]).len, 4 * 8);
        let addr = slab.addr(ids[3]);
        slab.free(ids[3]);
        let again = slab.alloc().unwrap().unwrap();
        assert_eq!(slab.addr(again), addr);
        assert_eq!(slab.alloc().unwrap(), None);
    }
}
