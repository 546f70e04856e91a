//! Malformed objects, each made by corrupting one field of a fixture, give the error that
//! names the problem and where it is.

mod common;

use bpfkit_object::{Object, ObjectError, R_BPF_64_32, R_BPF_64_64};
use common::*;

fn parse_err(bytes: &[u8]) -> ObjectError {
    Object::parse(bytes).expect_err("the object should be rejected")
}

fn link_err(bytes: &[u8], program: &str) -> ObjectError {
    let object = Object::parse(bytes).unwrap();
    let program = object.program(program).unwrap();
    program.insns().expect_err("linking should fail")
}

#[test]
fn truncated_files() {
    let calls = fixture("calls");
    assert!(matches!(
        parse_err(&calls[..10]),
        ObjectError::NotElf { .. }
    ));
    assert!(matches!(parse_err(&[]), ObjectError::NotElf { .. }));
    // The section header table is at the end of the file (e_shoff 0x1bd0).
    assert!(matches!(
        parse_err(&calls[..calls.len() / 2]),
        ObjectError::Malformed { .. }
    ));
    // Shorter than the 64-byte ELF header but with a valid identification.
    assert!(matches!(
        parse_err(&calls[..40]),
        ObjectError::Malformed { .. }
    ));
}

#[test]
fn not_elf() {
    let mut bytes = fixture("hash");
    bytes[0] = b'M';
    assert!(matches!(parse_err(&bytes), ObjectError::NotElf { .. }));
}

#[test]
fn wrong_class_endianness_machine_and_type_say_what_was_found() {
    let original = fixture("hash");
    let mut bytes = original.clone();
    bytes[4] = 1; // ELFCLASS32
    assert_eq!(parse_err(&bytes), ObjectError::WrongClass { found: 1 });

    let mut bytes = original.clone();
    bytes[5] = 2; // ELFDATA2MSB
    let err = parse_err(&bytes);
    assert_eq!(err, ObjectError::WrongEndianness { found: 2 });
    assert!(err.to_string().contains("big-endian"), "{err}");

    let mut bytes = original.clone();
    put_u16(&mut bytes, E_MACHINE, 62); // EM_X86_64
    let err = parse_err(&bytes);
    assert_eq!(err, ObjectError::WrongMachine { found: 62 });
    assert_eq!(err.to_string(), "ELF machine is 62, not BPF (EM_BPF = 247)");

    let mut bytes = original;
    put_u16(&mut bytes, E_TYPE, 2); // ET_EXEC
    assert_eq!(parse_err(&bytes), ObjectError::NotRelocatable { found: 2 });
}

