//! The abstract interpreter's driver (`do_check` and `is_state_visited`): walks every
//! path from the entry, depth first, one instruction at a time, forking at conditional
//! jumps whose outcome depends on the state, and stops a path where a state already
//! proven safe at the same instruction contains the current one.
//!
//! The instruction semantics live in [`crate::alu`], [`crate::mem`], [`crate::branch`] and
//! [`crate::call`], each an `impl Checker` block.

use crate::cfg::{Cfg, RegSet};
use crate::diag::{Path, Step};
use crate::error::ErrorKind;
use crate::facts::InsnFacts;
use crate::progtype::{Entry, ProgType};
use crate::prune::{fingerprint, states_equal};
use crate::state::{ByteKind, Frame, RegState, RegType, State};
use crate::{bounds::Scalar, MapSpec, VerifierOptions};
use bpfkit_isa::{disasm, Dialect, Insn, Reg};
use std::collections::HashMap;
use std::fmt::Write;

/// A failed rule at the current instruction: the rule and the registers it is about.
#[derive(Debug)]
pub struct Fail {
    pub kind: ErrorKind,
    pub regs: Vec<Reg>,
}

impl Fail {
    pub fn new(kind: ErrorKind, regs: &[Reg]) -> Fail {
        Fail {
            kind,
            regs: regs.to_vec(),
        }
    }
}

/// Shorthand for a rule about `regs`.
pub fn fail<T>(kind: ErrorKind, regs: &[Reg]) -> Result<T, Fail> {
    Err(Fail::new(kind, regs))
}

/// Where a path goes after one instruction.
pub enum Next {
    /// On to this slot.
    Goto(usize),
    /// A conditional jump whose outcome is unknown: the current state continues at
    /// `fall`, `taken` (with its own refined state) is explored later.
    Fork {
        fall: usize,
        target: usize,
        taken: State,
        /// Registers the comparison refined on either side.
        refined: u16,
    },
    /// The program ended (exit from the main function).
    Done,
}

/// One path under exploration.
struct Walker {
    pc: usize,
    state: State,
    path: Path,
    /// Instructions and jumps since a state was last saved on this path.
    since_save: (usize, usize),
}

/// A state saved at a prune point whose every path has been explored: it prunes the
/// visits it contains.
struct Saved {
    state: State,
    /// Visits it pruned and visits it did not: states that rarely prune are dropped.
    hits: u32,
    misses: u32,
}

/// A state saved at a prune point while paths from it are still being explored: an
/// ancestor of the current path. Coming back to it unchanged means an endless loop.
struct Open {
    pc: usize,
    state: State,
    /// [`fingerprint`] of the state: the exact comparison is needed only on a match.
    hash: u64,
    /// Length of the worklist when it was saved: every entry pushed since descends
    /// from it, so it is complete when the worklist is back to this length.
    depth: usize,
}

/// Verification statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instructions processed, over all paths (the kernel's `insn_processed`).
    pub insns_processed: usize,
    /// States saved at prune points.
    pub states_saved: usize,
    /// Paths cut because a saved state contained theirs.
    pub states_pruned: usize,
    /// Deepest stack use of any frame, in bytes.
    pub max_stack_depth: usize,
}

/// A rejection before diagnostics are attached.
pub struct Failure {
    pub pc: usize,
    pub fail: Fail,
    pub state: Option<State>,
    pub path: Path,
}

