//! Map definitions, global data, license and version as the loader fixtures
//! (fixtures/loader/*.c) declare them: every expected value is read off the C source.

mod common;

use bpfkit_isa::{Insn, LddwKind};
use bpfkit_object::{
    kernel_version, Btf, Initial, Kconfig, MapDef, Object, ObjectError, BPF_F_RDONLY_PROG,
    BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_PROG_ARRAY,
};
use common::*;

const HASH: u32 = 1;
const PERCPU_HASH: u32 = 5;
const PERCPU_ARRAY: u32 = 6;
const LRU_HASH: u32 = 9;
const LPM_TRIE: u32 = 11;
const QUEUE: u32 = 22;
const STACK: u32 = 23;
const RINGBUF: u32 = 27;
const BPF_F_NO_PREALLOC: u32 = 1;
const BPF_F_MMAPABLE: u32 = 1 << 10;

fn object(file: &str) -> Object {
    Object::parse(&loader_fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn map<'a>(object: &'a Object, name: &str) -> &'a MapDef {
    object
        .maps()
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no map {name}"))
}

/// (type, key size, value size, max entries, flags) of a map.
fn shape(def: &MapDef) -> (u32, u32, u32, u32, u32) {
    (
        def.map_type,
        def.key_size,
        def.value_size,
        def.max_entries,
        def.flags,
    )
}

#[test]
fn every_loader_fixture_parses_and_links_every_program() {
    let files = loader_fixtures();
    assert!(files.len() >= 40, "{} objects", files.len());
    let target = std::fs::read(fixtures_dir().join("loader/core_target.btf")).unwrap();
    let target = Btf::parse(&target).unwrap();
    let text =
        "CONFIG_BPF=y\nCONFIG_BPF_SYSCALL=y\nCONFIG_HZ=250\nCONFIG_DEFAULT_HOSTNAME=\"(none)\"\n";
    let mut config = Kconfig::parse(text).unwrap();
    config.kernel_version = Some(kernel_version(6, 1, 0));
    for file in files {
        let mut object = object(&file);
        // The CO-RE and kconfig fixtures need a target BTF and a configuration first
        // (load.rs checks the results).
        object.relocate_core(&target).unwrap();
        object.resolve_kconfig(&config).unwrap();
        assert!(object.programs().count() >= 1, "{file}");
        // It reads a kernel symbol, which only the kernel has (load.rs checks the error).
        for program in object.programs().filter(|p| p.name() != "ksyms_strong") {
            program
                .insns()
                .unwrap_or_else(|e| panic!("{file} {}: {e}", program.name()));
        }
    }
}

#[test]
fn btf_defined_maps_of_several_types() {
    // (object, map, type, key size, value size, max_entries, flags) from each .c file.
    let cases = [
        ("hash_map.o", "sums", (HASH, 4, 8, 16, 0)),
        ("array_map.o", "counts", (BPF_MAP_TYPE_ARRAY, 4, 4, 4, 0)),
        ("percpu_array.o", "total", (PERCPU_ARRAY, 4, 8, 1, 0)),
        ("lru_hash.o", "seen", (LRU_HASH, 4, 4, 64, 0)),
        ("queue_stack.o", "fifo", (QUEUE, 0, 4, 8, 0)),
        ("queue_stack.o", "lifo", (STACK, 0, 4, 8, 0)),
        ("ringbuf.o", "events", (RINGBUF, 0, 0, 4096, 0)),
        // struct key { u32 prefixlen; u8 addr[4]; }
        (
            "lpm_trie.o",
            "routes",
            (LPM_TRIE, 8, 4, 8, BPF_F_NO_PREALLOC),
        ),
        // struct pair { u16, u16 } -> struct stats { u64, u32, u32 }
        ("struct_value.o", "stats", (HASH, 4, 16, 4, 0)),
        // __uint(key_size, 4), __uint(value_size, 8)
        ("sized_map.o", "sized", (BPF_MAP_TYPE_ARRAY, 4, 8, 2, 0)),
        ("percpu_hash.o", "per_cpu", (PERCPU_HASH, 4, 4, 4, 0)),
        (
            "mmapable.o",
            "shared",
            (BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_MMAPABLE),
        ),
    ];
    for (file, name, expected) in cases {
        let object = object(file);
        let def = map(&object, name);
        assert_eq!(shape(def), expected, "{file} {name}");
        assert_eq!(def.section, ".maps");
        assert_eq!(def.initial, Initial::Empty);
        assert_eq!(def.pinning, 0);
    }
    assert_eq!(map(&object("pinned.o"), "big_bytes").pinning, 1);
}

