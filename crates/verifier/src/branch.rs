//! Conditional jumps (`check_cond_jmp_op`): decide the outcome when the state does, and
//! otherwise refine both successors' states with what each outcome implies: scalar
//! ranges (`reg_set_min_max`), null checks (`mark_ptr_or_null_regs`) and packet ranges
//! (`try_match_pkt_pointers`, `find_good_pkt_pointers`).

use crate::alu::MAX_PACKET_OFF;
use crate::bounds::{branch_taken, negate, refine_not_set, refine_views, Scalar, View};
use crate::check::{Checker, Fail, Next};
use crate::state::{RegState, RegType, State};
use bpfkit_isa::{JmpCond, Operand, Reg, Width};

impl Checker<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_cond_jmp(
        &mut self,
        st: &mut State,
        pc: usize,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Operand,
    ) -> Result<Next, Fail> {
        let insn = self.cfg.insn(self.insns, pc).expect("at an instruction");
        let target = crate::cfg::target(insn, pc);
        let fall = pc + 1;
        let d = self.read_reg(st, dst)?;
        let (s, src_reg) = match src {
            Operand::Reg(r) => (self.read_reg(st, r)?, Some(r)),
            Operand::Imm(imm) => (
                RegState::scalar(Scalar::constant(match width {
                    Width::W64 => imm as i64 as u64,
                    Width::W32 => imm as u32 as u64,
                })),
                None,
            ),
        };
        let before = st.cur().regs;
        let mut taken = st.clone();
        let outcome = if d.ty == RegType::Scalar && s.ty == RegType::Scalar {
            let outcome = branch_taken(cond, &d.var.view(width), &s.var.view(width));
            if outcome.is_none() {
                let alive_t = refine_scalars(&mut taken, width, cond, true, dst, src_reg, &s);
                let alive_f = refine_scalars(st, width, cond, false, dst, src_reg, &s);
                match (alive_t, alive_f) {
                    (true, true) => None,
                    (t, _) => Some(t),
                }
            } else {
                outcome
            }
        } else {
            pointer_compare(st, &mut taken, width, cond, &d, src_reg, &s)
        };
        Ok(match outcome {
            Some(true) => {
                *st = taken;
                Next::Goto(target)
            }
            Some(false) => Next::Goto(fall),
            None => Next::Fork {
                fall,
                target,
                // Either side's refinement explains the state of both: one learnt
                // something, the other did not.
                refined: changed(&before, st) | changed(&before, &taken),
                taken,
            },
        })
    }
}

/// Comparisons involving a pointer: null checks of map lookups and packet bounds
/// checks refine; others (allowed to privileged programs) teach nothing.
#[allow(clippy::too_many_arguments)]
fn pointer_compare(
    fall: &mut State,
    taken: &mut State,
    width: Width,
    cond: JmpCond,
    d: &RegState,
    src_reg: Option<Reg>,
    s: &RegState,
) -> Option<bool> {
    let is_null_test =
        width == Width::W64 && matches!(cond, JmpCond::Eq | JmpCond::Ne) && s.as_const() == Some(0);
    if is_null_test && d.ty.is_pointer() {
        if d.ty.non_null().is_none() {
            // Other pointers are never null.
            return Some(cond == JmpCond::Ne);
        }
        let (null, non_null) = if cond == JmpCond::Eq {
            (taken, fall)
        } else {
            (fall, taken)
        };
        mark_or_null(null, d, true);
        mark_or_null(non_null, d, false);
        return None;
    }
    if width == Width::W64 && src_reg.is_some() {
        match_packet_pointers(fall, taken, cond, d, s);
    }
    None
}

