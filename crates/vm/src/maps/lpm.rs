//! `BPF_MAP_TYPE_LPM_TRIE`: longest-prefix match. Keys are `struct bpf_lpm_trie_key`: a
//! host-endian `u32` prefix length in bits, then `key_size - 4` bytes of data (4 for
//! IPv4, 16 for IPv6) matched from the most significant bit of the first byte.
//!
//! Elements are kept in one ordered table under a reader-writer lock (Linux serialises
//! updates with one lock too), keyed by the data masked to the prefix length and the
//! prefix length; a lookup tries the prefix lengths present in the map from the longest
//! down, which is at most `8 * data size + 1` probes. Iteration is in the order of that
//! table (by masked data, longer prefixes first), not the kernel's trie order.

use super::error::MapError;
use super::layout::Layout;
use super::slab::{Slab, SlotId};
use super::spec::MapSpec;
use super::{Cpus, Map, ValuePtr, BPF_EXIST, BPF_F_NO_PREALLOC, BPF_NOEXIST};
use std::collections::BTreeMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Size of the prefix length in front of the data.
const PREFIXLEN: usize = 4;
/// Most data bytes (`LPM_DATA_SIZE_MAX`).
const DATA_SIZE_MAX: u32 = 256;
/// Largest value (`LPM_VAL_SIZE_MAX` is `KMALLOC_MAX_SIZE` less the node's own size).
const VALUE_SIZE_MAX: u32 = super::array::VALUE_SIZE_MAX - DATA_SIZE_MAX - 64;

#[derive(Debug)]
struct Element {
    slot: SlotId,
    /// The key as last written, unmasked bits included: get-next-key returns it as Linux
    /// does.
    key: Box<[u8]>,
}

#[derive(Debug, Default)]
struct Trie {
    /// By [`LpmTrie::index_key`].
    elements: BTreeMap<Box<[u8]>, Element>,
    /// Number of elements of each prefix length.
    per_len: Vec<u32>,
}

#[derive(Debug)]
pub(super) struct LpmTrie {
    spec: MapSpec,
    layout: Layout,
    data_size: usize,
    slab: Slab,
    trie: RwLock<Trie>,
}

