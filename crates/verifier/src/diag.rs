//! Rejections a person can act on: where, what, why in plain words, the state of the
//! registers involved, and the slice of the path that produced that state (only the
//! instructions and branch decisions the offending registers depend on).

use crate::cfg::{uses_defs, Cfg, RegSet};
use crate::error::ErrorKind;
use crate::state::State;
use bpfkit_isa::{disasm, Dialect, Insn, Reg};
use std::collections::HashSet;
use std::fmt;
use std::rc::Rc;

/// One processed instruction of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub pc: usize,
    /// For a conditional jump, whether it was taken.
    pub taken: Option<bool>,
    /// For a conditional jump, the registers its outcome refined on either side.
    pub refined: RegSet,
}

/// A path from the entry, shared between the paths that fork from it.
#[derive(Clone, Debug, Default)]
pub struct Path(Option<Rc<Node>>);

#[derive(Debug)]
struct Node {
    step: Step,
    prev: Path,
}

impl Path {
    /// This path followed by `step`.
    pub fn push(&self, step: Step) -> Path {
        Path(Some(Rc::new(Node {
            step,
            prev: self.clone(),
        })))
    }

    /// The newest step.
    pub fn last(&self) -> Option<Step> {
        self.0.as_ref().map(|n| n.step)
    }

    /// The steps, newest first.
    fn rev_steps(&self) -> impl Iterator<Item = Step> + '_ {
        let mut cur = self.0.as_deref();
        std::iter::from_fn(move || {
            let node = cur?;
            cur = node.prev.0.as_deref();
            Some(node.step)
        })
    }
}

impl Drop for Node {
    // Long paths would otherwise drop recursively, one stack frame per step.
    fn drop(&mut self) {
        let mut next = self.prev.0.take();
        while let Some(rc) = next {
            match Rc::try_unwrap(rc) {
                Ok(mut node) => next = node.prev.0.take(),
                Err(_) => break,
            }
        }
    }
}

/// One instruction of a rejection's path slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceStep {
    pub pc: usize,
    /// The instruction's disassembly.
    pub text: String,
    /// For a conditional jump, whether the path took it.
    pub taken: Option<bool>,
}

/// Why a program was rejected, with everything needed to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Slot index of the offending instruction.
    pub pc: usize,
    /// Its disassembly (llvm-objdump's text), when it is an instruction.
    pub insn: Option<String>,
    /// The broken rule.
    pub kind: ErrorKind,
    /// The kernel verifier's message for the same rule.
    pub kernel_message: String,
    /// One sentence in plain words.
    pub reason: String,
    /// A suggested fix, when there is a usual one.
    pub hint: Option<String>,
    /// The registers involved, with their abstract values just before the instruction.
    pub registers: Vec<(Reg, String)>,
    /// The instructions and branch decisions that produced the offending state, oldest
    /// first.
    pub slice: Vec<SliceStep>,
    /// Instructions processed before the rejection.
    pub insns_processed: usize,
    /// The kernel-style trace, when asked for.
    pub log: Option<String>,
}

/// Most steps a slice shows (the newest ones).
const MAX_SLICE: usize = 40;

#[allow(clippy::too_many_arguments)]
pub(crate) fn rejection(
    insns: &[Insn],
    cfg: Option<&Cfg>,
    prog_type: &str,
    pc: usize,
    kind: ErrorKind,
    regs: &[Reg],
    state: Option<&State>,
    path: &Path,
) -> Rejection {
    let insn = cfg.and_then(|c| c.insn(insns, pc));
    let registers = state
        .map(|st| regs.iter().map(|&r| (r, st.reg(r).to_string())).collect())
        .unwrap_or_default();
    let slice = cfg
        .map(|c| match kind {
            // Nothing on the path wrote the register: the branch decisions that steered
            // around the writes are the explanation.
            ErrorKind::UninitRegister { .. } => decisions(insns, c, path),
            _ => slice(insns, c, path, regs),
        })
        .unwrap_or_default();
    Rejection {
        pc,
        insn: insn.map(|i| disasm::format_insn(i, Dialect::Generic)),
        kernel_message: kind.kernel_message(),
        reason: kind.reason(),
        hint: kind.hint(prog_type),
        kind,
        registers,
        slice,
        insns_processed: 0,
        log: None,
    }
}

