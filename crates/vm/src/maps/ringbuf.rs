//! `BPF_MAP_TYPE_RINGBUF`: a multi-producer, single-consumer ring of variable-size
//! records, with Linux's record format (an 8-byte header: a `u32` length carrying the
//! busy and discard bits, and a `u32` page offset, then the data, padded to 8 bytes) and
//! Linux's positions (64-bit, counted in bytes, never wrapping in practice).
//!
//! Linux maps the data pages twice in a row so that a record crossing the end of the ring
//! is contiguous in memory. bpfkit gets the same effect by allocating twice the ring's
//! size: a record always starts in the first half at `position % size` and may run into
//! the second half. No two live records overlap there: the producer never gets more than
//! `size - 1` bytes ahead of the consumer, so the bytes a crossing record uses in the
//! second half stand for positions no other unconsumed record holds.

use super::error::MapError;
use super::spec::MapSpec;
use super::{shared, Cpus, Map, ValuePtr};
use crate::memory::Region;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Header bit: the record is reserved and not yet submitted or discarded.
pub const BPF_RINGBUF_BUSY_BIT: u32 = 1 << 31;
/// Header bit: the record was discarded; consumers skip it.
pub const BPF_RINGBUF_DISCARD_BIT: u32 = 1 << 30;
/// Size of a record header.
pub const BPF_RINGBUF_HDR_SZ: u64 = 8;
/// Helper flag: do not wake the consumer.
pub const BPF_RB_NO_WAKEUP: u64 = 1;
/// Helper flag: wake the consumer even if it is not waiting for this record.
pub const BPF_RB_FORCE_WAKEUP: u64 = 2;
/// Largest record (`RINGBUF_MAX_RECORD_SZ`).
const MAX_RECORD: u64 = u32::MAX as u64 / 4;
const PAGE_SIZE: u32 = 4096;

/// `bpf_ringbuf_query` flags.
const BPF_RB_AVAIL_DATA: u64 = 0;
const BPF_RB_RING_SIZE: u64 = 1;
const BPF_RB_CONS_POS: u64 = 2;
const BPF_RB_PROD_POS: u64 = 3;

/// A ring buffer map; programs produce through the ring buffer helpers, user space
/// consumes with [`RingBuf::consume`] or [`RingBuf::poll`].
#[derive(Debug)]
pub struct RingBuf {
    spec: MapSpec,
    /// Ring size in bytes, a power of two.
    size: u64,
    /// Twice `size` bytes; see the module documentation.
    data: Box<[AtomicU64]>,
    producer: AtomicU64,
    consumer: AtomicU64,
    /// Serialises producers, as Linux's spinlock does.
    reserve_lock: Mutex<()>,
    /// Serialises consumers (a ring has one consumer at a time).
    consume_lock: Mutex<()>,
    /// Wakes a polling consumer.
    wakeup: (Mutex<u64>, Condvar),
}

impl RingBuf {
    /// Checks as `ringbuf_map_alloc`: no key or value, a power-of-two, page-aligned size.
    pub(super) fn new(spec: &MapSpec) -> Result<RingBuf, MapError> {
        let size = spec.max_entries;
        if spec.key_size != 0
            || spec.value_size != 0
            || !size.is_power_of_two()
            || !size.is_multiple_of(PAGE_SIZE)
        {
            return Err(MapError::Invalid);
        }
        Ok(RingBuf {
            spec: spec.clone(),
            size: size as u64,
            data: shared::alloc(2 * size as usize)?,
            producer: AtomicU64::new(0),
            consumer: AtomicU64::new(0),
            reserve_lock: Mutex::new(()),
            consume_lock: Mutex::new(()),
            wakeup: (Mutex::new(0), Condvar::new()),
        })
    }

    fn base(&self) -> *mut u8 {
        shared::base(&self.data)
    }

