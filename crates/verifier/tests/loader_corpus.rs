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

use bpfkit_isa::{encode_program, Insn, LddwKind};
use bpfkit_kernel::{KernelMap, Program};
use bpfkit_object::{Btf, MapDef, Object};
use bpfkit_verifier::{verify, MapSpec, ProgType, VerifierOptions};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

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

/// The verifier's view of a map definition (and of the maps a map of maps holds).
fn spec(def: &MapDef) -> MapSpec {
    MapSpec {
        fd: None,
        map_type: def.map_type,
        key_size: def.key_size,
        value_size: def.value_size,
        max_entries: def.max_entries,
        inner: def.inner.as_deref().map(|d| Box::new(spec(d))),
    }
}

/// The kernel's verdict on an XDP program: `Some(Ok)` accepted, `Some(Err(log))`
/// rejected, `None` when it cannot be loaded here (said on stdout).
fn kernel_verdict(object: &Object, name: &str, insns: &[Insn]) -> Option<Result<(), String>> {
    if insns.iter().any(|i| {
        matches!(
            i,
            Insn::Lddw {
                kind: LddwKind::Func,
                ..
            }
        )
    }) {
        println!("kernel skipped {name}: its callbacks need the object's BTF and func_info");
        return None;
    }
    let mut maps = Vec::new();
    for def in object.maps() {
        match KernelMap::create(
            def.map_type,
            def.key_size,
            def.value_size,
            def.max_entries,
            def.flags,
        ) {
            Ok(m) => maps.push(m),
            Err(e) => {
                println!(
                    "kernel skipped {name}: cannot create map {} ({e})",
                    def.name
                );
                return None;
            }
        }
    }
    let code: Vec<Insn> = insns
        .iter()
        .map(|insn| match *insn {
            Insn::Lddw {
                dst,
                kind: kind @ (LddwKind::MapIdx | LddwKind::MapIdxValue),
                imm,
                next_imm,
            } => Insn::Lddw {
                dst,
                kind: if kind == LddwKind::MapIdx {
                    LddwKind::MapFd
                } else {
                    LddwKind::MapValue
                },
                imm: maps[imm as usize].as_fd().as_raw_fd(),
                next_imm,
            },
            other => other,
        })
        .collect();
    let license = object.license().unwrap_or_default();
    Some(
        match Program::load(
            bpfkit_kernel::ProgType::Xdp,
            &encode_program(&code),
            &license,
            name,
        ) {
            Ok(_) => Ok(()),
            Err(bpfkit_kernel::KernelError::Rejected { log, errno, .. }) => {
                Err(format!("{errno}: {log}"))
            }
            Err(e) => Err(e.to_string()),
        },
    )
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
        let opts = VerifierOptions {
            maps: object.maps().iter().map(spec).collect(),
            ..VerifierOptions::default()
        };
        // The kernel's verdict on each XDP program, by the name of the core it runs.
        let mut verdicts = Vec::new();
        let programs: Vec<_> = object.programs().collect();
        for program in &programs {
            let name = program.name();
            let prog_type = ProgType::for_section(program.section())
                .unwrap_or_else(|| panic!("{file} {name}: section {}", program.section()));
            let insns = program.insns().expect("fixture links");
            if prog_type.name == "xdp" && kernel.is_ok() {
                if let Some(v) = kernel_verdict(&object, name, &insns) {
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
