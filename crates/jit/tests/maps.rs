//! `bpf_map_lookup_elem` on a map known when compiling, which the JIT compiles without the
//! helper (a direct call of the map's lookup, or inline for arrays): the same results and
//! the same faults as the interpreter's helper call, and the values derived by hand.

mod common;

use bpfkit_isa::assemble;
use bpfkit_jit::JitProgram;
use bpfkit_vm::helpers::linux::{self, id, Runtime};
use bpfkit_vm::maps::{self, Map, MapSpec, MapTable, MapType, BPF_ANY, BPF_F_RDONLY_PROG};
use bpfkit_vm::{Access, Fault, Helpers, Interpreter, VmError};
use std::sync::Arc;

const TYPES: [MapType; 6] = [
    MapType::Array,
    MapType::PercpuArray,
    MapType::Hash,
    MapType::PercpuHash,
    MapType::LruHash,
    MapType::LruPercpuHash,
];

/// A map of `map_type` with 4-byte keys, 8-byte values and 8 entries, keys 0..8 holding
/// `100 + key` (for this thread's CPU in per-CPU maps).
fn filled(map_type: MapType, flags: u32) -> Arc<dyn Map> {
    let map = maps::create(&MapSpec::new(map_type, 4, 8, 8).with_flags(flags)).unwrap();
    for k in 0..8u32 {
        let value = (100 + k as u64).to_ne_bytes();
        let copies = map.spec().user_value_size() / 8;
        map.update(&k.to_ne_bytes(), &value.repeat(copies), BPF_ANY)
            .unwrap();
    }
    map
}

/// The program relocated against a table holding `map` at index 0, and Linux's helpers.
fn prepare(map: &Arc<dyn Map>, text: &str) -> (Vec<bpfkit_isa::Insn>, Helpers) {
    let mut table = MapTable::new();
    table.push(map.clone());
    let runtime = Runtime::new(table);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let insns = runtime.maps.relocate(&assemble(text).unwrap()).unwrap();
    (insns, helpers)
}

/// Looks up the key in the first 4 bytes of the memory; returns the value, or 1000 when
/// there is none.
const READ: &str = "
    r2 = r1
    r1 = map[idx:0]
    call 1
    if r0 == 0 goto miss
    r0 = *(u64 *)(r0 + 0)
    exit
miss:
    r0 = 1000
    exit";

fn run_read(map: &Arc<dyn Map>, text: &str, key: u32) -> Result<u64, VmError> {
    let (insns, helpers) = prepare(map, text);
    let mut mem = [0u8; 8];
    mem[..4].copy_from_slice(&key.to_ne_bytes());
    // Interpreter, JIT and blinded JIT agree on the result, the error and the memory.
    let (result, _) = common::run_both(&insns, &mem, &helpers, 1 << 20).unwrap();
    result.map(|o| o.r0)
}

#[test]
fn lookups_find_the_value_or_null_as_the_helper_does() {
    for map_type in TYPES {
        let map = filled(map_type, 0);
        // Key 3 holds 103; key 8 is past the end of the 8-entry arrays and absent from
        // the hash maps: NULL.
        assert_eq!(run_read(&map, READ, 3), Ok(103), "{map_type:?}");
        assert_eq!(run_read(&map, READ, 8), Ok(1000), "{map_type:?}");
        // An index of 2^32 - 1 is past the end too (the bounds check is unsigned).
        assert_eq!(run_read(&map, READ, u32::MAX), Ok(1000), "{map_type:?}");
    }
}

#[test]
fn a_bad_key_pointer_faults_at_the_call() {
    // Slots: 0 r2 = 16, 1-2 lddw, 3 the call, reading 4 bytes at address 16.
    let text = "
        r2 = 16
        r1 = map[idx:0]
        call 1
        exit";
    for map_type in TYPES {
        let map = filled(map_type, 0);
        let want = VmError {
            pc: 3,
            fault: Fault::OutOfBounds {
                addr: 16,
                size: 4,
                access: Access::Read,
            },
        };
        assert_eq!(run_read(&map, text, 0), Err(want), "{map_type:?}");
    }
}

