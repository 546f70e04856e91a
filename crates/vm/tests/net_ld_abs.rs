//! Legacy packet loads (`LD_ABS`, `LD_IND`) at negative offsets: from `SKF_NET_OFF`
//! (-0x100000) they read relative to the network header, from `SKF_LL_OFF` (-0x200000)
//! relative to the MAC header (`bpf_skb_load_helper_convert_offset` in
//! net/core/filter.c). Socket filters and tc programs run by bpfkit's interpreter and JIT
//! and, where this process may load programs, by the kernel's `BPF_PROG_TEST_RUN`, on one
//! IPv4/UDP frame. Expected values are derived by hand from the frame's bytes below; the
//! kernel's verdicts must be the same.

use bpfkit_isa::{encode_program, AluOp, Insn, Operand, Reg, Size, Width};
use bpfkit_jit::JitProgram;
use bpfkit_kernel::{ProgType, Program, TestRun};
use bpfkit_vm::helpers::linux::Runtime;
use bpfkit_vm::net::{self, ConvertedProgram, PacketInput, PacketKind, PacketProgram};
use bpfkit_vm::net::{SKF_LL_OFF, SKF_NET_OFF};
use bpfkit_vm::{Engine, Helpers, Interpreter};

/// An Ethernet frame: destination 02:00:00:00:00:01, source 02:00:00:00:00:02, type IPv4;
/// an IPv4 header (20 bytes, protocol 17, 10.0.0.1 -> 10.0.0.2); a UDP header (ports 1234
/// -> 53, length 12) and four bytes of payload, 0xa1 0xb2 0xc3 0xd4. 46 bytes: the network
/// header starts at byte 14 and is 32 bytes long.
const FRAME: [u8; 46] = [
    0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00, // Ethernet
    0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
    0x04, 0xd2, 0, 53, 0, 12, 0, 0, // UDP
    0xa1, 0xb2, 0xc3, 0xd4, // payload
];

/// `r6 = r1; r7 = index; r0 = load; r0 += 1; exit`: the verdict is the loaded value plus
/// one, or 0 when the load ends the program.
fn program(size: Size, index: Option<i32>, imm: i32) -> Vec<Insn> {
    let mov = |dst, src| Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src,
    };
    let load = match index {
        Some(_) => Insn::LdInd {
            size,
            src: Reg::R7,
            imm,
        },
        None => Insn::LdAbs { size, imm },
    };
    vec![
        mov(Reg::R6, Operand::Reg(Reg::R1)),
        mov(Reg::R7, Operand::Imm(index.unwrap_or(0))),
        load,
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: Reg::R0,
            src: Operand::Imm(1),
        },
        Insn::Exit,
    ]
}

fn run_bpfkit<E: Engine>(
    insns: &[Insn],
    kind: PacketKind,
    build: impl FnOnce(&[Insn], &Helpers) -> E,
) -> u64 {
    // The program never touches its context but through the loads.
    let converted = ConvertedProgram::new(insns, kind, |_| false).unwrap();
    let runtime = Runtime::default();
    let mut helpers = Helpers::new();
    net::register(&mut helpers, kind, &runtime);
    let mut p = PacketProgram::new(&converted, runtime.maps.clone(), |code| {
        Ok::<_, ()>(build(code, &helpers))
    })
    .unwrap();
    p.run(&PacketInput::new(&FRAME)).unwrap().retval
}

fn run_kernel(insns: &[Insn], kind: PacketKind) -> Option<u64> {
    if let Err(why) = bpfkit_kernel::available() {
        println!("skipped the kernel comparison: this process may not load BPF programs ({why})");
        return None;
    }
    let prog_type = match kind {
        PacketKind::SocketFilter => ProgType::SocketFilter,
        _ => ProgType::SchedCls,
    };
    let prog = Program::load(prog_type, &encode_program(insns), "GPL", "ld_abs_neg")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = prog
        .test_run(&TestRun {
            data_in: &FRAME,
            data_out_size: 4096,
            ..TestRun::default()
        })
        .unwrap();
    Some(out.retval.into())
}

