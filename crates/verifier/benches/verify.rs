//! Verification time: bpfkit's verifier against the kernel's `BPF_PROG_LOAD` (verifier
//! plus JIT and the system call) on the same programs, measured in the same run: every
//! fixture's `*_xdp` program from fixtures/*.o (and bpfkit alone on the `*_mem` twins),
//! and every program of the positive C corpus, fixtures/verifier/accept_c/*.o, as the
//! type its section names.
//!
//! Before timing, each program's processed-instruction count is printed (bpfkit's, like
//! the kernel's `insn_processed`). Kernel loads are measured only where this process
//! may load programs; otherwise that is said once on stderr.
//!
//! Run with `cargo bench -p bpfkit-verifier --bench verify`.

#[path = "../tests/common/mod.rs"]
mod common;

use bpfkit_isa::Insn;
use bpfkit_kernel::Program;
use bpfkit_object::{kernel_code, MapDef, Object};
use bpfkit_verifier::{verify, ProgType, VerifierOptions};
use common::{fixtures_dir, kernel_type};
use criterion::{criterion_group, criterion_main, Criterion};
use std::rc::Rc;

const FIXTURES: &[&str] = &["parse", "checksum", "hash", "sort", "loop", "calls"];

/// One program to verify: its name, instructions, type, the maps it needs.
struct Case {
    name: String,
    insns: Vec<Insn>,
    prog_type: &'static ProgType,
    object: Rc<Object>,
}

fn load(path: &str) -> Rc<Object> {
    let bytes = std::fs::read(fixtures_dir().join(path)).expect("read fixture");
    Rc::new(Object::parse(&bytes).expect("parse fixture"))
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for stem in FIXTURES {
        for (suffix, prog_type) in [("xdp", &ProgType::XDP), ("mem", &ProgType::MEMORY)] {
            let object = load(&format!("{stem}.o"));
            let name = format!("{stem}_{suffix}");
            let insns = object
                .program(&name)
                .expect("fixture program")
                .insns()
                .unwrap();
            out.push(Case {
                name,
                insns,
                prog_type,
                object,
            });
        }
    }
    let dir = fixtures_dir().join("verifier/accept_c");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("accept_c")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".o"))
        .collect();
    files.sort();
    for file in files {
        let object = load(&format!("verifier/accept_c/{file}"));
        let programs: Vec<_> = object
            .programs()
            .map(|p| {
                (
                    p.name().to_string(),
                    p.section().to_string(),
                    p.insns().unwrap(),
                )
            })
            .collect();
        for (name, section, insns) in programs {
            let prog_type = ProgType::for_section(&section).expect("known section");
            out.push(Case {
                name,
                insns,
                prog_type,
                object: Rc::clone(&object),
            });
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let kernel = bpfkit_kernel::available();
    if let Err(why) = &kernel {
        eprintln!("kernel loads not measured: {why}");
    }
    for case in cases() {
        let opts = VerifierOptions {
            maps: case
                .object
                .maps()
                .iter()
                .map(MapDef::verifier_spec)
                .collect(),
            ..VerifierOptions::default()
        };
        let verified = verify(&case.insns, case.prog_type, &opts).expect("the corpus verifies");
        eprintln!(
            "{}: {} slots, {} instructions processed",
            case.name,
            case.insns.iter().map(Insn::slots).sum::<usize>(),
            verified.stats.insns_processed
        );
        let mut group = c.benchmark_group(&case.name);
        group.bench_function("bpfkit", |b| {
            b.iter(|| verify(&case.insns, case.prog_type, &opts).expect("the corpus verifies"))
        });
        if let (Ok(()), Some(kt)) = (&kernel, kernel_type(case.prog_type.name)) {
            let maps = case
                .object
                .create_kernel_maps()
                .expect("the kernel creates the maps");
            let code = kernel_code(&case.insns, &maps);
            group.bench_function("kernel", |b| {
                b.iter(|| Program::load(kt, &code, "GPL", &case.name).expect("the kernel loads it"))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
