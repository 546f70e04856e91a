//! Map operations: ns per lookup and per update of array, hash and lru_hash maps, from user
//! space and from a program run by the interpreter and by the JIT, against
//! `std::collections::HashMap` and the kernel in the same run; and the throughput of two
//! threads on one map.
//!
//! Every map has 4-byte keys, 8-byte values and 1024 entries, all present; operations
//! cycle through the keys in a scattered order (multiplying by an odd constant), so that
//! hash lookups are not served by one hot bucket.
//!
//! From a program, each iteration is one run of a program that does the operation once:
//! `lookup` finds the key given in its memory and atomically adds 1 to the value; `update`
//! writes the value for that key. `empty` runs a program that only returns, the run's own
//! cost, to subtract. `lookup16` does 16 lookups and adds per run, on 16 fixed keys, so
//! that the run's own cost is shared by 16 lookups. The same programs run in the
//! interpreter (`maps/interp`) and JIT-compiled (`maps/jit`), where a lookup on a map
//! known when compiling calls the map's lookup directly (arrays: inline), as in Linux;
//! and JIT-compiled with the verifier's facts (`maps/jit_verified`), where the accesses
//! to the value it proved have no bounds check, as in Linux (the program first checks
//! that its memory holds the keys it reads, which the verifier asks for).
//!
//! Times are CPU times of the measuring thread (see `cpu_time`), per operation.
//!
//! Two threads: each thread does `iters` lookups with an atomic add of the value, over the
//! same keys; timed twice, as the wall time of both per operation of one thread, and as
//! the CPU time of both per operation (halved). The baseline is `Mutex<HashMap>`.
//!
//! The kernel: the same map types created with bpf(2), and XDP programs doing the same
//! lookup and atomic add, or the same update, run by `BPF_PROG_TEST_RUN` (the kernel's JIT
//! where enabled) with `repeat` = the iteration count; its average `duration` is the time
//! per iteration (whole nanoseconds). Its keys come from the packet and are the same on
//! every run.
//! `kernel/empty` is an XDP program that only returns. Skipped, saying why, where this
//! process may not load BPF.
//!
//! Run with `cargo bench -p bpfkit-vm --bench maps`.

use bpfkit_isa::{assemble, encode_program};
use bpfkit_jit::{JitOptions, JitProgram, ProvenAccesses, ProvenRegion};
use bpfkit_kernel::{KernelMap, ProgType, Program, TestRun};
use bpfkit_verifier::{verify, Region, VerifierOptions};
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::{self, Map, MapSpec, MapTable, MapType, BPF_ANY};
use bpfkit_vm::{Engine, Helpers, Interpreter, Invocation};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ENTRIES: u32 = 1024;

/// The i-th key of the scattered order.
fn key(i: u64) -> u32 {
    (i.wrapping_mul(0x9e37_79b9) % ENTRIES as u64) as u32
}

fn filled(map_type: MapType) -> Arc<dyn Map> {
    let map = maps::create(&MapSpec::new(map_type, 4, 8, ENTRIES)).unwrap();
    for k in 0..ENTRIES {
        map.update(&k.to_ne_bytes(), &0u64.to_ne_bytes(), BPF_ANY)
            .unwrap();
    }
    map
}

const TYPES: [(&str, MapType); 3] = [
    ("array", MapType::Array),
    ("hash", MapType::Hash),
    ("lru_hash", MapType::LruHash),
];

