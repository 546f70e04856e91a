//! What verification proved about each instruction, for engines that want to drop
//! run-time checks: which memory region an access always hits (and that it is in
//! bounds, which acceptance implies), and which registers it reads are constants.

use crate::state::State;
use bpfkit_isa::{AluOp, Insn, Operand, Reg};

/// The memory region of an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    Stack,
    Ctx,
    /// The packet, or the 'memory' program type's buffer.
    Packet,
    /// A value of one of the maps the verifier was told of ([`crate::VerifierOptions::maps`]).
    MapValue,
    /// A value of a map that a map of maps holds: proven against the outer map's template
    /// ([`crate::MapSpec::inner`]), which the map a lookup finds at run time may not
    /// match where inner maps are not checked against it.
    InnerMapValue,
    /// A map key (a `bpf_for_each_map_elem` callback's argument).
    MapKey,
    /// A ring buffer record.
    Ringbuf,
    /// The socket `__sk_buff.sk` points to (fields of `struct bpf_sock`, rewritten by
    /// the kernel like the context's).
    Sock,
}

/// Facts about one instruction, over every path verification explored through it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InsnFacts {
    /// Times the instruction was processed (0: never, e.g. the second slot of an `lddw`).
    pub visits: u32,
    /// For a load, store or atomic (and a helper call with a stack argument): the region
    /// it accesses on every path, proven in bounds. `None` when it accesses no memory, or
    /// when paths disagree on the region.
    pub access: Option<Region>,
    /// Registers the instruction reads that hold the same known constant on every path.
    /// Only registers whose value matters for safety there are listed: pruning lets
    /// paths that differ in other numbers share one exploration.
    pub consts: Vec<(Reg, u64)>,
    /// Whether paths reached the access through different regions.
    mixed: bool,
}

impl InsnFacts {
    /// Records that this visit's access was proven in bounds in `region`. Returns false
    /// when paths disagree and one of them accesses the context: engines rewrite context
    /// accesses field by field, which the kernel's verifier guarantees them by refusing
    /// such programs (`reg_type_mismatch`), and so does bpfkit.
    pub(crate) fn note_access(&mut self, region: Region) -> bool {
        match self.access {
            None if !self.mixed && self.visits <= 1 => self.access = Some(region),
            Some(r) if r == region => {}
            previous => {
                let rewritten = |r| matches!(r, Region::Ctx | Region::Sock);
                if previous.is_some_and(rewritten) || rewritten(region) {
                    return false;
                }
                self.access = None;
                self.mixed = true;
            }
        }
        true
    }

    /// Whether the access is proven in bounds on every path.
    pub fn access_proven(&self) -> bool {
        self.access.is_some()
    }

    /// The constant in `r`, when known on every path.
    pub fn constant(&self, r: Reg) -> Option<u64> {
        self.consts.iter().find(|(x, _)| *x == r).map(|&(_, v)| v)
    }
}

/// The registers an instruction reads as values (not as memory bases).
fn value_operands(insn: &Insn) -> Vec<Reg> {
    let reg = |o: &Operand| match o {
        Operand::Reg(r) => Some(*r),
        Operand::Imm(_) => None,
    };
    match insn {
        Insn::Alu { op, dst, src, .. } => {
            let reads_dst = !matches!(op, AluOp::Mov | AluOp::Movsx(_));
            [reads_dst.then_some(*dst), reg(src)]
                .into_iter()
                .flatten()
                .collect()
        }
        Insn::Jmp { dst, src, .. } => [Some(*dst), reg(src)].into_iter().flatten().collect(),
        Insn::Neg { dst, .. } | Insn::End { dst, .. } => vec![*dst],
        Insn::Stx { src, .. } => vec![*src],
        Insn::Call { .. } => vec![Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5],
        _ => vec![],
    }
}

impl crate::check::Checker<'_> {
    /// Updates the facts of `pc` with the state a path brings to it.
    pub(crate) fn record_facts(&mut self, pc: usize, insn: &Insn, st: &State) {
        let precise = self.precise[pc];
        let f = &mut self.facts[pc];
        if f.visits == 0 {
            f.consts = value_operands(insn)
                .into_iter()
                .filter(|r| precise >> r.num() & 1 == 1)
                .filter_map(|r| st.reg(r).as_const().map(|v| (r, v)))
                .collect();
        } else if !f.consts.is_empty() {
            f.consts.retain(|&(r, v)| st.reg(r).as_const() == Some(v));
        }
        f.visits += 1;
    }
}
