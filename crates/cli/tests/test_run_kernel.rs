//! `bpfkit test-run` against the kernel: every packet fixture (fixtures/net/*.c) runs on
//! every packet of fixtures/net/mixed.pcap in bpfkit (the binary, `--json`, with each
//! engine) and in the kernel (the same object, linked by bpfkit's loader, its maps created
//! with BPF_MAP_CREATE, loaded with BPF_PROG_LOAD, each packet run in order with
//! BPF_PROG_TEST_RUN): return values, output bytes, the __sk_buff fields the kernel copies
//! back (mark, priority, cb) and, after the last packet, every map's contents must be the
//! same. The tc programs and the socket filter run a second time from a given __sk_buff
//! (`--ctx-hex`, the kernel's ctx_in), the firewall a second time with another blocklist
//! (`--set`, the object's global changed before load). Skipped, with a line, where this
//! process may not load programs.

mod net;

use bpfkit_kernel::{possible_cpus, KernelError, ProgType, TestRun};
use bpfkit_object::Object;
use net::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// The fixtures, with the kernel's program type of each.
const FIXTURES: [(&str, ProgType); 8] = [
    ("xdp_firewall", ProgType::Xdp),
    ("xdp_drop", ProgType::Xdp),
    ("xdp_count", ProgType::Xdp),
    ("xdp_encap", ProgType::Xdp),
    ("xdp_decap", ProgType::Xdp),
    ("tc_nat", ProgType::SchedCls),
    ("tc_vlan", ProgType::SchedCls),
    ("socket_filter", ProgType::SocketFilter),
];

/// `sizeof(struct __sk_buff)` in linux/bpf.h.
const SK_BUFF_SIZE: usize = 192;

/// Offsets in `struct __sk_buff` of the fields BPF_PROG_TEST_RUN copies back that a
/// program can write: mark (8), priority (32) and cb[0..5] (48..68).
const SKB_FIELDS: [(&str, usize); 7] = [
    ("mark", 8),
    ("priority", 32),
    ("cb[0]", 48),
    ("cb[1]", 52),
    ("cb[2]", 56),
    ("cb[3]", 60),
    ("cb[4]", 64),
];

/// Every map's entries by map name: (key, value) pairs sorted by key.
type Maps = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

/// One packet's result in the kernel.
struct KernelPacket {
    retval: u32,
    data_out: Vec<u8>,
    /// The writable __sk_buff fields, for tc and socket filters.
    ctx: BTreeMap<String, u32>,
}

/// One comparison: a fixture, its type, the context each run starts with (tc and socket
/// filters) and a global set before load (`--set`).
struct Case {
    name: &'static str,
    prog_type: ProgType,
    ctx: Option<Vec<u8>>,
    set: Option<(&'static str, Vec<u8>)>,
}

impl Case {
    fn plain(name: &'static str, prog_type: ProgType) -> Case {
        Case {
            name,
            prog_type,
            ctx: None,
            set: None,
        }
    }