/// CPU time used so far by this thread or by the whole process. Times are CPU times, not
/// wall time, so that the time other work on a busy machine takes the CPU away is not
/// counted; `BPF_PROG_TEST_RUN` likewise stops its clock while it reschedules.
fn cpu_time(clock: libc::clockid_t) -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    let rc = unsafe { libc::clock_gettime(clock, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// This thread's CPU time for `op(i)`, `i` in `0..iters`.
fn timed<T>(iters: u64, mut op: impl FnMut(u64) -> T) -> Duration {
    let start = cpu_time(libc::CLOCK_THREAD_CPUTIME_ID);
    for i in 0..iters {
        black_box(op(i));
    }
    cpu_time(libc::CLOCK_THREAD_CPUTIME_ID) - start
}

fn user_space(c: &mut Criterion) {
    let mut g = c.benchmark_group("maps/user");
    for (name, map_type) in TYPES {
        let map = filled(map_type);
        g.bench_function(BenchmarkId::new("lookup", name), |b| {
            let mut out = [0u8; 8];
            b.iter_custom(|iters| {
                timed(iters, |i| {
                    map.lookup(&key(i).to_ne_bytes(), &mut out).unwrap();
                    out
                })
            })
        });
        g.bench_function(BenchmarkId::new("update", name), |b| {
            b.iter_custom(|iters| {
                timed(iters, |i| {
                    map.update(&key(i).to_ne_bytes(), &i.to_ne_bytes(), BPF_ANY)
                        .unwrap()
                })
            })
        });
    }
    let mut std_map: HashMap<u32, u64> = (0..ENTRIES).map(|k| (k, 0)).collect();
    g.bench_function(BenchmarkId::new("lookup", "std_hashmap"), |b| {
        b.iter_custom(|iters| timed(iters, |i| std_map.get(&key(i)).copied()))
    });
    g.bench_function(BenchmarkId::new("update", "std_hashmap"), |b| {
        b.iter_custom(|iters| {
            timed(iters, |i| {
                std_map.insert(key(i), i);
            })
        })
    });
    g.finish();
}

/// The key is the u32 at r1; the value is updated in place (lookup) or replaced (update).
const LOOKUP: &str = "
    r2 = r1
    r1 = map[idx:0]
    call 1
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
out:
    r0 = 0
    exit";
const UPDATE: &str = "
    r2 = r1
    *(u64 *)(r10 - 8) = 7
    r3 = r10
    r3 += -8
    r1 = map[idx:0]
    r4 = 0
    call 2
    exit";
const EMPTY: &str = "
    r0 = 0
    exit";

/// Lookups per run of the `lookup16` programs.
const BATCH: usize = 16;

/// The keys of a `lookup16` run, one after the other (the memory of bpfkit's run, the
/// packet of the kernel's).
fn batch_keys() -> [u8; 4 * BATCH] {
    let mut keys = [0u8; 4 * BATCH];
    for (j, k) in keys.chunks_exact_mut(4).enumerate() {
        k.copy_from_slice(&key(j as u64).to_ne_bytes());
    }
    keys
}

/// `BATCH` times the lookup and atomic add of [`LOOKUP`], on the `BATCH` keys at r6, each
/// lookup right after its `lddw` of the map as compilers emit it: the per-run cost is
/// shared by `BATCH` lookups, so that it no longer dominates the figure. `map` is how the
/// map is named.
fn lookup_batch(map: &str) -> String {
    (0..BATCH)
        .map(|i| {
            format!(
                "r2 = r6\nr2 += {}\nr1 = {map}\ncall 1\nif r0 == 0 goto l{i}\nr1 = 1\n\
                 lock *(u64 *)(r0 + 0) += r1\nl{i}:\n",
                4 * i
            )
        })
        .collect()
}

/// The engines a program runs on.
#[derive(Clone, Copy)]
enum Kind {
    Interp,
    Jit,
    /// The JIT given what the verifier proved, as `bpfkit` compiles verified programs:
    /// proven accesses to the stack and to map values have no bounds check. The program
    /// is verified as bpfkit's 'memory' type over the map, after a check of the memory's
    /// length (r2) against the bytes the program reads from it.
    JitVerified,
}

/// `text` relocated against a table holding `map`, prepared for `kind` with Linux's
/// helpers; the program reads `len` bytes of its memory.
fn program(kind: Kind, map: &Arc<dyn Map>, text: &str, len: u32) -> Box<dyn Engine + Send> {
    let mut table = MapTable::new();
    table.push(map.clone());
    let runtime = Runtime::new(table);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let text = match kind {
        Kind::JitVerified if len > 0 => format!("if r2 >= {len} goto +2\nr0 = 0\nexit\n{text}"),
        _ => text.to_string(),
    };
    let insns = assemble(&text).unwrap();
    let code = runtime.maps.relocate(&insns).unwrap();
    match kind {
        Kind::Interp => Box::new(Interpreter::new(&code, &helpers).unwrap()),
        Kind::Jit => Box::new(JitProgram::new(&code, &helpers).unwrap()),
        Kind::JitVerified => {
            let spec = map.spec();
            let options = VerifierOptions {
                maps: vec![bpfkit_verifier::MapSpec {
                    map_type: spec.map_type as u32,
                    key_size: spec.key_size,
                    value_size: spec.value_size,
                    max_entries: spec.max_entries,
                    flags: spec.flags,
                    ..bpfkit_verifier::MapSpec::default()
                }],
                ..VerifierOptions::default()
            };
            let verified = verify(&insns, &bpfkit_verifier::ProgType::MEMORY, &options).unwrap();
            let region_of = |pc: usize| match verified.facts[pc].access? {
                Region::Stack => Some(ProvenRegion::Stack),
                Region::Packet => Some(ProvenRegion::Packet),
                Region::MapValue => Some(ProvenRegion::MapValue),
                _ => None,
            };
            // SAFETY: `verified` accepted the instructions `code` was relocated from, over
            // the map `code` runs with (the only one of its table, whose lookup helper is
            // Linux's), as the 'memory' type, which `run` runs it as.
            let proven = unsafe { ProvenAccesses::new(&code, region_of) };
            let options = JitOptions {
                proven: Some(&proven),
                ..JitOptions::default()
            };
            Box::new(JitProgram::with_options(&code, &helpers, options).unwrap())
        }
    }
}

/// One run of `engine` with `mem` as its memory; r0.
fn run(engine: &mut (dyn Engine + Send), mem: &mut [u8]) -> u64 {
    engine.run(Invocation::memory(mem)).unwrap().r0
}

fn from_program(c: &mut Criterion) {
    for (group, kind) in [
        ("maps/interp", Kind::Interp),
        ("maps/jit", Kind::Jit),
        ("maps/jit_verified", Kind::JitVerified),
    ] {
        let mut g = c.benchmark_group(group);
        for (name, map_type) in TYPES {
            let map = filled(map_type);
            for (op, text) in [("lookup", LOOKUP), ("update", UPDATE)] {
                let mut engine = program(kind, &map, text, 4);
                g.bench_function(BenchmarkId::new(op, name), |b| {
                    b.iter_custom(|iters| {
                        timed(iters, |i| run(&mut *engine, &mut key(i).to_ne_bytes()))
                    })
                });
            }
            let text = format!("r6 = r1\n{}r0 = 0\nexit", lookup_batch("map[idx:0]"));
            let mut engine = program(kind, &map, &text, 4 * BATCH as u32);
            let mut keys = batch_keys();
            g.bench_function(BenchmarkId::new("lookup16", name), |b| {
                b.iter_custom(|iters| timed(iters, |_| run(&mut *engine, &mut keys)))
            });
        }
        let mut engine = program(kind, &filled(MapType::Array), EMPTY, 0);
        g.bench_function("empty", |b| {
            b.iter_custom(|iters| timed(iters, |_| run(&mut *engine, &mut [0u8; 4])))
        });
        g.finish();
    }
}

/// How the two-thread cases are timed.
#[derive(Clone, Copy)]
enum Clock {
    /// Elapsed time: what a user waits, including the time other work holds the CPUs.
    Wall,
    /// The CPU time both threads used, halved: the cost of one thread's operation while
    /// the other runs too, which equals the single-thread cost when nothing is shared.
    Cpu,
}

/// Two threads, each running `op(state, i)` for `i` in `0..iters` with a state of its
/// own (thread `t` sees the keys of `2i + t`), timed by `clock`.
fn two_threads<S: Send>(
    clock: Clock,
    iters: u64,
    states: [&mut S; 2],
    op: impl Fn(&mut S, u64) + Sync,
) -> Duration {
    let (wall, cpu) = (Instant::now(), cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID));
    std::thread::scope(|s| {
        for (t, state) in (0..).zip(states) {
            let op = &op;
            s.spawn(move || (0..iters).for_each(|i| op(state, i * 2 + t)));
        }
    });
    match clock {
        Clock::Wall => wall.elapsed(),
        Clock::Cpu => (cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID) - cpu) / 2,
    }
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("maps/2threads");
    for (clock_name, clock) in [("wall", Clock::Wall), ("cpu", Clock::Cpu)] {
        for (name, map_type) in TYPES {
            let map = filled(map_type);
            let id = BenchmarkId::new(format!("{clock_name}/lookup_add"), name);
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    two_threads(clock, iters, [&mut (), &mut ()], |_, i| {
                        let v = map.lookup_ptr(&key(i).to_ne_bytes(), 0).unwrap();
                        // SAFETY: a value of 8 bytes, 8-aligned, in live map memory.
                        unsafe { AtomicU64::from_ptr(v.addr as *mut u64) }
                            .fetch_add(1, Ordering::Relaxed);
                    })
                })
            });
            for (engine, kind) in [("interp", Kind::Interp), ("jit", Kind::Jit)] {
                // One program per thread: a run borrows its engine.
                let [mut a, mut b] = [
                    program(kind, &map, LOOKUP, 4),
                    program(kind, &map, LOOKUP, 4),
                ];
                let id = BenchmarkId::new(format!("{clock_name}/{engine}_lookup_add"), name);
                g.bench_function(id, |bench| {
                    bench.iter_custom(|iters| {
                        two_threads(clock, iters, [&mut a, &mut b], |e, i| {
                            run(&mut **e, &mut key(i).to_ne_bytes());
                        })
                    })
                });
            }
        }
        let std_map: Mutex<HashMap<u32, u64>> = Mutex::new((0..ENTRIES).map(|k| (k, 0)).collect());
        let id = BenchmarkId::new(format!("{clock_name}/lookup_add"), "std_hashmap_mutex");
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                two_threads(clock, iters, [&mut (), &mut ()], |_, i| {
                    *std_map.lock().unwrap().get_mut(&key(i)).unwrap() += 1;
                })
            })
        });
    }
    g.finish();
}

