//! The memory a program may touch: a small set of regions, each a host address range with
//! its access rights. Every load and store an engine did not prove safe goes through
//! [`Memory::check`].

use crate::error::{Access, Fault};
use std::marker::PhantomData;

/// A host address range the program may access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Host address of the first byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// Whether stores are allowed.
    pub writable: bool,
}

impl Region {
    /// Whether `[addr, addr + size)` lies inside this region. Written so that no
    /// `addr + size` is ever formed: it cannot overflow.
    #[inline(always)]
    pub fn contains(&self, addr: u64, size: u64) -> bool {
        let off = addr.wrapping_sub(self.start);
        off < self.len && self.len - off >= size
    }
}

/// Regions kept inline: the stack, a packet and its context, and the global data and map
/// values of a typical program fit without allocating for each run.
const INLINE_REGIONS: usize = 8;

/// The regions of one run. The lifetime `'m` ties the regions to the borrowed buffers they
/// were made from, so a program can never outlive the memory it is given.
///
/// The first few regions live inline (no allocation for the common case); more spill to
/// the heap.
#[derive(Debug)]
pub struct Memory<'m> {
    inline: [Region; INLINE_REGIONS],
    count: usize,
    extra: Vec<Region>,
    _borrow: PhantomData<&'m mut [u8]>,
}

impl Default for Memory<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'m> Memory<'m> {
    /// No regions at all.
    pub fn new() -> Self {
        Memory {
            inline: [Region {
                start: 0,
                len: 0,
                writable: false,
            }; INLINE_REGIONS],
            count: 0,
            extra: Vec::new(),
            _borrow: PhantomData,
        }
    }

    /// Lets the program read and write `buf`.
    pub fn add_mut(&mut self, buf: &'m mut [u8]) {
        let region = Region {
            start: buf.as_mut_ptr() as u64,
            len: buf.len() as u64,
            writable: true,
        };
        self.push(region);
    }

    /// Lets the program read `buf`.
    pub fn add_ref(&mut self, buf: &'m [u8]) {
        let region = Region {
            start: buf.as_ptr() as u64,
            len: buf.len() as u64,
            writable: false,
        };
        self.push(region);
    }

    /// Adds a region given by address.
    ///
    /// # Safety
    /// The range must stay valid (allocated, and writable if `writable`) for as long as this
    /// `Memory` is used by a run, and must not be accessed through a Rust reference that
    /// assumes exclusivity while the program runs.
    pub unsafe fn add_raw(&mut self, region: Region) {
        self.push(region);
    }

    /// Adds a region in front of the others, so that it is the first one checked: the
    /// engines put the stack there, the most frequently accessed region.
    ///
    /// # Safety
    /// As for [`Memory::add_raw`].
    pub(crate) unsafe fn add_raw_first(&mut self, region: Region) {
        if self.count == INLINE_REGIONS {
            self.extra.insert(0, self.inline[INLINE_REGIONS - 1]);
            self.count -= 1;
        }
        self.inline.copy_within(0..self.count, 1);
        self.inline[0] = region;
        self.count += 1;
    }

    /// Replaces the region equal to `old` by `new`, in the same place (so the order in
    /// which regions are checked does not change); `false` when no region equals `old`.
    /// Used when a helper moves or resizes the packet.
    ///
    /// # Safety
    /// As for [`Memory::add_raw`], for `new`.
    pub unsafe fn replace(&mut self, old: Region, new: Region) -> bool {
        let count = self.count;
        match self.inline[..count]
            .iter_mut()
            .chain(self.extra.iter_mut())
            .find(|r| **r == old)
        {
            Some(r) => {
                *r = new;
                true
            }
            None => false,
        }
    }

    fn push(&mut self, region: Region) {
        if self.count < INLINE_REGIONS {
            self.inline[self.count] = region;
            self.count += 1;
        } else {
            self.extra.push(region);
        }
    }

    /// The regions, in the order they were added.
    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.inline[..self.count].iter().chain(self.extra.iter())
    }

    /// Checks that `[addr, addr + size)` lies inside one region that allows `access`.
    #[inline(always)]
    pub fn check(&self, addr: u64, size: u64, access: Access) -> Result<(), Fault> {
        for r in &self.inline[..self.count] {
            if r.contains(addr, size) && (access == Access::Read || r.writable) {
                return Ok(());
            }
        }
        self.check_slow(addr, size, access)
    }

    #[cold]
    fn check_slow(&self, addr: u64, size: u64, access: Access) -> Result<(), Fault> {
        if self
            .extra
            .iter()
            .any(|r| r.contains(addr, size) && (access == Access::Read || r.writable))
        {
            Ok(())
        } else {
            Err(Fault::OutOfBounds { addr, size, access })
        }
    }

    /// The bytes `[addr, addr + len)` if they lie inside a region, for helpers that take
    /// pointer arguments.
    pub fn slice(&self, addr: u64, len: u64) -> Result<&[u8], Fault> {
        self.check(addr, len, Access::Read)?;
        // SAFETY: the range lies within a region, which the region's creator guarantees is
        // valid memory for the lifetime of this Memory; `len` fits in the region, so in usize.
        Ok(unsafe { std::slice::from_raw_parts(addr as *const u8, len as usize) })
    }

    /// The bytes `[addr, addr + len)` for writing, if they lie inside a writable region.
    pub fn slice_mut(&mut self, addr: u64, len: u64) -> Result<&mut [u8], Fault> {
        self.check(addr, len, Access::Write)?;
        // SAFETY: as in `slice`, and the region is writable; `&mut self` keeps the program
        // (which only runs while it holds the Memory) from aliasing the slice.
        Ok(unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, len as usize) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_never_overflow() {
        let r = Region {
            start: u64::MAX - 7,
            len: 8,
            writable: true,
        };
        assert!(r.contains(u64::MAX - 7, 8));
        assert!(r.contains(u64::MAX, 1));
        // addr + size would wrap around to 0; must not be accepted.
        assert!(!r.contains(u64::MAX, 2));
        assert!(!r.contains(u64::MAX - 8, 1));
        assert!(!r.contains(0, 1));
    }

    #[test]
    fn access_rights_and_spill() {
        let mut a = [0u8; 16];
        let b = [0u8; 16];
        let (pa, pb) = (a.as_ptr() as u64, b.as_ptr() as u64);
        let mut mem = Memory::new();
        mem.add_mut(&mut a);
        mem.add_ref(&b);
        assert!(mem.check(pa + 8, 8, Access::Write).is_ok());
        assert!(mem.check(pa + 9, 8, Access::Read).is_err());
        assert!(mem.check(pb, 16, Access::Read).is_ok());
        assert_eq!(
            mem.check(pb, 1, Access::Write),
            Err(Fault::OutOfBounds {
                addr: pb,
                size: 1,
                access: Access::Write
            })
        );
        let mut bufs = [[0u8; 4]; INLINE_REGIONS + 2];
        let addrs: Vec<u64> = bufs.iter().map(|b| b.as_ptr() as u64).collect();
        let mut mem = Memory::new();
        for buf in bufs.iter_mut() {
            mem.add_mut(buf);
        }
        assert_eq!(mem.regions().count(), INLINE_REGIONS + 2);
        assert!(mem
            .check(addrs[INLINE_REGIONS + 1], 4, Access::Write)
            .is_ok());
    }
}
