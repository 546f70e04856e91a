//! Errors of the kernel backend.

use std::fmt;
use thiserror::Error;

/// A failed system call's `errno`, shown by name and description: `EPERM (Operation not
/// permitted)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's current `errno`.
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The symbolic name of the errors bpf(2) documents, if this is one of them.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::E2BIG => "E2BIG",
            libc::EBADF => "EBADF",
            libc::ENOMEM => "ENOMEM",
            libc::EACCES => "EACCES",
            libc::EFAULT => "EFAULT",
            libc::EBUSY => "EBUSY",
            libc::EINVAL => "EINVAL",
            libc::ENOSPC => "ENOSPC",
            libc::ENOSYS => "ENOSYS",
            libc::EOPNOTSUPP => "EOPNOTSUPP",
            // The kernel-internal ENOTSUPP, which bpf(2) lets escape to user space.
            524 => "ENOTSUPP",
            _ => return None,
        })
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let description = std::io::Error::from_raw_os_error(self.0).to_string();
        // std appends " (os error N)" to strerror's text; the name already says which.
        let description = description.split(" (os error").next().unwrap_or_default();
        match self.name() {
            Some(name) => write!(f, "{name} ({description})"),
            None => write!(f, "{description}"),
        }
    }
}

/// Why a kernel operation failed.
#[derive(Debug, Error)]
pub enum KernelError {
    /// The arguments cannot be passed to the kernel as they are.
    #[error("invalid argument: {0}")]
    InvalidInput(String),
    /// The verifier (or the loader before it) refused the program.
    #[error("the kernel rejected program `{name}`: {errno}\nverifier log:\n{log}")]
    Rejected {
        name: String,
        errno: Errno,
        /// The verifier's log at level 1; it ends with the reason for the rejection.
        log: String,
    },
    /// The kernel refused BTF given to `BPF_BTF_LOAD`.
    #[error("the kernel rejected the BTF: {errno}\nBTF log:\n{log}")]
    BtfRejected { errno: Errno, log: String },
    /// A bpf(2) command failed.
    #[error("bpf({command}) failed: {errno}")]
    Syscall { command: &'static str, errno: Errno },
}
