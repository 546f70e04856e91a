//! The clang-compiled loader corpus (fixtures/loader/*.o and fixtures/*.o): every program
//! the kernel accepts, bpfkit accepts too, with the program type its section names and
//! the maps its object defines.
//!
//! The kernel's verdict is the reference. Where this process may load programs, each XDP
//! program is loaded with `BPF_PROG_LOAD` (its maps created with `BPF_MAP_CREATE`), and a
//! 'memory' program takes the verdict of its XDP twin, which runs the same code over the
//! packet (fixtures/common.h). Programs the kernel cannot be given here (maps of maps need
//! an inner map descriptor, callbacks need the object's BTF) are named on stdout; their
//! kernel verdicts are the ones `fixtures/loader/build.sh --kernel` checks through libbpf.

mod common;

use bpfkit_object::{Btf, Kconfig, MapDef, Object};
use bpfkit_verifier::{verify, ProgType, VerifierOptions};
use common::{fixtures_dir, kernel_type, kernel_verdict};

/// Every object of the corpus, as `(path relative to fixtures/, bytes)`, sorted.
fn objects() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["", "loader"] {
        let path = fixtures_dir().join(dir);
        for entry in std::fs::read_dir(&path).expect("fixtures directory") {
            let p = entry.expect("directory entry").path();
            if p.extension().is_some_and(|x| x == "o") {
                let name = p
                    .strip_prefix(fixtures_dir())
                    .unwrap()
                    .display()
                    .to_string();
                out.push((name, std::fs::read(&p).expect("readable object")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_kernel_accepted_loader_corpus_is_accepted() {
    let kernel = bpfkit_kernel::available();
    if let Err(why) = &kernel {
        println!("kernel verdicts skipped: this process may not load BPF programs ({why})");
    }
    let vmlinux = std::fs::read("/sys/kernel/btf/vmlinux").ok();
    let mut rejected = Vec::new();
    let mut kernel_rejects = Vec::new();
    let (mut accepted, mut kernel_checked) = (0, 0);
    for (file, bytes) in objects() {
        let mut object = Object::parse(&bytes).expect("fixture parses");
        if object.pending_core_relocations() > 0 {
            let Some(vmlinux) = &vmlinux else {
                println!("skipped {file}: CO-RE relocations and no /sys/kernel/btf/vmlinux");
                continue;
            };
            object.relocate_core(&Btf::parse(vmlinux).unwrap()).unwrap();
        }
        if object.pending_kconfig() {
            match Kconfig::host() {
                Ok(config) => object.resolve_kconfig(&config).unwrap(),
                Err(e) => {
                    println!("skipped {file}: __kconfig externs and no host configuration ({e})");
                    continue;
                }
            }
        }
        let opts = VerifierOptions {
            maps: object.maps().iter().map(MapDef::verifier_spec).collect(),
            ..VerifierOptions::default()
        };
        // The kernel's verdict on each XDP program, by the name of the core it runs.
        let mut verdicts = Vec::new();
        // Programs bpfkit's loader links (kernel symbols exist only in the kernel).
        let programs: Vec<_> = object
            .programs()
            .filter(|p| match p.insns() {
                Ok(_) => true,
                Err(e) => {
                    println!("skipped {file} {}: bpfkit cannot link it ({e})", p.name());
                    false
                }
            })
            .collect();
        for program in &programs {
            let name = program.name();
            let prog_type = ProgType::for_section(program.section())
                .unwrap_or_else(|| panic!("{file} {name}: section {}", program.section()));
            if let (Some(kt), Ok(())) = (kernel_type(prog_type.name), &kernel) {
                if let Some(v) = kernel_verdict(&object, name, kt) {
                    kernel_checked += 1;
                    if let Err(log) = &v {
                        kernel_rejects.push(format!("{file} {name}: {log}"));
                    }
                    verdicts.push((name.trim_end_matches("_xdp").to_string(), v.is_ok()));
                }
            }
        }
        for program in &programs {
            let name = program.name();
            let core = name.trim_end_matches("_xdp").trim_end_matches("_mem");
            if verdicts.iter().any(|(c, ok)| c == core && !ok) {
                continue;
            }
            let prog_type = ProgType::for_section(program.section()).expect("checked above");
            let insns = program.insns().expect("fixture links");
            match verify(&insns, prog_type, &opts) {
                Ok(v) => {
                    accepted += 1;
                    println!(
                        "{file} {name}: accepted as {}, {} insns processed",
                        prog_type.name, v.stats.insns_processed
                    );
                }
                Err(r) => rejected.push(format!(
                    "{file} {name} ({}): at {}: {}",
                    prog_type.name, r.pc, r.reason
                )),
            }
        }
    }
    println!("{accepted} programs accepted, {kernel_checked} checked against the kernel");
    assert!(
        kernel_rejects.is_empty(),
        "the kernel rejects:\n{}",
        kernel_rejects.join("\n")
    );
    assert!(
        rejected.is_empty(),
        "{} programs the kernel accepts are rejected:\n{}",
        rejected.len(),
        rejected.join("\n")
    );
}
