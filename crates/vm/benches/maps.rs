//! Map operations: ns per lookup and per update of array, hash and lru_hash maps, from user
//! space and from a program run by the interpreter, against `std::collections::HashMap`
//! in the same run; and the throughput of two threads on one map.
//!
//! Every map has 4-byte keys, 8-byte values and 1024 entries, all present; operations
//! cycle through the keys in a scattered order (multiplying by an odd constant), so that
//! hash lookups are not served by one hot bucket.
//!
//! From a program, each iteration is one run of a program that does the operation once:
//! `lookup` finds the key given in its memory and atomically adds 1 to the value; `update`
//! writes the value for that key. `empty` runs a program that only returns, the run's own
//! cost, to subtract.
//!
//! Two threads: each thread does `iters` lookups with an atomic add of the value, over the
//! same keys; the time is the wall time of both, per operation of one thread. The baseline
//! is `Mutex<HashMap>`.
//!
//! The kernel: the same map types created with bpf(2), and an XDP program doing the same
//! lookup and atomic add, run by `BPF_PROG_TEST_RUN` (the kernel's JIT where enabled) with
//! `repeat` = the iteration count; its average `duration` is the time per iteration. Its
//! key comes from the packet and is the same on every run. `kernel/empty` is an XDP
//! program that only returns. Skipped, saying why, where this process may not load BPF.
//!
//! Run with `cargo bench -p bpfkit-vm --bench maps`.

use bpfkit_isa::{assemble, encode_program};
use bpfkit_kernel::{KernelMap, ProgType, Program, TestRun};
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::{self, Map, MapSpec, MapTable, MapType, BPF_ANY};
use bpfkit_vm::{Helpers, Interpreter};
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

fn user_space(c: &mut Criterion) {
    let mut g = c.benchmark_group("maps/user");
    for (name, map_type) in TYPES {
        let map = filled(map_type);
        let mut i = 0u64;
        g.bench_function(BenchmarkId::new("lookup", name), |b| {
            let mut out = [0u8; 8];
            b.iter(|| {
                i += 1;
                map.lookup(&key(i).to_ne_bytes(), &mut out).unwrap();
                black_box(out)
            })
        });
        g.bench_function(BenchmarkId::new("update", name), |b| {
            b.iter(|| {
                i += 1;
                map.update(&key(i).to_ne_bytes(), &i.to_ne_bytes(), BPF_ANY)
                    .unwrap()
            })
        });
    }
    let mut std_map: HashMap<u32, u64> = (0..ENTRIES).map(|k| (k, 0)).collect();
    let mut i = 0u64;
    g.bench_function(BenchmarkId::new("lookup", "std_hashmap"), |b| {
        b.iter(|| {
            i += 1;
            black_box(std_map.get(&key(i)).copied())
        })
    });
    g.bench_function(BenchmarkId::new("update", "std_hashmap"), |b| {
        b.iter(|| {
            i += 1;
            std_map.insert(key(i), i);
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

fn program(map: &Arc<dyn Map>, text: &str) -> Interpreter {
    let mut table = MapTable::new();
    table.push(map.clone());
    let runtime = Runtime::new(table);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let code = runtime.maps.relocate(&assemble(text).unwrap()).unwrap();
    Interpreter::new(&code, &helpers).unwrap()
}

fn from_program(c: &mut Criterion) {
    let mut g = c.benchmark_group("maps/interp");
    for (name, map_type) in TYPES {
        let map = filled(map_type);
        for (op, text) in [("lookup", LOOKUP), ("update", UPDATE)] {
            let mut vm = program(&map, text);
            let mut i = 0u64;
            g.bench_function(BenchmarkId::new(op, name), |b| {
                b.iter(|| {
                    i += 1;
                    let mut mem = key(i).to_ne_bytes();
                    vm.run_mem(&mut mem).unwrap().r0
                })
            });
        }
    }
    let mut vm = program(&filled(MapType::Array), EMPTY);
    g.bench_function("empty", |b| {
        b.iter(|| vm.run_mem(&mut [0u8; 4]).unwrap().r0)
    });
    g.finish();
}

/// Wall time of two threads each running `op(i)` for `i` in `0..iters`.
fn two_threads(iters: u64, op: impl Fn(u64) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2 {
            let op = &op;
            s.spawn(move || (0..iters).for_each(|i| op(i * 2 + t)));
        }
    });
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("maps/2threads");
    for (name, map_type) in TYPES {
        let map = filled(map_type);
        g.bench_function(BenchmarkId::new("lookup_add", name), |b| {
            b.iter_custom(|iters| {
                two_threads(iters, |i| {
                    let v = map.lookup_ptr(&key(i).to_ne_bytes(), 0).unwrap();
                    // SAFETY: a value of 8 bytes, 8-aligned, in live map memory.
                    unsafe { AtomicU64::from_ptr(v.addr as *mut u64) }
                        .fetch_add(1, Ordering::Relaxed);
                })
            })
        });
        let vm = program(&map, LOOKUP);
        g.bench_function(BenchmarkId::new("interp_lookup_add", name), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..2 {
                        let mut vm = vm.clone();
                        s.spawn(move || {
                            for i in 0..iters {
                                vm.run_mem(&mut key(i * 2 + t).to_ne_bytes()).unwrap();
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    let std_map: Mutex<HashMap<u32, u64>> = Mutex::new((0..ENTRIES).map(|k| (k, 0)).collect());
    g.bench_function(BenchmarkId::new("lookup_add", "std_hashmap_mutex"), |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |i| {
                *std_map.lock().unwrap().get_mut(&key(i)).unwrap() += 1;
            })
        })
    });
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

fn kernel(c: &mut Criterion) {
    if let Err(why) = bpfkit_kernel::available() {
        eprintln!("kernel benchmarks skipped: {why}");
        return;
    }
    let mut g = c.benchmark_group("maps/kernel");
    let mut packet = [0u8; 64];
    packet[..4].copy_from_slice(&5u32.to_ne_bytes());
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
        let text = KERNEL_LOOKUP.replace("MAP", &map.as_fd().as_raw_fd().to_string());
        bench(&format!("lookup/{name}"), &text);
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
