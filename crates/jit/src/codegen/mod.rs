//! Code generation: one pass over the instructions, then the jump displacements and the
//! out-of-line fault stubs are patched in.
//!
//! Layout of the generated code:
//! - the prologue (`entry`): saves the host's callee-saved registers, loads r1..r5, r10
//!   and the counter from the context and `call`s the address it is given (the first
//!   instruction, or a function a helper calls back), so that every BPF `exit` is a plain
//!   `ret`, at any call depth;
//! - the shared exits (`exit_ok`, `exit_common`, `packet_out`) and the slow path of bounds
//!   checks (`check_common`);
//! - one piece of code per instruction, in program order;
//! - a fall-off-the-end fault, then the fault stubs, one per site that can fault.
//!
//! Instruction counting is exact and cheap: the program is cut into segments that are
//! entered only at their first instruction and left only after their last (jumps, calls,
//! `exit`, legacy packet loads, helper calls end one; jump and call targets and function
//! addresses start one). Each segment
//! adds its length to the counter register on entry, so at every jump or call the
//! counter equals the interpreter's count. `callx` may enter anywhere; it adds the rest
//! of the segment from a table.

mod alu;
mod flow;
mod lookup;
mod mem;

use crate::emit::{mem as m, Arith, Cc, Emitter, Rel32, Rm, Sz, R};
use crate::regs::{self, COUNT, CTX, T0};
use crate::runtime::{self, ctx_off, kind, Tables};
use crate::{JitOptions, ProvenRegion};
use bpfkit_isa::{with_pcs, Insn, LddwKind, Reg};
use bpfkit_vm::interp::FUNC_ADDR_BASE;
use bpfkit_vm::{Helper, Helpers, PrepareError, PrepareErrorKind};
use std::hash::{BuildHasher, Hasher};

/// The output of code generation.
pub(crate) struct Compiled {
    pub code: Vec<u8>,
    /// Per slot (and one past the end): offset of the instruction's code, including the
    /// segment's counter update.
    pub starts: Vec<u32>,
    /// Per slot: offset after the counter update, and the count a `callx` landing there
    /// adds; `None` for the second slot of an lddw.
    pub bodies: Vec<Option<(u32, u64)>>,
    /// Offset of the fault stubs (the end of the program's own code).
    pub stubs_at: u32,
    /// Accesses emitted without a bounds check.
    pub unchecked: usize,
}

/// Where an out-of-line stub goes and what it does.
enum StubKind {
    /// Store `pc` and the fault kind (and `arg`'s value) and leave.
    Fault { kind: u64, arg: Option<R> },
    /// Store `pc` (a Rust function already stored the fault) and leave.
    RustFault,
    /// The slow path of a bounds check of the access at `at`: try the other fast region
    /// (context offsets of its start and bound), then ask Rust, then continue at `back`.
    SlowCheck {
        at: Rm,
        other: (i32, i32),
        code: u64,
        back: usize,
    },
}

struct Stub {
    jump: Rel32,
    pc: usize,
    kind: StubKind,
}

/// Fixed positions in the prologue area.
struct Shared {
    exit_common: usize,
    exit_ok: usize,
    packet_out: usize,
    check_common: usize,
}

pub(crate) struct Compiler<'a> {
    e: Emitter,
    /// The program's tables, at the address the code refers to (the function table is
    /// filled once the code is mapped).
    tables: &'a Tables,
    /// Jumps and calls to instructions: displacement, target slot.
    jumps: Vec<(Rel32, usize)>,
    stubs: Vec<Stub>,
    shared: Shared,
    nslots: usize,
    blinding: Option<u64>,
    /// Per slot, the BPF registers (bit per register) that probably point into the stack
    /// there, and (shifted by [`CTX_LANE`]) those that probably hold the context pointer
    /// (r1 at entry); see [`pointer_guess`].
    pointers: Vec<u32>,
    /// Per slot, the region verification proved the access in bounds of, if any.
    proven: Option<&'a [Option<ProvenRegion>]>,
    /// Accesses emitted without a bounds check so far.
    unchecked: usize,
}

