//! Every fixture object parses into the programs its C source defines, and calls.c's
//! programs are linked with their `.text` subprograms as libbpf would link them.

mod common;

use bpfkit_isa::decode::check_branches;
use bpfkit_isa::{encode_program, Insn};
use bpfkit_object::{Object, ObjectError};
use common::*;

/// Per fixture: (memory program, its instructions, xdp program, its instructions).
/// From `fixtures/<name>.objdump` (llvm-objdump-19 -d): the number of instructions listed
/// under each function, an `lddw` (`... ll`) counting once.
const PROGRAMS: [(&str, &str, usize, &str, usize); 5] = [
    ("checksum", "checksum_mem", 40, "checksum_xdp", 40),
    ("hash", "hash_mem", 17, "hash_xdp", 15),
    ("loop", "loop_mem", 50, "loop_xdp", 48),
    ("parse", "parse_mem", 54, "parse_xdp", 53),
    ("sort", "sort_mem", 79, "sort_xdp", 76),
];

#[test]
fn every_fixture_has_a_memory_and_an_xdp_program() {
    // FIXTURE_ENTRY_POINTS(name) in fixtures/common.h defines name_mem in SEC("memory")
    // and name_xdp in SEC("xdp"); no other program is defined.
    for name in FIXTURES {
        let object = Object::parse(&fixture(name)).unwrap();
        let programs: Vec<(&str, &str)> =
            object.programs().map(|p| (p.name(), p.section())).collect();
        let (mem, xdp) = (format!("{name}_mem"), format!("{name}_xdp"));
        assert_eq!(
            programs,
            [(mem.as_str(), "memory"), (xdp.as_str(), "xdp")],
            "{name}.o"
        );
        assert_eq!(object.program_by_section("xdp").unwrap().name(), xdp);
        assert_eq!(object.program_by_section("memory").unwrap().name(), mem);
    }
}

#[test]
fn programs_without_calls_are_their_own_instructions() {
    for (object, mem, mem_len, xdp, xdp_len) in PROGRAMS {
        let object = Object::parse(&fixture(object)).unwrap();
        for (name, len) in [(mem, mem_len), (xdp, xdp_len)] {
            let program = object.program(name).unwrap();
            let insns = program.insns().unwrap();
            assert_eq!(insns.len(), len, "{name}");
            // Each function fills its section (llvm-readelf -s: value 0, size = section size).
            assert_eq!(program.range().start, 0, "{name}");
            assert_eq!(
                program.range().end,
                encode_program(&insns).len() as u64,
                "{name}"
            );
        }
    }
}

/// calls.objdump: memory (calls_mem) has 25 slots, 24 instructions, with
///   slot 14: call -0x1  R_BPF_64_32 .text  -> .text+0x0  = mix    (12 slots, 11 insns)
///   slot 21: call 0xb   R_BPF_64_32 .text  -> .text+0x60 = finish (13 slots, 12 insns)
/// and finish calls mix without relocation (slot 22 of .text: call -0x17 -> slot 0).
/// Linked breadth-first: calls_mem at slot 0, mix at 25, finish at 37 (50 slots, 47 insns).
/// The call at slot 14 becomes 25 - 15 = 10, at slot 21 37 - 22 = 15, and finish's call,
/// now at slot 37 + 10 = 47, becomes 25 - 48 = -23.
#[test]
fn calls_mem_links_its_text_subprograms() {
    let object = Object::parse(&fixture("calls")).unwrap();
    let insns = object.program("calls_mem").unwrap().insns().unwrap();
    assert_eq!(insns.len(), 24 + 11 + 12);
    assert_eq!(encode_program(&insns).len(), 50 * 8);
    // Slot 14 is instruction 13 (the lddw at slot 3 takes two slots), slot 21 instruction 20.
    assert_eq!(insns[13], Insn::CallLocal { imm: 10 });
    assert_eq!(insns[20], Insn::CallLocal { imm: 15 });
    // finish starts at instruction 24 + 11 = 35; its call (slot 10 of it, after its lddw)
    // is its instruction 9.
    assert_eq!(insns[35 + 9], Insn::CallLocal { imm: -23 });
    let calls = insns
        .iter()
        .filter(|i| matches!(i, Insn::CallLocal { .. }))
        .count();
    assert_eq!(calls, 3);
    check_branches(&insns).unwrap();
}

/// calls.objdump: xdp (calls_xdp) has 22 slots, 21 instructions; calls at slot 13 (-0x1,
/// mix) and slot 20 (0xb, finish). Linked: mix at 22, finish at 34; 22 - 14 = 8,
/// 34 - 21 = 13, and finish's call at 34 + 10 = 44 becomes 22 - 45 = -23.
#[test]
fn calls_xdp_links_its_text_subprograms() {
    let object = Object::parse(&fixture("calls")).unwrap();
    let insns = object.program("calls_xdp").unwrap().insns().unwrap();
    assert_eq!(insns.len(), 21 + 11 + 12);
    assert_eq!(insns[12], Insn::CallLocal { imm: 8 });
    assert_eq!(insns[19], Insn::CallLocal { imm: 13 });
    assert_eq!(insns[32 + 9], Insn::CallLocal { imm: -23 });
    check_branches(&insns).unwrap();
}

/// clang relocates calls to global functions against the function's own symbol with
/// imm = -1; the fixtures only call static functions (against the `.text` section symbol).
/// Rewriting calls_mem's call of finish into the named form must link identically.
#[test]
fn a_call_relocated_against_a_function_symbol_links_like_one_against_the_section() {
    let original = fixture("calls");
    let mut named = original.clone();
    let finish = symbol_index(&named, "finish");
    let rel = relocation(&named, ".relmemory", 1);
    put_u64(&mut named, rel + 8, r_info(finish, 10));
    // The call's imm is at byte 4 of the instruction at memory+0xa8.
    let call = section_data(&named, "memory") + 0xa8;
    put_u32(&mut named, call + 4, -1i32 as u32);
    let link = |bytes: &[u8]| {
        Object::parse(bytes)
            .unwrap()
            .program("calls_mem")
            .unwrap()
            .insns()
    };
    assert_eq!(link(&named).unwrap(), link(&original).unwrap());
}

/// A code section whose entry point has no function symbol (older compilers) is one
/// program named by its section.
#[test]
fn a_section_without_function_symbol_is_a_program_named_by_it() {
    let mut bytes = fixture("hash");
    let sym = symbol(&bytes, "hash_mem");
    bytes[sym + ST_INFO] = 0x10; // STB_GLOBAL << 4 | STT_NOTYPE
    let object = Object::parse(&bytes).unwrap();
    let names: Vec<&str> = object.programs().map(|p| p.name()).collect();
    assert_eq!(names, ["memory", "hash_xdp"]);
    let program = object.program_by_section("memory").unwrap();
    assert_eq!(program.range(), 0..144);
    assert_eq!(program.insns().unwrap().len(), 17);
}

#[test]
fn unknown_program_names_list_the_available_ones() {
    let object = Object::parse(&fixture("calls")).unwrap();
    let err = object.program("mix").unwrap_err();
    assert_eq!(
        err,
        ObjectError::UnknownProgram {
            name: "mix".into(),
            available: vec!["calls_mem".into(), "calls_xdp".into()],
        }
    );
    assert_eq!(
        err.to_string(),
        "no program named `mix`; the object has: calls_mem, calls_xdp"
    );
    assert!(matches!(
        object.program_by_section("socket"),
        Err(ObjectError::UnknownSection { .. })
    ));
}