#[test]
fn legacy_map_definitions() {
    for file in ["legacy_map.o", "legacy_map.nog.o"] {
        let object = object(file);
        let def = map(&object, "legacy");
        assert_eq!(shape(def), (BPF_MAP_TYPE_ARRAY, 4, 4, 2, 0), "{file}");
        assert_eq!(def.section, "maps");
    }
}

#[test]
fn iproute2_map_definitions() {
    // iproute2_maps.c: struct bpf_elf_map (36 bytes) with id and pinning.
    let object = object("iproute2_maps.o");
    let sums = map(&object, "sums");
    assert_eq!(shape(sums), (HASH, 4, 8, 2, 0));
    assert_eq!(sums.pinning, 2, "PIN_GLOBAL_NS");
    let last = map(&object, "last");
    assert_eq!(shape(last), (BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0));
    assert_eq!(last.pinning, 0);
}

#[test]
fn global_data_sections_are_single_element_arrays() {
    // global_data.c: __u32 counter = 5 (.data); __u32 total (.bss);
    // const volatile __u32 scale = 3 (.rodata).
    for file in ["global_data.o", "global_data.O1.o", "global_data.nog.o"] {
        let object = object(file);
        let names: Vec<&str> = object.maps().iter().map(|m| m.name.as_str()).collect();
        // The sections' order in the file (llvm-readelf-19 -S).
        assert_eq!(names, [".data", ".rodata", ".bss"], "{file}");
        let data = map(&object, ".data");
        assert_eq!(shape(data), (BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0));
        assert_eq!(data.initial, Initial::Data(5u32.to_le_bytes().to_vec()));
        assert_eq!(map(&object, ".bss").initial, Initial::Empty);
        let rodata = map(&object, ".rodata");
        assert_eq!(
            shape(rodata),
            (BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY_PROG)
        );
        assert_eq!(rodata.initial, Initial::Data(3u32.to_le_bytes().to_vec()));
        assert!(object.maps().iter().all(MapDef::is_global_data));
    }
    // custom_sections.c: .data.custom, .rodata.cfg (read-only) and .data.extra.
    let object = object("custom_sections.o");
    assert_eq!(map(&object, ".rodata.cfg").flags, BPF_F_RDONLY_PROG);
    assert_eq!(map(&object, ".data.custom").flags, 0);
    assert_eq!(
        map(&object, ".data.extra").initial,
        Initial::Data(vec![0; 4])
    );
    // big_bss.c: __u8 buf[4096].
    assert_eq!(map(&object_of("big_bss.o"), ".bss").value_size, 4096);
}

fn object_of(file: &str) -> Object {
    object(file)
}

#[test]
fn lddw_of_maps_and_data_become_map_references_by_index() {
    // data_and_maps.c: maps parity (0), last (1), then .data (2) holding `bias`.
    let object = object("data_and_maps.o");
    let names: Vec<&str> = object.maps().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["parity", "last", ".data"]);
    let insns = object
        .program("data_and_maps_mem")
        .unwrap()
        .insns()
        .unwrap();
    let refs: Vec<(LddwKind, i32, i32)> = insns
        .iter()
        .filter_map(|i| match *i {
            Insn::Lddw {
                kind,
                imm,
                next_imm,
                ..
            } => Some((kind, imm, next_imm)),
            _ => None,
        })
        .collect();
    assert!(refs.contains(&(LddwKind::MapIdx, 0, 0)), "{refs:?}");
    assert!(refs.contains(&(LddwKind::MapIdx, 1, 0)), "{refs:?}");
    // `bias` is the only variable of .data: offset 0 of map 2.
    assert!(refs.contains(&(LddwKind::MapIdxValue, 2, 0)), "{refs:?}");
    // llvm-objdump-19 -dr lists 6 relocated lddws (4 of parity, 1 of last, 1 of bias);
    // the seventh lddw is the constant 0xffffffff.
    let map_refs = refs.iter().filter(|r| r.0 != LddwKind::Imm64).count();
    assert_eq!(map_refs, 6, "{refs:?}");
}