/// Compiles a program that `interp::validate` accepted, cut into `segments`, whose
/// helpers, function table and direct map lookups are `tables`.
pub(crate) fn compile<'a>(
    insns: &'a [Insn],
    segments: &Segments,
    tables: &'a Tables,
    opts: JitOptions<'a>,
) -> Result<Compiled, PrepareError> {
    let Segments {
        nslots,
        ref leader,
        ref rem,
    } = *segments;
    let mut c = Compiler {
        e: Emitter::with_capacity(64 + insns.len() * 24),
        tables,
        jumps: Vec::new(),
        stubs: Vec::new(),
        shared: Shared {
            exit_common: 0,
            exit_ok: 0,
            packet_out: 0,
            check_common: 0,
        },
        nslots,
        pointers: pointer_guess(insns, nslots),
        proven: opts.proven.and_then(|p| p.for_program(insns)),
        unchecked: 0,
        blinding: opts.blinding.then(|| {
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        }),
    };
    c.prologue();
    let mut starts = vec![0u32; nslots + 1];
    let mut bodies = vec![None; nslots];
    let has_callx = insns.iter().any(|i| matches!(i, Insn::Callx { .. }));
    // Instructions still covered by the code of a fused sequence before them.
    let mut covered = 0;
    for (k, (pc, insn)) in with_pcs(insns).enumerate() {
        starts[pc] = c.e.pos() as u32;
        if leader[pc] {
            c.e.arith_ri(Sz::Q, Arith::Add, Rm::Reg(COUNT), rem[pc] as i32);
        }
        bodies[pc] = Some((c.e.pos() as u32, rem[pc]));
        if covered > 0 {
            covered -= 1;
        } else if let Some((n, d, s)) = (!has_callx)
            .then(|| alu::zero_extension(&insns[k..], pc, leader))
            .flatten()
        {
            // A callx could enter the middle of the sequence: only without callx.
            c.e.mov_rr(Sz::W, d, s);
            covered = n - 1;
        } else {
            c.insn(pc, insn).map_err(|kind| PrepareError { pc, kind })?;
        }
    }
    starts[nslots] = c.e.pos() as u32;
    let j = c.e.jmp32();
    c.stub(
        j,
        nslots,
        StubKind::Fault {
            kind: kind::FELL_OFF,
            arg: None,
        },
    );
    let stubs_at = c.e.pos() as u32;
    for &(j, target) in &c.jumps {
        c.e.patch(j, starts[target] as usize);
    }
    c.emit_stubs();
    Ok(Compiled {
        code: c.e.code,
        starts,
        bodies,
        stubs_at,
        unchecked: c.unchecked,
    })
}

/// The tables of `insns`, cut into `segments`: the helpers it calls (`helpers`, as
/// validation resolved them against `registry`), a function table of one empty entry per
/// slot, and the map lookups compiled without the helper.
pub(crate) fn tables(
    insns: &[Insn],
    segments: &Segments,
    helpers: Vec<(i32, Helper)>,
    registry: &Helpers,
) -> Tables {
    let (lookups, value_regions, inlines_percpu) =
        lookup::direct_lookups(insns, registry, &segments.leader);
    Tables {
        helpers,
        functions: vec![[0, 0]; segments.nslots].into_boxed_slice(),
        start: 0,
        lookups,
        value_regions,
        inlines_percpu,
    }
}

/// Where the context guess starts in a set of [`pointer_guess`]: bit `CTX_LANE + r` for
/// register `r`; bit `r` is the stack guess.
pub(super) const CTX_LANE: u32 = 16;
/// A register's bit in both guesses.
const BOTH: u32 = 1 | 1 << CTX_LANE;

fn both(r: Reg) -> u32 {
    BOTH << r.index()
}

/// The registers that may hold a pointer into the stack or to the context after `insn`,
/// given those that may before (both guesses at once, bit by bit as in [`CTX_LANE`]):
/// moves from such a register and additions to one keep the property, any other write
/// loses it.
fn track_pointers(set: u32, insn: &Insn) -> u32 {
    use bpfkit_isa::{AluOp, Operand, Width};
    match *insn {
        Insn::Alu {
            width: Width::W64,
            op,
            dst,
            src,
        } => match (op, src) {
            // Each guess gets dst where it had src.
            (AluOp::Mov, Operand::Reg(s)) => {
                set & !both(dst) | (set >> s.index() & BOTH) << dst.index()
            }
            (AluOp::Add | AluOp::Sub, _) => set,
            _ => set & !both(dst),
        },
        Insn::Alu { dst, .. }
        | Insn::Neg { dst, .. }
        | Insn::End { dst, .. }
        | Insn::Lddw { dst, .. }
        | Insn::Ldx { dst, .. } => set & !both(dst),
        Insn::Atomic { src, .. } => set & !both(src) & !both(Reg::R0),
        Insn::Call { .. } => set & !both(Reg::R0),
        _ => set,
    }
}

