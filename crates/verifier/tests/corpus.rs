//! The assembly corpus under fixtures/verifier/: `reject/*.s` break one rule each and
//! must be rejected at the recorded instruction for the recorded reason; `accept/*.s`
//! are safe patterns that must be accepted. Where this process may load BPF programs,
//! each is also loaded into the running kernel, whose verdict must be the one the file
//! records (so that the corpus stays honest).
//!
//! Header lines (assembly comments at the top of each file):
//!   `; type: xdp`                      the program type (required)
//!   `; at: 3`                          reject: slot index of the offending instruction
//!   `; bpfkit: <text>`                 reject: bpfkit's rejection text contains it (repeatable)
//!   `; kernel: rejects: <text>`        the kernel's log contains `<text>`
//!   `; kernel: accepts: <why>`         the kernel accepts it (bpfkit is stricter, on purpose)
//!   `; map: type=1 key=4 value=8 entries=16`  map `idx:N` for `map[idx:N]`, in order
//!                                      (`flags=N` optional: BPF_F_* creation flags)

mod common;

use bpfkit_isa::{assemble, encode_program, Insn, LddwKind};
use bpfkit_verifier::{verify, MapSpec, ProgType, VerifierOptions};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

struct Case {
    name: String,
    text: String,
    prog_type: &'static ProgType,
    at: Option<usize>,
    bpfkit: Vec<String>,
    kernel: Kernel,
    maps: Vec<MapSpec>,
}

enum Kernel {
    Rejects(String),
    Accepts,
}

fn header<'a>(text: &'a str, key: &str) -> impl Iterator<Item = &'a str> + 'a {
    let prefix = format!("; {key}:");
    text.lines()
        .take_while(|l| l.starts_with(';') || l.trim().is_empty())
        .filter_map(move |l| l.strip_prefix(prefix.as_str()).map(str::trim))
}

fn parse_map(spec: &str) -> MapSpec {
    let optional = |k: &str| -> Option<u32> {
        spec.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .map(|v| v.parse().expect("a number"))
    };
    let field = |k: &str| optional(k).unwrap_or_else(|| panic!("map spec `{spec}` lacks {k}"));
    MapSpec {
        fd: None,
        map_type: field("type"),
        key_size: field("key"),
        value_size: field("value"),
        max_entries: field("entries"),
        flags: optional("flags").unwrap_or(0),
        ..MapSpec::default()
    }
}

fn load(dir: &str) -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/verifier")
        .join(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "s"))
        .collect();
    paths.sort();
    paths.iter().map(|p| parse_case(p)).collect()
}

fn parse_case(path: &Path) -> Case {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let ty = header(&text, "type")
        .next()
        .unwrap_or_else(|| panic!("{name}: no type"));
    let prog_type = ProgType::by_name(ty).unwrap_or_else(|| panic!("{name}: unknown type {ty}"));
    let kernel = header(&text, "kernel")
        .next()
        .unwrap_or_else(|| panic!("{name}: no kernel verdict"));
    let kernel = if let Some(t) = kernel.strip_prefix("rejects:") {
        Kernel::Rejects(t.trim().to_string())
    } else if kernel.starts_with("accepts:") {
        Kernel::Accepts
    } else {
        panic!("{name}: kernel verdict must be `rejects: <text>` or `accepts: <why>`")
    };
    let at = header(&text, "at")
        .next()
        .map(|a| a.parse().expect("slot index"));
    let bpfkit = header(&text, "bpfkit").map(String::from).collect();
    let maps = header(&text, "map").map(parse_map).collect();
    Case {
        at,
        bpfkit,
        maps,
        name,
        text,
        prog_type,
        kernel,
    }
}

fn options(case: &Case) -> VerifierOptions {
    VerifierOptions {
        maps: case.maps.clone(),
        ..VerifierOptions::default()
    }
}

