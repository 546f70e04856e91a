//! Helpers answering from the host: clocks, random numbers, the CPU index, and the ids and
//! name of the running thread (the kernel's `current`).

use super::linux::EINVAL;
use super::{HelperContext, HelperError};
use crate::maps::cpu;
use std::cell::Cell;

type Ret = Result<u64, HelperError>;

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the clocks used exist on every Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `u64 bpf_ktime_get_ns(void)`: `CLOCK_MONOTONIC`, which excludes suspend.
pub(super) fn ktime_get_ns(_: &mut HelperContext, _: [u64; 5]) -> Ret {
    Ok(clock_ns(libc::CLOCK_MONOTONIC))
}

/// `u64 bpf_ktime_get_boot_ns(void)`: `CLOCK_BOOTTIME`, which includes suspend.
pub(super) fn ktime_get_boot_ns(_: &mut HelperContext, _: [u64; 5]) -> Ret {
    Ok(clock_ns(libc::CLOCK_BOOTTIME))
}

/// Ticks per second of `jiffies64`: Debian's kernels are built with `CONFIG_HZ=250`.
const HZ: u64 = 250;

/// `u64 bpf_jiffies64(void)`: ticks of `1/HZ` seconds since boot.
pub(super) fn jiffies64(_: &mut HelperContext, _: [u64; 5]) -> Ret {
    Ok(clock_ns(libc::CLOCK_BOOTTIME) / (1_000_000_000 / HZ))
}

thread_local! {
    /// xorshift64* state, seeded per thread from the clock and the thread's address space
    /// position so that threads draw different sequences.
    static RANDOM: Cell<u64> = Cell::new({
        let local = 0u8;
        (clock_ns(libc::CLOCK_MONOTONIC) ^ (&local as *const u8 as u64).rotate_left(32)) | 1
    });
}

/// `u32 bpf_get_prandom_u32(void)`: a pseudo-random number, not for cryptography (as in
/// Linux).
pub(super) fn get_prandom_u32(_: &mut HelperContext, _: [u64; 5]) -> Ret {
    Ok(RANDOM.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32
    }))
}

/// `u32 bpf_get_smp_processor_id(void)`: the thread's CPU index, the one per-CPU maps use.
pub(super) fn get_smp_processor_id(_: &mut HelperContext, _: [u64; 5]) -> Ret {
    Ok(cpu::current() as u64)
}

/// `u64 bpf_get_current_pid_tgid(void)`: the process id (the kernel's tgid) in the upper
/// 32 bits, the thread id (the kernel's pid) in the lower.
pub(super) fn get_current_pid_tgid(_: &mut HelperContext, _: [u64; 5]) -> Ret {
    // SAFETY: getpid and gettid have no preconditions.
    let (tgid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
    Ok(((tgid as u64) << 32) | tid as u32 as u64)
}

/// `u64 bpf_get_current_uid_gid(void)`: group id in the upper 32 bits, user id in the
/// lower.
pub(super) fn get_current_uid_gid(_: &mut HelperContext, _: [u64; 5]) -> Ret {
    // SAFETY: getuid and getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    Ok(((gid as u64) << 32) | uid as u64)
}

/// `long bpf_get_current_comm(void *buf, u32 size)`: the thread's name, truncated to
/// `size - 1` bytes and NUL-terminated (`strscpy`); `-EINVAL` for a zero size.
pub(super) fn get_current_comm(ctx: &mut HelperContext, a: [u64; 5]) -> Ret {
    let size = a[1] as u32 as u64;
    if size == 0 {
        return Ok(EINVAL);
    }
    let buf = ctx.memory.slice_mut(a[0], size)?;
    // TASK_COMM_LEN is 16: PR_GET_NAME writes up to 16 bytes, NUL included.
    let mut comm = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes into the buffer it is given.
    unsafe { libc::prctl(libc::PR_GET_NAME, comm.as_mut_ptr()) };
    let len = comm.iter().position(|b| *b == 0).unwrap_or(16);
    let n = len.min(buf.len() - 1);
    buf[..n].copy_from_slice(&comm[..n]);
    buf[n] = 0;
    Ok(0)
}
