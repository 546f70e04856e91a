//! bpfkit's JIT against its interpreter, rbpf's JIT (0.4.1, crates.io) and, where this
//! process may load BPF programs, the kernel's JIT through `BPF_PROG_TEST_RUN`, measured in
//! the same run: every fixture's `*_mem` program from fixtures/*.o (the kernel runs the
//! fixture's `*_xdp` twin, the same C function over the packet).
//!
//! Input: one 1500-byte Ethernet frame, fixtures/inputs/ipv4_tcp.bin followed by an
//! xorshift payload. The fixtures only read their memory (checked before timing), so each
//! iteration runs the program once on the same buffer, as the kernel's repetitions run on
//! the same packet (its time is the average it reports over `iters` repetitions).
//!
//! rbpf sets r1 to the memory but leaves r2 zero, whereas the memory programs take the
//! length in r2: rbpf runs the same program with `r2 = <length>` prepended (jumps and calls
//! are relative, so prepending leaves them intact).
//!
//! A second group per fixture measures compilation: `JitProgram::new` against rbpf's
//! `jit_compile` (both from decoded instructions or bytes already in memory).
//!
//! The machine these figures come from is shared: user-space engines are timed in the
//! thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which leaves out the time the thread
//! waits while preempted, as the kernel's own timing of `BPF_PROG_TEST_RUN` does.
//!
//! bpfkit's JIT compiles each program with what the verifier proved (verified as a
//! 'memory' program: the accesses proven in bounds have no bounds check), as `bpfkit run`
//! does; `bpfkit-jit-checked` is the same program compiled without the facts, every access
//! checked, as for an unverified program.
//!
//! Before timing, every engine must return the reference r0 (the interpreter's); an engine
//! that cannot load or run a fixture is reported on stderr and left out.
//!
//! The floor is the same C compiled for the host (crates/fixtures, clang-19 -O2 where
//! installed), timed the same way.
//!
//! Run with `cargo bench -p bpfkit-jit --bench jit`.

use bpfkit_fixtures::{bench_frame, mem_program, program, with_len_in_r2};
use bpfkit_isa::encode_program;
use bpfkit_jit::{JitOptions, JitProgram};
use bpfkit_vm::{Helpers, Interpreter};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;

#[path = "../tests/common/verified.rs"]
mod verified;

const FIXTURES: &[&str] = &["parse", "checksum", "hash", "sort", "loop", "calls"];

/// The fixture's XDP twin loaded into the kernel, if this process may do that.
fn kernel_program(stem: &str) -> Option<bpfkit_kernel::Program> {
    if let Err(why) = bpfkit_kernel::available() {
        eprintln!("{stem}: kernel left out: {why}");
        return None;
    }
    let insns = program(stem, &format!("{stem}_xdp"));
    let loaded = bpfkit_kernel::Program::load(
        bpfkit_kernel::ProgType::Xdp,
        &encode_program(&insns),
        "GPL",
        stem,
    );
    match loaded {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("{stem}: the kernel rejects it ({e}): left out");
            None
        }
    }
}

