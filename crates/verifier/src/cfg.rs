//! Structural checks before any abstract interpretation (the kernel's `check_subprogs`
//! and `check_cfg`): branches land on instructions of their own function, no function
//! falls through its end, every instruction is reachable. Also computes what the
//! abstract interpreter needs from the control-flow graph: function boundaries, prune
//! points and the registers live at each instruction.

use crate::error::ErrorKind;
use bpfkit_isa::{with_pcs, AtomicOp, Insn, Operand, Reg};

/// A set of registers as a bit mask (bit n = rn).
pub type RegSet = u16;

const fn bit(r: Reg) -> RegSet {
    1 << r.num()
}

/// r1..r5, the argument registers.
pub const ARGS: RegSet = 0b11_1110;
/// r0..r5, what a call clobbers.
pub const CALLER_SAVED: RegSet = 0b11_1111;

/// The program's control-flow facts. All indexes are instruction slots (an `lddw` takes
/// two), as in the kernel's log.
#[derive(Debug)]
pub struct Cfg {
    /// For each slot, the index in the instruction slice of the instruction starting
    /// there (`None` for an `lddw`'s second slot).
    pub index: Vec<Option<usize>>,
    /// Slots of the instruction starting each function, sorted; the first is 0.
    pub funcs: Vec<usize>,
    /// Slots where states are saved and compared (`INSN_F_PRUNE_POINT`): branch targets
    /// and the instructions after conditional jumps and calls.
    pub prune: Vec<bool>,
    /// Registers whose value may still be read, at each slot (before its instruction).
    pub live: Vec<RegSet>,
}

impl Cfg {
    /// The instruction at slot `pc`, if one starts there.
    pub fn insn<'a>(&self, insns: &'a [Insn], pc: usize) -> Option<&'a Insn> {
        self.index.get(pc).copied().flatten().map(|i| &insns[i])
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the program is empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The function containing slot `pc`: the index of its first slot in `funcs`.
    pub fn func_of(&self, pc: usize) -> usize {
        self.funcs.partition_point(|&f| f <= pc) - 1
    }

    /// One past the last slot of function number `f`.
    pub fn func_end(&self, f: usize) -> usize {
        self.funcs.get(f + 1).copied().unwrap_or(self.len())
    }
}

/// Where control may go after the instruction at `pc` (not into called functions).
pub fn successors(insn: &Insn, pc: usize) -> Vec<usize> {
    let next = pc + insn.slots();
    match insn {
        Insn::Exit => vec![],
        Insn::Ja { .. } | Insn::JaLong { .. } => vec![target(insn, pc)],
        Insn::Jmp { .. } => vec![next, target(insn, pc)],
        _ => vec![next],
    }
}

/// The slot a branch or local call goes to (may be out of range: checked by [`build`]).
pub fn target(insn: &Insn, pc: usize) -> usize {
    let off = insn.branch_offset().unwrap_or(0);
    (pc as i64 + 1 + off) as usize
}

