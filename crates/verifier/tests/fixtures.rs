//! The positive corpus: every program of the fixture objects (clang-compiled, and whose
//! XDP entry points the kernel accepts, see fixtures/build.sh) is accepted, the `*_mem`
//! programs as bpfkit's 'memory' type and the `*_xdp` programs as XDP.

use bpfkit_object::Object;
use bpfkit_verifier::{verify, ProgType, Region, VerifierOptions};
use std::path::PathBuf;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("readable object"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_fixture_program_is_accepted_for_its_type() {
    let mut checked = 0;
    for (file, bytes) in fixtures() {
        let object = Object::parse(&bytes).expect("fixture parses");
        for program in object.programs() {
            let name = program.name();
            let prog_type = if name.ends_with("_mem") {
                &ProgType::MEMORY
            } else if name.ends_with("_xdp") {
                &ProgType::XDP
            } else {
                continue;
            };
            let insns = program.insns().expect("fixture decodes");
            match verify(&insns, prog_type, &VerifierOptions::default()) {
                Ok(v) => {
                    println!(
                        "{file}.o {name}: accepted as {}, {} insns processed, {} states saved, {} pruned",
                        prog_type.name, v.stats.insns_processed, v.stats.states_saved, v.stats.states_pruned
                    );
                    // Every load and store of an accepted program is proven in bounds.
                    for (pc, insn) in bpfkit_isa::with_pcs(&insns) {
                        let is_access = matches!(
                            insn,
                            bpfkit_isa::Insn::Ldx { .. }
                                | bpfkit_isa::Insn::Stx { .. }
                                | bpfkit_isa::Insn::St { .. }
                        );
                        if is_access && v.facts[pc].visits > 0 {
                            assert!(v.facts[pc].access.is_some(), "{name} insn {pc}");
                        }
                    }
                }
                Err(e) => panic!("{file}.o {name} rejected as {}:\n{e}", prog_type.name),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 12, "six fixtures, two entry points each");
}

#[test]
fn xdp_parser_reads_the_packet_and_the_context() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/parse.o"
    ))
    .unwrap();
    let object = Object::parse(&bytes).unwrap();
    let insns = object.program("parse_xdp").unwrap().insns().unwrap();
    let v = verify(&insns, &ProgType::XDP, &VerifierOptions::default()).unwrap();
    let regions: Vec<Region> = v.facts.iter().filter_map(|f| f.access).collect();
    assert!(regions.contains(&Region::Ctx));
    assert!(regions.contains(&Region::Packet));
}
