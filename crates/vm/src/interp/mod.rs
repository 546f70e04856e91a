//! The interpreter: pre-decoded ops, one dispatch per instruction, every memory access
//! checked against the run's regions unless it was proven in bounds when the program was
//! prepared (r10-relative accesses inside the current frame).

mod exec;
mod op;
mod prepare;

pub use prepare::validate;

use crate::error::{PrepareError, VmError};
use crate::helpers::Helpers;
use crate::maps::ProgramFd;
use crate::memory::{Memory, Region};
use crate::net::PacketState;
use bpfkit_isa::Insn;

/// Bytes of stack per frame, as in Linux (`MAX_BPF_STACK`).
pub const STACK_FRAME_SIZE: usize = 512;
/// Most frames live at once: the program and up to seven nested local calls, as Linux's
/// `MAX_CALL_FRAMES`.
pub const MAX_FRAMES: usize = 8;
/// The default instruction budget of a run.
pub const DEFAULT_BUDGET: u64 = 1 << 32;
/// Value range of function addresses (`lddw` of `BPF_PSEUDO_FUNC`): the base plus the
/// function's slot index. Far from any user-space address, so a data pointer is never
/// mistaken for a function.
pub const FUNC_ADDR_BASE: u64 = 0xffff_ffff_a000_0000;

/// What a program is called with, owning its memory: for a single run. Callers that run
/// a program many times keep their [`Memory`] and hand the engine a [`Run`] for each.
pub struct Invocation<'m> {
    /// Initial values of r1..=r5.
    pub args: [u64; 5],
    /// The regions the program may access, besides its own stack.
    pub memory: Memory<'m>,
    /// The packet for `LD_ABS`/`LD_IND`; without one, those loads end the run with 0 as
    /// they do on an out-of-range offset.
    pub packet: Option<Region>,
    /// The packet state of a packet program's run ([`crate::net`]), which helpers may
    /// change; after every helper call the engines take the legacy packet from it.
    pub packet_state: Option<&'m mut PacketState>,
}

impl<'m> Invocation<'m> {
    /// The call of the plain memory program type: r1 = start of `mem`, r2 = its length;
    /// `mem` is readable and writable, and is also the packet of legacy loads.
    pub fn memory(mem: &'m mut [u8]) -> Invocation<'m> {
        let packet = Region {
            start: mem.as_ptr() as u64,
            len: mem.len() as u64,
            writable: true,
        };
        let mut memory = Memory::new();
        memory.add_mut(mem);
        Invocation {
            args: [packet.start, packet.len, 0, 0, 0],
            memory,
            packet: Some(packet),
            packet_state: None,
        }
    }

    /// The run of this invocation.
    pub fn as_run(&mut self) -> Run<'_, 'm> {
        Run {
            args: self.args,
            memory: &mut self.memory,
            packet: self.packet,
            packet_state: self.packet_state.as_deref_mut(),
        }
    }
}

/// One run of a program on memory its caller keeps from run to run (a packet program's
/// packet, context and map values, with only the packet's bounds changing): what an
/// engine needs for one run, and nothing it would have to build again for the next. The
/// engine adds its stack to `memory` for the length of the run, and takes back, when the
/// run ends, the regions helpers added during it: the memory is given back as it came.
pub struct Run<'a, 'm> {
    /// Initial values of r1..=r5.
    pub args: [u64; 5],
    /// The regions the program may access, besides its own stack. The engines check
    /// accesses against the first two without calling out (see the JIT).
    pub memory: &'a mut Memory<'m>,
    /// The packet for `LD_ABS`/`LD_IND`; without one, those loads end the run with 0 as
    /// they do on an out-of-range offset.
    pub packet: Option<Region>,
    /// The packet state of a packet program's run ([`crate::net`]), which helpers may
    /// change; after every helper call the engines bring `memory`'s packet region and the
    /// legacy packet up to date from it ([`PacketState::resync`]).
    pub packet_state: Option<&'a mut PacketState>,
}

/// A prepared program that can be run: the interpreter, or a JIT-compiled program. An
/// engine keeps what its runs need besides their memory (its stack, the JIT's run
/// context) from one run to the next, so that a run sets up only what the caller changed.
pub trait Engine {
    /// Sets the most instructions one run may execute before it faults.
    fn set_budget(&mut self, budget: u64);
    /// Runs the program once on memory the caller keeps.
    fn run_on(&mut self, run: Run<'_, '_>) -> Result<Outcome, VmError>;
    /// Runs the program once.
    fn run(&mut self, mut inv: Invocation<'_>) -> Result<Outcome, VmError> {
        self.run_on(inv.as_run())
    }
    /// Loads the program for program arrays (see [`Interpreter::program_fd`]).
    fn program_fd(&self) -> ProgramFd;
}

impl<E: Engine + ?Sized> Engine for Box<E> {
    fn set_budget(&mut self, budget: u64) {
        (**self).set_budget(budget)
    }

