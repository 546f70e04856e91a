//! Loading the loader fixtures into bpfkit's maps and running their memory programs in
//! the interpreter on fixtures/loader/input.bin: each result must be the one in
//! fixtures/loader/expected.txt, derived by hand and checked against the kernel's XDP
//! twins by fixtures/loader/build.sh --kernel.

mod common;

use bpfkit_object::{kernel_version, Btf, Kconfig, Object, ObjectError};
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::pin::PinDir;
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
        let mut object = Object::parse(&loader_fixture(&file)).unwrap();
        // The CO-RE and kconfig fixtures' expected values are for the kernel's layouts
        // and configuration.
        if let Err(lacking) = resolve_for_host(&mut object) {
            println!("skipped {file} {program}: {lacking}");
            continue;
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
    // 45 memory programs in expected.txt (35 at -O2 -g, 3 at -O1, 7 without -g), 1 of which
    // cannot run yet (NOT_RUNNABLE), 4 only with the kernel's BTF or configuration.
    assert_eq!(ran, 40 + host_dependent_programs(), "programs run");
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

    // Type matches: core_match_mem gives 0x112 against it, derived in core_match.c.
    let mut object = Object::parse(&loader_fixture("core_match.o")).unwrap();
    object.relocate_core(&Btf::parse(&target).unwrap()).unwrap();
    let loaded = object.load().unwrap();
    let insns = loaded.program("core_match_mem").unwrap().insns.clone();
    assert_eq!(run(loaded.maps, &insns, &mut input()), 0x112);
}

#[test]
fn kconfig_externs_come_from_the_configuration_given() {
    // kconfig.c's bits with this configuration, kernel 3.10.0: LINUX_KERNEL_VERSION is
    // below 4.0.0 (bit 0 clear), CONFIG_BPF=n (bit 1 clear), CONFIG_BPF_SYSCALL=m (bit 3,
    // not bit 2), CONFIG_BPFKIT_NOT_AN_OPTION=y (bit 4), HZ 123 (bit 5 clear), and the
    // hostname, longer than 15 bytes, cut and NUL-terminated at [15] (bit 6):
    // 0b1011000 = 0x58, plus b[0] << 8: 0x158.
    let text = "# CONFIG_X is not set\nCONFIG_BPF=n\nCONFIG_BPF_SYSCALL=m\nCONFIG_HZ=123\n\
                CONFIG_DEFAULT_HOSTNAME=\"0123456789abcdefXYZ\"\nCONFIG_BPFKIT_NOT_AN_OPTION=y\n";
    let mut config = Kconfig::parse(text).unwrap();
    config.kernel_version = Some(kernel_version(3, 10, 0));
    let mut object = Object::parse(&loader_fixture("kconfig.o")).unwrap();
    // Unresolved, no program is handed out.
    let err = object.program("kconfig_mem").unwrap().insns().unwrap_err();
    assert!(
        matches!(&err, ObjectError::KconfigNotResolved { count: 6, .. }),
        "{err}"
    );
    object.resolve_kconfig(&config).unwrap();
    let map = object.maps().iter().find(|m| m.name == ".kconfig").unwrap();
    assert_eq!(map.flags, bpfkit_object::BPF_F_RDONLY_PROG);
    let loaded = object.load().unwrap();
    let insns = loaded.program("kconfig_mem").unwrap().insns.clone();
    assert_eq!(run(loaded.maps, &insns, &mut input()), 0x158);
}

