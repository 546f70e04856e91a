//! Turning checked instructions into the interpreter's [`Op`]s, rejecting what cannot run:
//! writes to r10, unknown helpers, branches that leave the program.

use super::op::{Op, Opc};
use super::{FUNC_ADDR_BASE, STACK_FRAME_SIZE};
use crate::error::{PrepareError, PrepareErrorKind};
use crate::helpers::{Helper, Helpers};
use bpfkit_isa::decode::{check_branches, with_pcs};
use bpfkit_isa::{
    AluOp, AtomicOp, Endian, Insn, JmpCond, LddwKind, Operand, Reg, Size, SwapBits, SxBits, Width,
};

/// The prepared code (one op per slot plus a final [`Opc::FellOff`]) and the helpers it
/// calls, indexed by the `imm` of its [`Opc::Call`] ops.
pub(crate) struct Prepared {
    pub code: Vec<Op>,
    pub helpers: Vec<(i32, Helper)>,
}

pub(crate) fn prepare(insns: &[Insn], registry: &Helpers) -> Result<Prepared, PrepareError> {
    let mut code = Vec::with_capacity(insns.len() + 2);
    let helpers = lower_all(insns, registry, |insn, op| {
        code.push(op);
        if insn.slots() == 2 {
            code.push(Op::new(Opc::LddwTail));
        }
    })?;
    code.push(Op::new(Opc::FellOff));
    fuse(&mut code, insns);
    Ok(Prepared { code, helpers })
}

/// Checks `insns` as the interpreter's preparation does, with the same errors, without
/// building the interpreter's form of the program; returns the helpers it calls, in order
/// of first call, resolved against `registry`. For engines that compile the instructions
/// themselves.
pub fn validate(insns: &[Insn], registry: &Helpers) -> Result<Vec<(i32, Helper)>, PrepareError> {
    lower_all(insns, registry, |_, _| {})
}

/// The checks of a program, in the order that decides which error is reported, then each
/// instruction lowered to its op (`each` receives them in program order); returns the
/// helpers called, in order of first call.
fn lower_all(
    insns: &[Insn],
    registry: &Helpers,
    mut each: impl FnMut(&Insn, Op),
) -> Result<Vec<(i32, Helper)>, PrepareError> {
    if insns.is_empty() {
        return Err(PrepareError {
            pc: 0,
            kind: PrepareErrorKind::Empty,
        });
    }
    check_branches(insns).map_err(|e| PrepareError {
        pc: e.index,
        kind: PrepareErrorKind::BadBranch {
            target: match e.kind {
                bpfkit_isa::DecodeErrorKind::BranchOutOfProgram { target, .. } => target,
                bpfkit_isa::DecodeErrorKind::BranchIntoLddw { target } => target as i64,
                _ => -1,
            },
        },
    })?;
    check_function_addresses(insns)?;
    let mut helpers = Vec::new();
    for (pc, insn) in with_pcs(insns) {
        let op =
            lower(pc, insn, registry, &mut helpers).map_err(|kind| PrepareError { pc, kind })?;
        each(insn, op);
    }
    Ok(helpers)
}

/// A function address (lddw of BPF_PSEUDO_FUNC) must name an instruction of the program,
/// as a branch target must.
fn check_function_addresses(insns: &[Insn]) -> Result<(), PrepareError> {
    let is_func = |insn: &Insn| {
        matches!(
            insn,
            Insn::Lddw {
                kind: LddwKind::Func,
                ..
            }
        )
    };
    // Most programs take no function address: no table of instruction starts for them.
    if !insns.iter().any(is_func) {
        return Ok(());
    }
    let len: usize = insns.iter().map(Insn::slots).sum();
    let mut starts = vec![false; len];
    for (pc, _) in with_pcs(insns) {
        starts[pc] = true;
    }
    for (pc, insn) in with_pcs(insns) {
        if let Insn::Lddw {
            kind: LddwKind::Func,
            imm,
            ..
        } = *insn
        {
            let target = pc as i64 + imm as i64 + 1;
            if !(0..len as i64).contains(&target) || !starts[target as usize] {
                return Err(PrepareError {
                    pc,
                    kind: PrepareErrorKind::BadBranch { target },
                });
            }
        }
    }
    Ok(())
}