/// Checks the program's structure and computes its [`Cfg`].
pub fn build(insns: &[Insn]) -> Result<Cfg, (usize, ErrorKind)> {
    if insns.is_empty() {
        return Err((0, ErrorKind::Empty));
    }
    let len: usize = insns.iter().map(Insn::slots).sum();
    let mut index = vec![None; len];
    for (i, (pc, _)) in with_pcs(insns).enumerate() {
        index[pc] = Some(i);
    }
    let check_target = |pc: usize, insn: &Insn| {
        let t = pc as i64 + 1 + insn.branch_offset().unwrap_or(0);
        if t < 0 || t >= len as i64 {
            return Err((pc, ErrorKind::JumpOutOfRange { to: t }));
        }
        if index[t as usize].is_none() {
            return Err((pc, ErrorKind::JumpIntoLddw { to: t as usize }));
        }
        Ok(t as usize)
    };
    // Functions: the program start, every local call's target and every function whose
    // address is taken, a callback (`check_subprogs`).
    let mut funcs = vec![0];
    for (pc, insn) in with_pcs(insns) {
        match insn {
            Insn::CallLocal { .. } => funcs.push(check_target(pc, insn)?),
            Insn::Lddw {
                kind: bpfkit_isa::LddwKind::Func,
                imm,
                ..
            } => {
                let t = pc as i64 + 1 + *imm as i64;
                if t < 0 || t >= len as i64 || index[t as usize].is_none() {
                    return Err((pc, ErrorKind::JumpOutOfRange { to: t }));
                }
                funcs.push(t as usize);
            }
            _ => {}
        }
    }
    funcs.sort_unstable();
    funcs.dedup();
    let cfg_funcs = funcs.clone();
    let func_of = |pc: usize| cfg_funcs.partition_point(|&f| f <= pc) - 1;
    let mut prune = vec![false; len];
    for (pc, insn) in with_pcs(insns) {
        let f = func_of(pc);
        let end = funcs.get(f + 1).copied().unwrap_or(len);
        if matches!(
            insn,
            Insn::Ja { .. } | Insn::JaLong { .. } | Insn::Jmp { .. }
        ) {
            let t = check_target(pc, insn)?;
            if t < funcs[f] || t >= end {
                return Err((pc, ErrorKind::JumpOutOfRange { to: t as i64 }));
            }
            prune[t] = true;
        }
        let next = pc + insn.slots();
        let falls_through = !matches!(insn, Insn::Exit | Insn::Ja { .. } | Insn::JaLong { .. });
        if next == end && falls_through {
            return Err((pc, ErrorKind::FallsOffEnd));
        }
        if matches!(insn, Insn::Jmp { .. } | Insn::CallLocal { .. }) && next < len {
            prune[next] = true;
        }
    }
    for &f in &funcs {
        prune[f] = true;
    }
    // Reachability from every function's start (`check_cfg`'s depth-first search).
    let mut seen = vec![false; len];
    let mut stack = funcs.clone();
    while let Some(pc) = stack.pop() {
        if std::mem::replace(&mut seen[pc], true) {
            continue;
        }
        let insn = &insns[index[pc].expect("successors are instruction starts")];
        stack.extend(successors(insn, pc));
    }
    if let Some(pc) = (0..len).find(|&pc| index[pc].is_some() && !seen[pc]) {
        return Err((pc, ErrorKind::Unreachable));
    }
    let mut cfg = Cfg {
        index,
        funcs,
        prune,
        live: vec![0; len],
    };
    cfg.live = liveness(insns, &cfg);
    Ok(cfg)
}

/// Registers an instruction reads and writes.
pub fn uses_defs(insn: &Insn) -> (RegSet, RegSet) {
    let op = |o: &Operand| match o {
        Operand::Reg(r) => bit(*r),
        Operand::Imm(_) => 0,
    };
    match insn {
        Insn::Alu {
            op: alu, dst, src, ..
        } => {
            let reads_dst = !matches!(alu, bpfkit_isa::AluOp::Mov | bpfkit_isa::AluOp::Movsx(_));
            (op(src) | if reads_dst { bit(*dst) } else { 0 }, bit(*dst))
        }
        Insn::Neg { dst, .. } | Insn::End { dst, .. } => (bit(*dst), bit(*dst)),
        Insn::Jmp { dst, src, .. } => (bit(*dst) | op(src), 0),
        Insn::Call { .. } | Insn::CallLocal { .. } | Insn::CallKfunc { .. } => (ARGS, CALLER_SAVED),
        Insn::Callx { dst } => (ARGS | bit(*dst), CALLER_SAVED),
        Insn::Exit => (bit(Reg::R0), 0),
        Insn::Lddw { dst, .. } => (0, bit(*dst)),
        Insn::LdAbs { .. } => (bit(Reg::R6), CALLER_SAVED),
        Insn::LdInd { src, .. } => (bit(Reg::R6) | bit(*src), CALLER_SAVED),
        Insn::Ldx { dst, src, .. } => (bit(*src), bit(*dst)),
        Insn::St { dst, .. } => (bit(*dst), 0),
        Insn::Stx { dst, src, .. } => (bit(*dst) | bit(*src), 0),
        Insn::Atomic {
            op: a, dst, src, ..
        } => {
            let fetch = matches!(
                a,
                AtomicOp::Add { fetch: true }
                    | AtomicOp::Or { fetch: true }
                    | AtomicOp::And { fetch: true }
                    | AtomicOp::Xor { fetch: true }
                    | AtomicOp::Xchg
            );
            match a {
                AtomicOp::Cmpxchg => (bit(*dst) | bit(*src) | bit(Reg::R0), bit(Reg::R0)),
                _ if fetch => (bit(*dst) | bit(*src), bit(*src)),
                _ => (bit(*dst) | bit(*src), 0),
            }
        }
        Insn::Ja { .. } | Insn::JaLong { .. } => (0, 0),
    }
}

