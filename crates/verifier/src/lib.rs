//! The eBPF verifier: proves, before a program runs, that it is memory-safe for its
//! program type, by abstract interpretation over every path like the kernel's
//! kernel/bpf/verifier.c, and explains each rejection so that a person can fix it.
//!
//! ```
//! use bpfkit_isa::{AluOp, Insn, Operand, Reg, Size, Width};
//! use bpfkit_verifier::{verify, ProgType, VerifierOptions};
//! // r0 = *(u8 *)(r1 + 0); exit -- on a 'memory' buffer nothing proves has a byte.
//! let prog = [
//!     Insn::Ldx { size: Size::B, sx: false, dst: Reg::R0, src: Reg::R1, off: 0 },
//!     Insn::Exit,
//! ];
//! let err = verify(&prog, &ProgType::MEMORY, &VerifierOptions::default()).unwrap_err();
//! assert_eq!(err.pc, 0);
//! // Checking the length first makes it safe.
//! let prog = [
//!     Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Operand::Imm(0) },
//!     Insn::Jmp { width: Width::W64, cond: bpfkit_isa::JmpCond::Eq, dst: Reg::R2,
//!                 src: Operand::Imm(0), off: 1 },
//!     Insn::Ldx { size: Size::B, sx: false, dst: Reg::R0, src: Reg::R1, off: 0 },
//!     Insn::Exit,
//! ];
//! assert!(verify(&prog, &ProgType::MEMORY, &VerifierOptions::default()).is_ok());
//! ```
//!
//! Modules, from the bottom up: [`tnum`] and [`bounds`] (what is known of a number),
//! [`state`] (registers and stack), [`progtype`] and [`helpers`] (program types and helper
//! prototypes as data), [`cfg`](mod@cfg) (structural checks), the interpreter (`check` driving
//! `alu`, `mem`, `branch`, `call`, with `prune` for state pruning), [`facts`] (what
//! accepted programs give engines) and [`diag`] (rejections).

mod alu;
pub mod bounds;
mod branch;
mod call;
pub mod cfg;
mod check;
pub mod diag;
pub mod error;
pub mod facts;
mod format;
pub mod helpers;
mod mem;
pub mod progtype;
mod prune;
pub mod state;
pub mod tnum;

pub use check::Stats;
pub use diag::{Rejection, SliceStep};
pub use error::ErrorKind;
pub use facts::{InsnFacts, Region};
pub use helpers::{Arg, HelperProto, Ret};
pub use progtype::ProgType;

use bpfkit_isa::Insn;

/// The kernel's limit on processed instructions (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const COMPLEXITY_LIMIT: usize = 1_000_000;

/// A map the program may reference with `lddw`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MapSpec {
    /// The file descriptor `BPF_PSEUDO_MAP_FD` references use; index-based references
    /// (`BPF_PSEUDO_MAP_IDX`) use the position in [`VerifierOptions::maps`].
    pub fd: Option<i32>,
    /// `enum bpf_map_type`.
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// `BPF_F_*` creation flags, of which `BPF_F_RDONLY_PROG` and `BPF_F_WRONLY_PROG`
    /// restrict what programs may do with the values.
    pub flags: u32,
    /// For a map of maps (`BPF_MAP_TYPE_ARRAY_OF_MAPS`, `BPF_MAP_TYPE_HASH_OF_MAPS`): the
    /// maps it holds, as the kernel's `inner_map_fd` template describes them. A lookup
    /// in the outer map returns a pointer to such a map, or null.
    pub inner: Option<Box<MapSpec>>,
    /// The offset in the value of its `struct bpf_spin_lock`, when the value's BTF type
    /// has one (the kernel's `spin_lock_off`, found by `btf_find_spin_lock`): the one
    /// place `bpf_spin_lock` and `bpf_spin_unlock` may point to, and bytes no load or
    /// store may touch.
    pub spin_lock: Option<u32>,
    /// For a map programs may only read (`BPF_F_RDONLY_PROG`) and that user space froze
    /// (`BPF_MAP_FREEZE`) before loading, as libbpf does with `.rodata`: the contents of
    /// its element 0, in which the kernel checks constant strings (`bpf_snprintf`'s
    /// format).
    pub frozen: Option<Vec<u8>>,
}

/// What the verifier is told besides the program and its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierOptions {
    /// The maps `lddw` may reference.
    pub maps: Vec<MapSpec>,
    /// Helpers besides Linux's, callable from every program type; they take precedence
    /// over standard helpers of the same number.
    pub helpers: Vec<HelperProto>,
    /// Budget of processed instructions over all paths.
    pub max_insns: usize,
    /// Whether to keep a kernel-style trace (log level 2).
    pub log: bool,
    /// The first slots of the program's global functions (BTF `FUNC` linkage global).
    /// The kernel verifies those apart from their callers and refuses calls to them
    /// under a spin lock; bpfkit verifies every function in its caller's context, but
    /// refuses those calls too.
    pub global_functions: Vec<usize>,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        VerifierOptions {
            maps: Vec::new(),
            helpers: Vec::new(),
            max_insns: COMPLEXITY_LIMIT,
            log: false,
            global_functions: Vec::new(),
        }
    }
}

/// An accepted program's proven facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Per instruction slot (an `lddw`'s second slot has empty facts).
    pub facts: Vec<InsnFacts>,
    pub stats: Stats,
    /// The kernel-style trace, when asked for.
    pub log: Option<String>,
}

/// Verifies `insns` as a program of type `prog_type`.
pub fn verify(
    insns: &[Insn],
    prog_type: &ProgType,
    opts: &VerifierOptions,
) -> Result<Verified, Box<Rejection>> {
    let cfg = cfg::build(insns).map_err(|(pc, kind)| {
        Box::new(diag::rejection(
            insns,
            None,
            prog_type.name,
            pc,
            kind,
            &[],
            None,
            &diag::Path::default(),
        ))
    })?;
    let mut checker = check::Checker::new(insns, cfg, prog_type, opts);
    match checker.run() {
        Ok(()) => Ok(Verified {
            facts: checker.facts,
            stats: checker.stats,
            log: checker.log,
        }),
        Err(failure) => {
            let mut r = diag::rejection(
                insns,
                Some(&checker.cfg),
                prog_type.name,
                failure.pc,
                failure.fail.kind,
                &failure.fail.regs,
                failure.state.as_ref(),
                &failure.path,
            );
            r.insns_processed = checker.stats.insns_processed;
            // Like the kernel's, the log ends with the reason.
            r.log = checker
                .log
                .map(|log| format!("{log}{}\n", r.kernel_message));
            Err(Box::new(r))
        }
    }
}
