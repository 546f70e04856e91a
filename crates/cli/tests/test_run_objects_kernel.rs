//! `bpfkit test-run` on objects whose maps or helpers need what only the object carries,
//! run over every packet of fixtures/net/mixed.pcap with each engine: spin locks in hash
//! and array values, nested in them and in .bss (their place from the value's or the
//! section's BTF, static functions called under them), `bpf_snprintf` with its format in frozen
//! `.rodata`, and tc and XDP program arrays filled from the object's `.values`. Every
//! result is checked against a derivation by hand from the packets (written next to each
//! case) and, where this process may load programs, against the kernel running the same
//! object with BPF_PROG_TEST_RUN: return values, skb->mark and the maps after the last
//! packet.

mod net;

use bpfkit_kernel::{KernelError, ProgType, TestRun};
use bpfkit_object::{Object, BPF_MAP_TYPE_PROG_ARRAY};
use net::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// `sizeof(struct __sk_buff)`; `mark` is at offset 8 (linux/bpf.h).
const SK_BUFF_SIZE: usize = 192;
const MARK: usize = 8;

/// A program's results on each packet it ran on: (index, retval, skb->mark for tc).
type Runs = Vec<(usize, u64, Option<u64>)>;
/// A map's (key, value) entries, sorted by key.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;
/// Every map's entries by name, program arrays left out (their values are descriptors).
type Maps = BTreeMap<String, Entries>;

/// fixtures/verifier/accept_c/`file`, or fixtures/`file` for a path with a directory.
fn object_path(file: &str) -> String {
    let dir = bpfkit_fixtures::dir();
    let path = if file.contains('/') {
        dir.join(file)
    } else {
        dir.join("verifier/accept_c").join(file)
    };
    path.to_string_lossy().into_owned()
}

/// The packets of mixed.pcap.
fn packets() -> Vec<Vec<u8>> {
    capture("mixed.pcap")
        .packets
        .into_iter()
        .map(|p| p.data)
        .collect()
}

/// bpfkit's runs and maps with `engine`; `skb` for tc programs, whose mark is reported
/// when the program changed it.
fn bpfkit_run(file: &str, program: &str, skb: bool, engine: &str) -> (Runs, Maps) {
    let path = object_path(file);
    let pcap = net("mixed.pcap");
    let json = test_run_json(&[
        &path,
        "--program",
        program,
        "--pcap",
        &pcap,
        "--engine",
        engine,
    ]);
    let runs = json["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .map(|p| {
            let mark = skb.then(|| p["ctx"]["mark"].as_u64().unwrap_or(0));
            (
                p["index"].as_u64().unwrap() as usize,
                p["retval"].as_u64().unwrap(),
                mark,
            )
        })
        .collect();
    let object = Object::parse(&std::fs::read(&path).unwrap()).unwrap();
    let maps = json["maps"]
        .as_object()
        .expect("maps")
        .iter()
        .filter(|(name, _)| !is_prog_array(&object, name))
        .map(|(name, entries)| {
            let mut entries: Vec<_> = entries
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (unhex(e["key"].as_str().unwrap()), value_of(&e["value"])))
                .collect();
            entries.sort();
            (name.clone(), entries)
        })
        .collect();
    (runs, maps)
}

fn value_of(v: &Value) -> Vec<u8> {
    unhex(v.as_str().expect("a value of a map that is not per-CPU"))
}

fn is_prog_array(object: &Object, name: &str) -> bool {
    object
        .maps()
        .iter()
        .any(|m| m.name == name && m.map_type == BPF_MAP_TYPE_PROG_ARRAY)
}