#[test]
fn symbol_with_a_section_index_out_of_range() {
    let mut bytes = fixture("calls");
    let sym = symbol(&bytes, "calls_mem");
    put_u16(&mut bytes, sym + ST_SHNDX, 200);
    // llvm-readelf -S calls.o: 29 section headers.
    match parse_err(&bytes) {
        ObjectError::SectionIndexOutOfRange { what, index, count } => {
            assert!(what.contains("calls_mem"), "{what}");
            assert_eq!((index, count), (200, 29));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn relocation_section_targeting_a_missing_section() {
    let mut bytes = fixture("calls");
    let rel = section_header(&bytes, section_index(&bytes, ".relmemory"));
    put_u32(&mut bytes, rel + SH_INFO, 1000);
    assert!(matches!(
        parse_err(&bytes),
        ObjectError::SectionIndexOutOfRange { index: 1000, .. }
    ));
}

#[test]
fn function_symbol_outside_its_section() {
    let mut bytes = fixture("calls");
    let sym = symbol(&bytes, "calls_mem");
    put_u64(&mut bytes, sym + ST_SIZE, 0x1000);
    assert_eq!(
        parse_err(&bytes),
        ObjectError::SymbolOutOfSection {
            symbol: "calls_mem".into(),
            section: "memory".into(),
            value: 0,
            size: 0x1000,
            section_size: 0xc8,
        }
    );
    put_u64(&mut bytes, sym + ST_SIZE, 0xc4);
    assert!(matches!(
        parse_err(&bytes),
        ObjectError::SymbolMisaligned { .. }
    ));
}

#[test]
fn code_section_size_not_a_multiple_of_8() {
    let mut bytes = fixture("hash");
    let xdp = section_header(&bytes, section_index(&bytes, "xdp"));
    put_u64(&mut bytes, xdp + SH_SIZE, 0x7c);
    assert_eq!(
        parse_err(&bytes),
        ObjectError::SectionSize {
            section: "xdp".into(),
            size: 0x7c
        }
    );
}

#[test]
fn relocations_outside_the_section_or_between_instructions() {
    let original = fixture("calls");
    let rel = relocation(&original, ".relmemory", 0);

    let mut bytes = original.clone();
    put_u64(&mut bytes, rel, 0x1000);
    assert_eq!(
        parse_err(&bytes),
        ObjectError::RelocationOutOfSection {
            section: "memory".into(),
            offset: 0x1000,
            size: 0xc8
        }
    );

    let mut bytes = original.clone();
    put_u64(&mut bytes, rel, 0x71);
    assert_eq!(
        parse_err(&bytes),
        ObjectError::RelocationNotOnInstruction {
            section: "memory".into(),
            offset: 0x71
        }
    );

    // memory+0x20 is the second slot of the lddw at slot 3 (calls.objdump): aligned, but
    // not an instruction, which only decoding tells.
    let mut bytes = original;
    put_u64(&mut bytes, rel, 0x20);
    assert_eq!(
        link_err(&bytes, "calls_mem"),
        ObjectError::RelocationNotOnInstruction {
            section: "memory".into(),
            offset: 0x20
        }
    );
}

#[test]
fn relocation_to_a_missing_symbol() {
    let mut bytes = fixture("calls");
    let rel = relocation(&bytes, ".relxdp", 1);
    put_u64(&mut bytes, rel + 8, r_info(999, R_BPF_64_32));
    // llvm-readelf -s calls.o: 19 symbols.
    assert_eq!(
        parse_err(&bytes),
        ObjectError::RelocationSymbolMissing {
            section: "xdp".into(),
            offset: 0xa0,
            index: 999,
            count: 19
        }
    );
}

#[test]
fn relocations_that_do_not_fit_their_instruction() {
    // R_BPF_64_64 belongs on an lddw; memory+0x70 is a call.
    let mut bytes = fixture("calls");
    let license = symbol_index(&bytes, "LICENSE");
    let rel = relocation(&bytes, ".relmemory", 0);
    put_u64(&mut bytes, rel + 8, r_info(license, R_BPF_64_64));
    let err = link_err(&bytes, "calls_mem");
    assert_eq!(
        err,
        ObjectError::UnsupportedRelocation {
            section: "memory".into(),
            offset: 0x70,
            symbol: "LICENSE".into(),
            kind: R_BPF_64_64
        }
    );
    assert!(
        err.to_string()
            .starts_with("R_BPF_64_64 relocation at memory+0x70 against `LICENSE`"),
        "{err}"
    );
    // The other program of the object does not use it and still links.
    let object = Object::parse(&bytes).unwrap();
    object.program("calls_xdp").unwrap().insns().unwrap();
}

#[test]
fn calls_to_something_other_than_a_function() {
    let original = fixture("calls");
    // A call relocated against a data symbol (an extern function would look the same).
    let mut bytes = original.clone();
    let license = symbol_index(&bytes, "LICENSE");
    let rel = relocation(&bytes, ".relmemory", 1);
    put_u64(&mut bytes, rel + 8, r_info(license, R_BPF_64_32));
    assert!(matches!(
        link_err(&bytes, "calls_mem"),
        ObjectError::UnsupportedRelocation {
            offset: 0xa8,
            kind: R_BPF_64_32,
            ..
        }
    ));

    // The call at memory+0xa8 against .text with imm 0x100: .text+0x808, past .text's 0xc8.
    let mut bytes = original;
    let call = section_data(&bytes, "memory") + 0xa8;
    put_u32(&mut bytes, call + 4, 0x100);
    assert_eq!(
        link_err(&bytes, "calls_mem"),
        ObjectError::BadCallTarget {
            section: "memory".into(),
            offset: 0xa8,
            target: ".text+0x808".into()
        }
    );
}

#[test]
fn undecodable_instructions_name_section_and_index() {
    let mut bytes = fixture("hash");
    // Instruction 5 of xdp: opcode 0xff does not exist.
    let at = section_data(&bytes, "xdp") + 5 * 8;
    bytes[at] = 0xff;
    let err = link_err(&bytes, "hash_xdp");
    match &err {
        ObjectError::Decode { section, source } => {
            assert_eq!(section, "xdp");
            assert_eq!(source.index, 5);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "section xdp: instruction 5: unknown opcode 0xff"
    );
}

#[test]
fn jumps_out_of_the_program_name_section_and_index() {
    let mut bytes = fixture("hash");
    // hash.objdump: xdp slot 15 is `exit`; make it `goto +0x100` (ja: opcode 0x05, off 0x100).
    let at = section_data(&bytes, "xdp") + 15 * 8;
    bytes[at..at + 8].copy_from_slice(&[0x05, 0, 0x00, 0x01, 0, 0, 0, 0]);
    match link_err(&bytes, "hash_xdp") {
        ObjectError::Decode { section, source } => {
            assert_eq!(section, "xdp");
            assert_eq!(source.index, 15);
        }
        other => panic!("unexpected {other:?}"),
    }
}
