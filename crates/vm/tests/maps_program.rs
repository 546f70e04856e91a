//! Programs calling the map helpers in the interpreter, with maps resolved by file
//! descriptor and by index, and several threads running them on shared maps.

use bpfkit_isa::{AluOp, AtomicOp, Insn, JmpCond, LddwKind, Operand, Reg, Size, Width};
use bpfkit_vm::helpers::linux::{self, id, Runtime};
use bpfkit_vm::maps::{self, Map, MapSpec, MapTable, MapType, BPF_ANY};
use bpfkit_vm::{Access, Fault, Helpers, Interpreter, Invocation, Memory};
use std::sync::Arc;

// A few instruction builders, named after the assembly they stand for.
fn mov(dst: Reg, src: Reg) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Operand::Reg(src),
    }
}
fn movi(dst: Reg, imm: i32) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Operand::Imm(imm),
    }
}
fn addi(dst: Reg, imm: i32) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Add,
        dst,
        src: Operand::Imm(imm),
    }
}
fn map_fd(dst: Reg, fd: i32) -> Insn {
    Insn::Lddw {
        dst,
        kind: LddwKind::MapFd,
        imm: fd,
        next_imm: 0,
    }
}
fn map_idx(dst: Reg, idx: i32) -> Insn {
    Insn::Lddw {
        dst,
        kind: LddwKind::MapIdx,
        imm: idx,
        next_imm: 0,
    }
}
fn call(helper: i32) -> Insn {
    Insn::Call { imm: helper }
}
fn jeqi(dst: Reg, imm: i32, off: i16) -> Insn {
    Insn::Jmp {
        width: Width::W64,
        cond: JmpCond::Eq,
        dst,
        src: Operand::Imm(imm),
        off,
    }
}
fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn::Ldx {
        size,
        sx: false,
        dst,
        src,
        off,
    }
}
fn stdw(dst: Reg, off: i16, imm: i32) -> Insn {
    Insn::St {
        size: Size::DW,
        dst,
        off,
        imm,
    }
}
fn atomic_add(dst: Reg, src: Reg) -> Insn {
    Insn::Atomic {
        size: Size::DW,
        op: AtomicOp::Add { fetch: false },
        dst,
        src,
        off: 0,
    }
}
const R0: Reg = Reg::R0;
const R1: Reg = Reg::R1;
const R2: Reg = Reg::R2;
const R3: Reg = Reg::R3;
const R4: Reg = Reg::R4;
const R6: Reg = Reg::R6;
const R10: Reg = Reg::R10;

/// Prepares `prog` against `table` with the Linux helpers.
fn prepare(table: MapTable, prog: &[Insn]) -> (Interpreter, Runtime) {
    let runtime = Runtime::new(table);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let code = runtime.maps.relocate(prog).unwrap();
    (Interpreter::new(&code, &helpers).unwrap(), runtime)
}

/// The key is the first 4 bytes of the program's memory (r1). If the map has it, add 1 to
/// its u64 value atomically and return the new value; otherwise insert 1 and return the
/// update's result (0 on success).
fn counter(map: Insn) -> Vec<Insn> {
    vec![
        mov(R6, R1),
        map,
        mov(R2, R6),
        call(id::MAP_LOOKUP_ELEM),
        jeqi(R0, 0, 4),
        movi(R1, 1),
        atomic_add(R0, R1),
        ldx(Size::DW, R0, R0, 0),
        Insn::Exit,
        stdw(R10, -8, 1),
        map,
        mov(R2, R6),
        mov(R3, R10),
        addi(R3, -8),
        movi(R4, BPF_ANY as i32),
        call(id::MAP_UPDATE_ELEM),
        Insn::Exit,
    ]
}

#[test]
fn lookup_and_update_through_a_map_fd() {
    let map = maps::create(&MapSpec::new(MapType::Hash, 4, 8, 16)).unwrap();
    let mut table = MapTable::new();
    table.insert_fd(7, map.clone());
    let (mut vm, _) = prepare(table, &counter(map_fd(R1, 7)));
    let mut mem = 5u32.to_ne_bytes();
    // First run: key 5 is missing, the program inserts 1 and returns update's 0.
    assert_eq!(vm.run_mem(&mut mem).unwrap().r0, 0);
    // Next runs: lookup finds it and the atomic add makes 2, then 3.
    assert_eq!(vm.run_mem(&mut mem).unwrap().r0, 2);
    assert_eq!(vm.run_mem(&mut mem).unwrap().r0, 3);
    let mut value = [0u8; 8];
    map.lookup(&5u32.to_ne_bytes(), &mut value).unwrap();
    assert_eq!(u64::from_ne_bytes(value), 3);
}

