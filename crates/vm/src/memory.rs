//! The memory a program may touch: a small set of regions, each a host address range with
//! its access rights. Every load and store an engine did not prove safe goes through
//! [`Memory::check`].

use crate::error::{Access, Fault};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// No bytes at all: contains no access.
    pub const EMPTY: Region = Region {
        start: 0,
        len: 0,
        writable: false,
    };

    /// Whether `[addr, addr + size)` lies inside this region. Written so that no
    /// `addr + size` is ever formed: it cannot overflow.
    #[inline(always)]
    pub fn contains(&self, addr: u64, size: u64) -> bool {
        let off = addr.wrapping_sub(self.start);
        off < self.len && self.len - off >= size
    }

    /// Whether `[addr, addr + size)` lies inside this region and the region allows
    /// `access`.
    #[inline(always)]
    pub fn allows(&self, addr: u64, size: u64, access: Access) -> bool {
        self.contains(addr, size) && (access == Access::Read || self.writable)
    }
}

/// Regions kept inline: the stack, a packet and its context, and the global data and map
/// values of a typical program fit without allocating for each run.
const INLINE_REGIONS: usize = 8;

/// The regions of one run. The lifetime `'m` ties the regions to the borrowed buffers they
/// were made from, so a program can never outlive the memory it is given.
///
/// The first few regions live inline (no allocation for the common case); more spill to
/// the heap. An engine running a program adds its stack for the length of the run, in a
/// place of its own, checked first: a caller may keep one `Memory` for many runs, updating
/// only what changes between them (a packet program's packet).
#[derive(Debug)]
pub struct Memory<'m> {
    /// The running engine's stack; empty outside a run.
    stack: Region,
    /// The first regions; those from `count` on are empty.
    inline: [Region; INLINE_REGIONS],
    count: usize,
    extra: Vec<Region>,
    /// Names the first two regions as they are: see [`Memory::first_two`].
    version: u64,
    _borrow: PhantomData<&'m mut [u8]>,
}