/// `pkt' > pkt_end` and its variants: on the side where the bytes up to `pkt'` exist,
/// every pointer with `pkt'`'s id gets that range (`try_match_pkt_pointers`).
fn match_packet_pointers(
    fall: &mut State,
    taken: &mut State,
    cond: JmpCond,
    d: &RegState,
    s: &RegState,
) {
    use JmpCond::*;
    let init_pkt =
        |r: &RegState| r.ty == RegType::PtrToPacket && r.off == 0 && r.var.as_const() == Some(0);
    // Whether `a` is a data pointer and `b` its limit.
    let below = |a: &RegState, b: &RegState| {
        (a.ty == RegType::PtrToPacket && b.ty == RegType::PtrToPacketEnd)
            || (a.ty == RegType::PtrToPacketMeta && init_pkt(b))
    };
    // (the data pointer, whether the proven bound is strict, whether on the taken side)
    let (ptr, open, on_taken) = if below(d, s) {
        match cond {
            Gt => (d, false, false),
            Ge => (d, true, false),
            Lt => (d, true, true),
            Le => (d, false, true),
            _ => return,
        }
    } else if below(s, d) {
        match cond {
            Gt => (s, true, true),
            Ge => (s, false, true),
            Lt => (s, false, false),
            Le => (s, true, false),
            _ => return,
        }
    } else {
        return;
    };
    find_good_pkt_pointers(if on_taken { taken } else { fall }, ptr, open);
}

/// The registers of the current frame a refinement changed.
fn changed(before: &[RegState], after: &State) -> u16 {
    before
        .iter()
        .zip(&after.cur().regs)
        .enumerate()
        .filter(|(_, (b, a))| b != a)
        .fold(0, |m, (i, _)| m | 1 << i)
}

/// Refines the scalar operands on one side of a comparison, and every register sharing
/// their ids. Returns false when the side is impossible.
fn refine_scalars(
    st: &mut State,
    width: Width,
    cond: JmpCond,
    holds: bool,
    dst: Reg,
    src: Option<Reg>,
    s: &RegState,
) -> bool {
    let d = *st.reg(dst);
    let mut dv = d.var.view(width);
    let mut sv = s.var.view(width);
    match (holds, cond) {
        (true, c) => refine_views(c, &mut dv, &mut sv),
        (false, JmpCond::Set) => refine_not_set(&mut dv, &sv),
        (false, c) => refine_views(
            negate(c).expect("only Set has no negation"),
            &mut dv,
            &mut sv,
        ),
    }
    let mut ok = refine_reg(st, dst, &d, dv);
    if let Some(r) = src {
        let sreg = *st.reg(r);
        ok &= refine_reg(st, r, &sreg, sv);
    }
    ok
}

/// Narrows register `r` (and registers with its id) with a refined view.
fn refine_reg(st: &mut State, r: Reg, old: &RegState, v: View) -> bool {
    let mut var = old.var;
    var.refine(v);
    if var.is_empty() {
        return false;
    }
    st.reg_mut(r).var = var;
    if old.id != 0 {
        let id = old.id;
        st.for_each_reg(|reg| {
            if reg.ty == RegType::Scalar && reg.id == id {
                reg.var = var;
            }
        });
    }
    true
}

/// After a null check: the null side's copies become the number 0, the other side's the
/// pointer (`mark_ptr_or_null_regs`). A null ring buffer record was never reserved: the
/// null side holds no reference to release.
fn mark_or_null(st: &mut State, ptr: &RegState, null: bool) {
    let (ty, id) = (ptr.ty, ptr.id);
    let non_null = ty.non_null().expect("a pointer that may be null");
    st.for_each_reg(|reg| {
        if reg.ty == ty && reg.id == id {
            *reg = if null {
                RegState::scalar(Scalar::constant(0))
            } else {
                RegState {
                    ty: non_null,
                    ..*reg
                }
            };
        }
    });
    if null {
        st.refs.retain(|&r| r != id);
    }
}

/// Every packet pointer with `ptr`'s id and type gets the range `ptr.off` (one more when
/// the comparison was strict, `range_right_open`) (`find_good_pkt_pointers`).
fn find_good_pkt_pointers(st: &mut State, ptr: &RegState, open: bool) {
    if ptr.off < 0 || (ptr.off == 0 && open) {
        return;
    }
    if ptr.var.umax > MAX_PACKET_OFF || ptr.var.umax + ptr.off as u64 > MAX_PACKET_OFF {
        return;
    }
    let range = ptr.off as u32 + open as u32;
    st.for_each_reg(|reg| {
        if reg.ty == ptr.ty && reg.id == ptr.id {
            reg.range = reg.range.max(range);
        }
    });
}
