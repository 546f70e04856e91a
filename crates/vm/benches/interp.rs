//! bpfkit's interpreter against rbpf's (0.4.1, crates.io), measured in the same run on the
//! same programs and input: every fixture's `*_mem` program from fixtures/*.o.
//!
//! Input: one 1500-byte Ethernet frame, fixtures/inputs/ipv4_tcp.bin (Ethernet, IPv4, TCP)
//! followed by a deterministic pseudo-random payload. Each fixture reads its own prefix of
//! it: parse the headers, hash the first 128 bytes, checksum the first 256, sort the first
//! 16 words, loop over the first 64 bytes, calls over the first 32.
//!
//! Each iteration runs the program once on the same buffer, for both engines alike; the
//! fixtures never write to it (checked after each fixture's measurements).
//!
//! rbpf sets r1 to the memory but leaves r2 zero, whereas bpfkit's memory programs take the
//! length in r2: rbpf runs the same program with one instruction prepended, `r2 = <length>`
//! (`mov64 r2, imm`). Jumps and calls are relative, so prepending leaves them intact.
//!
//! Before timing, both engines must return the same r0 for a fixture; a fixture rbpf
//! cannot load or run is reported on stderr and benchmarked with bpfkit only.
//!
//! The native baseline is the same C compiled for the host (crates/fixtures), for
//! scale.
//!
//! Run with `cargo bench -p bpfkit-vm --bench interp`.

use bpfkit_fixtures::{bench_frame, mem_program, with_len_in_r2};
use bpfkit_isa::encode_program;
use bpfkit_vm::{Helpers, Interpreter};
use criterion::{criterion_group, criterion_main, Criterion};

/// The fixtures, by file stem; each has a `<stem>_mem` program.
const FIXTURES: &[&str] = &["parse", "checksum", "hash", "sort", "loop", "calls"];

fn interpreters(c: &mut Criterion) {
    let input = bench_frame();
    for &stem in FIXTURES {
        let insns = mem_program(stem);
        let mut bpfkit = Interpreter::new(&insns, &Helpers::new()).expect("prepare fixture");
        let mut buffer = input.clone();
        let expected = bpfkit.run_mem(&mut buffer).expect("bpfkit runs fixture");
        eprintln!(
            "{stem}: r0 = {:#x}, {} instructions per run",
            expected.r0, expected.insns
        );

        let bytecode = encode_program(&with_len_in_r2(&insns, input.len()));
        let rbpf = match rbpf::EbpfVmRaw::new(Some(&bytecode)) {
            Ok(vm) => {
                buffer.copy_from_slice(&input);
                match vm.execute_program(&mut buffer) {
                    Ok(r0) if r0 == expected.r0 => Some(vm),
                    Ok(r0) => {
                        eprintln!(
                            "{stem}: rbpf returns {r0:#x}, bpfkit {:#x}: left out",
                            expected.r0
                        );
                        None
                    }
                    Err(e) => {
                        eprintln!("{stem}: rbpf cannot run it ({e}): left out");
                        None
                    }
                }
            }
            Err(e) => {
                eprintln!("{stem}: rbpf rejects it ({e}): left out");
                None
            }
        };

        let mut group = c.benchmark_group(stem);
        // The fixtures only read their input, so it is not copied afresh for each run (the
        // copy would cost as much as a short program); the check below proves it unchanged.
        group.bench_function("bpfkit", |b| {
            b.iter(|| bpfkit.run_mem(&mut buffer).expect("bpfkit run").r0)
        });
        if let Some(vm) = &rbpf {
            group.bench_function("rbpf", |b| {
                b.iter(|| vm.execute_program(&mut buffer).expect("rbpf run"))
            });
        }
        let native = bpfkit_fixtures::native::run(stem, &mut buffer);
        assert_eq!(native, Some(expected.r0), "{stem}: native result");
        group.bench_function("native", |b| {
            b.iter(|| bpfkit_fixtures::native::run(stem, &mut buffer))
        });
        group.finish();
        assert_eq!(buffer, input, "{stem} wrote to its input");
    }
}

criterion_group!(benches, interpreters);
criterion_main!(benches);