pub struct Checker<'a> {
    pub insns: &'a [Insn],
    pub cfg: Cfg,
    pub prog: &'a ProgType,
    pub opts: &'a VerifierOptions,
    /// The maps registers may refer to: the options' maps, then a template for the maps
    /// each map of maps holds.
    pub maps: Vec<MapSpec>,
    /// For each map of `maps`, the index of its inner maps' template.
    pub inner: Vec<Option<u32>>,
    /// Slots of calls to helpers that take a callback: loop heads, since the helper
    /// comes back to the call after each run of the callback.
    callback_sites: Vec<bool>,
    /// Per slot, the registers whose numbers matter ([`crate::cfg::precise`]).
    pub precise: Vec<RegSet>,
    /// Complete saved states, per slot.
    saved: Vec<Vec<Saved>>,
    /// Saved states not yet complete, oldest first (they complete last first).
    open: Vec<Open>,
    /// Indexes into `open` by slot and fingerprint.
    open_by_key: HashMap<(usize, u64), Vec<usize>>,
    /// Number of open states per slot.
    open_at: Vec<u32>,
    worklist: Vec<Walker>,
    pub stats: Stats,
    next_id: u32,
    pub facts: Vec<InsnFacts>,
    pub log: Option<String>,
    /// Slot of the instruction being processed.
    pub current_pc: usize,
}

/// Maximum nesting of local calls (`MAX_CALL_FRAMES`).
pub const MAX_CALL_FRAMES: usize = 8;

impl<'a> Checker<'a> {
    pub fn new(
        insns: &'a [Insn],
        mut cfg: Cfg,
        prog: &'a ProgType,
        opts: &'a VerifierOptions,
    ) -> Self {
        let len = cfg.len();
        let mut callback_sites = vec![false; len];
        for (pc, insn) in bpfkit_isa::with_pcs(insns) {
            if let Insn::Call { imm } = insn {
                let proto = crate::helpers::resolve(&opts.helpers, *imm);
                if proto.is_some_and(|p| p.args.contains(&crate::helpers::Arg::Func)) {
                    callback_sites[pc] = true;
                    cfg.prune[pc] = true;
                }
            }
        }
        let precise = crate::cfg::precise(insns, &cfg, prog.ret_range.is_some());
        let mut maps = opts.maps.clone();
        let mut inner = vec![None; maps.len()];
        for (i, m) in opts.maps.iter().enumerate() {
            if let Some(template) = &m.inner {
                inner[i] = Some(maps.len() as u32);
                maps.push((**template).clone());
                inner.push(None);
            }
        }
        // A device map's lookup points at the map's own entry (Linux's `dev_map_init_map`
        // creates the map `BPF_F_RDONLY_PROG` for that), an XSK map's at a socket whose
        // fields programs may only read: no program writes through either.
        for map in &mut maps {
            if matches!(
                map.map_type,
                crate::helpers::map_types::DEVMAP
                    | crate::helpers::map_types::DEVMAP_HASH
                    | crate::helpers::map_types::XSKMAP
            ) {
                map.flags |= crate::helpers::map_flags::BPF_F_RDONLY_PROG;
            }
        }
        Checker {
            insns,
            cfg,
            prog,
            opts,
            maps,
            inner,
            callback_sites,
            precise,
            saved: (0..len).map(|_| Vec::new()).collect(),
            open: Vec::new(),
            open_by_key: HashMap::new(),
            open_at: vec![0; len],
            worklist: Vec::new(),
            stats: Stats::default(),
            next_id: 0,
            facts: vec![InsnFacts::default(); len],
            log: opts.log.then(String::new),
            current_pc: 0,
        }
    }

    /// A fresh id for pointers and scalars that share facts.
    pub fn new_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// The state on entry: r1 (and r2 for 'memory') per the program type, r10 the frame
    /// pointer, everything else uninitialized.
    fn initial_state(&mut self) -> State {
        let mut frame = Frame::new(0, 0);
        let mut buffer_len = None;
        match self.prog.entry {
            Entry::Context(_) => frame.regs[1] = RegState::pointer(RegType::PtrToCtx),
            Entry::Buffer => {
                frame.regs[1] = RegState::pointer(RegType::PtrToPacket);
                let len = RegState {
                    id: self.new_id(),
                    ..RegState::scalar(Scalar::unknown())
                };
                frame.regs[2] = len;
                buffer_len = Some(len);
            }
        }
        State {
            frames: vec![frame],
            buffer_len,
            refs: Vec::new(),
            lock: None,
        }
    }

