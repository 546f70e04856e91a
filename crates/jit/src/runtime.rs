//! What generated code runs with: the context struct it reads through `r12`, the Rust
//! functions it calls (helpers and the slow path of bounds checks), and the call into the
//! generated code itself.

use bpfkit_vm::interp::{MAX_FRAMES, STACK_FRAME_SIZE};
use bpfkit_vm::net::PacketState;
use bpfkit_vm::{
    Access, Fault, Helper, HelperContext, HelperError, Memory, Outcome, Region, VmError,
};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Fault kinds the generated code reports in [`Ctx::fault_kind`].
pub(crate) mod kind {
    pub const NONE: u64 = 0;
    pub const BUDGET: u64 = 1;
    pub const CALL_DEPTH: u64 = 2;
    /// [`super::Ctx::fault_arg`] is the bad target.
    pub const BAD_CALL: u64 = 3;
    pub const FELL_OFF: u64 = 4;
    /// [`super::Ctx::fault_arg`] is the address.
    pub const MISALIGNED_4: u64 = 5;
    pub const MISALIGNED_8: u64 = 6;
    /// A Rust function stored the fault in [`super::Ctx::fault`].
    pub const RUST: u64 = 7;
}

/// The regions whose bounds generated code checks without calling out, in [`Ctx::fast`]:
/// the first region the caller gave (the packet of a packet program, the memory of a
/// memory program: the usual target of a pointer that is not r10) and the stack; and in
/// [`Ctx::fast_ctx`], the caller's second region (a packet program's context). Accesses
/// outside them go through [`Memory::check`].
pub(crate) const FAST_USER: usize = 0;
pub(crate) const FAST_STACK: usize = 1;
pub(crate) const FAST_CTX: usize = 2;

/// A region as inline bounds checks read it: an access of `1 << s` bytes at `addr`, for
/// access `a` (0 read, 1 write), is inside when `addr - start < lim[a][s]` (unsigned).
/// `lim` is `len - size + 1` when the region allows the access and holds `size` bytes, else
/// 0; so the check forms no `addr + size` and cannot overflow.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct FastRegion {
    pub start: u64,
    pub lim: [[u64; 4]; 2],
}

impl FastRegion {
    pub fn of(r: Option<&Region>) -> FastRegion {
        let Some(r) = r else {
            return FastRegion::default();
        };
        let mut f = FastRegion {
            start: r.start,
            lim: [[0; 4]; 2],
        };
        for (a, allowed) in [true, r.writable].into_iter().enumerate() {
            for s in 0..4 {
                let size = 1u64 << s;
                if allowed && r.len >= size {
                    f.lim[a][s] = r.len - size + 1;
                }
            }
        }
        f
    }
}

/// The state of one run, shared between Rust and the generated code (which reads and
/// writes the fields up to `fault_arg` at the offsets given by `ctx_off!`).
#[repr(C)]
pub(crate) struct Ctx {
    // What the program's own code reads, within one-byte displacements (see `CTX_BIAS`).
    pub budget: u64,
    /// A local call with r10 at or below this would exceed [`MAX_FRAMES`].
    pub min_fp: u64,
    /// Per slot: the host address of the instruction (0 for the second slot of an lddw)
    /// and the instructions to count when a `callx` enters there.
    pub callx: *const [u64; 2],
    pub pkt_start: u64,
    pub pkt_len: u64,
    /// Index into `helpers` of the helper being called.
    pub cur_helper: u64,
    pub fault_kind: u64,
    pub fast: [FastRegion; 2],
    // What the prologue, the exits and the fault stubs use.
    /// Initial r1..=r5.
    pub args: [u64; 5],
    /// Initial r10: one past the stack.
    pub stack_top: u64,
    /// Instructions executed, stored on a normal exit.
    pub insns: u64,
    /// The host stack pointer after the prologue, for leaving from any depth.
    pub saved_rsp: u64,
    pub fault_pc: u64,
    pub fault_arg: u64,
    /// The caller's second region, for accesses through the context pointer (farther
    /// from the context register: these are fewer than packet and stack accesses).
    pub fast_ctx: FastRegion,
    // Only Rust reads what follows.
    memory: *mut Memory<'static>,
    /// The packet state of a packet program's run, or null.
    packet_state: *mut PacketState,
    helpers: *const [(i32, Helper)],
    fault: Option<Fault>,
    panic: Option<Box<dyn Any + Send>>,
}