#[test]
fn negative_offsets_read_relative_to_the_network_and_mac_headers() {
    let net = SKF_NET_OFF;
    let ll = SKF_LL_OFF;
    // (size, LD_IND's index register, imm, the value loaded or None when the program
    // ends with 0), the same for socket filters (whose data starts at the network header)
    // and tc programs (at the MAC header): the headers are where they are either way.
    let cases: [(Size, Option<i32>, i32, Option<u64>); 14] = [
        // The IPv4 protocol, byte 9 of the network header.
        (Size::B, None, net + 9, Some(17)),
        // The EtherType, bytes 12..14 of the MAC header: in front of a socket filter's data.
        (Size::H, None, ll + 12, Some(0x0800)),
        // The IPv4 source address, bytes 12..16 of the network header.
        (Size::W, None, net + 12, Some(0x0a00_0001)),
        // The first four bytes of the destination MAC address.
        (Size::W, None, ll, Some(0x0200_0000)),
        // Bytes 4..8 of the MAC header: the rest of the destination, the start of the source.
        (Size::W, None, ll + 4, Some(0x0001_0200)),
        // The last byte of the packet, byte 31 of the network header, and the last word.
        (Size::B, None, net + 31, Some(0xd4)),
        (Size::W, None, net + 28, Some(0xa1b2_c3d4)),
        // One byte past the packet's end, relative to either header.
        (Size::B, None, net + 32, None),
        (Size::H, None, ll + 45, None),
        // Below SKF_LL_OFF: no header to read from.
        (Size::B, None, ll - 1, None),
        // -1 is 0xfffff bytes into the network header: far past the end.
        (Size::B, None, -1, None),
        // LD_IND adds the index register's low 32 bits: the UDP destination port.
        (Size::H, Some(net), 22, Some(53)),
        (Size::H, Some(ll), 36, Some(53)),
        // An index that wraps to a negative offset from a positive immediate.
        (Size::B, Some(net - 100), 100 + 8, Some(64)),
    ];
    for kind in [PacketKind::SocketFilter, PacketKind::SchedCls] {
        for (size, index, imm, loaded) in cases {
            let insns = program(size, index, imm);
            let expected = loaded.map_or(0, |v| v + 1);
            let what = format!("{} {size:?} {index:?} {imm:#x}", kind.name());
            let interp = run_bpfkit(&insns, kind, |c, h| Interpreter::new(c, h).unwrap());
            assert_eq!(interp, expected, "interpreter, {what}");
            let jit = run_bpfkit(&insns, kind, |c, h| JitProgram::new(c, h).unwrap());
            assert_eq!(jit, expected, "JIT, {what}");
            if let Some(kernel) = run_kernel(&insns, kind) {
                assert_eq!(kernel, expected, "kernel, {what}");
            }
        }
    }
}

#[test]
fn xdp_and_memory_programs_end_with_zero_on_a_negative_offset() {
    // XDP has no legacy packet loads; bpfkit's memory programs read their memory as the
    // packet, with no headers: both end the program with 0, as any other bad offset.
    let insns = program(Size::B, None, SKF_NET_OFF);
    let converted = ConvertedProgram::new(&insns, PacketKind::Xdp, |_| false).unwrap();
    let runtime = Runtime::default();
    let mut helpers = Helpers::new();
    net::register(&mut helpers, PacketKind::Xdp, &runtime);
    let mut xdp = PacketProgram::new(&converted, runtime.maps.clone(), |code| {
        JitProgram::new(code, &helpers)
    })
    .unwrap();
    assert_eq!(xdp.run(&PacketInput::new(&FRAME)).unwrap().retval, 0);
    let helpers = Helpers::new();
    let mut mem = FRAME;
    let mut interp = Interpreter::new(&insns, &helpers).unwrap();
    assert_eq!(interp.run_mem(&mut mem).unwrap().r0, 0);
    let mut jit = JitProgram::new(&insns, &helpers).unwrap();
    assert_eq!(jit.run_mem(&mut mem).unwrap().r0, 0);
}