#[test]
fn map_errors_reach_the_program_as_negative_errno() {
    // An array's index 9 of 4 is out of range: update returns -E2BIG (-7) in r0.
    let map = maps::create(&MapSpec::new(MapType::Array, 4, 8, 4)).unwrap();
    let mut table = MapTable::new();
    table.push(map);
    let (mut vm, _) = prepare(table, &counter(map_idx(R1, 0)));
    let mut mem = 9u32.to_ne_bytes();
    assert_eq!(vm.run_mem(&mut mem).unwrap().r0 as i64, -7);
}

#[test]
fn unresolved_map_references_are_reported() {
    let table = MapTable::new();
    let err = table.relocate(&[map_fd(R1, 3), Insn::Exit]).unwrap_err();
    assert_eq!(err.pc, 0);
    // Without relocation the interpreter refuses the map reference.
    assert!(Interpreter::new(&[map_fd(R1, 3), Insn::Exit], &Helpers::new()).is_err());
}

#[test]
fn direct_value_access_reads_an_array_value() {
    // lddw r1, map_value(fd 4, offset 4): the address of byte 4 of element 0, as clang
    // emits for global variables in .data/.bss.
    let map = maps::create(&MapSpec::new(MapType::Array, 4, 8, 1)).unwrap();
    map.update(&0u32.to_ne_bytes(), &[1, 2, 3, 4, 5, 6, 7, 8], BPF_ANY)
        .unwrap();
    let mut table = MapTable::new();
    table.insert_fd(4, map);
    let prog = [
        Insn::Lddw {
            dst: R1,
            kind: LddwKind::MapValue,
            imm: 4,
            next_imm: 4,
        },
        ldx(Size::W, R0, R1, 0),
        Insn::Exit,
    ];
    let (mut vm, runtime) = prepare(table, &prog);
    let mut memory = Memory::new();
    runtime.maps.add_value_regions(&mut memory);
    let out = vm
        .run(Invocation {
            args: [0; 5],
            memory,
            packet: None,
            packet_state: None,
        })
        .unwrap();
    assert_eq!(out.r0, u32::from_ne_bytes([5, 6, 7, 8]) as u64);
    // An offset past the value is refused, as the kernel's verifier does.
    let bad = [
        Insn::Lddw {
            dst: R1,
            kind: LddwKind::MapValue,
            imm: 4,
            next_imm: 8,
        },
        Insn::Exit,
    ];
    assert!(runtime.maps.relocate(&bad).is_err());
}

