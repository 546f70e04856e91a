//! Loading the loader fixtures into bpfkit's maps and running their memory programs in
//! the interpreter on fixtures/loader/input.bin: each result must be the one in
//! fixtures/loader/expected.txt, derived by hand and checked against the kernel's XDP
//! twins by fixtures/loader/build.sh --kernel.

mod common;

use bpfkit_object::Object;
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::MapTable;
use bpfkit_vm::{Helpers, Interpreter, Invocation};
use common::*;

/// Objects whose memory programs bpfkit cannot run yet, and why.
const NOT_RUNNABLE: [(&str, &str); 1] = [("loop_callback", "bpfkit's helpers have no bpf_loop")];

fn input() -> Vec<u8> {
    std::fs::read(fixtures_dir().join("loader/input.bin")).unwrap()
}

/// Runs `insns` once on `mem` with the maps of `maps` and Linux's helpers.
fn run(maps: MapTable, insns: &[bpfkit_isa::Insn], mem: &mut [u8]) -> u64 {
    let runtime = Runtime::new(maps);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let code = runtime
        .maps
        .relocate(insns)
        .expect("map references resolve");
    let mut vm = Interpreter::new(&code, &helpers).expect("prepare");
    let mut invocation = Invocation::memory(mem);
    runtime.maps.add_value_regions(&mut invocation.memory);
    vm.run(invocation).expect("run").r0
}

fn runnable(file: &str) -> bool {
    !NOT_RUNNABLE
        .iter()
        .any(|(name, _)| file.split('.').next() == Some(name))
}

#[test]
fn memory_programs_give_the_expected_results() {
    let mut ran = 0;
    for (file, program, expected) in loader_expected() {
        if !program.ends_with("_mem") || !runnable(&file) {
            continue;
        }
        let object = Object::parse(&loader_fixture(&file)).unwrap();
        let loaded = object
            .load()
            .unwrap_or_else(|e| panic!("{file}: cannot load: {e}"));
        let insns = loaded.program(&program).unwrap().insns.clone();
        let r0 = run(loaded.maps, &insns, &mut input());
        assert_eq!(
            r0, expected,
            "{file} {program}: got {r0:#x}, expected {expected:#x}"
        );
        ran += 1;
    }
    // 40 memory programs in expected.txt (30 at -O2 -g, 3 at -O1, 7 without -g), 1 of which
    // cannot run yet (NOT_RUNNABLE).
    assert_eq!(ran, 39, "programs run");
}

#[test]
fn rodata_set_before_load_is_what_the_program_reads() {
    // global_data.c: total * scale + counter = 36 * scale + 6.
    let mut object = Object::parse(&loader_fixture("global_data.o")).unwrap();
    object.set_global("scale", &10u32.to_ne_bytes()).unwrap();
    let loaded = object.load().unwrap();
    let insns = loaded.program("global_data_mem").unwrap().insns.clone();
    assert_eq!(run(loaded.maps, &insns, &mut input()), 36 * 10 + 6);
    // rodata_config.c: sum * mul + add = 36 * 3 + 0 with config = {3, 0}.
    let mut object = Object::parse(&loader_fixture("rodata_config.o")).unwrap();
    let config: Vec<u8> = [3u32, 0].iter().flat_map(|v| v.to_ne_bytes()).collect();
    object.set_global("config", &config).unwrap();
    let loaded = object.load().unwrap();
    let insns = loaded.program("rodata_config_mem").unwrap().insns.clone();
    assert_eq!(run(loaded.maps, &insns, &mut input()), 108);
}

#[test]
fn global_data_persists_in_its_map_between_runs() {
    // global_data.c: the second run sees total = 72 and counter = 7: 72 * 3 + 7 = 223.
    let object = Object::parse(&loader_fixture("global_data.o")).unwrap();
    let loaded = object.load().unwrap();
    let runtime = Runtime::new(loaded.maps);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let code = runtime.maps.relocate(&loaded.programs[0].insns).unwrap();
    let mut vm = Interpreter::new(&code, &helpers).unwrap();
    let mut results = Vec::new();
    for _ in 0..2 {
        let mut mem = input();
        let mut invocation = Invocation::memory(&mut mem);
        runtime.maps.add_value_regions(&mut invocation.memory);
        results.push(vm.run(invocation).unwrap().r0);
    }
    assert_eq!(results, [114, 223]);
}

#[test]
fn program_array_initial_values_are_refused() {
    let object = Object::parse(&loader_fixture("prog_array.o")).unwrap();
    let err = object.load().unwrap_err().to_string();
    assert!(
        err.starts_with("cannot create map `jumps` (type 3)"),
        "{err}"
    );
}
