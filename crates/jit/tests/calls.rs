//! Tail calls, `bpf_loop` and `bpf_for_each_map_elem` on both engines.
//!
//! The fixtures of crates/vm/tests/calls (C, compiled by clang) return values derived by
//! hand in their comments; the same values come out of the kernel
//! (`kernel_agrees_on_the_fixtures`, through libbpf's loader in bpftool, which fills
//! program arrays from `.values` as bpfkit's loader does). Each program runs on the
//! interpreter and on the JIT, which must also agree on the exact instruction count.
//! The hand-written programs below check what the kernel's verifier would refuse: faults
//! and runaway loops inside callbacks, too deep callbacks, programs of another engine.

#[path = "calls/engines.rs"]
mod engines;

use bpfkit_isa::assemble;
use bpfkit_jit::JitProgram;
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::{self, MapError, MapSpec, MapTable, MapType, BPF_ANY};
use bpfkit_vm::{Access, Fault, Helpers, Interpreter, Invocation, Outcome, PrepareError, VmError};
use engines::{input_file, kernel_run, load, prepare, Kind};
use std::path::PathBuf;
use std::process::Command;

/// (object, program, result): the hand derivations are in the C sources' comments.
const EXPECTED: [(&str, &str, u64); 13] = [
    ("tail_calls", "tc_limit", 33),
    ("tail_calls", "tc_chain", 11),
    ("tail_calls", "tc_fallthrough", 7),
    ("tail_calls", "tc_from_sub", 142),
    ("tail_calls", "tc_target", 42),
    ("tail_calls", "tc_spin", 1),
    ("callbacks", "loop_sum", 4950100),
    ("callbacks", "loop_stop", 45010),
    ("callbacks", "loop_nested", 310),
    ("callbacks", "loop_errors", 2207),
    ("callbacks", "each_array", 150556),
    ("callbacks", "each_hash", 82414),
    ("callbacks", "loop_bench", 499500),
];

#[test]
fn fixtures_give_the_derived_results_on_both_engines_with_the_same_counts() {
    for object in ["tail_calls", "callbacks"] {
        let mut interp = load(object, Kind::Interp);
        let mut jit = load(object, Kind::Jit);
        for (_, program, want) in EXPECTED.iter().filter(|(o, _, _)| *o == object) {
            // Twice: the results do not depend on what a previous run left in the maps.
            for _ in 0..2 {
                let a = interp
                    .run(program)
                    .unwrap_or_else(|e| panic!("{program}: {e}"));
                let b = jit
                    .run(program)
                    .unwrap_or_else(|e| panic!("{program} jit: {e}"));
                // The programs return int: the low 32 bits are the result.
                assert_eq!(a.r0 as u32 as u64, *want, "{program} on the interpreter");
                assert_eq!(b, a, "{program}: the JIT against the interpreter");
            }
        }
    }
}

#[test]
fn instruction_counts_include_tail_called_programs_and_callbacks() {
    // tc_spin is `r2 = spin ll; r3 = 0; call 12; r0 = 1; exit` (llvm-objdump): 33
    // entries run 3 instructions and tail-call, the 34th runs all 5: 33 * 3 + 5 = 104.
    // loop_bench runs 8 instructions up to its bpf_loop call and 2 after it; add_index
    // is 7 instructions, called 1000 times: 8 + 7000 + 2 = 7010.
    for (object, program, insns) in [
        ("tail_calls", "tc_spin", 104),
        ("callbacks", "loop_bench", 7010),
    ] {
        for kind in [Kind::Interp, Kind::Jit] {
            let run = load(object, kind).run(program).unwrap();
            assert_eq!(run.insns, insns, "{program} on {kind:?}");
        }
    }
}

