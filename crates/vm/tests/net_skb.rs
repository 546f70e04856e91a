//! tc programs and socket filters compiled by clang (tests/net/skb_tc.c, skb_socket.c;
//! rebuilt by tests/net/skb_build.sh) run by bpfkit, in the interpreter and in the JIT,
//! and by the kernel's `BPF_PROG_TEST_RUN` on the same packets and contexts: the return
//! value, the bytes copied out and the context copied out (`struct __sk_buff`) must be
//! the kernel's. The programs take their parameters from `cb[]` of the context in and
//! leave their results in the context out. Each test also checks results derived by hand
//! from the kernel's rules (net/bpf/test_run.c, net/core/filter.c, RFC 1071/1624), which
//! hold even where the kernel is not available; the comparison with the kernel is
//! skipped, with a line, where this process may not load programs.

use bpfkit_isa::{encode_program, Insn};
use bpfkit_jit::JitProgram;
use bpfkit_kernel::{ProgType, Program, TestRun};
use bpfkit_object::Object;
use bpfkit_verifier::facts::Region as Facts;
use bpfkit_verifier::{verify, VerifierOptions};
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::net::{
    self, skb, ConvertedProgram, PacketInput, PacketKind, PacketProgram, Redirect,
};
use bpfkit_vm::{Engine, Helpers, Interpreter};

const TC_ACT_OK: u64 = 0;
const TC_ACT_SHOT: u64 = 2;
const TC_ACT_REDIRECT: u64 = 7;
const EFAULT: u32 = -14i32 as u32;
const EINVAL: u32 = -22i32 as u32;
const ENOMEM: u32 = -12i32 as u32;
/// The kernel-internal `ENOTSUPP`.
const ENOTSUPP: u32 = -524i32 as u32;

/// Offsets in `struct __sk_buff` (/usr/include/linux/bpf.h).
const MARK: usize = 8;
const PRIORITY: usize = 32;
const INGRESS_IFINDEX: usize = 36;
const IFINDEX: usize = 40;
const CB: usize = 48;
const TSTAMP: usize = 152;
const WIRE_LEN: usize = 160;
const GSO_SEGS: usize = 164;
const HWTSTAMP: usize = 184;

fn object(file: &str) -> Object {
    let path = format!("{}/tests/net/{file}.o", env!("CARGO_MANIFEST_DIR"));
    Object::parse(&std::fs::read(&path).unwrap()).unwrap()
}

/// Program `name` as bpfkit runs it: verified for `kind`, converted, built by `build`.
fn bpfkit_program<E: Engine>(
    object: &Object,
    name: &str,
    kind: PacketKind,
    build: impl FnOnce(&[Insn], &Helpers) -> E,
) -> PacketProgram<E> {
    let insns = object.program(name).unwrap().insns().unwrap();
    let prog_type = bpfkit_verifier::ProgType::by_name(kind.name()).unwrap();
    let verified = verify(&insns, prog_type, &VerifierOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let converted = ConvertedProgram::with_sock(
        &insns,
        kind,
        |pc| verified.facts[pc].access == Some(Facts::Ctx),
        |pc| verified.facts[pc].access == Some(Facts::Sock),
    )
    .unwrap();
    let runtime = Runtime::default();
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    net::register(&mut helpers, kind, &runtime);
    PacketProgram::new(&converted, runtime.maps.clone(), |code| {
        Ok::<_, ()>(build(code, &helpers))
    })
    .unwrap()
}

fn kernel_program(object: &Object, name: &str, kind: PacketKind) -> Option<Program> {
    if let Err(why) = bpfkit_kernel::available() {
        println!("skipped the kernel comparison: this process may not load BPF programs ({why})");
        return None;
    }
    let insns = object.program(name).unwrap().insns().unwrap();
    let prog_type = match kind {
        PacketKind::SocketFilter => ProgType::SocketFilter,
        PacketKind::SchedAct => ProgType::SchedAct,
        _ => ProgType::SchedCls,
    };
    Some(
        Program::load(prog_type, &encode_program(&insns), "GPL", name)
            .unwrap_or_else(|e| panic!("{name}: {e}")),
    )
}

/// What a run gives back: the return value, the bytes and the context copied out.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Out {
    retval: u64,
    data: Vec<u8>,
    ctx: Vec<u8>,
}

impl Out {
    fn u32_at(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.ctx[off..off + 4].try_into().unwrap())
    }

    fn cb(&self, i: usize) -> u32 {
        self.u32_at(CB + 4 * i)
    }
}

fn run_bpfkit<E: Engine>(p: &mut PacketProgram<E>, packet: &[u8], ctx: &[u8]) -> Out {
    let input = PacketInput {
        ctx: Some(ctx),
        ..PacketInput::new(packet)
    };
    let out = p.run(&input).unwrap();
    Out {
        retval: out.retval,
        data: out.data_out,
        ctx: skb::ctx_out(p.skb().unwrap(), ctx),
    }
}

fn run_kernel(p: &Program, packet: &[u8], ctx: &[u8]) -> Out {
    let out = p
        .test_run(&TestRun {
            data_in: packet,
            data_out_size: 2 << 20,
            ctx_in: Some(ctx),
            ctx_out_size: skb::SK_BUFF_UAPI_SIZE,
            repeat: 0,
        })
        .unwrap();
    Out {
        retval: out.retval.into(),
        data: out.data_out,
        ctx: out.ctx_out,
    }
}

/// Runs program `name` of `file` on every (packet, context) in the interpreter, in the
/// JIT and (where possible) in the kernel; all must agree. Returns bpfkit's outcomes.
fn check(file: &str, name: &str, kind: PacketKind, cases: &[(Vec<u8>, Vec<u8>)]) -> Vec<Out> {
    let object = object(file);
    let mut interp = bpfkit_program(&object, name, kind, |c, h| Interpreter::new(c, h).unwrap());
    let mut jit = bpfkit_program(&object, name, kind, |c, h| JitProgram::new(c, h).unwrap());
    let kernel = kernel_program(&object, name, kind);
    cases
        .iter()
        .enumerate()
        .map(|(i, (packet, ctx))| {
            let ours = run_bpfkit(&mut interp, packet, ctx);
            let jitted = run_bpfkit(&mut jit, packet, ctx);
            assert_eq!(jitted, ours, "{name} case {i}: JIT and interpreter");
            if let Some(k) = &kernel {
                let cb: Vec<u32> = (0..5)
                    .map(|j| {
                        u32::from_le_bytes(ctx[CB + 4 * j..CB + 4 * j + 4].try_into().unwrap())
                    })
                    .collect();
                assert_eq!(
                    run_kernel(k, packet, ctx),
                    ours,
                    "{name} case {i} ({} bytes, cb {cb:x?}): kernel and bpfkit",
                    packet.len()
                );
            }
            ours
        })
        .collect()
}