/// The next [`Memory::first_two`] version: one counter for every memory, so that a
/// version names the first two regions of one memory at one time.
fn next_version() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
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
            stack: Region::EMPTY,
            inline: [Region::EMPTY; INLINE_REGIONS],
            count: 0,
            extra: Vec::new(),
            version: next_version(),
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

    /// Sets the stack of the run about to start, checked before the other regions (it is
    /// the region accessed most), or, with [`Region::EMPTY`] once the run is over, removes
    /// it. Not among [`Memory::regions`].
    ///
    /// # Safety
    /// As for [`Memory::add_raw`].
    #[inline]
    pub unsafe fn set_stack(&mut self, region: Region) {
        self.stack = region;
    }

    /// How many regions there are, besides the stack.
    #[inline]
    pub fn len(&self) -> usize {
        self.count + self.extra.len()
    }

    /// Whether there is no region besides the stack.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `len` regions and removes the others: the engines end a run by
    /// taking back the regions helpers added during it (map values), so that a memory
    /// kept for many runs gives each run only what its caller gave it.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.count.min(2) {
            self.version = next_version();
        }
        if len < INLINE_REGIONS {
            self.inline[len.min(self.count)..self.count].fill(Region::EMPTY);
            self.count = self.count.min(len);
            self.extra.clear();
        } else {
            self.extra.truncate(len - INLINE_REGIONS);
        }
    }

    /// The first two regions (the caller's packet and context, for a packet program),
    /// [`Region::EMPTY`] for each missing one, and their version: a number that changes
    /// whenever they may have, unique among all memories, so that an engine that kept
    /// what it computed from them may compare versions instead of regions. Equal versions
    /// mean equal regions; moving the memory keeps both.
    #[inline(always)]
    pub fn first_two(&self) -> ([Region; 2], u64) {
        ([self.inline[0], self.inline[1]], self.version)
    }

    /// The version of the first two regions (see [`Memory::first_two`]).
    #[inline(always)]
    pub fn first_two_version(&self) -> u64 {
        self.version
    }

    /// Replaces the region equal to `old` by `new`, in the same place (so the order in
    /// which regions are checked does not change); `false` when no region equals `old`.
    /// Used when a helper moves or resizes the packet.
    ///
    /// # Safety
    /// As for [`Memory::add_raw`], for `new`.
    pub unsafe fn replace(&mut self, old: Region, new: Region) -> bool {
        if let Some(i) = self.inline[..self.count].iter().position(|r| *r == old) {
            self.inline[i] = new;
            if i < 2 {
                self.version = next_version();
            }
            return true;
        }
        match self.extra.iter_mut().find(|r| **r == old) {
            Some(r) => {
                *r = new;
                true
            }
            None => false,
        }
    }

    /// Removes the last region equal to `region`, added with [`Memory::add_raw`]: a helper
    /// lends the program a buffer for the length of a call and takes it back. Whether it
    /// was there.
    pub fn remove(&mut self, region: &Region) -> bool {
        if let Some(i) = self.extra.iter().rposition(|r| r == region) {
            self.extra.remove(i);
            return true;
        }
        let Some(i) = self.inline[..self.count].iter().rposition(|r| r == region) else {
            return false;
        };
        if i < 2 {
            self.version = next_version();
        }
        self.inline.copy_within(i + 1..self.count, i);
        self.count -= 1;
        self.inline[self.count] = Region::EMPTY;
        if !self.extra.is_empty() {
            self.inline[self.count] = self.extra.remove(0);
            self.count += 1;
        }
        true
    }

    fn push(&mut self, region: Region) {
        if self.count < 2 {
            self.version = next_version();
        }
        if self.count < INLINE_REGIONS {
            self.inline[self.count] = region;
            self.count += 1;
        } else {
            self.extra.push(region);
        }
    }

    /// The regions, in the order they were added (the stack is not one of them).
    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.inline[..self.count].iter().chain(self.extra.iter())
    }

    /// Checks that `[addr, addr + size)` lies inside one region that allows `access`.
    #[inline(always)]
    pub fn check(&self, addr: u64, size: u64, access: Access) -> Result<(), Fault> {
        if self.stack.allows(addr, size, access) {
            return Ok(());
        }
        for r in &self.inline[..self.count] {
            if r.allows(addr, size, access) {
                return Ok(());
            }
        }
        self.check_slow(addr, size, access)
    }

    #[cold]
    fn check_slow(&self, addr: u64, size: u64, access: Access) -> Result<(), Fault> {
        if self.extra.iter().any(|r| r.allows(addr, size, access)) {
            Ok(())
        } else {
            Err(Fault::OutOfBounds { addr, size, access })
        }
    }

    /// As [`Memory::check`], trying first the region at index `*hint` of
    /// [`Memory::regions`], and leaving in `*hint` the index of the region that allowed
    /// the access: a caller whose checked accesses keep going to one region (a map
    /// value) finds it at once. Any hint is sound: the region tried first is one of this
    /// memory's regions as they are now.
    #[inline]
    pub fn check_hinted(
        &self,
        hint: &mut usize,
        addr: u64,
        size: u64,
        access: Access,
    ) -> Result<(), Fault> {
        let hinted = if *hint < self.count {
            self.inline.get(*hint)
        } else {
            self.extra.get(*hint - self.count)
        };
        if hinted.is_some_and(|r| r.allows(addr, size, access)) {
            return Ok(());
        }
        self.check_and_hint(hint, addr, size, access)
    }

    /// The rest of [`Memory::check_hinted`], out of line: the hinted region did not do.
    #[inline(never)]
    fn check_and_hint(
        &self,
        hint: &mut usize,
        addr: u64,
        size: u64,
        access: Access,
    ) -> Result<(), Fault> {
        if self.stack.allows(addr, size, access) {
            return Ok(());
        }
        match self.regions().position(|r| r.allows(addr, size, access)) {
            Some(i) => {
                *hint = i;
                Ok(())
            }
            None => Err(Fault::OutOfBounds { addr, size, access }),
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
        let n = INLINE_REGIONS + 2;
        assert_eq!(mem.regions().count(), n);
        assert!(mem.check(addrs[n - 1], 4, Access::Write).is_ok());
        // Removing an inline region pulls the first spilled one in; order is kept.
        let second = *mem.regions().nth(1).unwrap();
        assert!(mem.remove(&second));
        assert!(!mem.remove(&second));
        assert!(mem.check(addrs[1], 1, Access::Read).is_err());
        let starts: Vec<u64> = mem.regions().map(|r| r.start).collect();
        let expected: Vec<u64> = addrs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, a)| *a)
            .collect();
        assert_eq!(starts, expected);
        let last = *mem.regions().last().unwrap();
        assert!(mem.remove(&last));
        assert!(mem.check(addrs[n - 2], 4, Access::Write).is_ok());
        assert!(mem.check(addrs[n - 1], 1, Access::Read).is_err());
    }

    #[test]
    fn the_stack_lasts_one_run_and_truncate_takes_back_what_a_run_added() {
        let mut bufs = [[0u8; 4]; INLINE_REGIONS + 3];
        let addrs: Vec<u64> = bufs.iter().map(|b| b.as_ptr() as u64).collect();
        let (first, rest) = bufs.split_at_mut(2);
        let mut mem = Memory::new();
        for buf in first.iter_mut() {
            mem.add_mut(buf);
        }
        let mut stack = [0u8; 8];
        let stack_region = Region {
            start: stack.as_mut_ptr() as u64,
            len: 8,
            writable: true,
        };
        // SAFETY: `stack` outlives every check below.
        unsafe { mem.set_stack(stack_region) };
        assert!(mem.check(stack_region.start, 8, Access::Write).is_ok());
        assert_eq!(mem.len(), 2);
        let (first, version) = mem.first_two();
        assert_eq!(first.map(|r| r.start), [addrs[0], addrs[1]]);
        // A run adds regions past the inline ones; truncating keeps the first two only.
        for buf in rest.iter_mut() {
            mem.add_mut(buf);
        }
        assert_eq!(mem.len(), INLINE_REGIONS + 3);
        mem.truncate(2);
        assert_eq!(mem.len(), 2);
        assert_eq!(mem.first_two_version(), version);
        assert!(mem.check(addrs[2], 1, Access::Read).is_err());
        assert!(mem
            .check(addrs[INLINE_REGIONS + 2], 1, Access::Read)
            .is_err());
        // SAFETY: no region.
        unsafe { mem.set_stack(Region::EMPTY) };
        assert!(mem.check(stack_region.start, 1, Access::Read).is_err());
        mem.truncate(0);
        assert_eq!(mem.first_two().0, [Region::EMPTY; 2]);
        assert_ne!(mem.first_two_version(), version);
    }

    #[test]
    fn a_hint_only_speeds_up_the_check() {
        let mut bufs = [[0u8; 4]; INLINE_REGIONS + 2];
        let addrs: Vec<u64> = bufs.iter().map(|b| b.as_ptr() as u64).collect();
        let (first, rest) = bufs.split_at_mut(1);
        let mut mem = Memory::new();
        mem.add_mut(&mut first[0]);
        for buf in rest.iter_mut() {
            mem.add_ref(buf);
        }
        let mut hint = usize::MAX;
        let last = INLINE_REGIONS + 1;
        assert!(mem
            .check_hinted(&mut hint, addrs[last], 4, Access::Read)
            .is_ok());
        assert_eq!(hint, last);
        // The hinted region does not allow a write, nor the bytes past it: the check
        // goes on and refuses as `check` does.
        let refused = mem.check_hinted(&mut hint, addrs[last], 1, Access::Write);
        assert_eq!(refused, mem.check(addrs[last], 1, Access::Write));
        assert!(refused.is_err());
        assert!(mem
            .check_hinted(&mut hint, addrs[last] + 1, 4, Access::Read)
            .is_err());
        assert!(mem
            .check_hinted(&mut hint, addrs[0], 4, Access::Write)
            .is_ok());
        assert_eq!(hint, 0);
        // A hint past the regions, as after they are taken back, is only a miss.
        mem.truncate(1);
        let mut hint = last;
        assert!(mem
            .check_hinted(&mut hint, addrs[last], 1, Access::Read)
            .is_err());
        assert!(mem
            .check_hinted(&mut hint, addrs[0], 1, Access::Read)
            .is_ok());
    }
}
