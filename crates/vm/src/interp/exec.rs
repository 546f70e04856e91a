//! The execution loop.

use super::op::{Op, Opc};
use super::prepare::Prepared;
use super::{Outcome, Run, FUNC_ADDR_BASE, MAX_FRAMES, STACK_FRAME_SIZE};
use crate::error::{Access, Fault, VmError};
use crate::helpers::{HelperContext, HelperError, ProgramCalls, MAX_TAIL_CALLS};
use crate::maps::SharedProgram;
use crate::memory::{Memory, Region};
use crate::net::PacketState;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

/// Memory a run needs besides its registers, kept between runs so that a run allocates and
/// clears nothing: the stack of every frame, the saved state of the callers and the
/// programs tail calls entered.
pub(crate) struct Scratch {
    pub stack: [u8; STACK_FRAME_SIZE * MAX_FRAMES],
    frames: [Frame; MAX_FRAMES],
    /// Empty between runs.
    targets: Vec<Arc<Prepared>>,
}

impl Scratch {
    pub(crate) fn new() -> Box<Scratch> {
        Box::new(Scratch {
            stack: [0; STACK_FRAME_SIZE * MAX_FRAMES],
            frames: [Frame::default(); MAX_FRAMES],
            targets: Vec::new(),
        })
    }
}

/// What a local call saves: where to return (slot and program), the callee-saved
/// registers and the frame.
#[derive(Clone, Copy, Default)]
struct Frame {
    ret: usize,
    /// The program to return into: 0 for the one the run started with, `k` for the
    /// `k`-th program entered by a tail call (a subprogram may tail-call; its caller's
    /// code resumes when the target exits).
    prog: usize,
    saved: [u64; 4],
    fp: u64,
}

/// The state of a run that outlives one entry into the execution loop: the loop is
/// entered again for each function a helper calls back (`bpf_loop`), and what it shares
/// with those entries lives here.
struct RunState<'r> {
    main: &'r Prepared,
    /// The programs tail calls entered, in order: program `k` is `targets[k - 1]`.
    targets: &'r mut Vec<Arc<Prepared>>,
    frames: &'r mut [Frame; MAX_FRAMES],
    packet: Option<Region>,
    budget: u64,
    /// Instructions executed; kept in a local by the loop and stored here around helper
    /// calls and on leaving.
    executed: u64,
    /// Frames in use, and the running program and r10, at the last helper call.
    depth: usize,
    prog: usize,
    fp: u64,
    tail_calls: u32,
    /// The target of a tail call the last helper asked for.
    pending: Option<SharedProgram>,
}

impl RunState<'_> {
    fn program(&self, k: usize) -> Option<Arc<Prepared>> {
        k.checked_sub(1).map(|i| self.targets[i].clone())
    }
}

impl ProgramCalls for RunState<'_> {
    fn call(
        &mut self,
        memory: &mut Memory<'_>,
        packet: Option<&mut PacketState>,
        func: u64,
        args: [u64; 5],
    ) -> Result<u64, HelperError> {
        let holder = self.program(self.prog);
        let code = &holder.as_deref().unwrap_or(self.main).code;
        let target = function_slot(code, func).ok_or(Fault::BadCallTarget(func))?;
        if self.depth + 1 >= MAX_FRAMES {
            return Err(Fault::CallDepth(MAX_FRAMES).into());
        }
        if self.executed > self.budget {
            return Err(Fault::BudgetExhausted(self.budget).into());
        }
        let (depth, prog, fp) = (self.depth, self.prog, self.fp);
        let mut regs = [0u64; REGS];
        regs[1..6].copy_from_slice(&args);
        regs[10] = fp - STACK_FRAME_SIZE as u64;
        // The function's frame is the base of this entry: its exit returns here.
        let result = exec(self, &mut regs, memory, packet, prog, target, depth + 1);
        (self.depth, self.prog, self.fp) = (depth, prog, fp);
        result.map_err(HelperError::Callback)
    }

    fn count_tail_call(&mut self) -> bool {
        if self.tail_calls >= MAX_TAIL_CALLS {
            return false;
        }
        self.tail_calls += 1;
        true
    }

    fn tail_call(&mut self, target: SharedProgram) {
        self.pending = Some(target);
    }
}