/// CPU time of the calling thread.
fn thread_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` `iters` times, returning the thread CPU time it took.
fn cpu_timed<T>(iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let start = thread_time();
    for _ in 0..iters {
        std::hint::black_box(f());
    }
    thread_time() - start
}

fn engines(c: &mut Criterion) {
    let input = bench_frame();
    for &stem in FIXTURES {
        let insns = mem_program(stem);
        let mut buffer = input.clone();
        let mut interp = Interpreter::new(&insns, &Helpers::new()).expect("prepare");
        let expected = interp.run_mem(&mut buffer).expect("interpreter runs");
        assert_eq!(
            buffer, input,
            "{stem} writes its memory: copy it in every iteration"
        );
        let proven = verified::verify_memory(&insns, bpfkit_verifier::COMPLEXITY_LIMIT)
            .unwrap_or_else(|| panic!("{stem}: rejected as a memory program"));
        let options = JitOptions {
            proven: Some(&proven),
            ..JitOptions::default()
        };
        // Which of the two is compiled first (the checked one, unless
        // `BPFKIT_BENCH_FACTS_FIRST` is set) is a switch, so that a run can show whether
        // their placement in memory changes their times.
        let facts_first = std::env::var_os("BPFKIT_BENCH_FACTS_FIRST").is_some();
        let compile_facts = || JitProgram::with_options(&insns, &Helpers::new(), options);
        let first = facts_first.then(compile_facts);
        let mut checked = JitProgram::new(&insns, &Helpers::new()).expect("compile");
        let mut jit = first.unwrap_or_else(compile_facts).expect("compile");
        for engine in [&mut jit, &mut checked] {
            assert_eq!(
                engine.run_mem(&mut buffer),
                Ok(expected),
                "{stem}: JIT vs interpreter"
            );
        }
        eprintln!(
            "{stem}: r0 = {:#x}, {} instructions per run, {} instructions, {} bytes of x86 \
             ({} checked), {} accesses unchecked",
            expected.r0,
            expected.insns,
            insns.len(),
            jit.code_len(),
            checked.code_len(),
            jit.unchecked_accesses()
        );

        let bytecode = encode_program(&with_len_in_r2(&insns, input.len()));
        let mut rbpf = rbpf::EbpfVmRaw::new(Some(&bytecode)).ok();
        if let Some(vm) = &mut rbpf {
            // SAFETY: rbpf's JIT runs the fixture, which the interpreter just ran within
            // its bounds on the same input.
            let ran = vm
                .jit_compile()
                .and_then(|()| unsafe { vm.execute_program_jit(&mut buffer) });
            match ran {
                Ok(r0) if r0 == expected.r0 => {}
                other => {
                    eprintln!("{stem}: rbpf JIT gives {other:?}: left out");
                    rbpf = None;
                }
            }
        }

        let kernel = kernel_program(stem).filter(|p| {
            let run = p.test_run(&bpfkit_kernel::TestRun {
                data_in: &input,
                data_out_size: input.len(),
                repeat: 1,
                ..Default::default()
            });
            // The XDP twin returns the result truncated to 32 bits.
            let same = matches!(&run, Ok(r) if r.retval as u64 == expected.r0 & 0xffff_ffff);
            if !same {
                eprintln!("{stem}: kernel gives {run:?}: left out");
            }
            same
        });

        assert_eq!(
            bpfkit_fixtures::native::run(stem, &mut buffer),
            Some(expected.r0),
            "{stem}: native vs interpreter"
        );

        let mut group = c.benchmark_group(stem);
        group.bench_function("native", |b| {
            b.iter_custom(|n| cpu_timed(n, || bpfkit_fixtures::native::run(stem, &mut buffer)))
        });
        group.bench_function("bpfkit-jit", |b| {
            b.iter_custom(|n| cpu_timed(n, || jit.run_mem(&mut buffer).expect("jit run").r0))
        });
        group.bench_function("bpfkit-jit-checked", |b| {
            b.iter_custom(|n| cpu_timed(n, || checked.run_mem(&mut buffer).expect("jit run").r0))
        });
        group.bench_function("bpfkit-interp", |b| {
            b.iter_custom(|n| cpu_timed(n, || interp.run_mem(&mut buffer).expect("run").r0))
        });
        if let Some(vm) = &rbpf {
            group.bench_function("rbpf-jit", |b| {
                b.iter_custom(|n| {
                    // SAFETY: as above.
                    cpu_timed(n, || unsafe { vm.execute_program_jit(&mut buffer) })
                })
            });
        }
        if let Some(p) = &kernel {
            group.bench_function("kernel-jit", |b| {
                b.iter_custom(|iters| {
                    let run = p
                        .test_run(&bpfkit_kernel::TestRun {
                            data_in: &input,
                            data_out_size: input.len(),
                            repeat: iters.min(u32::MAX as u64) as u32,
                            ..Default::default()
                        })
                        .expect("kernel run");
                    Duration::from_nanos(run.duration_ns as u64 * iters)
                })
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("{stem}-compile"));
        group.bench_function("bpfkit-jit", |b| {
            b.iter_custom(|n| cpu_timed(n, || JitProgram::new(&insns, &Helpers::new())))
        });
        if rbpf.is_some() {
            group.bench_function("rbpf-jit", |b| {
                b.iter_custom(|n| {
                    cpu_timed(n, || {
                        let mut vm = rbpf::EbpfVmRaw::new(Some(&bytecode)).expect("rbpf load");
                        vm.jit_compile().expect("rbpf compile");
                        vm
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, engines);
criterion_main!(benches);