    /// The length word of the header at `pos`.
    fn header(&self, pos: u64) -> &AtomicU32 {
        // SAFETY: `pos % size` is 8-aligned (records are padded to 8) and inside the
        // first half of `data`; the memory is atomics, so an AtomicU32 view is valid.
        unsafe { AtomicU32::from_ptr(self.base().add((pos % self.size) as usize) as *mut u32) }
    }

    /// The region of map memory records live in, for the run's checked memory.
    pub fn region(&self) -> Region {
        Region {
            start: self.base() as u64,
            len: 2 * self.size,
            writable: true,
        }
    }

    /// Reserves `size` bytes, returning the address of the record's data, or `None` when
    /// the ring has no room (`bpf_ringbuf_reserve` returns NULL).
    pub fn reserve(&self, size: u64) -> Option<u64> {
        if size > MAX_RECORD {
            return None;
        }
        let len = (size + BPF_RINGBUF_HDR_SZ).div_ceil(8) * 8;
        if len > self.size {
            return None;
        }
        let _guard = self.reserve_lock.lock().unwrap_or_else(|e| e.into_inner());
        let consumer = self.consumer.load(Ordering::Acquire);
        let producer = self.producer.load(Ordering::Relaxed);
        // As Linux: the producer stays at most size - 1 bytes ahead of the consumer.
        if producer + len - consumer > self.size - 1 {
            return None;
        }
        let header = self.header(producer);
        header.store(size as u32 | BPF_RINGBUF_BUSY_BIT, Ordering::Relaxed);
        // The page offset word: the header's offset in pages from the ring's start, as
        // Linux computes it relative to its own struct (informational for consumers).
        // SAFETY: the second word of the header, inside the first half of `data`.
        unsafe {
            AtomicU32::from_ptr(self.base().add((producer % self.size) as usize + 4) as *mut u32)
                .store(
                    ((producer % self.size) / PAGE_SIZE as u64) as u32,
                    Ordering::Relaxed,
                )
        };
        self.producer.store(producer + len, Ordering::Release);
        Some(self.base() as u64 + producer % self.size + BPF_RINGBUF_HDR_SZ)
    }

    /// Submits (or discards) the record whose data starts at `addr`. `-EINVAL` when
    /// `addr` is not the data of a reserved, unsubmitted record of this ring (which Linux's
    /// verifier rules out).
    pub fn commit(&self, addr: u64, discard: bool, flags: u64) -> Result<(), MapError> {
        let offset = addr
            .checked_sub(self.base() as u64 + BPF_RINGBUF_HDR_SZ)
            .filter(|o| *o < self.size && o % 8 == 0)
            .ok_or(MapError::Invalid)?;
        let header = self.header(offset);
        let len = header.load(Ordering::Relaxed);
        if len & BPF_RINGBUF_BUSY_BIT == 0 {
            return Err(MapError::Invalid);
        }
        let mut new_len = len ^ BPF_RINGBUF_BUSY_BIT;
        if discard {
            new_len |= BPF_RINGBUF_DISCARD_BIT;
        }
        header.swap(new_len, Ordering::AcqRel);
        if flags & BPF_RB_NO_WAKEUP == 0 {
            let (lock, cond) = &self.wakeup;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            cond.notify_all();
        }
        Ok(())
    }

    /// `bpf_ringbuf_output`: copies `data` into a new record and submits it. `-EINVAL`
    /// for unknown flags, `-EAGAIN` (as a negative errno) when the ring is full.
    pub fn output(&self, data: &[u8], flags: u64) -> i64 {
        const EINVAL: i64 = 22;
        const EAGAIN: i64 = 11;
        if flags & !(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) != 0 {
            return -EINVAL;
        }
        let Some(addr) = self.reserve(data.len() as u64) else {
            return -EAGAIN;
        };
        // SAFETY: a record just reserved: `data.len()` bytes at `addr`, inside `data`
        // (a record starts in the first half and is shorter than the ring), 8-aligned.
        unsafe { shared::write(addr as *mut u8, data) };
        // The record was just reserved by us: committing it cannot fail.
        let _ = self.commit(addr, false, flags);
        0
    }