/// The slot a function address names, if it is the start of an instruction of `code`.
fn function_slot(code: &[Op], func: u64) -> Option<usize> {
    let t = func.wrapping_sub(FUNC_ADDR_BASE);
    // The last op is FellOff, which is no instruction.
    (t < (code.len() - 1) as u64 && code[t as usize].opc != Opc::LddwTail).then_some(t as usize)
}

/// Runs `p` with the stack and frames of `scratch`.
pub(crate) fn run(
    p: &Prepared,
    scratch: &mut Scratch,
    budget: u64,
    run: Run<'_, '_>,
) -> Result<Outcome, VmError> {
    let Run {
        args,
        memory,
        packet,
        packet_state,
    } = run;
    let stack_region = Region {
        start: scratch.stack.as_mut_ptr() as u64,
        len: scratch.stack.len() as u64,
        writable: true,
    };
    let lent = memory.len();
    // SAFETY: the stack is exclusively borrowed for the whole run, and taken out of
    // `memory` again before this function returns.
    unsafe { memory.set_stack(stack_region) };
    let mut regs = [0u64; REGS];
    regs[1..6].copy_from_slice(&args);
    regs[10] = stack_region.start + stack_region.len;
    let mut state = RunState {
        main: p,
        targets: &mut scratch.targets,
        frames: &mut scratch.frames,
        packet,
        budget,
        executed: 0,
        depth: 0,
        prog: 0,
        fp: regs[10],
        tail_calls: 0,
        pending: None,
    };
    let r0 = exec(&mut state, &mut regs, memory, packet_state, 0, 0, 0);
    // The memory goes back as it came: without the stack, and without the map values
    // helpers lent this run; the programs tail calls entered are let go.
    if !state.targets.is_empty() {
        state.targets.clear();
    }
    // SAFETY: no region.
    unsafe { memory.set_stack(Region::EMPTY) };
    if memory.len() != lent {
        memory.truncate(lent);
    }
    Ok(Outcome {
        r0: r0?,
        insns: state.executed,
    })
}

/// The fault of a tail call into a program prepared for another engine.
const OTHER_ENGINE: &str =
    "the program array slot holds a program prepared for another engine than this one";

/// Size of the register file: 11 registers, rounded up to 16 so that an index masked with
/// 15 needs no bounds check in the hot loop.
const REGS: usize = 16;

/// Address of a load or store: base register plus the sign-extended offset in `op.imm`.
#[inline(always)]
fn addr(regs: &[u64; REGS], base: u8, op: &Op) -> u64 {
    regs[(base & 15) as usize].wrapping_add(op.imm)
}

#[inline(always)]
fn sdiv64(a: u64, b: u64) -> u64 {
    if b == 0 {
        0
    } else {
        (a as i64).wrapping_div(b as i64) as u64
    }
}

#[inline(always)]
fn smod64(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        (a as i64).wrapping_rem(b as i64) as u64
    }
}

#[inline(always)]
fn sdiv32(a: u64, b: u64) -> u64 {
    if b as u32 == 0 {
        0
    } else {
        (a as i32).wrapping_div(b as i32) as u32 as u64
    }
}

#[inline(always)]
fn smod32(a: u64, b: u64) -> u64 {
    if b as u32 == 0 {
        a as u32 as u64
    } else {
        (a as i32).wrapping_rem(b as i32) as u32 as u64
    }
}

#[inline(always)]
fn div64(a: u64, b: u64) -> u64 {
    a.checked_div(b).unwrap_or(0)
}

#[inline(always)]
fn mod64(a: u64, b: u64) -> u64 {
    a.checked_rem(b).unwrap_or(a)
}

#[inline(always)]
fn div32(a: u64, b: u64) -> u64 {
    (a as u32).checked_div(b as u32).unwrap_or(0) as u64
}

#[inline(always)]
fn mod32(a: u64, b: u64) -> u64 {
    (a as u32).checked_rem(b as u32).unwrap_or(a as u32) as u64
}

