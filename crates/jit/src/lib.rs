//! An x86-64 JIT compiler for eBPF with the interpreter's semantics: same results, same
//! errors (instruction index and fault), same instruction counts.
//!
//! BPF registers live in host registers as in Linux's JIT; every memory access that is
//! neither inside r10's frame at a constant offset nor proven in bounds by the verifier
//! ([`ProvenAccesses`]) is checked against the run's regions, the instruction
//! budget is checked at backward jumps and calls, and every fault leaves the generated
//! code through an epilogue that returns an error value: never a signal.
//!
//! ```
//! use bpfkit_isa::{Insn, Reg, AluOp, Operand, Width, Size};
//! use bpfkit_jit::JitProgram;
//! use bpfkit_vm::Helpers;
//! // r0 = *(u8 *)(r1 + 0) + r2: first byte plus length.
//! let prog = [
//!     Insn::Ldx { size: Size::B, sx: false, dst: Reg::R0, src: Reg::R1, off: 0 },
//!     Insn::Alu { width: Width::W64, op: AluOp::Add, dst: Reg::R0, src: Operand::Reg(Reg::R2) },
//!     Insn::Exit,
//! ];
//! let mut jit = JitProgram::new(&prog, &Helpers::new()).unwrap();
//! assert_eq!(jit.run_mem(&mut [40, 0]).unwrap().r0, 42);
//! ```

mod codegen;
mod disasm;
mod emit;
mod execmem;
mod proven;
mod regs;
mod runtime;

pub use proven::{ProvenAccesses, ProvenRegion};

use bpfkit_isa::Insn;
use bpfkit_vm::interp::{DEFAULT_BUDGET, MAX_FRAMES, STACK_FRAME_SIZE};
use bpfkit_vm::maps::ProgramFd;
use bpfkit_vm::{
    Helpers, Invocation, Outcome, PrepareError, PrepareErrorKind, Region, Run, VmError,
};
use execmem::ExecMemory;
use std::sync::{Arc, Mutex};

/// Compilation options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitOptions<'a> {
    /// Constant blinding: every immediate of the program is loaded as `(imm ^ key) ^ key`
    /// with a fresh random key, so that no program-chosen constant appears in executable
    /// memory (a defence against JIT spraying). Costs a few instructions per constant.
    pub blinding: bool,
    /// The accesses verification proved in bounds: they are emitted without a bounds
    /// check. Without (an unverified program), every access is checked. Facts about other
    /// instructions than those compiled are not used.
    pub proven: Option<&'a ProvenAccesses>,
}

/// A program compiled to x86-64 machine code, with its own stack and run state, kept
/// from one run to the next. Run it many times; a run borrows it mutably (for the stack),
/// so compile one per thread to run in parallel (or clone it: clones share the code).
pub struct JitProgram {
    code: Arc<JitCode>,
    /// The state generated code runs with.
    ctx: Box<runtime::Ctx>,
    /// The stack's memory, which `ctx` refers to by address.
    stack: Box<[u64]>,
}

/// The compiled code of a program and what it refers to; shared by the clones of a
/// [`JitProgram`] and by the program arrays holding it.
pub(crate) struct JitCode {
    exec: ExecMemory,
    /// Referred to by address from the code: boxed, so it never moves.
    tables: Box<runtime::Tables>,
    insns: Vec<Insn>,
    starts: Vec<u32>,
    stubs_at: u32,
    /// Accesses emitted without a bounds check.
    unchecked: usize,
}

impl Clone for JitProgram {
    /// Shares the compiled code; the copy gets a stack and a run state of its own.
    fn clone(&self) -> Self {
        JitProgram::with_code(self.code.clone(), self.ctx.budget)
    }
}

/// Stacks of dropped programs, kept for the next ones: at 4 KiB, a stack is the largest
/// allocation of a compilation, and the allocator's work for one (it merges its free lists
/// first) cost more than the rest of compiling a small program.
static STACKS: Mutex<Vec<Box<[u64]>>> = Mutex::new(Vec::new());
/// Most stacks kept.
const STACKS_MAX: usize = 64;