fn written_reg(insn: &Insn) -> Option<Reg> {
    match *insn {
        Insn::Alu { dst, .. }
        | Insn::Neg { dst, .. }
        | Insn::End { dst, .. }
        | Insn::Lddw { dst, .. }
        | Insn::Ldx { dst, .. } => Some(dst),
        Insn::Atomic {
            op:
                AtomicOp::Add { fetch: true }
                | AtomicOp::Or { fetch: true }
                | AtomicOp::And { fetch: true }
                | AtomicOp::Xor { fetch: true }
                | AtomicOp::Xchg,
            src,
            ..
        } => Some(src),
        _ => None,
    }
}

fn target(pc: usize, off: i64) -> u32 {
    // check_branches proved pc + off + 1 lies inside the program.
    (pc as i64 + off + 1) as u32
}

/// The ops of one kind of access, by size: B, H, W, DW.
type BySize = [Opc; 4];

fn sized(size: Size, ops: BySize) -> Opc {
    ops[match size {
        Size::B => 0,
        Size::H => 1,
        Size::W => 2,
        Size::DW => 3,
    }]
}

/// The `stack` op for an access at `r10 + off` inside the current frame (proven in bounds
/// here, once), the `checked` one otherwise.
fn mem_opc(base: Reg, off: i16, size: Size, stack: BySize, checked: BySize) -> Opc {
    sized(
        size,
        if base == Reg::R10 && in_frame(off, size) {
            stack
        } else {
            checked
        },
    )
}

/// Whether an access of `size` bytes at `r10 + off` lies inside the current frame.
fn in_frame(off: i16, size: Size) -> bool {
    let off = off as i64;
    off >= -(STACK_FRAME_SIZE as i64) && off + size.bytes() as i64 <= 0
}

