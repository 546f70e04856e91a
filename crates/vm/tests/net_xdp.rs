//! XDP programs compiled by clang (tests/net/xdp.c) run by bpfkit, in the interpreter and
//! in the JIT, and by the kernel's `BPF_PROG_TEST_RUN` on the same packets: the verdicts,
//! the bytes copied out and the maps afterwards must be the kernel's. Each case also
//! states the result derived by hand from the kernel's rules (net/core/filter.c,
//! net/bpf/test_run.c), checked even where the kernel is not available; the comparison
//! with the kernel is skipped, with a line, where this process may not load programs.

use bpfkit_isa::{encode_program, Insn, LddwKind};
use bpfkit_jit::JitProgram;
use bpfkit_kernel::{KernelMap, ProgType, Program, TestRun};
use bpfkit_object::Object;
use bpfkit_verifier::facts::Region as Facts;
use bpfkit_verifier::{verify, VerifierOptions};
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::{self, MapSpec, MapTable, MapType, BPF_ANY};
use bpfkit_vm::net::{
    self, ConvertedProgram, PacketInput, PacketKind, PacketOutcome, PacketProgram, Redirect,
};
use bpfkit_vm::{Engine, Helpers, Interpreter};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

const XDP_ABORTED: u64 = 0;
const XDP_DROP: u64 = 1;
const XDP_PASS: u64 = 2;
const XDP_TX: u64 = 3;
const XDP_REDIRECT: u64 = 4;
const EINVAL: u64 = 22;
const EACCES: u64 = 13;
const BPF_F_BROADCAST: u64 = 1 << 3;
const BPF_F_EXCLUDE_INGRESS: u64 = 1 << 4;