/// The legacy packet load: big-endian `size` bytes at `offset` of the packet, or `None`
/// when out of range (which ends the program with 0, as in Linux). A negative offset
/// (as i32) is relative to a header of the packet state's skb
/// ([`PacketState::legacy_load_negative`]).
#[inline(never)]
fn packet_load(
    packet: Option<Region>,
    state: Option<&PacketState>,
    offset: u32,
    size: u64,
) -> Option<u64> {
    let pkt = packet?;
    let offset = offset as i32;
    if offset < 0 {
        return state?.legacy_load_negative(offset, size as usize);
    }
    if (offset as u64) + size > pkt.len {
        return None;
    }
    // SAFETY: the packet region is valid for the run and the range was checked above.
    let p = (pkt.start + offset as u64) as *const u8;
    unsafe {
        Some(match size {
            1 => *p as u64,
            2 => u16::from_be(std::ptr::read_unaligned(p as *const u16)) as u64,
            _ => u32::from_be(std::ptr::read_unaligned(p as *const u32)) as u64,
        })
    }
}

/// Runs program `prog` of the run from slot `pc` until the frame at depth `base` exits
/// (or a legacy packet load ends the entry with 0), and returns r0.
fn exec(
    run: &mut RunState<'_>,
    regs: &mut [u64; REGS],
    memory: &mut Memory<'_>,
    mut packet_state: Option<&mut PacketState>,
    mut prog: usize,
    mut pc: usize,
    base: usize,
) -> Result<u64, VmError> {
    let main = run.main;
    let budget = run.budget;
    let mut holder = run.program(prog);
    let mut p: &Prepared = holder.as_deref().unwrap_or(main);
    let mut code = &p.code[..];
    let mut depth = base;
    let mut executed = run.executed;

    macro_rules! fault {
        ($f:expr) => {
            return Err(VmError { pc, fault: $f })
        };
    }
    // A checked load of `$t` from `src + off`, zero- or sign-extended through `$ext`.
    macro_rules! load {
        ($op:expr, $t:ty, $ext:ty) => {{
            let a = addr(regs, $op.src, &$op);
            let size = std::mem::size_of::<$t>() as u64;
            if let Err(f) = memory.check(a, size, Access::Read) {
                fault!(f);
            }
            // SAFETY: `check` proved [a, a + size) lies inside a live region.
            let v = unsafe { std::ptr::read_unaligned(a as *const $t) };
            regs[($op.dst & 15) as usize] = v as $ext as u64;
        }};
    }
    // A checked store of `$v` as `$t` to `dst + off`.
    macro_rules! store {
        ($op:expr, $t:ty, $v:expr) => {{
            let a = addr(regs, $op.dst, &$op);
            let size = std::mem::size_of::<$t>() as u64;
            if let Err(f) = memory.check(a, size, Access::Write) {
                fault!(f);
            }
            // SAFETY: `check` proved [a, a + size) lies inside a live writable region.
            unsafe { std::ptr::write_unaligned(a as *mut $t, $v as $t) };
        }};
    }
    // A load from the current frame, proven in bounds when the program was prepared: r10
    // always points at the top of a 512-byte frame inside the stack and is never written.
    macro_rules! stack_load {
        ($op:expr, $t:ty) => {{
            let a = addr(regs, 10, &$op);
            // SAFETY: see above; prepare checked -512 <= off and off + size <= 0.
            regs[($op.dst & 15) as usize] =
                unsafe { std::ptr::read_unaligned(a as *const $t) } as u64;
        }};
    }
    macro_rules! stack_store {
        ($op:expr, $t:ty, $v:expr) => {{
            let a = addr(regs, 10, &$op);
            // SAFETY: as for stack_load.
            unsafe { std::ptr::write_unaligned(a as *mut $t, $v as $t) };
        }};
    }
    // An aligned atomic location of `$t` at `dst + off`, checked for writing.
    macro_rules! atomic {
        ($op:expr, $t:ty) => {{
            let a = addr(regs, $op.dst, &$op);
            let size = std::mem::size_of::<$t>() as u64;
            if let Err(f) = memory.check(a, size, Access::Write) {
                fault!(f);
            }
            if a % size != 0 {
                fault!(Fault::Misaligned { addr: a, size });
            }
            // SAFETY: the location is inside a live writable region and aligned; other
            // threads touch shared memory (maps) only through atomics or copies.
            unsafe { <$t>::from_ptr(a as *mut _) }
        }};
    }
    // A conditional jump: `$cond` over dst and the operand.
    macro_rules! jump_if {
        ($op:expr, $cond:expr) => {{
            if $cond {
                if $op.target as usize <= pc && executed > budget {
                    fault!(Fault::BudgetExhausted(budget));
                }
                pc = $op.target as usize;
                continue;
            }
        }};
    }

    loop {
        // SAFETY: pc is always an index of `code`: it starts at 0 or at a function a
        // helper called back (checked by `function_slot`), steps to the next op (the last
        // op, FellOff, never steps), over an lddw (whose tail is followed by another op or
        // FellOff), to a branch target or return address, which prepare checked lie inside
        // the program, or to 0 of a tail call's target; a return address is used with
        // the code of the program that saved it.
        let op = unsafe { *code.get_unchecked(pc) };
        executed += 1;
        let d = (op.dst & 15) as usize;
        let s = (op.src & 15) as usize;
        let imm = op.imm;
        match op.opc {
            Opc::Add64I => regs[d] = regs[d].wrapping_add(imm),
            Opc::Add64R => regs[d] = regs[d].wrapping_add(regs[s]),
            Opc::Sub64I => regs[d] = regs[d].wrapping_sub(imm),
            Opc::Sub64R => regs[d] = regs[d].wrapping_sub(regs[s]),
            Opc::Mul64I => regs[d] = regs[d].wrapping_mul(imm),
            Opc::Mul64R => regs[d] = regs[d].wrapping_mul(regs[s]),
            Opc::Div64I => regs[d] = div64(regs[d], imm),
            Opc::Div64R => regs[d] = div64(regs[d], regs[s]),
            Opc::Sdiv64I => regs[d] = sdiv64(regs[d], imm),
            Opc::Sdiv64R => regs[d] = sdiv64(regs[d], regs[s]),
            Opc::Or64I => regs[d] |= imm,
            Opc::Or64R => regs[d] |= regs[s],
            Opc::And64I => regs[d] &= imm,
            Opc::And64R => regs[d] &= regs[s],
            Opc::Lsh64I => regs[d] <<= imm & 63,
            Opc::Lsh64R => regs[d] <<= regs[s] & 63,
            Opc::Rsh64I => regs[d] >>= imm & 63,
            Opc::Rsh64R => regs[d] >>= regs[s] & 63,
            Opc::Mod64I => regs[d] = mod64(regs[d], imm),
            Opc::Mod64R => regs[d] = mod64(regs[d], regs[s]),
            Opc::Smod64I => regs[d] = smod64(regs[d], imm),
            Opc::Smod64R => regs[d] = smod64(regs[d], regs[s]),
            Opc::Xor64I => regs[d] ^= imm,
            Opc::Xor64R => regs[d] ^= regs[s],
            Opc::Mov64I => regs[d] = imm,
            Opc::Mov64R => regs[d] = regs[s],
            Opc::Arsh64I => regs[d] = ((regs[d] as i64) >> (imm & 63)) as u64,
            Opc::Arsh64R => regs[d] = ((regs[d] as i64) >> (regs[s] & 63)) as u64,
            Opc::Movsx64B => regs[d] = regs[s] as i8 as i64 as u64,
            Opc::Movsx64H => regs[d] = regs[s] as i16 as i64 as u64,
            Opc::Movsx64W => regs[d] = regs[s] as i32 as i64 as u64,
            Opc::Neg64 => regs[d] = regs[d].wrapping_neg(),

            Opc::Add32I => regs[d] = (regs[d] as u32).wrapping_add(imm as u32) as u64,
            Opc::Add32R => regs[d] = (regs[d] as u32).wrapping_add(regs[s] as u32) as u64,
            Opc::Sub32I => regs[d] = (regs[d] as u32).wrapping_sub(imm as u32) as u64,
            Opc::Sub32R => regs[d] = (regs[d] as u32).wrapping_sub(regs[s] as u32) as u64,
            Opc::Mul32I => regs[d] = (regs[d] as u32).wrapping_mul(imm as u32) as u64,
            Opc::Mul32R => regs[d] = (regs[d] as u32).wrapping_mul(regs[s] as u32) as u64,
            Opc::Div32I => regs[d] = div32(regs[d], imm),
            Opc::Div32R => regs[d] = div32(regs[d], regs[s]),
            Opc::Sdiv32I => regs[d] = sdiv32(regs[d], imm),
            Opc::Sdiv32R => regs[d] = sdiv32(regs[d], regs[s]),
            Opc::Or32I => regs[d] = (regs[d] as u32 | imm as u32) as u64,
            Opc::Or32R => regs[d] = (regs[d] as u32 | regs[s] as u32) as u64,
            Opc::And32I => regs[d] = (regs[d] as u32 & imm as u32) as u64,
            Opc::And32R => regs[d] = (regs[d] as u32 & regs[s] as u32) as u64,
            Opc::Lsh32I => regs[d] = ((regs[d] as u32) << (imm & 31)) as u64,
            Opc::Lsh32R => regs[d] = ((regs[d] as u32) << (regs[s] & 31)) as u64,
            Opc::Rsh32I => regs[d] = ((regs[d] as u32) >> (imm & 31)) as u64,
            Opc::Rsh32R => regs[d] = ((regs[d] as u32) >> (regs[s] & 31)) as u64,
            Opc::Mod32I => regs[d] = mod32(regs[d], imm),
            Opc::Mod32R => regs[d] = mod32(regs[d], regs[s]),
            Opc::Smod32I => regs[d] = smod32(regs[d], imm),
            Opc::Smod32R => regs[d] = smod32(regs[d], regs[s]),
            Opc::Xor32I => regs[d] = (regs[d] as u32 ^ imm as u32) as u64,
            Opc::Xor32R => regs[d] = (regs[d] as u32 ^ regs[s] as u32) as u64,
            Opc::Mov32I => regs[d] = imm as u32 as u64,
            Opc::Mov32R => regs[d] = regs[s] as u32 as u64,
            Opc::Arsh32I => regs[d] = ((regs[d] as i32) >> (imm & 31)) as u32 as u64,
            Opc::Arsh32R => regs[d] = ((regs[d] as i32) >> (regs[s] & 31)) as u32 as u64,
            Opc::Movsx32B => regs[d] = regs[s] as i8 as i32 as u32 as u64,
            Opc::Movsx32H => regs[d] = regs[s] as i16 as i32 as u32 as u64,
            Opc::Neg32 => regs[d] = (regs[d] as u32).wrapping_neg() as u64,

            Opc::Le16 => regs[d] = regs[d] as u16 as u64,
            Opc::Le32 => regs[d] = regs[d] as u32 as u64,
            Opc::Le64 => {}
            Opc::Be16 => regs[d] = (regs[d] as u16).swap_bytes() as u64,
            Opc::Be32 => regs[d] = (regs[d] as u32).swap_bytes() as u64,
            Opc::Be64 => regs[d] = regs[d].swap_bytes(),

            Opc::Ja => jump_if!(op, true),
            Opc::Jeq64I => jump_if!(op, regs[d] == imm),
            Opc::Jeq64R => jump_if!(op, regs[d] == regs[s]),
            Opc::Jgt64I => jump_if!(op, regs[d] > imm),
            Opc::Jgt64R => jump_if!(op, regs[d] > regs[s]),
            Opc::Jge64I => jump_if!(op, regs[d] >= imm),
            Opc::Jge64R => jump_if!(op, regs[d] >= regs[s]),
            Opc::Jset64I => jump_if!(op, regs[d] & imm != 0),
            Opc::Jset64R => jump_if!(op, regs[d] & regs[s] != 0),
            Opc::Jne64I => jump_if!(op, regs[d] != imm),
            Opc::Jne64R => jump_if!(op, regs[d] != regs[s]),
            Opc::Jsgt64I => jump_if!(op, regs[d] as i64 > imm as i64),
            Opc::Jsgt64R => jump_if!(op, regs[d] as i64 > regs[s] as i64),
            Opc::Jsge64I => jump_if!(op, regs[d] as i64 >= imm as i64),
            Opc::Jsge64R => jump_if!(op, regs[d] as i64 >= regs[s] as i64),
            Opc::Jlt64I => jump_if!(op, regs[d] < imm),
            Opc::Jlt64R => jump_if!(op, regs[d] < regs[s]),
            Opc::Jle64I => jump_if!(op, regs[d] <= imm),
            Opc::Jle64R => jump_if!(op, regs[d] <= regs[s]),
            Opc::Jslt64I => jump_if!(op, (regs[d] as i64) < imm as i64),
            Opc::Jslt64R => jump_if!(op, (regs[d] as i64) < regs[s] as i64),
            Opc::Jsle64I => jump_if!(op, regs[d] as i64 <= imm as i64),
            Opc::Jsle64R => jump_if!(op, regs[d] as i64 <= regs[s] as i64),
            Opc::Jeq32I => jump_if!(op, regs[d] as u32 == imm as u32),
            Opc::Jeq32R => jump_if!(op, regs[d] as u32 == regs[s] as u32),
            Opc::Jgt32I => jump_if!(op, regs[d] as u32 > imm as u32),
            Opc::Jgt32R => jump_if!(op, regs[d] as u32 > regs[s] as u32),
            Opc::Jge32I => jump_if!(op, regs[d] as u32 >= imm as u32),
            Opc::Jge32R => jump_if!(op, regs[d] as u32 >= regs[s] as u32),
            Opc::Jset32I => jump_if!(op, regs[d] as u32 & imm as u32 != 0),
            Opc::Jset32R => jump_if!(op, regs[d] as u32 & regs[s] as u32 != 0),
            Opc::Jne32I => jump_if!(op, regs[d] as u32 != imm as u32),
            Opc::Jne32R => jump_if!(op, regs[d] as u32 != regs[s] as u32),
            Opc::Jsgt32I => jump_if!(op, regs[d] as i32 > imm as i32),
            Opc::Jsgt32R => jump_if!(op, regs[d] as i32 > regs[s] as i32),
            Opc::Jsge32I => jump_if!(op, regs[d] as i32 >= imm as i32),
            Opc::Jsge32R => jump_if!(op, regs[d] as i32 >= regs[s] as i32),
            Opc::Jlt32I => jump_if!(op, (regs[d] as u32) < imm as u32),
            Opc::Jlt32R => jump_if!(op, (regs[d] as u32) < regs[s] as u32),
            Opc::Jle32I => jump_if!(op, regs[d] as u32 <= imm as u32),
            Opc::Jle32R => jump_if!(op, regs[d] as u32 <= regs[s] as u32),
            Opc::Jslt32I => jump_if!(op, (regs[d] as i32) < imm as i32),
            Opc::Jslt32R => jump_if!(op, (regs[d] as i32) < regs[s] as i32),
            Opc::Jsle32I => jump_if!(op, regs[d] as i32 <= imm as i32),
            Opc::Jsle32R => jump_if!(op, regs[d] as i32 <= regs[s] as i32),

            Opc::Call | Opc::TailCall => {
                let (id, helper) = &p.helpers[imm as usize];
                let args = [regs[1], regs[2], regs[3], regs[4], regs[5]];
                (run.executed, run.depth, run.prog, run.fp) = (executed, depth, prog, regs[10]);
                let result = (helper.func)(
                    &mut HelperContext {
                        memory,
                        packet: packet_state.as_deref_mut(),
                        program: run,
                    },
                    args,
                );
                // Functions the helper called back counted their instructions.
                executed = run.executed;
                match result {
                    Ok(v) if op.opc == Opc::Call => regs[0] = v,
                    Ok(_) => {}
                    Err(HelperError::Fault(f)) => fault!(f),
                    Err(HelperError::Failed(reason)) => fault!(Fault::Helper { id: *id, reason }),
                    Err(HelperError::Callback(e)) => return Err(e),
                }
                // The helper (or a function it called back) may have moved the packet.
                if let Some(state) = packet_state.as_deref_mut() {
                    state.resync(memory);
                    run.packet = state.legacy_packet();
                }
                // Only `bpf_tail_call` leaves the program.
                if let Some(target) = run.pending.take().filter(|_| op.opc == Opc::TailCall) {
                    let Ok(target) = target.downcast::<Prepared>() else {
                        fault!(Fault::Helper {
                            id: *id,
                            reason: OTHER_ENGINE.to_string()
                        });
                    };
                    // The target runs in this frame, with the registers as they are. A
                    // program entered before keeps its number (a self tail call makes 33).
                    prog = match run.targets.iter().position(|t| Arc::ptr_eq(t, &target)) {
                        Some(i) => i + 1,
                        None => {
                            run.targets.push(target.clone());
                            run.targets.len()
                        }
                    };
                    holder = Some(target);
                    p = holder.as_deref().unwrap_or(main);
                    code = &p.code[..];
                    pc = 0;
                    continue;
                }
            }
            Opc::CallLocal | Opc::Callx => {
                let target = if op.opc == Opc::Callx {
                    match function_slot(code, regs[d]) {
                        Some(t) => t,
                        None => fault!(Fault::BadCallTarget(regs[d])),
                    }
                } else {
                    op.target as usize
                };
                if depth + 1 >= MAX_FRAMES {
                    fault!(Fault::CallDepth(MAX_FRAMES));
                }
                if executed > budget {
                    fault!(Fault::BudgetExhausted(budget));
                }
                run.frames[depth] = Frame {
                    ret: pc + 1,
                    prog,
                    saved: [regs[6], regs[7], regs[8], regs[9]],
                    fp: regs[10],
                };
                depth += 1;
                regs[10] -= STACK_FRAME_SIZE as u64;
                pc = target;
                continue;
            }
            Opc::Exit => {
                if depth == base {
                    run.executed = executed;
                    return Ok(regs[0]);
                }
                depth -= 1;
                let f = run.frames[depth];
                regs[6..10].copy_from_slice(&f.saved);
                regs[10] = f.fp;
                if f.prog != prog {
                    prog = f.prog;
                    holder = run.program(prog);
                    p = holder.as_deref().unwrap_or(main);
                    code = &p.code[..];
                }
                pc = f.ret;
                continue;
            }
            Opc::Lddw => {
                regs[d] = imm;
                pc += 2;
                continue;
            }
            Opc::LdAbsB | Opc::LdAbsH | Opc::LdAbsW | Opc::LdIndB | Opc::LdIndH | Opc::LdIndW => {
                let (start, size) = match op.opc {
                    Opc::LdAbsB => (0, 1),
                    Opc::LdAbsH => (0, 2),
                    Opc::LdAbsW => (0, 4),
                    Opc::LdIndB => (regs[s] as u32, 1),
                    Opc::LdIndH => (regs[s] as u32, 2),
                    _ => (regs[s] as u32, 4),
                };
                let offset = start.wrapping_add(imm as u32);
                match packet_load(run.packet, packet_state.as_deref(), offset, size) {
                    Some(v) => regs[0] = v,
                    // Ends the program (or the function a helper called back) with 0.
                    None => {
                        run.executed = executed;
                        return Ok(0);
                    }
                }
            }
            Opc::LdxB => load!(op, u8, u8),
            Opc::LdxH => load!(op, u16, u16),
            Opc::LdxW => load!(op, u32, u32),
            Opc::LdxDw => load!(op, u64, u64),
            Opc::LdxsB => load!(op, i8, i64),
            Opc::LdxsH => load!(op, i16, i64),
            Opc::LdxsW => load!(op, i32, i64),
            Opc::StB => store!(op, u8, op.target),
            Opc::StH => store!(op, u16, op.target),
            Opc::StW => store!(op, u32, op.target),
            Opc::StDw => store!(op, u64, op.target as i32 as i64),
            Opc::StxB => store!(op, u8, regs[s]),
            Opc::StxH => store!(op, u16, regs[s]),
            Opc::StxW => store!(op, u32, regs[s]),
            Opc::StxDw => store!(op, u64, regs[s]),
            Opc::LdxStackB => stack_load!(op, u8),
            Opc::LdxStackH => stack_load!(op, u16),
            Opc::LdxStackW => stack_load!(op, u32),
            Opc::LdxStackDw => stack_load!(op, u64),
            Opc::StStackB => stack_store!(op, u8, op.target),
            Opc::StStackH => stack_store!(op, u16, op.target),
            Opc::StStackW => stack_store!(op, u32, op.target),
            Opc::StStackDw => stack_store!(op, u64, op.target as i32 as i64),
            Opc::StxStackB => stack_store!(op, u8, regs[s]),
            Opc::StxStackH => stack_store!(op, u16, regs[s]),
            Opc::StxStackW => stack_store!(op, u32, regs[s]),
            Opc::StxStackDw => stack_store!(op, u64, regs[s]),

            Opc::AtomicAdd32 => _ = atomic!(op, AtomicU32).fetch_add(regs[s] as u32, SeqCst),
            Opc::AtomicOr32 => _ = atomic!(op, AtomicU32).fetch_or(regs[s] as u32, SeqCst),
            Opc::AtomicAnd32 => _ = atomic!(op, AtomicU32).fetch_and(regs[s] as u32, SeqCst),
            Opc::AtomicXor32 => _ = atomic!(op, AtomicU32).fetch_xor(regs[s] as u32, SeqCst),
            Opc::FetchAdd32 => {
                regs[s] = atomic!(op, AtomicU32).fetch_add(regs[s] as u32, SeqCst) as u64
            }
            Opc::FetchOr32 => {
                regs[s] = atomic!(op, AtomicU32).fetch_or(regs[s] as u32, SeqCst) as u64
            }
            Opc::FetchAnd32 => {
                regs[s] = atomic!(op, AtomicU32).fetch_and(regs[s] as u32, SeqCst) as u64
            }
            Opc::FetchXor32 => {
                regs[s] = atomic!(op, AtomicU32).fetch_xor(regs[s] as u32, SeqCst) as u64
            }
            Opc::Xchg32 => regs[s] = atomic!(op, AtomicU32).swap(regs[s] as u32, SeqCst) as u64,
            Opc::Cmpxchg32 => {
                let a = atomic!(op, AtomicU32);
                let old = match a.compare_exchange(regs[0] as u32, regs[s] as u32, SeqCst, SeqCst) {
                    Ok(v) | Err(v) => v,
                };
                regs[0] = old as u64;
            }
            Opc::AtomicAdd64 => _ = atomic!(op, AtomicU64).fetch_add(regs[s], SeqCst),
            Opc::AtomicOr64 => _ = atomic!(op, AtomicU64).fetch_or(regs[s], SeqCst),
            Opc::AtomicAnd64 => _ = atomic!(op, AtomicU64).fetch_and(regs[s], SeqCst),
            Opc::AtomicXor64 => _ = atomic!(op, AtomicU64).fetch_xor(regs[s], SeqCst),
            Opc::FetchAdd64 => regs[s] = atomic!(op, AtomicU64).fetch_add(regs[s], SeqCst),
            Opc::FetchOr64 => regs[s] = atomic!(op, AtomicU64).fetch_or(regs[s], SeqCst),
            Opc::FetchAnd64 => regs[s] = atomic!(op, AtomicU64).fetch_and(regs[s], SeqCst),
            Opc::FetchXor64 => regs[s] = atomic!(op, AtomicU64).fetch_xor(regs[s], SeqCst),
            Opc::Xchg64 => regs[s] = atomic!(op, AtomicU64).swap(regs[s], SeqCst),
            Opc::Cmpxchg64 => {
                let a = atomic!(op, AtomicU64);
                regs[0] = match a.compare_exchange(regs[0], regs[s], SeqCst, SeqCst) {
                    Ok(v) | Err(v) => v,
                };
            }
            Opc::MovZext => {
                regs[d] = regs[s] as u32 as u64;
                executed += 2;
                pc += 3;
                continue;
            }
            Opc::Zext => {
                regs[d] = regs[d] as u32 as u64;
                executed += 1;
                pc += 2;
                continue;
            }
            Opc::MovAddI => {
                regs[d] = regs[s].wrapping_add(imm);
                executed += 1;
                pc += 2;
                continue;
            }
            Opc::MovAddJgtR => {
                let v = regs[s].wrapping_add(imm);
                regs[d] = v;
                executed += 2;
                jump_if!(op, v > regs[(op.src2 & 15) as usize]);
                pc += 3;
                continue;
            }
            Opc::AddJneI | Opc::AddJeqI => {
                let v = regs[d].wrapping_add(op.src2 as i8 as i64 as u64);
                regs[d] = v;
                executed += 1;
                jump_if!(op, (v != imm) == (op.opc == Opc::AddJneI));
                pc += 2;
                continue;
            }
            Opc::MovAddR => {
                regs[d] = regs[s].wrapping_add(regs[(op.src2 & 15) as usize]);
                executed += 1;
                pc += 2;
                continue;
            }
            // Unreachable: branches into an lddw are rejected and lddw steps over its tail.
            Opc::LddwTail => fault!(Fault::FellOffEnd),
            Opc::FellOff => fault!(Fault::FellOffEnd),
        }
        pc += 1;
    }
}
