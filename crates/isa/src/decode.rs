//! Bytes to typed instructions, rejecting anything malformed with the instruction index.

use crate::insn::*;
use crate::opcode as op;
use thiserror::Error;

/// Why an instruction could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeErrorKind {
    #[error("program is empty")]
    Empty,
    #[error("program length {len} bytes is not a multiple of 8")]
    TrailingBytes { len: usize },
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    #[error("invalid {field} register r{value}")]
    BadRegister { field: &'static str, value: u8 },
    #[error("reserved field {field} must be 0, is {value}")]
    Reserved { field: &'static str, value: i64 },
    #[error("invalid {field} {value} for opcode {code:#04x}")]
    BadField {
        code: u8,
        field: &'static str,
        value: i64,
    },
    #[error("64-bit immediate load is truncated: its second slot is missing")]
    TruncatedLddw,
    #[error("second slot of a 64-bit immediate load must be all zero but its imm, found opcode {code:#04x}")]
    BadLddwSecondSlot { code: u8 },
    #[error("branch target {target} is outside the program (0..{len})")]
    BranchOutOfProgram { target: i64, len: usize },
    #[error("branch target {target} is the second slot of a 64-bit immediate load")]
    BranchIntoLddw { target: usize },
}

/// A decoding failure at instruction slot `index`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("instruction {index}: {kind}")]
pub struct DecodeError {
    /// Slot index of the offending instruction (8-byte units from the start).
    pub index: usize,
    pub kind: DecodeErrorKind,
}

/// Reads 8-byte slots from `bytes`; the length must be a multiple of 8.
pub fn raw_slots(bytes: &[u8]) -> Result<Vec<RawInsn>, DecodeError> {
    if !bytes.len().is_multiple_of(RawInsn::SIZE) {
        return Err(DecodeError {
            index: bytes.len() / RawInsn::SIZE,
            kind: DecodeErrorKind::TrailingBytes { len: bytes.len() },
        });
    }
    Ok(bytes
        .chunks_exact(RawInsn::SIZE)
        .map(|c| RawInsn::from_bytes(c.try_into().expect("chunks_exact gives 8 bytes")))
        .collect())
}

/// Decodes a whole program and checks that every branch and local call lands on an
/// instruction inside it (not on the second slot of an `lddw`).
pub fn decode_program(bytes: &[u8]) -> Result<Vec<Insn>, DecodeError> {
    let slots = raw_slots(bytes)?;
    if slots.is_empty() {
        return Err(DecodeError {
            index: 0,
            kind: DecodeErrorKind::Empty,
        });
    }
    let mut insns = Vec::with_capacity(slots.len());
    let mut pc = 0;
    while pc < slots.len() {
        let insn = decode_at(&slots, pc).map_err(|kind| DecodeError { index: pc, kind })?;
        pc += insn.slots();
        insns.push(insn);
    }
    check_branches(&insns)?;
    Ok(insns)
}

/// Checks that every branch and local call of `insns` targets the start of an instruction.
pub fn check_branches(insns: &[Insn]) -> Result<(), DecodeError> {
    let len: usize = insns.iter().map(Insn::slots).sum();
    let mut starts = vec![false; len];
    let mut pc = 0;
    for insn in insns {
        starts[pc] = true;
        pc += insn.slots();
    }
    for (pc, insn) in with_pcs(insns) {
        let Some(off) = insn.branch_offset() else {
            continue;
        };
        let target = pc as i64 + off + 1;
        if target < 0 || target >= len as i64 {
            return Err(DecodeError {
                index: pc,
                kind: DecodeErrorKind::BranchOutOfProgram { target, len },
            });
        }
        if !starts[target as usize] {
            return Err(DecodeError {
                index: pc,
                kind: DecodeErrorKind::BranchIntoLddw {
                    target: target as usize,
                },
            });
        }
    }
    Ok(())
}

/// Pairs each instruction with its slot index (`pc`).
pub fn with_pcs(insns: &[Insn]) -> impl Iterator<Item = (usize, &Insn)> {
    insns.iter().scan(0usize, |pc, insn| {
        let at = *pc;
        *pc += insn.slots();
        Some((at, insn))
    })
}

fn reg(field: &'static str, value: u8) -> Result<Reg, DecodeErrorKind> {
    Reg::new(value).ok_or(DecodeErrorKind::BadRegister { field, value })
}

fn zero(field: &'static str, value: i64) -> Result<(), DecodeErrorKind> {
    if value == 0 {
        Ok(())
    } else {
        Err(DecodeErrorKind::Reserved { field, value })
    }
}

fn size_of(code: u8) -> Size {
    match code & op::SIZE_MASK {
        op::W => Size::W,
        op::H => Size::H,
        op::B => Size::B,
        _ => Size::DW,
    }
}

/// Decodes the instruction starting at slot `pc` (which, for an `lddw`, also reads `pc + 1`).
pub fn decode_at(slots: &[RawInsn], pc: usize) -> Result<Insn, DecodeErrorKind> {
    let r = slots[pc];
    let code = r.code;
    let bad = |field: &'static str, value: i64| DecodeErrorKind::BadField { code, field, value };
    match code & op::CLASS_MASK {
        op::ALU | op::ALU64 => decode_alu(r),
        op::JMP | op::JMP32 => decode_jmp(r),
        op::LD => match code & op::MODE_MASK {
            op::IMM if code == op::LDDW => {
                let dst = reg("dst", r.dst)?;
                zero("off", r.off.into())?;
                let kind = LddwKind::from_src(r.src).ok_or(bad("src", r.src.into()))?;
                let next = *slots.get(pc + 1).ok_or(DecodeErrorKind::TruncatedLddw)?;
                if next.code != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
                    return Err(DecodeErrorKind::BadLddwSecondSlot { code: next.code });
                }
                Ok(Insn::Lddw {
                    dst,
                    kind,
                    imm: r.imm,
                    next_imm: next.imm,
                })
            }
            op::ABS if code & op::SIZE_MASK != op::DW => {
                zero("dst", r.dst.into())?;
                zero("src", r.src.into())?;
                zero("off", r.off.into())?;
                Ok(Insn::LdAbs {
                    size: size_of(code),
                    imm: r.imm,
                })
            }
            op::IND if code & op::SIZE_MASK != op::DW => {
                zero("dst", r.dst.into())?;
                zero("off", r.off.into())?;
                Ok(Insn::LdInd {
                    size: size_of(code),
                    src: reg("src", r.src)?,
                    imm: r.imm,
                })
            }
            _ => Err(DecodeErrorKind::UnknownOpcode(code)),
        },
        op::LDX => {
            let sx = match code & op::MODE_MASK {
                op::MEM => false,
                op::MEMSX if code & op::SIZE_MASK != op::DW => true,
                _ => return Err(DecodeErrorKind::UnknownOpcode(code)),
            };
            zero("imm", r.imm.into())?;
            Ok(Insn::Ldx {
                size: size_of(code),
                sx,
                dst: reg("dst", r.dst)?,
                src: reg("src", r.src)?,
                off: r.off,
            })
        }
        op::ST => {
            if code & op::MODE_MASK != op::MEM {
                return Err(DecodeErrorKind::UnknownOpcode(code));
            }
            zero("src", r.src.into())?;
            Ok(Insn::St {
                size: size_of(code),
                dst: reg("dst", r.dst)?,
                off: r.off,
                imm: r.imm,
            })
        }
        _ => {
            // STX
            let size = size_of(code);
            let dst = reg("dst", r.dst)?;
            let src = reg("src", r.src)?;
            match code & op::MODE_MASK {
                op::MEM => {
                    zero("imm", r.imm.into())?;
                    Ok(Insn::Stx {
                        size,
                        dst,
                        src,
                        off: r.off,
                    })
                }
                op::ATOMIC if matches!(size, Size::W | Size::DW) => {
                    let fetch = r.imm & op::FETCH != 0;
                    let aop = match r.imm {
                        x if x & !op::FETCH == op::ATOMIC_ADD => AtomicOp::Add { fetch },
                        x if x & !op::FETCH == op::ATOMIC_OR => AtomicOp::Or { fetch },
                        x if x & !op::FETCH == op::ATOMIC_AND => AtomicOp::And { fetch },
                        x if x & !op::FETCH == op::ATOMIC_XOR => AtomicOp::Xor { fetch },
                        op::ATOMIC_XCHG => AtomicOp::Xchg,
                        op::ATOMIC_CMPXCHG => AtomicOp::Cmpxchg,
                        x => return Err(bad("atomic operation imm", x.into())),
                    };
                    Ok(Insn::Atomic {
                        size,
                        op: aop,
                        dst,
                        src,
                        off: r.off,
                    })
                }
                _ => Err(DecodeErrorKind::UnknownOpcode(code)),
            }
        }
    }
}