/// The lookup program for the kernel: XDP, the key is the packet's first 4 bytes.
const KERNEL_LOOKUP: &str = "
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 4
    if r4 > r3 goto out
    r5 = *(u32 *)(r2 + 0)
    *(u32 *)(r10 - 4) = r5
    r2 = r10
    r2 += -4
    r1 = map[fd:MAP]
    call 1
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
out:
    r0 = 2
    exit";

/// The update program for the kernel: XDP, the key is the packet's first 4 bytes, the
/// value 7, flags BPF_ANY.
const KERNEL_UPDATE: &str = "
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 4
    if r4 > r3 goto out
    r5 = *(u32 *)(r2 + 0)
    *(u32 *)(r10 - 4) = r5
    *(u64 *)(r10 - 16) = 7
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r1 = map[fd:MAP]
    r4 = 0
    call 2
out:
    r0 = 2
    exit";

/// The `lookup16` program for the kernel: XDP, the keys are the packet's first 64 bytes.
const KERNEL_LOOKUP16: &str = "
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r6 = r2
    r4 = r2
    r4 += 64
    if r4 > r3 goto out
BATCH
out:
    r0 = 2
    exit";

fn kernel(c: &mut Criterion) {
    if let Err(why) = bpfkit_kernel::available() {
        eprintln!("kernel benchmarks skipped: {why}");
        return;
    }
    let mut g = c.benchmark_group("maps/kernel");
    let packet = batch_keys();
    let mut bench = |name: &str, text: &str| {
        let code = encode_program(&assemble(text).unwrap());
        let prog = Program::load(ProgType::Xdp, &code, "GPL", "maps_bench").unwrap();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let run = TestRun {
                    data_in: &packet,
                    repeat: iters.min(u32::MAX as u64) as u32,
                    ..TestRun::default()
                };
                let result = prog.test_run(&run).unwrap();
                Duration::from_nanos(result.duration_ns as u64 * iters)
            })
        });
    };
    for (name, map_type) in TYPES {
        let map = KernelMap::create(map_type as u32, 4, 8, ENTRIES, 0).unwrap();
        for k in 0..ENTRIES {
            map.update(Some(&k.to_ne_bytes()), &0u64.to_ne_bytes(), BPF_ANY)
                .unwrap();
        }
        let fd = map.as_fd().as_raw_fd().to_string();
        bench(
            &format!("lookup/{name}"),
            &KERNEL_LOOKUP.replace("MAP", &fd),
        );
        bench(
            &format!("update/{name}"),
            &KERNEL_UPDATE.replace("MAP", &fd),
        );
        let batch = lookup_batch(&format!("map[fd:{fd}]"));
        bench(
            &format!("lookup16/{name}"),
            &KERNEL_LOOKUP16.replace("BATCH", &batch),
        );
    }
    bench("empty", "r0 = 2\nexit");
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = user_space, from_program, throughput, kernel
}
criterion_main!(benches);
