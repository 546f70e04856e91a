//! Typed instructions to bytes. Encoding a decoded instruction gives back the same bytes.

use crate::insn::*;
use crate::opcode as op;

fn class(width: Width, w32: u8, w64: u8) -> u8 {
    match width {
        Width::W32 => w32,
        Width::W64 => w64,
    }
}

fn size_bits(size: Size) -> u8 {
    match size {
        Size::B => op::B,
        Size::H => op::H,
        Size::W => op::W,
        Size::DW => op::DW,
    }
}

fn raw(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> RawInsn {
    RawInsn {
        code,
        dst: dst.num(),
        src: src.num(),
        off,
        imm,
    }
}

/// The slot of an instruction that takes one, or both slots of an `lddw`.
pub fn encode(insn: &Insn) -> (RawInsn, Option<RawInsn>) {
    let r0 = Reg::R0;
    let one = |r: RawInsn| (r, None);
    match *insn {
        Insn::Alu {
            width,
            op: alu,
            dst,
            src,
        } => {
            let (operation, off) = match alu {
                AluOp::Add => (op::ADD, 0),
                AluOp::Sub => (op::SUB, 0),
                AluOp::Mul => (op::MUL, 0),
                AluOp::Div => (op::DIV, 0),
                AluOp::Sdiv => (op::DIV, 1),
                AluOp::Or => (op::OR, 0),
                AluOp::And => (op::AND, 0),
                AluOp::Lsh => (op::LSH, 0),
                AluOp::Rsh => (op::RSH, 0),
                AluOp::Mod => (op::MOD, 0),
                AluOp::Smod => (op::MOD, 1),
                AluOp::Xor => (op::XOR, 0),
                AluOp::Mov => (op::MOV, 0),
                AluOp::Movsx(b) => (op::MOV, b.bits() as i16),
                AluOp::Arsh => (op::ARSH, 0),
            };
            let cls = class(width, op::ALU, op::ALU64);
            one(match src {
                Operand::Reg(s) => raw(cls | operation | op::X, dst, s, off, 0),
                Operand::Imm(imm) => raw(cls | operation | op::K, dst, r0, off, imm),
            })
        }
        Insn::Neg { width, dst } => one(raw(
            class(width, op::ALU, op::ALU64) | op::NEG,
            dst,
            r0,
            0,
            0,
        )),
        Insn::End { kind, bits, dst } => {
            let code = match kind {
                Endian::ToLe => op::ALU | op::END | op::TO_LE,
                Endian::ToBe => op::ALU | op::END | op::TO_BE,
                Endian::Swap => op::ALU64 | op::END | op::TO_LE,
            };
            one(raw(code, dst, r0, 0, bits.bits() as i32))
        }
        Insn::Ja { off } => one(raw(op::JMP | op::JA, r0, r0, off, 0)),
        Insn::JaLong { imm } => one(raw(op::JMP32 | op::JA, r0, r0, 0, imm)),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let operation = match cond {
                JmpCond::Eq => op::JEQ,
                JmpCond::Gt => op::JGT,
                JmpCond::Ge => op::JGE,
                JmpCond::Set => op::JSET,
                JmpCond::Ne => op::JNE,
                JmpCond::Sgt => op::JSGT,
                JmpCond::Sge => op::JSGE,
                JmpCond::Lt => op::JLT,
                JmpCond::Le => op::JLE,
                JmpCond::Slt => op::JSLT,
                JmpCond::Sle => op::JSLE,
            };
            let cls = class(width, op::JMP32, op::JMP);
            one(match src {
                Operand::Reg(s) => raw(cls | operation | op::X, dst, s, off, 0),
                Operand::Imm(imm) => raw(cls | operation | op::K, dst, r0, off, imm),
            })
        }
        Insn::Call { imm } => one(raw(op::JMP | op::CALL, r0, r0, 0, imm)),
        Insn::CallLocal { imm } => one(RawInsn {
            code: op::JMP | op::CALL,
            src: op::PSEUDO_CALL,
            imm,
            ..RawInsn::default()
        }),
        Insn::CallKfunc { imm, off } => one(RawInsn {
            code: op::JMP | op::CALL,
            src: op::PSEUDO_KFUNC_CALL,
            off,
            imm,
            ..RawInsn::default()
        }),
        Insn::Callx { dst } => one(raw(op::JMP | op::CALL | op::X, dst, r0, 0, 0)),
        Insn::Exit => one(raw(op::JMP | op::EXIT, r0, r0, 0, 0)),
        Insn::Lddw {
            dst,
            kind,
            imm,
            next_imm,
        } => (
            RawInsn {
                code: op::LDDW,
                dst: dst.num(),
                src: kind.src(),
                off: 0,
                imm,
            },
            Some(RawInsn {
                imm: next_imm,
                ..RawInsn::default()
            }),
        ),
        Insn::LdAbs { size, imm } => one(raw(op::LD | op::ABS | size_bits(size), r0, r0, 0, imm)),
        Insn::LdInd { size, src, imm } => {
            one(raw(op::LD | op::IND | size_bits(size), r0, src, 0, imm))
        }
        Insn::Ldx {
            size,
            sx,
            dst,
            src,
            off,
        } => {
            let mode = if sx { op::MEMSX } else { op::MEM };
            one(raw(op::LDX | mode | size_bits(size), dst, src, off, 0))
        }
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => one(raw(op::ST | op::MEM | size_bits(size), dst, r0, off, imm)),
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => one(raw(op::STX | op::MEM | size_bits(size), dst, src, off, 0)),
        Insn::Atomic {
            size,
            op: aop,
            dst,
            src,
            off,
        } => {
            let f = |fetch: bool| if fetch { op::FETCH } else { 0 };
            let imm = match aop {
                AtomicOp::Add { fetch } => op::ATOMIC_ADD | f(fetch),
                AtomicOp::Or { fetch } => op::ATOMIC_OR | f(fetch),
                AtomicOp::And { fetch } => op::ATOMIC_AND | f(fetch),
                AtomicOp::Xor { fetch } => op::ATOMIC_XOR | f(fetch),
                AtomicOp::Xchg => op::ATOMIC_XCHG,
                AtomicOp::Cmpxchg => op::ATOMIC_CMPXCHG,
            };
            one(raw(
                op::STX | op::ATOMIC | size_bits(size),
                dst,
                src,
                off,
                imm,
            ))
        }
    }
}

/// Encodes a sequence of instructions to little-endian bytecode.
pub fn encode_program(insns: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * RawInsn::SIZE);
    for insn in insns {
        let (first, second) = encode(insn);
        out.extend_from_slice(&first.to_bytes());
        if let Some(s) = second {
            out.extend_from_slice(&s.to_bytes());
        }
    }
    out
}