    /// How assertion messages name it.
    fn label(&self) -> String {
        let mut label = self.name.to_string();
        if self.ctx.is_some() {
            label += " with a context";
        }
        if let Some((global, _)) = &self.set {
            label += &format!(" with {global} set");
        }
        label
    }
}

/// Runs a case in the kernel on every packet; the results and every map's entries
/// (per-CPU values summed over the CPUs, as u64 words).
fn kernel_run(case: &Case, packets: &[Vec<u8>]) -> (Vec<Option<KernelPacket>>, Maps) {
    let (name, prog_type, ctx_in) = (case.name, case.prog_type, case.ctx.as_deref());
    let bytes = std::fs::read(net_dir().join(format!("{name}.o"))).unwrap();
    let mut object = Object::parse(&bytes).unwrap();
    if let Some((global, value)) = &case.set {
        object.set_global(global, value).unwrap();
    }
    let loaded = object
        .load_into_kernel(prog_type, &[name])
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let program = loaded.program(name).expect("the loaded program");
    let skb = prog_type != ProgType::Xdp;
    let results = packets
        .iter()
        .map(|packet| {
            let run = program.test_run(&TestRun {
                data_in: packet,
                data_out_size: packet.len() + 512,
                ctx_in,
                ctx_out_size: if skb { SK_BUFF_SIZE } else { 0 },
                ..TestRun::default()
            });
            // The test run refuses some packets (an skb whose IPv4 header is cut short,
            // for one): bpfkit must skip the same ones.
            let out = match run {
                Ok(out) => out,
                Err(KernelError::Syscall { errno, .. }) if errno.0 == libc::EINVAL => return None,
                Err(e) => panic!("{name}: {e}"),
            };
            let ctx = SKB_FIELDS
                .iter()
                .filter(|_| skb)
                .map(|&(field, at)| {
                    let word = u32::from_ne_bytes(out.ctx_out[at..at + 4].try_into().unwrap());
                    (field.to_string(), word)
                })
                .collect();
            Some(KernelPacket {
                retval: out.retval,
                data_out: out.data_out,
                ctx,
            })
        })
        .collect();
    let cpus = possible_cpus().unwrap();
    let maps = loaded
        .maps
        .iter()
        .zip(object.maps())
        .map(|((map_name, map), def)| {
            let percpu = [5, 6, 10].contains(&def.map_type);
            let entries = map
                .entries()
                .unwrap()
                .into_iter()
                .map(|(k, v)| {
                    let v = if percpu {
                        let stride = (def.value_size as usize).div_ceil(8) * 8;
                        sum_cpus(
                            &(0..cpus)
                                .map(|c| v[c * stride..(c + 1) * stride].to_vec())
                                .collect::<Vec<_>>(),
                        )
                    } else {
                        v
                    };
                    (k, v)
                })
                .collect();
            (map_name.clone(), entries)
        })
        .collect();
    (results, maps)
}

/// Per-CPU values summed as u64 words (the fixtures' per-CPU values are counters).
fn sum_cpus(values: &[Vec<u8>]) -> Vec<u8> {
    let len = values.first().map_or(0, Vec::len);
    assert!(
        len.is_multiple_of(8),
        "per-CPU values of {len} bytes are not u64 words"
    );
    (0..len / 8)
        .flat_map(|w| {
            let total: u64 = values
                .iter()
                .map(|v| u64::from_le_bytes(v[w * 8..w * 8 + 8].try_into().unwrap()))
                .fold(0, u64::wrapping_add);
            total.to_le_bytes()
        })
        .collect()
}

/// bpfkit's maps from `--json`, per-CPU values summed like the kernel's, sorted by key.
fn bpfkit_maps(json: &Value) -> Maps {
    json["maps"]
        .as_object()
        .expect("maps")
        .iter()
        .map(|(name, entries)| {
            let mut entries: Vec<(Vec<u8>, Vec<u8>)> = entries
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| {
                    let key = unhex(e["key"].as_str().unwrap());
                    let value = match &e["value"] {
                        Value::Array(cpus) => sum_cpus(
                            &cpus
                                .iter()
                                .map(|c| unhex(c.as_str().unwrap()))
                                .collect::<Vec<_>>(),
                        ),
                        v => unhex(v.as_str().unwrap()),
                    };
                    (key, value)
                })
                .collect();
            entries.sort();
            (name.clone(), entries)
        })
        .collect()
}

