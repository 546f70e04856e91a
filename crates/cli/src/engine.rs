//! The engines `--engine` names, and building one for a program.

use bpfkit_isa::Insn;
use bpfkit_jit::JitProgram;
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
    pub fn build(self, insns: &[Insn], helpers: &Helpers) -> Result<Box<dyn Engine>, String> {
        match self {
            EngineKind::Interp => Interpreter::new(insns, helpers)
                .map(|v| Box::new(v) as _)
                .map_err(|e| e.to_string()),
            EngineKind::Jit => JitProgram::new(insns, helpers)
                .map(|v| Box::new(v) as _)
                .map_err(|e| e.to_string()),
        }
    }
}
