//! bpfkit's loader against the kernel: each loader fixture's XDP programs, linked and
//! relocated by bpfkit (not libbpf), with their maps created by `BPF_MAP_CREATE` and
//! map references rewritten to those maps' descriptors, are loaded with `BPF_PROG_LOAD`
//! (the kernel's verifier checks the relocations) and run on fixtures/loader/input.bin
//! with `BPF_PROG_TEST_RUN`; the result must be the hand-derived one in expected.txt,
//! which build.sh --kernel also checks through libbpf. After the run, the maps the
//! kernel's program left must hold what bpfkit's maps hold after the memory twin ran in
//! the interpreter on the same bytes. Skipped, with a line, where this process may not
//! load programs.

mod common;

use bpfkit_kernel::{ProgType, TestRun};
use bpfkit_object::Object;
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::MapTable;
use bpfkit_vm::{Helpers, Interpreter, Invocation};
use common::*;

/// Map types whose whole contents are compared: hash, array and LRU hash maps (global
/// data included). Per-CPU maps, tries, queues, stacks and ring buffers are left out:
/// their user-space views depend on CPU numbering, iteration order or consume elements.
const COMPARED_MAP_TYPES: [u32; 3] = [1, 2, 9];

/// Runs the memory program `program` of `object` once in the interpreter on `input`;
/// the maps afterwards.
fn run_in_bpfkit(object: &Object, program: &str, input: &[u8]) -> MapTable {
    let loaded = object.load().unwrap();
    let insns = loaded.program(program).unwrap().insns.clone();
    let runtime = Runtime::new(loaded.maps);
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let code = runtime.maps.relocate(&insns).unwrap();
    let mut vm = Interpreter::new(&code, &helpers).unwrap();
    let mut mem = input.to_vec();
    let mut invocation = Invocation::memory(&mut mem);
    runtime.maps.add_value_regions(&mut invocation.memory);
    vm.run(invocation).unwrap();
    (*runtime.maps).clone()
}

#[test]
fn xdp_programs_loaded_by_bpfkit_give_the_kernel_the_expected_results() {
    if let Err(why) = bpfkit_kernel::available() {
        println!("skipped: this process may not load BPF programs ({why})");
        return;
    }
    let input = std::fs::read(fixtures_dir().join("loader/input.bin")).unwrap();
    let mut ran = 0;
    let mut compared_maps = 0;
    for (file, program, expected) in loader_expected() {
        if !program.ends_with("_xdp") {
            continue;
        }
        let mut object = Object::parse(&loader_fixture(&file)).unwrap();
        if let Err(lacking) = resolve_for_host(&mut object) {
            println!("skipped {file}: {lacking}");
            continue;
        }
        let kernel = object
            .load_into_kernel(ProgType::Xdp, &[&program])
            .unwrap_or_else(|e| panic!("{file} {program}: {e}"));
        let result = kernel
            .program(&program)
            .unwrap()
            .test_run(&TestRun {
                data_in: &input,
                ..TestRun::default()
            })
            .unwrap();
        assert_eq!(
            u64::from(result.retval),
            expected,
            "{file} {program}: kernel {:#x}, expected {expected:#x}",
            result.retval
        );
        ran += 1;
        let twin = program.replace("_xdp", "_mem");
        if object.program(&twin).is_err() {
            continue;
        }
        let ours = run_in_bpfkit(&object, &twin, &input);
        for (i, def) in object.maps().iter().enumerate() {
            if !COMPARED_MAP_TYPES.contains(&def.map_type) {
                continue;
            }
            let mut bpfkit = ours.get(i as u32).unwrap().entries();
            bpfkit.sort();
            assert_eq!(
                bpfkit,
                kernel.maps[i].1.entries().unwrap(),
                "{file}: map {} after {twin} (bpfkit) and {program} (kernel)",
                def.name
            );
            compared_maps += 1;
        }
    }
    // 46 `_xdp` programs in expected.txt (36 in the objects built at -O2 -g, multi_prog
    // having two; 3 at -O1; 7 without -g); 4 only with the kernel's BTF or configuration.
    assert_eq!(ran, 42 + host_dependent_programs(), "programs run");
    println!("{compared_maps} maps compared with the kernel's");
    assert!(compared_maps >= 30, "{compared_maps} maps compared");
}