/// The kernel's runs and maps, the object loaded by bpfkit's loader (spin lock maps with
/// their BTF, `.rodata` frozen, program arrays filled).
fn kernel_run(file: &str, program: &str, prog_type: ProgType, packets: &[Vec<u8>]) -> (Runs, Maps) {
    let object = Object::parse(&std::fs::read(object_path(file)).unwrap()).unwrap();
    let loaded = object
        .load_into_kernel(prog_type, &[program])
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let prog = loaded.program(program).unwrap();
    let skb = prog_type != ProgType::Xdp;
    let mut runs = Vec::new();
    for (i, packet) in packets.iter().enumerate() {
        let out = match prog.test_run(&TestRun {
            data_in: packet,
            data_out_size: packet.len() + 512,
            ctx_out_size: if skb { SK_BUFF_SIZE } else { 0 },
            ..TestRun::default()
        }) {
            Ok(out) => out,
            // Packets the test run refuses; bpfkit skips the same ones.
            Err(KernelError::Syscall { errno, .. }) if errno.0 == libc::EINVAL => continue,
            Err(e) => panic!("{file}: {e}"),
        };
        let mark = skb.then(|| {
            u64::from(u32::from_ne_bytes(
                out.ctx_out[MARK..MARK + 4].try_into().unwrap(),
            ))
        });
        runs.push((i, u64::from(out.retval), mark));
    }
    let maps = loaded
        .maps
        .iter()
        .zip(object.maps())
        .filter(|(_, def)| def.map_type != BPF_MAP_TYPE_PROG_ARRAY)
        .map(|((name, map), _)| {
            let mut entries = map.entries().unwrap();
            entries.sort();
            (name.clone(), entries)
        })
        .collect();
    (runs, maps)
}

/// Runs the case with both engines, checks each against the hand-derived runs and the
/// entries of the maps given and, where possible, against the kernel (every map).
fn check(
    file: &str,
    program: &str,
    prog_type: ProgType,
    expect_runs: &Runs,
    expect_maps: &[(&str, Entries)],
) {
    let packets = packets();
    for engine in ["interp", "jit"] {
        let (runs, maps) = bpfkit_run(file, program, prog_type != ProgType::Xdp, engine);
        assert_eq!(&runs, expect_runs, "{program} ({engine}): runs");
        for (name, entries) in expect_maps {
            assert_eq!(
                maps.get(*name),
                Some(entries),
                "{program} ({engine}): map {name}"
            );
        }
        match bpfkit_kernel::available() {
            Ok(()) => {
                let (kernel_runs, kernel_maps) = kernel_run(file, program, prog_type, &packets);
                assert_eq!(runs, kernel_runs, "{program} ({engine}): runs, against the kernel");
                assert_eq!(maps, kernel_maps, "{program} ({engine}): maps, against the kernel");
            }
            Err(why) => println!("{program}: kernel comparison skipped: this process may not load BPF programs ({why})"),
        }
    }
}

/// The EtherType after the Ethernet header and up to two VLAN tags (as the fixtures'
/// parse_l2), with the offset of the header after them.
fn l3(frame: &[u8]) -> Option<(u16, usize)> {
    let be16 = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (mut proto, mut at) = (be16(12)?, 14);
    for _ in 0..2 {
        if proto != 0x8100 && proto != 0x88a8 {
            break;
        }
        proto = be16(at + 2)?;
        at += 4;
    }
    Some((proto, at))
}

/// Packets the kernel's test run refuses for an skb: mixed.pcap's last, 24 bytes of an
/// IPv4 frame shorter than its header (test-run's summary names it).
fn skb_runs(packets: &[Vec<u8>]) -> impl Iterator<Item = (usize, &Vec<u8>)> {
    packets
        .iter()
        .enumerate()
        .filter(|(_, p)| !(p.len() < 14 + 20 && p.get(12..14) == Some(&[0x08, 0x00])))
}

#[test]
fn program_array_from_values_dispatches_like_the_kernel() {
    // tc_tail_call_values: IPv4 TCP tail-calls tc_values_tcp (TC_ACT_PIPE = 3, mark
    // 0x106), IPv4 UDP tc_values_udp (TC_ACT_SHOT = 2, mark 0x111); everything else
    // (and IPv4 headers that do not fit) stays in the dispatcher: TC_ACT_OK = 0, mark 0.
    let packets = packets();
    let runs: Runs = skb_runs(&packets)
        .map(|(i, p)| {
            let protocol = match l3(p) {
                Some((0x0800, at)) if p.len() >= at + 20 => p[at + 9],
                _ => 0,
            };
            let (retval, mark) = match protocol {
                6 => (3, 0x106),
                17 => (2, 0x111),
                _ => (0, 0),
            };
            (i, retval, Some(mark))
        })
        .collect();
    assert!(runs.iter().any(|r| r.1 == 3) && runs.iter().any(|r| r.1 == 2));
    check(
        "tc_tail_call_values.o",
        "tc_tail_call_values",
        ProgType::SchedCls,
        &runs,
        &[],
    );
}

