//! The engines `--engine` names, and building one for a program.

use bpfkit_isa::Insn;
use bpfkit_jit::{JitOptions, JitProgram, ProvenAccesses, ProvenRegion};
use bpfkit_verifier::{Region, Verified};
use bpfkit_vm::net::{ConvertError, ConvertedProgram, PacketKind};
use bpfkit_vm::{Engine, Helpers, Interpreter};
use clap::ValueEnum;

/// The engines `--engine` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// The interpreter.
    Interp,
    /// The x86-64 JIT compiler.
    Jit,
}

impl EngineKind {
    /// The name `--engine` takes.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Interp => "interp",
            EngineKind::Jit => "jit",
        }
    }

    /// Prepares `insns` with `helpers` for this engine; the error says why it cannot run.
    /// The JIT drops the bounds checks of the accesses `proven` proves.
    pub fn build(
        self,
        insns: &[Insn],
        helpers: &Helpers,
        proven: Option<&ProvenAccesses>,
    ) -> Result<Box<dyn Engine>, String> {
        match self {
            EngineKind::Interp => Interpreter::new(insns, helpers)
                .map(|v| Box::new(v) as _)
                .map_err(|e| e.to_string()),
            EngineKind::Jit => {
                let options = JitOptions {
                    proven,
                    ..JitOptions::default()
                };
                JitProgram::with_options(insns, helpers, options)
                    .map(|v| Box::new(v) as _)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// The accesses of `insns` that `verified` proved in bounds of a region the JIT trusts
/// (see `ProvenRegion`): the stack, the packet and the values of the program's own maps.
///
/// # Safety
/// As for [`ProvenAccesses::new`]: `verified` accepted `insns`, or the instructions they
/// were made from by relocating map references and converting context accesses, with the
/// maps `insns` run with (their specs, in the order of the run's map table, as
/// `verify::verifier_options` gives them), and the program runs as the type it was
/// verified for, with Linux's map helpers.
pub unsafe fn proven_accesses(insns: &[Insn], verified: &Verified) -> ProvenAccesses {
    let region_of = |pc: usize| match verified.facts.get(pc)?.access? {
        Region::Stack => Some(ProvenRegion::Stack),
        Region::Packet => Some(ProvenRegion::Packet),
        Region::MapValue => Some(ProvenRegion::MapValue),
        // Every other region keeps its checks.
        _ => None,
    };
    // SAFETY: the caller's promise.
    unsafe { ProvenAccesses::new(insns, region_of) }
}

/// `insns`, which `verified` accepted, as a `kind` program: only the accesses the verifier
/// proved to be to the context, or to the socket `__sk_buff.sk` points to, are rewritten
/// to bpfkit's layouts, as the kernel's `convert_ctx_accesses` rewrites those its verifier
/// found.
pub fn convert_verified(
    insns: &[Insn],
    kind: PacketKind,
    verified: &Verified,
) -> Result<ConvertedProgram, ConvertError> {
    let access = |pc: usize| verified.facts.get(pc).and_then(|f| f.access);
    ConvertedProgram::with_sock(
        insns,
        kind,
        |pc| access(pc) == Some(Region::Ctx),
        |pc| access(pc) == Some(Region::Sock),
    )
}
