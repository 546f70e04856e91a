//! Executable memory: chunks shared by many programs, mapped read + execute and never
//! writable; code gets into them through the file they map, never through a mapping.
//!
//! Making memory executable costs system calls that take far longer than compiling a small
//! program: an `mprotect` changes page tables, splits and merges the process's memory
//! areas and flushes the TLB (microseconds each, two per program when a mapping is
//! written, then protected, then recycled). As Linux's `bpf_prog_pack` does, programs
//! share big chunks instead, in 64-byte units; and as Linux writes into its read-only
//! chunks through a temporary writable mapping that no other CPU sees (`text_poke`), code
//! gets into a chunk here without any writable mapping: each chunk is a memfd, mapped
//! shared, read + execute only, and the code is written into the file with one `pwrite`.
//! Written so, the code is never writable through any address of the process, at no
//! moment: stricter than a writable alias of the chunk (a second, read + write mapping of
//! the same file, which would spare the system call but leave every program's code
//! writable for as long as it lives). Compiling costs one `pwrite` (a copy into the file's
//! pages, no page-table change) and releasing costs none.
//!
//! What Linux does that this does not: released space is not overwritten with traps (that
//! would cost a second system call per program); the gap after each program up to its
//! unit boundary is written with `int3`, and a program's code is only reachable through
//! the `ExecMemory` that owns it.
//!
//! The chunks are shared with a child process after `fork` (they are shared mappings): so
//! that neither process then writes code where the other runs some, a fork retires every
//! chunk that exists at that moment, in the parent and in the child (their space is not
//! reused; a retired chunk is unmapped when its last program goes). Processes created
//! without libc's `fork` (a raw `clone` sharing no memory, `vfork` followed by `exec`)
//! need nothing of this.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

/// Bytes per allocation unit: programs start on a cache line.
const UNIT: usize = 64;
/// Size of a shared chunk; a program larger than this gets a chunk of its own size.
const CHUNK: usize = 2 << 20;
/// `memfd_create`'s flag asking for an executable memfd where the system's policy
/// (`vm.memfd_noexec`) would otherwise refuse to map one executable (Linux 6.3 and later).
const MFD_EXEC: libc::c_uint = 0x10;
/// Filler after a program up to its unit boundary.
const INT3: u8 = 0xcc;

/// How many forks this process has seen (counted by the `pthread_atfork` handlers): a
/// chunk made before the last one is retired.
static FORKS: AtomicU64 = AtomicU64::new(0);
static AT_FORK: Once = Once::new();
static CHUNKS: Mutex<Vec<Chunk>> = Mutex::new(Vec::new());

extern "C" fn count_fork() {
    // Async-signal-safe: an atomic increment, no lock (in the child, another thread of
    // the parent may have held the chunks' lock at the fork).
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// A memfd of `len` bytes mapped read + execute at `base`, with a bit per unit in use.
struct Chunk {
    fd: libc::c_int,
    base: usize,
    len: usize,
    used: Vec<u64>,
    /// Programs in the chunk.
    live: usize,
    /// The value of [`FORKS`] when the chunk was made.
    forks: u64,
}

impl Chunk {
    fn new(len: usize) -> io::Result<Chunk> {
        AT_FORK.call_once(|| {
            // SAFETY: registers handlers that only increment an atomic.
            unsafe { libc::pthread_atfork(None, Some(count_fork), Some(count_fork)) };
        });
        let name = c"bpfkit-jit";
        // SAFETY: the name is a C string; memfd_create has no other precondition.
        let mut fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | MFD_EXEC) };
        if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            // A kernel older than MFD_EXEC, whose memfds are all executable.
            // SAFETY: as above.
            fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        }
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is ours; ftruncate sizes the file, a shared mapping of it at an
        // address of the kernel's choosing touches no existing memory.
        let base = unsafe {
            if libc::ftruncate(fd, len as libc::off_t) != 0 {
                let e = io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            // SAFETY: `fd` is ours and nothing else refers to it.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        Ok(Chunk {
            fd,
            base: base as usize,
            len,
            used: vec![0; (len / UNIT).div_ceil(64)],
            live: 0,
            forks: FORKS.load(Ordering::Relaxed),
        })
    }

    fn units(&self) -> usize {
        self.len / UNIT
    }

    fn is_used(&self, unit: usize) -> bool {
        self.used[unit / 64] >> (unit % 64) & 1 != 0
    }

    /// The first of `n` free units in a row, first fit.
    fn find(&self, n: usize) -> Option<usize> {
        let mut run = 0;
        let mut unit = 0;
        while unit < self.units() {
            let word = self.used[unit / 64];
            // Whole words at once where they are all used or all free.
            if unit % 64 == 0 && unit + 64 <= self.units() && (word == 0 || word == u64::MAX) {
                run = if word == 0 { run + 64 } else { 0 };
                unit += 64;
            } else {
                run = if self.is_used(unit) { 0 } else { run + 1 };
                unit += 1;
            }
            if run >= n {
                return Some(unit - run);
            }
        }
        None
    }

    fn mark(&mut self, first: usize, n: usize, used: bool) {
        for unit in first..first + n {
            let bit = 1u64 << (unit % 64);
            if used {
                self.used[unit / 64] |= bit;
            } else {
                self.used[unit / 64] &= !bit;
            }
        }
    }

    /// Writes `bytes` into the file at `off`.
    fn write(&self, mut off: usize, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            // SAFETY: writes from a live slice into our own file.
            let n = unsafe {
                libc::pwrite(
                    self.fd,
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    off as libc::off_t,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            off += n as usize;
            bytes = &bytes[n as usize..];
        }
        Ok(())
    }

    fn release(self) {
        // SAFETY: the mapping and the file are ours, and no program is left in them.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
            libc::close(self.fd);
        }
    }
}

