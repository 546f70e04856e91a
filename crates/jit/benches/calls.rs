//! The cost of a tail call and of a `bpf_loop` iteration, in bpfkit's interpreter, its JIT
//! and, where this process may load BPF programs and bpftool is installed, the kernel's
//! JIT through `BPF_PROG_TEST_RUN`, measured in the same run on the fixtures of
//! crates/vm/tests/calls:
//! - `tc_spin` tail-calls itself through a program array until the limit: 33 tail calls
//!   per run, each after 3 instructions (`r2 = map; r3 = 0; call bpf_tail_call`);
//! - `loop_bench` calls `bpf_loop(1000, add_index, &sum, 0)`, a 7-instruction callback
//!   adding the index to a stack variable.
//!
//! The time per run is divided by 33 tail calls, or 1000 iterations: the figure includes
//! the instructions around each call and the run's own entry and exit, spread over them.
//! User-space engines are timed in thread CPU time, as the JIT benchmark does; the kernel
//! reports its own average over the repetitions (bpftool `prog run ... repeat N`).
//!
//! Run with `cargo bench -p bpfkit-jit --bench calls`.

#[path = "../tests/calls/engines.rs"]
mod engines;

use criterion::{criterion_group, criterion_main, Criterion};
use engines::{input_file, kernel_run, load, Kind};
use std::time::Duration;

/// (object, program, result, calls per run).
const CASES: [(&str, &str, u64, u64); 2] = [
    ("tail_calls", "tc_spin", 1, 33),
    ("callbacks", "loop_bench", 499500, 1000),
];

/// CPU time of the calling thread.
fn thread_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn calls(c: &mut Criterion) {
    let pins = std::path::PathBuf::from(format!("/sys/fs/bpf/bpfkit-bench-{}", std::process::id()));
    let kernel = match bpfkit_kernel::available() {
        Err(why) => {
            eprintln!("kernel left out: {why}");
            false
        }
        Ok(()) => std::fs::create_dir_all(&pins).is_ok(),
    };
    for (object, program, result, per_run) in CASES {
        let mut group = c.benchmark_group(format!("{program}-per-call"));
        for (name, kind) in [("bpfkit-interp", Kind::Interp), ("bpfkit-jit", Kind::Jit)] {
            let mut loaded = load(object, kind);
            let run = loaded.run(program).expect("run");
            assert_eq!(run.r0, result, "{program} on {name}");
            group.bench_function(name, |b| {
                b.iter_custom(|n| {
                    let start = thread_time();
                    for _ in 0..n {
                        std::hint::black_box(loaded.run(program).expect("run"));
                    }
                    (thread_time() - start) / per_run as u32
                })
            });
        }
        let in_kernel = kernel
            .then(|| kernel_run(&pins, object, program, 1))
            .transpose()
            .unwrap_or_else(|e| {
                eprintln!("{program}: kernel left out: {e}");
                None
            });
        match in_kernel {
            Some((r0, _)) if r0 == result => {
                group.bench_function("kernel-jit", |b| {
                    b.iter_custom(|n| {
                        let repeat = n.clamp(1, 1 << 20) as u32;
                        let (_, ns) = kernel_run(&pins, object, program, repeat).expect("kernel");
                        Duration::from_nanos(ns * n) / per_run as u32
                    })
                });
            }
            Some((r0, _)) => eprintln!("{program}: kernel gives {r0}: left out"),
            None => {}
        }
        group.finish();
    }
    let _ = std::fs::remove_dir_all(&pins);
    let _ = std::fs::remove_file(input_file());
}

criterion_group!(benches, calls);
criterion_main!(benches);
