//! Map value accesses compiled with the verifier's facts (`ProvenRegion::MapValue`): the
//! loads, stores and atomics the verifier proved inside a value of one of the program's
//! maps lose their bounds check, in the program's own code and in callbacks, and give
//! the interpreter's results; what the verifier proved against a map of maps' template
//! keeps its check; and the verifier never proves a write into a map programs may only
//! read, which is what lets an unchecked write be trusted.
//!
//! Expected values are derived by hand next to each program.

mod common;

use bpfkit_isa::{assemble, Insn};
use bpfkit_jit::{JitOptions, JitProgram};
use bpfkit_verifier::{verify, ErrorKind, ProgType, VerifierOptions};
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::{self, Map, MapSpec, MapTable, MapType, BPF_ANY, BPF_F_RDONLY_PROG};
use bpfkit_vm::{Access, Engine, Fault, Helpers, Interpreter, Memory, Outcome, Run, VmError};
use common::verified::proven;
use std::sync::Arc;

/// What the verifier is told of `maps`, by index, as the CLI tells it of an object's
/// maps; `inner` gives the template of a map of maps.
fn verifier_maps(maps: &[Arc<dyn Map>], inner: &[(usize, MapSpec)]) -> VerifierOptions {
    let spec_of = |s: &MapSpec| bpfkit_verifier::MapSpec {
        map_type: s.map_type as u32,
        key_size: s.key_size,
        value_size: s.value_size,
        max_entries: s.max_entries,
        flags: s.flags,
        ..bpfkit_verifier::MapSpec::default()
    };
    let maps = maps
        .iter()
        .enumerate()
        .map(|(i, m)| bpfkit_verifier::MapSpec {
            inner: inner
                .iter()
                .find(|(at, _)| *at == i)
                .map(|(_, t)| Box::new(spec_of(t))),
            ..spec_of(m.spec())
        })
        .collect();
    VerifierOptions {
        maps,
        ..VerifierOptions::default()
    }
}

/// A program of `text` over `maps` (by index; the fds of `fds` also name them), verified
/// as the 'memory' type, ready for both engines.
struct Prepared {
    runtime: Runtime,
    helpers: Helpers,
    insns: Vec<Insn>,
    options: VerifierOptions,
    text_insns: Vec<Insn>,
}

fn prepare(text: &str, maps: &[Arc<dyn Map>], fds: &[(i32, usize)]) -> Prepared {
    prepare_with(text, maps, fds, &[])
}

fn prepare_with(
    text: &str,
    maps: &[Arc<dyn Map>],
    fds: &[(i32, usize)],
    inner: &[(usize, MapSpec)],
) -> Prepared {
    let mut table = MapTable::new();
    for (i, map) in maps.iter().enumerate() {
        match fds.iter().find(|(_, at)| *at == i) {
            Some(&(fd, _)) => table.insert_fd(fd, map.clone()),
            None => {
                table.push(map.clone());
            }
        }
    }
    let runtime = Runtime::new(table);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let text_insns = assemble(text).expect("assembles");
    let insns = runtime.maps.relocate(&text_insns).expect("relocates");
    Prepared {
        runtime,
        helpers,
        insns,
        options: verifier_maps(maps, inner),
        text_insns,
    }
}

impl Prepared {
    /// The JIT with the verifier's facts, and how many accesses it left unchecked.
    fn jit(&self) -> (JitProgram, usize) {
        let verified = verify(&self.text_insns, &ProgType::MEMORY, &self.options)
            .unwrap_or_else(|r| panic!("accepted: {r}"));
        // The facts are about the instructions before relocation, which only rewrote
        // map references: the same slots.
        let proven = proven(&self.insns, &verified);
        let options = JitOptions {
            proven: Some(&proven),
            ..JitOptions::default()
        };
        let jit = JitProgram::with_options(&self.insns, &self.helpers, options).expect("compiles");
        let unchecked = jit.unchecked_accesses();
        (jit, unchecked)
    }

    fn interp(&self) -> Interpreter {
        Interpreter::new(&self.insns, &self.helpers).expect("prepares")
    }
}