fn lower(
    pc: usize,
    insn: &Insn,
    registry: &Helpers,
    helpers: &mut Vec<(i32, Helper)>,
) -> Result<Op, PrepareErrorKind> {
    if written_reg(insn) == Some(Reg::R10) {
        return Err(PrepareErrorKind::WritesFramePointer);
    }
    let mut op = Op::new(Opc::Exit);
    op.opc = match *insn {
        Insn::Alu {
            width,
            op: alu,
            dst,
            src,
        } => {
            op.dst = dst.num();
            match src {
                Operand::Reg(s) => op.src = s.num(),
                Operand::Imm(i) => op.imm = extend(width, i),
            }
            alu_opc(width, alu, matches!(src, Operand::Imm(_)))
        }
        Insn::Neg { width, dst } => {
            op.dst = dst.num();
            match width {
                Width::W64 => Opc::Neg64,
                Width::W32 => Opc::Neg32,
            }
        }
        Insn::End { kind, bits, dst } => {
            op.dst = dst.num();
            // On a little-endian host, an unconditional swap is a conversion to big endian.
            match (kind, bits) {
                (Endian::ToLe, SwapBits::B16) => Opc::Le16,
                (Endian::ToLe, SwapBits::B32) => Opc::Le32,
                (Endian::ToLe, SwapBits::B64) => Opc::Le64,
                (Endian::ToBe | Endian::Swap, SwapBits::B16) => Opc::Be16,
                (Endian::ToBe | Endian::Swap, SwapBits::B32) => Opc::Be32,
                (Endian::ToBe | Endian::Swap, SwapBits::B64) => Opc::Be64,
            }
        }
        Insn::Ja { .. } | Insn::JaLong { .. } => {
            op.target = target(pc, insn.branch_offset().unwrap_or(0));
            Opc::Ja
        }
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            op.dst = dst.num();
            op.target = target(pc, off.into());
            match src {
                Operand::Reg(s) => op.src = s.num(),
                Operand::Imm(i) => op.imm = extend(width, i),
            }
            jmp_opc(width, cond, matches!(src, Operand::Imm(_)))
        }
        Insn::Call { imm } => {
            let helper = registry
                .get(imm)
                .ok_or(PrepareErrorKind::UnknownHelper(imm))?;
            let index = match helpers.iter().position(|(id, _)| *id == imm) {
                Some(i) => i,
                None => {
                    helpers.push((imm, helper.clone()));
                    helpers.len() - 1
                }
            };
            op.imm = index as u64;
            // A tail call leaves r0 as it was when it falls through, as Linux's
            // `JMP_TAIL_CALL` instruction does.
            if imm == crate::helpers::linux::id::TAIL_CALL {
                Opc::TailCall
            } else {
                Opc::Call
            }
        }
        Insn::CallLocal { imm } => {
            op.target = target(pc, imm.into());
            Opc::CallLocal
        }
        Insn::CallKfunc { .. } => {
            return Err(PrepareErrorKind::Unsupported(
                "a kernel function call (kfunc)",
            ))
        }
        Insn::Callx { dst } => {
            op.dst = dst.num();
            Opc::Callx
        }
        Insn::Exit => Opc::Exit,
        Insn::Lddw {
            dst,
            kind,
            imm,
            next_imm,
        } => {
            op.dst = dst.num();
            op.imm = match kind {
                LddwKind::Imm64 => Insn::imm64(imm, next_imm),
                LddwKind::Func => FUNC_ADDR_BASE + target(pc, imm.into()) as u64,
                LddwKind::MapFd | LddwKind::MapIdx => {
                    return Err(PrepareErrorKind::Unsupported(
                        "a map reference (lddw of a map)",
                    ))
                }
                LddwKind::MapValue | LddwKind::MapIdxValue => {
                    return Err(PrepareErrorKind::Unsupported(
                        "a map value reference (lddw of a map value)",
                    ))
                }
                LddwKind::BtfId => {
                    return Err(PrepareErrorKind::Unsupported(
                        "a kernel variable reference (lddw of a BTF id)",
                    ))
                }
            };
            Opc::Lddw
        }
        Insn::LdAbs { size, imm } => {
            op.imm = imm as u32 as u64;
            sized(size, [Opc::LdAbsB, Opc::LdAbsH, Opc::LdAbsW, Opc::LdAbsW])
        }
        Insn::LdInd { size, src, imm } => {
            op.src = src.num();
            op.imm = imm as u32 as u64;
            sized(size, [Opc::LdIndB, Opc::LdIndH, Opc::LdIndW, Opc::LdIndW])
        }
        Insn::Ldx {
            size,
            sx,
            dst,
            src,
            off,
        } => {
            op.dst = dst.num();
            op.src = src.num();
            op.imm = off as i64 as u64;
            if sx {
                sized(size, [Opc::LdxsB, Opc::LdxsH, Opc::LdxsW, Opc::LdxDw])
            } else {
                mem_opc(
                    src,
                    off,
                    size,
                    [
                        Opc::LdxStackB,
                        Opc::LdxStackH,
                        Opc::LdxStackW,
                        Opc::LdxStackDw,
                    ],
                    [Opc::LdxB, Opc::LdxH, Opc::LdxW, Opc::LdxDw],
                )
            }
        }
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => {
            op.dst = dst.num();
            op.imm = off as i64 as u64;
            op.target = imm as u32;
            mem_opc(
                dst,
                off,
                size,
                [Opc::StStackB, Opc::StStackH, Opc::StStackW, Opc::StStackDw],
                [Opc::StB, Opc::StH, Opc::StW, Opc::StDw],
            )
        }
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => {
            op.dst = dst.num();
            op.src = src.num();
            op.imm = off as i64 as u64;
            mem_opc(
                dst,
                off,
                size,
                [
                    Opc::StxStackB,
                    Opc::StxStackH,
                    Opc::StxStackW,
                    Opc::StxStackDw,
                ],
                [Opc::StxB, Opc::StxH, Opc::StxW, Opc::StxDw],
            )
        }
        Insn::Atomic {
            size,
            op: aop,
            dst,
            src,
            off,
        } => {
            op.dst = dst.num();
            op.src = src.num();
            op.imm = off as i64 as u64;
            let wide = size == Size::DW;
            let pick = |w32: Opc, w64: Opc| if wide { w64 } else { w32 };
            match aop {
                AtomicOp::Add { fetch: false } => pick(Opc::AtomicAdd32, Opc::AtomicAdd64),
                AtomicOp::Or { fetch: false } => pick(Opc::AtomicOr32, Opc::AtomicOr64),
                AtomicOp::And { fetch: false } => pick(Opc::AtomicAnd32, Opc::AtomicAnd64),
                AtomicOp::Xor { fetch: false } => pick(Opc::AtomicXor32, Opc::AtomicXor64),
                AtomicOp::Add { fetch: true } => pick(Opc::FetchAdd32, Opc::FetchAdd64),
                AtomicOp::Or { fetch: true } => pick(Opc::FetchOr32, Opc::FetchOr64),
                AtomicOp::And { fetch: true } => pick(Opc::FetchAnd32, Opc::FetchAnd64),
                AtomicOp::Xor { fetch: true } => pick(Opc::FetchXor32, Opc::FetchXor64),
                AtomicOp::Xchg => pick(Opc::Xchg32, Opc::Xchg64),
                AtomicOp::Cmpxchg => pick(Opc::Cmpxchg32, Opc::Cmpxchg64),
            }
        }
    };
    Ok(op)
}

