//! Verification time: bpfkit's verifier against the kernel's `BPF_PROG_LOAD` (verifier
//! plus JIT and the system call) on the same programs, measured in the same run: every
//! fixture's `*_xdp` program from fixtures/*.o, and bpfkit alone on the `*_mem` twins.
//!
//! Before timing, each fixture's processed-instruction count is printed (bpfkit's, like
//! the kernel's `insn_processed`). Kernel loads are measured only where this process
//! may load programs; otherwise that is said once on stderr.
//!
//! Run with `cargo bench -p bpfkit-verifier --bench verify`.

use bpfkit_isa::{encode_program, Insn};
use bpfkit_object::Object;
use bpfkit_verifier::{verify, ProgType, VerifierOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;

const FIXTURES: &[&str] = &["parse", "checksum", "hash", "sort", "loop", "calls"];

fn program(stem: &str, suffix: &str) -> Vec<Insn> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../fixtures/{stem}.o"));
    let bytes = std::fs::read(path).expect("read fixture");
    let object = Object::parse(&bytes).expect("parse fixture");
    let program = object
        .program(&format!("{stem}_{suffix}"))
        .expect("fixture program");
    program.insns().expect("link fixture")
}

fn bench(c: &mut Criterion) {
    let opts = VerifierOptions::default();
    let kernel = bpfkit_kernel::available();
    if let Err(why) = &kernel {
        eprintln!("kernel loads not measured: {why}");
    }
    for stem in FIXTURES {
        let mut group = c.benchmark_group(*stem);
        for (suffix, prog_type) in [("xdp", &ProgType::XDP), ("mem", &ProgType::MEMORY)] {
            let insns = program(stem, suffix);
            let verified = verify(&insns, prog_type, &opts).expect("fixtures verify");
            eprintln!(
                "{stem}_{suffix}: {} slots, {} instructions processed",
                insns.iter().map(Insn::slots).sum::<usize>(),
                verified.stats.insns_processed
            );
            group.bench_function(format!("bpfkit_{suffix}"), |b| {
                b.iter(|| verify(&insns, prog_type, &opts).expect("fixtures verify"))
            });
            if suffix == "xdp" && kernel.is_ok() {
                let code = encode_program(&insns);
                group.bench_function("kernel_xdp", |b| {
                    b.iter(|| {
                        bpfkit_kernel::Program::load(
                            bpfkit_kernel::ProgType::Xdp,
                            &code,
                            "GPL",
                            stem,
                        )
                        .expect("the kernel loads the fixture")
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
