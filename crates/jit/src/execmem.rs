//! Executable memory: mapped writable, filled, then made read + execute. Never writable and
//! executable at the same time.
//!
//! Mapping and unmapping cost far more than compiling a small program (page faults, TLB
//! shootdowns), so dropped mappings are made read + write (no longer executable) and kept in
//! a small pool, from which the next compilation takes one: compiling then costs one
//! `mprotect`.

use std::io;
use std::sync::Mutex;

/// A mapping of `len` bytes at `addr`, read + write, owned by the pool.
struct Free {
    addr: usize,
    len: usize,
}

/// Most mappings the pool keeps.
const POOL_MAX: usize = 64;
static POOL: Mutex<Vec<Free>> = Mutex::new(Vec::new());

/// A read + write mapping of at least `len` bytes: from the pool, or new.
fn take(len: usize) -> io::Result<Free> {
    if let Ok(mut pool) = POOL.lock() {
        if let Some(i) = pool.iter().position(|f| f.len >= len) {
            return Ok(pool.swap_remove(i));
        }
    }
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
    // existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(Free {
        addr: ptr as usize,
        len,
    })
}

/// Returns a mapping nobody executes any more to the pool (read + write), or unmaps it.
fn give_back(addr: usize, len: usize) {
    // SAFETY: the mapping is ours and no code runs in it any more (its `ExecMemory` is
    // being dropped, and runs borrow the `ExecMemory`).
    let writable = unsafe {
        libc::mprotect(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
        )
    } == 0;
    if writable {
        if let Ok(mut pool) = POOL.lock() {
            if pool.len() < POOL_MAX {
                pool.push(Free { addr, len });
                return;
            }
        }
    }
    // SAFETY: as above; the mapping is not in the pool, so nothing refers to it.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

/// A read-only, executable copy of generated code, unmapped on drop.
pub(crate) struct ExecMemory {
    ptr: *mut u8,
    len: usize,
    map_len: usize,
}

// SAFETY: the mapping is never written after `new` returns; sharing read-only memory
// between threads is sound.
unsafe impl Send for ExecMemory {}
// SAFETY: as above.
unsafe impl Sync for ExecMemory {}

impl ExecMemory {
    /// Maps `code` as executable memory.
    pub fn new(code: &[u8]) -> io::Result<ExecMemory> {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let free = take(code.len().max(1).div_ceil(page) * page)?;
        let mem = ExecMemory {
            ptr: free.addr as *mut u8,
            len: code.len(),
            map_len: free.len,
        };
        // SAFETY: the mapping is `map_len >= code.len()` bytes, read + write, and ours.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), mem.ptr, code.len()) };
        // SAFETY: changes the protection of our own mapping only; from here on it is
        // read + execute, never writable while it belongs to this `ExecMemory`.
        let prot = libc::PROT_READ | libc::PROT_EXEC;
        if unsafe { libc::mprotect(mem.ptr as *mut libc::c_void, mem.map_len, prot) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(mem)
    }

    /// Address of the first byte.
    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }

    /// The code bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is readable, at least `len` bytes long, lives as long as
        // `self` and is never written after `new`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for ExecMemory {
    fn drop(&mut self) {
        give_back(self.ptr as usize, self.map_len);
    }
}