/// An immediate as the operation uses it: sign-extended to 64 bits for 64-bit operations,
/// its 32 bits zero-extended for 32-bit ones.
fn extend(width: Width, imm: i32) -> u64 {
    match width {
        Width::W64 => imm as i64 as u64,
        Width::W32 => imm as u32 as u64,
    }
}

/// The op of one operation for its form: `[64-bit imm, 64-bit reg, 32-bit imm, 32-bit reg]`.
fn by_form(width: Width, imm: bool, ops: [Opc; 4]) -> Opc {
    ops[match (width, imm) {
        (Width::W64, true) => 0,
        (Width::W64, false) => 1,
        (Width::W32, true) => 2,
        (Width::W32, false) => 3,
    }]
}

fn alu_opc(width: Width, op: AluOp, imm: bool) -> Opc {
    use Opc::*;
    let pick = |i64, r64, i32, r32| by_form(width, imm, [i64, r64, i32, r32]);
    match op {
        AluOp::Add => pick(Add64I, Add64R, Add32I, Add32R),
        AluOp::Sub => pick(Sub64I, Sub64R, Sub32I, Sub32R),
        AluOp::Mul => pick(Mul64I, Mul64R, Mul32I, Mul32R),
        AluOp::Div => pick(Div64I, Div64R, Div32I, Div32R),
        AluOp::Sdiv => pick(Sdiv64I, Sdiv64R, Sdiv32I, Sdiv32R),
        AluOp::Or => pick(Or64I, Or64R, Or32I, Or32R),
        AluOp::And => pick(And64I, And64R, And32I, And32R),
        AluOp::Lsh => pick(Lsh64I, Lsh64R, Lsh32I, Lsh32R),
        AluOp::Rsh => pick(Rsh64I, Rsh64R, Rsh32I, Rsh32R),
        AluOp::Mod => pick(Mod64I, Mod64R, Mod32I, Mod32R),
        AluOp::Smod => pick(Smod64I, Smod64R, Smod32I, Smod32R),
        AluOp::Xor => pick(Xor64I, Xor64R, Xor32I, Xor32R),
        AluOp::Mov => pick(Mov64I, Mov64R, Mov32I, Mov32R),
        AluOp::Arsh => pick(Arsh64I, Arsh64R, Arsh32I, Arsh32R),
        // The decoder only produces register-source sign-extending moves, and no 32-bit
        // move from 32 bits.
        AluOp::Movsx(b) => match (width, b) {
            (Width::W64, SxBits::B8) => Movsx64B,
            (Width::W64, SxBits::B16) => Movsx64H,
            (Width::W64, SxBits::B32) => Movsx64W,
            (Width::W32, SxBits::B8) => Movsx32B,
            (Width::W32, SxBits::B16) => Movsx32H,
            (Width::W32, SxBits::B32) => Mov32R,
        },
    }
}

