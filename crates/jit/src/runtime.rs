//! What generated code runs with: the context struct it reads through `r12`, the Rust
//! functions it calls (helpers and the slow path of bounds checks), and the call into the
//! generated code itself.

use bpfkit_vm::helpers::map;
use bpfkit_vm::helpers::{ProgramCalls, MAX_TAIL_CALLS};
use bpfkit_vm::interp::{FUNC_ADDR_BASE, MAX_FRAMES, STACK_FRAME_SIZE};
use bpfkit_vm::maps::{Map, MapTable, SharedProgram};
use bpfkit_vm::net::PacketState;
use bpfkit_vm::{
    Access, Fault, Helper, HelperContext, HelperError, Memory, Outcome, Region, Run, VmError,
};
use std::any::Any;
use std::sync::Arc;

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
    pub fn of(r: &Region) -> FastRegion {
        let lim = |size: u64| if r.len >= size { r.len - size + 1 } else { 0 };
        let read = [lim(1), lim(2), lim(4), lim(8)];
        FastRegion {
            start: r.start,
            lim: [read, if r.writable { read } else { [0; 4] }],
        }
    }
}

/// The state of a run, shared between Rust and the generated code (which reads and
/// writes the fields up to `fault_arg` at the offsets given by `ctx_off!`). Kept by its
/// program from one run to the next: a run sets only what changes (see [`run`]).
#[repr(C)]
pub(crate) struct Ctx {
    // What the program's own code reads, within one-byte displacements (see `CTX_BIAS`).
    pub budget: u64,
    /// A local call with r10 at or below this would exceed [`MAX_FRAMES`].
    pub min_fp: u64,
    /// The tables of the program making the current helper call.
    pub cur_prog: *const Tables,
    pub pkt_start: u64,
    pub pkt_len: u64,
    /// Index into the current program's helpers of the helper being called.
    pub cur_helper: u64,
    /// r10 at the current helper call.
    pub fp: u64,
    pub fault_kind: u64,
    pub fast: [FastRegion; 2],
    // What the prologue, the exits and the fault stubs use.
    /// Initial r1..=r5.
    pub args: [u64; 5],
    /// Initial r10: one past the stack, or the frame of a function a helper calls back.
    pub stack_top: u64,
    /// Instructions executed: the counter's value on entry, stored on a normal exit and
    /// around helper calls.
    pub insns: u64,
    /// The host stack pointer after the prologue, for leaving from any depth.
    pub saved_rsp: u64,
    pub fault_pc: u64,
    pub fault_arg: u64,
    /// The caller's second region, for accesses through the context pointer (farther
    /// from the context register: these are fewer than packet and stack accesses).
    pub fast_ctx: FastRegion,
    /// The running thread's index in per-CPU maps ([`cpu::current`]), for inlined per-CPU
    /// array lookups; set when a run enters a program that has one.
    pub cpu: u64,
    // Only Rust reads what follows.
    memory: *mut Memory<'static>,
    /// The packet state of a packet program's run, or null.
    packet_state: *mut PacketState,
    fault: Option<Fault>,
    /// A fault inside a function a helper called back, reported as it is.
    callback_fault: Option<VmError>,
    panic: Option<Box<dyn Any + Send>>,
    /// The entry of generated code (any program's: they are the same code).
    entry: Entry,
    tail_calls: u32,
    /// The target of a tail call the current helper asked for.
    pending: Option<SharedProgram>,
    /// The programs tail calls entered: alive until the run ends.
    targets: Vec<SharedProgram>,
    /// The program's stack, which never moves.
    stack: Region,
    /// The version of the memory's first two regions (`Memory::first_two`) that
    /// `fast[FAST_USER]` and `fast_ctx` were computed from; 0, which no memory has, at
    /// first.
    fast_version: u64,
    /// The index of the region the last access checked here was in: the next one most
    /// likely is too (a map value).
    slow_hint: usize,
}

