//! Kernel maps over bpf(2): create, lookup, update, delete, get-next-key and
//! lookup-and-delete, the reference bpfkit's own maps are compared with.
//!
//! Each command's attribute struct borrows its key and value buffers, and the buffers are
//! checked against the map's key and value sizes before the call, since the kernel reads
//! and writes exactly those sizes through the pointers.

use crate::error::Errno;
use crate::sys::{bpf, Attr};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_LOOKUP_ELEM: u32 = 1;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_MAP_DELETE_ELEM: u32 = 3;
const BPF_MAP_GET_NEXT_KEY: u32 = 4;
const BPF_MAP_LOOKUP_AND_DELETE_ELEM: u32 = 21;
const BPF_MAP_FREEZE: u32 = 22;

/// Map types whose values user space sees once per possible CPU.
const PERCPU_TYPES: [u32; 3] = [5, 6, 10];

/// The `BPF_MAP_CREATE` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
}

// sizeof in linux/bpf.h: offsetof(map_extra) = 64, + 8.
const _: () = assert!(std::mem::size_of::<MapCreateAttr>() == 72);

// SAFETY: no pointers.
unsafe impl Attr for MapCreateAttr {}

/// The `BPF_MAP_FREEZE` member of `union bpf_attr`.
#[repr(C)]
struct MapFdAttr {
    map_fd: u32,
}

// SAFETY: no pointers.
unsafe impl Attr for MapFdAttr {}

/// The BTF types of a map's key and value (`btf_fd`, `btf_key_type_id`,
/// `btf_value_type_id`), from which the kernel learns of special fields in the value,
/// such as a `struct bpf_spin_lock`.
#[derive(Clone, Copy, Debug)]
pub struct MapBtf<'a> {
    /// The BTF holding the types ([`crate::KernelBtf`]).
    pub btf: BorrowedFd<'a>,
    /// The key's type id; 0 for none.
    pub key_type: u32,
    pub value_type: u32,
}

/// The map element commands' member of `union bpf_attr`.
#[repr(C)]
struct MapElemAttr<'a> {
    map_fd: u32,
    _pad: u32,
    key: u64,
    /// `value` or `next_key`.
    value: u64,
    flags: u64,
    borrows: PhantomData<&'a mut [u8]>,
}

const _: () = assert!(std::mem::size_of::<MapElemAttr>() == 32);

// SAFETY: `key` and `value` are only set by `KernelMap::elem`, from slices borrowed for
// 'a whose lengths it checked against the sizes the kernel uses (`next_key` is the
// value field for BPF_MAP_GET_NEXT_KEY, checked against the key size).
unsafe impl Attr for MapElemAttr<'_> {}

/// The number of possible CPUs, as the kernel counts them for per-CPU values
/// (`/sys/devices/system/cpu/possible`, a list like `0-3,5`).
pub fn possible_cpus() -> Result<usize, Errno> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let mut count = 0;
    for range in text.trim().split(',') {
        let mut ends = range.split('-').map(|n| n.parse::<usize>());
        match (ends.next(), ends.next()) {
            (Some(Ok(a)), Some(Ok(b))) if b >= a => count += b - a + 1,
            (Some(Ok(_)), None) => count += 1,
            _ => return Err(Errno(libc::EINVAL)),
        }
    }
    Ok(count)
}

/// A map element as user space sees it: key bytes, value bytes.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A map in the kernel, closed when dropped.
#[derive(Debug)]
pub struct KernelMap {
    fd: OwnedFd,
    key_size: usize,
    /// Bytes of a value as user space sees it (per CPU for per-CPU maps).
    value_size: usize,
}