/// Per slot, the registers that may hold a pointer into the stack, and those that may hold
/// the context pointer, on entry (as in [`CTX_LANE`]): those holding one at the program's
/// entry (r10, r1), and registers computed from such a register on some path to the slot
/// (a forward data flow over the jumps, iterated until stable). It only chooses which
/// region a bounds check tries first, so it need not be exact: local calls are assumed to
/// clobber r0..r5 (leaving r10 in the stack guess), and `callx` targets get nothing.
fn pointer_guess(insns: &[Insn], nslots: usize) -> Vec<u32> {
    let fp = 1 << Reg::R10.index();
    let mut at = vec![0u32; nslots + 1];
    at[0] = fp | 1 << (CTX_LANE + Reg::R1.index() as u32);
    let clobbered = 0x3f * BOTH;
    // Each pass only adds bits (at most 22 per slot), so this ends.
    let mut changed = true;
    while changed {
        changed = false;
        let mut cur = 0u32;
        for (pc, insn) in with_pcs(insns) {
            if at[pc] | cur != at[pc] {
                at[pc] |= cur;
                changed = true;
            }
            cur = at[pc];
            let out = track_pointers(cur, insn);
            if let Some(off) = insn.branch_offset() {
                let t = (pc as i64 + off + 1) as usize;
                let into = if matches!(insn, Insn::CallLocal { .. }) {
                    cur
                } else {
                    out
                };
                if at[t] | into != at[t] {
                    at[t] |= into;
                    changed = true;
                }
            }
            cur = match insn {
                Insn::Ja { .. } | Insn::JaLong { .. } | Insn::Exit => 0,
                Insn::CallLocal { .. } | Insn::Callx { .. } => (cur & !clobbered) | fp,
                _ => out,
            };
        }
    }
    at
}

/// Whether an instruction ends a counting segment.
fn ends_segment(insn: &Insn) -> bool {
    matches!(
        insn,
        Insn::Ja { .. }
            | Insn::JaLong { .. }
            | Insn::Jmp { .. }
            | Insn::CallLocal { .. }
            | Insn::Callx { .. }
            | Insn::Exit
            | Insn::LdAbs { .. }
            | Insn::LdInd { .. }
            // The counter is exact at a helper call: a function it calls back counts on
            // from there, and a tail call leaves.
            | Insn::Call { .. }
    )
}

/// A program cut into its counting segments (see the module's docs), once for both the
/// tables and the code.
pub(crate) struct Segments {
    /// Slots of the program.
    nslots: usize,
    /// Per slot (and one past the end): whether a segment starts there.
    leader: Vec<bool>,
    /// Per slot: the number of instructions from there to the end of its segment.
    rem: Vec<u64>,
}

impl Segments {
    pub(crate) fn of(insns: &[Insn]) -> Segments {
        let nslots = insns.iter().map(Insn::slots).sum();
        let (leader, rem) = segments(insns, nslots);
        Segments {
            nslots,
            leader,
            rem,
        }
    }
}

/// Per slot: whether a segment starts there, and the number of instructions from there
/// to the end of its segment.
fn segments(insns: &[Insn], nslots: usize) -> (Vec<bool>, Vec<u64>) {
    let mut leader = vec![false; nslots + 1];
    leader[0] = true;
    for (pc, insn) in with_pcs(insns) {
        if let Some(off) = insn.branch_offset() {
            // Checked by the interpreter's preparation: inside the program.
            leader[(pc as i64 + off + 1) as usize] = true;
        }
        if ends_segment(insn) {
            leader[pc + 1] = true;
        }
        if let Insn::Lddw {
            kind: LddwKind::Func,
            imm,
            ..
        } = *insn
        {
            // A function a helper may call back; checked by the interpreter's preparation.
            leader[(pc as i64 + imm as i64 + 1) as usize] = true;
        }
    }
    let mut rem = vec![0u64; nslots + 1];
    let mut pc = nslots;
    for insn in insns.iter().rev() {
        let next = pc;
        pc -= insn.slots();
        rem[pc] = 1 + if ends_segment(insn) || leader[next] {
            0
        } else {
            rem[next]
        };
    }
    (leader, rem)
}