fn insns(case: &Case) -> Vec<Insn> {
    assemble(&case.text).unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

#[test]
fn rejected_corpus_is_rejected_for_the_recorded_reason() {
    let cases = load("reject");
    let mut failures = Vec::new();
    for case in &cases {
        assert!(
            case.at.is_some() && !case.bpfkit.is_empty(),
            "{}: needs `at` and `bpfkit`",
            case.name
        );
        match verify(&insns(case), case.prog_type, &options(case)) {
            Ok(_) => failures.push(format!("{}: accepted", case.name)),
            Err(r) => {
                let text = r.to_string();
                if Some(r.pc) != case.at {
                    failures.push(format!(
                        "{}: rejected at {} not {:?}:\n{text}",
                        case.name, r.pc, case.at
                    ));
                }
                for want in &case.bpfkit {
                    if !text.contains(want.as_str()) {
                        failures.push(format!("{}: `{want}` not in:\n{text}", case.name));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{} programs rejected as recorded", cases.len());
    assert!(cases.len() >= 60, "the corpus shrank to {}", cases.len());
}

#[test]
fn accepted_corpus_is_accepted() {
    let cases = load("accept");
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(r) = verify(&insns(case), case.prog_type, &options(case)) {
            failures.push(format!("{}:\n{r}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{} programs accepted", cases.len());
}

/// Loads `case` into the kernel: `Some(Ok(()))` accepted, `Some(Err(log))` rejected,
/// `None` when it cannot be loaded here (said on stdout).
fn kernel_verdict(case: &Case) -> Option<Result<(), String>> {
    let Some(kt) = common::kernel_type(case.prog_type.name) else {
        println!(
            "skipped {}: the kernel has no program type {}",
            case.name, case.prog_type.name
        );
        return None;
    };
    let prog = insns(case);
    if prog.iter().any(|i| {
        matches!(
            i,
            Insn::Lddw {
                kind: LddwKind::Func,
                ..
            }
        )
    }) {
        println!(
            "skipped {}: the kernel takes callbacks only with BTF func_info",
            case.name
        );
        return None;
    }
    // The kernel's maps stand in for the corpus's, referenced by file descriptor.
    let mut maps = Vec::new();
    for spec in &case.maps {
        let created = bpfkit_kernel::KernelMap::create(
            spec.map_type,
            spec.key_size,
            spec.value_size,
            spec.max_entries,
            spec.flags,
        );
        match created {
            Ok(m) => maps.push(m),
            Err(e) => {
                println!("skipped {}: cannot create its map: {e}", case.name);
                return None;
            }
        }
    }
    let mut prog = prog;
    for insn in &mut prog {
        if let Insn::Lddw { kind, imm, .. } = insn {
            let by_fd = match kind {
                LddwKind::MapIdx => LddwKind::MapFd,
                LddwKind::MapIdxValue => LddwKind::MapValue,
                _ => continue,
            };
            *imm = maps[*imm as usize].as_fd().as_raw_fd();
            *kind = by_fd;
        }
    }
    Some(
        match bpfkit_kernel::Program::load(kt, &encode_program(&prog), "GPL", &case.name) {
            Ok(_) => Ok(()),
            Err(bpfkit_kernel::KernelError::Rejected { log, errno, .. }) => {
                Err(format!("{errno}: {log}"))
            }
            Err(e) => panic!("{}: {e}", case.name),
        },
    )
}

#[test]
fn the_kernel_agrees_with_the_corpus() {
    if let Err(why) = bpfkit_kernel::available() {
        println!("skipped: this process may not load BPF programs ({why})");
        return;
    }
    let mut failures = Vec::new();
    let (mut agreed, mut skipped) = (0, 0);
    for case in load("reject").iter().chain(&load("accept")) {
        let Some(verdict) = kernel_verdict(case) else {
            skipped += 1;
            continue;
        };
        match (&case.kernel, verdict) {
            (Kernel::Rejects(want), Err(log)) if log.contains(want.as_str()) => agreed += 1,
            (Kernel::Accepts, Ok(())) => agreed += 1,
            (Kernel::Rejects(want), Err(log)) => {
                failures.push(format!("{}: kernel log lacks `{want}`:\n{log}", case.name))
            }
            (Kernel::Rejects(_), Ok(())) => {
                failures.push(format!("{}: the kernel accepts it", case.name))
            }
            (Kernel::Accepts, Err(log)) => {
                failures.push(format!("{}: the kernel rejects it:\n{log}", case.name))
            }
        }
    }
    println!("kernel agrees on {agreed} programs, {skipped} not loadable here");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