    /// Explores every path; the first broken rule ends verification.
    pub fn run(&mut self) -> Result<(), Box<Failure>> {
        let state = self.initial_state();
        let mut current = Some(Walker {
            pc: 0,
            state,
            path: Path::default(),
            since_save: (0, 0),
        });
        while let Some(mut w) = current.take().or_else(|| self.worklist.pop()) {
            self.walk(&mut w)?;
            self.path_ended();
        }
        Ok(())
    }

    /// Follows one path until it exits or is pruned, pushing the other sides of forks.
    fn walk(&mut self, w: &mut Walker) -> Result<(), Box<Failure>> {
        let failure = |w: &Walker, fail: Fail, state: Option<State>| {
            Box::new(Failure {
                pc: w.pc,
                fail,
                state,
                path: w.path.clone(),
            })
        };
        if let Some(log) = &mut self.log {
            let regs = regs_text(&w.state, None);
            let _ = match w.path.last() {
                Some(step) => writeln!(log, "from {} to {}:{regs}", step.pc, w.pc),
                None => writeln!(log, "{}:{regs}", w.pc),
            };
        }
        loop {
            if self.cfg.prune[w.pc] {
                match self.visit(w) {
                    Ok(true) => return Ok(()),
                    Ok(false) => {}
                    Err(f) => return Err(failure(w, f, Some(w.state.clone()))),
                }
            }
            self.stats.insns_processed += 1;
            if self.stats.insns_processed > self.opts.max_insns {
                let kind = ErrorKind::TooComplex {
                    limit: self.opts.max_insns,
                };
                return Err(failure(w, Fail::new(kind, &[]), None));
            }
            let insn = *self
                .cfg
                .insn(self.insns, w.pc)
                .expect("paths stay on instructions");
            let before = self.log.is_some().then(|| w.state.cur().regs);
            self.current_pc = w.pc;
            self.record_facts(w.pc, &insn, &w.state);
            let next = self.step(&mut w.state, w.pc, &insn);
            if let (Some(log), Some(before)) = (&mut self.log, before) {
                let text = disasm::format_insn(&insn, Dialect::Generic);
                let changed = regs_text(&w.state, Some(&before));
                let _ = writeln!(log, "{}: {text:<36};{changed}", w.pc);
            }
            let next = next.map_err(|f| failure(w, f, Some(w.state.clone())))?;
            w.since_save.0 += 1;
            match next {
                Next::Goto(pc) => {
                    if pc != w.pc + insn.slots() {
                        w.since_save.1 += 1;
                    }
                    w.path = w.path.push(Step {
                        pc: w.pc,
                        taken: None,
                        refined: 0,
                    });
                    w.pc = pc;
                }
                Next::Fork {
                    fall,
                    target,
                    taken,
                    refined,
                } => {
                    w.since_save.1 += 1;
                    self.worklist.push(Walker {
                        pc: target,
                        state: taken,
                        path: w.path.push(Step {
                            pc: w.pc,
                            taken: Some(true),
                            refined,
                        }),
                        since_save: w.since_save,
                    });
                    w.path = w.path.push(Step {
                        pc: w.pc,
                        taken: Some(false),
                        refined,
                    });
                    w.pc = fall;
                }
                Next::Done => return Ok(()),
            }
        }
    }

