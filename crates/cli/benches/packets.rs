//! Packets per second on one core for XDP programs over fixtures/net/bench64.pcap (1024
//! frames of 64 bytes, in memory): bpfkit's interpreter and JIT, measured by `bpfkit
//! test-run --repeat` (the time spent in the runs: laying the packet out, running the
//! program, taking the verdict), next to the kernel's BPF_PROG_TEST_RUN with `repeat` on
//! the same objects and packets in the same process (the kernel's own average per run),
//! as ratios to the kernel.
//!
//! `cargo bench -p bpfkit-cli --bench packets`; the kernel's column needs the privileges
//! to load programs and is left out, saying why, without them.

use bpfkit_kernel::{ProgType, TestRun};
use bpfkit_object::Object;
use std::process::Command;

/// The programs: drop-all, and parse + count per protocol in a per-CPU array.
const PROGRAMS: [&str; 2] = ["xdp_drop", "xdp_count"];
/// Runs of each packet per measurement.
const REPEAT: u32 = 2000;
/// Measurements per figure; the best (least disturbed) is kept.
const ROUNDS: usize = 5;

fn net(name: &str) -> String {
    bpfkit_fixtures::dir()
        .join("net")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// bpfkit's packets per second for `program` on `engine`.
fn bpfkit(program: &str, engine: &str) -> f64 {
    let out = Command::new(env!("CARGO_BIN_EXE_bpfkit"))
        .args([
            "test-run",
            &net(&format!("{program}.o")),
            "--pcap",
            &net("bench64.pcap"),
        ])
        .args([
            "--engine",
            engine,
            "--repeat",
            &REPEAT.to_string(),
            "--json",
        ])
        .output()
        .expect("run bpfkit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    json["packets_per_second"]
        .as_f64()
        .expect("packets_per_second")
}

/// The kernel's packets per second for `program`: the mean of its per-run durations over
/// every packet.
fn kernel(program: &str, packets: &[Vec<u8>]) -> Result<f64, String> {
    bpfkit_kernel::available()?;
    let bytes = std::fs::read(net(&format!("{program}.o"))).map_err(|e| e.to_string())?;
    let object = Object::parse(&bytes).map_err(|e| e.to_string())?;
    let loaded = object
        .load_into_kernel(ProgType::Xdp, &[program])
        .map_err(|e| e.to_string())?;
    let loaded = loaded
        .program(program)
        .ok_or("the program was not loaded")?;
    let mut total_ns = 0u64;
    for packet in packets {
        let run = loaded
            .test_run(&TestRun {
                data_in: packet,
                repeat: REPEAT,
                ..TestRun::default()
            })
            .map_err(|e| e.to_string())?;
        total_ns += u64::from(run.duration_ns);
    }
    Ok(1e9 * packets.len() as f64 / total_ns.max(1) as f64)
}

fn best(f: impl Fn() -> f64) -> f64 {
    (0..ROUNDS).map(|_| f()).fold(0.0, f64::max)
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` run is a smoke test.
    let measure = std::env::args().any(|a| a == "--bench");
    let capture = std::fs::read(net("bench64.pcap")).expect("read bench64.pcap");
    let packets: Vec<Vec<u8>> = bpfkit_pcap::Capture::parse(&capture)
        .expect("parse bench64.pcap")
        .packets
        .into_iter()
        .map(|p| p.data)
        .collect();
    if !measure {
        for program in PROGRAMS {
            bpfkit(program, "jit");
        }
        return;
    }
    println!(
        "{} packets of 64 bytes, each run {REPEAT} times; best of {ROUNDS}",
        packets.len()
    );
    println!(
        "{:<10} {:>14} {:>14} {:>14} {:>12} {:>12}",
        "program", "interp pkt/s", "jit pkt/s", "kernel pkt/s", "interp/kern", "jit/kern"
    );
    for program in PROGRAMS {
        let interp = best(|| bpfkit(program, "interp"));
        let jit = best(|| bpfkit(program, "jit"));
        match (0..ROUNDS)
            .map(|_| kernel(program, &packets))
            .collect::<Result<Vec<f64>, String>>()
        {
            Ok(rates) => {
                let k = rates.into_iter().fold(0.0, f64::max);
                println!(
                    "{program:<10} {interp:>14.0} {jit:>14.0} {k:>14.0} {:>11.2}x {:>11.2}x",
                    interp / k,
                    jit / k
                );
            }
            Err(why) => {
                println!("{program:<10} {interp:>14.0} {jit:>14.0}   kernel not measured: {why}")
            }
        }
    }
}