/// A zeroed stack for every frame.
fn new_stack() -> Box<[u64]> {
    let reused = STACKS.lock().ok().and_then(|mut kept| kept.pop());
    match reused {
        Some(mut stack) => {
            stack.fill(0);
            stack
        }
        None => vec![0u64; STACK_FRAME_SIZE * MAX_FRAMES / 8].into_boxed_slice(),
    }
}

impl Drop for JitProgram {
    fn drop(&mut self) {
        let stack = std::mem::take(&mut self.stack);
        if let Ok(mut kept) = STACKS.lock() {
            if kept.len() < STACKS_MAX {
                kept.push(stack);
            }
        }
    }
}

impl JitProgram {
    /// Compiles `insns`, resolving helper calls against `helpers`, without blinding.
    pub fn new(insns: &[Insn], helpers: &Helpers) -> Result<JitProgram, PrepareError> {
        Self::with_options(insns, helpers, JitOptions::default())
    }

    /// Compiles `insns` with `options`. A program is rejected exactly when the
    /// interpreter rejects it, with the same error.
    pub fn with_options(
        insns: &[Insn],
        helpers: &Helpers,
        options: JitOptions<'_>,
    ) -> Result<JitProgram, PrepareError> {
        if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            return Err(PrepareError {
                pc: 0,
                kind: PrepareErrorKind::Unsupported("the JIT on this host (x86-64 Linux only)"),
            });
        }
        // The interpreter's checks decide what is a valid program (empty programs,
        // branches, writes to r10, unknown helpers, unsupported forms).
        let resolved = bpfkit_vm::interp::validate(insns, helpers)?;
        // The code refers to the tables by address: boxed first, filled in place once the
        // code is mapped.
        let segments = codegen::Segments::of(insns);
        let mut tables = Box::new(codegen::tables(insns, &segments, resolved, helpers));
        let mut compiled = codegen::compile(insns, &segments, &tables, options)?;
        let exec = ExecMemory::new(&mut compiled.code).map_err(|_| PrepareError {
            pc: 0,
            kind: PrepareErrorKind::Unsupported("executable memory (memfd_create or mmap failed)"),
        })?;
        let base = exec.addr();
        for (entry, body) in tables.functions.iter_mut().zip(&compiled.bodies) {
            *entry = body.map_or([0, 0], |(off, rem)| [base + off as u64, rem]);
        }
        tables.start = base + compiled.starts[0] as u64;
        let code = Arc::new(JitCode {
            exec,
            tables,
            insns: insns.to_vec(),
            starts: compiled.starts,
            stubs_at: compiled.stubs_at,
            unchecked: compiled.unchecked,
        });
        Ok(JitProgram::with_code(code, DEFAULT_BUDGET))
    }

    /// A program running `code`, with a zeroed stack for every frame.
    fn with_code(code: Arc<JitCode>, budget: u64) -> JitProgram {
        let mut stack = new_stack();
        let stack_region = Region {
            start: stack.as_mut_ptr() as u64,
            len: (stack.len() * 8) as u64,
            writable: true,
        };
        // SAFETY: the code starts with the prologue, of signature `Entry`.
        let entry: runtime::Entry = unsafe { std::mem::transmute(code.exec.addr() as usize) };
        let ctx = Box::new(runtime::Ctx::new(entry, &code.tables, stack_region, budget));
        JitProgram { code, ctx, stack }
    }

    /// Loads the program for program arrays: the descriptor is what user space stores in a
    /// `BPF_MAP_TYPE_PROG_ARRAY` slot for `bpf_tail_call` to jump to. Only JIT-compiled
    /// programs may tail-call a JIT-compiled program.
    pub fn program_fd(&self) -> ProgramFd {
        ProgramFd::new(self.code.clone())
    }

    /// Sets the most instructions one run may execute before it faults.
    pub fn set_budget(&mut self, budget: u64) {
        self.ctx.set_budget(budget);
    }

    /// How many loads, stores and atomics were emitted without a bounds check because
    /// [`JitOptions::proven`] proved them in bounds.
    pub fn unchecked_accesses(&self) -> usize {
        self.code.unchecked
    }

    /// Size of the generated machine code in bytes.
    pub fn code_len(&self) -> usize {
        self.code.exec.bytes().len()
    }

    /// Runs the program as the plain memory program type: r1 = start of `mem`, r2 = its
    /// length; `mem` is readable and writable, and is also the packet of legacy loads.
    pub fn run_mem(&mut self, mem: &mut [u8]) -> Result<Outcome, VmError> {
        self.run(Invocation::memory(mem))
    }

    /// Runs the program once.
    pub fn run(&mut self, mut inv: Invocation<'_>) -> Result<Outcome, VmError> {
        self.run_on(inv.as_run())
    }

    /// Runs the program once on memory the caller keeps (see [`Run`]).
    #[inline]
    pub fn run_on(&mut self, run: Run<'_, '_>) -> Result<Outcome, VmError> {
        runtime::run(&mut self.ctx, &self.code.tables, run)
    }

    /// The generated code, disassembled, under the BPF instruction each piece comes from.
    pub fn disasm_jited(&self) -> String {
        let code = &self.code;
        disasm::listing(
            code.exec.bytes(),
            code.exec.addr(),
            &code.insns,
            &code.starts,
            code.stubs_at as usize,
        )
    }
}

