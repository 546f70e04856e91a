//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: per-index sample buffers that programs write with
//! `bpf_perf_event_output` and user space reads, one buffer per "CPU" as a perf buffer
//! consumer opens them.
//!
//! In Linux, user space stores a perf event's file descriptor at each index; here storing
//! any `u32` at an index opens a buffer there (of [`PerfEventArray::BUFFER_BYTES`]), and
//! deleting it closes the buffer. A sample that does not fit is counted as lost, and the
//! consumer is told how many were lost before the next sample it receives, as perf's
//! `PERF_RECORD_LOST` does.

use super::error::MapError;
use super::spec::MapSpec;
use super::{cpu, Cpus, Map, ValuePtr};
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// `BPF_F_INDEX_MASK`: the low 32 bits of the flags select the index.
const INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CURRENT_CPU`: the index of the calling CPU.
const CURRENT_CPU: u64 = INDEX_MASK;

/// What a perf buffer consumer receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sample<'a> {
    /// A sample's raw data, zero-padded as perf pads raw samples (so that the `u32` size
    /// plus the data is a multiple of 8 bytes).
    Data(&'a [u8]),
    /// Samples dropped because the buffer was full.
    Lost(u64),
}

#[derive(Debug, Default)]
struct Buffer {
    samples: VecDeque<Vec<u8>>,
    bytes: usize,
    lost: u64,
}

/// A perf event array map.
#[derive(Debug)]
pub struct PerfEventArray {
    spec: MapSpec,
    /// `None` where no buffer is open.
    buffers: Mutex<Vec<Option<Buffer>>>,
    wakeup: Condvar,
}

impl PerfEventArray {
    /// Bytes of samples an index holds before it drops new ones (64 pages, libbpf's
    /// common choice).
    pub const BUFFER_BYTES: usize = 64 * 4096;

    /// Checks as `fd_array_map_alloc_check`: `u32` keys and values.
    pub(super) fn new(spec: &MapSpec) -> Result<PerfEventArray, MapError> {
        if spec.key_size != 4 || spec.value_size != 4 {
            return Err(MapError::Invalid);
        }
        Ok(PerfEventArray {
            spec: spec.clone(),
            buffers: Mutex::new((0..spec.max_entries).map(|_| None).collect()),
            wakeup: Condvar::new(),
        })
    }

    fn buffers(&self) -> MutexGuard<'_, Vec<Option<Buffer>>> {
        self.buffers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn index(&self, key: &[u8]) -> Result<usize, MapError> {
        let key: [u8; 4] = key.try_into().map_err(|_| MapError::Invalid)?;
        let index = u32::from_ne_bytes(key);
        if index >= self.spec.max_entries {
            return Err(MapError::TooBig);
        }
        Ok(index as usize)
    }

    /// `bpf_perf_event_output`'s effect: appends `data` to the buffer `flags` selects.
    /// `-EINVAL` for flags beyond the index, `-E2BIG` for an index past the array,
    /// `-ENOENT` where no buffer is open, `-ENOSPC` (and a lost sample) when it is full.
    pub fn output(&self, flags: u64, data: &[u8]) -> Result<(), MapError> {
        if flags & !INDEX_MASK != 0 {
            return Err(MapError::Invalid);
        }
        let index = match flags {
            CURRENT_CPU => cpu::current() as u64,
            i => i,
        };
        if index >= self.spec.max_entries as u64 {
            return Err(MapError::TooBig);
        }
        let mut buffers = self.buffers();
        let buffer = buffers[index as usize].as_mut().ok_or(MapError::NoEntry)?;
        let padded = (data.len() + 4).div_ceil(8) * 8 - 4;
        if buffer.bytes + padded > Self::BUFFER_BYTES {
            buffer.lost += 1;
            return Err(MapError::NoSpace);
        }
        let mut sample = data.to_vec();
        sample.resize(padded, 0);
        buffer.bytes += padded;
        buffer.samples.push_back(sample);
        drop(buffers);
        self.wakeup.notify_all();
        Ok(())
    }

    /// Calls `f(index, sample)` for everything buffered, index by index, oldest first;
    /// returns the number of data samples.
    pub fn consume(&self, mut f: impl FnMut(u32, Sample<'_>)) -> usize {
        // Take the samples out first so that `f` runs without the lock.
        let taken: Vec<(u32, u64, VecDeque<Vec<u8>>)> = self
            .buffers()
            .iter_mut()
            .enumerate()
            .filter_map(|(i, b)| {
                let b = b.as_mut()?;
                b.bytes = 0;
                Some((
                    i as u32,
                    std::mem::take(&mut b.lost),
                    std::mem::take(&mut b.samples),
                ))
            })
            .collect();
        let mut count = 0;
        for (index, lost, samples) in taken {
            if lost > 0 {
                f(index, Sample::Lost(lost));
            }
            for s in samples {
                f(index, Sample::Data(&s));
                count += 1;
            }
        }
        count
    }

    /// Waits up to `timeout` for a sample (returning at once if there is one), then
    /// consumes as [`PerfEventArray::consume`] does.
    pub fn poll(&self, timeout: Duration, f: impl FnMut(u32, Sample<'_>)) -> usize {
        let buffers = self.buffers();
        let empty = |b: &mut Vec<Option<Buffer>>| {
            b.iter()
                .flatten()
                .all(|b| b.samples.is_empty() && b.lost == 0)
        };
        let _ = self
            .wakeup
            .wait_timeout_while(buffers, timeout, empty)
            .unwrap_or_else(|e| e.into_inner());
        self.consume(f)
    }
}

impl Map for PerfEventArray {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// Perf event arrays have no `map_fd_sys_lookup_elem` in Linux: `-ENOTSUPP`.
    fn lookup(&self, _key: &[u8], _out: &mut [u8]) -> Result<(), MapError> {
        Err(MapError::NotSupported)
    }

    /// Opens the buffer at the index (Linux stores the perf event fd there); only
    /// `BPF_ANY` is accepted, as for every fd array.
    fn update_cpus(&self, key: &[u8], _value: &[u8], flags: u64, _: Cpus) -> Result<(), MapError> {
        if flags != super::BPF_ANY {
            return Err(MapError::Invalid);
        }
        let index = self.index(key)?;
        self.buffers()[index].get_or_insert_with(Buffer::default);
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let index = self.index(key)?;
        self.buffers()[index]
            .take()
            .map(drop)
            .ok_or(MapError::NoEntry)
    }

    /// As for arrays: the index after `key`, 0 after none or an out-of-range key.
    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), MapError> {
        let next: &mut [u8; 4] = next.try_into().map_err(|_| MapError::Invalid)?;
        let following = match key.map(|k| self.index(k)) {
            None | Some(Err(MapError::TooBig)) => 0,
            Some(Err(e)) => return Err(e),
            Some(Ok(i)) if i + 1 == self.spec.max_entries as usize => {
                return Err(MapError::NoEntry)
            }
            Some(Ok(i)) => i as u32 + 1,
        };
        *next = following.to_ne_bytes();
        Ok(())
    }

    fn lookup_ptr(&self, _key: &[u8], _cpu: usize) -> Option<ValuePtr> {
        None
    }

    /// Open buffers are not contents: nothing is listed (nor pinned).
    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        Vec::new()
    }

    fn as_perf_event_array(&self) -> Option<&PerfEventArray> {
        Some(self)
    }
}
