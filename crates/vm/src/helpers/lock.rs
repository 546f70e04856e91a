//! `bpf_spin_lock` and `bpf_spin_unlock` on a `struct bpf_spin_lock` (a `u32`) in a map
//! value: a test-and-set lock, as Linux's on x86-64 (`arch_spin_lock` over a queued lock).
//!
//! Linux's verifier guarantees that a program unlocks what it locked and calls no helper
//! in between; an unchecked program could lock twice and spin forever, so a lock not
//! obtained within [`PATIENCE`] ends the run with an error instead.

use super::{HelperContext, HelperError};
use crate::error::{Access, Fault};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long `bpf_spin_lock` waits before declaring a deadlock.
const PATIENCE: Duration = Duration::from_secs(1);

/// The lock word at `addr`, checked: writable program memory, 4-byte aligned.
fn word<'a>(ctx: &'a mut HelperContext, addr: u64) -> Result<&'a AtomicU32, HelperError> {
    ctx.memory.check(addr, 4, Access::Write)?;
    if !addr.is_multiple_of(4) {
        return Err(Fault::Misaligned { addr, size: 4 }.into());
    }
    // SAFETY: checked above to lie in a live writable region and aligned; shared map memory
    // is only accessed atomically or by copies.
    Ok(unsafe { AtomicU32::from_ptr(addr as *mut u32) })
}

/// `long bpf_spin_lock(struct bpf_spin_lock *lock)`.
pub(super) fn spin_lock(ctx: &mut HelperContext, a: [u64; 5]) -> Result<u64, HelperError> {
    let lock = word(ctx, a[0])?;
    let start = Instant::now();
    let mut spins = 0u32;
    while lock
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spins += 1;
        if spins.is_multiple_of(1024) {
            if start.elapsed() > PATIENCE {
                return Err(HelperError::Failed(format!(
                    "spin lock at {:#x} still held after {PATIENCE:?} (locked twice?)",
                    a[0]
                )));
            }
            std::thread::yield_now();
        }
        std::hint::spin_loop();
    }
    Ok(0)
}

/// `long bpf_spin_unlock(struct bpf_spin_lock *lock)`.
pub(super) fn spin_unlock(ctx: &mut HelperContext, a: [u64; 5]) -> Result<u64, HelperError> {
    word(ctx, a[0])?.store(0, Ordering::Release);
    Ok(0)
}
