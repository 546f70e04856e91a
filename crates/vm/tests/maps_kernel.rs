//! The same operations on a kernel map (bpf(2)) and on bpfkit's map of the same type must
//! give the same results (success or the same errno), the same values, and the same
//! contents at the end. Skipped, saying why, where this process may not create maps.
//!
//! Where iteration order is the implementation's own (hash tables, the trie), only the
//! set of keys is compared, not each get-next-key answer.

use bpfkit_kernel::KernelMap;
use bpfkit_vm::maps::{self, cpu, Map, MapSpec, MapType, BPF_F_NO_PREALLOC};
use std::collections::BTreeSet;
use std::sync::Arc;

/// xorshift: a fixed, reproducible operation sequence.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn kernel_available() -> bool {
    match bpfkit_kernel::available() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("skipped: the kernel does not let this process use BPF: {why}");
            false
        }
    }
}

/// A map under test on both sides.
struct Pair {
    kernel: KernelMap,
    ours: Arc<dyn Map>,
    spec: MapSpec,
}

type Outcome = Result<Vec<u8>, i32>;

impl Pair {
    fn new(spec: MapSpec) -> Option<Pair> {
        let kernel = KernelMap::create(
            spec.map_type as u32,
            spec.key_size,
            spec.value_size,
            spec.max_entries,
            spec.flags,
        )
        .map_err(|e| {
            eprintln!(
                "skipped {:?}: the kernel refuses to create it: {e}",
                spec.map_type
            )
        })
        .ok()?;
        assert_eq!(kernel.value_size(), spec.user_value_size(), "value layout");
        Some(Pair {
            kernel,
            ours: maps::create(&spec).unwrap(),
            spec,
        })
    }

    fn key(&self, key: &[u8]) -> Option<Vec<u8>> {
        (self.spec.key_size > 0).then(|| key.to_vec())
    }

    /// Runs `op` on both maps and checks they agree; returns the shared outcome.
    fn both(
        &self,
        what: &str,
        kernel: impl FnOnce(&KernelMap) -> Outcome,
        ours: impl FnOnce(&dyn Map) -> Outcome,
    ) -> Outcome {
        let k = kernel(&self.kernel);
        let o = ours(&*self.ours);
        assert_eq!(
            o, k,
            "{:?}: {what}: bpfkit (left) vs kernel (right)",
            self.spec.map_type
        );
        k
    }

    /// Whether the update succeeded (on both sides).
    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> bool {
        let k = self.key(key);
        self.both(
            &format!("update {key:?} flags {flags}"),
            |m| {
                m.update(k.as_deref(), value, flags)
                    .map(|()| vec![])
                    .map_err(|e| e.0)
            },
            |m| {
                m.update(key, value, flags)
                    .map(|()| vec![])
                    .map_err(|e| e.errno())
            },
        )
        .is_ok()
    }

    fn lookup(&self, key: &[u8]) {
        let k = self.key(key);
        let n = self.spec.user_value_size();
        let _ = self.both(
            &format!("lookup {key:?}"),
            |m| {
                let mut out = vec![0; n];
                m.lookup(k.as_deref(), &mut out)
                    .map(|()| out)
                    .map_err(|e| e.0)
            },
            |m| {
                let mut out = vec![0; n];
                m.lookup(key, &mut out).map(|()| out).map_err(|e| e.errno())
            },
        );
    }

    fn delete(&self, key: &[u8]) {
        let k = self.key(key);
        let _ = self.both(
            &format!("delete {key:?}"),
            |m| m.delete(k.as_deref()).map(|()| vec![]).map_err(|e| e.0),
            |m| m.delete(key).map(|()| vec![]).map_err(|e| e.errno()),
        );
    }

    /// Lookup-and-delete of `key` (none for queues and stacks: a pop).
    fn take(&self, key: &[u8]) {
        let k = self.key(key);
        let n = self.spec.user_value_size();
        let _ = self.both(
            &format!("lookup_and_delete {key:?}"),
            |m| {
                let mut out = vec![0; n];
                m.lookup_and_delete(k.as_deref(), &mut out)
                    .map(|()| out)
                    .map_err(|e| e.0)
            },
            |m| {
                let mut out = vec![0; n];
                m.lookup_and_delete(key, &mut out)
                    .map(|()| out)
                    .map_err(|e| e.errno())
            },
        );
    }

    fn next_key(&self, key: Option<&[u8]>) {
        let n = self.spec.key_size as usize;
        let _ = self.both(
            &format!("next_key {key:?}"),
            |m| {
                let mut out = vec![0; n];
                m.next_key(key, &mut out).map(|()| out).map_err(|e| e.0)
            },
            |m| {
                let mut out = vec![0; n];
                m.next_key(key, &mut out)
                    .map(|()| out)
                    .map_err(|e| e.errno())
            },
        );
    }

