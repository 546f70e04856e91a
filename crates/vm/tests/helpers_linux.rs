//! The Linux helpers that do not touch maps, called from programs in the interpreter.
//! Expected values come from the helpers' documentation in `linux/bpf.h` and from the
//! host's own system calls.

use bpfkit_isa::assemble;
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::{cpu, MapTable};
use bpfkit_vm::{Helpers, Interpreter, VmError};

fn run_on(text: &str, mem: &mut [u8]) -> Result<u64, VmError> {
    let runtime = Runtime::new(MapTable::new());
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let mut vm = Interpreter::new(&assemble(text).unwrap(), &helpers).unwrap();
    vm.run_mem(mem).map(|o| o.r0)
}

fn run(text: &str) -> u64 {
    run_on(text, &mut []).unwrap()
}

#[test]
fn clocks_ids_and_random() {
    // bpf_ktime_get_ns is CLOCK_MONOTONIC: between two readings of ours.
    let before = now(libc::CLOCK_MONOTONIC);
    let t = run("call 5\nexit");
    assert!(before <= t && t <= now(libc::CLOCK_MONOTONIC));
    let before = now(libc::CLOCK_BOOTTIME);
    let t = run("call 125\nexit");
    assert!(before <= t && t <= now(libc::CLOCK_BOOTTIME));
    // jiffies64 at HZ=250 counts 4 ms ticks of the boot clock.
    let j = run("call 118\nexit");
    let boot_ticks = now(libc::CLOCK_BOOTTIME) / 4_000_000;
    assert!(j <= boot_ticks && boot_ticks - j <= 1);
    // bpf_get_current_pid_tgid: tgid << 32 | pid, i.e. process id high, thread id low.
    let (pid, tid) = unsafe { (libc::getpid() as u64, libc::gettid() as u64) };
    assert_eq!(run("call 14\nexit"), pid << 32 | tid);
    let (uid, gid) = unsafe { (libc::getuid() as u64, libc::getgid() as u64) };
    assert_eq!(run("call 15\nexit"), gid << 32 | uid);
    assert!(run("call 8\nexit") < cpu::possible() as u64);
    // get_prandom_u32 returns 32 bits that vary: 8 draws are not all equal.
    let draws: Vec<u64> = (0..8).map(|_| run("call 7\nexit")).collect();
    assert!(draws.iter().all(|d| *d <= u32::MAX as u64));
    assert!(draws.iter().any(|d| *d != draws[0]));
}

fn now(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// strtol/strtoul on the string at r1 (length in r2), base in `flags`: returns the value
/// stored in `*res`, or the helper's result if negative.
fn strto(helper: u32, s: &str, flags: u32) -> i64 {
    let text = format!(
        "r6 = r10
        r6 += -8
        r3 = {flags}
        r4 = r6
        call {helper}
        if r0 s< 0 goto out
        r0 = *(u64 *)(r6 + 0)
    out:
        exit"
    );
    run_on(&text, &mut s.as_bytes().to_vec()).unwrap() as i64
}

#[test]
fn strtol_and_strtoul() {
    // bpf.h: "-ERANGE if the result overflowed", "-EINVAL if no valid digits were found
    // or unsupported base was provided"; strtoul refuses a minus sign.
    assert_eq!(strto(105, " -123", 10), -123);
    assert_eq!(strto(105, "0x7f", 0), 127);
    assert_eq!(strto(105, "9223372036854775808", 10), -34);
    assert_eq!(strto(105, "-9223372036854775808", 10), i64::MIN);
    assert_eq!(strto(105, "zz", 10), -22);
    assert_eq!(strto(105, "12", 3), -22);
    assert_eq!(strto(106, "-1", 10), -22);
    assert_eq!(strto(106, "18446744073709551615", 10), -1, "u64::MAX");
}

#[test]
fn snprintf_formats_into_a_buffer() {
    // fmt "%d-%s\0" at mem[0..8], the string "ab\0" at mem[8..11], output at mem[16..24],
    // the two u64 arguments on the stack.
    let mut mem = [0u8; 24];
    mem[..6].copy_from_slice(b"%d-%s\0");
    mem[8..11].copy_from_slice(b"ab\0");
    let text = "
        r6 = r1
        *(u64 *)(r10 - 16) = -7
        r2 = r6
        r2 += 8
        *(u64 *)(r10 - 8) = r2
        r1 = r6
        r1 += 16
        r2 = 4
        r3 = r6
        r4 = r10
        r4 += -16
        r5 = 16
        call 165
        exit";
    // "-7-ab" is 5 characters: the helper returns 6 (NUL included) and, with a 4-byte
    // buffer, writes the first 3 and a NUL.
    assert_eq!(run_on(text, &mut mem).unwrap(), 6);
    assert_eq!(&mem[16..20], b"-7-\0");
}

#[test]
fn spin_lock_then_unlock_and_double_lock_fails() {
    let mut mem = [0u8; 8];
    let lock_unlock = "
        r6 = r1
        call 93
        r7 = *(u32 *)(r6 + 0)
        r1 = r6
        call 94
        r0 = r7
        exit";
    // While held, the lock word is non-zero; afterwards it is released.
    assert_eq!(run_on(lock_unlock, &mut mem).unwrap(), 1);
    assert_eq!(mem[..4], [0; 4]);
    // Locking twice would spin forever: the run ends with an error after a second.
    let twice = "
        r6 = r1
        call 93
        r1 = r6
        call 93
        exit";
    assert!(run_on(twice, &mut mem).is_err());
}