#[test]
fn values_stay_bounded_and_read_only_values_unwritable() {
    // Reading 8 bytes past a value's region faults; so does writing a value of a map
    // read-only to programs (slot 6 is the access).
    let past = |off: u32| {
        format!(
            "r2 = r1\nr1 = map[idx:0]\ncall 1\nif r0 == 0 goto out\nr0 += {off}\nr0 = *(u64 *)(r0 + 0)\nout:\nexit"
        )
    };
    let store = "
        r2 = r1
        r1 = map[idx:0]
        call 1
        if r0 == 0 goto out
        *(u64 *)(r0 + 0) = 7
    out:
        r0 = 0
        exit";
    for map_type in TYPES {
        // One gibibyte past the value is outside all of the run's memory.
        let err = run_read(&filled(map_type, 0), &past(1 << 30), 3).unwrap_err();
        assert_eq!(err.pc, 6, "{map_type:?}");
        assert!(matches!(
            err.fault,
            Fault::OutOfBounds {
                size: 8,
                access: Access::Read,
                ..
            }
        ));
        let err = run_read(&filled(map_type, BPF_F_RDONLY_PROG), store, 3).unwrap_err();
        assert_eq!(err.pc, 5, "{map_type:?}");
        assert!(matches!(
            err.fault,
            Fault::OutOfBounds {
                size: 8,
                access: Access::Write,
                ..
            }
        ));
    }
}

#[test]
fn argument_registers_survive_the_lookup() {
    // The interpreter keeps r1..r5 over a helper call: r0 = (r1 - r7) + (r2 - r6) + the
    // word at r2 (the key, 5) = 0 + 0 + 5.
    let text = "
        r2 = r1
        r6 = r2
        r1 = map[idx:0]
        r7 = r1
        call 1
        r0 = r1
        r0 -= r7
        r2 -= r6
        r0 += r2
        r2 = r6
        r3 = *(u32 *)(r2 + 0)
        r0 += r3
        exit";
    for map_type in TYPES {
        assert_eq!(
            run_read(&filled(map_type, 0), text, 5),
            Ok(5),
            "{map_type:?}"
        );
    }
}

#[test]
fn jit_and_interpreter_update_the_same_element() {
    // Each run adds 1 to key 2's value and returns the new value: 102 + the runs so far,
    // whichever engine runs.
    let text = "
        r2 = r1
        r1 = map[idx:0]
        call 1
        if r0 == 0 goto miss
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
        r0 = *(u64 *)(r0 + 0)
        exit
    miss:
        r0 = 1000
        exit";
    for map_type in TYPES {
        let map = filled(map_type, 0);
        let (insns, helpers) = prepare(&map, text);
        let mut jit = JitProgram::new(&insns, &helpers).unwrap();
        let mut vm = Interpreter::new(&insns, &helpers).unwrap();
        for n in 1..=3 {
            let r0 = jit.run_mem(&mut 2u32.to_ne_bytes()).unwrap().r0;
            assert_eq!(r0, 102 + n, "{map_type:?}");
        }
        assert_eq!(vm.run_mem(&mut 2u32.to_ne_bytes()).unwrap().r0, 106);
        assert_eq!(jit.run_mem(&mut 2u32.to_ne_bytes()).unwrap().r0, 107);
    }
}

#[test]
fn a_lookup_helper_of_the_embedder_is_still_called() {
    // Replacing helper 1 after Linux's helpers were registered: the call is not compiled
    // as a map lookup, and the embedder's helper answers.
    let map = filled(MapType::Array, 0);
    let (insns, mut helpers) = prepare(&map, READ);
    helpers.register(id::MAP_LOOKUP_ELEM, "map_lookup_elem", |_, _| Ok(0));
    assert!(helpers.lookup_maps().is_none());
    let mut jit = JitProgram::new(&insns, &helpers).unwrap();
    assert_eq!(jit.run_mem(&mut 3u32.to_ne_bytes()).unwrap().r0, 1000);
}