/// Read-only, executable code, in a chunk shared with other programs; its space is freed
/// on drop.
pub(crate) struct ExecMemory {
    ptr: *const u8,
    len: usize,
    /// Units taken, from the unit `ptr` is at.
    units: usize,
}

// SAFETY: the code is never written after `new` returns; sharing read-only memory between
// threads is sound.
unsafe impl Send for ExecMemory {}
// SAFETY: as above.
unsafe impl Sync for ExecMemory {}

impl ExecMemory {
    /// Copies `code` into executable memory. `code` is extended with the filler up to
    /// the unit boundary (the caller's buffer, so that no copy is made here).
    pub fn new(code: &mut Vec<u8>) -> io::Result<ExecMemory> {
        let len = code.len();
        let units = len.max(1).div_ceil(UNIT);
        code.resize(units * UNIT, INT3);
        let mut chunks = CHUNKS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let forks = FORKS.load(Ordering::Relaxed);
        // Empty chunks a fork retired (the one kept for the next programs) go now.
        while let Some(i) = chunks.iter().position(|c| c.live == 0 && c.forks != forks) {
            chunks.swap_remove(i).release();
        }
        let found = chunks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.forks == forks)
            .find_map(|(i, c)| Some((i, c.find(units)?)));
        let (i, first) = match found {
            Some(at) => at,
            None => {
                let size = CHUNK.max(units * UNIT);
                chunks.push(Chunk::new(size)?);
                (chunks.len() - 1, 0)
            }
        };
        let chunk = &mut chunks[i];
        chunk.write(first * UNIT, code)?;
        chunk.mark(first, units, true);
        chunk.live += 1;
        Ok(ExecMemory {
            ptr: (chunk.base + first * UNIT) as *const u8,
            len,
            units,
        })
    }

    /// Address of the first byte.
    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }

    /// The code bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is readable, holds at least `len` bytes from `ptr`, lives
        // as long as `self` and is not written after `new`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for ExecMemory {
    fn drop(&mut self) {
        let mut chunks = CHUNKS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let addr = self.ptr as usize;
        let Some(i) = chunks
            .iter()
            .position(|c| (c.base..c.base + c.len).contains(&addr))
        else {
            return;
        };
        let chunk = &mut chunks[i];
        chunk.mark((addr - chunk.base) / UNIT, self.units, false);
        chunk.live -= 1;
        // An empty chunk is kept for the next programs, unless a fork retired it, it
        // was made for one big program, or another empty chunk is kept already.
        let forks = FORKS.load(Ordering::Relaxed);
        let keep = chunk.forks == forks
            && chunk.len == CHUNK
            && !chunks
                .iter()
                .enumerate()
                .any(|(j, c)| j != i && c.live == 0 && c.forks == forks && c.len == CHUNK);
        if chunks[i].live == 0 && !keep {
            chunks.swap_remove(i).release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_over_the_unit_bitmap() {
        let mut c = Chunk::new(256 * UNIT).expect("memfd chunk");
        assert_eq!(c.units(), 256);
        c.mark(0, 3, true);
        assert_eq!(c.find(2), Some(3));
        // Units 3..73 taken, across the first word boundary: 73..256 (183 units) free.
        c.mark(3, 70, true);
        assert_eq!(c.find(1), Some(73));
        assert_eq!(c.find(183), Some(73));
        assert_eq!(c.find(184), None);
        // Unit 100 taken: 73..100 holds 27, 101..256 holds 155.
        c.mark(100, 1, true);
        assert_eq!(c.find(27), Some(73));
        assert_eq!(c.find(28), Some(101));
        assert_eq!(c.find(156), None);
        c.mark(0, 73, false);
        assert_eq!(c.find(100), Some(0));
        c.release();
    }

    #[test]
    fn code_reads_back_small_and_larger_than_a_chunk() {
        for len in [1, UNIT, 5000, CHUNK + 3 * UNIT + 5] {
            let code: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let mut buf = code.clone();
            let mem = ExecMemory::new(&mut buf).expect("executable memory");
            assert_eq!(mem.bytes(), &code[..]);
            assert_eq!(mem.addr() % UNIT as u64, 0, "programs start on a unit");
            // The filler after the code, up to the unit boundary, is int3.
            assert!(buf[len..].iter().all(|&b| b == INT3));
            assert_eq!(buf.len() % UNIT, 0);
        }
    }
}
