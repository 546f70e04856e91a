//! CO-RE relocations of fixtures/loader/core.o against target BTFs written by hand here
//! (raw `.BTF` bytes, laid out as linux/btf.h describes), so each matching rule is
//! checked on its own.

mod common;

use bpfkit_isa::{Insn, Size};
use bpfkit_object::{Btf, Object};
use common::*;

/// Raw BTF: a header, `types` (already encoded) and `strings`.
fn raw_btf(types: &[u32], strings: &[u8]) -> Vec<u8> {
    let type_len = (types.len() * 4) as u32;
    let mut out = Vec::new();
    out.extend(0xeb9fu16.to_le_bytes());
    out.extend([1, 0]); // version, flags
    for word in [24, 0, type_len, type_len, strings.len() as u32] {
        out.extend(u32::to_le_bytes(word));
    }
    for word in types {
        out.extend(word.to_le_bytes());
    }
    out.extend(strings);
    out
}

/// `info` of a type: kind in bits 24..29, vlen in the low 16 bits.
fn info(kind: u32, vlen: u32) -> u32 {
    kind << 24 | vlen
}

/// The (size, offset) of every load from r1 in core_mem after relocation, in order.
fn loads(object: &Object) -> Vec<(Size, i16)> {
    object
        .program("core_mem")
        .unwrap()
        .insns()
        .unwrap()
        .iter()
        .filter_map(|i| match *i {
            Insn::Ldx { size, off, .. } => Some((size, off)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_member_of_an_incompatible_kind_does_not_match() {
    // Strings: offsets 1 "u32", 5 "foo", 9 "x", 11 "iphdr", 17 "ttl", 21 "saddr",
    // 27 "xdp_action", 38 "XDP_TX".
    let strings = b"\0u32\0foo\0x\0iphdr\0ttl\0saddr\0xdp_action\0XDP_TX\0";
    #[rustfmt::skip]
    let types = [
        // [1] INT u32, 4 bytes, 32 bits.
        1, info(1, 0), 4, 32,
        // [2] STRUCT foo { u32 x; }, 4 bytes.
        5, info(4, 1), 4, 9, 1, 0,
        // [3] STRUCT iphdr { struct foo ttl @ byte 8; u32 saddr @ byte 12; }, 20 bytes.
        11, info(4, 2), 20, 17, 2, 64, 21, 1, 96,
        // [4] ENUM xdp_action { XDP_TX = 3 }, 4 bytes.
        27, info(6, 1), 4, 38, 3,
    ];
    let target = Btf::parse(&raw_btf(&types, strings)).unwrap();
    let mut object = Object::parse(&loader_fixture("core.o")).unwrap();
    object.relocate_core(&target).unwrap();
    // ttl is a u8 locally and a struct here: no match, so its load (the first, a byte
    // load in core.o) is poisoned into a call of helper 0xbad2310. saddr matches at 12.
    assert_eq!(loads(&object), [(Size::W, 12)]);
    let insns = object.program("core_mem").unwrap().insns().unwrap();
    assert_eq!(
        insns
            .iter()
            .filter(|i| matches!(i, Insn::Call { imm: 0xbad2310 }))
            .count(),
        1
    );
}

#[test]
fn members_are_found_inside_anonymous_unions() {
    // The kernel's iphdr keeps saddr in an anonymous union of anonymous structs; a
    // reduced one: struct iphdr { u8 ttl @ 8; union { struct { u32 saddr @ 0; } } @ 12 }.
    // Strings: 1 "u8", 4 "u32", 8 "iphdr", 14 "ttl", 18 "saddr".
    let strings = b"\0u8\0u32\0iphdr\0ttl\0saddr\0";
    #[rustfmt::skip]
    let types = [
        // [1] INT u8, [2] INT u32.
        1, info(1, 0), 1, 8,
        4, info(1, 0), 4, 32,
        // [3] STRUCT (anon) { u32 saddr @ 0 }, 4 bytes.
        0, info(4, 1), 4, 18, 2, 0,
        // [4] UNION (anon) { struct [3] @ 0 }, 4 bytes.
        0, info(5, 1), 4, 0, 3, 0,
        // [5] STRUCT iphdr { u8 ttl @ byte 8; union [4] @ byte 12 }, 16 bytes.
        8, info(4, 2), 16, 14, 1, 64, 0, 4, 96,
    ];
    let target = Btf::parse(&raw_btf(&types, strings)).unwrap();
    let mut object = Object::parse(&loader_fixture("core.o")).unwrap();
    object.relocate_core(&target).unwrap();
    // ttl at 8 (a byte), saddr at 12 through the anonymous members.
    assert_eq!(loads(&object), [(Size::B, 8), (Size::W, 12)]);
}
