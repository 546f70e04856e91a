//! `BPF_MAP_TYPE_ARRAY` and `BPF_MAP_TYPE_PERCPU_ARRAY`: `max_entries` values indexed by
//! a `u32` key, all preallocated and zeroed, in one block of map memory. Lookups take no
//! lock at all.

use super::error::MapError;
use super::layout::Layout;
use super::spec::MapSpec;
use super::{check_update_flags, shared, Cpus, Map, ValuePtr, BPF_NOEXIST};
use crate::memory::Region;
use std::sync::atomic::AtomicU64;

/// Largest value Linux allocates (`KMALLOC_MAX_SIZE` on x86-64); larger is `-E2BIG`.
pub(super) const VALUE_SIZE_MAX: u32 = 1 << 22;
/// Largest per-CPU value (`PCPU_MIN_UNIT_SIZE`).
const PERCPU_VALUE_SIZE_MAX: u32 = 32 << 10;

#[derive(Debug)]
pub(super) struct Array {
    spec: MapSpec,
    layout: Layout,
    data: Box<[AtomicU64]>,
}

impl Array {
    /// Checks as `array_map_alloc_check`: 4-byte keys, a non-empty value.
    pub fn new(spec: &MapSpec) -> Result<Array, MapError> {
        if spec.key_size != 4 || spec.value_size == 0 {
            return Err(MapError::Invalid);
        }
        let limit = if spec.map_type.is_percpu() {
            PERCPU_VALUE_SIZE_MAX
        } else {
            VALUE_SIZE_MAX
        };
        if spec.value_size > limit {
            return Err(MapError::TooBig);
        }
        let layout = Layout::new(spec);
        let len = (spec.max_entries as usize)
            .checked_mul(layout.slot_len())
            .ok_or(MapError::NoMemory)?;
        Ok(Array {
            spec: spec.clone(),
            layout,
            data: shared::alloc(len)?,
        })
    }

    /// The index a key names, if the key has the map's key size.
    fn index(&self, key: &[u8]) -> Result<u32, MapError> {
        let key: [u8; 4] = key.try_into().map_err(|_| MapError::Invalid)?;
        Ok(u32::from_ne_bytes(key))
    }

    /// Address of element `index`'s slot; `index` is in range.
    fn slot(&self, index: u32) -> *mut u8 {
        shared::base(&self.data).wrapping_add(index as usize * self.layout.slot_len())
    }
}

impl Map for Array {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        let index = self.index(key)?;
        if index >= self.spec.max_entries {
            return Err(MapError::NoEntry);
        }
        // SAFETY: the slot of an in-range index lies inside `data`.
        unsafe { self.layout.read(self.slot(index), out) }
    }

    /// As `array_map_update_elem`: flags first (`-EINVAL`), then the index (`-E2BIG`),
    /// then `BPF_NOEXIST`, which always fails since every element exists (`-EEXIST`).
    fn update_cpus(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpus: Cpus,
    ) -> Result<(), MapError> {
        check_update_flags(flags)?;
        let index = self.index(key)?;
        if index >= self.spec.max_entries {
            return Err(MapError::TooBig);
        }
        if flags == BPF_NOEXIST {
            return Err(MapError::Exists);
        }
        // SAFETY: as in `lookup`.
        unsafe { self.layout.write(self.slot(index), value, cpus, false) }
    }

    /// Array elements cannot be deleted: `-EINVAL`.
    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.index(key)?;
        Err(MapError::Invalid)
    }

    /// As `array_map_get_next_key`: index 0 after no key or an out-of-range one.
    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), MapError> {
        let next: &mut [u8; 4] = next.try_into().map_err(|_| MapError::Invalid)?;
        let following = match key {
            None => 0,
            Some(key) => match self.index(key)? {
                i if i >= self.spec.max_entries => 0,
                i if i == self.spec.max_entries - 1 => return Err(MapError::NoEntry),
                i => i + 1,
            },
        };
        *next = following.to_ne_bytes();
        Ok(())
    }

    fn lookup_ptr(&self, key: &[u8], cpu: usize) -> Option<ValuePtr> {
        let index = self.index(key).ok()?;
        if index >= self.spec.max_entries {
            return None;
        }
        Some(ValuePtr {
            addr: self.layout.cpu_addr(self.slot(index), cpu) as u64,
            region: Region {
                start: shared::base(&self.data) as u64,
                len: self.data.len() as u64 * 8,
                writable: self.spec.program_writable(),
            },
        })
    }
}