#[test]
fn xdp_program_array_from_values_like_the_kernel() {
    // fixtures/loader/prog_array.c: prog_array_xdp tail-calls slot 0, prog_array_tail,
    // which returns the packet's first byte plus 0x40 (every packet has one).
    let packets = packets();
    let runs: Runs = packets
        .iter()
        .enumerate()
        .map(|(i, p)| (i, u64::from(p[0]) + 0x40, None))
        .collect();
    check(
        "loader/prog_array.o",
        "prog_array_xdp",
        ProgType::Xdp,
        &runs,
        &[],
    );
}

#[test]
fn spin_locked_hash_counters_count_like_the_kernel() {
    // tc_spin_lock_flows: per skb->protocol (the outer EtherType in network order, as a
    // little-endian u32 key), {packets, lock (0 when not held), last_len, bytes}; each
    // run returns the protocol's packet count so far.
    let packets = packets();
    let mut flows: BTreeMap<Vec<u8>, (u64, u32, u64)> = BTreeMap::new();
    let mut runs = Runs::new();
    for (i, p) in skb_runs(&packets) {
        let key = [p[12], p[13], 0, 0].to_vec();
        let f = flows.entry(key).or_default();
        f.0 += 1;
        f.1 = p.len() as u32;
        f.2 += p.len() as u64;
        runs.push((i, f.0, Some(0)));
    }
    let entries: Vec<_> = flows
        .into_iter()
        .map(|(k, (packets, last_len, bytes))| {
            let mut v = packets.to_le_bytes().to_vec();
            v.extend_from_slice(&[0; 4]);
            v.extend_from_slice(&last_len.to_le_bytes());
            v.extend_from_slice(&bytes.to_le_bytes());
            (k, v)
        })
        .collect();
    check(
        "tc_spin_lock_flows.o",
        "tc_spin_lock_flows",
        ProgType::SchedCls,
        &runs,
        &[("flows", entries)],
    );
}

#[test]
fn spin_locked_array_totals_add_up_like_the_kernel() {
    // xdp_spin_lock_array: every packet (XDP runs all of them) is counted with its
    // length; those longer than 64 bytes also counted apart, with the longest. XDP_PASS.
    let packets = packets();
    let lens: Vec<u64> = packets.iter().map(|p| p.len() as u64).collect();
    let long: Vec<u64> = lens.iter().copied().filter(|&l| l > 64).collect();
    assert!(
        !long.is_empty(),
        "mixed.pcap has packets longer than 64 bytes"
    );
    let mut value = (lens.len() as u32).to_le_bytes().to_vec();
    value.extend_from_slice(&[0; 4]);
    value.extend_from_slice(&lens.iter().sum::<u64>().to_le_bytes());
    value.extend_from_slice(&(long.len() as u32).to_le_bytes());
    value.extend_from_slice(&(*long.iter().max().unwrap() as u32).to_le_bytes());
    let runs: Runs = (0..packets.len()).map(|i| (i, 2, None)).collect();
    check(
        "xdp_spin_lock_array.o",
        "xdp_spin_lock_array",
        ProgType::Xdp,
        &runs,
        &[("totals", vec![(vec![0; 4], value)])],
    );
}

#[test]
fn nested_spin_locks_guard_like_the_kernel() {
    // xdp_spin_lock_nested, every packet (XDP runs all of them): per EtherType (network
    // order, as a little-endian u32 key) {bytes: u64, {packets: u32, lock}}, and in
    // `total` {lock, padding, bytes: u64} over all packets. XDP_PASS.
    let packets = packets();
    let mut stats: BTreeMap<Vec<u8>, (u64, u32)> = BTreeMap::new();
    for p in &packets {
        let s = stats.entry(vec![p[12], p[13], 0, 0]).or_default();
        s.0 += p.len() as u64;
        s.1 += 1;
    }
    let entries: Vec<_> = stats
        .into_iter()
        .map(|(k, (bytes, count))| {
            let mut v = bytes.to_le_bytes().to_vec();
            v.extend_from_slice(&count.to_le_bytes());
            v.extend_from_slice(&[0; 4]);
            (k, v)
        })
        .collect();
    let total: u64 = packets.iter().map(|p| p.len() as u64).sum();
    let mut value = vec![0; 8];
    value.extend_from_slice(&total.to_le_bytes());
    let runs: Runs = (0..packets.len()).map(|i| (i, 2, None)).collect();
    check(
        "xdp_spin_lock_nested.o",
        "xdp_spin_lock_nested",
        ProgType::Xdp,
        &runs,
        &[("stats", entries), ("total", vec![(vec![0; 4], value)])],
    );
}

