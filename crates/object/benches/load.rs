//! Load time of the loader fixtures: parse (ELF, BTF, BTF.ext, map definitions) and link
//! and relocate every program, without verification, per object and per instruction.
//! The baseline, measured in the same run where root may load programs, is
//! `bpftool prog loadall` of the same object (XDP-only build, as fixtures/loader/build.sh
//! --kernel makes it): a whole process that also creates the maps in the kernel and runs
//! the kernel's verifier, so it bounds what a kernel load costs rather than isolating
//! the same work.
//!
//! `cargo bench -p bpfkit-object --bench load`; prints one table row per object at the end.

use bpfkit_object::Object;
use criterion::{black_box, Criterion};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Objects measured: small and large, with and without maps.
const OBJECTS: [&str; 6] = [
    "static_data",
    "hash_map",
    "data_and_maps",
    "subprog_maps",
    "map_in_map",
    "queue_stack",
];

fn loader_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/loader")
}

/// Parses and links every program; the number of instructions linked.
fn load(bytes: &[u8]) -> usize {
    let object = Object::parse(bytes).expect("fixture parses");
    object
        .programs()
        .map(|p| p.insns().expect("fixture links").len())
        .sum()
}

/// Mean wall time of `bpftool prog loadall` of the XDP-only build of `name`, or why not.
fn bpftool_load(name: &str, runs: u32) -> Result<Duration, String> {
    let dir = std::env::temp_dir().join(format!("bpfkit-load-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let object = dir.join(format!("{name}.o"));
    let include = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let status = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", &include, "-DXDP_ONLY", "-c"])
        .arg(loader_dir().join(format!("{name}.c")))
        .arg("-o")
        .arg(&object)
        .status()
        .map_err(|e| format!("clang-19: {e}"))?;
    if !status.success() {
        return Err("clang-19 failed".into());
    }
    let mut total = Duration::ZERO;
    for run in 0..runs {
        let pins = format!("/sys/fs/bpf/bpfkit-load-bench-{}-{run}", std::process::id());
        let start = Instant::now();
        let out = Command::new("bpftool")
            .args(["prog", "loadall"])
            .arg(&object)
            .arg(&pins)
            .args(["type", "xdp"])
            .output()
            .map_err(|e| format!("bpftool: {e}"))?;
        total += start.elapsed();
        let _ = std::fs::remove_dir_all(&pins);
        if !out.status.success() {
            return Err(format!(
                "bpftool prog loadall failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(total / runs)
}

fn main() {
    let mut criterion = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .configure_from_args();
    let mut rows = Vec::new();
    for name in OBJECTS {
        let bytes = std::fs::read(loader_dir().join(format!("{name}.o"))).unwrap();
        let insns = load(&bytes);
        criterion.bench_function(&format!("load/{name}"), |b| {
            b.iter(|| load(black_box(&bytes)))
        });
        // Criterion keeps its estimate to itself; a direct mean over as many runs is
        // close enough for the table.
        let runs = 2000u32;
        let start = Instant::now();
        for _ in 0..runs {
            black_box(load(black_box(&bytes)));
        }
        let bpfkit = start.elapsed() / runs;
        rows.push((name, bytes.len(), insns, bpfkit, bpftool_load(name, 10)));
    }
    println!("\n| object | bytes | insns | bpfkit parse+link | per insn | bpftool prog loadall | ratio |");
    println!("|---|--:|--:|--:|--:|--:|--:|");
    for (name, size, insns, bpfkit, bpftool) in rows {
        let (kernel, ratio) = match bpftool {
            Ok(t) => (
                format!("{:.2} ms", t.as_secs_f64() * 1e3),
                format!("{:.0}x", t.as_secs_f64() / bpfkit.as_secs_f64()),
            ),
            Err(why) => (format!("skipped: {why}"), "-".into()),
        };
        println!(
            "| {name} | {size} | {insns} | {:.1} µs | {:.0} ns | {kernel} | {ratio} |",
            bpfkit.as_secs_f64() * 1e6,
            bpfkit.as_nanos() as f64 / insns as f64,
        );
    }
}
