//! `BPF_MAP_TYPE_QUEUE` (first in, first out) and `BPF_MAP_TYPE_STACK` (last in, first
//! out): keyless maps of at most `max_entries` values, under one lock as in Linux.
//!
//! From user space, as in Linux, an update pushes, a lookup peeks and a lookup-and-delete
//! pops; delete and get-next-key are `-EINVAL`.

use super::error::MapError;
use super::spec::MapSpec;
use super::{Cpus, Map, MapType, ValuePtr, BPF_EXIST, BPF_NOEXIST};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug)]
pub(super) struct Queue {
    spec: MapSpec,
    /// Oldest value at the front; both types push at the back.
    items: Mutex<VecDeque<Box<[u8]>>>,
}

impl Queue {
    /// Checks as `queue_stack_map_alloc_check`: no key, a non-empty value.
    pub fn new(spec: &MapSpec) -> Result<Queue, MapError> {
        if spec.key_size != 0 || spec.value_size == 0 {
            return Err(MapError::Invalid);
        }
        if spec.value_size > super::array::VALUE_SIZE_MAX {
            return Err(MapError::TooBig);
        }
        Ok(Queue {
            spec: spec.clone(),
            items: Mutex::new(VecDeque::new()),
        })
    }

    fn items(&self) -> MutexGuard<'_, VecDeque<Box<[u8]>>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Copies the next value out, removing it if `remove`: the oldest for a queue, the
    /// newest for a stack. Empty: `-ENOENT`.
    fn take(&self, out: &mut [u8], remove: bool) -> Result<(), MapError> {
        let size = self.spec.value_size as usize;
        let out = out.get_mut(..size).ok_or(MapError::Invalid)?;
        let mut items = self.items();
        let fifo = self.spec.map_type == MapType::Queue;
        let next = if fifo { items.front() } else { items.back() };
        out.copy_from_slice(next.ok_or(MapError::NoEntry)?);
        if remove {
            if fifo {
                items.pop_front();
            } else {
                items.pop_back();
            }
        }
        Ok(())
    }
}

impl Map for Queue {
    fn spec(&self) -> &MapSpec {
        &self.spec
    }

    fn lookup(&self, _key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        self.peek(out)
    }

    fn update_cpus(
        &self,
        _key: &[u8],
        value: &[u8],
        flags: u64,
        _cpus: Cpus,
    ) -> Result<(), MapError> {
        self.push(value, flags)
    }

    fn delete(&self, _key: &[u8]) -> Result<(), MapError> {
        Err(MapError::Invalid)
    }

    fn next_key(&self, _key: Option<&[u8]>, _next: &mut [u8]) -> Result<(), MapError> {
        Err(MapError::Invalid)
    }

    fn lookup_ptr(&self, _key: &[u8], _cpu: usize) -> Option<ValuePtr> {
        None
    }

    /// As `queue_stack_map_push_elem`: flags other than `BPF_ANY` and `BPF_EXIST` are
    /// `-EINVAL`; a full map is `-E2BIG` unless `BPF_EXIST`, which drops the oldest value
    /// (for a stack too: the bottom one) to make room.
    fn push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        if flags & BPF_NOEXIST != 0 || flags > BPF_EXIST {
            return Err(MapError::Invalid);
        }
        let value = value
            .get(..self.spec.value_size as usize)
            .ok_or(MapError::Invalid)?;
        let mut items = self.items();
        if items.len() == self.spec.max_entries as usize {
            if flags != BPF_EXIST {
                return Err(MapError::TooBig);
            }
            items.pop_front();
        }
        items.push_back(value.into());
        Ok(())
    }

    fn pop(&self, out: &mut [u8]) -> Result<(), MapError> {
        self.take(out, true)
    }

    fn lookup_and_delete(&self, _key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        self.pop(out)
    }

    fn peek(&self, out: &mut [u8]) -> Result<(), MapError> {
        self.take(out, false)
    }

    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.items()
            .iter()
            .map(|v| (Vec::new(), v.to_vec()))
            .collect()
    }
}
