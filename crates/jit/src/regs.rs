//! Where BPF registers live on the host, as in Linux's x86-64 JIT, and the host registers
//! the generated code keeps for itself.

use crate::emit::R;
use bpfkit_isa::Reg;

/// Host register of each BPF register r0..=r10. r1..r5 are the first five argument
/// registers of the System V ABI, so a helper call needs no shuffling; r6..r9 and r10
/// are callee-saved, so they survive calls into Rust.
const MAP: [R; 11] = [
    R::RAX, // r0: return value
    R::RDI, // r1
    R::RSI, // r2
    R::RDX, // r3
    R::RCX, // r4: also the shift count register, see codegen::alu
    R::R8,  // r5
    R::RBX, // r6
    R::R13, // r7
    R::R14, // r8
    R::R15, // r9
    R::RBP, // r10: frame pointer
];

/// The host register holding BPF register `r`.
pub(crate) fn host(r: Reg) -> R {
    MAP[r.index()]
}

/// Instructions executed so far in the run (exact; see `codegen` on segments).
pub(crate) const COUNT: R = R::R9;
/// Pointer into the run's context (`runtime::Ctx`, plus `runtime::CTX_BIAS`),
/// callee-saved so it survives helpers.
pub(crate) const CTX: R = R::R12;
/// Scratch registers: never hold a value across BPF instructions.
pub(crate) const T0: R = R::R10;
pub(crate) const T1: R = R::R11;