/// Where an element command's value buffer points.
enum Value<'a> {
    None,
    In(&'a [u8]),
    Out(&'a mut [u8]),
}

impl KernelMap {
    /// `BPF_MAP_CREATE` with the given `enum bpf_map_type` and attributes.
    pub fn create(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
    ) -> Result<KernelMap, Errno> {
        Self::create_with_inner(map_type, key_size, value_size, max_entries, flags, None)
    }

    /// `BPF_MAP_CREATE`, for a map of maps with `inner`, a map like those it will hold (the
    /// kernel keeps only its attributes).
    pub fn create_with_inner(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
        inner: Option<BorrowedFd<'_>>,
    ) -> Result<KernelMap, Errno> {
        Self::create_from(MapCreateAttr {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: flags,
            inner_map_fd: inner.map_or(0, |fd| fd.as_raw_fd() as u32),
            ..MapCreateAttr::default()
        })
    }

    /// `BPF_MAP_CREATE` with the BTF types of the key and value.
    pub fn create_with_btf(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
        btf: MapBtf<'_>,
    ) -> Result<KernelMap, Errno> {
        Self::create_from(MapCreateAttr {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: flags,
            btf_fd: btf.btf.as_raw_fd() as u32,
            btf_key_type_id: btf.key_type,
            btf_value_type_id: btf.value_type,
            ..MapCreateAttr::default()
        })
    }

    fn create_from(mut attr: MapCreateAttr) -> Result<KernelMap, Errno> {
        let (map_type, key_size, value_size) = (attr.map_type, attr.key_size, attr.value_size);
        let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
        // SAFETY: BPF_MAP_CREATE returned a new file descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let value_size = if PERCPU_TYPES.contains(&map_type) {
            (value_size as usize).div_ceil(8) * 8 * possible_cpus()?
        } else {
            value_size as usize
        };
        Ok(KernelMap {
            fd,
            key_size: key_size as usize,
            value_size,
        })
    }

    /// `BPF_MAP_FREEZE`: user space may no longer write the map, so that the verifier may
    /// trust the contents of a map programs only read (`BPF_F_RDONLY_PROG`).
    pub fn freeze(&self) -> Result<(), Errno> {
        let mut attr = MapFdAttr {
            map_fd: self.fd.as_raw_fd() as u32,
        };
        bpf(BPF_MAP_FREEZE, &mut attr).map(drop)
    }

    /// Bytes of a value as user space reads and writes it.
    pub fn value_size(&self) -> usize {
        self.value_size
    }

    /// Runs an element command whose value buffer must hold `value_size` bytes; shorter
    /// buffers are `EFAULT`, which is what the kernel would answer if it read past them.
    fn elem(
        &self,
        cmd: u32,
        key: Option<&[u8]>,
        value: Value<'_>,
        value_size: usize,
        flags: u64,
    ) -> Result<(), Errno> {
        let efault = Err(Errno(libc::EFAULT));
        let key = match key {
            Some(k) if k.len() < self.key_size => return efault,
            Some(k) => k.as_ptr() as u64,
            None => 0,
        };
        let value = match value {
            Value::None => 0,
            Value::In(v) if v.len() >= value_size => v.as_ptr() as u64,
            Value::Out(v) if v.len() >= value_size => v.as_mut_ptr() as u64,
            _ => return efault,
        };
        let mut attr = MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            _pad: 0,
            key,
            value,
            flags,
            borrows: PhantomData,
        };
        bpf(cmd, &mut attr).map(drop)
    }

    /// `BPF_MAP_LOOKUP_ELEM` (a peek for queues and stacks: pass no key).
    pub fn lookup(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), Errno> {
        self.elem(
            BPF_MAP_LOOKUP_ELEM,
            key,
            Value::Out(out),
            self.value_size,
            0,
        )
    }

    /// `BPF_MAP_UPDATE_ELEM` (a push for queues and stacks: pass no key).
    pub fn update(&self, key: Option<&[u8]>, value: &[u8], flags: u64) -> Result<(), Errno> {
        self.elem(
            BPF_MAP_UPDATE_ELEM,
            key,
            Value::In(value),
            self.value_size,
            flags,
        )
    }

    /// `BPF_MAP_DELETE_ELEM`.
    pub fn delete(&self, key: Option<&[u8]>) -> Result<(), Errno> {
        self.elem(BPF_MAP_DELETE_ELEM, key, Value::None, 0, 0)
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key`, or the first key.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        self.elem(
            BPF_MAP_GET_NEXT_KEY,
            key,
            Value::Out(next),
            self.key_size,
            0,
        )
    }

    /// Every (key, value) of a map with keys (not a queue or stack), sorted by key: keys
    /// by `BPF_MAP_GET_NEXT_KEY`, values by `BPF_MAP_LOOKUP_ELEM` (per-CPU values one after
    /// another, each rounded up to 8 bytes, as the kernel hands them to user space).
    pub fn entries(&self) -> Result<Vec<Entry>, Errno> {
        let mut out = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        let mut next = vec![0u8; self.key_size];
        loop {
            match self.next_key(key.as_deref(), &mut next) {
                Ok(()) => {}
                Err(Errno(libc::ENOENT)) => break,
                Err(e) => return Err(e),
            }
            let mut value = vec![0u8; self.value_size];
            self.lookup(Some(&next), &mut value)?;
            out.push((next.clone(), value));
            key = Some(next.clone());
        }
        out.sort();
        Ok(out)
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (a pop for queues and stacks: pass no key).
    pub fn lookup_and_delete(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), Errno> {
        self.elem(
            BPF_MAP_LOOKUP_AND_DELETE_ELEM,
            key,
            Value::Out(out),
            self.value_size,
            0,
        )
    }
}

/// The map's file descriptor, for programs that refer to it (`lddw` of `map[fd:N]`).
impl AsFd for KernelMap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
