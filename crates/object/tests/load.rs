//! Loading the loader fixtures into bpfkit's maps and running their memory programs in
//! the interpreter on fixtures/loader/input.bin: each result must be the one in
//! fixtures/loader/expected.txt, derived by hand and checked against the kernel's XDP
//! twins by fixtures/loader/build.sh --kernel.

mod common;

use bpfkit_object::{Btf, Object, ObjectError};
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::MapTable;
use bpfkit_vm::{Helpers, Interpreter, Invocation};
use common::*;

/// The running kernel's BTF, if it has one.
fn vmlinux() -> Option<Btf> {
    let bytes = std::fs::read("/sys/kernel/btf/vmlinux").ok()?;
    Some(Btf::parse(&bytes).expect("the kernel's BTF parses"))
}

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

#[test]
fn memory_programs_give_the_expected_results() {
    let mut ran = 0;
    for (file, program, expected) in loader_expected() {
        if !program.ends_with("_mem") {
            continue;
        }
        let mut object = Object::parse(&loader_fixture(&file)).unwrap();
        if object.pending_core_relocations() > 0 {
            // The CO-RE fixtures' expected values are for the kernel's layouts.
            let Some(vmlinux) = vmlinux() else {
                println!("skipped {file} {program}: no /sys/kernel/btf/vmlinux");
                continue;
            };
            object.relocate_core(&vmlinux).unwrap();
        }
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
    // 43 memory programs in expected.txt (33 at -O2 -g, 3 at -O1, 7 without -g), 2 of
    // which (core, core_bitfield) only with the kernel's BTF.
    let co_re = 2 * usize::from(vmlinux().is_some());
    assert_eq!(ran, 41 + co_re, "programs run");
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
fn program_array_initial_values_are_filled_with_program_descriptors() {
    // prog_array.c: slot 0 of `jumps` (map 0) holds prog_array_tail.
    let object = Object::parse(&loader_fixture("prog_array.o")).unwrap();
    // Maps alone cannot hold the programs.
    let err = object.create_maps().unwrap_err().to_string();
    assert!(
        err.starts_with("cannot create map `jumps` (type 3): its initial values name programs"),
        "{err}"
    );
    let loaded = object.load().unwrap();
    assert_eq!(
        loaded.program_slots,
        [bpfkit_object::ProgramSlot {
            map: 0,
            slot: 0,
            program: "prog_array_tail".to_string()
        }]
    );
    let jumps = loaded.maps.get(0).unwrap();
    // Empty until the programs have descriptors.
    assert_eq!(jumps.inner_fd(&0u32.to_ne_bytes()), None);
    let err = loaded
        .fill_program_arrays(|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot create map `jumps` (type 3): slot 0 (program `prog_array_tail`)"),
        "{err}"
    );
    let runtime = Runtime::new(loaded.maps.clone());
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let tail = runtime
        .maps
        .relocate(&loaded.program("prog_array_tail").unwrap().insns)
        .unwrap();
    let fd = Interpreter::new(&tail, &helpers).unwrap().program_fd();
    loaded
        .fill_program_arrays(|name| (name == "prog_array_tail").then(|| fd.fd()))
        .unwrap();
    assert_eq!(jumps.inner_fd(&0u32.to_ne_bytes()), Some(fd.fd()));
    assert!(jumps.program(0).is_some());
}

#[test]
fn core_relocations_against_a_target_btf() {
    let mut object = Object::parse(&loader_fixture("core.o")).unwrap();
    // Unresolved, the offsets are the local struct's: the program is not handed out.
    let err = object.program("core_mem").unwrap().insns().unwrap_err();
    assert!(
        matches!(&err, ObjectError::CoreNotApplied { section, count: 6 } if section == "memory"),
        "{err}"
    );
    // core_target.c's layouts: 0x5104050a, derived in its comment.
    let target = std::fs::read(fixtures_dir().join("loader/core_target.btf")).unwrap();
    object.relocate_core(&Btf::parse(&target).unwrap()).unwrap();
    assert_eq!(object.pending_core_relocations(), 0);
    let loaded = object.load().unwrap();
    let insns = loaded.program("core_mem").unwrap().insns.clone();
    assert_eq!(run(loaded.maps, &insns, &mut input()), 0x5104050a);

    // Bitfields: core_bitfield_mem gives ihl * 16 + version = 0xd0 against it.
    let mut object = Object::parse(&loader_fixture("core_bitfield.o")).unwrap();
    object.relocate_core(&Btf::parse(&target).unwrap()).unwrap();
    let loaded = object.load().unwrap();
    let insns = loaded.program("core_bitfield_mem").unwrap().insns.clone();
    assert_eq!(run(loaded.maps, &insns, &mut input()), 0xd0);
}