    #[inline]
    fn run_on(&mut self, run: Run<'_, '_>) -> Result<Outcome, VmError> {
        (**self).run_on(run)
    }

    fn program_fd(&self) -> ProgramFd {
        (**self).program_fd()
    }
}

impl Engine for Interpreter {
    fn set_budget(&mut self, budget: u64) {
        Interpreter::set_budget(self, budget)
    }

    fn program_fd(&self) -> ProgramFd {
        Interpreter::program_fd(self)
    }

    fn run_on(&mut self, run: Run<'_, '_>) -> Result<Outcome, VmError> {
        Interpreter::run_on(self, run)
    }
}

/// The result of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The program's return value.
    pub r0: u64,
    /// Instructions executed (an `lddw` counts once).
    pub insns: u64,
}

/// A program prepared for interpretation, with its own stack. Cheap to run many times;
/// clone it to run on several threads.
pub struct Interpreter {
    prepared: std::sync::Arc<prepare::Prepared>,
    scratch: Box<exec::Scratch>,
    budget: u64,
}

impl Clone for Interpreter {
    /// Shares the prepared program; the copy gets a stack of its own.
    fn clone(&self) -> Self {
        Interpreter {
            prepared: self.prepared.clone(),
            scratch: exec::Scratch::new(),
            budget: self.budget,
        }
    }
}

impl Interpreter {
    /// Prepares `insns`, resolving helper calls against `helpers`.
    pub fn new(insns: &[Insn], helpers: &Helpers) -> Result<Interpreter, PrepareError> {
        Ok(Interpreter {
            prepared: std::sync::Arc::new(prepare::prepare(insns, helpers)?),
            scratch: exec::Scratch::new(),
            budget: DEFAULT_BUDGET,
        })
    }

    /// Sets the most instructions one run may execute before it faults.
    pub fn set_budget(&mut self, budget: u64) {
        self.budget = budget;
    }

    /// Runs the program as the plain memory program type: r1 = start of `mem`, r2 = its
    /// length; `mem` is readable and writable, and is also the packet of legacy loads.
    pub fn run_mem(&mut self, mem: &mut [u8]) -> Result<Outcome, VmError> {
        self.run(Invocation::memory(mem))
    }

    /// Loads the program for program arrays: the descriptor is what user space stores in a
    /// `BPF_MAP_TYPE_PROG_ARRAY` slot for `bpf_tail_call` to jump to. Only interpreted
    /// programs may tail-call an interpreted program.
    pub fn program_fd(&self) -> ProgramFd {
        ProgramFd::new(self.prepared.clone())
    }

    /// Runs the program once.
    pub fn run(&mut self, mut inv: Invocation<'_>) -> Result<Outcome, VmError> {
        self.run_on(inv.as_run())
    }

    /// Runs the program once on memory the caller keeps (see [`Run`]).
    #[inline]
    pub fn run_on(&mut self, run: Run<'_, '_>) -> Result<Outcome, VmError> {
        exec::run(&self.prepared, &mut self.scratch, self.budget, run)
    }
}
