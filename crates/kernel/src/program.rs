//! Loading programs with `BPF_PROG_LOAD` and running them with `BPF_PROG_TEST_RUN`.

use crate::error::{Errno, KernelError};
use crate::sys::{self, BtfLoadAttr, ProgLoadAttr, TestRunAttr, TestRunBuffers, BPF_OBJ_NAME_LEN};
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Program types (`enum bpf_prog_type`), those bpfkit runs in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProgType {
    /// `BPF_PROG_TYPE_SOCKET_FILTER`: the context is a `struct __sk_buff`.
    SocketFilter,
    /// `BPF_PROG_TYPE_SCHED_CLS` (tc): the context is a `struct __sk_buff`.
    SchedCls,
    /// `BPF_PROG_TYPE_SCHED_ACT` (a tc action): the context is a `struct __sk_buff`.
    SchedAct,
    /// `BPF_PROG_TYPE_XDP`: the context is a `struct xdp_md`.
    Xdp,
    /// `BPF_PROG_TYPE_CGROUP_SKB`: the context is a `struct __sk_buff`.
    CgroupSkb,
}

impl ProgType {
    /// The `enum bpf_prog_type` value.
    pub const fn raw(self) -> u32 {
        match self {
            ProgType::SocketFilter => 1,
            ProgType::SchedCls => 3,
            ProgType::SchedAct => 4,
            ProgType::Xdp => 6,
            ProgType::CgroupSkb => 8,
        }
    }
}

/// The verifier log's first size; grown while the kernel says it is too small (ENOSPC).
const LOG_START: usize = 64 * 1024;
/// The largest log asked for: 16 MiB, the most kernels before 5.2 accept (`UINT_MAX >> 8`).
const LOG_MAX: usize = 16 * 1024 * 1024 - 1;

/// A program loaded into the kernel; unloaded when dropped (its file descriptor closed).
#[derive(Debug)]
pub struct Program {
    fd: OwnedFd,
    name: String,
}

impl Program {
    /// Loads encoded instructions (8-byte slots, as `bpfkit_isa::encode_program` produces)
    /// as a program of `prog_type` under `license` (`"GPL"` for GPL-only helpers).
    ///
    /// `name` is what `bpftool prog` shows: the kernel keeps 15 bytes of it and only
    /// ASCII letters, digits, `_` and `.`, so other characters become `_`.
    /// When the verifier rejects the program, the error holds its log (level 1).
    pub fn load(
        prog_type: ProgType,
        insns: &[u8],
        license: &str,
        name: &str,
    ) -> Result<Program, KernelError> {
        Self::load_with_btf(prog_type, insns, license, name, None)
    }

    /// Like [`Program::load`], with the program's BTF: the object's types and its
    /// functions' `bpf_func_info` records, which the kernel needs for programs with
    /// callbacks (`bpf_loop`) or global functions.
    pub fn load_with_btf(
        prog_type: ProgType,
        insns: &[u8],
        license: &str,
        name: &str,
        btf: Option<ProgramBtf<'_>>,
    ) -> Result<Program, KernelError> {
        let license = CString::new(license).map_err(|_| {
            KernelError::InvalidInput(format!("license {license:?} contains a NUL byte"))
        })?;
        let kernel_name = object_name(name);
        let load = |log: Option<&mut [u8]>| {
            let mut attr = ProgLoadAttr::new(prog_type.raw(), insns, &license, kernel_name, log)
                .and_then(|attr| match &btf {
                    Some(btf) => attr.with_btf(btf.btf.as_fd(), btf.func_info),
                    None => Ok(attr),
                })
                .map_err(|reason| {
                    KernelError::InvalidInput(format!("cannot load program `{name}`: {reason}"))
                })?;
            Ok(sys::prog_load(&mut attr).map(|fd| Program {
                fd,
                name: name.to_string(),
            }))
        };
        // Like libbpf, load without a log first: logging slows the verifier down, and a
        // log too small for an accepted program would make the load fail with ENOSPC.
        let errno = match load(None)? {
            Ok(program) => return Ok(program),
            Err(errno) => errno,
        };
        let mut size = LOG_START;
        let log = loop {
            let mut log = vec![0u8; size];
            match load(Some(&mut log))? {
                Ok(program) => return Ok(program),
                Err(Errno(libc::ENOSPC)) if size < LOG_MAX => size = (size * 4).min(LOG_MAX),
                Err(_) => break log_text(&log),
            }
        };
        Err(KernelError::Rejected {
            name: name.to_string(),
            errno,
            log,
        })
    }

