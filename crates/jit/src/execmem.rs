//! Executable memory: mapped writable, filled, then made read + execute. Never writable and
//! executable at the same time.

use std::io;

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
        let map_len = code.len().max(1).div_ceil(page) * page;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mem = ExecMemory {
            ptr: ptr as *mut u8,
            len: code.len(),
            map_len,
        };
        // SAFETY: the mapping is `map_len >= code.len()` bytes, writable, and owned by us.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), mem.ptr, code.len()) };
        // SAFETY: changes the protection of our own mapping only; from here on it is
        // read + execute, never writable again.
        if unsafe { libc::mprotect(ptr, map_len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
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
        // SAFETY: unmaps exactly the mapping made in `new`; no reference to it outlives
        // `self` (`bytes` borrows `self`).
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.map_len) };
    }
}