// SAFETY: the raw pointers of a `Ctx` (the run's memory and packet state, the tables of
// the program making a helper call) are set when a run starts and only dereferenced
// while it runs, on the thread running it; between runs they are null or unused.
unsafe impl Send for Ctx {}

/// What generated code refers to of its own program, at a stable address: the helpers it
/// calls and, per slot, the host address of the instruction (0 for the second slot of an
/// lddw) with the instructions to count when a `callx` or a helper's call enters there.
pub(crate) struct Tables {
    pub helpers: Vec<(i32, Helper)>,
    pub functions: Box<[[u64; 2]]>,
    /// Address of the program's first instruction, where a tail call lands.
    pub start: u64,
    /// The `bpf_map_lookup_elem` calls whose map is known, compiled as direct lookups.
    pub lookups: Vec<DirectLookup>,
    /// The value memory of the arrays whose lookups are inlined, which no helper call adds
    /// to a run: every run gets it. The tables hold those maps, so it stays allocated.
    pub value_regions: Vec<Region>,
    /// Whether some inlined lookup is of a per-CPU array, whose code reads [`Ctx::cpu`].
    pub inlines_percpu: bool,
}

/// A `bpf_map_lookup_elem` call at `pc` on a map known when compiling.
pub(crate) struct DirectLookup {
    pub pc: usize,
    pub map: Arc<dyn Map>,
    /// The table inner map handles resolve in (for maps of maps).
    pub maps: Arc<MapTable>,
}

/// Called by generated code for a [`DirectLookup`]: what the helper does, without
/// resolving the map or going through the helper table. A fault (a bad key pointer) is
/// stored in the context as a helper's would be.
pub(crate) extern "C" fn map_lookup(lookup: *const DirectLookup, key: u64, ctx: *mut Ctx) -> u64 {
    // SAFETY: generated code passes an element of its program's `lookups` (alive as long
    // as the code) and the context of the running `run`, as in `call_helper`; the run's
    // memory is not otherwise borrowed during this call.
    let (lookup, ctx) = unsafe { (&*lookup, &mut *ctx) };
    // SAFETY: as in `run_helper`: the run's memory, alive for the whole run.
    let memory = unsafe { &mut *ctx.memory };
    let result = catch_unwind(AssertUnwindSafe(|| {
        map::lookup_in(&lookup.maps, &*lookup.map, memory, key)
    }));
    match result {
        Ok(Ok(r0)) => return r0,
        Ok(Err(fault)) => ctx.fault = Some(fault),
        Err(panic) => ctx.panic = Some(panic),
    }
    ctx.fault_kind = kind::RUST;
    0
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
    /// The run state of code entered at `entry`, with the stack `stack` (which must not
    /// move while the state is used).
    pub(crate) fn new(entry: Entry, tables: &Tables, stack: Region, budget: u64) -> Ctx {
        let top = stack.start + stack.len;
        Ctx {
            args: [0; 5],
            stack_top: top,
            min_fp: top - ((MAX_FRAMES - 1) * STACK_FRAME_SIZE) as u64,
            budget,
            insns: 0,
            saved_rsp: 0,
            pkt_start: 0,
            pkt_len: 0,
            cur_prog: tables,
            cur_helper: 0,
            fp: 0,
            fault_kind: kind::NONE,
            fault_pc: 0,
            fault_arg: 0,
            fast: [FastRegion::default(), FastRegion::of(&stack)],
            fast_ctx: FastRegion::default(),
            cpu: 0,
            memory: std::ptr::null_mut(),
            packet_state: std::ptr::null_mut(),
            fault: None,
            callback_fault: None,
            panic: None,
            entry,
            tail_calls: 0,
            pending: None,
            targets: Vec::new(),
            stack,
            fast_version: 0,
            slow_hint: 0,
        }
    }

    /// Sets the most instructions one run may execute.
    pub(crate) fn set_budget(&mut self, budget: u64) {
        self.budget = budget;
    }

    /// Points the caller's fast regions at the first and second regions of the run's
    /// memory, computing them again only when the memory says those may have changed
    /// (the packet of a packet program, laid out at the same place for each packet of one
    /// length, seldom does): they are always those of the current regions.
    #[inline(always)]
    fn refresh_user(&mut self, memory: &Memory<'_>) {
        if memory.first_two_version() != self.fast_version {
            let ([user, ctx], version) = memory.first_two();
            self.fast[FAST_USER] = FastRegion::of(&user);
            self.fast_ctx = FastRegion::of(&ctx);
            self.fast_version = version;
        }
    }

    /// Sets the legacy packet (`LD_ABS`/`LD_IND`) to `packet`, or to none.
    #[inline(always)]
    fn set_packet(&mut self, packet: Option<Region>) {
        let pkt = packet.unwrap_or(Region::EMPTY);
        self.pkt_start = pkt.start;
        self.pkt_len = pkt.len;
    }
}