    /// `bpf_ringbuf_query`: available data, ring size, consumer or producer position;
    /// 0 for an unknown flag.
    pub fn query(&self, flags: u64) -> u64 {
        let consumer = self.consumer.load(Ordering::Acquire);
        let producer = self.producer.load(Ordering::Acquire);
        match flags {
            BPF_RB_AVAIL_DATA => producer - consumer,
            BPF_RB_RING_SIZE => self.size,
            BPF_RB_CONS_POS => consumer,
            BPF_RB_PROD_POS => producer,
            _ => 0,
        }
    }

    /// Calls `f` with each submitted record, in order, until one is still reserved or the
    /// ring is empty; discarded records are skipped. Returns the number of records given
    /// to `f`. A header a program corrupted (a length running past the producer) stops
    /// consumption there.
    pub fn consume(&self, mut f: impl FnMut(&[u8])) -> usize {
        let _guard = self.consume_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut consumer = self.consumer.load(Ordering::Relaxed);
        let mut count = 0;
        let mut buf = Vec::new();
        loop {
            let producer = self.producer.load(Ordering::Acquire);
            if producer - consumer < BPF_RINGBUF_HDR_SZ {
                break;
            }
            let len = self.header(consumer).load(Ordering::Acquire);
            if len & BPF_RINGBUF_BUSY_BIT != 0 {
                break;
            }
            let size = (len & !BPF_RINGBUF_DISCARD_BIT) as u64;
            let record = (size + BPF_RINGBUF_HDR_SZ).div_ceil(8) * 8;
            if record > producer - consumer {
                break;
            }
            if len & BPF_RINGBUF_DISCARD_BIT == 0 {
                buf.resize(size as usize, 0);
                // SAFETY: the record starts in the first half and is at most size - 1
                // bytes long, so it lies inside `data`; 8-aligned.
                unsafe {
                    shared::read(
                        self.base()
                            .add((consumer % self.size + BPF_RINGBUF_HDR_SZ) as usize),
                        &mut buf,
                    )
                };
                f(&buf);
                count += 1;
            }
            consumer += record;
            self.consumer.store(consumer, Ordering::Release);
        }
        count
    }

    /// Waits up to `timeout` for records (returning at once if there are some), then
    /// consumes them as [`RingBuf::consume`] does.
    pub fn poll(&self, timeout: Duration, f: impl FnMut(&[u8])) -> usize {
        let (lock, cond) = &self.wakeup;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.query(BPF_RB_AVAIL_DATA) == 0 {
            let seen = *guard;
            let _ = cond
                .wait_timeout_while(guard, timeout, |n| *n == seen)
                .unwrap_or_else(|e| e.into_inner());
        } else {
            drop(guard);
        }
        self.consume(f)
    }
}

impl Map for RingBuf {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn lookup(&self, _key: &[u8], _out: &mut [u8]) -> Result<(), MapError> {
        Err(MapError::NotSupported)
    }

    fn update_cpus(&self, _: &[u8], _: &[u8], _: u64, _: Cpus) -> Result<(), MapError> {
        Err(MapError::NotSupported)
    }

    fn delete(&self, _key: &[u8]) -> Result<(), MapError> {
        Err(MapError::NotSupported)
    }

    fn next_key(&self, _key: Option<&[u8]>, _next: &mut [u8]) -> Result<(), MapError> {
        Err(MapError::NotSupported)
    }

    fn lookup_ptr(&self, _key: &[u8], _cpu: usize) -> Option<ValuePtr> {
        None
    }

    /// A ring's records are not elements: none are listed (nor pinned).
    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        Vec::new()
    }

    fn as_ringbuf(&self) -> Option<&RingBuf> {
        Some(self)
    }
}