/// How far into [`Ctx`] the context register points: with the register in the middle,
/// every field the program's code uses is within a one-byte displacement.
pub(crate) const CTX_BIAS: i32 = 128;
const _: () = assert!(std::mem::offset_of!(Ctx, args) <= 2 * CTX_BIAS as usize);

/// Byte offset of a field of [`Ctx`], as a displacement from the context register.
macro_rules! ctx_off {
    ($($f:tt)+) => {
        std::mem::offset_of!($crate::runtime::Ctx, $($f)+) as i32 - $crate::runtime::CTX_BIAS
    };
}
pub(crate) use ctx_off;

/// Offset of the inline-check bound for fast region `i`, access and size.
pub(crate) fn fast_lim_off(i: usize, access: Access, size: usize) -> i32 {
    let a = usize::from(access == Access::Write);
    fast_start_off(i) + 8 + (a * 4 + size.trailing_zeros() as usize) as i32 * 8
}

/// Offset of the start address of fast region `i`.
pub(crate) fn fast_start_off(i: usize) -> i32 {
    if i == FAST_CTX {
        ctx_off!(fast_ctx)
    } else {
        ctx_off!(fast) + (i * std::mem::size_of::<FastRegion>()) as i32
    }
}

impl Ctx {
    /// Points the caller's fast regions at the first and second regions of the run's
    /// memory (the stack comes after the caller's regions, so one of them is the stack
    /// only when the caller gave fewer).
    fn refresh_user(&mut self, memory: &Memory<'_>) {
        let mut regions = memory.regions();
        self.fast[FAST_USER] = FastRegion::of(regions.next());
        self.fast_ctx = FastRegion::of(regions.next());
    }

    /// Sets the legacy packet (`LD_ABS`/`LD_IND`) to `packet`, or to none.
    fn set_packet(&mut self, packet: Option<Region>) {
        let pkt = packet.unwrap_or(Region {
            start: 0,
            len: 0,
            writable: false,
        });
        self.pkt_start = pkt.start;
        self.pkt_len = pkt.len;
    }
}

/// Called by generated code for `call imm`: runs helper `ctx.cur_helper` on r1..=r5.
/// A failure is stored in the context (the code checks `fault_kind` after the call).
pub(crate) extern "C" fn call_helper(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    ctx: *mut Ctx,
) -> u64 {
    // SAFETY: generated code passes the context of the running `run`, which is alive and
    // not otherwise borrowed while the generated code runs.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: `helpers`, `memory` and `packet_state` (null or not) point at values owned
    // by `run`'s caller and alive for the whole run; nothing else accesses them during
    // this call.
    let (helpers, memory, packet) =
        unsafe { (&*ctx.helpers, &mut *ctx.memory, ctx.packet_state.as_mut()) };
    let (id, helper) = &helpers[ctx.cur_helper as usize];
    let result = catch_unwind(AssertUnwindSafe(|| {
        (helper.func)(&mut HelperContext { memory, packet }, [r1, r2, r3, r4, r5])
    }));
    let fault = match result {
        Ok(Ok(v)) => {
            // The helper may have moved the packet or added regions (map values).
            // SAFETY: as above; the helper's borrows have ended.
            let (memory, packet) = unsafe { (&mut *ctx.memory, ctx.packet_state.as_mut()) };
            if let Some(state) = packet {
                state.resync(memory);
                ctx.set_packet(state.legacy_packet());
            }
            ctx.refresh_user(memory);
            return v;
        }
        Ok(Err(HelperError::Fault(f))) => Some(f),
        Ok(Err(HelperError::Failed(reason))) => Some(Fault::Helper { id: *id, reason }),
        Err(panic) => {
            ctx.panic = Some(panic);
            None
        }
    };
    ctx.fault = fault;
    ctx.fault_kind = kind::RUST;
    0
}

/// Packs what the slow path of a bounds check needs to know besides the address.
pub(crate) fn check_code(pc: usize, size: usize, access: Access) -> u64 {
    ((pc as u64) << 16) | ((u64::from(access == Access::Write)) << 8) | size as u64
}

