//! Copying to and from map memory that programs on other threads may be writing at the
//! same time. Plain copies would be data races, which Rust does not allow even where the
//! kernel tolerates torn values; relaxed atomic accesses compile to the same plain moves on
//! x86-64 and arm64, so the copies below cost nothing more and are sound. A value copied
//! while a program writes it may be torn, as in Linux.
//!
//! Map memory is always allocated as `AtomicU64`s, so every value starts 8-byte aligned.

use super::error::MapError;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

/// Copies `src` to map memory at `dst`.
///
/// # Safety
/// `[dst, dst + src.len())` lies inside one live allocation of map memory and `dst` is
/// 8-byte aligned.
pub(super) unsafe fn write(dst: *mut u8, src: &[u8]) {
    let words = src.len() / 8;
    for (i, chunk) in src.chunks_exact(8).enumerate() {
        let w = u64::from_ne_bytes(chunk.try_into().unwrap());
        // SAFETY: inside the allocation and aligned, per the contract; all access to map
        // memory from Rust is atomic.
        unsafe { AtomicU64::from_ptr(dst.add(i * 8) as *mut u64).store(w, Relaxed) };
    }
    for (i, b) in src[words * 8..].iter().enumerate() {
        unsafe { AtomicU8::from_ptr(dst.add(words * 8 + i)).store(*b, Relaxed) };
    }
}

/// Copies map memory at `src` into `dst`.
///
/// # Safety
/// As for [`write`], for `[src, src + dst.len())`.
pub(super) unsafe fn read(src: *const u8, dst: &mut [u8]) {
    let words = dst.len() / 8;
    for (i, chunk) in dst.chunks_exact_mut(8).enumerate() {
        // SAFETY: as in `write`.
        let w = unsafe { AtomicU64::from_ptr(src.add(i * 8) as *mut u64).load(Relaxed) };
        chunk.copy_from_slice(&w.to_ne_bytes());
    }
    for (i, b) in dst[words * 8..].iter_mut().enumerate() {
        *b = unsafe { AtomicU8::from_ptr(src.add(words * 8 + i) as *mut u8).load(Relaxed) };
    }
}

/// Zeroes `len` bytes of map memory at `dst`.
///
/// # Safety
/// As for [`write`].
pub(super) unsafe fn zero(dst: *mut u8, len: usize) {
    const ZEROS: [u8; 64] = [0; 64];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(64);
        // SAFETY: inside the range given by the caller; 64 keeps 8-byte alignment.
        unsafe { write(dst.add(done), &ZEROS[..n]) };
        done += n;
    }
}

/// A zeroed block of `len` bytes (rounded up to 8) of map memory: a stable allocation,
/// never moved, freed when dropped. `-ENOMEM` when the host cannot provide it.
pub(super) fn alloc(len: usize) -> Result<Box<[AtomicU64]>, MapError> {
    let words = len.div_ceil(8);
    let mut block = Vec::new();
    block
        .try_reserve_exact(words)
        .map_err(|_| MapError::NoMemory)?;
    block.extend((0..words).map(|_| AtomicU64::new(0)));
    Ok(block.into_boxed_slice())
}

/// The address of a block from [`alloc`]. Writing through it is allowed: the memory is
/// made of atomics, which are interior-mutable.
pub(super) fn base(block: &[AtomicU64]) -> *mut u8 {
    block.as_ptr() as *mut u8
}