#[test]
fn an_outer_map_lookup_yields_the_inner_map() {
    // r0 = outer[*r1]; then inner[3] (r1 from r0: a helper call), 99; 1000 when either
    // lookup finds nothing.
    let inner = filled(MapType::Array, 0);
    inner
        .update(&3u32.to_ne_bytes(), &99u64.to_ne_bytes(), BPF_ANY)
        .unwrap();
    let text = "
        r2 = r1
        r1 = map[idx:0]
        call 1
        if r0 == 0 goto miss
        *(u32 *)(r10 - 4) = 3
        r1 = r0
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto miss
        r0 = *(u64 *)(r0 + 0)
        exit
    miss:
        r0 = 1000
        exit";
    for outer_type in [MapType::ArrayOfMaps, MapType::HashOfMaps] {
        let outer = maps::create(&MapSpec::new(outer_type, 4, 4, 4)).unwrap();
        let mut table = MapTable::new();
        table.push(outer.clone());
        table.insert_fd(40, inner.clone());
        let runtime = Runtime::new(table);
        let mut helpers = Helpers::new();
        linux::register(&mut helpers, &runtime);
        let insns = runtime.maps.relocate(&assemble(text).unwrap()).unwrap();
        let run = |key: u32| {
            let mut mem = [0u8; 8];
            mem[..4].copy_from_slice(&key.to_ne_bytes());
            let (result, _) = common::run_both(&insns, &mem, &helpers, 1 << 20).unwrap();
            result.unwrap().r0
        };
        assert_eq!(run(1), 1000, "{outer_type:?}");
        outer
            .update(&1u32.to_ne_bytes(), &40u32.to_ne_bytes(), BPF_ANY)
            .unwrap();
        assert_eq!(run(1), 99, "{outer_type:?}");
    }
}

#[test]
fn a_tail_call_target_reaches_its_inlined_arrays_values() {
    // The caller tail-calls slot 0, whose program looks up key 3 of the array (103, see
    // `filled`) inline and reads it: the run must reach the array's values although the
    // caller never looked anything up.
    let mut table = MapTable::new();
    table.push(maps::create(&MapSpec::new(MapType::ProgArray, 4, 4, 1)).unwrap());
    table.push(filled(MapType::Array, 0));
    let runtime = Runtime::new(table);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let target = "
        *(u32 *)(r10 - 4) = 3
        r2 = r10
        r2 += -4
        r1 = map[idx:1]
        call 1
        if r0 == 0 goto miss
        r0 = *(u64 *)(r0 + 0)
        exit
    miss:
        r0 = 1000
        exit";
    let target = runtime.maps.relocate(&assemble(target).unwrap()).unwrap();
    let target = JitProgram::new(&target, &helpers).unwrap().program_fd();
    runtime
        .maps
        .get(0)
        .unwrap()
        .update(&0u32.to_ne_bytes(), &target.fd().to_ne_bytes(), BPF_ANY)
        .unwrap();
    let caller = "r2 = map[idx:0]\nr3 = 0\ncall 12\nr0 = 1\nexit";
    let caller = runtime.maps.relocate(&assemble(caller).unwrap()).unwrap();
    let mut jit = JitProgram::new(&caller, &helpers).unwrap();
    assert_eq!(jit.run_mem(&mut []).unwrap().r0, 103);
}

#[test]
fn per_cpu_lookups_find_the_running_threads_value() {
    // Element k holds 1000 * c + k in CPU slot c, so each slot of an element differs, and
    // a lookup must land in the slot of the thread running it (`cpu::current()`), for the
    // inline per-CPU array and the hash alike; on a thread of its own as well.
    for map_type in [MapType::PercpuArray, MapType::PercpuHash] {
        let map = maps::create(&MapSpec::new(map_type, 4, 8, 8)).unwrap();
        let cpus = maps::cpu::possible();
        for k in 0..8u32 {
            let value: Vec<u8> = (0..cpus)
                .flat_map(|c| (1000 * c as u64 + k as u64).to_ne_bytes())
                .collect();
            map.update(&k.to_ne_bytes(), &value, BPF_ANY).unwrap();
        }
        let read = move |map: &Arc<dyn Map>| {
            let cpu = maps::cpu::current() as u64;
            assert_eq!(run_read(map, READ, 5), Ok(1000 * cpu + 5), "{map_type:?}");
        };
        read(&map);
        let other = map.clone();
        std::thread::spawn(move || read(&other)).join().unwrap();
    }
}
