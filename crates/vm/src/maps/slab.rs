//! Stable slots for the values of keyed maps: allocated in blocks that are never moved or
//! freed while the map exists, so a pointer a program got from a lookup always points
//! into live map memory. A deleted element's slot goes to a free list and is reused by a
//! later insertion, as the kernel reuses a preallocated hash map's elements.
//!
//! Blocks grow geometrically (16, 32, 64, ... slots, the last one cut to the capacity),
//! so a map costs memory in proportion to what it holds, and there are few blocks: each
//! is one [`Region`] that a lookup adds to a run's memory.

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

/// At most `capacity` slots of `slot_len` bytes.
#[derive(Debug)]
pub(super) struct Slab {
    slot_len: usize,
    capacity: u64,
    blocks: [OnceLock<Box<[AtomicU64]>>; MAX_BLOCKS],
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
        Slab {
            slot_len,
            capacity: capacity as u64,
            blocks: std::array::from_fn(|_| OnceLock::new()),
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
            let len = self.block_slots(block) as usize * self.slot_len;
            // Set under the lock, so only one thread allocates the block.
            let _ = self.blocks[block].set(shared::alloc(len)?);
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

    /// The region of map memory holding slot `id`: its whole block.
    pub fn region(&self, id: SlotId) -> Region {
        let (block, _) = locate(id);
        let b = self.block(block);
        Region {
            start: shared::base(b) as u64,
            len: self.block_slots(block) * self.slot_len as u64,
            writable: true,
        }
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
