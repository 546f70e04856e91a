//! `bpfkit test-run` on captures: the same packets give the same results from pcap and
//! pcapng and, for raw IP and Linux cooked captures, the same verdicts as their Ethernet
//! twins; --out writes what comes out; bad input (truncated or corrupt captures,
//! unsupported link types, packets cut by the snap length) gives a clear error or a counted
//! skip, never a panic.
//!
//! Expected verdicts are derived by hand from fixtures/net/xdp_firewall.c and the packet
//! list of crates/fixtures/src/captures.rs, written next to each test.

mod net;

use bpfkit_pcap::{Capture, LINKTYPE_RAW};
use net::*;
use serde_json::Value;

fn firewall() -> String {
    net("xdp_firewall.o")
}

fn verdicts(json: &Value) -> Vec<String> {
    json["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["verdict"].as_str().unwrap().to_string())
        .collect()
}

/// The firewall's verdict on each packet of mixed.pcap, from the C source and the
/// packet list: ARP passes (non-IP); TCP, UDP from 10.0.0.1 pass; the ICMP echo request
/// to 10.0.0.2 is answered (XDP_TX); 192.0.2.66 and 198.51.100.0/24 are dropped, with
/// or without a VLAN tag; 198.51.101.7 passes; IPv6 passes; both fragments pass; the
/// frame cut inside its IPv4 header is dropped as malformed.
const MIXED_VERDICTS: [&str; 19] = [
    "XDP_PASS", // 0 ARP
    "XDP_PASS", // 1 TCP SYN to port 80
    "XDP_PASS", // 2 UDP DNS query
    "XDP_TX",   // 3 ICMP echo request
    "XDP_DROP", // 4 TCP from 192.0.2.66
    "XDP_DROP", // 5 UDP from 198.51.100.7
    "XDP_PASS", // 6 TCP from 198.51.101.7
    "XDP_PASS", // 7 IPv6 TCP
    "XDP_PASS", // 8 IPv6 UDP
    "XDP_PASS", // 9 ICMPv6 echo request (only IPv4 echo is answered)
    "XDP_PASS", // 10 VLAN 100, UDP from 10.0.1.1
    "XDP_DROP", // 11 VLAN 200, TCP from 192.0.2.66
    "XDP_PASS", // 12 first fragment (UDP)
    "XDP_PASS", // 13 second fragment
    "XDP_PASS", // 14 TCP with an HTTP request
    "XDP_PASS", // 15 UDP to port 80
    "XDP_PASS", // 16 TCP with IP options
    "XDP_PASS", // 17 IP-in-IP
    "XDP_DROP", // 18 cut inside the IPv4 header
];

#[test]
fn firewall_verdicts_on_the_mixed_capture() {
    let json = test_run_json(&[&firewall(), "--pcap", &net("mixed.pcap")]);
    assert_eq!(verdicts(&json), MIXED_VERDICTS);
    // The echo reply: MAC addresses and IP addresses swapped, type 0, checksum + 0x0800.
    let request = &capture("mixed.pcap").packets[3].data;
    let reply = unhex(json["packets"][3]["data_out"].as_str().unwrap());
    assert_eq!(reply[..6], request[6..12]);
    assert_eq!(reply[6..12], request[..6]);
    assert_eq!(reply[26..30], request[30..34]);
    assert_eq!(reply[30..34], request[26..30]);
    assert_eq!((reply[34], request[34]), (0, 8));
    let sum = |p: &[u8]| u16::from_be_bytes([p[36], p[37]]);
    assert_eq!(sum(&reply), sum(request) + 0x0800);
    // Three packets from blocked sources, each traced by bpf_printk.
    assert_eq!(
        json["trace"],
        serde_json::json!([
            "blocked 192.0.2.66",
            "blocked 198.51.100.7",
            "blocked 192.0.2.66"
        ])
    );
}

#[test]
fn pcapng_gives_what_pcap_gives() {
    let pcap = test_run_json(&[&firewall(), "--pcap", &net("mixed.pcap")]);
    let pcapng = test_run_json(&[&firewall(), "--pcap", &net("mixed.pcapng")]);
    assert_eq!(pcap["packets"], pcapng["packets"]);
    assert_eq!(pcap["maps"], pcapng["maps"]);
}

#[test]
fn raw_and_cooked_captures_get_an_ethernet_header() {
    // raw.pcap and sll.pcap hold mixed.pcap's untagged IP packets: indices 1-9 and 12-17.
    let expected: Vec<&str> = (1..=9).chain(12..=17).map(|i| MIXED_VERDICTS[i]).collect();
    for name in ["raw.pcap", "sll.pcap"] {
        let json = test_run_json(&[&firewall(), "--pcap", &net(name)]);
        assert_eq!(verdicts(&json), expected, "{name}");
    }
}

#[test]
fn out_writes_the_packets_that_come_out_in_the_input_link_type() {
    let dir = std::env::temp_dir().join(format!("bpfkit-test-run-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.pcap");
    let out = out.to_str().unwrap();
    test_run_json(&[&firewall(), "--pcap", &net("raw.pcap"), "--out", out]);
    let written = Capture::parse(&std::fs::read(out).unwrap()).unwrap();
    assert_eq!(written.link_type, LINKTYPE_RAW);
    // 15 packets, of which 3 dropped (indices 3, 4 of raw.pcap: the blocked sources).
    let input = capture("raw.pcap");
    assert_eq!(written.packets.len(), 13);
    // Passed packets come out unchanged, without the Ethernet header the run added.
    assert_eq!(written.packets[0].data, input.packets[0].data);
    for p in &written.packets {
        assert!(
            matches!(p.data[0] >> 4, 4 | 6),
            "an IP packet: {:02x?}",
            &p.data[..4]
        );
    }
    // A cooked capture gets its cooked header back.
    let sll_out = dir.join("sll.pcap");
    let sll_out = sll_out.to_str().unwrap();
    test_run_json(&[&firewall(), "--pcap", &net("sll.pcap"), "--out", sll_out]);
    let written = Capture::parse(&std::fs::read(sll_out).unwrap()).unwrap();
    assert_eq!(written.link_type, bpfkit_pcap::LINKTYPE_LINUX_SLL);
    assert_eq!(written.packets.len(), 13);
    assert_eq!(written.packets[0].data, capture("sll.pcap").packets[0].data);
    // pcapng output carries each packet's verdict as its comment.
    let outng = dir.join("out.pcapng");
    let outng = outng.to_str().unwrap();
    test_run_json(&[&firewall(), "--pcap", &net("mixed.pcap"), "--out", outng]);
    let written = Capture::parse(&std::fs::read(outng).unwrap()).unwrap();
    let comments: Vec<_> = written
        .packets
        .iter()
        .map(|p| p.comment.clone().unwrap())
        .collect();
    let passed: Vec<&str> = MIXED_VERDICTS
        .into_iter()
        .filter(|v| *v != "XDP_DROP")
        .collect();
    assert_eq!(comments, passed);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn snaplen_cut_packets_are_skipped_and_counted() {
    // snaplen.pcap: mixed.pcap captured with a snap length of 64; the frames longer than
    // 64 bytes (tcpdump: 71, 74, 90, 74, 91, 94, 88 and 67 bytes) are cut and skipped.
    let json = test_run_json(&[&firewall(), "--pcap", &net("snaplen.pcap")]);
    let skipped: Vec<u64> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["index"].as_u64().unwrap())
        .collect();
    assert_eq!(skipped, [2, 3, 5, 7, 8, 9, 14, 17]);
    assert!(json["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("cut to 64 of its 71 bytes"));
    assert_eq!(json["packets"].as_array().unwrap().len(), 11);
}

/// Runs test-run on `bytes` as a capture; exit status and stderr.
fn on_capture(bytes: &[u8]) -> (Option<i32>, String) {
    let path = std::env::temp_dir().join(format!(
        "bpfkit-test-run-bad-{}-{}.pcap",
        std::process::id(),
        bytes.len()
    ));
    std::fs::write(&path, bytes).unwrap();
    let out = bpfkit(&["test-run", &firewall(), "--pcap", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn truncated_and_corrupt_captures_are_input_errors() {
    let good = std::fs::read(net_dir().join("mixed.pcap")).unwrap();
    // Cut inside packet 1's data: the header (24) + packet 0 (16 + 42) + packet 1's
    // record header (16) + 10 bytes.
    let (status, err) = on_capture(&good[..24 + 58 + 16 + 10]);
    assert_eq!(status, Some(2), "{err}");
    assert!(
        err.contains("truncated capture: packet 1's data (54 bytes captured) at byte offset 98"),
        "{err}"
    );
    let (status, err) = on_capture(b"not a capture at all");
    assert_eq!(status, Some(2), "{err}");
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
    // Every cut of the pcapng file is an error or fewer packets, never a crash.
    let ng = std::fs::read(net_dir().join("mixed.pcapng")).unwrap();
    for cut in (0..ng.len()).step_by(37) {
        let (status, err) = on_capture(&ng[..cut]);
        assert!(
            matches!(status, Some(0 | 2)),
            "cut at {cut}: {status:?} {err}"
        );
    }
}

#[test]
fn unsupported_link_types_are_named() {
    let mut bytes = std::fs::read(net_dir().join("mixed.pcap")).unwrap();
    // The link type is the pcap header's last word (offset 20, little-endian here).
    bytes[20..24].copy_from_slice(&105u32.to_le_bytes());
    let (status, err) = on_capture(&bytes);
    assert_eq!(status, Some(2), "{err}");
    assert!(
        err.contains("unsupported link type 105 (IEEE802_11)"),
        "{err}"
    );
}

#[test]
fn packet_hex_and_usage_errors() {
    // The ICMP echo request of mixed.pcap given as hex is answered.
    let request = capture("mixed.pcap").packets[3].data.clone();
    let hex: String = request.iter().map(|b| format!("{b:02x}")).collect();
    let json = test_run_json(&[&firewall(), "--packet-hex", &hex]);
    assert_eq!(verdicts(&json), ["XDP_TX"]);
    let out = bpfkit(&["test-run", &firewall(), "--packet-hex", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("odd number of hex digits"),
        "{}",
        stderr(&out)
    );
    // A memory program is not a packet program.
    let memory = bpfkit_fixtures::dir().join("hash.o");
    let out = bpfkit(&["test-run", memory.to_str().unwrap(), "--packet-hex", "00"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("test-run runs xdp"),
        "{}",
        stderr(&out)
    );
    let out = bpfkit(&["test-run", &firewall()]);
    assert_eq!(out.status.code(), Some(2));
    // An XDP program takes no __sk_buff.
    let out = bpfkit(&[
        "test-run",
        &firewall(),
        "--packet-hex",
        &hex,
        "--ctx-hex",
        "00",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--ctx-hex applies to tc programs"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn set_changes_the_blocklist() {
    // blocklist = { {32, 10.0.0.1} } (prefix length 32 as a little-endian u32, the address
    // in network order), the other three entries zero, ending the list. Every IPv4 packet
    // from 10.0.0.1 is dropped (fragments too: the source is checked first), the sources
    // blocked by default pass, and the cut frame is still malformed.
    let set = format!("blocklist=200000000a000001{}", "0".repeat(48));
    let json = test_run_json(&[&firewall(), "--pcap", &net("mixed.pcap"), "--set", &set]);
    let dropped: Vec<usize> = verdicts(&json)
        .iter()
        .enumerate()
        .filter(|(_, v)| *v == "XDP_DROP")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(dropped, [1, 2, 3, 12, 13, 14, 15, 16, 18]);
}

#[test]
fn a_fault_exits_with_1_and_a_short_frame_is_skipped() {
    // The firewall's first path (the blocklist load) is longer than 3 instructions.
    let out = bpfkit(&[
        "test-run",
        &firewall(),
        "--pcap",
        &net("mixed.pcap"),
        "--budget",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("faulted on packet 0"),
        "{}",
        stderr(&out)
    );
    // Two bytes are less than an Ethernet header: the kernel's XDP test run refuses them
    // (EINVAL), so bpfkit skips the packet and counts it.
    let json = test_run_json(&[&firewall(), "--packet-hex", "0102"]);
    assert_eq!(json["packets"], serde_json::json!([]));
    assert_eq!(json["skipped"][0]["index"], 0);
}

#[test]
fn nat_rewrites_keep_checksums_correct() {
    // tc_nat sends TCP and UDP to 10.0.0.2:80 to 10.0.0.80:8080: in mixed.pcap packets 1
    // (TCP SYN), 14 (TCP with data) and 15 (UDP); not 10 (behind a VLAN tag, which the
    // program does not parse) nor 16 (IP options, which it leaves alone). tcpdump -vv
    // checks the IPv4, TCP and UDP checksums of what comes out.
    let dir = std::env::temp_dir().join(format!("bpfkit-test-run-nat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("nat.pcap");
    let json = test_run_json(&[
        &net("tc_nat.o"),
        "--pcap",
        &net("mixed.pcap"),
        "--out",
        out.to_str().unwrap(),
    ]);
    let marked: Vec<u64> = json["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ctx"]["mark"] == 0x80)
        .map(|p| p["index"].as_u64().unwrap())
        .collect();
    assert_eq!(marked, [1, 14, 15]);
    if let Some(text) = tcpdump(&out) {
        assert_eq!(text.matches("10.0.0.80.8080").count(), 3, "{text}");
        assert!(text.contains("[udp sum ok]"), "{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn encapsulated_packets_get_a_correct_outer_checksum() {
    // xdp_encap sends every IPv4 frame of mixed.pcap without a VLAN tag and with a whole
    // IPv4 header back out in IP-in-IP (packets 1-6 and 12-17: 12 of them); tcpdump -vv
    // checks the outer header's checksum the program computed.
    let dir = std::env::temp_dir().join(format!("bpfkit-test-run-encap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("encap.pcap");
    let json = test_run_json(&[
        &net("xdp_encap.o"),
        "--pcap",
        &net("mixed.pcap"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(json["verdicts"]["XDP_TX"], 12);
    if let Some(text) = tcpdump(&out) {
        assert_eq!(text.matches("10.0.0.254 > 10.0.0.99").count(), 12, "{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `tcpdump -vv -nn -r path`, checked to report no bad checksum; None (saying so) where
/// tcpdump cannot be run.
fn tcpdump(path: &std::path::Path) -> Option<String> {
    let dump = match std::process::Command::new("tcpdump")
        .args(["-vv", "-nn", "-r"])
        .arg(path)
        .output()
    {
        Ok(dump) => dump,
        Err(e) => {
            println!("skipped the checksum check: tcpdump cannot be run ({e})");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&dump.stdout).into_owned();
    // tcpdump's words for a bad checksum: "bad cksum", "[bad udp cksum", "(incorrect".
    assert!(
        !text.contains("bad") && !text.contains("incorrect"),
        "{text}"
    );
    Some(text)
}
