//! Errors of the engines: a program that cannot be prepared, and a run that faulted.

use thiserror::Error;

/// Why a program cannot be prepared for execution. Found before anything runs.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PrepareErrorKind {
    #[error("program is empty")]
    Empty,
    #[error("r10 is the read-only frame pointer and cannot be written")]
    WritesFramePointer,
    #[error("unknown helper {0}: no helper with this number is registered")]
    UnknownHelper(i32),
    #[error("{0} is not supported by this environment")]
    Unsupported(&'static str),
    #[error("branch target {target} is not an instruction of the program")]
    BadBranch { target: i64 },
}

/// A program rejected at preparation, with the slot index of the instruction at fault.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("instruction {pc}: {kind}")]
pub struct PrepareError {
    pub pc: usize,
    pub kind: PrepareErrorKind,
}

/// Whether a memory access reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// What went wrong during a run.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Fault {
    #[error("{access} of {size} bytes at {addr:#x} is outside every memory region the program may touch")]
    OutOfBounds {
        addr: u64,
        size: u64,
        access: Access,
    },
    #[error("atomic access of {size} bytes at {addr:#x} is not aligned to {size}")]
    Misaligned { addr: u64, size: u64 },
    #[error("instruction budget of {0} exhausted (runaway loop?)")]
    BudgetExhausted(u64),
    #[error("call depth exceeds {0} frames")]
    CallDepth(usize),
    #[error("callx target {0:#x} is not the address of a function of this program")]
    BadCallTarget(u64),
    #[error("execution fell off the end of the program")]
    FellOffEnd,
    #[error("helper {id} failed: {reason}")]
    Helper { id: i32, reason: String },
}

/// A run that faulted at instruction `pc` (slot index).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("instruction {pc}: {fault}")]
pub struct VmError {
    pub pc: usize,
    pub fault: Fault,
}