    /// At a prune point: prunes the path if a complete saved state contains the current
    /// one, rejects a loop that came back to an identical state, and saves the state
    /// (`is_state_visited`). Returns whether to stop the path.
    fn visit(&mut self, w: &mut Walker) -> Result<bool, Fail> {
        let (live, precise) = self.live_sets(&w.state, w.pc);
        let callback_site = self.callback_sites[w.pc];
        if callback_site {
            // Back at a helper call after a run of its callback (or at it for the first
            // time). The helper bounds the runs, so coming back to an ancestor's state
            // is no endless loop: that ancestor's paths cover the current one's.
            let ancestors = || self.open.iter().filter(|o| o.pc == w.pc);
            if ancestors().any(|o| states_equal(&o.state, &w.state, &live, &precise, false)) {
                self.stats.states_pruned += 1;
                return Ok(true);
            }
            // Numbers a run of the callback changed may change on every run: they are
            // widened to any value, so that the runs converge (`widen_imprecise_scalars`,
            // with every number taken as imprecise).
            if let Some(last) = ancestors().next_back() {
                widen_scalars(&last.state, &mut w.state);
            }
        }
        let hash = fingerprint(&w.state, &live);
        if let Some(ancestors) = self.open_by_key.get(&(w.pc, hash)) {
            if !callback_site
                && ancestors
                    .iter()
                    .any(|&i| states_equal(&self.open[i].state, &w.state, &live, &precise, true))
            {
                return fail(ErrorKind::InfiniteLoop, &[]);
            }
        }
        let saved = &mut self.saved[w.pc];
        let mut i = 0;
        while i < saved.len() {
            if states_equal(&saved[i].state, &w.state, &live, &precise, false) {
                saved[i].hits += 1;
                self.stats.states_pruned += 1;
                if let Some(log) = &mut self.log {
                    let _ = writeln!(log, "{}: safe", w.pc);
                }
                return Ok(true);
            }
            saved[i].misses += 1;
            // Like the kernel, forget states that keep failing to prune, so that visits
            // do not compare against all of them.
            if saved[i].misses > saved[i].hits * 3 + 3 {
                saved.swap_remove(i);
            } else {
                i += 1;
            }
        }
        // Like the kernel, save only every so often within a path (but always on a first
        // visit), to bound memory on long loops.
        let (insns, jumps) = w.since_save;
        let first = self.saved[w.pc].is_empty() && self.open_at[w.pc] == 0;
        if first || callback_site || (insns >= 8 && jumps >= 2) {
            self.open_by_key
                .entry((w.pc, hash))
                .or_default()
                .push(self.open.len());
            self.open.push(Open {
                pc: w.pc,
                state: w.state.clone(),
                hash,
                depth: self.worklist.len(),
            });
            self.open_at[w.pc] += 1;
            self.stats.states_saved += 1;
            w.since_save = (0, 0);
        }
        Ok(false)
    }

    /// The live registers of each frame of `state` at `pc` (the innermost frame's at `pc`,
    /// each caller's where it resumes), and those of them whose numbers matter
    /// ([`crate::cfg::precise`]).
    fn live_sets(
        &self,
        state: &State,
        pc: usize,
    ) -> ([RegSet; MAX_CALL_FRAMES], [RegSet; MAX_CALL_FRAMES]) {
        let n = state.frames.len();
        let mut live = [0; MAX_CALL_FRAMES];
        let mut precise = [0; MAX_CALL_FRAMES];
        for i in 0..n {
            let at = if i + 1 == n {
                pc
            } else {
                // A callback's caller resumes at the helper call, which runs again.
                let callee = &state.frames[i + 1];
                callee.callsite + usize::from(!callee.callback)
            };
            live[i] = self.cfg.live[at];
            precise[i] = self.precise[at];
        }
        (live, precise)
    }

    /// A path ended: saved states whose every descendant has been explored are complete.
    fn path_ended(&mut self) {
        let pending = self.worklist.len();
        while self.open.last().is_some_and(|o| o.depth >= pending) {
            let open = self.open.pop().expect("checked");
            let key = (open.pc, open.hash);
            let ancestors = self.open_by_key.get_mut(&key).expect("indexed when saved");
            ancestors.pop();
            if ancestors.is_empty() {
                self.open_by_key.remove(&key);
            }
            self.open_at[open.pc] -= 1;
            self.saved[open.pc].push(Saved {
                state: open.state,
                hits: 0,
                misses: 0,
            });
        }
    }

