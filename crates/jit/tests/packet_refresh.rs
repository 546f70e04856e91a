//! Packet programs in the JIT: after a helper moves the packet, generated code must check
//! accesses against the new packet region, not its copy of the old one (the JIT keeps the
//! first regions' bounds inline and refreshes them after helper calls), and accesses
//! through the context pointer stop at the real context. Each program runs in the JIT and
//! the interpreter, which must agree; expected values are derived by hand next to each
//! test.

use bpfkit_isa::{AluOp, Insn, Operand, Reg, Size, Width};
use bpfkit_jit::JitProgram;
use bpfkit_vm::helpers::linux::Runtime;
use bpfkit_vm::net::{self, ConvertedProgram, PacketInput, PacketKind, PacketOutcome};
use bpfkit_vm::net::{PacketError, PacketProgram};
use bpfkit_vm::{Access, Engine, Fault, Helpers, Interpreter, VmError};

fn mov(dst: Reg, src: Operand) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src,
    }
}

fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn::Ldx {
        size,
        sx: false,
        dst,
        src,
        off,
    }
}

fn run_kind(
    kind: PacketKind,
    converted: &ConvertedProgram,
    packet: &[u8],
) -> Result<PacketOutcome, (usize, u64, Access)> {
    let runtime = Runtime::default();
    let mut helpers = Helpers::new();
    net::register(&mut helpers, kind, &runtime);
    let run = |engine: Box<dyn Engine>| {
        let mut p =
            PacketProgram::new(converted, runtime.maps.clone(), |_| Ok::<_, ()>(engine)).unwrap();
        p.run(&PacketInput::new(packet))
    };
    // Each run has its own packet buffer: compare faults by kind and offset in the packet
    // rather than by address.
    let at = |r: Result<PacketOutcome, PacketError>| match r {
        Err(PacketError::Run(VmError {
            pc,
            fault: Fault::OutOfBounds { size, access, .. },
        })) => Err((pc, size, access)),
        Err(other) => panic!("{other}"),
        Ok(out) => Ok(out),
    };
    let interp = at(run(Box::new(
        Interpreter::new(converted.insns(), &helpers).unwrap(),
    )));
    let jit = at(run(Box::new(
        JitProgram::new(converted.insns(), &helpers).unwrap(),
    )));
    assert_eq!(jit, interp, "JIT and interpreter");
    jit
}

/// `bpf_xdp_adjust_head(ctx, 20)` with the packet's old start kept in r7, then a byte
/// load from r7 + `off` after reading `ctx->data` again into r8 (slots 1 and 5 read the
/// context). `from_new`: load through r8 instead of r7.
fn program(from_new: bool, off: i16) -> ConvertedProgram {
    let base = if from_new { Reg::R8 } else { Reg::R7 };
    let prog = [
        mov(Reg::R6, Operand::Reg(Reg::R1)),
        ldx(Size::W, Reg::R7, Reg::R1, 0),
        mov(Reg::R2, Operand::Imm(20)),
        Insn::Call { imm: 44 },
        mov(Reg::R1, Operand::Reg(Reg::R6)),
        ldx(Size::W, Reg::R8, Reg::R1, 0),
        ldx(Size::B, Reg::R0, base, off),
        Insn::Exit,
    ];
    ConvertedProgram::new(&prog, PacketKind::Xdp, |pc| pc == 1 || pc == 5).unwrap()
}

/// The outcome in both engines, which must agree; a fault as (pc, size, access).
fn run_both(
    converted: &ConvertedProgram,
    packet: &[u8],
) -> Result<PacketOutcome, (usize, u64, Access)> {
    run_kind(PacketKind::Xdp, converted, packet)
}

#[test]
fn the_old_packet_start_is_out_of_bounds_after_adjust_head() {
    let packet: Vec<u8> = (0..64).collect();
    // Through the new start: byte 20 of the input, the packet is bytes 20..64.
    let out = run_both(&program(true, 0), &packet).unwrap();
    assert_eq!(out.retval, 20);
    assert_eq!(out.data_out, packet[20..]);
    // Through the old start + 19: the byte before the new start, no longer packet.
    assert_eq!(
        run_both(&program(false, 19), &packet).unwrap_err(),
        (6, 1, Access::Read)
    );
    // Through the old start + 20: the new start, inside.
    assert_eq!(run_both(&program(false, 20), &packet).unwrap().retval, 20);
}

#[test]
fn legacy_loads_read_the_packet_a_helper_moved() {
    // tc: bpf_skb_change_head(skb, 4, 0) pushes 4 zero bytes in front, then
    // r0 = LD_ABS half-word at 3: the last pushed byte and the old first byte (0xaa),
    // big-endian: 0x00aa. With the old bounds it would read input bytes 3 and 4: 0x0304.
    let prog = [
        mov(Reg::R6, Operand::Reg(Reg::R1)),
        mov(Reg::R2, Operand::Imm(4)),
        mov(Reg::R3, Operand::Imm(0)),
        Insn::Call { imm: 43 },
        Insn::LdAbs {
            size: Size::H,
            imm: 3,
        },
        Insn::Exit,
    ];
    let converted = ConvertedProgram::new(&prog, PacketKind::SchedCls, |_| false).unwrap();
    let mut packet: Vec<u8> = (0..64).collect();
    packet[0] = 0xaa;
    let out = run_kind(PacketKind::SchedCls, &converted, &packet).unwrap();
    assert_eq!(out.retval, 0xaa);
    assert_eq!(out.data_out, [vec![0; 4], packet].concat());
}

#[test]
fn context_accesses_stop_at_the_real_context() {
    // The real XDP context is 40 bytes: its last 4 bytes (padding) read as 0, one byte
    // past it is outside every region.
    let read = |off: i16, size: Size| {
        let prog = [ldx(size, Reg::R0, Reg::R1, off), Insn::Exit];
        ConvertedProgram::new(&prog, PacketKind::Xdp, |_| false).unwrap()
    };
    let packet = [0u8; 64];
    assert_eq!(run_both(&read(36, Size::W), &packet).unwrap().retval, 0);
    assert_eq!(
        run_both(&read(40, Size::B), &packet).unwrap_err(),
        (0, 1, Access::Read)
    );
    assert_eq!(
        run_both(&read(36, Size::DW), &packet).unwrap_err(),
        (0, 8, Access::Read)
    );
}