/// Called by generated code for `call imm`: runs helper `ctx.cur_helper` of
/// `ctx.cur_prog` on r1..=r5. A failure is stored in the context (the code checks
/// `fault_kind` after the call).
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
    let r0 = run_helper(ctx, [r1, r2, r3, r4, r5]);
    // Only `bpf_tail_call` leaves the program.
    ctx.pending = None;
    r0
}

/// Runs helper `ctx.cur_helper` of `ctx.cur_prog`.
fn run_helper(ctx: &mut Ctx, args: [u64; 5]) -> u64 {
    // SAFETY: `cur_prog` points at the tables of a program the run keeps alive (the one
    // it started with, or a tail call's target held in `targets`); `memory` at the
    // run's memory, alive for the whole run; nothing else accesses it during this call.
    // `packet_state`, null or not, likewise points at the run's packet state.
    let (tables, memory, packet) =
        unsafe { (&*ctx.cur_prog, &mut *ctx.memory, ctx.packet_state.as_mut()) };
    let (id, helper) = &tables.helpers[ctx.cur_helper as usize];
    let result = catch_unwind(AssertUnwindSafe(|| {
        (helper.func)(
            &mut HelperContext {
                memory,
                packet,
                program: &mut *ctx,
            },
            args,
        )
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
        Ok(Err(HelperError::Callback(e))) => {
            ctx.callback_fault = Some(e);
            None
        }
        Err(panic) => {
            ctx.panic = Some(panic);
            None
        }
    };
    ctx.pending = None;
    ctx.fault = fault;
    ctx.fault_kind = kind::RUST;
    0
}

/// Prepares a run for the array lookups `tables`' program inlines, before it runs that
/// program (its start, or a tail call into it): the run may reach the arrays' value
/// memory (added once each), and per-CPU ones find the thread's index in `cpu`.
fn enter_inlined(memory: &mut Memory<'_>, cpu: &mut u64, tables: &Tables) {
    if tables.inlines_percpu {
        *cpu = bpfkit_vm::maps::cpu::current() as u64;
    }
    for region in &tables.value_regions {
        if !memory.regions().any(|r| r == region) {
            // SAFETY: value memory of maps the tables hold, allocated while the program
            // lives, which the run keeps alive; map memory is only ever accessed through
            // atomics and raw pointers.
            unsafe { memory.add_raw(*region) };
        }
    }
}

/// Called by generated code for `bpf_tail_call`: runs the helper, and returns the address
/// to jump to, or 0 to fall through.
pub(crate) extern "C" fn tail_call(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    ctx: *mut Ctx,
) -> u64 {
    // SAFETY: as in `call_helper`.
    let ctx = unsafe { &mut *ctx };
    run_helper(ctx, [r1, r2, r3, r4, r5]);
    let Some(target) = ctx.pending.take() else {
        return 0;
    };
    let Ok(code) = target.clone().downcast::<crate::JitCode>() else {
        ctx.fault = Some(Fault::Helper {
            id: bpfkit_vm::helpers::linux::id::TAIL_CALL,
            reason:
                "the program array slot holds a program prepared for another engine than this one"
                    .to_string(),
        });
        ctx.fault_kind = kind::RUST;
        return 0;
    };
    // Kept alive until the run ends, once (a self tail call makes 33).
    if !ctx.targets.iter().any(|t| Arc::ptr_eq(t, &target)) {
        // SAFETY: as in `run_helper`: the run's memory, not otherwise borrowed here.
        let memory = unsafe { &mut *ctx.memory };
        enter_inlined(memory, &mut ctx.cpu, &code.tables);
        ctx.targets.push(target);
    }
    code.tables.start
}

impl ProgramCalls for Ctx {
    fn call(
        &mut self,
        memory: &mut Memory<'_>,
        packet: Option<&mut PacketState>,
        func: u64,
        args: [u64; 5],
    ) -> Result<u64, HelperError> {
        // SAFETY: as in `call_helper`.
        let tables = unsafe { &*self.cur_prog };
        let [addr, count] = usize::try_from(func.wrapping_sub(FUNC_ADDR_BASE))
            .ok()
            .and_then(|t| tables.functions.get(t))
            .copied()
            .filter(|[addr, _]| *addr != 0)
            .ok_or(Fault::BadCallTarget(func))?;
        // As a local call checks: the frame below must exist, and the budget.
        if self.fp <= self.min_fp {
            return Err(Fault::CallDepth(MAX_FRAMES).into());
        }
        if self.insns > self.budget {
            return Err(Fault::BudgetExhausted(self.budget).into());
        }
        let saved = (
            self.saved_rsp,
            self.fp,
            self.cur_prog,
            self.cur_helper,
            self.memory,
            self.stack_top,
            self.packet_state,
        );
        self.args = args;
        self.stack_top = self.fp - STACK_FRAME_SIZE as u64;
        self.insns += count;
        self.memory = (memory as *mut Memory<'_>).cast();
        self.packet_state = packet.map_or(std::ptr::null_mut(), |s| s as *mut PacketState);
        // SAFETY: as for the run's entry in `run`; the function's code belongs to a
        // program the run keeps alive, and `memory` and `packet` are the run's, lent by
        // the helper for the length of the call.
        let r0 = unsafe { (self.entry)(self, addr) };
        (
            self.saved_rsp,
            self.fp,
            self.cur_prog,
            self.cur_helper,
            self.memory,
            self.stack_top,
            self.packet_state,
        ) = saved;
        match self.take_error() {
            Some(e) => Err(HelperError::Callback(e)),
            None => Ok(r0),
        }
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

impl Ctx {
    /// The fault the generated code or a Rust function recorded, if any, clearing it.
    fn take_error(&mut self) -> Option<VmError> {
        let pc = self.fault_pc as usize;
        let fault = match std::mem::replace(&mut self.fault_kind, kind::NONE) {
            kind::NONE => return None,
            kind::BUDGET => Fault::BudgetExhausted(self.budget),
            kind::CALL_DEPTH => Fault::CallDepth(MAX_FRAMES),
            kind::BAD_CALL => Fault::BadCallTarget(self.fault_arg),
            kind::FELL_OFF => Fault::FellOffEnd,
            kind::MISALIGNED_4 => Fault::Misaligned {
                addr: self.fault_arg,
                size: 4,
            },
            kind::MISALIGNED_8 => Fault::Misaligned {
                addr: self.fault_arg,
                size: 8,
            },
            _ => {
                if let Some(e) = self.callback_fault.take() {
                    return Some(e);
                }
                self.fault.take().unwrap_or(Fault::FellOffEnd)
            }
        };
        Some(VmError { pc, fault })
    }
}

/// Packs what the slow path of a bounds check needs to know besides the address.
pub(crate) fn check_code(pc: usize, size: usize, access: Access) -> u64 {
    ((pc as u64) << 16) | ((u64::from(access == Access::Write)) << 8) | size as u64
}

/// Called by generated code when an access is outside the inline regions: checks it
/// against all of them, the one the last such access was in first. Returns 0 when
/// allowed; otherwise stores the fault and returns 1.
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
    match memory.check_hinted(&mut ctx.slow_hint, addr, code & 0xff, access) {
        Ok(()) => 0,
        Err(f) => refuse_access(ctx, f, code),
    }
}

/// Records the fault of an access `check_access` refused; returns 1 for it.
#[cold]
#[inline(never)]
fn refuse_access(ctx: &mut Ctx, fault: Fault, code: u64) -> u64 {
    ctx.fault = Some(fault);
    ctx.fault_kind = kind::RUST;
    ctx.fault_pc = code >> 16;
    1
}

/// Called by generated code for a legacy packet load at a negative offset (the low 32
/// bits of `offset`, as i32) of `size` bytes: the value loaded, or -1 when the load ends
/// the program with 0 ([`PacketState::legacy_load_negative`]).
pub(crate) extern "C" fn packet_load_negative(ctx: *mut Ctx, offset: u64, size: u64) -> i64 {
    // SAFETY: as in `call_helper`; the packet state, if any, is only read here.
    let state = unsafe { (*ctx).packet_state.as_ref() };
    state
        .and_then(|s| s.legacy_load_negative(offset as u32 as i32, size as usize))
        .map_or(-1, |v| v as i64)
}

/// The generated code's entry point: runs the code at the address given (the program's
/// first instruction, or a function a helper calls back) with r1..=r5 from
/// [`Ctx::args`], r10 from [`Ctx::stack_top`] and the counter from [`Ctx::insns`].
pub(crate) type Entry = unsafe extern "sysv64" fn(*mut Ctx, u64) -> u64;

/// Runs compiled code once, entering at `tables.start`, with the run state `ctx` made
/// for the code (its stack included) by [`Ctx::new`]. Inlined into the engine's
/// `run_on`: one call less per run.
#[inline(always)]
pub(crate) fn run(ctx: &mut Ctx, tables: &Tables, run: Run<'_, '_>) -> Result<Outcome, VmError> {
    let Run {
        args,
        memory,
        packet,
        packet_state,
    } = run;
    let lent = memory.len();
    // The run's memory: the caller's regions, the stack and the values of the arrays
    // whose lookups the program inlines.
    // SAFETY: the stack is owned by the program running, which `ctx` belongs to, and
    // taken out of `memory` again before this function returns.
    unsafe { memory.set_stack(ctx.stack) };
    enter_inlined(memory, &mut ctx.cpu, tables);
    ctx.args = args;
    ctx.stack_top = ctx.stack.start + ctx.stack.len;
    ctx.insns = 0;
    ctx.cur_prog = tables;
    ctx.tail_calls = 0;
    ctx.memory = (memory as *mut Memory<'_>).cast();
    ctx.packet_state = packet_state.map_or(std::ptr::null_mut(), |s| s as *mut PacketState);
    ctx.refresh_user(memory);
    ctx.set_packet(packet);
    // SAFETY: `entry` is the prologue of the code of `tables`, in executable memory the
    // caller keeps alive. The code follows the System V ABI at its entry and exit,
    // touches memory only inside the context, its own stack frames and regions it checked
    // (inline or through `check_access`) against `memory`, and ends every path — including
    // faults — by returning here.
    let r0 = unsafe { (ctx.entry)(ctx, tables.start) };
    // The memory goes back as it came: without the stack, and without the map values
    // the program's inlined lookups and its helpers lent this run; the programs tail calls entered are let go.
    // SAFETY: no region.
    unsafe { memory.set_stack(Region::EMPTY) };
    if memory.len() != lent {
        memory.truncate(lent);
    }
    ctx.memory = std::ptr::null_mut();
    ctx.packet_state = std::ptr::null_mut();
    if !ctx.targets.is_empty() {
        ctx.targets.clear();
    }
    if let Some(panic) = ctx.panic.take() {
        std::panic::resume_unwind(panic);
    }
    match ctx.take_error() {
        Some(e) => Err(e),
        None => Ok(Outcome {
            r0,
            insns: ctx.insns,
        }),
    }
}
