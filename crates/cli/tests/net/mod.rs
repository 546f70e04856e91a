//! What the `test-run` tests share: running the binary on the packet fixtures and reading
//! its JSON.

#![allow(dead_code)] // Each test file uses its own part of it.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// fixtures/net/.
pub fn net_dir() -> PathBuf {
    bpfkit_fixtures::dir().join("net")
}

/// The path of fixtures/net/`name`, as a string for the command line.
pub fn net(name: &str) -> String {
    net_dir().join(name).to_string_lossy().into_owned()
}

/// Runs `bpfkit args`.
pub fn bpfkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfkit"))
        .args(args)
        .output()
        .expect("start bpfkit")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `bpfkit test-run args --json`, which must succeed; its JSON.
pub fn test_run_json(args: &[&str]) -> Value {
    let mut all = vec!["test-run"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = bpfkit(&all);
    assert!(
        out.status.success(),
        "bpfkit {all:?} failed ({}): {}",
        out.status,
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("test-run --json prints JSON")
}

/// Decodes hex digits.
pub fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The packets of a capture in fixtures/net/.
pub fn capture(name: &str) -> bpfkit_pcap::Capture {
    let bytes = std::fs::read(net_dir().join(name)).expect("read capture");
    bpfkit_pcap::Capture::parse(&bytes).expect("parse capture")
}