/// The steps of `path` the registers `regs` depend on: walking back, an instruction is
/// kept when it writes a wanted register (which then stops being wanted and its inputs
/// start), or when it is a conditional jump on a wanted register. Stack slots written
/// through `r10` and read back are followed too.
fn slice(insns: &[Insn], cfg: &Cfg, path: &Path, regs: &[Reg]) -> Vec<SliceStep> {
    let mut wanted: RegSet = regs.iter().fold(0, |m, r| m | 1 << r.num());
    let mut wanted_stack: HashSet<i64> = HashSet::new();
    let mut out = Vec::new();
    for step in path.rev_steps() {
        if wanted == 0 && wanted_stack.is_empty() || out.len() == MAX_SLICE {
            break;
        }
        let Some(insn) = cfg.insn(insns, step.pc) else {
            continue;
        };
        let (uses, defs) = uses_defs(insn);
        let keep = match *insn {
            // A comparison explains the registers it refined (a packet bounds check
            // refines every copy of the pointer, not only its operands).
            Insn::Jmp { .. } if (uses | step.refined) & wanted != 0 => {
                wanted |= uses;
                true
            }
            Insn::Jmp { .. } => false,
            Insn::Stx {
                dst: Reg::R10,
                src,
                off,
                ..
            } if wanted_stack.remove(&(off as i64)) => {
                wanted |= 1 << src.num();
                true
            }
            Insn::St {
                dst: Reg::R10, off, ..
            } => wanted_stack.remove(&(off as i64)),
            Insn::Ldx {
                dst,
                src: Reg::R10,
                off,
                ..
            } if wanted & 1 << dst.num() != 0 => {
                wanted &= !(1 << dst.num());
                wanted_stack.insert(off as i64);
                true
            }
            _ if defs & wanted != 0 => {
                wanted = (wanted & !defs) | uses;
                true
            }
            _ => false,
        };
        if keep {
            out.push(SliceStep {
                pc: step.pc,
                text: disasm::format_insn(insn, Dialect::Generic),
                taken: step.taken,
            });
        }
    }
    out.reverse();
    out
}

/// The conditional jumps of `path` and which way each went, oldest first (at most the
/// newest [`MAX_SLICE`]).
fn decisions(insns: &[Insn], cfg: &Cfg, path: &Path) -> Vec<SliceStep> {
    let mut out: Vec<SliceStep> = path
        .rev_steps()
        .filter(|s| s.taken.is_some())
        .take(MAX_SLICE)
        .filter_map(|s| {
            let insn = cfg.insn(insns, s.pc)?;
            Some(SliceStep {
                pc: s.pc,
                text: disasm::format_insn(insn, Dialect::Generic),
                taken: s.taken,
            })
        })
        .collect();
    out.reverse();
    out
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.insn {
            Some(text) => writeln!(f, "rejected at instruction {}: {text}", self.pc)?,
            None => writeln!(f, "rejected at instruction {}", self.pc)?,
        }
        writeln!(f, "  reason: {}", self.reason)?;
        writeln!(f, "  kernel: {}", self.kernel_message)?;
        if !self.registers.is_empty() {
            writeln!(f, "  registers:")?;
            for (r, v) in &self.registers {
                writeln!(f, "    {r} = {v}")?;
            }
        }
        if !self.slice.is_empty() {
            writeln!(f, "  how it got there:")?;
            for s in &self.slice {
                let decision = match s.taken {
                    Some(true) => "  (taken)",
                    Some(false) => "  (not taken)",
                    None => "",
                };
                writeln!(f, "    {:>5}: {}{decision}", s.pc, s.text)?;
            }
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}