/// Runs `case` in bpfkit with each engine and in the kernel, and compares them; returns
/// the number of runs compared.
fn compare(case: &Case, packets: &[Vec<u8>]) -> usize {
    let (kernel, kernel_maps) = kernel_run(case, packets);
    assert_eq!(kernel.len(), packets.len());
    let name = case.label();
    let object = net(&format!("{}.o", case.name));
    let pcap = net("mixed.pcap");
    let ctx_hex = case.ctx.as_deref().map(bpfkit_cli_hex);
    let set = case
        .set
        .as_ref()
        .map(|(global, value)| format!("{global}={}", bpfkit_cli_hex(value)));
    let mut compared = 0;
    for engine in ["interp", "jit"] {
        let mut args = vec![object.as_str(), "--pcap", &pcap, "--engine", engine];
        if let Some(hex) = &ctx_hex {
            args.extend(["--ctx-hex", hex]);
        }
        if let Some(set) = &set {
            args.extend(["--set", set]);
        }
        let json = test_run_json(&args);
        let skipped: Vec<u64> = json["skipped"]
            .as_array()
            .expect("skipped")
            .iter()
            .map(|s| s["index"].as_u64().unwrap())
            .collect();
        let refused: Vec<u64> = (0..kernel.len() as u64)
            .filter(|&i| kernel[i as usize].is_none())
            .collect();
        assert_eq!(skipped, refused, "{name} ({engine}): packets skipped");
        let ours = json["packets"].as_array().expect("packets");
        let run: Vec<(usize, &KernelPacket)> = kernel
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.as_ref().map(|k| (i, k)))
            .collect();
        assert_eq!(ours.len(), run.len(), "{name} ({engine}): packets run");
        for (got, &(i, want)) in ours.iter().zip(&run) {
            assert_eq!(got["index"], i, "{name} ({engine})");
            assert_eq!(
                got["retval"],
                u64::from(want.retval),
                "{name} ({engine}), packet {i}: retval"
            );
            assert_eq!(
                got["data_out"].as_str().unwrap(),
                bpfkit_cli_hex(&want.data_out),
                "{name} ({engine}), packet {i}: data_out"
            );
            for (field, value) in &want.ctx {
                // bpfkit lists the fields that changed; the others kept their start.
                let at = SKB_FIELDS.iter().find(|(f, _)| f == field).unwrap().1;
                let start = case
                    .ctx
                    .as_deref()
                    .map_or(0, |c| u32::from_ne_bytes(c[at..at + 4].try_into().unwrap()));
                let ours = got["ctx"]
                    .get(field)
                    .and_then(Value::as_u64)
                    .unwrap_or(u64::from(start));
                assert_eq!(
                    ours,
                    u64::from(*value),
                    "{name} ({engine}), packet {i}: __sk_buff {field}"
                );
            }
        }
        assert_eq!(
            bpfkit_maps(&json),
            kernel_maps,
            "{name} ({engine}): maps after the run"
        );
        compared += 1;
    }
    compared
}

#[test]
fn packet_fixtures_run_in_bpfkit_as_in_the_kernel() {
    if let Err(why) = bpfkit_kernel::available() {
        println!("skipped: this process may not load BPF programs ({why})");
        return;
    }
    let packets: Vec<Vec<u8>> = capture("mixed.pcap")
        .packets
        .into_iter()
        .map(|p| p.data)
        .collect();
    // A context for tc programs and socket filters: mark 0x11, priority 5, cb[1] 0x2222.
    let mut ctx_in = vec![0u8; SK_BUFF_SIZE];
    ctx_in[8..12].copy_from_slice(&0x11u32.to_ne_bytes());
    ctx_in[32..36].copy_from_slice(&5u32.to_ne_bytes());
    ctx_in[52..56].copy_from_slice(&0x2222u32.to_ne_bytes());
    let mut cases: Vec<Case> = Vec::new();
    for (name, prog_type) in FIXTURES {
        cases.push(Case::plain(name, prog_type));
        if prog_type != ProgType::Xdp {
            cases.push(Case {
                ctx: Some(ctx_in.clone()),
                ..Case::plain(name, prog_type)
            });
        }
    }
    // The firewall with another blocklist, 10.0.0.0/24 alone, in the parameter's layout:
    // four {u32 prefix length (host order), 4 address bytes}, a zero length ending it.
    let mut blocklist = Vec::new();
    blocklist.extend_from_slice(&24u32.to_ne_bytes());
    blocklist.extend_from_slice(&[10, 0, 0, 0]);
    blocklist.resize(32, 0);
    cases.push(Case {
        set: Some(("blocklist", blocklist)),
        ..Case::plain("xdp_firewall", ProgType::Xdp)
    });
    let compared: usize = cases.iter().map(|case| compare(case, &packets)).sum();
    println!(
        "{compared} runs compared with the kernel's, {} packets each",
        packets.len()
    );
    assert_eq!(compared, 2 * cases.len());
}

/// Bytes as lowercase hex, as `--json` writes them.
fn bpfkit_cli_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
