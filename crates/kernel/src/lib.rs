//! The Linux kernel's BPF, over the bpf(2) system call: load programs (with the verifier's
//! log when it rejects them) and run them on given bytes with `BPF_PROG_TEST_RUN`. This is
//! the reference bpfkit's own engines are compared with.
//!
//! ```no_run
//! use bpfkit_kernel::{Program, ProgType, TestRun};
//! // r0 = 2 (XDP_PASS); exit
//! let code = [0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
//! let program = Program::load(ProgType::Xdp, &code, "GPL", "pass").unwrap();
//! let packet = [0u8; 64];
//! let result = program.test_run(&TestRun { data_in: &packet, ..TestRun::default() }).unwrap();
//! assert_eq!(result.retval, 2);
//! ```
//!
//! Loading needs privileges (CAP_BPF, or root); [`available`] tells whether this process
//! has them, so that tests can skip, saying why.

#[cfg(target_os = "linux")]
mod error;
#[cfg(target_os = "linux")]
mod map;
#[cfg(target_os = "linux")]
mod program;
#[cfg(target_os = "linux")]
mod sys;

#[cfg(target_os = "linux")]
pub use error::{Errno, KernelError};
#[cfg(target_os = "linux")]
pub use map::{possible_cpus, Entry, KernelMap, MapBtf};
#[cfg(target_os = "linux")]
pub use program::{available, KernelBtf, ProgType, Program, ProgramBtf, TestRun, TestRunResult};

/// Whether this process may load BPF programs: never, outside Linux.
#[cfg(not(target_os = "linux"))]
pub fn available() -> Result<(), String> {
    Err(format!(
        "kernel BPF exists only on Linux, this is {}",
        std::env::consts::OS
    ))
}
