//! Malformed maps, global data references and BTF, each made by corrupting one field of
//! a loader fixture, give one error naming the problem and where it is. Positions inside
//! `.BTF` follow `struct btf_header` and `struct btf_type` (linux/btf.h).

mod common;

use bpfkit_isa::Insn;
use bpfkit_object::{Btf, Object, ObjectError, R_BPF_64_64};
use common::*;

fn parse_err(bytes: &[u8]) -> String {
    Object::parse(bytes)
        .expect_err("the object should be rejected")
        .to_string()
}

fn link_err(bytes: &[u8], program: &str) -> ObjectError {
    let object = Object::parse(bytes).unwrap();
    let program = object.program(program).unwrap();
    program.insns().expect_err("linking should fail")
}

/// hash_map.o: the first relocation of `memory` is the lddw of map `sums` at
/// memory+0x60 (llvm-readelf-19 -r).
const SUMS_LDDW: u64 = 0x60;

fn first_memory_relocation(bytes: &[u8]) -> usize {
    let rel = relocation(bytes, ".relmemory", 0);
    assert_eq!(
        u64::from_le_bytes(bytes[rel..rel + 8].try_into().unwrap()),
        SUMS_LDDW
    );
    rel
}

#[test]
fn lddw_of_a_section_holding_neither_maps_nor_data() {
    let mut bytes = loader_fixture("hash_map.o");
    let rel = first_memory_relocation(&bytes);
    let license = symbol_index(&bytes, "LICENSE");
    put_u64(&mut bytes, rel + 8, r_info(license, R_BPF_64_64));
    assert_eq!(
        link_err(&bytes, "hash_map_mem").to_string(),
        "relocation at memory+0x60 against `LICENSE`: the section holds neither maps nor global data"
    );
}

#[test]
fn lddw_of_something_outside_the_object() {
    // The FILE symbol is absolute: defined in no section, like an extern.
    let mut bytes = loader_fixture("hash_map.o");
    let rel = first_memory_relocation(&bytes);
    let file = symbol_index(&bytes, "hash_map.c");
    put_u64(&mut bytes, rel + 8, r_info(file, R_BPF_64_64));
    let err = link_err(&bytes, "hash_map_mem");
    assert!(
        matches!(&err, ObjectError::BadReference { offset: SUMS_LDDW, symbol, .. } if symbol == "hash_map.c"),
        "{err}"
    );
}

#[test]
fn a_values_slot_outside_maps_and_against_a_non_map() {
    // map_in_map.o: .rel.maps has one relocation, `inner` stored in slot 1 of `outer`.
    let original = loader_fixture("map_in_map.o");
    let rel = relocation(&original, ".rel.maps", 0);
    let mut bytes = original.clone();
    put_u64(&mut bytes, rel, 0x1000);
    assert!(
        parse_err(&bytes).starts_with("relocation at .maps+0x1000 is outside the section"),
        "{}",
        parse_err(&bytes)
    );
    let mut bytes = original;
    let license = symbol_index(&bytes, "LICENSE");
    let kind = R_BPF_64_64 + 1; // R_BPF_64_ABS64, as clang emits for the slot
    put_u64(&mut bytes, rel + 8, r_info(license, kind));
    assert!(
        parse_err(&bytes).ends_with("a slot of map `outer` must name a map of .maps"),
        "{}",
        parse_err(&bytes)
    );
}

#[test]
fn maps_without_btf() {
    // .BTF turned into a note: the .maps section has nothing describing it.
    let mut bytes = loader_fixture("hash_map.o");
    let header = section_header(&bytes, section_index(&bytes, ".BTF"));
    put_u32(&mut bytes, header + SH_TYPE, 7); // SHT_NOTE
    assert_eq!(
        parse_err(&bytes),
        "map `.maps`: the object has a .maps section but no .BTF to describe it"
    );
}

/// Offset in the file of `.BTF`, and its header's hdr_len and type_off.
fn btf(bytes: &[u8]) -> (usize, usize, usize) {
    let start = section_data(bytes, ".BTF");
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    (start, u32_at(start + 4), u32_at(start + 8))
}

