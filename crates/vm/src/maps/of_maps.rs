//! Maps whose values name other maps or programs by file descriptor:
//! `BPF_MAP_TYPE_ARRAY_OF_MAPS`, `BPF_MAP_TYPE_HASH_OF_MAPS` and `BPF_MAP_TYPE_PROG_ARRAY`.
//!
//! User space stores a descriptor as a `u32` value. A program's lookup in a map of maps
//! yields the inner map, which the map helpers resolve through the program's
//! [`MapTable`](super::MapTable): the descriptor must be one of the table's, as in Linux
//! it must be a map of the process (a descriptor that names no map of the table looks up
//! as NULL). A program array holds the programs `bpf_tail_call` jumps to: user space
//! stores a [`ProgramFd`]'s number, and the slot then refers to that program.
//!
//! Differences from Linux, which checks inner maps against a template (`inner_map_fd`) and
//! answers a user-space lookup with the inner map's or program's id: bpfkit has no
//! template (any map of the table may be stored) and returns the stored descriptor.
//! A program array refers to its programs weakly: a program lives as long as its
//! [`ProgramFd`] (Linux instead clears a program array when user space lets go of it;
//! both keep a program that tail-calls itself through its own array from living forever).

use super::error::MapError;
use super::hash::Hash;
use super::spec::{MapSpec, MapType};
use super::{Cpus, Map, ValuePtr, BPF_ANY};
use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

/// A program as program arrays hold it: an engine's prepared program, which the engine
/// that tail-calls it downcasts to its own type (a program of another engine is refused
/// there).
pub type SharedProgram = Arc<dyn Any + Send + Sync>;

/// A program array's reference to a program (see the module's documentation).
type WeakProgram = Weak<dyn Any + Send + Sync>;

/// The process's program descriptors, by number minus [`FIRST_PROGRAM_FD`].
static PROGRAMS: Mutex<Vec<Option<SharedProgram>>> = Mutex::new(Vec::new());

/// The lowest program descriptor: small numbers like a process's descriptors, above the
/// standard streams.
const FIRST_PROGRAM_FD: u32 = 3;

/// A loaded program's descriptor, the value user space stores in a program array slot
/// (`BPF_PROG_LOAD`'s result). The program stays loaded while this lives; dropping it
/// closes the descriptor, and the number may be reused, as file descriptors are.
#[derive(Debug)]
pub struct ProgramFd {
    fd: u32,
}

impl ProgramFd {
    /// Gives `program` the lowest free descriptor. Engines call this for their prepared
    /// programs (`Interpreter::program_fd`, the JIT's equivalent).
    pub fn new(program: SharedProgram) -> ProgramFd {
        let mut table = PROGRAMS.lock().unwrap_or_else(PoisonError::into_inner);
        let index = match table.iter().position(Option::is_none) {
            Some(i) => {
                table[i] = Some(program);
                i
            }
            None => {
                table.push(Some(program));
                table.len() - 1
            }
        };
        ProgramFd {
            fd: FIRST_PROGRAM_FD + index as u32,
        }
    }

    /// The descriptor's number.
    pub fn fd(&self) -> u32 {
        self.fd
    }
}

impl Drop for ProgramFd {
    fn drop(&mut self) {
        let mut table = PROGRAMS.lock().unwrap_or_else(PoisonError::into_inner);
        table[(self.fd - FIRST_PROGRAM_FD) as usize] = None;
    }
}

/// The program descriptor `fd` names, as the kernel's `bpf_prog_get`.
fn program_of_fd(fd: u32) -> Option<SharedProgram> {
    let table = PROGRAMS.lock().unwrap_or_else(PoisonError::into_inner);
    let index = fd.checked_sub(FIRST_PROGRAM_FD)? as usize;
    table.get(index)?.clone()
}

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
    /// For a program array: the programs, by slot.
    programs: Option<Programs>,
}

/// The programs of a program array.
#[derive(Debug)]
struct Programs {
    slots: Box<[RwLock<Option<WeakProgram>>]>,
    /// The type of the first program stored: every program of the array is prepared for
    /// the same engine, as Linux's `bpf_prog_array_compatible` keeps them of one kind.
    kind: Mutex<Option<TypeId>>,
}

impl Programs {
    /// Stores the program of descriptor `fd` in `slot`: `-EBADF` if `fd` is no program's,
    /// `-EINVAL` if the program is not of the array's kind.
    fn store(&self, slot: usize, fd: u32) -> Result<(), MapError> {
        let program = program_of_fd(fd).ok_or(MapError::BadFd)?;
        let kind = (*program).type_id();
        let mut owner = self.kind.lock().unwrap_or_else(PoisonError::into_inner);
        if *owner.get_or_insert(kind) != kind {
            return Err(MapError::Invalid);
        }
        *self.slots[slot]
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::downgrade(&program));
        Ok(())
    }

    fn clear(&self, slot: usize) {
        *self.slots[slot]
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl FdArray {
    /// Checks as `fd_array_map_alloc_check`: `u32` keys and values.
    pub fn new(spec: &MapSpec) -> Result<FdArray, MapError> {
        if spec.key_size != 4 || spec.value_size != 4 {
            return Err(MapError::Invalid);
        }
        let programs = (spec.map_type == MapType::ProgArray).then(|| Programs {
            slots: (0..spec.max_entries).map(|_| RwLock::new(None)).collect(),
            kind: Mutex::new(None),
        });
        Ok(FdArray {
            spec: spec.clone(),
            slots: (0..spec.max_entries).map(|_| AtomicU32::new(0)).collect(),
            programs,
        })
    }

    fn slot(&self, key: &[u8]) -> Result<Option<(usize, &AtomicU32)>, MapError> {
        let key: [u8; 4] = key.try_into().map_err(|_| MapError::Invalid)?;
        let index = u32::from_ne_bytes(key) as usize;
        Ok(self.slots.get(index).map(|s| (index, s)))
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
    /// (`-E2BIG`); for a program array, a program's descriptor (`-EBADF`) of the array's
    /// engine (`-EINVAL`).
    fn update_cpus(&self, key: &[u8], value: &[u8], flags: u64, _: Cpus) -> Result<(), MapError> {
        if flags != BPF_ANY {
            return Err(MapError::Invalid);
        }
        let (index, slot) = self.slot(key)?.ok_or(MapError::TooBig)?;
        let fd = fd_value(value)?;
        if let Some(programs) = &self.programs {
            programs.store(index, fd)?;
        }
        slot.store(
            fd.checked_add(1).ok_or(MapError::Invalid)?,
            Ordering::Release,
        );
        Ok(())
    }

    /// As `fd_array_map_delete_elem`: `-E2BIG` out of range, `-ENOENT` if empty.
    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let (index, slot) = self.slot(key)?.ok_or(MapError::TooBig)?;
        if let Some(programs) = &self.programs {
            programs.clear(index);
        }
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
        let stored = self.slot(key).ok()??.1.load(Ordering::Acquire);
        stored.checked_sub(1)
    }

    fn program(&self, index: u32) -> Option<SharedProgram> {
        let slot = self.programs.as_ref()?.slots.get(index as usize)?;
        slot.read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()?
            .upgrade()
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