impl bpfkit_vm::Engine for JitProgram {
    fn set_budget(&mut self, budget: u64) {
        JitProgram::set_budget(self, budget)
    }

    fn program_fd(&self) -> ProgramFd {
        JitProgram::program_fd(self)
    }

    fn run_on(&mut self, run: Run<'_, '_>) -> Result<Outcome, VmError> {
        JitProgram::run_on(self, run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpfkit_isa::{Reg, Size};
    use bpfkit_vm::{Access, Fault, Memory};

    /// The run state kept between runs never lets a run reach the last run's memory:
    /// the bounds checked inline are those of each run's own regions.
    #[test]
    fn a_run_sees_only_its_own_regions() {
        // r0 = *(u8 *)(r1 + 12): inside a 16-byte buffer, past an 8-byte one.
        let prog = [
            Insn::Ldx {
                size: Size::B,
                sx: false,
                dst: Reg::R0,
                src: Reg::R1,
                off: 12,
            },
            Insn::Exit,
        ];
        let mut jit = JitProgram::new(&prog, &Helpers::new()).unwrap();
        let mut long = [7u8; 16];
        assert_eq!(jit.run_mem(&mut long).unwrap().r0, 7);
        let mut short = [0u8; 8];
        let addr = short.as_ptr() as u64 + 12;
        let err = jit.run_mem(&mut short).unwrap_err();
        assert_eq!(
            err.fault,
            Fault::OutOfBounds {
                addr,
                size: 1,
                access: Access::Read
            }
        );
        // The same memory kept for two runs: the second sees its first region as it
        // is then, and neither leaves the stack in it.
        let mut memory = Memory::new();
        memory.add_mut(&mut long);
        let first = *memory.regions().next().unwrap();
        let start = first.start;
        let args = [start, 0, 0, 0, 0];
        let run = |jit: &mut JitProgram, memory: &mut Memory<'_>| {
            jit.run_on(Run {
                args,
                memory,
                packet: None,
                packet_state: None,
            })
        };
        assert_eq!(run(&mut jit, &mut memory).unwrap().r0, 7);
        let shrunk = Region {
            start,
            len: 12,
            writable: true,
        };
        // SAFETY: a part of `long`, which outlives `memory`.
        assert!(unsafe { memory.replace(first, shrunk) });
        assert!(run(&mut jit, &mut memory).is_err());
        assert_eq!(memory.regions().copied().collect::<Vec<_>>(), [shrunk]);
    }
}
