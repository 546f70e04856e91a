//! The maps `bpf_redirect_map` sends packets through, whose values name the targets:
//! `BPF_MAP_TYPE_DEVMAP` and `BPF_MAP_TYPE_DEVMAP_HASH` (devices: an ifindex, or
//! `struct bpf_devmap_val`), `BPF_MAP_TYPE_CPUMAP` (CPUs: a queue size, or
//! `struct bpf_cpumap_val`) and `BPF_MAP_TYPE_XSKMAP` (AF_XDP sockets). bpfkit sends no
//! packet anywhere: a redirect records the map and key, and these maps hold the targets
//! user space stored, checked as the kernel checks them (kernel/bpf/devmap.c, cpumap.c,
//! net/xdp/xskmap.c).
//!
//! bpfkit has no network devices, CPUs or sockets to resolve targets against: any
//! non-zero ifindex is taken as a device, any key of a CPU map as a CPU, and an XSK map's
//! value is kept as the number user space wrote, standing for its socket. Programs
//! attached to entries (the `bpf_prog.fd` of the extended values) are not available.

use super::error::MapError;
use super::spec::{MapSpec, MapType};
use super::{Cpus, Map, ValuePtr, BPF_EXIST, BPF_NOEXIST};
use crate::memory::Region;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Largest queue of a CPU map entry (`cpu_map_update_elem`); more is `-EOVERFLOW`.
const CPUMAP_QSIZE_MAX: u32 = 16384;

/// Which elements exist, and where their values live.
#[derive(Debug)]
enum Index {
    /// Keys are slot numbers below `max_entries`; absent slots are `false`.
    Array(Vec<bool>),
    /// Keys map to slots; free slots are reused. The keys are also kept in the kernel's
    /// buckets (the key modulo a power of two at least `max_entries`, the newest first),
    /// which is the order the kernel iterates them in.
    Hash {
        slots: BTreeMap<u32, usize>,
        free: Vec<usize>,
        buckets: Vec<Vec<u32>>,
    },
}

/// A device, CPU or socket map: one 8-byte slot per element (values are at most 8 bytes),
/// read-only for programs (the kernel creates these maps `BPF_F_RDONLY_PROG`).
#[derive(Debug)]
pub(super) struct TargetMap {
    spec: MapSpec,
    values: Box<[AtomicU64]>,
    index: Mutex<Index>,
}

impl TargetMap {
    /// Checks the attributes as the kernel's `*_map_alloc`: 4-byte keys, the value sizes
    /// of the type.
    pub fn new(spec: &MapSpec) -> Result<TargetMap, MapError> {
        let sizes: &[u32] = match spec.map_type {
            MapType::XskMap => &[4],
            _ => &[4, 8],
        };
        if spec.key_size != 4 || !sizes.contains(&spec.value_size) {
            return Err(MapError::Invalid);
        }
        let n = spec.max_entries as usize;
        let index = if spec.map_type == MapType::DevMapHash {
            Index::Hash {
                slots: BTreeMap::new(),
                free: (0..n).rev().collect(),
                buckets: vec![Vec::new(); n.next_power_of_two()],
            }
        } else {
            Index::Array(vec![false; n])
        };
        Ok(TargetMap {
            spec: spec.clone(),
            values: (0..n).map(|_| AtomicU64::new(0)).collect(),
            index: Mutex::new(index),
        })
    }

    fn key(key: &[u8]) -> Result<u32, MapError> {
        Ok(u32::from_ne_bytes(
            key.try_into().map_err(|_| MapError::Invalid)?,
        ))
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The slot holding `key`'s value, if the element exists.
    fn slot(&self, index: &Index, key: u32) -> Option<usize> {
        match index {
            Index::Array(present) => present
                .get(key as usize)
                .copied()
                .unwrap_or(false)
                .then_some(key as usize),
            Index::Hash { slots, .. } => slots.get(&key).copied(),
        }
    }

    /// Whether `value` names a target (`Some(true)`), clears the element (`Some(false)`:
    /// a device map's ifindex 0, a CPU map's queue size 0), or is refused.
    fn check_value(&self, value: &[u8]) -> Result<bool, MapError> {
        let word = |i: usize| u32::from_ne_bytes(value[i..i + 4].try_into().unwrap());
        let prog_fd = if value.len() == 8 { word(4) as i32 } else { 0 };
        match self.spec.map_type {
            MapType::DevMap | MapType::DevMapHash => {
                // An ifindex of 0 stores no device in a device map; no device at all is
                // `-EINVAL` in a hashed one, and so is a program bpfkit cannot attach.
                if prog_fd > 0 || (word(0) == 0 && self.spec.map_type == MapType::DevMapHash) {
                    return Err(MapError::Invalid);
                }
                Ok(word(0) != 0)
            }
            MapType::CpuMap => {
                if word(0) > CPUMAP_QSIZE_MAX {
                    return Err(MapError::Overflow);
                }
                // The kernel fails to allocate the entry when its program cannot be had.
                if word(0) != 0 && prog_fd > 0 {
                    return Err(MapError::NoMemory);
                }
                Ok(word(0) != 0)
            }
            _ => Ok(true),
        }
    }
}

impl Map for TargetMap {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// The stored target; an XSK map's elements cannot be read from user space
    /// (`-EOPNOTSUPP`).
    fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        let key = Self::key(key)?;
        if self.spec.map_type == MapType::XskMap {
            return Err(MapError::OpNotSupported);
        }
        let slot = self.slot(&self.index(), key).ok_or(MapError::NoEntry)?;
        let bytes = self.values[slot].load(Relaxed).to_ne_bytes();
        out.copy_from_slice(&bytes[..out.len()]);
        Ok(())
    }