#[test]
fn map_in_map_and_prog_array_values() {
    let object = object("map_in_map.o");
    let outer = map(&object, "outer");
    assert_eq!(shape(outer), (BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0));
    assert_eq!(
        outer.initial,
        Initial::Slots(vec![(1, "inner".to_string())])
    );
    let inner = outer.inner.as_deref().expect("inner definition");
    assert_eq!(shape(inner), (BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0));
    assert!(!inner.is_global_data());

    let object = object_of("hash_of_maps.o");
    let tables = map(&object, "tables");
    assert_eq!(shape(tables), (BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 4, 0));
    assert_eq!(tables.initial, Initial::Empty);
    assert_eq!(shape(tables.inner.as_deref().unwrap()), (HASH, 4, 8, 8, 0));

    let object = object_of("prog_array.o");
    let jumps = map(&object, "jumps");
    assert_eq!(shape(jumps), (BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0));
    assert_eq!(
        jumps.initial,
        Initial::Slots(vec![(0, "prog_array_tail".to_string())])
    );
}

#[test]
fn several_programs_per_section() {
    let object = object("multi_prog.o");
    let programs: Vec<(&str, &str)> = object.programs().map(|p| (p.name(), p.section())).collect();
    assert_eq!(
        programs,
        [
            ("sum_mem", "memory"),
            ("xor_mem", "memory"),
            ("sum_xdp", "xdp"),
            ("xor_xdp", "xdp")
        ]
    );
}

#[test]
fn callbacks_become_function_references() {
    // loop_callback.c: bpf_loop(N_BYTES, add_byte, &c, 0); add_byte is appended after the
    // program, and the lddw of its address points at its first instruction.
    let object = object("loop_callback.o");
    let insns = object
        .program("loop_callback_mem")
        .unwrap()
        .insns()
        .unwrap();
    let mut slot = 0;
    let mut found = None;
    for insn in &insns {
        if let Insn::Lddw {
            kind: LddwKind::Func,
            imm,
            ..
        } = *insn
        {
            found = Some((slot as i64 + 1 + i64::from(imm)) as usize);
        }
        slot += insn.slots();
    }
    let target = found.expect("an lddw of a function");
    let own = object.program("loop_callback_mem").unwrap().range();
    assert_eq!(
        target as u64,
        (own.end - own.start) / 8,
        "right after the program"
    );
}

#[test]
fn license_and_version() {
    let object = object("version_license.o");
    assert_eq!(object.license().as_deref(), Some("Dual BSD/GPL"));
    assert_eq!(object.kernel_version(), Some(0x060100));
    let object = object_of("hash_map.o");
    assert_eq!(object.license().as_deref(), Some("GPL"));
    assert_eq!(object.kernel_version(), None);
}

#[test]
fn set_global_changes_the_initial_value() {
    let mut object = object("global_data.o");
    object.set_global("scale", &10u32.to_le_bytes()).unwrap();
    assert_eq!(
        map(&object, ".rodata").initial,
        Initial::Data(10u32.to_le_bytes().to_vec())
    );
    // .bss had no bytes: setting a variable gives it a zeroed value first.
    object.set_global("total", &7u32.to_le_bytes()).unwrap();
    assert_eq!(
        map(&object, ".bss").initial,
        Initial::Data(7u32.to_le_bytes().to_vec())
    );
    assert!(matches!(
        object.set_global("scale", &[1, 2]),
        Err(ObjectError::Global { .. })
    ));
    let err = object.set_global("nothing", &[0; 4]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "global variable `nothing`: no global data section defines it"
    );
}