impl LpmTrie {
    /// Checks as `trie_alloc`: `BPF_F_NO_PREALLOC` is required, 1 to 256 data bytes, a
    /// non-empty value.
    pub fn new(spec: &MapSpec) -> Result<LpmTrie, MapError> {
        let data = spec.key_size.wrapping_sub(PREFIXLEN as u32);
        if spec.flags & BPF_F_NO_PREALLOC == 0
            || spec.key_size <= PREFIXLEN as u32
            || data > DATA_SIZE_MAX
            || spec.value_size == 0
            || spec.value_size > VALUE_SIZE_MAX
        {
            return Err(MapError::Invalid);
        }
        let layout = Layout::new(spec);
        Ok(LpmTrie {
            spec: spec.clone(),
            layout,
            data_size: data as usize,
            slab: Slab::new(layout.slot_len(), spec.max_entries),
            trie: RwLock::new(Trie {
                elements: BTreeMap::new(),
                per_len: vec![0; data as usize * 8 + 1],
            }),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Trie> {
        self.trie.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Trie> {
        self.trie.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Splits a key into its prefix length and data; `-EINVAL` for a wrong size.
    fn split<'k>(&self, key: &'k [u8]) -> Result<(u32, &'k [u8]), MapError> {
        if key.len() != self.spec.key_size as usize {
            return Err(MapError::Invalid);
        }
        let (len, data) = key.split_at(PREFIXLEN);
        Ok((u32::from_ne_bytes(len.try_into().unwrap()), data))
    }

    /// The table key of `data`'s first `len` bits: the masked data, then the bitwise
    /// complement of `len` in big endian so that, for the same data, longer prefixes sort
    /// first.
    fn index_key(data: &[u8], len: u32) -> Box<[u8]> {
        let mut k: Vec<u8> = data.to_vec();
        let full = (len / 8) as usize;
        if full < k.len() {
            k[full] &= !(0xffu8 >> (len % 8));
            k[full + 1..].fill(0);
        }
        k.extend_from_slice(&(!len).to_be_bytes());
        k.into()
    }

    /// The longest prefix in the map matching `data` on at most `max_len` bits.
    fn longest<'t>(&self, trie: &'t Trie, data: &[u8], max_len: u32) -> Option<&'t Element> {
        (0..=max_len)
            .rev()
            .filter(|&len| trie.per_len[len as usize] > 0)
            .find_map(|len| trie.elements.get(&Self::index_key(data, len)))
    }
}

impl Map for LpmTrie {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        let (len, data) = self.split(key)?;
        if len as usize > self.data_size * 8 {
            return Err(MapError::NoEntry);
        }
        let trie = self.read();
        let element = self.longest(&trie, data, len).ok_or(MapError::NoEntry)?;
        // SAFETY: a live element's slot; the read lock keeps it from being reused.
        unsafe { self.layout.read(self.slab.addr(element.slot), out) }
    }

    /// As `trie_update_elem`: flags beyond `BPF_EXIST` or a prefix longer than the data
    /// `-EINVAL`; then `BPF_NOEXIST` on an existing prefix `-EEXIST`, `BPF_EXIST` on a
    /// missing one `-ENOENT`, a new prefix in a full trie `-ENOSPC`.
    fn update_cpus(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpus: Cpus,
    ) -> Result<(), MapError> {
        if flags > BPF_EXIST {
            return Err(MapError::Invalid);
        }
        let (len, data) = self.split(key)?;
        if len as usize > self.data_size * 8 {
            return Err(MapError::Invalid);
        }
        let index = Self::index_key(data, len);
        let mut trie = self.write();
        if let Some(element) = trie.elements.get_mut(&index) {
            if flags == BPF_NOEXIST {
                return Err(MapError::Exists);
            }
            element.key = key.into();
            // SAFETY: a live element's slot, under the write lock.
            return unsafe {
                self.layout
                    .write(self.slab.addr(element.slot), value, cpus, false)
            };
        }
        if flags == BPF_EXIST {
            return Err(MapError::NoEntry);
        }
        let slot = self.slab.alloc()?.ok_or(MapError::NoSpace)?;
        // SAFETY: a slot just allocated, visible to no one else.
        if let Err(e) = unsafe { self.layout.write(self.slab.addr(slot), value, cpus, true) } {
            self.slab.free(slot);
            return Err(e);
        }
        trie.elements.insert(
            index,
            Element {
                slot,
                key: key.into(),
            },
        );
        trie.per_len[len as usize] += 1;
        Ok(())
    }

    /// Deletes the exact prefix: a longer or shorter one that matches is not it.
    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let (len, data) = self.split(key)?;
        if len as usize > self.data_size * 8 {
            return Err(MapError::Invalid);
        }
        let mut trie = self.write();
        let element = trie
            .elements
            .remove(&Self::index_key(data, len))
            .ok_or(MapError::NoEntry)?;
        trie.per_len[len as usize] -= 1;
        self.slab.free(element.slot);
        Ok(())
    }

    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), MapError> {
        if next.len() != self.spec.key_size as usize {
            return Err(MapError::Invalid);
        }
        let trie = self.read();
        let after = match key {
            Some(key) => {
                let (len, data) = self.split(key)?;
                let index = (len as usize <= self.data_size * 8)
                    .then(|| Self::index_key(data, len))
                    .filter(|i| trie.elements.contains_key(i));
                match index {
                    Some(i) => trie
                        .elements
                        .range::<[u8], _>((
                            std::ops::Bound::Excluded(&i[..]),
                            std::ops::Bound::Unbounded,
                        ))
                        .next(),
                    None => trie.elements.iter().next(),
                }
            }
            None => trie.elements.iter().next(),
        };
        let (_, element) = after.ok_or(MapError::NoEntry)?;
        next.copy_from_slice(&element.key);
        Ok(())
    }

    fn lookup_ptr(&self, key: &[u8], cpu: usize) -> Option<ValuePtr> {
        let (len, data) = self.split(key).ok()?;
        if len as usize > self.data_size * 8 {
            return None;
        }
        let trie = self.read();
        let element = self.longest(&trie, data, len)?;
        Some(ValuePtr {
            addr: self.layout.cpu_addr(self.slab.addr(element.slot), cpu) as u64,
            region: self.slab.region(element.slot),
        })
    }
}