/// A `struct __sk_buff` for the test run with `cb` set.
fn ctx(cb: [u32; 5]) -> Vec<u8> {
    let mut c = vec![0u8; skb::SK_BUFF_UAPI_SIZE];
    for (i, w) in cb.iter().enumerate() {
        c[CB + 4 * i..CB + 4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    c
}

fn set_u32(c: &mut [u8], off: usize, v: u32) {
    c[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn set_u64(c: &mut [u8], off: usize, v: u64) {
    c[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// The IPv4 header of RFC 1071 discussions (Wikipedia's header checksum example): UDP,
/// 192.168.0.1 to 192.168.0.199, checksum b861 at offset 10.
const IPV4_HEADER: [u8; 20] = [
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01,
    0xc0, 0xa8, 0x00, 0xc7,
];

/// An Ethernet frame to `dest` from 02:00:00:00:00:01 with type `proto`, then `payload`.
fn frame(dest: [u8; 6], proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dest.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&proto.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// IPv4 (the header above), then a UDP header 1000 -> 53 with checksum 0x1234, then
/// `extra` bytes counting up.
fn ipv4_udp(dest: [u8; 6], extra: usize) -> Vec<u8> {
    let mut p = IPV4_HEADER.to_vec();
    p.extend_from_slice(&[0x03, 0xe8, 0x00, 0x35, 0x00, 0x5f, 0x12, 0x34]);
    p.extend((0..extra).map(|i| i as u8));
    frame(dest, 0x0800, &p)
}

/// IPv6, UDP (next header 17), 2001:db8::1 to 2001:db8::2, then `extra` bytes.
fn ipv6_udp(extra: usize) -> Vec<u8> {
    let mut p = vec![0x60, 0x0a, 0xbc, 0xde, 0, 8, 17, 64];
    for last in [1u8, 2] {
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        p.extend_from_slice(&[0; 11]);
        p.push(last);
    }
    p.extend_from_slice(&[0x30, 0x39, 0x00, 0x50, 0x00, 0x08, 0xab, 0xcd]);
    p.extend((0..extra).map(|i| i as u8));
    frame(HOST, 0x86dd, &p)
}

/// An 802.1Q tag (TCI 0x0064) around the IPv4 packet with `extra` bytes of payload, or
/// two (0x88a8 TCI 5 outside).
fn vlan_tagged(qinq: bool, extra: usize) -> Vec<u8> {
    let inner = ipv4_udp(HOST, extra);
    let mut tags = Vec::new();
    if qinq {
        tags.extend_from_slice(&[0x00, 0x05, 0x81, 0x00]);
    }
    tags.extend_from_slice(&[0x00, 0x64, 0x08, 0x00]);
    tags.extend_from_slice(&inner[14..]);
    frame(HOST, if qinq { 0x88a8 } else { 0x8100 }, &tags)
}

/// ARP: not IP, so the test run takes any length.
fn arp() -> Vec<u8> {
    frame(
        [0xff; 6],
        0x0806,
        &[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1],
    )
}

/// The loopback device's own address (all zero): packets to the host.
const HOST: [u8; 6] = [0; 6];
const BROADCAST: [u8; 6] = [0xff; 6];
const OTHER: [u8; 6] = [2, 0, 0, 0, 0, 9];

#[test]
fn fields_read_and_write_as_the_kernel() {
    let mut full = ctx([10, 0, 0, 0, 5]);
    set_u32(&mut full, MARK, 7);
    set_u32(&mut full, PRIORITY, 3);
    set_u32(&mut full, INGRESS_IFINDEX, 9);
    set_u32(&mut full, IFINDEX, 1);
    set_u64(&mut full, TSTAMP, 1_000_000);
    set_u32(&mut full, WIRE_LEN, 1500);
    set_u32(&mut full, GSO_SEGS, 4);
    set_u32(&mut full, 176, 1400); // gso_size
    set_u64(&mut full, HWTSTAMP, 77);
    let cases = vec![
        (ipv4_udp(HOST, 60), full.clone()),
        (ipv4_udp(BROADCAST, 60), ctx([0; 5])),
        (ipv4_udp(OTHER, 80), ctx([0; 5])),
        (ipv6_udp(40), ctx([1, 2, 3, 4, 5])),
        (vlan_tagged(false, 60), full),
        (
            frame([1, 0, 0x5e, 0, 0, 1], 0x0800, &[0x45; 80]),
            ctx([0; 5]),
        ),
    ];
    let outs = check("skb_tc", "fields", PacketKind::SchedCls, &cases);
    let word =
        |o: &Out, i: usize| u32::from_le_bytes(o.data[14 + 4 * i..18 + 4 * i].try_into().unwrap());
    // Case 0, derived by hand: a 102-byte frame to the host (pkt_type 0), protocol 0x0800
    // in network order read as a little-endian number (0x0008), the loopback device,
    // data_end - data = len, no metadata, wire_len and GSO as given.
    let o = &outs[0];
    let read: Vec<u32> = (0..20).map(|i| word(o, i)).collect();
    assert_eq!(
        read,
        [
            102,
            0,
            7,
            0,
            8,
            0,
            0,
            0,
            3,
            9,
            1,
            0,
            15,
            0,
            0,
            102,
            0,
            0,
            1500,
            4 + (1400 << 16)
        ]
    );
    // Then: mark 7 * 3 + 1, priority; tc_index and tc_classid keep 16 bits; tstamp
    // 2 * 10^6 + 5; ifindex 1; hwtstamp and gso_segs unchanged; verdict OK (len <= 100
    // fails: 102 is SHOT).
    assert_eq!(o.retval, TC_ACT_SHOT);
    assert_eq!((o.u32_at(MARK), o.u32_at(PRIORITY)), (22, 0x12345));
    assert_eq!((o.cb(1), o.cb(2), o.cb(3)), (7, 8, 2_000_005));
    assert_eq!(o.u32_at(TSTAMP), 2_000_005);
    assert_eq!((o.u32_at(IFINDEX), o.u32_at(INGRESS_IFINDEX)), (1, 9));
    assert_eq!(o.u32_at(GSO_SEGS), 4);
    // Broadcast is multicast to a device whose broadcast address is all zero (2); a
    // unicast address not the device's is another host's (3).
    assert_eq!(word(&outs[1], 1), 2);
    assert_eq!(word(&outs[2], 1), 3);
    // Without wire_len in the context, it is the length.
    assert_eq!(word(&outs[1], 18), 102);
    // IPv6 is 0x86dd; the VLAN frame is 0x8100, its tag still in the packet.
    assert_eq!(word(&outs[3], 4), 0xdd86);
    assert_eq!(word(&outs[4], 4), 0x0081);
    assert_eq!(word(&outs[4], 5), 0);
}

#[test]
fn socket_filters_see_the_network_header() {
    let with_keep = |keep: u32| ctx([keep, 0, 0, 0, 0]);
    let cases = vec![
        (ipv4_udp(HOST, 30), with_keep(20)),
        (ipv4_udp(BROADCAST, 30), with_keep(0)),
        (ipv6_udp(8), with_keep(1000)),
        (arp(), with_keep(u32::MAX)),
    ];
    let outs = check("skb_socket", "sk_fields", PacketKind::SocketFilter, &cases);
    let o = &outs[0];
    // The frame is 14 + 20 + 8 + 30 = 72 bytes; the socket filter sees 58 (from the IP
    // header), pkt_type host, protocol 0x0008, ifindex 1; it returns cb[0] = 20.
    assert_eq!(o.cb(0), 58);
    assert_eq!(o.cb(1), 0x0008 | 1 << 16);
    assert_eq!(o.retval, 20);
    assert_eq!(skb::socket_filter_keeps(o.retval, 58), 20);
    // The test run copies out the whole packet behind 14 zero bytes, whatever the filter
    // keeps.
    let mut expected = vec![0u8; 14];
    expected.extend_from_slice(&cases[0].0[14..]);
    assert_eq!(o.data, expected);
    assert_eq!(outs[3].retval, u32::MAX as u64);
    assert_eq!(skb::socket_filter_keeps(outs[3].retval, 28), 28);
}

#[test]
fn legacy_loads_start_at_the_network_header_of_socket_filters() {
    let x = |x: u32| ctx([x, 0, 0, 0, 0]);
    let packet = ipv4_udp(HOST, 10);
    // 14 + 20 + 8 + 10 = 52 bytes: 38 for the filter. LD_IND at x reads up to x + 8.
    let cases = vec![
        (packet.clone(), x(0)),
        (packet.clone(), x(20)),
        (packet.clone(), x(30)),
        (packet.clone(), x(31)),
        (packet, x(0xffff_fff0)),
    ];
    let outs = check("skb_socket", "sk_ldabs", PacketKind::SocketFilter, &cases);
    // Version/IHL 0x45 and protocol 17 at 0 and 9, the source address c0a80001
    // (big-endian loads), the UDP ports at 20: 1000 and 53.
    let o = &outs[1];
    assert_eq!(o.retval, 0xffff);
    assert_eq!(o.cb(0), 0x45 | 17 << 8);
    assert_eq!(o.cb(1), 0xc0a8_0001);
    assert_eq!((o.cb(3), o.cb(2)), (0x03, 0x0035));
    // x = 30: the word at 34 ends at 38, inside; x = 31 reads past the end: 0.
    assert_eq!(outs[2].retval, 0xffff);
    assert_eq!(outs[3].retval, 0);
    assert_eq!(outs[4].retval, 0);
}

#[test]
fn load_bytes_relative_reaches_the_mac_header_of_socket_filters() {
    let c = |off: u32, rel: u32, start: u32| ctx([off, rel, start, 0, 0]);
    let packet = ipv4_udp(BROADCAST, 10);
    let cases = vec![
        (packet.clone(), c(0, 0, 0)),
        (packet.clone(), c(32, 6, 1)),
        (packet.clone(), c(33, 47, 0)),
        (packet.clone(), c(0x8000_0000, 0x1_0000, 1)),
        (packet, c(10, 0, 2)),
    ];
    let outs = check("skb_socket", "sk_load", PacketKind::SocketFilter, &cases);
    // From the network header: 45 00 00 73 00 00; from the MAC header: ff x 6.
    let o = &outs[0];
    assert_eq!((o.cb(0), o.cb(1)), (0, 0));
    assert_eq!(&o.ctx[CB + 8..CB + 14], &[0x45, 0, 0, 0x73, 0, 0]);
    assert_eq!(&o.ctx[CB + 14..CB + 20], &[0xff; 6]);
    // 38 bytes from the network header: 32 + 6 fits; 52 from the MAC header: 47 + 6 does
    // not, and the destination is zeroed.
    assert_eq!(outs[1].cb(0), 0);
    assert_eq!(outs[2].cb(0), EFAULT);
    assert_eq!(outs[2].cb(1), EFAULT);
    assert_eq!(&outs[2].ctx[CB + 14..CB + 20], &[0; 6]);
    assert_eq!((outs[3].cb(0), outs[3].cb(1)), (EFAULT, EFAULT));
    assert_eq!(outs[4].cb(1), EFAULT);
}

#[test]
fn load_store_and_pull_as_the_kernel() {
    let c = |op: u32, off: u32, start: u32, flags: u32| ctx([op, off, start, flags, 0xabcd]);
    let p = ipv4_udp(HOST, 10); // 52 bytes
    let cases = vec![
        (p.clone(), c(0, 0, 0, 0)),
        (p.clone(), c(0, 44, 0, 0)),
        (p.clone(), c(0, 45, 0, 0)),
        (p.clone(), c(0, 0x8000_0000, 0, 0)),
        (p.clone(), c(1, 30, 0, 0)),
        (p.clone(), c(1, 44, 0, 2)),
        (p.clone(), c(1, 45, 0, 0)),
        (p.clone(), c(1, 0, 0, 1)),
        (p.clone(), c(1, 0, 0, 4)),
        (p.clone(), c(2, 0, 1, 0)),
        (p.clone(), c(2, 38, 1, 0)),
        (p.clone(), c(2, 44, 0, 0)),
        (p.clone(), c(3, 0, 0, 0)),
        (p.clone(), c(3, 52, 0, 0)),
        (p.clone(), c(3, 53, 0, 0)),
        (p.clone(), c(4, 51, 0, 0)),
        (p, c(4, 52, 0, 0)),
    ];
    let outs = check("skb_tc", "bytes", PacketKind::SchedCls, &cases);
    // tc loads count from the MAC header: the destination, all zero, then 02 00 (bytes
    // 00 00 02 00 as a little-endian word).
    assert_eq!(
        (outs[0].cb(0), outs[0].cb(1), outs[0].cb(2)),
        (0, 0, 0x0002_0000)
    );
    // 44 + 8 = 52 fits, 45 + 8 does not: -EFAULT and zeroes.
    assert_eq!(outs[1].cb(0), 0);
    assert_eq!(
        (outs[2].cb(0), outs[2].cb(1), outs[2].cb(2)),
        (EFAULT, 0, 0)
    );
    // Stores: the bytes 11..88 at 30; BPF_F_INVALIDATE_HASH clears the hash set before.
    assert_eq!(outs[4].cb(0), 0);
    assert_eq!(
        &outs[4].data[30..38],
        &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
    );
    assert_eq!(outs[4].cb(3), 0xabcd);
    assert_eq!((outs[5].cb(0), outs[5].cb(3)), (0, 0));
    assert_eq!(outs[6].cb(0), EFAULT);
    assert_eq!(outs[8].cb(0), EINVAL);
    // Pulling: up to the length (0 means all), then -ENOMEM.
    assert_eq!(
        (outs[12].cb(0), outs[13].cb(0), outs[14].cb(0)),
        (0, 0, ENOMEM)
    );
}

/// The offset of the IPv4 checksum in a frame, and of the UDP checksum.
const IP_CSUM: u32 = 24;
const UDP_CSUM: u32 = 40;

#[test]
fn checksum_replacement_as_the_kernel() {
    // Source address c0a80001 -> c0a80002 (host-order loads of the packet's bytes).
    let old_src = u32::from_le_bytes([0xc0, 0xa8, 0x00, 0x01]);
    let new_src = u32::from_le_bytes([0xc0, 0xa8, 0x00, 0x02]);
    let c = |op: u32, off: u32, from: u32, to: u32, flags: u32| ctx([op, off, from, to, flags]);
    let p = ipv4_udp(HOST, 10);
    let mut zero_udp = p.clone();
    zero_udp[40] = 0;
    zero_udp[41] = 0;
    let cases = vec![
        (p.clone(), c(0, IP_CSUM, old_src, new_src, 4)),
        (p.clone(), c(0, IP_CSUM, 0x0040, 0x003f, 2)),
        (p.clone(), c(0, IP_CSUM, 1, 2, 0)),
        (p.clone(), c(0, IP_CSUM, old_src, new_src, 3)),
        (p.clone(), c(0, IP_CSUM, old_src, new_src, 0x14)),
        (p.clone(), c(0, 25, old_src, new_src, 4)),
        (p.clone(), c(0, 52, 0, 0, 2)),
        (p.clone(), c(0, 50, 0, 0x1234, 2)),
        (p.clone(), c(1, UDP_CSUM, old_src, new_src, 4 | 0x10)),
        (p.clone(), c(1, UDP_CSUM, 0x3412, 0x3412 + 1, 2)),
        (p.clone(), c(1, UDP_CSUM, 0, 0, 0x100)),
        (zero_udp.clone(), c(1, UDP_CSUM, old_src, new_src, 4 | 0x20)),
        (
            zero_udp.clone(),
            c(1, UDP_CSUM, old_src, new_src, 4 | 0x20 | 0x40),
        ),
        (p.clone(), c(1, UDP_CSUM, 0, 0x3412, 2 | 0x20)),
        (p.clone(), c(1, UDP_CSUM, 0, 0, 0x80 | 0x10 | 4)),
        (p.clone(), c(2, UDP_CSUM, old_src, new_src, 0x10)),
        (p.clone(), c(3, IP_CSUM, old_src, new_src, 0)),
        (p.clone(), c(3, IP_CSUM, 0x1234_5678, 0x1234_5678, 0)),
        (p, c(1, UDP_CSUM, 0, 0x3412, 2)),
    ];
    let outs = check("skb_tc", "csum", PacketKind::SchedCls, &cases);
    // RFC 1624: the source address grows by 1, the checksum b861 shrinks by 1: b860.
    assert_eq!(outs[0].cb(0), 0);
    assert_eq!(&outs[0].data[24..26], &[0xb8, 0x60]);
    // The 16-bit word 4000 (flags; bytes 40 00, 0x0040 read little-endian) -> 3f00: the
    // sum shrinks by 0x100, b861 -> b961.
    assert_eq!(&outs[1].data[24..26], &[0xb9, 0x61]);
    // A difference with a non-zero `from` and an unknown size are -EINVAL; so is a flag
    // outside the header-field mask; odd and out-of-range offsets -EFAULT.
    assert_eq!(outs[2].cb(0), EINVAL);
    assert_eq!(outs[3].cb(0), EINVAL);
    assert_eq!(outs[4].cb(0), EINVAL);
    assert_eq!(outs[5].cb(0), EFAULT);
    assert_eq!(outs[6].cb(0), EFAULT);
    assert_eq!(outs[7].cb(0), 0);
    // The pseudo-header flag changes nothing without checksum offload: 1234 -> 1233.
    assert_eq!(&outs[8].data[40..42], &[0x12, 0x33]);
    // BPF_F_MARK_MANGLED_0 leaves a disabled (zero) UDP checksum alone, unless enforced.
    assert_eq!(&outs[11].data[40..42], &[0, 0]);
    assert_ne!(&outs[12].data[40..42], &[0, 0]);
    // The checksum field holds 1234 (0x3412 read little-endian), ~sum; adding a word of
    // 1234 to the data makes the sum ffff and the checksum 0, which MANGLED_0 stores as
    // ffff.
    assert_eq!(&outs[13].data[40..42], &[0xff, 0xff]);
    assert_eq!(&outs[18].data[40..42], &[0, 0]);
    // A difference from bpf_csum_diff gives what the 4-byte replacement gives.
    assert_eq!(&outs[15].data[40..42], &outs[8].data[40..42]);
    assert_eq!(&outs[16].data[24..26], &[0xb8, 0x60]);
    // x - x: bpf_csum_diff's 0xffff changes nothing.
    assert_eq!(outs[17].cb(1), 0xffff);
    assert_eq!(&outs[17].data[24..26], &[0xb8, 0x61]);
}

#[test]
fn csum_diff_as_the_kernel() {
    let mut seeded = ctx([0x0102_0304, 0xffff_ffff, 0x8000_0000, 1, 0x1111_1111]);
    set_u32(&mut seeded, MARK, 0x1234_5678);
    let cases = vec![
        (ipv4_udp(HOST, 0), ctx([0; 5])),
        (ipv4_udp(HOST, 0), seeded),
        (ipv4_udp(HOST, 0), ctx([0xffff_ffff; 5])),
    ];
    let outs = check("skb_tc", "diff", PacketKind::SchedCls, &cases);
    // All zero but b[2] = deadbeef: deadbeef + ~0 = deadbeef, dead + beef = 19d9c, 9d9d;
    // the first 8 bytes of b and the seed alone are 0.
    assert_eq!(
        (outs[0].cb(0), outs[0].cb(1), outs[0].cb(4)),
        (0x9d9d, 0, 0)
    );
    // The seed alone, folded: 1234 + 5678 = 68ac.
    assert_eq!(outs[1].cb(4), 0x68ac);
}

#[test]
fn resizing_as_the_kernel() {
    let c = |op: u32, a: u32, b: u32, flags: u32, l2: u32| ctx([op, a, b, flags, l2]);
    let p = ipv4_udp(HOST, 10); // 52 bytes
    let v6 = ipv6_udp(10);
    let neg = |x: i32| x as u32;
    // GSO skbs (a gso_size in the context) may grow past the maximum length.
    let gso_ctx = |op: u32, a: u32| {
        let mut g = ctx([op, a, 0, 0, 0]);
        set_u32(&mut g, 176, 1000);
        g
    };
    let cases = vec![
        // bpf_skb_change_head
        (p.clone(), c(0, 14, 0, 0, 0)),
        (p.clone(), c(0, 200, 0, 0, 0)),
        (p.clone(), c(0, 16064 - 52, 0, 0, 0)),
        (p.clone(), c(0, 16064 - 51, 0, 0, 0)),
        (p.clone(), c(0, 4, 1, 0, 0)),
        (p.clone(), c(0, u32::MAX - 10, 0, 0, 0)),
        // bpf_skb_change_tail: not below the network header (14), up to 16064.
        (p.clone(), c(1, 14, 0, 0, 0)),
        (p.clone(), c(1, 13, 0, 0, 0)),
        (p.clone(), c(1, 100, 0, 0, 0)),
        (p.clone(), c(1, 16064, 0, 0, 0)),
        (p.clone(), c(1, 16065, 0, 0, 0)),
        (p.clone(), c(1, 60, 1, 0, 0)),
        // bpf_skb_adjust_room at the network layer (after the IPv4 header) and the MAC
        // layer, growing and shrinking, with encapsulation flags.
        (p.clone(), c(2, 8, 0, 0, 0)),
        (p.clone(), c(2, neg(-8), 0, 0, 0)),
        (p.clone(), c(2, neg(-18), 0, 0, 0)),
        (p.clone(), c(2, neg(-19), 0, 0, 0)),
        (p.clone(), c(2, 20, 1, 0, 0)),
        (p.clone(), c(2, neg(-20), 1, 0, 0)),
        (p.clone(), c(2, 0x1000, 0, 0, 0)),
        (p.clone(), c(2, 8, 2, 0, 0)),
        (p.clone(), c(2, 8, 0, 1 << 7, 0)),
        (p.clone(), c(2, neg(-8), 0, 1 << 7, 0)),
        (p.clone(), c(2, neg(-8), 0, 1 << 8, 0)),
        (p.clone(), c(2, neg(-8), 0, 3 << 7, 0)),
        (p.clone(), c(2, 8, 0, 1 << 8, 0)),
        (v6.clone(), c(2, neg(-20), 0, 1 << 7, 0)),
        (p.clone(), c(2, neg(-8), 0, 1 << 9, 0)),
        (p.clone(), c(2, neg(-8), 0, 2, 0)),
        (p.clone(), c(2, 20, 1, 2, 0)),
        (p.clone(), c(2, 28, 1, 2 | 16, 0)),
        (p.clone(), c(2, 40, 1, 4, 0)),
        (p.clone(), c(2, 20, 1, 2 | 4, 0)),
        (p.clone(), c(2, 28, 1, 2 | 8 | 16, 0)),
        (p.clone(), c(2, 42, 1, 2 | 8 | 64, 14 << 24)),
        (p.clone(), c(2, 42, 1, 2 | 8 | 64, 10 << 24)),
        (p.clone(), c(2, 10, 1, 2 | 8, 14 << 24)),
        (v6.clone(), c(2, 20, 1, 2, 0)),
        (v6.clone(), c(2, neg(-8), 0, 0, 0)),
        (arp(), c(2, 8, 0, 0, 0)),
        // change_head then adjust_room at the MAC layer; adjust_room then change_tail.
        (p.clone(), c(3, 14, 4, 0, 0)),
        (p.clone(), c(3, 14, neg(-4), 0, 0)),
        (p.clone(), c(4, 8, 30, 0, 0)),
        (p.clone(), c(3, 14, 20, 2, 0)),
        (p.clone(), c(4, neg(-8), 34, 0, 0)),
        (p.clone(), c(5, 14, 8, 0, 0)),
        (p.clone(), c(5, 20, 30, 0, 0)),
        (p.clone(), gso_ctx(0, 1 << 20)),
        (p, gso_ctx(0, 5 << 20)),
    ];
    let outs = check("skb_tc", "resize", PacketKind::SchedCls, &cases);
    // change_head(14): 14 zero bytes in front, 66 bytes.
    let mut grown = vec![0u8; 14];
    grown.extend_from_slice(&cases[0].0);
    assert_eq!(outs[0].data, grown);
    assert_eq!((outs[0].cb(0), outs[0].cb(2)), (0, 66));
    assert_eq!(outs[2].cb(0), 0);
    assert_eq!(outs[3].cb(0), EINVAL);
    assert_eq!(outs[4].cb(0), EINVAL);
    assert_eq!(outs[5].cb(0), EINVAL);
    assert_eq!((outs[6].cb(0), outs[7].cb(0)), (0, EINVAL));
    assert_eq!(outs[6].data, cases[6].0[..14]);
    let mut tail = cases[8].0.clone();
    tail.resize(100, 0);
    assert_eq!(outs[8].data, tail);
    assert_eq!(
        (outs[9].cb(0), outs[10].cb(0), outs[11].cb(0)),
        (0, EINVAL, EINVAL)
    );
    // adjust_room(8, NET): 8 zero bytes after the IPv4 header.
    let mut room = cases[12].0[..34].to_vec();
    room.extend_from_slice(&[0; 8]);
    room.extend_from_slice(&cases[12].0[34..]);
    assert_eq!(outs[12].data, room);
    // Shrinking by 8 removes the UDP header; 18 leaves 20 bytes of IPv4 payload... of the
    // 38 after the network header, 20 remain, the minimum; 19 would leave 19.
    assert_eq!(outs[13].cb(0), 0);
    assert_eq!(outs[14].cb(0), 0);
    assert_eq!(outs[15].cb(0), ENOTSUPP);
    assert_eq!(outs[18].cb(0), EFAULT);
    assert_eq!(outs[19].cb(0), ENOTSUPP);
    assert_eq!(outs[20].cb(0), EINVAL);
    // Linux 6.18's decapsulation flags: shrinking only, the rest must hold the inner
    // header (IPv6: 40 > 38 - 8), the protocol becomes the inner one; the room is still
    // after the outer header (IPv6: 14 + 40 + 20 > 72 bytes, -ENOMEM).
    assert_eq!((outs[21].cb(0), outs[21].cb(3)), (0, 0x0008));
    assert_eq!(outs[22].cb(0), ENOTSUPP);
    assert_eq!(outs[23].cb(0), EINVAL);
    assert_eq!(outs[24].cb(0), EINVAL);
    assert_eq!(outs[25].cb(0), ENOMEM);
    assert_eq!(outs[26].cb(0), EINVAL);
    // Encapsulation flags do not shrink; IPv4 and IPv6 at once are refused.
    assert_eq!(outs[27].cb(0), EINVAL);
    assert_eq!(outs[31].cb(0), EINVAL);
    assert_eq!(outs[38].cb(0), ENOTSUPP);
    // Cut to its Ethernet header (14 bytes), an IPv4 packet still grows room after where
    // its IPv4 header was: 8 bytes pushed in front, the 34 bytes before the room moved
    // back to the front (20 of them from past the end: the cut bytes, still in the
    // buffer), the room zeroed past the packet's end. The packet: its first 22 bytes.
    assert_eq!((outs[44].cb(0), outs[44].cb(1), outs[44].cb(2)), (0, 0, 22));
    assert_eq!(outs[44].data, cases[44].0[..22]);
    // A GSO skb grows its head by 1 MiB; 5 MiB is more than the kernel allocates.
    assert_eq!((outs[46].cb(0), outs[46].cb(2)), (0, 52 + (1 << 20)));
    assert_eq!(outs[47].cb(0), ENOMEM);
}

#[test]
fn vlan_tags_as_the_kernel() {
    // Steps two bits each: 1 push, 2 pop.
    let steps = |s: &[u32]| s.iter().enumerate().map(|(i, x)| x << (2 * i)).sum::<u32>();
    let c = |proto: u16, tci: u32, s: &[u32]| ctx([0, u32::from(proto.to_be()), tci, steps(s), 0]);
    let p = ipv4_udp(HOST, 20);
    let cases = vec![
        (p.clone(), c(0x8100, 100, &[1])),
        (p.clone(), c(0x88a8, 100, &[1, 1])),
        (p.clone(), c(0x0800, 7, &[1, 1, 1])),
        (p.clone(), c(0x8100, 100, &[1, 2])),
        (p.clone(), c(0x8100, 100, &[1, 1, 2, 2])),
        (p.clone(), c(0x8100, 100, &[2])),
        (vlan_tagged(false, 20), c(0x8100, 1, &[2])),
        (vlan_tagged(false, 20), c(0x8100, 1, &[2, 2])),
        (vlan_tagged(true, 20), c(0x8100, 1, &[2])),
        (vlan_tagged(true, 20), c(0x8100, 1, &[2, 2, 2])),
        (vlan_tagged(false, 20), c(0x8100, 0x2005, &[1, 1])),
        (frame(HOST, 0x8100, &[0, 1, 8, 0]), c(0x8100, 1, &[2])),
    ];
    let outs = check("skb_tc", "vlan", PacketKind::SchedCls, &cases);
    // One push: the tag is the skb's, the packet unchanged: present, TCI 100, proto
    // 8100 (read as 0x0081), protocol still 0x0800 (0x0008).
    assert_eq!(outs[0].data, p);
    assert_eq!(
        (outs[0].cb(0), outs[0].cb(1), outs[0].cb(2)),
        (0, 1 << 16 | 100, 0x0081 << 16 | 0x0008)
    );
    // Two pushes: the first tag goes into the packet after the MAC addresses (88a8,
    // TCI 100), the skb's tag is the second (TCI 101), the protocol becomes 88a8.
    let mut tagged = p[..12].to_vec();
    tagged.extend_from_slice(&[0x88, 0xa8, 0x00, 100]);
    tagged.extend_from_slice(&p[12..]);
    assert_eq!(outs[1].data, tagged);
    assert_eq!(
        (outs[1].cb(1), outs[1].cb(2)),
        (1 << 16 | 101, 0xa888 << 16 | 0xa888)
    );
    // Popping an untagged packet does nothing.
    assert_eq!((outs[5].cb(0), outs[5].data.len()), (0, p.len()));
    // Popping the tag of a tagged frame gives the IPv4 frame back.
    assert_eq!(outs[6].data, ipv4_udp(HOST, 20));
    assert_eq!(outs[6].cb(2) & 0xffff, 0x0008);
}

#[test]
fn redirects_as_the_kernel() {
    let c = |op: u32, ifindex: u32, flags: u32| ctx([op, ifindex, flags, 0, 0]);
    let p = ipv4_udp(HOST, 10);
    let mut gso = c(1, 1, 0);
    set_u32(&mut gso, 176, 1000);
    let cases = vec![
        (p.clone(), c(0, 1, 0)),
        (p.clone(), c(0, 42, 1)),
        (p.clone(), c(0, 1, 2)),
        (p.clone(), c(1, 0x7fff_fff0, 0)),
        (p.clone(), c(1, 1, 2)),
        (p.clone(), gso),
        (p.clone(), c(1, 1, 0)),
        (p, c(1, 1, 1)),
    ];
    let outs = check("skb_tc", "redirect", PacketKind::SchedCls, &cases);
    assert_eq!(outs[0].retval, TC_ACT_REDIRECT);
    // The outcome says where the packet goes, when the verdict is TC_ACT_REDIRECT.
    let object = object("skb_tc");
    let mut p = bpfkit_program(&object, "redirect", PacketKind::SchedCls, |c, h| {
        Interpreter::new(c, h).unwrap()
    });
    let mut target = |case: &(Vec<u8>, Vec<u8>)| {
        let input = PacketInput {
            ctx: Some(&case.1),
            ..PacketInput::new(&case.0)
        };
        p.run(&input).unwrap().redirect
    };
    let ingress = Redirect::Ifindex {
        ifindex: 42,
        flags: 1,
    };
    assert_eq!(target(&cases[1]), Some(ingress));
    assert_eq!(target(&cases[2]), None);
    assert_eq!(outs[1].retval, TC_ACT_REDIRECT);
    assert_eq!(outs[2].retval, TC_ACT_SHOT);
    assert_eq!((outs[3].retval, outs[3].cb(0)), (TC_ACT_OK, EINVAL));
    assert_eq!(outs[4].cb(0), EINVAL);
    // A GSO skb without a GSO type (as the test run makes from gso_size) is refused.
    assert_eq!(outs[5].cb(0), -74i32 as u32);
    // A copy to the loopback device's egress or ingress goes out; the packet stays.
    assert_eq!((outs[6].cb(0), outs[7].cb(0)), (0, 0));
    assert_eq!(outs[7].data, cases[7].0);
}

#[test]
fn hashes_as_the_kernel() {
    let c = |set: u32, ty: u32| ctx([0, 0, 0, set, ty]);
    let cases = vec![
        (ipv4_udp(HOST, 10), c(0x1234_5678, 3)),
        (ipv6_udp(4), c(0, 1)),
        (arp(), c(7, 4)),
    ];
    let outs = check("skb_tc", "hash", PacketKind::SchedCls, &cases);
    for o in &outs {
        // No hash at first; the computed one is non-zero and becomes the field; a set hash
        // is returned as it is; invalidated, the field reads 0.
        assert_eq!((o.cb(0), o.cb(1), o.cb(2)), (0, 1, 1));
        assert_eq!(o.u32_at(MARK), 0);
    }
    assert_eq!((outs[0].cb(3), outs[0].cb(4)), (0x1234_5678, 0x1234_5678));
    // bpf_skb_change_type: to other-host (3) is allowed, to 4 -EINVAL.
    assert_eq!(outs[0].u32_at(PRIORITY), 3 << 16);
    assert_eq!(outs[2].u32_at(PRIORITY), EINVAL | 2 << 16);
}

#[test]
fn narrow_loads_as_the_kernel() {
    let outs = check(
        "skb_tc",
        "narrow",
        PacketKind::SchedCls,
        &[(ipv4_udp(OTHER, 300), ctx([0; 5]))],
    );
    // The kernel loads the real field (protocol: 2 bytes, 0x0008; pkt_type: 1 byte, 3 for
    // another host; len: 4 bytes, 342) and shifts and masks a load only when it is
    // narrower than the real field: byte 17 of protocol is 0, bytes 18-19 read as a half
    // are the whole protocol again, every byte of pkt_type is pkt_type.
    let o = &outs[0];
    assert_eq!(o.cb(0), 8);
    assert_eq!(o.cb(1), 0x0008_0008);
    assert_eq!(o.cb(2), 0x0300_0303);
    assert_eq!(o.cb(3), 342);
    assert_eq!(o.cb(4), 342 >> 8 | 3 << 16);
}

/// Whether bpfkit and (where possible) the kernel accept a test run of `packet` with
/// context `ctx`; both must agree, and with `expected`.
fn accepted(
    bpfkit: &mut PacketProgram<Interpreter>,
    kernel: Option<&Program>,
    packet: &[u8],
    ctx: &[u8],
    expected: bool,
) {
    let input = PacketInput {
        ctx: Some(ctx),
        ..PacketInput::new(packet)
    };
    let ours = bpfkit.run(&input);
    assert_eq!(ours.is_ok(), expected, "{} bytes: {ours:?}", packet.len());
    if let Some(k) = kernel {
        let theirs = k.test_run(&TestRun {
            data_in: packet,
            data_out_size: 32768,
            ctx_in: Some(ctx),
            ctx_out_size: skb::SK_BUFF_UAPI_SIZE,
            repeat: 0,
        });
        assert_eq!(
            theirs.is_ok(),
            expected,
            "{} bytes: {theirs:?}",
            packet.len()
        );
    }
}

#[test]
fn refuses_what_the_test_run_refuses() {
    let object = object("skb_tc");
    let kind = PacketKind::SchedCls;
    let mut bpfkit = bpfkit_program(&object, "diff", kind, |c, h| {
        Interpreter::new(c, h).unwrap()
    });
    let kernel = kernel_program(&object, "diff", kind);
    let k = kernel.as_ref();
    let zero = ctx([0; 5]);
    let mut run = |packet: &[u8], ctx: &[u8], ok: bool| accepted(&mut bpfkit, k, packet, ctx, ok);
    // An Ethernet header at least; IPv4 and IPv6 need their fixed headers.
    run(&[0; 13], &zero, false);
    run(&[0; 14], &zero, true);
    let ip = ipv4_udp(HOST, 0);
    run(&ip[..33], &zero, false);
    run(&ip[..34], &zero, true);
    let v6 = ipv6_udp(0);
    run(&v6[..53], &zero, false);
    run(&v6[..54], &zero, true);
    // At most a page less 64 bytes of headroom and 320 of shared info.
    run(&ipv4_udp(HOST, 3712 - 42), &zero, true);
    run(&ipv4_udp(HOST, 3713 - 42), &zero, false);
    // Context fields the test run does not take, or takes only within limits.
    let with = |off: usize, v: u32| {
        let mut c = zero.clone();
        set_u32(&mut c, off, v);
        c
    };
    run(&ip, &with(4, 1), false); // pkt_type
    run(&ip, &with(68, 1), false); // hash
    run(&ip, &with(IFINDEX, 1), true);
    run(&ip, &with(IFINDEX, 0x7fff_fff0), false);
    run(&ip, &with(WIRE_LEN, ip.len() as u32), true);
    run(&ip, &with(WIRE_LEN, ip.len() as u32 - 1), false);
    run(&ip, &with(WIRE_LEN, 65536), true);
    run(&ip, &with(WIRE_LEN, 65537), false);
    run(&ip, &with(GSO_SEGS, 65535), true);
    run(&ip, &with(GSO_SEGS, 65536), false);
    run(&ip, &with(180, 1), false); // tstamp_type
                                    // A longer context must be zero past struct __sk_buff.
    let mut long = zero.clone();
    long.resize(200, 0);
    run(&ip, &long, true);
    long[199] = 1;
    run(&ip, &long, false);
}

#[test]
fn sched_act_runs_as_sched_cls() {
    let object = object("skb_tc");
    let cases = vec![
        (ipv4_udp(HOST, 60), ctx([1, 2, 3, 4, 5])),
        (arp(), ctx([0; 5])),
    ];
    // The kernel runs it as a tc action (BPF_PROG_TYPE_SCHED_ACT) in `check`.
    let act = check("skb_tc", "fields", PacketKind::SchedAct, &cases);
    let build = |c: &[Insn], h: &Helpers| Interpreter::new(c, h).unwrap();
    let mut cls = bpfkit_program(&object, "fields", PacketKind::SchedCls, build);
    for ((packet, c), act) in cases.iter().zip(act) {
        assert_eq!(act, run_bpfkit(&mut cls, packet, c));
    }
}

#[test]
fn legacy_loads_follow_the_packet_in_tc() {
    let c = |head: u32, at: u32| ctx([0, head, at, 0, 0]);
    let p = ipv4_udp(HOST, 10); // 52 bytes
    let cases = vec![
        (p.clone(), c(0, 48)),
        (p.clone(), c(4, 52)),
        (p.clone(), c(4, 53)),
        (p, c(12, 26)),
    ];
    let outs = check("skb_tc", "ldabs", PacketKind::SchedCls, &cases);
    // Offset 0 is the MAC header: the byte at 12 is the type's 08; after 4 bytes pushed
    // in front, it is the source address' 00 and the type is at 16.
    assert_eq!((outs[0].cb(0), outs[0].cb(3)), (0x08, 0x08));
    assert_eq!(outs[1].cb(3), 0x00);
    // 56 bytes after the push: the word at 52 is the last; at 53 it is out of range and
    // the program ends, returning 0, with cb[2] and cb[3] unwritten.
    assert_eq!(outs[1].cb(2), u32::from_be_bytes([6, 7, 8, 9]));
    assert_eq!((outs[2].retval, outs[2].cb(2)), (0, 53));
    // 12 bytes in front: the source address c0a80001 moved from 26 to 38, at 26 is the
    // IPv4 header's start 4500 0073.
    assert_eq!(outs[3].cb(2), 0x4500_0073);
}

#[test]
fn protocol_changes_as_the_kernel() {
    let c = |proto: u16, flags: u32| ctx([u32::from(proto.to_be()), flags, 0, 0, 0]);
    let v4 = ipv4_udp(HOST, 10); // 52 bytes
    let v6 = ipv6_udp(10); // 72 bytes
    let cases = vec![
        (v4.clone(), c(0x86dd, 0)),
        (v6.clone(), c(0x0800, 0)),
        (v4.clone(), c(0x0800, 0)),
        (v4.clone(), c(0x86dd, 1)),
        (arp(), c(0x86dd, 0)),
    ];
    let outs = check("skb_tc", "proto", PacketKind::SchedCls, &cases);
    // IPv4 -> IPv6: 20 zero bytes after the MAC header, protocol 86dd, the hash cleared.
    let mut grown = v4[..14].to_vec();
    grown.extend_from_slice(&[0; 20]);
    grown.extend_from_slice(&v4[14..]);
    assert_eq!(outs[0].data, grown);
    assert_eq!(
        (outs[0].cb(0), outs[0].cb(1), outs[0].cb(2), outs[0].cb(3)),
        (0, 0xdd86, 72, 0)
    );
    // IPv6 -> IPv4: the 20 bytes after the MAC header go.
    let mut shrunk = v6[..14].to_vec();
    shrunk.extend_from_slice(&v6[34..]);
    assert_eq!(outs[1].data, shrunk);
    assert_eq!((outs[1].cb(0), outs[1].cb(1)), (0, 0x0008));
    // Same protocol, other protocols: -ENOTSUPP, the hash kept; flags: -EINVAL.
    assert_eq!((outs[2].cb(0), outs[2].cb(3)), (ENOTSUPP, 5));
    assert_eq!(outs[3].cb(0), EINVAL);
    assert_eq!(outs[4].cb(0), ENOTSUPP);
}

#[test]
fn checksum_levels_as_the_kernel() {
    // Steps four bits each: 1 query, 2 inc, 3 dec, 4 reset, 5 adjust_room(0), 6 level 9.
    let steps = |s: &[u32]| s.iter().enumerate().map(|(i, x)| x << (4 * i)).sum::<u32>();
    let c = |s: &[u32], flags: u32| ctx([steps(s), flags, 0, 0, 0]);
    let p = ipv4_udp(HOST, 10);
    let no_reset = 1 << 5; // BPF_F_ADJ_ROOM_NO_CSUM_RESET
    let cases = vec![
        (p.clone(), c(&[1, 2, 1, 2, 2, 2, 2, 1], 0)),
        (p.clone(), c(&[2, 2, 3, 1, 3, 1, 3, 1], 0)),
        (p.clone(), c(&[2, 2, 4, 1, 6], 0)),
        (p.clone(), c(&[2, 2, 5, 1], 0)),
        (p, c(&[2, 2, 5, 1], no_reset)),
    ];
    let outs = check("skb_tc", "level", PacketKind::SchedCls, &cases);
    let eacces = 0xf3; // -13, low byte
    let einval = 0xea; // -22, low byte
                       // The test run's skb has no checksum known good: a query is -EACCES; each increment
                       // counts one more level (the first makes the checksum unnecessary, level 0), up to 3:
                       // query, inc, query (0), inc (1), inc (2), inc (3), inc (still 3), query (3).
    assert_eq!(outs[0].cb(1), u32::from_le_bytes([eacces, 0, 0, 0]));
    assert_eq!(outs[0].cb(2), u32::from_le_bytes([0, 0, 0, 3]));
    // Decrements count down, then make the checksum unknown again: inc, inc (1), dec (0),
    // query (0), dec (unknown), query, dec (nothing), query.
    assert_eq!(outs[1].cb(1), u32::from_le_bytes([0, 0, 0, 0]));
    assert_eq!(outs[1].cb(2), u32::from_le_bytes([0, eacces, 0, eacces]));
    // A reset forgets, an unknown level is -EINVAL.
    assert_eq!(outs[2].cb(1), u32::from_le_bytes([0, 0, 0, eacces]));
    assert_eq!(outs[2].cb(2), u32::from_le_bytes([einval, 0, 0, 0]));
    // bpf_skb_adjust_room resets, unless told not to.
    assert_eq!(outs[3].cb(1), u32::from_le_bytes([0, 0, 0, eacces]));
    assert_eq!(outs[4].cb(1), u32::from_le_bytes([0, 0, 0, 1]));
}

#[test]
fn runs_without_a_context_as_the_kernel() {
    let object = object("skb_tc");
    let kind = PacketKind::SchedCls;
    let mut interp = bpfkit_program(&object, "fields", kind, |c, h| {
        Interpreter::new(c, h).unwrap()
    });
    let kernel = kernel_program(&object, "fields", kind);
    let packet = ipv4_udp(HOST, 60);
    let ours = interp.run(&PacketInput::new(&packet)).unwrap();
    if let Some(k) = &kernel {
        let theirs = k
            .test_run(&TestRun {
                data_in: &packet,
                data_out_size: 32768,
                ..TestRun::default()
            })
            .unwrap();
        assert_eq!(
            (u64::from(theirs.retval), &theirs.data_out),
            (ours.retval, &ours.data_out)
        );
    }
    // Without a context the skb comes from nowhere (ingress_ifindex 0) on the loopback
    // device, and its control block is left as allocated: wire_len 0.
    let word =
        |i: usize| u32::from_le_bytes(ours.data_out[14 + 4 * i..18 + 4 * i].try_into().unwrap());
    assert_eq!((word(2), word(9), word(10), word(18)), (0, 0, 1, 0));
}

/// A deterministic xorshift generator, for reproducible random cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// A random helper step for the script program: opcode 0..=13, an argument that mostly
/// stays in the ranges where the helpers succeed and sometimes leaves them.
fn random_step(rng: &mut Rng) -> u32 {
    let op = rng.below(14);
    let arg = match op {
        // change_tail: lengths around the packet's.
        2 => rng.below(200),
        // adjust_room: a signed byte, a mode, one of four flag sets.
        3 => {
            let diff = rng.below(64) as i32 - 32;
            (diff as u8 as u32) | rng.below(2) << 8 | rng.below(4) << 12
        }
        // Offsets: mostly inside the first 80 bytes, even or odd.
        _ => rng.below(1 << 16) & if rng.below(4) == 0 { 0xffff } else { 0x3f3f },
    };
    op | arg << 8
}

/// The most bytes step `step` may push in front of the packet.
fn front_growth(step: u32) -> u32 {
    let arg = step >> 8;
    match step & 0xff {
        1 => arg & 0xff,
        3 => u32::from((arg as u8 as i8).max(0) as u8),
        4 => 4,
        8 => 20,
        _ => 0,
    }
}

/// Five random steps that together push at most the test run's 64 bytes of headroom in
/// front of the packet. Beyond that the kernel reallocates the head, copying it only up
/// to the packet's end: the new buffer past it is uninitialized memory, which a helper
/// moving headers past a cut packet's end then copies into the packet, leaving nothing
/// to compare with. (Reallocation itself is checked in `head_reallocation_as_the_kernel`.)
fn random_script(rng: &mut Rng) -> [u32; 5] {
    let mut room = 64;
    [(); 5].map(|_| loop {
        let step = random_step(rng);
        if front_growth(step) <= room {
            room -= front_growth(step);
            break step;
        }
    })
}

/// Random scripts of five helper steps on random packets: the kernel, the interpreter and
/// the JIT must agree on every byte and field after each.
#[test]
fn random_helper_scripts_as_the_kernel() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let packets = [
        ipv4_udp(HOST, 10),
        ipv4_udp(OTHER, 100),
        ipv6_udp(20),
        vlan_tagged(false, 20),
        vlan_tagged(true, 30),
        arp(),
        ipv4_udp(HOST, 0)[..34].to_vec(),
        frame(HOST, 0x0800, &[0x45; 30]),
    ];
    let cases: Vec<(Vec<u8>, Vec<u8>)> = (0..3000)
        .map(|_| {
            let packet = packets[rng.below(packets.len() as u32) as usize].clone();
            let steps = random_script(&mut rng);
            (packet, ctx(steps))
        })
        .collect();
    let outs = check("skb_tc", "script", PacketKind::SchedCls, &cases);
    // The scripts exercise success and failure alike: some steps of each kind succeed.
    let succeeded = outs.iter().filter(|o| o.u32_at(MARK) & 0xff == 0).count();
    assert!(
        succeeded > 50 && succeeded < 3000,
        "{succeeded} first steps succeeded"
    );
}

/// Pushing more than the headroom reallocates the head with room in multiples of 64 in
/// front; the kernel then moves the transport header even though it was never set
/// (skb_headers_offset_update adds to the 16-bit 0xffff), and bpf_skb_change_tail takes
/// that as the shortest length.
#[test]
fn head_reallocation_as_the_kernel() {
    let head = |n: u32| 1 | n << 8;
    let tail = |n: u32| 2 | n << 8;
    let p = ipv4_udp(HOST, 10); // 52 bytes
    let cases = vec![
        (p.clone(), ctx([head(10), tail(23), 0, 0, 0])),
        (p.clone(), ctx([head(10), tail(24), 0, 0, 0])),
        (p.clone(), ctx([head(100), tail(34), 0, 0, 0])),
        (p.clone(), ctx([head(100), tail(35), 0, 0, 0])),
        (p, ctx([head(200), tail(135), tail(300), 0, 0])),
    ];
    let outs = check("skb_tc", "script", PacketKind::SchedCls, &cases);
    let rets = |o: &Out| o.u32_at(MARK).to_le_bytes();
    // Within the headroom the network header (10 + 14) is the shortest length.
    assert_eq!(rets(&outs[0])[1], EINVAL as u8);
    assert_eq!(rets(&outs[1])[1], 0);
    // 100 bytes: 64 more in front, the transport header at 0xffff + 64 = 63 from the
    // head, the packet at 64 + 64 - 100 = 28: 35 bytes is the shortest.
    assert_eq!(rets(&outs[2])[1], EINVAL as u8);
    assert_eq!(rets(&outs[3])[1], 0);
    // 200 bytes: 192 more, transport 191, packet at 56: 135; growing back to 300 bytes
    // fills with zeros.
    assert_eq!(rets(&outs[4])[1..3], [0, 0]);
    assert_eq!(outs[4].data.len(), 300);
    assert!(outs[4].data[135..].iter().all(|&b| b == 0));
}

/// Scripts with any arguments and any amount of head growth, bpfkit only (the kernel's
/// answers depend on uninitialized memory once its head is reallocated): every run ends
/// with a verdict, and the interpreter and the JIT agree.
#[test]
fn unconstrained_scripts_never_fault() {
    let object = object("skb_tc");
    let kind = PacketKind::SchedCls;
    let mut interp = bpfkit_program(&object, "script", kind, |c, h| {
        Interpreter::new(c, h).unwrap()
    });
    let mut jit = bpfkit_program(&object, "script", kind, |c, h| {
        JitProgram::new(c, h).unwrap()
    });
    let mut rng = Rng(0x0bad_cafe_f00d_d00d);
    let packets = [ipv4_udp(HOST, 10), ipv6_udp(0), vlan_tagged(true, 0), arp()];
    for _ in 0..2000 {
        let packet = &packets[rng.below(packets.len() as u32) as usize];
        let steps = [(); 5].map(|_| rng.below(14) | rng.next() << 8);
        let c = ctx(steps);
        assert_eq!(
            run_bpfkit(&mut interp, packet, &c),
            run_bpfkit(&mut jit, packet, &c),
            "steps {steps:x?}"
        );
    }
}

/// Legacy loads at random offsets of random packets, in and out of range.
#[test]
fn random_legacy_loads_as_the_kernel() {
    let mut rng = Rng(0x5eed_1e55_ab1e_d00d);
    let packets = [
        ipv4_udp(HOST, 10),
        ipv6_udp(30),
        arp(),
        vlan_tagged(false, 5),
    ];
    let cases: Vec<(Vec<u8>, Vec<u8>)> = (0..300)
        .map(|_| {
            let packet = packets[rng.below(packets.len() as u32) as usize].clone();
            let x = match rng.below(3) {
                0 => rng.below(80),
                1 => rng.next(),
                _ => (rng.below(16) as i32 - 8) as u32,
            };
            (packet, ctx([x, 0, 0, 0, 0]))
        })
        .collect();
    let outs = check("skb_socket", "sk_ldabs", PacketKind::SocketFilter, &cases);
    // Both in-range and out-of-range loads occur.
    let ended = outs.iter().filter(|o| o.retval == 0).count();
    assert!(ended > 30 && ended < 270, "{ended} runs ended early");
}

/// A frame that is neither IPv4 nor IPv6 (ARP's type), long enough for the programs'
/// results.
fn not_ip() -> Vec<u8> {
    frame(BROADCAST, 0x0806, &[0xee; 64])
}

#[test]
fn the_socket_of_the_skb_as_the_kernel() {
    let cases: Vec<_> = [
        ipv4_udp(HOST, 60),
        ipv6_udp(40),
        vlan_tagged(false, 60),
        not_ip(),
        arp(),
    ]
    .into_iter()
    .map(|p| (p, ctx([0; 5])))
    .collect();
    let outs = check("skb_sk", "fields", PacketKind::SchedCls, &cases);
    // Derived by hand from bpf_prog_test_run_skb and sock_init_data: every skb has a
    // socket (OK, not SHOT), AF_INET (2) for IPv4, AF_INET6 (10) for IPv6, AF_UNSPEC (0)
    // for a VLAN-tagged frame (its protocol is 0x8100) and for ARP; state TCP_CLOSE (7);
    // no receive queue, read as -1; no bound device, no ports.
    for (o, family) in outs.iter().zip([2, 10, 0, 0, 0]) {
        assert_eq!(o.retval, TC_ACT_OK);
        assert_eq!(
            (0..5).map(|i| o.cb(i)).collect::<Vec<_>>(),
            [family, 7, u32::MAX, 0, 0]
        );
    }
    // The addresses, as the packet's IP header has them (network byte order, so loaded
    // and stored back they are the header's bytes): src_ip4, src_ip6, dst_ip4, dst_ip6,
    // the 4 bytes of dst_port (0), rx_queue_mapping.
    let sock_bytes = |src4: &[u8], src6: &[u8], dst4: &[u8], dst6: &[u8]| -> Vec<u8> {
        [src4, src6, dst4, dst6, &[0; 4], &[0xff; 4]].concat()
    };
    let v6 = |last: u8| {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[15] = last;
        a
    };
    assert_eq!(
        outs[0].data[14..62],
        sock_bytes(&[192, 168, 0, 1], &[0; 16], &[192, 168, 0, 199], &[0; 16])
    );
    assert_eq!(
        outs[1].data[14..62],
        sock_bytes(&[0; 4], &v6(1), &[0; 4], &v6(2))
    );
    for o in &outs[2..4] {
        assert_eq!(
            o.data[14..62],
            sock_bytes(&[0; 4], &[0; 16], &[0; 4], &[0; 16])
        );
    }
    // ARP's 32 bytes have no room for the results: the packet is as it came.
    assert_eq!(outs[4].data, arp());
}

#[test]
fn narrow_loads_of_the_socket_as_the_kernel() {
    let cases: Vec<_> = [ipv4_udp(HOST, 60), ipv6_udp(40), not_ip()]
        .into_iter()
        .map(|p| (p, ctx([0; 5])))
        .collect();
    let outs = check("skb_sk", "narrow", PacketKind::SchedCls, &cases);
    let word =
        |o: &Out, i: usize| u32::from_le_bytes(o.data[14 + 4 * i..18 + 4 * i].try_into().unwrap());
    // Derived by hand: a narrow load reads the low bytes of the field's 4-byte value
    // (family 2: byte 2, half 2), anywhere in an address (192.168.0.1: byte 1 is 168,
    // bytes 2-3 read as a little-endian half 0x0100; byte 3 of 192.168.0.199 is 199);
    // state 7, dst_port 0.
    let o = &outs[0];
    assert_eq!(o.retval, TC_ACT_OK);
    assert_eq!(o.cb(0), 2 | 2 << 8);
    assert_eq!(o.cb(1), 168 | 0x0100 << 8 | 199 << 24);
    assert_eq!(o.cb(2), 7);
    assert_eq!(word(o, 3), 0);
    // IPv6: family 10, no IPv4 addresses, byte 15 of 2001:db8::2 is 2.
    assert_eq!(
        (outs[1].cb(0), outs[1].cb(1), word(&outs[1], 3)),
        (0x0a0a, 0, 2)
    );
    assert_eq!((outs[2].cb(0), outs[2].cb(2)), (0, 7));
    // No receive queue: a 4- or 2-byte load of rx_queue_mapping leaves -1 in all 64 bits
    // (the kernel's conversion moves -1 into the register, bpf_sock_convert_ctx_access),
    // a byte load its low byte, 0xff.
    for o in &outs {
        assert_eq!((o.cb(3), o.cb(4)), (u32::MAX, u32::MAX));
        assert_eq!(
            (word(o, 0), word(o, 1), word(o, 2)),
            (u32::MAX, u32::MAX, 0xff)
        );
    }
}

#[test]
fn socket_filters_see_the_socket_as_the_kernel() {
    let cases: Vec<_> = [ipv4_udp(HOST, 20), ipv6_udp(20), arp()]
        .into_iter()
        .map(|p| (p, ctx([0; 5])))
        .collect();
    let outs = check("skb_sk", "filter", PacketKind::SocketFilter, &cases);
    // Derived by hand: family << 8 | TCP_CLOSE (7); the addresses' bytes read as
    // little-endian words (192.168.0.1 is 0x0100a8c0, 192.168.0.199 0xc700a8c0; the last
    // words of 2001:db8::1 and ::2 are 0x01000000 and 0x02000000); no receive queue, -1.
    let cbs = |o: &Out| (0..5).map(|i| o.cb(i)).collect::<Vec<_>>();
    assert_eq!(outs[0].retval, 2 << 8 | 7);
    assert_eq!(cbs(&outs[0]), [0x0100_a8c0, 0xc700_a8c0, 0, 0, u32::MAX]);
    assert_eq!(outs[1].retval, 10 << 8 | 7);
    assert_eq!(cbs(&outs[1]), [0, 0, 0x0100_0000, 0x0200_0000, u32::MAX]);
    assert_eq!(outs[2].retval, 7);
    assert_eq!(cbs(&outs[2]), [0, 0, 0, 0, u32::MAX]);
}