#[test]
fn line_info_without_and_with_debug_info() {
    assert!(object("static_data.nog.o").line_info("memory").is_empty());
    let object = object("static_data.o");
    let lines = object.line_info("memory");
    // static_data.c, static_data_core: `hits += end - start;` is line 10.
    assert!(
        lines
            .iter()
            .any(|l| l.line == 10 && l.source.contains("hits += end - start;")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| l.file.ends_with("static_data.c")));
    let program = object.program("static_data_mem").unwrap();
    let linked = program.line_info().unwrap();
    assert_eq!(linked.first().map(|(slot, _)| *slot), Some(0));
}

#[test]
fn func_info_of_a_linked_program() {
    // subprog_maps.c: subprog_maps_mem calls bump() and get() (.text): three functions,
    // the program's own at slot 0, then its callees where the linker appended them.
    let object = object("subprog_maps.o");
    let program = object.program("subprog_maps_mem").unwrap();
    let funcs = program.func_info().unwrap();
    let own = (program.range().end - program.range().start) / 8;
    let slots: Vec<usize> = funcs.iter().map(|(slot, _)| *slot).collect();
    assert_eq!(slots.len(), 3, "{slots:?}");
    assert_eq!(slots[0], 0);
    assert_eq!(slots[1] as u64, own, "the first callee follows the program");
    let btf = object.btf().unwrap();
    let names: Vec<&str> = funcs
        .iter()
        .map(|(_, f)| btf.get(f.type_id).unwrap().unwrap().name.as_str())
        .collect();
    assert_eq!(names[0], "subprog_maps_mem");
    let mut callees = names[1..].to_vec();
    callees.sort();
    assert_eq!(callees, ["bump", "get"]);
}

/// The spin lock's offset in a map value, from its BTF type, as the C declarations place
/// it: `struct flow { __u64 packets; struct bpf_spin_lock lock; ... }` at 8, `struct
/// totals { __u32 packets; struct bpf_spin_lock lock; ... }` at 4, a global lock at its
/// place in .bss; a value without one has none. `.rodata` is frozen with its contents; `.data` is not.
#[test]
fn spin_locks_and_frozen_rodata() {
    let accept_c = |file: &str| {
        let path = fixtures_dir().join("verifier/accept_c").join(file);
        Object::parse(&std::fs::read(path).unwrap()).unwrap()
    };
    let flows = accept_c("tc_spin_lock_flows.o");
    assert_eq!(map(&flows, "flows").spin_lock, Some(8));
    let totals = accept_c("xdp_spin_lock_array.o");
    assert_eq!(map(&totals, "totals").spin_lock, Some(4));
    // In `struct ethertype_stats { __u64 bytes; struct { __u32 packets; struct
    // bpf_spin_lock lock; } counts; }` at 8 + 4; `struct bpf_spin_lock lock[1]` first.
    let nested = accept_c("xdp_spin_lock_nested.o");
    assert_eq!(map(&nested, "stats").spin_lock, Some(12));
    assert_eq!(map(&nested, "total").spin_lock, Some(0));
    // `struct bpf_spin_lock totals_lock;` is the first variable of .bss.
    let global = accept_c("tc_spin_lock_global.o");
    assert_eq!(map(&global, ".bss").spin_lock, Some(0));
    let summary = accept_c("xdp_snprintf_summary.o");
    assert_eq!(map(&summary, "summary").spin_lock, None);
    let rodata = map(&summary, ".rodata");
    let frozen = rodata.frozen_contents().expect(".rodata is frozen");
    assert_eq!(frozen.len(), rodata.value_size as usize);
    // `fmt` and `tag` are the section's two strings, NUL-terminated.
    let text = String::from_utf8_lossy(&frozen);
    assert!(
        text.contains("len=%u proto=%x ttl=%d %s%c 100%%\0"),
        "{text:?}"
    );
    assert!(text.contains("ipv4\0"), "{text:?}");
    let data = object("global_data.o");
    assert!(map(&data, ".data").frozen_contents().is_none());
}