#[test]
fn kernel_agrees_on_the_fixtures() {
    if let Err(why) = bpfkit_kernel::available() {
        println!("skipped: this process may not load BPF programs ({why})");
        return;
    }
    if Command::new("bpftool").arg("version").output().is_err() {
        println!("skipped: no bpftool to load the fixtures with libbpf");
        return;
    }
    let pins = PathBuf::from(format!("/sys/fs/bpf/bpfkit-calls-{}", std::process::id()));
    std::fs::create_dir_all(&pins).unwrap();
    let results: Vec<_> = EXPECTED
        .iter()
        .map(|(object, program, want)| {
            let run = kernel_run(&pins, object, program, 1).map(|(r0, _)| r0);
            (program, run, want)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&pins);
    let _ = std::fs::remove_file(input_file());
    for (program, got, want) in results {
        assert_eq!(got, Ok(*want), "{program} in the kernel");
    }
}

/// A program run on both engines, with the Linux helpers over `maps`; both must give the
/// same result and count.
fn both(text: &str, maps: MapTable, budget: u64) -> Result<u64, VmError> {
    let runtime = Runtime::new(maps);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let insns = runtime.maps.relocate(&assemble(text).unwrap()).unwrap();
    let mut results = Vec::new();
    for kind in [Kind::Interp, Kind::Jit] {
        let (mut engine, _fd) = prepare(kind, &insns, &helpers);
        engine.set_budget(budget);
        results.push(engine.run(Invocation::memory(&mut [0u8; 8])));
    }
    assert_eq!(results[0], results[1], "the JIT against the interpreter");
    results.remove(0).map(|o| o.r0)
}

/// `bpf_loop(r1 = n, callback, ctx 0, flags 0)` and exit: 5 instructions up to and with
/// the call (lddw counts once); the callback is the instructions after `cb:`.
fn looping(n: u32, callback: &str) -> String {
    format!("r1 = {n}\nr2 = subprog[cb]\nr3 = 0\nr4 = 0\ncall 181\nexit\ncb:\n{callback}")
}

#[test]
fn a_fault_in_a_callback_is_reported_at_its_instruction() {
    // Slots: 0 r1 = 3, 1-2 lddw, 3, 4, 5 call, 6 exit, 7 the load from address 0 (r1 is
    // the index, 0 on the first call).
    let err = both(
        &looping(3, "r0 = *(u8 *)(r1 + 0)\nexit"),
        MapTable::new(),
        1 << 20,
    )
    .unwrap_err();
    assert_eq!(
        err,
        VmError {
            pc: 7,
            fault: Fault::OutOfBounds {
                addr: 0,
                size: 1,
                access: Access::Read
            }
        }
    );
}

#[test]
fn callbacks_count_against_the_budget() {
    // 5 instructions before the first callback, 2 per callback, the exit: 1000 loops
    // take 5 + 2000 + 1 instructions.
    let count = |budget| both(&looping(1000, "r0 = 0\nexit"), MapTable::new(), budget);
    assert_eq!(count(2006), Ok(1000));
    // A callback is entered as a local call: refused once more than the budget ran.
    // After k callbacks 5 + 2k ran; 5 + 2 * 48 = 101 > 100 stops the 49th, at the call.
    assert_eq!(
        count(100),
        Err(VmError {
            pc: 5,
            fault: Fault::BudgetExhausted(100)
        })
    );
    // A loop inside the callback is stopped at its backward jump (slot 8).
    assert_eq!(
        both(
            &looping(1, "r0 = 0\nloop:\ngoto loop"),
            MapTable::new(),
            1000
        ),
        Err(VmError {
            pc: 8,
            fault: Fault::BudgetExhausted(1000)
        })
    );
}

#[test]
fn callbacks_are_frames_under_the_depth_limit() {
    // The callback calls bpf_loop with itself: frames 1, 2, ... until the eighth would
    // exceed the 8 frames; the call at slot 12 (inside the callback) is refused.
    let text = looping(
        1,
        "r1 = 1\nr2 = subprog[cb]\nr3 = 0\nr4 = 0\ncall 181\nexit",
    );
    assert_eq!(
        both(&text, MapTable::new(), 1 << 20),
        Err(VmError {
            pc: 12,
            fault: Fault::CallDepth(8)
        })
    );
}

#[test]
fn bad_callback_addresses_are_refused() {
    // r2 is an address inside the program's range but not a function's: the second slot
    // of the lddw itself (FUNC_ADDR_BASE + 2).
    let text = "r1 = 1\nr2 = 0xffffffffa0000002 ll\nr3 = 0\nr4 = 0\ncall 181\nexit";
    assert_eq!(
        both(text, MapTable::new(), 1 << 20),
        Err(VmError {
            pc: 5,
            fault: Fault::BadCallTarget(0xffff_ffff_a000_0002)
        })
    );
}

/// A table with one program array of 4 slots, map 0.
fn prog_array() -> MapTable {
    let mut maps = MapTable::new();
    maps.push(maps::create(&MapSpec::new(MapType::ProgArray, 4, 4, 4)).unwrap());
    maps
}

#[test]
fn a_tail_call_that_falls_through_leaves_r0() {
    // As the kernel's JMP_TAIL_CALL: out of range (9), then an empty slot (0).
    let text = "r0 = 77\nr2 = map[idx:0]\nr3 = 9\ncall 12\nr3 = 0\ncall 12\nexit";
    assert_eq!(both(text, prog_array(), 1 << 20), Ok(77));
}

#[test]
fn program_arrays_hold_loaded_programs_of_one_engine() {
    let maps = prog_array();
    let array = maps.get(0).unwrap().clone();
    let runtime = Runtime::new(maps);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let target = assemble("r0 = 5\nexit").unwrap();
    let interp_target = Interpreter::new(&target, &helpers).unwrap().program_fd();
    let jit_target = JitProgram::new(&target, &helpers).unwrap().program_fd();
    // A value that is no program's descriptor: EBADF, as the kernel's prog fd lookup.
    let key = 1u32.to_ne_bytes();
    assert_eq!(
        array.update(&key, &u32::MAX.to_ne_bytes(), BPF_ANY),
        Err(MapError::BadFd)
    );
    array
        .update(&key, &interp_target.fd().to_ne_bytes(), BPF_ANY)
        .unwrap();
    // Programs of one array are of one engine, as the kernel keeps them of one kind.
    assert_eq!(
        array.update(&0u32.to_ne_bytes(), &jit_target.fd().to_ne_bytes(), BPF_ANY),
        Err(MapError::Invalid)
    );
    let caller = runtime
        .maps
        .relocate(&assemble("r2 = map[idx:0]\nr3 = 1\ncall 12\nr0 = 1\nexit").unwrap())
        .unwrap();
    let mut vm = Interpreter::new(&caller, &helpers).unwrap();
    // Tail call (1), target's two instructions.
    assert_eq!(
        vm.run_mem(&mut []),
        Ok(Outcome { r0: 5, insns: 5 }),
        "interpreter to interpreter"
    );
    let mut jit = JitProgram::new(&caller, &helpers).unwrap();
    let err = jit.run_mem(&mut []).unwrap_err();
    assert_eq!(err.pc, 3);
    assert!(
        matches!(&err.fault, Fault::Helper { id: 12, reason } if reason.contains("another engine")),
        "{err}"
    );
    // Closing the descriptor unloads the program: the slot is then empty.
    drop(interp_target);
    assert_eq!(vm.run_mem(&mut []).map(|o| o.r0), Ok(1));
}

#[test]
fn tail_calls_only_with_a_program_array() {
    let mut maps = MapTable::new();
    maps.push(maps::create(&MapSpec::new(MapType::Array, 4, 4, 1)).unwrap());
    let err = both("r2 = map[idx:0]\nr3 = 0\ncall 12\nexit", maps, 1 << 20).unwrap_err();
    assert_eq!(err.pc, 3);
    assert!(matches!(err.fault, Fault::Helper { id: 12, .. }), "{err}");
}

#[test]
fn unknown_helpers_are_still_refused_at_preparation() {
    let insns = assemble("call 12\nexit").unwrap();
    let err: PrepareError = JitProgram::new(&insns, &Helpers::new()).err().unwrap();
    assert_eq!(
        err.to_string(),
        "instruction 0: unknown helper 12: no helper with this number is registered"
    );
}

#[test]
fn for_each_map_elem_checks_its_flags_and_map_type() {
    let text =
        "r1 = map[idx:0]\nr2 = subprog[cb]\nr3 = 0\nr4 = 1\ncall 164\nexit\ncb:\nr0 = 0\nexit";
    let table = |map_type| {
        let mut maps = MapTable::new();
        let spec = match map_type {
            MapType::Queue => MapSpec::new(map_type, 0, 8, 4),
            _ => MapSpec::new(map_type, 4, 8, 4),
        };
        maps.push(maps::create(&spec).unwrap());
        maps
    };
    // As bpf_for_each_array_elem: flags are -EINVAL, before any callback.
    assert_eq!(
        both(text, table(MapType::Array), 1 << 20),
        Ok(-22i64 as u64)
    );
    // Linux has no for_each callback for queues (the verifier refuses the call).
    let err = both(text, table(MapType::Queue), 1 << 20).unwrap_err();
    assert_eq!(err.pc, 6);
    assert!(matches!(err.fault, Fault::Helper { id: 164, .. }), "{err}");
}