fn decode_alu(r: RawInsn) -> Result<Insn, DecodeErrorKind> {
    let code = r.code;
    let bad = |field: &'static str, value: i64| DecodeErrorKind::BadField { code, field, value };
    let width = if code & op::CLASS_MASK == op::ALU64 {
        Width::W64
    } else {
        Width::W32
    };
    let dst = reg("dst", r.dst)?;
    let is_reg = code & op::SOURCE_MASK == op::X;
    let operation = code & op::OP_MASK;
    match operation {
        op::NEG => {
            if is_reg {
                return Err(DecodeErrorKind::UnknownOpcode(code));
            }
            zero("src", r.src.into())?;
            zero("off", r.off.into())?;
            zero("imm", r.imm.into())?;
            return Ok(Insn::Neg { width, dst });
        }
        op::END => {
            zero("src", r.src.into())?;
            zero("off", r.off.into())?;
            let kind = match (width, is_reg) {
                (Width::W32, false) => Endian::ToLe,
                (Width::W32, true) => Endian::ToBe,
                (Width::W64, false) => Endian::Swap,
                (Width::W64, true) => return Err(DecodeErrorKind::UnknownOpcode(code)),
            };
            let bits = match r.imm {
                16 => SwapBits::B16,
                32 => SwapBits::B32,
                64 => SwapBits::B64,
                x => return Err(bad("imm (byte swap width)", x.into())),
            };
            return Ok(Insn::End { kind, bits, dst });
        }
        0xe0 | 0xf0 => return Err(DecodeErrorKind::UnknownOpcode(code)),
        _ => {}
    }
    let src = if is_reg {
        zero("imm", r.imm.into())?;
        Operand::Reg(reg("src", r.src)?)
    } else {
        zero("src", r.src.into())?;
        Operand::Imm(r.imm)
    };
    let alu_op = match (operation, r.off) {
        (op::ADD, 0) => AluOp::Add,
        (op::SUB, 0) => AluOp::Sub,
        (op::MUL, 0) => AluOp::Mul,
        (op::DIV, 0) => AluOp::Div,
        (op::DIV, 1) => AluOp::Sdiv,
        (op::OR, 0) => AluOp::Or,
        (op::AND, 0) => AluOp::And,
        (op::LSH, 0) => AluOp::Lsh,
        (op::RSH, 0) => AluOp::Rsh,
        (op::MOD, 0) => AluOp::Mod,
        (op::MOD, 1) => AluOp::Smod,
        (op::XOR, 0) => AluOp::Xor,
        (op::MOV, 0) => AluOp::Mov,
        (op::MOV, 8) if is_reg => AluOp::Movsx(SxBits::B8),
        (op::MOV, 16) if is_reg => AluOp::Movsx(SxBits::B16),
        (op::MOV, 32) if is_reg && width == Width::W64 => AluOp::Movsx(SxBits::B32),
        (op::ARSH, 0) => AluOp::Arsh,
        (_, off) => return Err(bad("off", off.into())),
    };
    Ok(Insn::Alu {
        width,
        op: alu_op,
        dst,
        src,
    })
}