#[test]
fn bad_btf() {
    let original = loader_fixture("hash_map.o");
    let (start, hdr_len, type_off) = btf(&original);

    let mut bytes = original.clone();
    put_u16(&mut bytes, start, 0x1234);
    assert_eq!(
        parse_err(&bytes),
        ".BTF+0x0: bad magic number (expected 0xeb9f)"
    );

    // type_len (header offset 12) far past the section.
    let mut bytes = original.clone();
    put_u32(&mut bytes, start + 12, 0x10_0000);
    assert!(
        parse_err(&bytes).contains(
            "the type table (1048576 bytes at 0 after the header) lies outside the section"
        ),
        "{}",
        parse_err(&bytes)
    );

    // The first type's info word (offset 4 in struct btf_type) with kind 31.
    let mut bytes = original.clone();
    let first_type = start + hdr_len + type_off;
    put_u32(&mut bytes, first_type + 4, 31 << 24);
    assert_eq!(
        parse_err(&bytes),
        format!(".BTF+{:#x}: unknown type kind 31", hdr_len + type_off)
    );

    // str_len (header offset 20) 0: every name points past the string table.
    let mut bytes = original;
    put_u32(&mut bytes, start + 20, 0);
    assert!(
        parse_err(&bytes).contains("is past the end of the string table (0 bytes)"),
        "{}",
        parse_err(&bytes)
    );
}

/// core.o's first CO-RE relocation: `r2 = *(u8 *)(r1 + 0x0)`, the offset of `ttl`, at
/// memory+0x18 (slot 3 in llvm-objdump-19 -d).
const TTL_LOAD: usize = 0x18;

fn core_target() -> Btf {
    Btf::parse(&std::fs::read(fixtures_dir().join("loader/core_target.btf")).unwrap()).unwrap()
}

#[test]
fn co_re_relocation_of_an_instruction_without_the_local_value() {
    let mut bytes = loader_fixture("core.o");
    let at = section_data(&bytes, "memory") + TTL_LOAD;
    assert_eq!(bytes[at], 0x71, "ldxb");
    put_u16(&mut bytes, at + 2, 5);
    let mut object = Object::parse(&bytes).unwrap();
    let err = object.relocate_core(&core_target()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "CO-RE field byte offset relocation at memory+0x18: the instruction holds 5, not the local field byte offset 0"
    );
    // Nothing was patched: the relocations are still pending.
    assert_eq!(object.pending_core_relocations(), 12);
}

#[test]
fn co_re_relocations_without_target_types_poison_their_instructions() {
    // hash_map.o's BTF has no iphdr and no xdp_action: the existence relocation gives 0,
    // every other instruction becomes `call 0xbad2310` (both slots of the enum's lddw).
    let other = Object::parse(&loader_fixture("hash_map.o")).unwrap();
    let mut object = Object::parse(&loader_fixture("core.o")).unwrap();
    object.relocate_core(other.btf().unwrap()).unwrap();
    let insns = object.program("core_mem").unwrap().insns().unwrap();
    let poisoned = insns
        .iter()
        .filter(|i| matches!(i, Insn::Call { imm: 0xbad2310 }))
        .count();
    // ttl's load, saddr's load, saddr's size, the type size, the enum value (2 slots).
    assert_eq!(poisoned, 6);
}

#[test]
fn legacy_definitions_that_do_not_fit() {
    // iproute2_maps.o: `sums` is the first struct bpf_elf_map (36 bytes) of `maps`;
    // inner_id (byte 28) set makes it an iproute2 map of maps.
    let original = loader_fixture("iproute2_maps.o");
    let mut bytes = original.clone();
    let maps = section_data(&bytes, "maps");
    put_u32(&mut bytes, maps + 28, 1);
    assert!(
        parse_err(&bytes)
            .starts_with("map `sums`: its definition has non-zero fields past id and pinning"),
        "{}",
        parse_err(&bytes)
    );
    // A section size that does not divide among its 2 definitions: 73 bytes.
    let mut bytes = original;
    let header = section_header(&bytes, section_index(&bytes, "maps"));
    put_u64(&mut bytes, header + SH_SIZE, 73);
    assert_eq!(
        parse_err(&bytes),
        "map `maps`: 73 bytes do not divide into 2 map definitions of equal size"
    );
}