/// Registers whose value, if a number, may still matter for safety, before each
/// instruction: a backward fixpoint like [`liveness`], where only safety-relevant uses
/// count (a memory access's base, a stored value, a comparison's operands, a call's
/// arguments, a function's result, the main program's result when `main_r0`), and an
/// ALU result that matters makes its operands matter. When pruning, a number that does
/// not matter is covered by any other number, as the kernel's precision tracking allows
/// for scalars it never had to mark precise (`mark_chain_precision`).
pub fn precise(insns: &[Insn], cfg: &Cfg, main_r0: bool) -> Vec<RegSet> {
    backward(insns, cfg, |insn, pc, out| {
        need_before(insn, out, main_r0 || cfg.func_of(pc) != 0)
    })
}

/// A backward fixpoint over the graph: per instruction, `before(insn, pc, after)` of the
/// union of its successors' sets, iterated until nothing changes.
fn backward(
    insns: &[Insn],
    cfg: &Cfg,
    before: impl Fn(&Insn, usize, RegSet) -> RegSet,
) -> Vec<RegSet> {
    let len = cfg.len();
    let mut sets = vec![0 as RegSet; len];
    let mut changed = true;
    while changed {
        changed = false;
        for pc in (0..len).rev() {
            let Some(insn) = cfg.insn(insns, pc) else {
                continue;
            };
            let out = successors(insn, pc)
                .into_iter()
                .filter(|&s| s < len)
                .fold(0, |acc, s| acc | sets[s]);
            let new = before(insn, pc, out);
            if new != sets[pc] {
                sets[pc] = new;
                changed = true;
            }
        }
    }
    sets
}

/// The registers that matter before `insn`, given those that matter after it (`out`);
/// `r0_matters`: whether an exit's result does.
fn need_before(insn: &Insn, out: RegSet, r0_matters: bool) -> RegSet {
    let op = |o: &Operand| match o {
        Operand::Reg(r) => bit(*r),
        Operand::Imm(_) => 0,
    };
    match insn {
        Insn::Alu {
            op: alu, dst, src, ..
        } => {
            let rest = out & !bit(*dst);
            if out & bit(*dst) == 0 {
                return rest;
            }
            let reads_dst = !matches!(alu, bpfkit_isa::AluOp::Mov | bpfkit_isa::AluOp::Movsx(_));
            rest | op(src) | if reads_dst { bit(*dst) } else { 0 }
        }
        Insn::Neg { .. } | Insn::End { .. } | Insn::Ja { .. } | Insn::JaLong { .. } => out,
        Insn::Jmp { dst, src, .. } => out | bit(*dst) | op(src),
        Insn::Call { .. } | Insn::CallLocal { .. } | Insn::CallKfunc { .. } => {
            (out & !CALLER_SAVED) | ARGS
        }
        Insn::Callx { dst } => (out & !CALLER_SAVED) | ARGS | bit(*dst),
        Insn::Exit => {
            if r0_matters {
                bit(Reg::R0)
            } else {
                0
            }
        }
        Insn::Lddw { dst, .. } => out & !bit(*dst),
        Insn::LdAbs { .. } => (out & !CALLER_SAVED) | bit(Reg::R6),
        Insn::LdInd { src, .. } => (out & !CALLER_SAVED) | bit(Reg::R6) | bit(*src),
        Insn::Ldx { dst, src, .. } => (out & !bit(*dst)) | bit(*src),
        Insn::St { dst, .. } => out | bit(*dst),
        Insn::Stx { dst, src, .. } => out | bit(*dst) | bit(*src),
        Insn::Atomic {
            dst, src, op: a, ..
        } => {
            let r0 = if *a == AtomicOp::Cmpxchg {
                bit(Reg::R0)
            } else {
                0
            };
            out | bit(*dst) | bit(*src) | r0
        }
    }
}