#[test]
fn kconfig_values_that_do_not_fit_are_errors_naming_the_extern() {
    let cases = [
        // A strong extern the configuration lacks.
        ("CONFIG_BPF=y\nCONFIG_BPF_SYSCALL=y\nCONFIG_DEFAULT_HOSTNAME=\"x\"\n", "CONFIG_HZ"),
        // `m` for a bool.
        ("CONFIG_BPF=m\nCONFIG_BPF_SYSCALL=y\nCONFIG_HZ=1\nCONFIG_DEFAULT_HOSTNAME=\"x\"\n", "CONFIG_BPF"),
        // A number for a string.
        ("CONFIG_BPF=y\nCONFIG_BPF_SYSCALL=y\nCONFIG_HZ=1\nCONFIG_DEFAULT_HOSTNAME=5\n", "CONFIG_DEFAULT_HOSTNAME"),
        // More than an int holds.
        ("CONFIG_BPF=y\nCONFIG_BPF_SYSCALL=y\nCONFIG_HZ=0x100000000\nCONFIG_DEFAULT_HOSTNAME=\"x\"\n", "CONFIG_HZ"),
    ];
    for (text, culprit) in cases {
        let mut config = Kconfig::parse(text).unwrap();
        config.kernel_version = Some(kernel_version(6, 1, 0));
        let mut object = Object::parse(&loader_fixture("kconfig.o")).unwrap();
        let err = object.resolve_kconfig(&config).unwrap_err();
        assert!(
            matches!(&err, ObjectError::Extern { name, .. } if name == culprit),
            "{text:?}: {err}"
        );
        // The object is unchanged: still unresolved.
        assert!(object.pending_kconfig());
    }
}

#[test]
fn weak_kernel_symbols_read_zero_and_strong_ones_are_errors() {
    let object = Object::parse(&loader_fixture("ksyms.o")).unwrap();
    let insns = object.program("ksyms_weak").unwrap().insns().unwrap();
    let lddw: Vec<_> = insns
        .iter()
        .filter_map(|i| match *i {
            bpfkit_isa::Insn::Lddw {
                kind,
                imm,
                next_imm,
                ..
            } => Some((kind, imm, next_imm)),
            _ => None,
        })
        .collect();
    // `llvm-objdump -dr ksyms.o`: `r1 = 0xffffffff ll`, the constant the address is
    // compared with, then `r2 = 0x0 ll` relocated against bpfkit_no_such_symbol: 0.
    assert_eq!(
        lddw,
        [
            (bpfkit_isa::LddwKind::Imm64, -1, 0),
            (bpfkit_isa::LddwKind::Imm64, 0, 0)
        ]
    );
    let err = object.program("ksyms_strong").unwrap().insns().unwrap_err();
    assert!(
        matches!(&err, ObjectError::BadReference { symbol, .. } if symbol == "init_task"),
        "{err}"
    );
}

#[test]
fn pinned_maps_are_reused_between_loads() {
    let dir = std::env::temp_dir().join(format!("bpfkit-pins-{}", std::process::id()));
    let pins = PinDir::open(&dir).unwrap();
    let object = Object::parse(&loader_fixture("pinned.o")).unwrap();
    // pinned.c adds the 4 bytes of b[0..8] above 4 to big_bytes[0], created as 0 only if
    // missing (BPF_NOEXIST): 4 on the first load, 8 when the second reuses the pin.
    for expected in [4, 8] {
        let loaded = object.load_pinned(&pins).unwrap();
        let insns = loaded.program("pinned_mem").unwrap().insns.clone();
        assert_eq!(run(loaded.maps.clone(), &insns, &mut input()), expected);
        loaded.save_pins(&pins).unwrap();
    }
    assert_eq!(pins.names().unwrap(), ["big_bytes"]);
    // Without a pin directory, a fresh map each time.
    let loaded = object.load().unwrap();
    let insns = loaded.program("pinned_mem").unwrap().insns.clone();
    assert_eq!(run(loaded.maps, &insns, &mut input()), 4);
    // A definition unlike the pinned map's is refused, naming what differs.
    let mut object = object.clone();
    object.map_mut("big_bytes").unwrap().max_entries = 2;
    let err = object.load_pinned(&pins).unwrap_err().to_string();
    assert!(
        err.contains("big_bytes") && err.contains("max_entries 1, the definition 2"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