#[test]
fn a_global_spin_lock_guards_globals_like_the_kernel() {
    // tc_spin_lock_global: .bss holds the lock (0 when not held, at 0), then the packet
    // count (at 8) and their bytes (at 16). TC_ACT_OK.
    let packets = packets();
    let runs: Runs = skb_runs(&packets).map(|(i, _)| (i, 0, Some(0))).collect();
    let bytes: u64 = skb_runs(&packets).map(|(_, p)| p.len() as u64).sum();
    let mut value = vec![0; 8];
    value.extend_from_slice(&(runs.len() as u64).to_le_bytes());
    value.extend_from_slice(&bytes.to_le_bytes());
    check(
        "tc_spin_lock_global.o",
        "tc_spin_lock_global",
        ProgType::SchedCls,
        &runs,
        &[(".bss", vec![(vec![0; 4], value)])],
    );
}

#[test]
fn static_functions_under_a_spin_lock_count_like_the_kernel() {
    // tc_spin_lock_subprog: the lock (0 when not held) then three u32 counts, of the
    // packets of at most 64 bytes, at most 128, and longer. TC_ACT_OK.
    let packets = packets();
    let mut counts = [0u32; 3];
    let mut runs = Runs::new();
    for (i, p) in skb_runs(&packets) {
        counts[match p.len() {
            0..=64 => 0,
            65..=128 => 1,
            _ => 2,
        }] += 1;
        runs.push((i, 0, Some(0)));
    }
    assert!(
        counts[0] > 0 && counts[1] > 0,
        "mixed.pcap has both classes"
    );
    let mut value = vec![0; 4];
    for c in counts {
        value.extend_from_slice(&c.to_le_bytes());
    }
    check(
        "tc_spin_lock_subprog.o",
        "tc_spin_lock_subprog",
        ProgType::SchedCls,
        &runs,
        &[("classes", vec![(vec![0; 4], value)])],
    );
}

#[test]
fn snprintf_formats_like_the_kernel() {
    // xdp_snprintf_summary, after the last packet (every packet runs under XDP): the
    // text "len=%u proto=%x ttl=%d %s%c 100%%" of its length, EtherType, IPv4 TTL (-1
    // when not IPv4 or the header does not fit), "ipv4" and '!', in 48 bytes, and its
    // first 7 bytes in 8; both calls return the text's length plus its NUL.
    let packets = packets();
    let last = packets.last().unwrap();
    let proto = u16::from_be_bytes([last[12], last[13]]);
    let ttl: i64 = if proto == 0x0800 && last.len() >= 34 {
        i64::from(last[22])
    } else {
        -1
    };
    let text = format!("len={} proto={proto:x} ttl={ttl} ipv4! 100%", last.len());
    let wanted = text.len() as u64 + 1;
    let json = |engine: &str| {
        let path = object_path("xdp_snprintf_summary.o");
        let pcap = net("mixed.pcap");
        test_run_json(&[&path, "--pcap", &pcap, "--engine", engine])
    };
    for engine in ["interp", "jit"] {
        let value = value_of(&json(engine)["maps"]["summary"][0]["value"]);
        let word = |at: usize| u64::from_le_bytes(value[at..at + 8].try_into().unwrap());
        assert_eq!(word(0), wanted, "{engine}: written");
        assert_eq!(word(8), wanted, "{engine}: wanted");
        let mut nul_terminated = text.as_bytes().to_vec();
        nul_terminated.push(0);
        assert_eq!(
            &value[16..16 + nul_terminated.len()],
            &nul_terminated[..],
            "{engine}"
        );
        let mut cut = text.as_bytes()[..7].to_vec();
        cut.push(0);
        assert_eq!(&value[64..72], &cut[..], "{engine}: truncated");
    }
    let runs: Runs = (0..packets.len()).map(|i| (i, 2, None)).collect();
    // The whole value (bytes a longer earlier text left after the NUL included) against
    // the kernel.
    check(
        "xdp_snprintf_summary.o",
        "xdp_snprintf_summary",
        ProgType::Xdp,
        &runs,
        &[],
    );
}