impl Prepared {
    /// One run of `engine` as a 'memory' program on an empty buffer, with the values of
    /// the arrays in its memory (for `lddw`s of a value), as the CLI runs programs.
    fn run(&self, engine: &mut dyn Engine) -> Result<Outcome, VmError> {
        let mut memory = Memory::new();
        self.runtime.maps.add_value_regions(&mut memory);
        engine.run_on(Run {
            args: [0; 5],
            memory: &mut memory,
            packet: None,
            packet_state: None,
        })
    }
}

fn create(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> Arc<dyn Map> {
    maps::create(&MapSpec::new(map_type, key_size, value_size, max_entries)).unwrap()
}

fn put(map: &dyn Map, key: &[u8], value: &[u8]) {
    map.update(key, value, BPF_ANY).unwrap();
}

fn get(map: &dyn Map, key: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; map.spec().value_size as usize];
    map.lookup(key, &mut out).unwrap();
    out
}

fn u64s(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

fn u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

/// An array's element through a lookup (loads, a store, an atomic add), a hash map's
/// (a store of an immediate, a load) and global data through an `lddw` of its value
/// (a load, a store).
const VALUES: &str = "
    *(u32 *)(r10 - 4) = 2
    r2 = r10
    r2 += -4
    r1 = map[idx:0]
    call 1
    if r0 == 0 goto out
    r6 = r0
    r1 = *(u64 *)(r6 + 8)
    r1 += 5
    *(u64 *)(r6 + 0) = r1
    r1 = 3
    lock *(u64 *)(r6 + 8) += r1
    *(u32 *)(r10 - 4) = 7
    r2 = r10
    r2 += -4
    r1 = map[idx:1]
    call 1
    if r0 == 0 goto out
    *(u32 *)(r0 + 12) = 99
    r1 = *(u32 *)(r0 + 4)
    r7 = map[idx:2]+8
    r2 = *(u64 *)(r7 + 0)
    r1 += r2
    *(u64 *)(r7 + 0) = r1
    r0 = r1
    exit
out:
    r0 = 0
    exit";

/// The maps of [`VALUES`]: an array of 4 16-byte values with element 2 = (0, 40), a hash
/// map with key 7 = [1, 2, 3, 4] (u32s), and a one-element array as global data,
/// (0, 100).
fn values_maps() -> Vec<Arc<dyn Map>> {
    let array = create(MapType::Array, 4, 16, 4);
    put(&*array, &2u32.to_ne_bytes(), &u64s(&[0, 40]));
    let hash = create(MapType::Hash, 4, 16, 8);
    put(&*hash, &7u32.to_ne_bytes(), &u32s(&[1, 2, 3, 4]));
    let data = create(MapType::Array, 4, 16, 1);
    put(&*data, &0u32.to_ne_bytes(), &u64s(&[0, 100]));
    vec![array, hash, data]
}

#[test]
fn proven_value_accesses_run_unchecked_with_the_interpreters_results() {
    let checked = prepare(VALUES, &values_maps(), &[]);
    let fast_maps = values_maps();
    let fast = prepare(VALUES, &fast_maps, &[]);
    let (mut jit, unchecked) = fast.jit();
    // The seven value accesses; the stack stores at r10 - 4 need no check anyway.
    assert_eq!(unchecked, 7);
    let want = checked.run(&mut checked.interp()).unwrap();
    let got = fast.run(&mut jit).unwrap();
    // array[2] = (40 + 5, 40 + 3) = (45, 43); hash[7] = [1, 2, 3, 99]; r1 = hash[7][1]
    // + data[8..16] = 2 + 100 = 102, stored in data[8..16] and returned.
    assert_eq!(want.r0, 102);
    assert_eq!(got, want);
    for maps in [&values_maps_after(&checked), &values_maps_of(&fast_maps)] {
        assert_eq!(maps[0], u64s(&[45, 43]));
        assert_eq!(maps[1], u32s(&[1, 2, 3, 99]));
        assert_eq!(maps[2], u64s(&[0, 102]));
    }
}

/// The values [`VALUES`] touches, as the maps of `prepared` hold them.
fn values_maps_after(prepared: &Prepared) -> Vec<Vec<u8>> {
    let maps: Vec<Arc<dyn Map>> = prepared.runtime.maps.iter().cloned().collect();
    values_maps_of(&maps)
}

fn values_maps_of(maps: &[Arc<dyn Map>]) -> Vec<Vec<u8>> {
    vec![
        get(&*maps[0], &2u32.to_ne_bytes()),
        get(&*maps[1], &7u32.to_ne_bytes()),
        get(&*maps[2], &0u32.to_ne_bytes()),
    ]
}

#[test]
fn per_cpu_values_run_unchecked_too() {
    // This thread's value of element 1 += 5, twice (two runs): 5 + 5 = 10.
    let text = "
        *(u32 *)(r10 - 4) = 1
        r2 = r10
        r2 += -4
        r1 = map[idx:0]
        call 1
        if r0 == 0 goto out
        r1 = *(u64 *)(r0 + 0)
        r1 += 5
        *(u64 *)(r0 + 0) = r1
        r0 = r1
        exit
    out:
        r0 = 0
        exit";
    let map = create(MapType::PercpuArray, 4, 8, 2);
    let fast = prepare(text, &[map], &[]);
    let (mut jit, unchecked) = fast.jit();
    assert_eq!(unchecked, 2);
    assert_eq!(fast.run(&mut jit).unwrap().r0, 5);
    assert_eq!(fast.run(&mut jit).unwrap().r0, 10);
    // The interpreter on the same map sees the JIT's value: one value per thread.
    assert_eq!(fast.run(&mut fast.interp()).unwrap().r0, 15);
}

#[test]
fn callbacks_access_the_values_they_are_given_unchecked() {
    // Each element i of a 4-element array starts at 10 * i; the callback adds its key:
    // 11 * i after. The helper returns the 4 calls it made.
    let text = "
        r1 = map[idx:0]
        r2 = subprog[cb]
        r3 = 0
        r4 = 0
        call 164
        exit
    cb:
        r1 = *(u32 *)(r2 + 0)
        r0 = *(u64 *)(r3 + 0)
        r0 += r1
        *(u64 *)(r3 + 0) = r0
        r0 = 0
        exit";
    let make = || {
        let map = create(MapType::Array, 4, 8, 4);
        for i in 0..4u32 {
            put(&*map, &i.to_ne_bytes(), &u64s(&[10 * i as u64]));
        }
        map
    };
    let (checked_map, fast_map) = (make(), make());
    let checked = prepare(text, std::slice::from_ref(&checked_map), &[]);
    let fast = prepare(text, std::slice::from_ref(&fast_map), &[]);
    let (mut jit, unchecked) = fast.jit();
    // The value's load and store; the key's load keeps its check.
    assert_eq!(unchecked, 2);
    let want = checked.run(&mut checked.interp()).unwrap();
    assert_eq!(want.r0, 4);
    assert_eq!(fast.run(&mut jit).unwrap(), want);
    for map in [&checked_map, &fast_map] {
        for i in 0..4u32 {
            assert_eq!(get(&**map, &i.to_ne_bytes()), u64s(&[11 * i as u64]));
        }
    }
}

/// Looks up key 0 of the map of maps (fd 10), then key 0 of the map it holds, and loads
/// 8 bytes at offset 8 of that value: inside the 16-byte template's value.
const INNER: &str = "
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    r1 = map[idx:0]
    call 1
    if r0 == 0 goto out
    r1 = r0
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto out
    r0 = *(u64 *)(r0 + 8)
    exit
out:
    r0 = 0
    exit";

/// Slot of the load through the inner map's value in [`INNER`]: the `lddw` takes two.
const INNER_LOAD: usize = 12;

#[test]
fn inner_map_values_keep_their_check() {
    let template = MapSpec::new(MapType::Array, 4, 16, 1);
    // bpfkit's maps of maps take any map of the program's table: here one whose value is
    // 4 bytes (an 8-byte block, its value rounded up to 8) where the template says 16.
    for (value_size, fits) in [(16, true), (4, false)] {
        let outer = create(MapType::ArrayOfMaps, 4, 4, 1);
        let inner = create(MapType::Array, 4, value_size, 1);
        if fits {
            put(&*inner, &0u32.to_ne_bytes(), &u64s(&[1, 77]));
        }
        put(&*outer, &0u32.to_ne_bytes(), &11u32.to_ne_bytes());
        let maps = [outer, inner];
        let fds = [(10, 0), (11, 1)];
        let inner_of_outer = [(0, template.clone())];
        let prepared = prepare_with(INNER, &maps, &fds, &inner_of_outer);
        let (mut jit, unchecked) = prepared.jit();
        assert_eq!(unchecked, 0, "the access through the inner map is checked");
        let want = prepared.run(&mut prepared.interp());
        let got = prepared.run(&mut jit);
        assert_eq!(got, want);
        if fits {
            assert_eq!(got.unwrap().r0, 77);
        } else {
            // 8 bytes at 8 past the start of an 8-byte block: outside every region.
            let err = got.unwrap_err();
            assert_eq!(err.pc, INNER_LOAD);
            assert!(
                matches!(
                    err.fault,
                    Fault::OutOfBounds {
                        size: 8,
                        access: Access::Read,
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
}

/// The verifier's verdict on `text` over `maps`.
fn verdict(text: &str, maps: &[Arc<dyn Map>]) -> Result<(), ErrorKind> {
    let options = verifier_maps(maps, &[]);
    let insns = assemble(text).unwrap();
    verify(&insns, &ProgType::MEMORY, &options)
        .map(|_| ())
        .map_err(|r| r.kind)
}

#[test]
fn no_write_into_a_map_programs_may_only_read_is_proven() {
    // Through a lookup's value (r0), and through the address of a value (r1 = the value of
    // element 0, as for global data); each write is a store, an atomic and a fetching
    // atomic.
    let lookup = |access: &str| {
        format!(
            "*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = map[idx:0]\ncall 1\n\
             if r0 == 0 goto out\nr1 = r0\n{access}\nout:\nr0 = 0\nexit"
        )
    };
    let direct = |access: &str| format!("r1 = map[idx:0]+0\n{access}\nr0 = 0\nexit");
    let read = "r2 = *(u32 *)(r1 + 0)";
    let writes = [
        "*(u32 *)(r1 + 0) = 1",
        "r2 = 1\nlock *(u32 *)(r1 + 0) += r2",
        "r2 = 1\nr2 = atomic_fetch_add((u32 *)(r1 + 0), r2)",
    ];
    let forbidden = |r: &Result<(), ErrorKind>| {
        matches!(r, Err(ErrorKind::MapAccessForbidden { write: true, .. }))
    };
    let rodata = maps::create(&MapSpec {
        flags: BPF_F_RDONLY_PROG,
        ..MapSpec::new(MapType::Array, 4, 8, 1)
    })
    .unwrap();
    // Linux creates device maps BPF_F_RDONLY_PROG (devmap.c: "Lookup returns a pointer
    // straight to dev->ifindex, so make sure the verifier prevents writes"; Linux 6.18
    // refuses an XDP program storing through a device map lookup's value with "write into
    // map forbidden, value_size=4 off=0 size=4"); an XSK map's lookup gives a socket whose
    // one field programs may read.
    let devmap = create(MapType::DevMap, 4, 4, 1);
    let xskmap = create(MapType::XskMap, 4, 4, 1);
    for map in [&rodata, &devmap, &xskmap] {
        let maps = [map.clone()];
        assert_eq!(verdict(&lookup(read), &maps), Ok(()));
        for write in writes {
            let r = verdict(&lookup(write), &maps);
            assert!(forbidden(&r), "{:?}: {write}: {r:?}", map.spec());
        }
    }
    let maps = [rodata];
    assert_eq!(verdict(&direct(read), &maps), Ok(()));
    for write in writes {
        let r = verdict(&direct(write), &maps);
        assert!(forbidden(&r), "{write}: {r:?}");
    }
}
