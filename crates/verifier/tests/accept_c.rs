//! The positive corpus of C programs (fixtures/verifier/accept_c, built by its build.sh
//! with clang-19 -O2): XDP and tc parsers for Ethernet, VLAN, IPv4, IPv6, TCP, UDP, ICMP
//! and ARP, socket filters, map lookups with null checks, atomic counters, bounded loops,
//! BPF-to-BPF calls, tail calls, ring buffers, global data, and the `__sk_buff` fields of
//! tc, socket filter and cgroup skb programs (bytes of `cb`, `sk` and its socket, the
//! timestamps, `queue_mapping`) with `bpf_check_mtu`, spin locks in hash, array and
//! global values (static functions called under them), `bpf_snprintf`, and a program
//! array filled from `.values`. Each program is accepted by bpfkit for the type its
//! section names and, where this process may load programs, by the kernel (each program
//! printed with the kernel's verdict, or why it was skipped): the kernel gets the objects
//! as libbpf loads them, spin lock maps with their BTF and `.rodata` frozen.
//!
//! Together with the clang-compiled fixtures of fixtures/ and fixtures/loader (checked by
//! loader_corpus.rs), this is the positive corpus of at least 40 programs.

mod common;

use bpfkit_object::Object;
use bpfkit_verifier::{verify, ProgType};
use common::{fixtures_dir, kernel_type, kernel_verdict, object_options};

#[test]
fn every_program_is_accepted_by_bpfkit_and_the_kernel() {
    let kernel = bpfkit_kernel::available();
    if let Err(why) = &kernel {
        println!("kernel verdicts skipped: this process may not load BPF programs ({why})");
    }
    let dir = fixtures_dir().join("verifier/accept_c");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/verifier/accept_c")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    paths.sort();
    let mut failures = Vec::new();
    let (mut programs, mut kernel_accepted) = (0, 0);
    for path in &paths {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let object = Object::parse(&std::fs::read(path).unwrap()).expect("object parses");
        for program in object.programs() {
            let opts = object_options(&object, &program);
            programs += 1;
            let name = program.name();
            let prog_type = ProgType::for_section(program.section())
                .unwrap_or_else(|| panic!("{file} {name}: section {}", program.section()));
            let insns = program.insns().expect("object links");
            match verify(&insns, prog_type, &opts) {
                Ok(v) => println!(
                    "{file} {name}: bpfkit accepts it as {}, {} insns processed",
                    prog_type.name, v.stats.insns_processed
                ),
                Err(r) => failures.push(format!("{file} {name}: bpfkit rejects it:\n{r}")),
            }
            if kernel.is_err() {
                continue;
            }
            let Some(kt) = kernel_type(prog_type.name) else {
                println!(
                    "kernel skipped {name}: bpfkit-kernel does not load {}",
                    prog_type.name
                );
                continue;
            };
            match kernel_verdict(&object, name, kt) {
                Some(Ok(())) => kernel_accepted += 1,
                Some(Err(log)) => {
                    failures.push(format!("{file} {name}: the kernel rejects it:\n{log}"))
                }
                None => {}
            }
        }
    }
    println!("{programs} programs, {kernel_accepted} accepted by the kernel");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(programs >= 28, "the corpus shrank to {programs} programs");
}