impl Compiler<'_> {
    /// Emits the entry and the shared exits.
    fn prologue(&mut self) {
        let e = &mut self.e;
        for r in [R::RBX, R::RBP, R::R12, R::R13, R::R14, R::R15] {
            e.push(r);
        }
        e.lea(CTX, m(R::RDI, runtime::CTX_BIAS));
        e.store(Sz::Q, m(CTX, ctx_off!(saved_rsp)), R::RSP);
        e.load(Sz::Q, R::RBP, m(CTX, ctx_off!(stack_top)));
        e.mov_rr(Sz::Q, T0, R::RSI);
        for (i, r) in [R::RDI, R::RSI, R::RDX, R::RCX, R::R8]
            .into_iter()
            .enumerate()
        {
            e.load(Sz::Q, r, m(CTX, ctx_off!(args) + 8 * i as i32));
        }
        for r in [R::RAX, R::RBX, R::R13, R::R14, R::R15] {
            e.mov_imm64(r, 0);
        }
        e.load(Sz::Q, COUNT, m(CTX, ctx_off!(insns)));
        e.call_r(T0);
        self.shared.exit_ok = e.pos();
        e.store(Sz::Q, m(CTX, ctx_off!(insns)), COUNT);
        self.shared.exit_common = e.pos();
        e.load(Sz::Q, R::RSP, m(CTX, ctx_off!(saved_rsp)));
        for r in [R::R15, R::R14, R::R13, R::R12, R::RBP, R::RBX] {
            e.pop(r);
        }
        e.ret();

        // A legacy packet load out of range ends the program with r0 = 0.
        self.shared.packet_out = e.pos();
        e.mov_imm64(R::RAX, 0);
        let j = e.jmp32();
        e.patch(j, self.shared.exit_ok);

        // The slow path of bounds checks: address in T1, `check_code` in T0. Preserves
        // every register but T0 and flags; leaves the program if the access is refused.
        self.shared.check_common = e.pos();
        let saved = [
            R::RAX,
            R::RDI,
            R::RSI,
            R::RDX,
            R::RCX,
            R::R8,
            R::R9,
            regs::T1,
        ];
        for r in saved {
            e.push(r);
        }
        // Eight pushes after the call's return address: realign to 16 for the call.
        e.arith_ri(Sz::Q, Arith::Sub, Rm::Reg(R::RSP), 8);
        e.lea(R::RDI, m(CTX, -runtime::CTX_BIAS));
        e.mov_rr(Sz::Q, R::RSI, regs::T1);
        e.mov_rr(Sz::Q, R::RDX, T0);
        e.mov_imm64(R::RAX, runtime::check_access as *const () as u64);
        e.call_r(R::RAX);
        e.mov_rr(Sz::Q, T0, R::RAX);
        e.arith_ri(Sz::Q, Arith::Add, Rm::Reg(R::RSP), 8);
        for r in saved.into_iter().rev() {
            e.pop(r);
        }
        e.test_rr(Sz::Q, T0, T0);
        let j = e.jcc32(Cc::Ne);
        e.patch(j, self.shared.exit_common);
        e.ret();
    }

    /// Records a stub for the fault (or slow path) reached through `jump`.
    fn stub(&mut self, jump: Rel32, pc: usize, kind: StubKind) {
        self.stubs.push(Stub { jump, pc, kind });
    }

    /// `jcc` to a new fault stub.
    fn fault_if(&mut self, cc: Cc, pc: usize, kind: u64, arg: Option<R>) {
        let j = self.e.jcc32(cc);
        self.stub(j, pc, StubKind::Fault { kind, arg });
    }

    fn emit_stubs(&mut self) {
        let stubs = std::mem::take(&mut self.stubs);
        for s in &stubs {
            self.e.bind(s.jump);
            match s.kind {
                StubKind::SlowCheck {
                    at,
                    other: (start, lim),
                    code,
                    back,
                } => {
                    self.e.lea(regs::T1, at);
                    self.e.mov_rr(Sz::Q, T0, regs::T1);
                    self.e.arith_r_rm(Sz::Q, Arith::Sub, T0, m(CTX, start));
                    self.e.arith_r_rm(Sz::Q, Arith::Cmp, T0, m(CTX, lim));
                    let j = self.e.jcc32(Cc::B);
                    self.e.patch(j, back);
                    self.e.mov_imm64(T0, code);
                    let call = self.e.call32();
                    self.e.patch(call, self.shared.check_common);
                    let j = self.e.jmp32();
                    self.e.patch(j, back);
                    continue;
                }
                StubKind::Fault { kind, arg } => {
                    self.e
                        .mov_mi(Sz::Q, m(CTX, ctx_off!(fault_kind)), kind as i32);
                    if let Some(r) = arg {
                        self.e.store(Sz::Q, m(CTX, ctx_off!(fault_arg)), r);
                    }
                }
                StubKind::RustFault => {}
            }
            self.e.mov_imm64(T0, s.pc as u64);
            self.e.store(Sz::Q, m(CTX, ctx_off!(fault_pc)), T0);
            let j = self.e.jmp32();
            self.e.patch(j, self.shared.exit_common);
        }
        self.stubs = stubs;
    }

    /// The next blinding key, when blinding is on (xorshift64 from a random seed).
    fn next_key(&mut self) -> Option<u64> {
        let k = self.blinding.as_mut()?;
        *k ^= *k << 13;
        *k ^= *k >> 7;
        *k ^= *k << 17;
        Some(*k)
    }

    /// Loads the constant `v` into `dst` (not T0); with blinding, as `(v ^ key) ^ key` so
    /// that `v` never appears in the code.
    fn load_const(&mut self, dst: R, v: u64) {
        match self.next_key() {
            Some(key) => {
                self.e.mov_imm64(dst, v ^ key);
                debug_assert_ne!(dst, T0, "T0 holds the key");
                self.e.mov_imm64(T0, key);
                self.e.arith_rr(Sz::Q, Arith::Xor, Rm::Reg(dst), T0);
            }
            None => self.e.mov_imm64(dst, v),
        }
    }

    /// With blinding on, materializes the sign-extended immediate in T0 (blinded) and
    /// returns T0, for the register form of the instruction; otherwise `None`, and the
    /// caller uses the immediate form.
    fn blinded_imm(&mut self, imm: i32) -> Option<R> {
        let key = self.next_key()? as u32 as i32;
        // Sign extension commutes with xor: sext(imm ^ key) ^ sext(key) = sext(imm).
        self.e.mov_imm64(T0, (imm ^ key) as i64 as u64);
        self.e.arith_ri(Sz::Q, Arith::Xor, Rm::Reg(T0), key);
        Some(T0)
    }

    fn insn(&mut self, pc: usize, insn: &Insn) -> Result<(), PrepareErrorKind> {
        match *insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => alu::alu(self, width, op, regs::host(dst), src),
            Insn::Neg { width, dst } => alu::neg(self, width, regs::host(dst)),
            Insn::End { kind, bits, dst } => alu::end(self, kind, bits, regs::host(dst)),
            Insn::Ja { .. } | Insn::JaLong { .. } => {
                let target = target(pc, insn);
                flow::branch(self, pc, None, target);
            }
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                ..
            } => flow::cond_jump(self, pc, width, cond, dst, src, target(pc, insn)),
            Insn::Call { imm } => {
                if imm != bpfkit_vm::helpers::linux::id::MAP_LOOKUP_ELEM || !lookup::emit(self, pc)
                {
                    flow::call_helper(self, pc, imm)
                }
            }
            Insn::CallLocal { .. } => flow::call_local(self, pc, Some(target(pc, insn)), None),
            Insn::Callx { dst } => flow::call_local(self, pc, None, Some(regs::host(dst))),
            Insn::Exit => self.e.ret(),
            Insn::Lddw {
                dst,
                kind,
                imm,
                next_imm,
            } => {
                let v = match kind {
                    LddwKind::Imm64 => Insn::imm64(imm, next_imm),
                    // The slot index as a u32, as the interpreter computes it (a target
                    // outside the program is not refused; a callx through it faults).
                    LddwKind::Func => {
                        FUNC_ADDR_BASE.wrapping_add((pc as i64 + imm as i64 + 1) as u32 as u64)
                    }
                    _ => return Err(PrepareErrorKind::Unsupported("this form of lddw")),
                };
                self.load_const(regs::host(dst), v);
            }
            Insn::LdAbs { size, imm } => mem::packet_load(self, size, None, imm),
            Insn::LdInd { size, src, imm } => {
                mem::packet_load(self, size, Some(regs::host(src)), imm)
            }
            Insn::Ldx {
                size,
                sx,
                dst,
                src,
                off,
            } => mem::load(self, pc, size, sx, regs::host(dst), src, off),
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => mem::store_imm(self, pc, size, dst, off, imm),
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => mem::store(self, pc, size, dst, regs::host(src), off),
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => mem::atomic(self, pc, size, op, dst, regs::host(src), off),
            Insn::CallKfunc { .. } => {
                return Err(PrepareErrorKind::Unsupported(
                    "a kernel function call (kfunc)",
                ))
            }
        }
        Ok(())
    }
}

/// Absolute target slot of a branch (checked to be inside the program).
fn target(pc: usize, insn: &Insn) -> usize {
    (pc as i64 + insn.branch_offset().unwrap_or(0) + 1) as usize
}