/// Called by generated code when an access is outside the inline regions: checks it
/// against all of them. Returns 0 when allowed; otherwise stores the fault and returns 1.
pub(crate) extern "C" fn check_access(ctx: *mut Ctx, addr: u64, code: u64) -> u64 {
    // SAFETY: as in `call_helper`.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: as in `call_helper`; only read here.
    let memory = unsafe { &*ctx.memory };
    let access = if code & 0x100 != 0 {
        Access::Write
    } else {
        Access::Read
    };
    match memory.check(addr, code & 0xff, access) {
        Ok(()) => 0,
        Err(f) => {
            ctx.fault = Some(f);
            ctx.fault_kind = kind::RUST;
            ctx.fault_pc = code >> 16;
            1
        }
    }
}

/// The generated code's entry point.
pub(crate) type Entry = unsafe extern "sysv64" fn(*mut Ctx) -> u64;

/// What a run needs from the compiled program.
pub(crate) struct RunParts<'p> {
    pub entry: Entry,
    pub callx: &'p [[u64; 2]],
    pub helpers: &'p [(i32, Helper)],
    pub stack: &'p mut [u64],
    /// The stack as a fast region (it does not move between runs).
    pub stack_fast: FastRegion,
    pub budget: u64,
}

/// Runs compiled code once.
pub(crate) fn run(
    p: RunParts<'_>,
    args: [u64; 5],
    mut memory: Memory<'_>,
    packet: Option<Region>,
    packet_state: Option<&mut PacketState>,
) -> Result<Outcome, VmError> {
    let stack = Region {
        start: p.stack.as_mut_ptr() as u64,
        len: std::mem::size_of_val(p.stack) as u64,
        writable: true,
    };
    // The run's memory: the caller's regions, then the stack (the interpreter puts the
    // stack first; the order changes nothing but which region is found first).
    // SAFETY: the stack is exclusively borrowed for the whole run, and `memory` does not
    // outlive this function.
    unsafe { memory.add_raw(stack) };
    let mut ctx = Ctx {
        args,
        stack_top: stack.start + stack.len,
        min_fp: stack.start + stack.len - ((MAX_FRAMES - 1) * STACK_FRAME_SIZE) as u64,
        budget: p.budget,
        insns: 0,
        saved_rsp: 0,
        pkt_start: 0,
        pkt_len: 0,
        callx: p.callx.as_ptr(),
        cur_helper: 0,
        fault_kind: kind::NONE,
        fault_pc: 0,
        fault_arg: 0,
        fast: [FastRegion::default(), p.stack_fast],
        fast_ctx: FastRegion::default(),
        memory: (&mut memory as *mut Memory<'_>).cast(),
        packet_state: packet_state.map_or(std::ptr::null_mut(), |s| s as *mut PacketState),
        helpers: p.helpers,
        fault: None,
        panic: None,
    };
    ctx.refresh_user(&memory);
    ctx.set_packet(packet);
    // SAFETY: `entry` is the prologue of code generated for this program, in executable
    // memory owned by the caller. The code follows the System V ABI at its entry and exit,
    // touches memory only inside the context, its own stack frames and regions it checked
    // (inline or through `check_access`) against `memory`, and ends every path — including
    // faults — by returning here.
    let r0 = unsafe { (p.entry)(&mut ctx) };
    if let Some(panic) = ctx.panic.take() {
        std::panic::resume_unwind(panic);
    }
    let pc = ctx.fault_pc as usize;
    let fault = match ctx.fault_kind {
        kind::NONE => {
            return Ok(Outcome {
                r0,
                insns: ctx.insns,
            })
        }
        kind::BUDGET => Fault::BudgetExhausted(p.budget),
        kind::CALL_DEPTH => Fault::CallDepth(MAX_FRAMES),
        kind::BAD_CALL => Fault::BadCallTarget(ctx.fault_arg),
        kind::FELL_OFF => Fault::FellOffEnd,
        kind::MISALIGNED_4 => Fault::Misaligned {
            addr: ctx.fault_arg,
            size: 4,
        },
        kind::MISALIGNED_8 => Fault::Misaligned {
            addr: ctx.fault_arg,
            size: 8,
        },
        _ => ctx.fault.take().unwrap_or(Fault::FellOffEnd),
    };
    Err(VmError { pc, fault })
}