fn object() -> Object {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/net/xdp.o");
    Object::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn specs(object: &Object) -> Vec<MapSpec> {
    object
        .maps()
        .iter()
        .map(|d| {
            let t = MapType::from_raw(d.map_type).unwrap();
            MapSpec::new(t, d.key_size, d.value_size, d.max_entries).with_flags(d.flags)
        })
        .collect()
}

/// What the maps start with, as (map name, key, value), in both bpfkit and the kernel:
/// the loopback device (ifindex 1) at key 0 of the device map and key 7 of the hashed one,
/// CPU 0 with a queue of 64 frames in the CPU map; the socket map stays empty.
const INITIAL: [(&str, u32, u32); 3] = [("devices", 0, 1), ("devices_hash", 7, 1), ("cpus", 0, 64)];

/// The program's maps in bpfkit, filled with [`INITIAL`].
fn bpfkit_maps(object: &Object) -> MapTable {
    let mut table = MapTable::new();
    for spec in specs(object) {
        table.push(maps::create(&spec).unwrap());
    }
    for (name, key, value) in INITIAL {
        let i = object.maps().iter().position(|d| d.name == name).unwrap();
        table
            .get(i as u32)
            .unwrap()
            .update(&key.to_ne_bytes(), &value.to_ne_bytes(), BPF_ANY)
            .unwrap();
    }
    table
}

/// Program `name` of the object as bpfkit runs it: verified, converted, relocated against
/// its own copy of the maps, compiled by `engine`.
fn bpfkit_program<E: Engine>(
    object: &Object,
    name: &str,
    build: impl FnOnce(&[Insn], &Helpers) -> E,
) -> (PacketProgram<E>, Runtime) {
    let insns = object.program(name).unwrap().insns().unwrap();
    let opts = VerifierOptions {
        maps: object
            .maps()
            .iter()
            .map(bpfkit_object::MapDef::verifier_spec)
            .collect(),
        ..VerifierOptions::default()
    };
    let xdp = bpfkit_verifier::ProgType::by_name("xdp").unwrap();
    let verified = verify(&insns, xdp, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    let converted = ConvertedProgram::new(&insns, PacketKind::Xdp, |pc| {
        verified.facts[pc].access == Some(Facts::Ctx)
    })
    .unwrap();
    let runtime = Runtime::new(bpfkit_maps(object));
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    net::register(&mut helpers, PacketKind::Xdp, &runtime);
    let maps = runtime.maps.clone();
    let program = PacketProgram::new(&converted, maps.clone(), |converted| {
        let code = maps.relocate(converted).unwrap();
        Ok::<_, ()>(build(&code, &helpers))
    })
    .unwrap();
    (program, runtime)
}

/// The same program in the kernel, with its maps filled with [`INITIAL`].
struct Kernel {
    program: Program,
    maps: Vec<KernelMap>,
}

fn kernel_program(object: &Object, name: &str) -> Option<Kernel> {
    if let Err(why) = bpfkit_kernel::available() {
        println!("skipped the kernel comparison: this process may not load BPF programs ({why})");
        return None;
    }
    let maps: Vec<KernelMap> = object
        .maps()
        .iter()
        .map(|d| KernelMap::create(d.map_type, d.key_size, d.value_size, d.max_entries, d.flags))
        .collect::<Result<_, _>>()
        .unwrap();
    for (map, key, value) in INITIAL {
        let i = object.maps().iter().position(|d| d.name == map).unwrap();
        maps[i]
            .update(Some(&key.to_ne_bytes()), &value.to_ne_bytes(), BPF_ANY)
            .unwrap();
    }
    let fds: Vec<BorrowedFd<'_>> = maps.iter().map(|m| m.as_fd()).collect();
    let insns: Vec<Insn> = object
        .program(name)
        .unwrap()
        .insns()
        .unwrap()
        .into_iter()
        .map(|insn| match insn {
            Insn::Lddw {
                dst,
                kind: LddwKind::MapIdx,
                imm,
                next_imm,
            } => Insn::Lddw {
                dst,
                kind: LddwKind::MapFd,
                imm: fds[imm as usize].as_raw_fd(),
                next_imm,
            },
            other => other,
        })
        .collect();
    let program = Program::load(ProgType::Xdp, &encode_program(&insns), "GPL", name)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    Some(Kernel { program, maps })
}

impl Kernel {
    fn run(&self, packet: &[u8]) -> (u64, Vec<u8>) {
        let out = self
            .program
            .test_run(&TestRun {
                data_in: packet,
                data_out_size: 4096,
                ..TestRun::default()
            })
            .unwrap();
        (out.retval.into(), out.data_out)
    }

    /// Every (key, value) of map `i`, sorted.
    fn entries(&self, object: &Object, i: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let def = &object.maps()[i];
        let mut out = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        let mut next = vec![0u8; def.key_size as usize];
        while self.maps[i].next_key(key.as_deref(), &mut next).is_ok() {
            let mut value = vec![0u8; def.value_size as usize];
            if self.maps[i].lookup(Some(&next), &mut value).is_ok() {
                out.push((next.clone(), value));
            }
            key = Some(next.clone());
        }
        out.sort();
        out
    }
}

/// One case: the packet and the outcome derived by hand.
struct Case {
    packet: Vec<u8>,
    retval: u64,
    data_out: Vec<u8>,
    redirect: Option<Redirect>,
}

/// Runs every case in the interpreter, in the JIT and (where possible) in the kernel;
/// returns the interpreter's runtime and the kernel program, for comparing maps.
fn check(name: &str, cases: &[Case]) -> (Runtime, Runtime, Option<Kernel>) {
    let object = object();
    let (mut interp, interp_rt) =
        bpfkit_program(&object, name, |code, h| Interpreter::new(code, h).unwrap());
    let (mut jit, jit_rt) =
        bpfkit_program(&object, name, |code, h| JitProgram::new(code, h).unwrap());
    let kernel = kernel_program(&object, name);
    for (i, case) in cases.iter().enumerate() {
        let input = PacketInput::new(&case.packet);
        let ours = interp
            .run(&input)
            .unwrap_or_else(|e| panic!("{name} case {i}: {e}"));
        let expected = PacketOutcome {
            retval: case.retval,
            data_out: case.data_out.clone(),
            redirect: case.redirect,
            insns: ours.insns,
        };
        assert_eq!(ours, expected, "{name} case {i}: interpreter");
        let jitted = jit
            .run(&input)
            .unwrap_or_else(|e| panic!("{name} case {i}: {e}"));
        assert_eq!(jitted, ours, "{name} case {i}: JIT and interpreter");
        if let Some(k) = &kernel {
            let (retval, data_out) = k.run(&case.packet);
            assert_eq!(
                (retval, data_out),
                (ours.retval, ours.data_out),
                "{name} case {i}: kernel and bpfkit"
            );
        }
    }
    (interp_rt, jit_rt, kernel)
}

/// A 64-byte packet: bytes `head` first, then `i as u8` at offset `i`.
fn packet(head: &[u8]) -> Vec<u8> {
    let mut p: Vec<u8> = (0..64u8).collect();
    p[..head.len()].copy_from_slice(head);
    p
}

#[test]
fn every_field_reads_and_the_packet_is_rewritten() {
    let input = packet(&[]);
    let mut out = input.clone();
    // Length 64, no metadata, the loopback device (ifindex 1), queue 0, byte 16 + 1.
    out[..16].copy_from_slice(&[64, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    out[16] = 17;
    check(
        "fields",
        &[Case {
            packet: input,
            retval: XDP_TX,
            data_out: out,
            redirect: None,
        }],
    );
}

/// The adjust program's input for deltas (meta, head, tail) on a 64-byte packet.
fn deltas(meta: i32, head: i32, tail: i32) -> Vec<u8> {
    let mut h = Vec::new();
    for d in [meta, head, tail] {
        h.extend_from_slice(&d.to_ne_bytes());
    }
    packet(&h)
}

/// The adjust program's output, derived from the kernel's rules on a model of the test
/// run's frame: the packet at 256; adjust_meta moves the metadata's start (and the
/// program marks its first 4 bytes); adjust_head moves the packet's start and memmoves
/// the metadata along, leaving the bytes it came from as they were; adjust_tail moves the
/// end (the tailroom is zero). `done` adjustments succeed (3: all, and the program then
/// writes the packet's length and the metadata's length over the packet's first 8 bytes).
fn frame_after(meta: i32, head: i32, tail: i32, done: usize) -> Vec<u8> {
    let mut frame = vec![0u8; 4096];
    frame[256..320].copy_from_slice(&deltas(meta, head, tail));
    let (mut m, mut d, mut e) = (256usize, 256usize, 320usize);
    if done >= 1 {
        m = (m as i64 + meta as i64) as usize;
        if d - m >= 4 {
            frame[m..m + 4].copy_from_slice(&0xa1b2c3d4u32.to_ne_bytes());
        }
    }
    if done >= 2 {
        let to = (m as i64 + head as i64) as usize;
        frame.copy_within(m..d, to);
        d = (d as i64 + head as i64) as usize;
        m = to;
    }
    if done >= 3 {
        e = (e as i64 + tail as i64) as usize;
        frame[d..d + 4].copy_from_slice(&((e - d) as u32).to_ne_bytes());
        frame[d + 4..d + 8].copy_from_slice(&((d - m) as u32).to_ne_bytes());
    }
    frame[m..e].to_vec()
}

fn ok(meta: i32, head: i32, tail: i32) -> Case {
    Case {
        packet: deltas(meta, head, tail),
        retval: XDP_PASS,
        data_out: frame_after(meta, head, tail, 3),
        redirect: None,
    }
}

/// Adjustment `step` (1 meta, 2 head, 3 tail) fails with `errno`: the verdict is
/// `step * 0x100 + errno` and the packet is copied out with the earlier steps done.
fn fails(meta: i32, head: i32, tail: i32, step: usize, errno: u64) -> Case {
    Case {
        packet: deltas(meta, head, tail),
        retval: step as u64 * 0x100 + errno,
        data_out: frame_after(meta, head, tail, step - 1),
        redirect: None,
    }
}

#[test]
fn adjustments_succeed_and_fail_where_the_kernels_do() {
    // The frame: 256 bytes of headroom, the first 40 of them the kernel's struct
    // xdp_frame; the packet (64 bytes) at 256; the frame's usable end at 4096 - 320.
    check(
        "adjust",
        &[
            ok(0, 0, 0),
            // Metadata: 4-byte multiples, up to the xdp_frame (256 - 40 = 216 bytes).
            ok(-4, 0, 0),
            ok(-32, 0, 0),
            ok(-36, 0, 0),
            ok(-216, 0, 0),
            fails(-220, 0, 0, 1, EINVAL),
            fails(-2, 0, 0, 1, EACCES),
            fails(4, 0, 0, 1, EINVAL),
            // Head: down to the xdp_frame plus the metadata, up to 14 bytes left.
            ok(0, -216, 0),
            fails(0, -217, 0, 2, EINVAL),
            ok(0, 50, 0),
            fails(0, 51, 0, 2, EINVAL),
            ok(-8, -208, 0),
            fails(-8, -209, 0, 2, EINVAL),
            // The metadata moves with the head.
            ok(-8, 20, 0),
            ok(-12, -20, 0),
            // Tail: up to the frame's usable end (256 + 64 + 3456 = 3776), down to 14.
            ok(0, 0, 3456),
            fails(0, 0, 3457, 3, EINVAL),
            ok(0, 0, -50),
            fails(0, 0, -51, 3, EINVAL),
            ok(0, 30, -20),
            fails(0, 30, -21, 3, EINVAL),
            ok(0, -216, 3456),
            ok(-16, 10, -10),
        ],
    );
}

/// The redirect program's input: helper `sel`, ifindex or key `key`, `flags`.
fn redirect_input(sel: u8, key: u32, flags: u64) -> Vec<u8> {
    let mut h = vec![sel, 0, 0, 0];
    h.extend_from_slice(&key.to_ne_bytes());
    h.extend_from_slice(&flags.to_ne_bytes());
    packet(&h)
}

#[test]
fn redirects_are_recorded_and_missing_keys_fall_back_to_the_flags() {
    let object = object();
    let index = |name: &str| object.maps().iter().position(|d| d.name == name).unwrap() as u32;
    let (devices, devices_hash, cpus) = (index("devices"), index("devices_hash"), index("cpus"));
    let case = |sel: u8, key: u32, flags: u64, retval: u64, redirect: Option<Redirect>| Case {
        packet: redirect_input(sel, key, flags),
        retval,
        data_out: redirect_input(sel, key, flags),
        redirect,
    };
    let map = |map: u32, key: u32, flags: u64| Some(Redirect::Map { map, key, flags });
    let cases = [
        // bpf_redirect: any flag aborts.
        case(
            0,
            5,
            0,
            XDP_REDIRECT,
            Some(Redirect::Ifindex {
                ifindex: 5,
                flags: 0,
            }),
        ),
        case(0, 5, 1, XDP_ABORTED, None),
        // The device map holds key 0 only; a missing key answers flags & 3.
        case(1, 0, 0, XDP_REDIRECT, map(devices, 0, 0)),
        case(1, 1, 0, XDP_ABORTED, None),
        case(1, 1, 2, XDP_PASS, None),
        case(1, 9, 3, XDP_TX, None),
        case(1, 4, 1, XDP_DROP, None),
        // Broadcast needs no key and keeps its flags; other flags abort.
        case(
            1,
            1,
            BPF_F_BROADCAST,
            XDP_REDIRECT,
            map(devices, 1, BPF_F_BROADCAST),
        ),
        case(
            1,
            0,
            BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS,
            XDP_REDIRECT,
            map(devices, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS),
        ),
        case(1, 0, 4, XDP_ABORTED, None),
        // Exclude-ingress alone is a device map flag, without broadcast not kept.
        case(
            1,
            0,
            BPF_F_EXCLUDE_INGRESS,
            XDP_REDIRECT,
            map(devices, 0, 0),
        ),
        case(2, 7, 0, XDP_REDIRECT, map(devices_hash, 7, 0)),
        case(2, 0, 2, XDP_PASS, None),
        case(3, 0, 0, XDP_REDIRECT, map(cpus, 0, 0)),
        case(3, 1, 1, XDP_DROP, None),
        // The CPU map has no broadcast.
        case(3, 0, BPF_F_BROADCAST, XDP_ABORTED, None),
        case(4, 0, 2, XDP_PASS, None),
        // bpf_redirect(9), then a device map key: found, the map wins; missing, the
        // map is forgotten and ifindex 9 remains.
        case(5, 0, 0, XDP_REDIRECT, map(devices, 0, 0)),
        case(
            5,
            1,
            0,
            XDP_REDIRECT,
            Some(Redirect::Ifindex {
                ifindex: 9,
                flags: 0,
            }),
        ),
    ];
    let (interp, jit, kernel) = check("redirect", &cases);
    // Verdicts counted: each case's retval once (the last two cases count the first
    // helper answer of case 5: XDP_REDIRECT and XDP_ABORTED).
    let mut counts = std::collections::BTreeMap::<u32, u64>::new();
    for (i, c) in cases.iter().enumerate() {
        let verdict = match i {
            17 => XDP_REDIRECT,
            18 => XDP_ABORTED,
            _ => c.retval,
        };
        *counts.entry(verdict as u32).or_default() += 1;
    }
    let expected: Vec<(Vec<u8>, Vec<u8>)> = counts
        .iter()
        .map(|(k, v)| (k.to_ne_bytes().to_vec(), v.to_ne_bytes().to_vec()))
        .collect();
    let verdicts = index("verdicts");
    for rt in [&interp, &jit] {
        let mut ours = rt.maps.get(verdicts).unwrap().entries();
        ours.sort();
        assert_eq!(ours, expected, "verdict counts");
    }
    if let Some(k) = kernel {
        assert_eq!(
            k.entries(&object, verdicts as usize),
            expected,
            "kernel's verdict counts"
        );
        for name in ["devices", "devices_hash", "cpus"] {
            let i = index(name);
            let mut ours = interp.maps.get(i).unwrap().entries();
            ours.sort();
            assert_eq!(ours, k.entries(&object, i as usize), "map {name}");
        }
    }
}

#[test]
fn packets_the_test_run_refuses() {
    let object = object();
    let (mut xdp, _) = bpfkit_program(&object, "fields", |code, h| {
        Interpreter::new(code, h).unwrap()
    });
    // Shorter than an Ethernet header, and longer than one frame holds: the kernel's
    // test run answers EINVAL to the first; the second would need fragments.
    for len in [13, 3521] {
        let err = xdp.run(&PacketInput::new(&vec![0; len])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("packet of {len} bytes")),
            "{err}"
        );
    }
    assert!(xdp.run(&PacketInput::new(&[0; 3520])).is_ok());
}

/// The 16-bit one's complement sum of a 32-bit partial checksum.
fn fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    ((s & 0xffff) + (s >> 16)) as u16
}

#[test]
fn csum_diff_is_the_kernels() {
    let object = object();
    let mut input: Vec<u8> = (0..64).collect();
    input[20..24].copy_from_slice(&0x1234u32.to_ne_bytes());
    let (mut interp, _) = bpfkit_program(&object, "csum", |code, h| {
        Interpreter::new(code, h).unwrap()
    });
    let (mut jit, _) = bpfkit_program(&object, "csum", |code, h| JitProgram::new(code, h).unwrap());
    let ours = interp.run(&PacketInput::new(&input)).unwrap();
    assert_eq!(jit.run(&PacketInput::new(&input)).unwrap(), ours);
    assert_eq!(ours.retval, XDP_PASS);
    let word = |i: usize| u32::from_ne_bytes(ours.data_out[i..i + 4].try_into().unwrap());
    // By hand: the one's complement sum of the seed, the complemented 16-bit words of
    // bytes 0..8 and the words of bytes 8..20 (as loaded by this little-endian host).
    let le16 = |i: usize| u32::from(u16::from_le_bytes([input[i], input[i + 1]]));
    let mut sum = 0x1234u32;
    for i in (0..8).step_by(2) {
        sum += 0xffff - le16(i);
    }
    for i in (8..20).step_by(2) {
        sum += le16(i);
    }
    assert_eq!(fold(word(24)), fold(sum));
    if let Some(k) = kernel_program(&object, "csum") {
        let (retval, data_out) = k.run(&input);
        assert_eq!((retval, data_out), (ours.retval, ours.data_out.clone()));
    }
    // Since Linux 6.13 sizes need not be multiples of 4 (the kernel here answers so):
    // `~csum_partial(from, ~seed)` folded. Words 0100 + 0302 + 0504 = 0906; plus
    // ffffffff with the end-around carry: 0906; complemented: fffff6f9; folded:
    // ffff + f6f9 = 1f6f8 -> f6f9.
    assert_eq!(word(28), 0xf6f9);
}

#[test]
fn fib_lookup_fails_the_run_naming_the_helper() {
    // bpf_fib_lookup(ctx, r2, r3, r4), as an XDP program calls it (bpfkit's verifier does
    // not know the helper, so the program is not verified: it reads no context field).
    let prog = [Insn::Call { imm: 69 }, Insn::Exit];
    let converted = ConvertedProgram::new(&prog, PacketKind::Xdp, |_| false).unwrap();
    let runtime = Runtime::default();
    let mut helpers = Helpers::new();
    net::register(&mut helpers, PacketKind::Xdp, &runtime);
    let mut xdp = PacketProgram::new(&converted, runtime.maps.clone(), |insns| {
        Interpreter::new(insns, &helpers)
    })
    .unwrap();
    let err = xdp
        .run(&PacketInput::new(&[0; 64]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("instruction 0: helper 69 failed: bpf_fib_lookup"),
        "{err}"
    );
}

#[test]
fn the_context_reports_the_receiving_device_and_queue() {
    let object = object();
    let (mut xdp, _) = bpfkit_program(&object, "fields", |code, h| {
        JitProgram::new(code, h).unwrap()
    });
    let input = packet(&[]);
    let out = xdp
        .run(&PacketInput {
            ingress_ifindex: 7,
            rx_queue_index: 3,
            ..PacketInput::new(&input)
        })
        .unwrap();
    // Bytes 8..16: ifindex 7, queue 3, as the fields program writes them.
    assert_eq!(out.data_out[8..16], [7, 0, 0, 0, 3, 0, 0, 0]);
}

/// A `struct xdp_md` as a context in: metadata length, packet end, device, queue, egress.
fn xdp_md(
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress: u32,
    queue: u32,
    egress: u32,
) -> Vec<u8> {
    [data, data_end, data_meta, ingress, queue, egress]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect()
}

#[test]
fn metadata_and_device_from_the_context() {
    let object = object();
    // 8 bytes of metadata (0..8), then a 64-byte packet (8..72).
    let input: Vec<u8> = (0..72).collect();
    let ctx = xdp_md(8, 72, 0, 1, 0, 0);
    // fields: length 64, metadata 8, device 1, queue 0; the packet's byte 16 (input 24)
    // incremented; the metadata unchanged. The context out is the context in (the
    // program moved nothing).
    let mut fields_out = input.clone();
    fields_out[8..24].copy_from_slice(&[64, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    fields_out[24] = 25;
    // adjust with deltas (meta -4, head 0, tail 0): 12 bytes of metadata, the first 4
    // marked, then the old metadata; the packet's first 8 bytes its length and 12.
    let mut adjust_in = input.clone();
    adjust_in[8..20].copy_from_slice(&deltas(-4, 0, 0)[..12]);
    let mut adjust_out = [vec![0xd4, 0xc3, 0xb2, 0xa1], adjust_in.clone()].concat();
    adjust_out[12..20].copy_from_slice(&[64, 0, 0, 0, 12, 0, 0, 0]);
    for (name, input, data_out, ctx_out) in [
        ("fields", &input, fields_out, ctx.clone()),
        ("adjust", &adjust_in, adjust_out, xdp_md(12, 76, 0, 1, 0, 0)),
    ] {
        let (mut xdp, _) =
            bpfkit_program(&object, name, |code, h| Interpreter::new(code, h).unwrap());
        let run = PacketInput {
            ctx: Some(&ctx),
            ..PacketInput::new(input)
        };
        let out = xdp.run(&run).unwrap();
        assert_eq!(out.data_out, data_out, "{name}");
        let ours_ctx = net::xdp::ctx_out(xdp.xdp().unwrap(), &ctx);
        assert_eq!(ours_ctx.to_vec(), ctx_out, "{name}");
        if let Some(k) = kernel_program(&object, name) {
            let r = k
                .program
                .test_run(&TestRun {
                    data_in: input,
                    data_out_size: 4096,
                    ctx_in: Some(&ctx),
                    ctx_out_size: 24,
                    ..TestRun::default()
                })
                .unwrap();
            assert_eq!(
                (u64::from(r.retval), r.data_out, r.ctx_out),
                (out.retval, out.data_out, ctx_out),
                "{name}: kernel"
            );
        }
    }
}

#[test]
fn contexts_the_test_run_refuses() {
    let object = object();
    let (mut xdp, _) = bpfkit_program(&object, "fields", |code, h| {
        Interpreter::new(code, h).unwrap()
    });
    let kernel = kernel_program(&object, "fields");
    let input = [0u8; 300];
    // The most metadata the headroom leaves, 216 bytes, is accepted.
    let most = xdp_md(216, 300, 0, 0, 0, 0);
    let run = PacketInput {
        ctx: Some(&most),
        ..PacketInput::new(&input)
    };
    assert_eq!(xdp.run(&run).unwrap().data_out.len(), 300);
    if let Some(k) = &kernel {
        let r = k.program.test_run(&TestRun {
            data_in: &input,
            data_out_size: 4096,
            ctx_in: Some(&most),
            ..TestRun::default()
        });
        assert_eq!(r.unwrap().data_out.len(), 300);
    }
    for ctx in [
        // Metadata not a multiple of 4, or more than the headroom leaves (256 - 40).
        xdp_md(2, 300, 0, 0, 0, 0),
        xdp_md(220, 300, 0, 0, 0, 0),
        // data_meta set, data past data_end, data_end past the packet.
        xdp_md(0, 300, 4, 0, 0, 0),
        xdp_md(8, 4, 0, 0, 0, 0),
        xdp_md(0, 301, 0, 0, 0, 0),
        // Less than an Ethernet header after the metadata.
        xdp_md(288, 300, 0, 0, 0, 0),
        // An egress device; a queue without a device.
        xdp_md(0, 300, 0, 1, 0, 3),
        xdp_md(0, 300, 0, 0, 1, 0),
    ] {
        let run = PacketInput {
            ctx: Some(&ctx),
            ..PacketInput::new(&input)
        };
        assert!(xdp.run(&run).is_err(), "{ctx:?}");
        if let Some(k) = &kernel {
            let e = k
                .program
                .test_run(&TestRun {
                    data_in: &input,
                    ctx_in: Some(&ctx),
                    ..TestRun::default()
                })
                .unwrap_err();
            assert!(e.to_string().contains("EINVAL"), "{ctx:?}: {e}");
        }
    }
}

/// The events_out program's input: flags, then 8 bytes of data.
fn event_input(flags: u64) -> Vec<u8> {
    let mut head = flags.to_ne_bytes().to_vec();
    head.extend_from_slice(&0x1122_3344_5566_7788u64.to_ne_bytes());
    packet(&head)
}

#[test]
fn perf_event_output_appends_packet_bytes() {
    const ENOENT: u64 = 2;
    const E2BIG: u64 = 7;
    const EFAULT: u64 = 14;
    let case = |flags: u64, retval: u64| Case {
        packet: event_input(flags),
        retval,
        data_out: event_input(flags),
        redirect: None,
    };
    // No perf buffer is open (the kernel's test run has none either): valid flags reach
    // the array and find no buffer at index 0; index 5 is past the array; more packet
    // bytes than the packet's 64 fault; unknown flags are invalid.
    check(
        "events_out",
        &[
            case(10 << 32, ENOENT),
            case(64 << 32, ENOENT),
            case(65 << 32, EFAULT),
            case(5, E2BIG),
            case(1 << 60, EINVAL),
        ],
    );
    // With a buffer open at index 0: the sample is the 8 data bytes, then the packet's
    // first 10 bytes, zero-padded to 20 (4 + 20 is a multiple of 8).
    let object = object();
    let (mut xdp, runtime) = bpfkit_program(&object, "events_out", |code, h| {
        Interpreter::new(code, h).unwrap()
    });
    let events = object
        .maps()
        .iter()
        .position(|d| d.name == "events")
        .unwrap();
    let map = runtime.maps.get(events as u32).unwrap().clone();
    map.update(&0u32.to_ne_bytes(), &0u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    let input = event_input(10 << 32);
    assert_eq!(xdp.run(&PacketInput::new(&input)).unwrap().retval, 100);
    let mut samples = Vec::new();
    map.as_perf_event_array().unwrap().consume(|index, sample| {
        if let maps::Sample::Data(data) = sample {
            samples.push((index, data.to_vec()));
        }
    });
    let mut expected = 0x1122_3344_5566_7788u64.to_ne_bytes().to_vec();
    expected.extend_from_slice(&input[..10]);
    expected.resize(20, 0);
    assert_eq!(samples, [(0, expected)]);
}

#[test]
fn random_adjustments_match_the_kernel() {
    let object = object();
    let Some(kernel) = kernel_program(&object, "adjust") else {
        return;
    };
    let (mut interp, _) = bpfkit_program(&object, "adjust", |code, h| {
        Interpreter::new(code, h).unwrap()
    });
    let (mut jit, _) = bpfkit_program(&object, "adjust", |code, h| {
        JitProgram::new(code, h).unwrap()
    });
    // xorshift: a fixed, reproducible sequence of deltas around every limit, on packets
    // of 14 to 3520 bytes.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let (mut passed, mut failed) = (0, 0);
    for _ in 0..400 {
        let len = 14 + next(3507) as usize;
        // Metadata mostly a multiple of 4 (up to 236 bytes, past the limit of 216).
        let meta = -(next(60) as i32 * 4) - if next(8) == 0 { 2 } else { 0 };
        let head = next(600) as i32 - 300;
        let tail = next(4000) as i32 - len as i32;
        let mut input: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        for (i, d) in [meta, head, tail].into_iter().enumerate() {
            input[4 * i..4 * i + 4].copy_from_slice(&d.to_ne_bytes());
        }
        let ours = interp.run(&PacketInput::new(&input)).unwrap();
        assert_eq!(jit.run(&PacketInput::new(&input)).unwrap(), ours);
        let (retval, data_out) = kernel.run(&input);
        assert_eq!(
            (retval, data_out),
            (ours.retval, ours.data_out),
            "len {len}, deltas ({meta}, {head}, {tail})"
        );
        if ours.retval == XDP_PASS {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    // Both outcomes are exercised.
    assert!(
        passed > 20 && failed > 20,
        "{passed} passed, {failed} failed"
    );
}

#[test]
fn random_redirects_match_the_kernel() {
    let object = object();
    let Some(kernel) = kernel_program(&object, "redirect") else {
        return;
    };
    let (mut interp, runtime) = bpfkit_program(&object, "redirect", |code, h| {
        Interpreter::new(code, h).unwrap()
    });
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for _ in 0..300 {
        // Every helper, keys around the stored ones, flags among the low five bits (the
        // verdict bits, an undefined one, broadcast, exclude-ingress) and sometimes more.
        let sel = next(6) as u8;
        let key = next(10) as u32;
        let flags = next(32) | if next(10) == 0 { 1 << next(64) } else { 0 };
        let input = redirect_input(sel, key, flags);
        let ours = interp.run(&PacketInput::new(&input)).unwrap();
        assert_eq!(
            kernel.run(&input).0,
            ours.retval,
            "helper {sel}, key {key}, flags {flags:#x}"
        );
    }
    let verdicts = object
        .maps()
        .iter()
        .position(|d| d.name == "verdicts")
        .unwrap();
    let mut ours = runtime.maps.get(verdicts as u32).unwrap().entries();
    ours.sort();
    assert_eq!(ours, kernel.entries(&object, verdicts), "verdict counts");
}
