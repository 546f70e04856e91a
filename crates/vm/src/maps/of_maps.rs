//! Maps whose values name other maps or programs by file descriptor:
//! `BPF_MAP_TYPE_ARRAY_OF_MAPS`, `BPF_MAP_TYPE_HASH_OF_MAPS` and `BPF_MAP_TYPE_PROG_ARRAY`.
//!
//! User space stores a descriptor as a `u32` value. A program's lookup in a map of maps
//! yields the inner map, which the map helpers resolve through the program's
//! [`MapTable`](super::MapTable): the descriptor must be one of the table's, as in Linux
//! it must be a map of the process (a descriptor that names no map of the table looks up
//! as NULL). A program array holds the descriptors `bpf_tail_call` jumps through.
//!
//! Differences from Linux, which checks inner maps against a template (`inner_map_fd`) and
//! answers a user-space lookup with the inner map's or program's id: bpfkit has no
//! template (any map of the table may be stored) and returns the stored descriptor.

use super::error::MapError;
use super::hash::Hash;
use super::spec::{MapSpec, MapType};
use super::{Cpus, Map, ValuePtr, BPF_ANY};
use std::sync::atomic::{AtomicU32, Ordering};

fn fd_value(value: &[u8]) -> Result<u32, MapError> {
    let v: [u8; 4] = value.get(..4).ok_or(MapError::Invalid)?.try_into().unwrap();
    Ok(u32::from_ne_bytes(v))
}

/// An array of descriptors (Linux's `fd_array`): `ARRAY_OF_MAPS` and `PROG_ARRAY`.
#[derive(Debug)]
pub(super) struct FdArray {
    spec: MapSpec,
    /// The descriptor plus one; 0 where the slot is empty.
    slots: Box<[AtomicU32]>,
}

impl FdArray {
    /// Checks as `fd_array_map_alloc_check`: `u32` keys and values.
    pub fn new(spec: &MapSpec) -> Result<FdArray, MapError> {
        if spec.key_size != 4 || spec.value_size != 4 {
            return Err(MapError::Invalid);
        }
        Ok(FdArray {
            spec: spec.clone(),
            slots: (0..spec.max_entries).map(|_| AtomicU32::new(0)).collect(),
        })
    }

    fn slot(&self, key: &[u8]) -> Result<Option<&AtomicU32>, MapError> {
        let key: [u8; 4] = key.try_into().map_err(|_| MapError::Invalid)?;
        Ok(self.slots.get(u32::from_ne_bytes(key) as usize))
    }
}

impl Map for FdArray {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        let fd = self.inner_fd(key).ok_or(MapError::NoEntry)?;
        out.get_mut(..4)
            .ok_or(MapError::Invalid)?
            .copy_from_slice(&fd.to_ne_bytes());
        Ok(())
    }

    /// As `bpf_fd_array_map_update_elem`: only `BPF_ANY` (`-EINVAL`), an index in range
    /// (`-E2BIG`).
    fn update_cpus(&self, key: &[u8], value: &[u8], flags: u64, _: Cpus) -> Result<(), MapError> {
        if flags != BPF_ANY {
            return Err(MapError::Invalid);
        }
        let slot = self.slot(key)?.ok_or(MapError::TooBig)?;
        let fd = fd_value(value)?;
        slot.store(
            fd.checked_add(1).ok_or(MapError::Invalid)?,
            Ordering::Release,
        );
        Ok(())
    }

    /// As `fd_array_map_delete_elem`: `-E2BIG` out of range, `-ENOENT` if empty.
    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let slot = self.slot(key)?.ok_or(MapError::TooBig)?;
        match slot.swap(0, Ordering::AcqRel) {
            0 => Err(MapError::NoEntry),
            _ => Ok(()),
        }
    }

    /// As for arrays: every index, empty or not.
    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), MapError> {
        let next: &mut [u8; 4] = next.try_into().map_err(|_| MapError::Invalid)?;
        let max = self.spec.max_entries;
        let following = match key {
            None => 0,
            Some(k) => match u32::from_ne_bytes(k.try_into().map_err(|_| MapError::Invalid)?) {
                i if i >= max => 0,
                i if i == max - 1 => return Err(MapError::NoEntry),
                i => i + 1,
            },
        };
        *next = following.to_ne_bytes();
        Ok(())
    }

    fn lookup_ptr(&self, _key: &[u8], _cpu: usize) -> Option<ValuePtr> {
        None
    }

    /// Only the occupied slots.
    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..self.spec.max_entries)
            .filter_map(|i| {
                let fd = self.inner_fd(&i.to_ne_bytes())?;
                Some((i.to_ne_bytes().to_vec(), fd.to_ne_bytes().to_vec()))
            })
            .collect()
    }

    fn inner_fd(&self, key: &[u8]) -> Option<u32> {
        let stored = self.slot(key).ok()??.load(Ordering::Acquire);
        stored.checked_sub(1)
    }
}

/// `HASH_OF_MAPS`: a hash map of descriptors, with the hash map's flags and errors.
#[derive(Debug)]
pub(super) struct HashOfMaps {
    spec: MapSpec,
    fds: Hash,
}

impl HashOfMaps {
    /// Checks as the hash map does, with `u32` values.
    pub fn new(spec: &MapSpec) -> Result<HashOfMaps, MapError> {
        if spec.value_size != 4 {
            return Err(MapError::Invalid);
        }
        let mut inner = spec.clone();
        inner.map_type = MapType::Hash;
        Ok(HashOfMaps {
            spec: spec.clone(),
            fds: Hash::new(&inner)?,
        })
    }
}

impl Map for HashOfMaps {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        self.fds.lookup(key, out)
    }

    fn update_cpus(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpus: Cpus,
    ) -> Result<(), MapError> {
        self.fds.update_cpus(key, value, flags, cpus)
    }

    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.fds.delete(key)
    }

    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), MapError> {
        self.fds.next_key(key, next)
    }

    fn lookup_ptr(&self, _key: &[u8], _cpu: usize) -> Option<ValuePtr> {
        None
    }

    fn inner_fd(&self, key: &[u8]) -> Option<u32> {
        let mut fd = [0u8; 4];
        self.fds.lookup(key, &mut fd).ok()?;
        Some(u32::from_ne_bytes(fd))
    }
}