    /// Executes one instruction abstractly.
    fn step(&mut self, st: &mut State, pc: usize, insn: &Insn) -> Result<Next, Fail> {
        let next = pc + insn.slots();
        match *insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.check_alu(st, width, op, dst, src)?,
            Insn::Neg { width, dst } => self.check_neg(st, width, dst)?,
            Insn::End { kind, bits, dst } => self.check_end(st, kind, bits, dst)?,
            Insn::Ja { .. } | Insn::JaLong { .. } => {
                return Ok(Next::Goto(crate::cfg::target(insn, pc)))
            }
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                ..
            } => return self.check_cond_jmp(st, pc, width, cond, dst, src),
            Insn::Call { imm } => return self.check_helper_call(st, pc, imm),
            Insn::CallLocal { .. } => {
                return self.check_local_call(st, pc, crate::cfg::target(insn, pc))
            }
            Insn::Exit => return self.check_exit(st),
            Insn::Lddw {
                dst,
                kind,
                imm,
                next_imm,
            } => self.check_lddw(st, dst, kind, imm, next_imm)?,
            Insn::LdAbs { size, .. } => self.check_ld_abs(st, size, None)?,
            Insn::LdInd { size, src, .. } => self.check_ld_abs(st, size, Some(src))?,
            Insn::Ldx {
                size,
                sx,
                dst,
                src,
                off,
            } => self.check_load(st, size, sx, dst, src, off)?,
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => self.check_store(st, size, dst, None, off, imm)?,
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => self.check_store(st, size, dst, Some(src), off, 0)?,
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => self.check_atomic(st, size, op, dst, src, off)?,
            Insn::CallKfunc { .. } => {
                return fail(ErrorKind::Unsupported("kfunc calls"), &[]);
            }
            Insn::Callx { .. } => {
                return fail(ErrorKind::Unsupported("indirect calls (callx)"), &[]);
            }
        }
        Ok(Next::Goto(next))
    }

    /// Reads a register that must be initialized (`check_reg_arg` with `SRC_OP`).
    pub fn read_reg(&self, st: &State, r: Reg) -> Result<RegState, Fail> {
        let reg = *st.reg(r);
        if reg.ty == RegType::NotInit {
            return fail(ErrorKind::UninitRegister { reg: r }, &[r]);
        }
        Ok(reg)
    }

    /// Checks a register may be written (`check_reg_arg` with `DST_OP`): not r10.
    pub fn check_writable(&self, r: Reg) -> Result<(), Fail> {
        if r == Reg::R10 {
            return fail(ErrorKind::FramePointerWrite, &[r]);
        }
        Ok(())
    }
}

/// Makes every scalar of `cur` (register or spilled) that differs from the same one in
/// `old` an unknown number.
fn widen_scalars(old: &State, cur: &mut State) {
    for (fo, fc) in old.frames.iter().zip(&mut cur.frames) {
        for (o, c) in fo.regs.iter().zip(&mut fc.regs) {
            if o.ty == RegType::Scalar && c.ty == RegType::Scalar && o.var != c.var {
                *c = RegState::scalar(Scalar::unknown());
            }
        }
        for (so, sc) in fo.slots.iter().zip(&mut fc.slots) {
            let size = sc
                .bytes
                .iter()
                .take_while(|&&b| b == ByteKind::Spill)
                .count();
            if let (Some(o), Some(c)) = (&so.spilled, &mut sc.spilled) {
                if o.ty == RegType::Scalar && c.ty == RegType::Scalar && o.var != c.var {
                    *c = crate::mem::loaded(size);
                }
            }
        }
    }
}

/// The registers of the innermost frame as the kernel's log prints them (` R1=ctx(off=0)`):
/// all initialized ones but r10, or only those that differ from `before`.
fn regs_text(st: &State, before: Option<&[RegState; Reg::COUNT]>) -> String {
    let mut out = String::new();
    for (i, r) in st.cur().regs.iter().enumerate() {
        let show = match before {
            Some(b) => b[i] != *r && r.ty != RegType::NotInit,
            None => r.ty != RegType::NotInit && i != 10,
        };
        if show {
            let _ = write!(out, " R{i}={r}");
        }
    }
    out
}