#[test]
fn value_pointer_is_bounded_to_map_memory() {
    // Reading far past the value faults instead of touching other memory. 1 GiB past it:
    // a few KiB past could land in another region of the run (its stack is a heap
    // allocation too, wherever the allocator put it), which the program may read.
    let map = maps::create(&MapSpec::new(MapType::Hash, 4, 8, 4)).unwrap();
    map.update(&1u32.to_ne_bytes(), &[0; 8], BPF_ANY).unwrap();
    let mut table = MapTable::new();
    table.push(map);
    let prog = [
        mov(R2, R1),
        map_idx(R1, 0),
        call(id::MAP_LOOKUP_ELEM),
        addi(R0, 1 << 30),
        ldx(Size::DW, R0, R0, 0),
        Insn::Exit,
    ];
    let (mut vm, _) = prepare(table, &prog);
    let mut mem = 1u32.to_ne_bytes();
    let err = vm.run_mem(&mut mem).unwrap_err();
    assert!(
        matches!(
            err.fault,
            Fault::OutOfBounds {
                size: 8,
                access: Access::Read,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.pc, 5, "the load faults");
}

#[test]
fn queue_push_and_pop_from_a_program() {
    let queue = maps::create(&MapSpec::new(MapType::Queue, 0, 8, 4)).unwrap();
    let mut table = MapTable::new();
    table.push(queue.clone());
    // push 42; pop into the stack; return the popped value.
    let prog = [
        stdw(R10, -8, 42),
        map_idx(R1, 0),
        mov(R2, R10),
        addi(R2, -8),
        movi(R3, 0),
        call(id::MAP_PUSH_ELEM),
        stdw(R10, -8, 0),
        map_idx(R1, 0),
        mov(R2, R10),
        addi(R2, -8),
        call(id::MAP_POP_ELEM),
        ldx(Size::DW, R0, R10, -8),
        Insn::Exit,
    ];
    let (mut vm, _) = prepare(table, &prog);
    assert_eq!(vm.run_mem(&mut []).unwrap().r0, 42);
    assert_eq!(queue.pop(&mut [0u8; 8]), Err(maps::MapError::NoEntry));
}

#[test]
fn ringbuf_reserve_submit_from_a_program() {
    let ring = maps::create(&MapSpec::new(MapType::Ringbuf, 0, 0, 4096)).unwrap();
    let mut table = MapTable::new();
    table.push(ring.clone());
    // r0 = reserve(ring, 8, 0); if !r0 exit; *(u64 *)r0 = 0x1234; submit(r0, 0)
    let prog = [
        map_idx(R1, 0),
        movi(R2, 8),
        movi(R3, 0),
        call(id::RINGBUF_RESERVE),
        jeqi(R0, 0, 4),
        stdw(R0, 0, 0x1234),
        mov(R1, R0),
        movi(R2, 0),
        call(id::RINGBUF_SUBMIT),
        Insn::Exit,
    ];
    let (mut vm, _) = prepare(table, &prog);
    for _ in 0..3 {
        vm.run_mem(&mut []).unwrap();
    }
    let mut got = Vec::new();
    ring.as_ringbuf()
        .unwrap()
        .consume(|r| got.push(u64::from_ne_bytes(r.try_into().unwrap())));
    assert_eq!(got, [0x1234; 3]);
}

#[test]
fn trace_printk_output_is_collected() {
    // fmt "n=%d\n\0" on the stack, one argument.
    let fmt = *b"n=%d\n\0\0\0";
    let prog = [
        Insn::lddw(R1, u64::from_ne_bytes(fmt)),
        Insn::Stx {
            size: Size::DW,
            dst: R10,
            src: R1,
            off: -8,
        },
        mov(R1, R10),
        addi(R1, -8),
        movi(R2, 6),
        movi(R3, -5),
        call(id::TRACE_PRINTK),
        Insn::Exit,
    ];
    let (mut vm, runtime) = prepare(MapTable::new(), &prog);
    // The helper returns the length of the message: "n=-5\n" is 5 bytes.
    assert_eq!(vm.run_mem(&mut []).unwrap().r0, 5);
    assert_eq!(runtime.trace.take(), ["n=-5\n"]);
}

#[test]
fn get_current_comm_is_the_threads_name() {
    // comm(r10 - 16, 16); return the first 8 bytes.
    let prog = [
        mov(R1, R10),
        addi(R1, -16),
        movi(R2, 16),
        call(id::GET_CURRENT_COMM),
        ldx(Size::DW, R0, R10, -16),
        Insn::Exit,
    ];
    let (vm, _) = prepare(MapTable::new(), &prog);
    let t = std::thread::Builder::new()
        .name("commtest".into())
        .spawn(move || {
            let mut vm = vm;
            vm.run_mem(&mut []).unwrap().r0
        })
        .unwrap();
    assert_eq!(t.join().unwrap().to_ne_bytes(), *b"commtest");
}

/// Threads running the counter program on one shared key of a hash and of an array map,
/// while other threads insert and delete other keys of the same hash map: every atomic
/// add must count.
#[test]
fn concurrent_programs_count_exactly() {
    const THREADS: usize = 4;
    const RUNS: u64 = 20_000;
    for spec in [
        MapSpec::new(MapType::Hash, 4, 8, 1024),
        MapSpec::new(MapType::Array, 4, 8, 16),
        MapSpec::new(MapType::LruHash, 4, 8, 1024),
    ] {
        let map = maps::create(&spec).unwrap();
        map.update(&3u32.to_ne_bytes(), &0u64.to_ne_bytes(), BPF_ANY)
            .unwrap();
        let mut table = MapTable::new();
        table.push(map.clone());
        let (vm, _) = prepare(table, &counter(map_idx(R1, 0)));
        let churn = {
            let map = map.clone();
            std::thread::spawn(move || churn(&*map))
        };
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let mut vm = vm.clone();
                std::thread::spawn(move || {
                    for _ in 0..RUNS {
                        vm.run_mem(&mut 3u32.to_ne_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        churn.join().unwrap();
        let mut value = [0u8; 8];
        map.lookup(&3u32.to_ne_bytes(), &mut value).unwrap();
        assert_eq!(
            u64::from_ne_bytes(value),
            THREADS as u64 * RUNS,
            "{:?}",
            spec.map_type
        );
    }
}

/// Inserts and deletes keys 100..600 (never key 3) to move other elements around.
fn churn(map: &dyn Map) {
    for round in 0..20u64 {
        for k in 100..600u32 {
            let _ = map.update(&k.to_ne_bytes(), &round.to_ne_bytes(), BPF_ANY);
        }
        for k in 100..600u32 {
            let _ = map.delete(&k.to_ne_bytes());
        }
    }
}

#[test]
fn user_space_threads_update_disjoint_keys() {
    // 4 threads each insert 250 keys of their own into a 1000-entry hash, then read them
    // back: every insert succeeds exactly once and the map ends full.
    let map: Arc<dyn Map> = maps::create(&MapSpec::new(MapType::Hash, 4, 8, 1000)).unwrap();
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let map = map.clone();
            std::thread::spawn(move || {
                for i in 0..250u32 {
                    let key = t * 1000 + i;
                    map.update(
                        &key.to_ne_bytes(),
                        &(key as u64).to_ne_bytes(),
                        maps::BPF_NOEXIST,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(map.entries().len(), 1000);
    assert_eq!(
        map.update(&7777u32.to_ne_bytes(), &[0; 8], BPF_ANY),
        Err(maps::MapError::TooBig)
    );
    for (k, v) in map.entries() {
        assert_eq!(
            u32::from_ne_bytes(k.try_into().unwrap()) as u64,
            u64::from_ne_bytes(v.try_into().unwrap())
        );
    }
}

#[test]
fn perf_event_output_from_a_program() {
    let perf = maps::create(&MapSpec::new(MapType::PerfEventArray, 4, 4, 1)).unwrap();
    perf.update(&0u32.to_ne_bytes(), &0u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    let mut table = MapTable::new();
    table.push(perf.clone());
    // perf_event_output(ctx, map, index 0, r10 - 8, 8) with 0x55 on the stack.
    let prog = [
        stdw(R10, -8, 0x55),
        map_idx(R2, 0),
        movi(R3, 0),
        mov(R4, R10),
        addi(R4, -8),
        movi(Reg::R5, 8),
        call(id::PERF_EVENT_OUTPUT),
        Insn::Exit,
    ];
    let (mut vm, _) = prepare(table, &prog);
    assert_eq!(vm.run_mem(&mut []).unwrap().r0, 0);
    let mut got = Vec::new();
    perf.as_perf_event_array().unwrap().consume(|_, s| {
        if let maps::Sample::Data(d) = s {
            got.push(d[..8].to_vec())
        }
    });
    assert_eq!(got, [0x55u64.to_ne_bytes().to_vec()]);
}

/// Per-CPU array: threads running the counter program add into their own CPU's slot;
/// user space sees every slot, and the slots sum to the number of runs.
#[test]
fn percpu_counts_sum_over_cpus() {
    const THREADS: u64 = 4;
    const RUNS: u64 = 5_000;
    let map = maps::create(&MapSpec::new(MapType::PercpuArray, 4, 8, 4)).unwrap();
    let mut table = MapTable::new();
    table.push(map.clone());
    let (vm, _) = prepare(table, &counter(map_idx(R1, 0)));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let mut vm = vm.clone();
            std::thread::spawn(move || {
                for _ in 0..RUNS {
                    vm.run_mem(&mut 2u32.to_ne_bytes()).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut all = vec![0u8; map.spec().user_value_size()];
    map.lookup(&2u32.to_ne_bytes(), &mut all).unwrap();
    let sum: u64 = all
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .sum();
    assert_eq!(sum, THREADS * RUNS);
}

/// LRU hash under concurrent insertions of distinct keys: no insertion fails (the map
/// evicts instead of answering -E2BIG) and the map never holds more than max_entries.
#[test]
fn lru_evicts_under_concurrent_inserts() {
    let map = maps::create(&MapSpec::new(MapType::LruHash, 4, 8, 64)).unwrap();
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let map = map.clone();
            std::thread::spawn(move || {
                for i in 0..5_000u32 {
                    let key = t << 24 | i;
                    map.update(&key.to_ne_bytes(), &[0; 8], BPF_ANY).unwrap();
                    let _ = map.lookup_ptr(&key.to_ne_bytes(), 0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n = map.entries().len();
    assert!(n > 0 && n <= 64, "{n} entries");
}

/// A program looks up an inner map in an array of maps and in a hash of maps, then looks
/// up key 3 in it: the inner map is the one whose descriptor user space stored.
#[test]
fn maps_of_maps_yield_their_inner_map() {
    let inner = maps::create(&MapSpec::new(MapType::Array, 4, 8, 4)).unwrap();
    inner
        .update(&3u32.to_ne_bytes(), &99u64.to_ne_bytes(), BPF_ANY)
        .unwrap();
    for outer_type in [MapType::ArrayOfMaps, MapType::HashOfMaps] {
        let outer = maps::create(&MapSpec::new(outer_type, 4, 4, 4)).unwrap();
        let mut table = MapTable::new();
        table.push(outer.clone());
        table.insert_fd(40, inner.clone());
        // r0 = outer[*r1] (an inner map), 0 if none; r0 = inner[3]; return *r0, or 1000
        // if the inner lookup fails. Jump offsets count slots: the lddw takes two.
        let prog = [
            mov(R2, R1),
            map_idx(R1, 0),
            call(id::MAP_LOOKUP_ELEM),
            jeqi(R0, 0, 9),
            Insn::St {
                size: Size::W,
                dst: R10,
                off: -4,
                imm: 3,
            },
            mov(R1, R0),
            mov(R2, R10),
            addi(R2, -4),
            call(id::MAP_LOOKUP_ELEM),
            jeqi(R0, 0, 2),
            ldx(Size::DW, R0, R0, 0),
            Insn::Exit,
            movi(R0, 1000),
            Insn::Exit,
        ];
        let (mut vm, _) = prepare(table, &prog);
        // Nothing stored at key 1 yet: the outer lookup is NULL.
        assert_eq!(vm.run_mem(&mut 1u32.to_ne_bytes()).unwrap().r0, 0);
        outer
            .update(&1u32.to_ne_bytes(), &40u32.to_ne_bytes(), BPF_ANY)
            .unwrap();
        assert_eq!(vm.run_mem(&mut 1u32.to_ne_bytes()).unwrap().r0, 99);
        // A descriptor that names no map of the table looks up as NULL.
        outer
            .update(&1u32.to_ne_bytes(), &41u32.to_ne_bytes(), BPF_ANY)
            .unwrap();
        assert_eq!(
            vm.run_mem(&mut 1u32.to_ne_bytes()).unwrap().r0,
            0,
            "{outer_type:?}"
        );
    }
}

#[test]
fn values_of_maps_read_only_for_programs_cannot_be_written() {
    // Look up key 1 (the program's memory), then store 7 into the value (`store`) or load
    // it; with BPF_F_RDONLY_PROG the store faults and the load does not.
    let program = |store: bool| {
        let access = if store {
            stdw(R0, 0, 7)
        } else {
            ldx(Size::DW, R0, R0, 0)
        };
        vec![
            mov(R2, R1),
            map_idx(R1, 0),
            call(id::MAP_LOOKUP_ELEM),
            jeqi(R0, 0, 2),
            access,
            movi(R0, 1),
            Insn::Exit,
        ]
    };
    for map_type in [MapType::Array, MapType::Hash] {
        for flags in [0, maps::BPF_F_RDONLY_PROG] {
            let spec = MapSpec::new(map_type, 4, 8, 4).with_flags(flags);
            let map = maps::create(&spec).unwrap();
            map.update(&1u32.to_ne_bytes(), &[0; 8], BPF_ANY).unwrap();
            for store in [false, true] {
                let mut table = MapTable::new();
                table.push(map.clone());
                let (mut vm, _) = prepare(table, &program(store));
                let mut mem = 1u32.to_ne_bytes();
                let result = vm.run_mem(&mut mem);
                let faults = store && flags != 0;
                assert_eq!(
                    result.is_err(),
                    faults,
                    "{map_type:?} flags {flags:#x} store {store}: {result:?}"
                );
            }
            let mut value = [0u8; 8];
            map.lookup(&1u32.to_ne_bytes(), &mut value).unwrap();
            let written = if flags == 0 { 7 } else { 0 };
            assert_eq!(
                u64::from_ne_bytes(value),
                written,
                "{map_type:?} flags {flags:#x}"
            );
        }
    }
}