    /// Both maps hold the same elements.
    fn same_contents(&self) {
        let n = self.spec.key_size as usize;
        let mut kernel = BTreeSet::new();
        let mut key: Option<Vec<u8>> = None;
        let mut next = vec![0u8; n];
        while self.kernel.next_key(key.as_deref(), &mut next).is_ok() {
            let mut value = vec![0u8; self.spec.user_value_size()];
            self.kernel.lookup(Some(&next), &mut value).unwrap();
            kernel.insert((next.clone(), value));
            key = Some(next.clone());
        }
        let ours: BTreeSet<_> = self.ours.entries().into_iter().collect();
        assert_eq!(ours, kernel, "{:?}: contents", self.spec.map_type);
    }
}

fn value(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.below(256) as u8).collect()
}

/// Random updates (every flag value, invalid ones included), lookups, deletes and
/// lookup-and-deletes over a key range wider than the map, for maps with 4-byte keys.
fn keyed_sequence(pair: &Pair, keys: u32, ordered: bool) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..2000 {
        let key = (rng.below(keys as u64) as u32).to_ne_bytes();
        match rng.below(6) {
            0 | 1 => {
                // 0..=2 are BPF_ANY/NOEXIST/EXIST; 3 and 4 (BPF_F_LOCK) are -EINVAL.
                let flags = rng.below(5);
                let v = value(&mut rng, pair.spec.user_value_size());
                if pair.update(&key, &v, flags) {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            2 => pair.lookup(&key),
            3 => pair.delete(&key),
            // Hash maps remove and return the element; arrays answer -ENOTSUPP.
            4 => pair.take(&key),
            _ if ordered => pair.next_key(Some(&key)),
            _ => pair.lookup(&key),
        }
    }
    // The sequence exercises both outcomes, or it would prove little.
    assert!(
        ok > 100 && failed > 100,
        "{ok} updates succeeded, {failed} failed"
    );
    if ordered {
        pair.next_key(None);
    }
    pair.same_contents();
}

#[test]
fn hash_array_and_lru_agree_with_the_kernel() {
    if !kernel_available() {
        return;
    }
    let cases = [
        (MapSpec::new(MapType::Hash, 4, 8, 8), 12, false),
        (MapSpec::new(MapType::Array, 4, 12, 6), 9, true),
        // Large enough that the kernel's per-CPU LRU free lists never run dry, so that
        // neither side evicts and results are comparable.
        (MapSpec::new(MapType::LruHash, 4, 8, 1024), 12, false),
    ];
    for (spec, keys, ordered) in cases {
        if let Some(pair) = Pair::new(spec) {
            keyed_sequence(&pair, keys, ordered);
        }
    }
}

#[test]
fn percpu_maps_agree_with_the_kernel() {
    if !kernel_available() {
        return;
    }
    let kernel_cpus = bpfkit_kernel::possible_cpus().unwrap();
    if kernel_cpus != cpu::possible() {
        eprintln!(
            "skipped: the kernel has {kernel_cpus} possible CPUs, bpfkit {}: values differ in size",
            cpu::possible()
        );
        return;
    }
    for (spec, ordered) in [
        (MapSpec::new(MapType::PercpuArray, 4, 4, 6), true),
        (MapSpec::new(MapType::PercpuHash, 4, 4, 8), false),
    ] {
        if let Some(pair) = Pair::new(spec) {
            keyed_sequence(&pair, 12, ordered);
        }
    }
}

#[test]
fn lpm_trie_agrees_with_the_kernel() {
    if !kernel_available() {
        return;
    }
    let spec = MapSpec::new(MapType::LpmTrie, 8, 8, 6).with_flags(BPF_F_NO_PREALLOC);
    let Some(pair) = Pair::new(spec) else { return };
    let mut rng = Rng(12345);
    let nets = [
        [10, 0, 0, 0],
        [10, 1, 0, 0],
        [10, 1, 2, 0],
        [192, 168, 1, 7],
        [0, 0, 0, 0],
    ];
    for _ in 0..2000 {
        let net = nets[rng.below(nets.len() as u64) as usize];
        // Prefix lengths up to 33: 33 is longer than the data (-EINVAL).
        let len = [0, 8, 16, 24, 32, 33, 12][rng.below(7) as usize] as u32;
        let mut key = len.to_ne_bytes().to_vec();
        key.extend_from_slice(&net);
        match rng.below(4) {
            0 | 1 => {
                let flags = rng.below(4);
                let v = value(&mut rng, 8);
                let _ = pair.update(&key, &v, flags);
            }
            2 => pair.lookup(&key),
            _ => pair.delete(&key),
        }
    }
    // An element is identified by its masked prefix, but both sides keep and return the
    // key as last written, host bits included (192.168.1.7/8).
    pair.same_contents();
}

#[test]
fn queue_and_stack_agree_with_the_kernel() {
    if !kernel_available() {
        return;
    }
    for map_type in [MapType::Queue, MapType::Stack] {
        let Some(pair) = Pair::new(MapSpec::new(map_type, 0, 8, 4)) else {
            continue;
        };
        let mut rng = Rng(777);
        for _ in 0..1000 {
            match rng.below(3) {
                0 => {
                    // BPF_ANY, BPF_NOEXIST (-EINVAL), BPF_EXIST (replace oldest when full).
                    let flags = rng.below(3);
                    let v = value(&mut rng, 8);
                    let _ = pair.update(&[], &v, flags);
                }
                1 => pair.lookup(&[]),
                _ => pair.take(&[]),
            }
        }
    }
}

/// A program that calls `bpf_ringbuf_output` with `size` bytes until it fails (at most
/// 1000 times), then returns the number of records written << 16 | the bytes available
/// (`bpf_ringbuf_query(BPF_RB_AVAIL_DATA)`). The same program runs in the kernel (as XDP)
/// and in bpfkit's interpreter, each on its own 4096-byte ring; records are 8-byte aligned
/// with an 8-byte header, and the producer may not get more than size - 1 bytes ahead of
/// the consumer, so both must stop at the same count.
fn ringbuf_fill(fd: i32, size: u32) -> String {
    let mut text = String::new();
    for i in 1..=8 {
        text += &format!("*(u64 *)(r10 - {}) = 0\n", 8 * i);
    }
    text += &format!(
        "    r6 = 0
    loop:
        r1 = map[fd:{fd}]
        r2 = r10
        r2 += -64
        r3 = {size}
        r4 = 0
        call 130
        if r0 != 0 goto done
        r6 += 1
        if r6 < 1000 goto loop
    done:
        r1 = map[fd:{fd}]
        r2 = 0
        call 134
        r6 <<= 16
        r0 |= r6
        exit"
    );
    text
}

#[test]
fn ringbuf_capacity_agrees_with_the_kernel() {
    use bpfkit_isa::{assemble, encode_program};
    use bpfkit_kernel::{ProgType, Program, TestRun};
    use bpfkit_vm::helpers::linux::{self, Runtime};
    use bpfkit_vm::maps::MapTable;
    use bpfkit_vm::{Helpers, Interpreter};
    use std::os::fd::{AsFd, AsRawFd};
    if !kernel_available() {
        return;
    }
    for size in [0, 1, 7, 8, 60, 64] {
        let kernel_ring = KernelMap::create(MapType::Ringbuf as u32, 0, 0, 4096, 0).unwrap();
        let fd = kernel_ring.as_fd().as_raw_fd();
        let code = assemble(&ringbuf_fill(fd, size)).unwrap();
        let prog = Program::load(ProgType::Xdp, &encode_program(&code), "GPL", "ringbuf_fill")
            .unwrap_or_else(|e| panic!("{e}"));
        let ours = maps::create(&MapSpec::new(MapType::Ringbuf, 0, 0, 4096)).unwrap();
        let mut table = MapTable::new();
        table.insert_fd(fd, ours);
        let runtime = Runtime::new(table);
        let mut helpers = Helpers::new();
        linux::register(&mut helpers, &runtime);
        let mut vm = Interpreter::new(&runtime.maps.relocate(&code).unwrap(), &helpers).unwrap();
        // Twice: the second run finds the ring still full (nothing consumed).
        for run in 0..2 {
            let kernel = prog
                .test_run(&TestRun {
                    data_in: &[0u8; 64],
                    ..TestRun::default()
                })
                .unwrap()
                .retval as u64;
            let bpfkit = vm.run_mem(&mut [0u8; 64]).unwrap().r0;
            assert_eq!(
                (bpfkit >> 16, bpfkit & 0xffff),
                (kernel >> 16, kernel & 0xffff),
                "record size {size}, run {run}: (records, bytes available), bpfkit vs kernel"
            );
            if size == 8 && run == 0 {
                // 16-byte records (header + 8): 255 fit in 4095 bytes, 4080 available.
                assert_eq!((kernel >> 16, kernel & 0xffff), (255, 4080));
            }
        }
    }
}

/// The same program of map helper calls, run by the kernel (as XDP) and by bpfkit's
/// interpreter on maps with the same descriptors: every call's r0 is stored into a results
/// array, and the results and the hash map's contents must be the same on both sides.
/// Expected r0s (hash of 2 entries; from bpf.h's helper documentation and hashtab.c):
/// 0, -EEXIST, -ENOENT, 0, -E2BIG, -ENOENT, 0, -EINVAL, found, 0, -E2BIG (array index
/// past the end).
#[test]
fn map_helpers_return_what_the_kernels_return() {
    use bpfkit_isa::{assemble, encode_program};
    use bpfkit_kernel::{ProgType, Program, TestRun};
    use bpfkit_vm::helpers::linux::{self, Runtime};
    use bpfkit_vm::maps::MapTable;
    use bpfkit_vm::{Helpers, Interpreter};
    use std::os::fd::{AsFd, AsRawFd};
    if !kernel_available() {
        return;
    }
    let hash_spec = MapSpec::new(MapType::Hash, 4, 8, 2);
    let results_spec = MapSpec::new(MapType::Array, 4, 8, 16);
    let kernel_hash = KernelMap::create(MapType::Hash as u32, 4, 8, 2, 0).unwrap();
    let kernel_results = KernelMap::create(MapType::Array as u32, 4, 8, 16, 0).unwrap();
    let (h, r) = (
        kernel_hash.as_fd().as_raw_fd(),
        kernel_results.as_fd().as_raw_fd(),
    );
    // (map, key, value, flags) for updates; `delete`/`lookup` take the key only.
    let calls: &[(&str, i32, i32, i32)] = &[
        ("update", 1, 10, 1),
        ("update", 1, 11, 1),
        ("update", 2, 20, 2),
        ("update", 2, 20, 0),
        ("update", 3, 30, 0),
        ("delete", 5, 0, 0),
        ("delete", 2, 0, 0),
        ("update", 3, 30, 4),
        ("lookup", 1, 0, 0),
        ("update", 3, 30, 0),
        ("update_results", 99, 0, 0),
    ];
    let mut text = String::new();
    for (i, (op, key, value, flags)) in calls.iter().enumerate() {
        text += &format!(
            "*(u32 *)(r10 - 4) = {key}\n*(u64 *)(r10 - 16) = {value}\n\
             r2 = r10\nr2 += -4\nr3 = r10\nr3 += -16\nr4 = {flags}\n"
        );
        text += &match *op {
            "update" => format!("r1 = map[fd:{h}]\ncall 2\n"),
            "delete" => format!("r1 = map[fd:{h}]\ncall 3\n"),
            // Found or not: r0 becomes 1 or 0.
            "lookup" => format!("r1 = map[fd:{h}]\ncall 1\nif r0 == 0 goto +1\nr0 = 1\n"),
            _ => format!("r1 = map[fd:{r}]\ncall 2\n"),
        };
        text += &format!(
            "*(u64 *)(r10 - 24) = r0\n*(u32 *)(r10 - 28) = {i}\n\
             r1 = map[fd:{r}]\nr2 = r10\nr2 += -28\nr3 = r10\nr3 += -24\nr4 = 0\ncall 2\n"
        );
    }
    text += "r0 = 2\nexit\n";
    let code = assemble(&text).unwrap();
    let prog = Program::load(ProgType::Xdp, &encode_program(&code), "GPL", "map_helpers")
        .unwrap_or_else(|e| panic!("{e}"));
    prog.test_run(&TestRun {
        data_in: &[0u8; 64],
        ..TestRun::default()
    })
    .unwrap();

    let ours_hash = maps::create(&hash_spec).unwrap();
    let ours_results = maps::create(&results_spec).unwrap();
    let mut table = MapTable::new();
    table.insert_fd(h, ours_hash.clone());
    table.insert_fd(r, ours_results.clone());
    let runtime = Runtime::new(table);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let mut vm = Interpreter::new(&runtime.maps.relocate(&code).unwrap(), &helpers).unwrap();
    vm.run_mem(&mut [0u8; 64]).unwrap();

    let read = |kernel: &KernelMap, ours: &dyn Map, key: u32| {
        let (mut k, mut o) = ([0u8; 8], [0u8; 8]);
        let kr = kernel
            .lookup(Some(&key.to_ne_bytes()), &mut k)
            .map(|()| i64::from_ne_bytes(k));
        let or = ours
            .lookup(&key.to_ne_bytes(), &mut o)
            .map(|()| i64::from_ne_bytes(o));
        (kr.map_err(|e| e.0), or.map_err(|e| e.errno()))
    };
    let mut results = Vec::new();
    for i in 0..calls.len() as u32 {
        let (kernel, ours) = read(&kernel_results, &*ours_results, i);
        assert_eq!(ours, kernel, "result of call {i}: {:?}", calls[i as usize]);
        results.push(kernel.unwrap());
    }
    assert_eq!(results, [0, -17, -2, 0, -7, -2, 0, -22, 1, 0, -7]);
    for key in 0..6 {
        let (kernel, ours) = read(&kernel_hash, &*ours_hash, key);
        assert_eq!(ours, kernel, "hash key {key}");
    }
}