    /// As the kernel: flags, then for the array-indexed types the key's range, the
    /// existence flags and the value; for the hashed device map the value, then
    /// `BPF_NOEXIST` and the room left.
    fn update_cpus(&self, key: &[u8], value: &[u8], flags: u64, _: Cpus) -> Result<(), MapError> {
        let key = Self::key(key)?;
        if flags > BPF_EXIST {
            return Err(MapError::Invalid);
        }
        let mut index = self.index();
        let exists = self.slot(&index, key).is_some();
        match &*index {
            Index::Array(present) => {
                if key as usize >= present.len() {
                    return Err(MapError::TooBig);
                }
                // Device and CPU maps refuse BPF_NOEXIST outright (every slot "exists");
                // the socket map checks the element.
                let refuses_noexist = self.spec.map_type != MapType::XskMap || exists;
                if flags == BPF_NOEXIST && refuses_noexist {
                    return Err(MapError::Exists);
                }
                if flags == BPF_EXIST && !exists && self.spec.map_type == MapType::XskMap {
                    return Err(MapError::NoEntry);
                }
            }
            Index::Hash { slots, .. } => {
                // The value first (no device is -EINVAL), then BPF_NOEXIST; BPF_EXIST
                // does not require the key; a new key needs room.
                self.check_value(value)?;
                if flags == BPF_NOEXIST && exists {
                    return Err(MapError::Exists);
                }
                if !exists && slots.len() >= self.spec.max_entries as usize {
                    return Err(MapError::TooBig);
                }
            }
        }
        let present = self.check_value(value)?;
        // The first 4 bytes: the ifindex, queue size or socket. Extended values keep the
        // id of the attached program after them, which is 0 without one.
        let word = u64::from(u32::from_ne_bytes(value[..4].try_into().unwrap()));
        match &mut *index {
            Index::Array(p) => {
                p[key as usize] = present;
                self.values[key as usize].store(word, Relaxed);
            }
            Index::Hash {
                slots,
                free,
                buckets,
            } => {
                let slot = match slots.get(&key) {
                    Some(&slot) => slot,
                    // Not full: checked above, so a slot is free.
                    None => free.pop().ok_or(MapError::TooBig)?,
                };
                slots.insert(key, slot);
                // A replaced element moves to the head of its bucket, as a new one.
                let n = buckets.len();
                let bucket = &mut buckets[key as usize & (n - 1)];
                bucket.retain(|k| *k != key);
                bucket.insert(0, key);
                self.values[slot].store(word, Relaxed);
            }
        }
        Ok(())
    }

    /// Array-indexed maps: out of range is `-EINVAL`, an absent element is no error;
    /// the hashed device map: `-ENOENT` for an absent key.
    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let key = Self::key(key)?;
        match &mut *self.index() {
            Index::Array(present) => {
                let p = present.get_mut(key as usize).ok_or(MapError::Invalid)?;
                *p = false;
            }
            Index::Hash {
                slots,
                free,
                buckets,
            } => {
                free.push(slots.remove(&key).ok_or(MapError::NoEntry)?);
                let n = buckets.len();
                buckets[key as usize & (n - 1)].retain(|k| *k != key);
            }
        }
        Ok(())
    }

    /// Array-indexed maps iterate every index, present or not, as the kernel does; the
    /// hashed map its buckets in order, starting over after an absent key.
    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), MapError> {
        let key = key.map(Self::key).transpose()?;
        let following = match &*self.index() {
            Index::Array(present) => match key {
                Some(k) if (k as usize) < present.len() => {
                    if k as usize + 1 == present.len() {
                        return Err(MapError::NoEntry);
                    }
                    k + 1
                }
                _ => 0,
            },
            Index::Hash { slots, buckets, .. } => {
                // As `dev_map_hash_get_next_key`: the next key of the bucket, else the
                // first of the following buckets; from the first bucket after no key or an
                // absent one.
                let n = buckets.len();
                let in_bucket = key.filter(|k| slots.contains_key(k)).map(|k| {
                    let bucket = &buckets[k as usize & (n - 1)];
                    let at = bucket.iter().position(|x| *x == k).unwrap_or(0);
                    (bucket.get(at + 1).copied(), (k as usize & (n - 1)) + 1)
                });
                match in_bucket {
                    Some((Some(next_key), _)) => next_key,
                    other => {
                        let from = other.map_or(0, |(_, from)| from);
                        *buckets[from..]
                            .iter()
                            .find_map(|b| b.first())
                            .ok_or(MapError::NoEntry)?
                    }
                }
            }
        };
        next.copy_from_slice(&following.to_ne_bytes());
        Ok(())
    }

    /// Where a program reads the target (device maps allow `bpf_map_lookup_elem`);
    /// also what `bpf_redirect_map` checks.
    fn lookup_ptr(&self, key: &[u8], _cpu: usize) -> Option<ValuePtr> {
        let key = Self::key(key).ok()?;
        let slot = self.slot(&self.index(), key)?;
        let base = self.values.as_ptr() as u64;
        Some(ValuePtr {
            addr: base + 8 * slot as u64,
            region: Region {
                start: base,
                len: 8 * self.values.len() as u64,
                writable: false,
            },
        })
    }
}