fn jmp_opc(width: Width, cond: JmpCond, imm: bool) -> Opc {
    use Opc::*;
    let pick = |i64, r64, i32, r32| by_form(width, imm, [i64, r64, i32, r32]);
    match cond {
        JmpCond::Eq => pick(Jeq64I, Jeq64R, Jeq32I, Jeq32R),
        JmpCond::Gt => pick(Jgt64I, Jgt64R, Jgt32I, Jgt32R),
        JmpCond::Ge => pick(Jge64I, Jge64R, Jge32I, Jge32R),
        JmpCond::Set => pick(Jset64I, Jset64R, Jset32I, Jset32R),
        JmpCond::Ne => pick(Jne64I, Jne64R, Jne32I, Jne32R),
        JmpCond::Sgt => pick(Jsgt64I, Jsgt64R, Jsgt32I, Jsgt32R),
        JmpCond::Sge => pick(Jsge64I, Jsge64R, Jsge32I, Jsge32R),
        JmpCond::Lt => pick(Jlt64I, Jlt64R, Jlt32I, Jlt32R),
        JmpCond::Le => pick(Jle64I, Jle64R, Jle32I, Jle32R),
        JmpCond::Slt => pick(Jslt64I, Jslt64R, Jslt32I, Jslt32R),
        JmpCond::Sle => pick(Jsle64I, Jsle64R, Jsle32I, Jsle32R),
    }
}

/// Replaces, at the head of a sequence clang emits often, the first op with one fused op
/// doing the whole sequence, so that it costs one dispatch. The ops after the head stay as
/// they are; they are skipped, and the sequence is fused only if none of them is a branch
/// target (or a return address), so control never lands inside.
fn fuse(code: &mut [Op], insns: &[Insn]) {
    let mut entered = vec![false; code.len()];
    for (pc, insn) in with_pcs(insns) {
        if let Some(off) = insn.branch_offset() {
            entered[target(pc, off) as usize] = true;
        }
        if matches!(insn, Insn::CallLocal { .. } | Insn::Callx { .. }) {
            entered[pc + 1] = true;
        }
        if let Insn::Lddw {
            kind: LddwKind::Func,
            imm,
            ..
        } = *insn
        {
            entered[target(pc, imm.into()) as usize] = true;
        }
    }
    let is_zext = |a: &Op, b: &Op, d: u8| {
        a.opc == Opc::Lsh64I
            && a.dst == d
            && a.imm == 32
            && b.opc == Opc::Rsh64I
            && b.dst == d
            && b.imm == 32
    };
    let mut pc = 0;
    while pc + 2 < code.len() {
        let (head, next, third) = (code[pc], code[pc + 1], code[pc + 2]);
        let free = |n: usize| (1..n).all(|k| !entered[pc + k]);
        let fused = match head.opc {
            Opc::Mov64R
                if pc + 3 < code.len()
                    && free(3)
                    && next.opc == Opc::Add64I
                    && next.dst == head.dst
                    && third.opc == Opc::Jgt64R
                    && third.dst == head.dst =>
            {
                code[pc].imm = next.imm;
                code[pc].src2 = third.src;
                code[pc].target = third.target;
                Some(Opc::MovAddJgtR)
            }
            // The constant added to a loop counter is small: it fits the spare register byte.
            Opc::Add64I
                if free(2)
                    && (head.imm as i64 >= i8::MIN as i64 && head.imm as i64 <= i8::MAX as i64)
                    && matches!(next.opc, Opc::Jne64I | Opc::Jeq64I)
                    && next.dst == head.dst =>
            {
                code[pc].src2 = head.imm as i8 as u8;
                code[pc].imm = next.imm;
                code[pc].target = next.target;
                Some(if next.opc == Opc::Jne64I {
                    Opc::AddJneI
                } else {
                    Opc::AddJeqI
                })
            }
            Opc::Mov64R if pc + 3 < code.len() && free(3) && is_zext(&next, &third, head.dst) => {
                Some(Opc::MovZext)
            }
            Opc::Lsh64I if free(2) && is_zext(&head, &next, head.dst) => Some(Opc::Zext),
            Opc::Mov64R if free(2) && next.dst == head.dst && next.opc == Opc::Add64I => {
                code[pc].imm = next.imm;
                Some(Opc::MovAddI)
            }
            Opc::Mov64R if free(2) && next.dst == head.dst && next.opc == Opc::Add64R => {
                // After `d = s`, reading d reads s.
                code[pc].src2 = if next.src == head.dst {
                    head.src
                } else {
                    next.src
                };
                Some(Opc::MovAddR)
            }
            _ => None,
        };
        if let Some(opc) = fused {
            code[pc].opc = opc;
        }
        pc += 1;
    }
}