fn decode_jmp(r: RawInsn) -> Result<Insn, DecodeErrorKind> {
    let code = r.code;
    let bad = |field: &'static str, value: i64| DecodeErrorKind::BadField { code, field, value };
    let width = if code & op::CLASS_MASK == op::JMP {
        Width::W64
    } else {
        Width::W32
    };
    let is_reg = code & op::SOURCE_MASK == op::X;
    let cond = match code & op::OP_MASK {
        op::JA => {
            if is_reg {
                return Err(DecodeErrorKind::UnknownOpcode(code));
            }
            zero("dst", r.dst.into())?;
            zero("src", r.src.into())?;
            return Ok(match width {
                Width::W64 => {
                    zero("imm", r.imm.into())?;
                    Insn::Ja { off: r.off }
                }
                Width::W32 => {
                    zero("off", r.off.into())?;
                    Insn::JaLong { imm: r.imm }
                }
            });
        }
        op::CALL if width == Width::W64 => {
            if is_reg {
                // LLVM's callx: the target address is in dst.
                zero("src", r.src.into())?;
                zero("off", r.off.into())?;
                zero("imm", r.imm.into())?;
                return Ok(Insn::Callx {
                    dst: reg("dst", r.dst)?,
                });
            }
            zero("dst", r.dst.into())?;
            return match r.src {
                op::CALL_HELPER => {
                    zero("off", r.off.into())?;
                    Ok(Insn::Call { imm: r.imm })
                }
                op::PSEUDO_CALL => {
                    zero("off", r.off.into())?;
                    Ok(Insn::CallLocal { imm: r.imm })
                }
                op::PSEUDO_KFUNC_CALL => Ok(Insn::CallKfunc {
                    imm: r.imm,
                    off: r.off,
                }),
                s => Err(bad("src (call kind)", s.into())),
            };
        }
        op::EXIT if width == Width::W64 && !is_reg => {
            zero("dst", r.dst.into())?;
            zero("src", r.src.into())?;
            zero("off", r.off.into())?;
            zero("imm", r.imm.into())?;
            return Ok(Insn::Exit);
        }
        op::JEQ => JmpCond::Eq,
        op::JGT => JmpCond::Gt,
        op::JGE => JmpCond::Ge,
        op::JSET => JmpCond::Set,
        op::JNE => JmpCond::Ne,
        op::JSGT => JmpCond::Sgt,
        op::JSGE => JmpCond::Sge,
        op::JLT => JmpCond::Lt,
        op::JLE => JmpCond::Le,
        op::JSLT => JmpCond::Slt,
        op::JSLE => JmpCond::Sle,
        _ => return Err(DecodeErrorKind::UnknownOpcode(code)),
    };
    let dst = reg("dst", r.dst)?;
    let src = if is_reg {
        zero("imm", r.imm.into())?;
        Operand::Reg(reg("src", r.src)?)
    } else {
        zero("src", r.src.into())?;
        Operand::Imm(r.imm)
    };
    Ok(Insn::Jmp {
        width,
        cond,
        dst,
        src,
        off: r.off,
    })
}
