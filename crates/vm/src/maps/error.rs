//! Map errors: the kernel's errno values for the same failures.

use thiserror::Error;

/// Why a map operation failed, as the errno Linux returns for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum MapError {
    /// `ENOENT`: no such key, or nothing after the last key, or an empty queue.
    #[error("no such element (ENOENT)")]
    NoEntry,
    /// `EEXIST`: `BPF_NOEXIST` on an existing key.
    #[error("element exists (EEXIST)")]
    Exists,
    /// `E2BIG`: the map is full, or an array index is out of range.
    #[error("map is full or index out of range (E2BIG)")]
    TooBig,
    /// `EINVAL`: bad flags, sizes or attributes.
    #[error("invalid argument (EINVAL)")]
    Invalid,
    /// `ENOSPC`: an lpm_trie is full.
    #[error("no space left (ENOSPC)")]
    NoSpace,
    /// `ENOMEM`: the value could not be allocated.
    #[error("out of memory (ENOMEM)")]
    NoMemory,
    /// `EOVERFLOW`: a value beyond what the map type accepts (a CPU map's queue size).
    #[error("value too large for this map (EOVERFLOW)")]
    Overflow,
    /// `EOPNOTSUPP`: the operation is refused for this map type (reading a socket map
    /// from user space).
    #[error("operation not supported (EOPNOTSUPP)")]
    OpNotSupported,
    /// `ENOTSUPP` (524, kernel-internal): the operation does not exist for this map type.
    #[error("operation not supported for this map type (ENOTSUPP)")]
    NotSupported,
}

impl MapError {
    /// The positive errno value.
    pub fn errno(self) -> i32 {
        match self {
            MapError::NoEntry => 2,
            MapError::TooBig => 7,
            MapError::NoMemory => 12,
            MapError::Exists => 17,
            MapError::Invalid => 22,
            MapError::NoSpace => 28,
            MapError::Overflow => 75,
            MapError::OpNotSupported => 95,
            MapError::NotSupported => 524,
        }
    }

    /// The error for a positive errno value, if it is one maps return.
    pub fn from_errno(errno: i32) -> Option<MapError> {
        [
            MapError::NoEntry,
            MapError::TooBig,
            MapError::NoMemory,
            MapError::Exists,
            MapError::Invalid,
            MapError::NoSpace,
            MapError::Overflow,
            MapError::OpNotSupported,
            MapError::NotSupported,
        ]
        .into_iter()
        .find(|e| e.errno() == errno)
    }

    /// What a helper returns to the program for this error: `-errno` in r0.
    pub fn to_r0(self) -> u64 {
        -(self.errno() as i64) as u64
    }
}