    /// The name the program was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the program once or `repeat` times with `BPF_PROG_TEST_RUN`.
    pub fn test_run(&self, opts: &TestRun<'_>) -> Result<TestRunResult, KernelError> {
        let mut data_out = vec![0u8; opts.data_out_size];
        let mut ctx_out = vec![0u8; opts.ctx_out_size];
        let mut attr = TestRunAttr::new(
            self.fd.as_fd(),
            TestRunBuffers {
                data_in: opts.data_in,
                data_out: &mut data_out,
                ctx_in: opts.ctx_in.unwrap_or_default(),
                ctx_out: &mut ctx_out,
            },
            opts.repeat,
        )
        .ok_or_else(|| KernelError::InvalidInput("test run buffers larger than 4 GiB".into()))?;
        sys::bpf(sys::BPF_PROG_TEST_RUN, &mut attr).map_err(|errno| KernelError::Syscall {
            command: "BPF_PROG_TEST_RUN",
            errno,
        })?;
        let (retval, duration_ns) = (attr.retval, attr.duration);
        let (data_len, ctx_len) = (attr.data_size_out as usize, attr.ctx_size_out as usize);
        // The kernel reports the sizes after the run; it copied no more than the buffers hold.
        data_out.truncate(data_len);
        ctx_out.truncate(ctx_len);
        Ok(TestRunResult {
            retval,
            duration_ns,
            data_out,
            ctx_out,
        })
    }
}

impl AsFd for Program {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The BTF a program is loaded with ([`Program::load_with_btf`]).
#[derive(Clone, Copy, Debug)]
pub struct ProgramBtf<'a> {
    /// The object's types, loaded.
    pub btf: &'a KernelBtf,
    /// `struct bpf_func_info` records, 8 bytes each: the first instruction of a function
    /// (in instructions) and its `FUNC` type id, for every function of the program in
    /// order.
    pub func_info: &'a [u8],
}

/// BTF (type information) loaded into the kernel with `BPF_BTF_LOAD`; released when
/// dropped.
#[derive(Debug)]
pub struct KernelBtf {
    fd: OwnedFd,
}

impl KernelBtf {
    /// Loads a `.BTF` section's bytes (as a loader fixed them up for the kernel). When the
    /// kernel refuses them, the error holds its log.
    pub fn load(bytes: &[u8]) -> Result<KernelBtf, KernelError> {
        let invalid = || KernelError::InvalidInput("BTF larger than 4 GiB".into());
        let mut attr = BtfLoadAttr::new(bytes, None).ok_or_else(invalid)?;
        let errno = match sys::btf_load(&mut attr) {
            Ok(fd) => return Ok(KernelBtf { fd }),
            Err(errno) => errno,
        };
        let mut log = vec![0u8; LOG_START];
        let mut attr = BtfLoadAttr::new(bytes, Some(&mut log)).ok_or_else(invalid)?;
        let _ = sys::btf_load(&mut attr);
        Err(KernelError::BtfRejected {
            errno,
            log: log_text(&log),
        })
    }
}

impl AsFd for KernelBtf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// What to run a program on with [`Program::test_run`].
#[derive(Clone, Debug, Default)]
pub struct TestRun<'a> {
    /// The packet (XDP, tc, socket filters).
    pub data_in: &'a [u8],
    /// Room for the packet after the run; 0 to not read it back.
    pub data_out_size: usize,
    /// The context (`struct xdp_md`, `struct __sk_buff`), where the type accepts one.
    pub ctx_in: Option<&'a [u8]>,
    /// Room for the context after the run; 0 to not read it back.
    pub ctx_out_size: usize,
    /// How many times to run (0 means once); `duration_ns` is the average.
    pub repeat: u32,
}

/// The outcome of [`Program::test_run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRunResult {
    /// The low 32 bits of `r0`.
    pub retval: u32,
    /// Average duration of one run, in nanoseconds.
    pub duration_ns: u32,
    /// The packet after the run, if room was given.
    pub data_out: Vec<u8>,
    /// The context after the run, if room was given.
    pub ctx_out: Vec<u8>,
}

/// The text of a NUL-terminated log buffer.
fn log_text(log: &[u8]) -> String {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    String::from_utf8_lossy(&log[..end]).trim_end().to_string()
}

/// `name` as the kernel accepts it: at most 15 bytes of `[A-Za-z0-9_.]` and a NUL.
fn object_name(name: &str) -> [u8; BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; BPF_OBJ_NAME_LEN];
    for (slot, byte) in out[..BPF_OBJ_NAME_LEN - 1].iter_mut().zip(name.bytes()) {
        *slot = if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'.' {
            byte
        } else {
            b'_'
        };
    }
    out
}

/// Whether this process may load BPF programs: loads the smallest socket filter,
/// `r0 = 0; exit`. The error says why not, e.g. `EPERM (Operation not permitted)`.
pub fn available() -> Result<(), String> {
    // mov64 r0, 0 (0xb7); exit (0x95)
    const TRIVIAL: [u8; 16] = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    match Program::load(ProgType::SocketFilter, &TRIVIAL, "GPL", "bpfkit_probe") {
        Ok(_) => Ok(()),
        Err(KernelError::Rejected { errno, log, .. }) if log.is_empty() => Err(errno.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::object_name;

    #[test]
    fn names_are_cut_to_15_bytes_of_what_the_kernel_accepts() {
        // kernel/bpf/syscall.c, bpf_obj_name_cpy: [A-Za-z0-9_.], at most 15 bytes + NUL.
        assert_eq!(&object_name("calls_mem"), b"calls_mem\0\0\0\0\0\0\0");
        assert_eq!(&object_name("a-b c.d"), b"a_b_c.d\0\0\0\0\0\0\0\0\0");
        assert_eq!(
            &object_name("a_very_long_program_name"),
            b"a_very_long_pro\0"
        );
    }
}
