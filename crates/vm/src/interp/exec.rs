//! The execution loop.

use super::op::{Op, Opc};
use super::prepare::Prepared;
use super::{Invocation, Outcome, FUNC_ADDR_BASE, MAX_FRAMES, STACK_FRAME_SIZE};
use crate::error::{Access, Fault, VmError};
use crate::helpers::{HelperContext, HelperError};
use crate::memory::{Memory, Region};
use crate::net::PacketState;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

/// Memory a run needs besides its registers, kept between runs so that a run allocates and
/// clears nothing: the stack of every frame and the saved state of the callers.
pub(crate) struct Scratch {
    pub stack: [u8; STACK_FRAME_SIZE * MAX_FRAMES],
    frames: [Frame; MAX_FRAMES],
}

impl Scratch {
    pub(crate) fn new() -> Box<Scratch> {
        Box::new(Scratch {
            stack: [0; STACK_FRAME_SIZE * MAX_FRAMES],
            frames: [Frame::default(); MAX_FRAMES],
        })
    }
}

/// What a local call saves: where to return, the callee-saved registers and the frame.
#[derive(Clone, Copy, Default)]
struct Frame {
    ret: usize,
    saved: [u64; 4],
    fp: u64,
}

/// Runs `p` with the stack and frames of `scratch`.
pub(crate) fn run(
    p: &Prepared,
    scratch: &mut Scratch,
    budget: u64,
    inv: Invocation<'_>,
) -> Result<Outcome, VmError> {
    let Invocation {
        args,
        mut memory,
        packet,
        packet_state,
    } = inv;
    let stack_region = Region {
        start: scratch.stack.as_mut_ptr() as u64,
        len: scratch.stack.len() as u64,
        writable: true,
    };
    // SAFETY: the stack is exclusively borrowed for the whole run, and `memory` does not
    // outlive this function.
    unsafe { memory.add_raw_first(stack_region) };
    let mut regs = [0u64; REGS];
    regs[1..6].copy_from_slice(&args);
    regs[10] = stack_region.start + stack_region.len;
    exec(
        p,
        &mut regs,
        &mut scratch.frames,
        memory,
        (packet, packet_state),
        budget,
    )
}

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
/// when out of range (which ends the program with 0, as in Linux).
#[inline(never)]
fn packet_load(packet: Option<Region>, offset: u32, size: u64) -> Option<u64> {
    let pkt = packet?;
    let offset = offset as i32;
    if offset < 0 || (offset as u64) + size > pkt.len {
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

fn exec(
    p: &Prepared,
    regs: &mut [u64; REGS],
    frames: &mut [Frame; MAX_FRAMES],
    mut memory: Memory<'_>,
    (mut packet, mut packet_state): (Option<Region>, Option<&mut PacketState>),
    budget: u64,
) -> Result<Outcome, VmError> {
    let code = &p.code[..];
    let mut depth = 0usize;
    let mut pc = 0usize;
    let mut executed = 0u64;

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
        // SAFETY: pc is always an index of `code`: it starts at 0, steps to the next op
        // (the last op, FellOff, never steps), over an lddw (whose tail is followed by
        // another op or FellOff), or to a branch target or return address, which prepare
        // checked lie inside the program.
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

            Opc::Call => {
                let (id, helper) = &p.helpers[imm as usize];
                let args = [regs[1], regs[2], regs[3], regs[4], regs[5]];
                let mut ctx = HelperContext {
                    memory: &mut memory,
                    packet: packet_state.as_deref_mut(),
                };
                match (helper.func)(&mut ctx, args) {
                    Ok(v) => regs[0] = v,
                    Err(HelperError::Fault(f)) => fault!(f),
                    Err(HelperError::Failed(reason)) => fault!(Fault::Helper { id: *id, reason }),
                }
                // The helper may have moved the packet.
                if let Some(state) = packet_state.as_deref_mut() {
                    state.resync(&mut memory);
                    packet = state.legacy_packet();
                }
            }
            Opc::CallLocal | Opc::Callx => {
                let target = if op.opc == Opc::Callx {
                    let t = regs[d].wrapping_sub(FUNC_ADDR_BASE);
                    // A function address must name an instruction start of this program.
                    if t >= (code.len() - 1) as u64 || code[t as usize].opc == Opc::LddwTail {
                        fault!(Fault::BadCallTarget(regs[d]));
                    }
                    t as usize
                } else {
                    op.target as usize
                };
                if depth + 1 >= MAX_FRAMES {
                    fault!(Fault::CallDepth(MAX_FRAMES));
                }
                if executed > budget {
                    fault!(Fault::BudgetExhausted(budget));
                }
                frames[depth] = Frame {
                    ret: pc + 1,
                    saved: [regs[6], regs[7], regs[8], regs[9]],
                    fp: regs[10],
                };
                depth += 1;
                regs[10] -= STACK_FRAME_SIZE as u64;
                pc = target;
                continue;
            }
            Opc::Exit => {
                if depth == 0 {
                    return Ok(Outcome {
                        r0: regs[0],
                        insns: executed,
                    });
                }
                depth -= 1;
                let f = frames[depth];
                regs[6..10].copy_from_slice(&f.saved);
                regs[10] = f.fp;
                pc = f.ret;
                continue;
            }
            Opc::Lddw => {
                regs[d] = imm;
                pc += 2;
                continue;
            }
            Opc::LdAbsB | Opc::LdAbsH | Opc::LdAbsW | Opc::LdIndB | Opc::LdIndH | Opc::LdIndW => {
                let (base, size) = match op.opc {
                    Opc::LdAbsB => (0, 1),
                    Opc::LdAbsH => (0, 2),
                    Opc::LdAbsW => (0, 4),
                    Opc::LdIndB => (regs[s] as u32, 1),
                    Opc::LdIndH => (regs[s] as u32, 2),
                    _ => (regs[s] as u32, 4),
                };
                match packet_load(packet, base.wrapping_add(imm as u32), size) {
                    Some(v) => regs[0] = v,
                    None => {
                        return Ok(Outcome {
                            r0: 0,
                            insns: executed,
                        })
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