/// Live registers before each instruction: a backward fixpoint over the graph, within
/// each function (a call reads r1-r5; an exit reads r0).
fn liveness(insns: &[Insn], cfg: &Cfg) -> Vec<RegSet> {
    backward(insns, cfg, |insn, _, out| {
        let (uses, defs) = uses_defs(insn);
        uses | (out & !defs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpfkit_isa::{JmpCond, Width};

    fn mov(dst: Reg, imm: i32) -> Insn {
        Insn::Alu {
            width: Width::W64,
            op: bpfkit_isa::AluOp::Mov,
            dst,
            src: Operand::Imm(imm),
        }
    }

    #[test]
    fn unreachable_instruction() {
        let prog = [mov(Reg::R0, 0), Insn::Exit, mov(Reg::R0, 1), Insn::Exit];
        assert_eq!(build(&prog).unwrap_err(), (2, ErrorKind::Unreachable));
    }

    #[test]
    fn falls_off_the_end() {
        let prog = [mov(Reg::R0, 0)];
        assert_eq!(build(&prog).unwrap_err(), (0, ErrorKind::FallsOffEnd));
    }

    #[test]
    fn jump_into_lddw() {
        let prog = [Insn::Ja { off: 1 }, Insn::lddw(Reg::R0, 1), Insn::Exit];
        assert_eq!(
            build(&prog).unwrap_err(),
            (0, ErrorKind::JumpIntoLddw { to: 2 })
        );
    }

    #[test]
    fn a_sum_only_returned_does_not_matter_unless_the_result_does() {
        // 0: r0 = 0; 1: r1 = 0; 2: r0 += r1; 3: r1 += 1; 4: if r1 < 4 goto 2; 5: exit
        let alu = |op, dst, src| Insn::Alu {
            width: Width::W64,
            op,
            dst,
            src,
        };
        let prog = [
            mov(Reg::R0, 0),
            mov(Reg::R1, 0),
            alu(bpfkit_isa::AluOp::Add, Reg::R0, Operand::Reg(Reg::R1)),
            alu(bpfkit_isa::AluOp::Add, Reg::R1, Operand::Imm(1)),
            Insn::Jmp {
                width: Width::W64,
                cond: JmpCond::Lt,
                dst: Reg::R1,
                src: Operand::Imm(4),
                off: -3,
            },
            Insn::Exit,
        ];
        let cfg = build(&prog).unwrap();
        // The counter is compared: it matters from its definition on; the sum does not.
        assert_eq!(precise(&prog, &cfg, false), [0, 0, 0b10, 0b10, 0b10, 0]);
        // When the result is checked, the sum matters, and so does what is added to it.
        assert_eq!(precise(&prog, &cfg, true), [0, 0b1, 0b11, 0b11, 0b11, 0b1]);
    }

    #[test]
    fn liveness_of_a_branch() {
        // 0: r0 = 0; 1: if r1 == 0 goto +1; 2: r0 = r2; 3: exit
        let prog = [
            mov(Reg::R0, 0),
            Insn::Jmp {
                width: Width::W64,
                cond: JmpCond::Eq,
                dst: Reg::R1,
                src: Operand::Imm(0),
                off: 1,
            },
            Insn::Alu {
                width: Width::W64,
                op: bpfkit_isa::AluOp::Mov,
                dst: Reg::R0,
                src: Operand::Reg(Reg::R2),
            },
            Insn::Exit,
        ];
        let cfg = build(&prog).unwrap();
        assert_eq!(cfg.live[3], 0b1);
        assert_eq!(cfg.live[2], 0b100);
        assert_eq!(cfg.live[1], 0b111);
        assert_eq!(cfg.live[0], 0b110);
        assert!(cfg.prune[2] && cfg.prune[3]);
    }
}
