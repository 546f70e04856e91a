//! The bpf(2) system call with the members of `union bpf_attr` bpfkit uses, laid out as in
//! `/usr/include/linux/bpf.h`. This module holds all of the crate's `unsafe`.
//!
//! Each attribute struct is built only from borrowed slices, so every pointer in it stays
//! valid, with the length stored beside it, for as long as the struct lives; that is what
//! makes [`bpf`] safe to call.

use crate::error::Errno;
use std::ffi::CStr;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `enum bpf_cmd` values.
pub(crate) const BPF_PROG_LOAD: u32 = 5;
pub(crate) const BPF_PROG_TEST_RUN: u32 = 10;
pub(crate) const BPF_BTF_LOAD: u32 = 18;

/// `BPF_OBJ_NAME_LEN`: program names hold at most 15 bytes and a NUL.
pub(crate) const BPF_OBJ_NAME_LEN: usize = 16;

/// A `union bpf_attr` member: `repr(C)`, zero where unused, and each pointer field either
/// null or borrowed, with its length, from memory that outlives the value.
///
/// # Safety
/// Implementors guarantee the above for every value that can be constructed, so that the
/// kernel only reads and writes memory the value borrows.
pub(crate) unsafe trait Attr {}

/// The `BPF_PROG_LOAD` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgLoadAttr<'a> {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; BPF_OBJ_NAME_LEN],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_prog_fd: u32,
    core_relo_cnt: u32,
    fd_array: u64,
    core_relos: u64,
    core_relo_rec_size: u32,
    /// The struct's tail padding, made explicit so that it is zero: the kernel rejects
    /// attributes with non-zero bytes past the fields it knows.
    _pad: u32,
    borrows: PhantomData<&'a mut [u8]>,
}

// sizeof and offsetof(core_relo_rec_size) + 4 in linux/bpf.h are 144 and 140 on 64-bit.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<ProgLoadAttr>() == 144);

// SAFETY: `insns`, `license` and `log_buf` are only set by `new`, from
// slices borrowed for 'a, with `insn_cnt` and `log_size` their lengths.
unsafe impl Attr for ProgLoadAttr<'_> {}

impl<'a> ProgLoadAttr<'a> {
    /// Loads `insns` as `prog_type`, with the verifier's log at level 1 into `log` if given.
    pub fn new(
        prog_type: u32,
        insns: &'a [u8],
        license: &'a CStr,
        name: [u8; BPF_OBJ_NAME_LEN],
        log: Option<&'a mut [u8]>,
    ) -> Result<ProgLoadAttr<'a>, &'static str> {
        if !insns.len().is_multiple_of(8) {
            return Err("its length is not a whole number of 8-byte instructions");
        }
        let insn_cnt = u32::try_from(insns.len() / 8).map_err(|_| "it is too long")?;
        let (log_level, log_size, log_buf) = match log {
            Some(log) => (
                1,
                u32::try_from(log.len()).map_err(|_| "the log buffer is too large")?,
                log.as_mut_ptr() as u64,
            ),
            None => (0, 0, 0),
        };
        Ok(ProgLoadAttr {
            prog_type,
            insn_cnt,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level,
            log_size,
            log_buf,
            prog_name: name,
            ..ProgLoadAttr::default()
        })
    }
}

impl<'a> ProgLoadAttr<'a> {
    /// Loads the program with the types of `btf` and its functions' `bpf_func_info`
    /// records (8 bytes each: instruction index, `FUNC` type id).
    pub fn with_btf(
        mut self,
        btf: BorrowedFd<'a>,
        func_info: &'a [u8],
    ) -> Result<ProgLoadAttr<'a>, &'static str> {
        if !func_info.len().is_multiple_of(8) {
            return Err("its func_info is not a whole number of 8-byte records");
        }
        self.prog_btf_fd = u32::try_from(btf.as_raw_fd()).map_err(|_| "bad BTF descriptor")?;
        self.func_info_rec_size = 8;
        self.func_info = pointer(func_info);
        self.func_info_cnt =
            u32::try_from(func_info.len() / 8).map_err(|_| "its func_info is too long")?;
        Ok(self)
    }
}

/// The `BPF_BTF_LOAD` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct BtfLoadAttr<'a> {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    /// `btf_log_true_size` in newer kernels, an output; zero on input.
    _true_size: u32,
    borrows: PhantomData<&'a mut [u8]>,
}

const _: () = assert!(std::mem::size_of::<BtfLoadAttr>() == 32);

// SAFETY: `btf` and `btf_log_buf` are only set by `new`, from slices borrowed for 'a
// (the log mutably), with `btf_size` and `btf_log_size` their lengths.
unsafe impl Attr for BtfLoadAttr<'_> {}

impl<'a> BtfLoadAttr<'a> {
    /// Loads the BTF `bytes`, with the log at level 1 into `log` if given.
    pub fn new(bytes: &'a [u8], log: Option<&'a mut [u8]>) -> Option<BtfLoadAttr<'a>> {
        let (btf_log_level, btf_log_size, btf_log_buf) = match log {
            Some(log) => (1, u32::try_from(log.len()).ok()?, log.as_mut_ptr() as u64),
            None => (0, 0, 0),
        };
        Some(BtfLoadAttr {
            btf: pointer(bytes),
            btf_size: u32::try_from(bytes.len()).ok()?,
            btf_log_buf,
            btf_log_size,
            btf_log_level,
            ..BtfLoadAttr::default()
        })
    }
}

/// The `BPF_PROG_TEST_RUN` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct TestRunAttr<'a> {
    prog_fd: u32,
    pub retval: u32,
    data_size_in: u32,
    /// In: the size of `data_out`; out: the size of the packet after the run.
    pub data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    /// Average run time in nanoseconds.
    pub duration: u32,
    ctx_size_in: u32,
    /// In: the size of `ctx_out`; out: the size of the context after the run.
    pub ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    /// Explicit, zeroed tail padding (see `ProgLoadAttr`).
    _pad: u32,
    borrows: PhantomData<&'a mut [u8]>,
}

// sizeof in linux/bpf.h: offsetof(test.batch_size) + 4 = 76, padded to 80.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<TestRunAttr>() == 80);

// SAFETY: the four buffer pointers are only set by `new`, from slices borrowed for 'a (the
// outputs mutably), with the size fields their lengths; `prog_fd` is borrowed for 'a too.
unsafe impl Attr for TestRunAttr<'_> {}

/// The buffers of a test run.
pub(crate) struct TestRunBuffers<'a> {
    pub data_in: &'a [u8],
    pub data_out: &'a mut [u8],
    pub ctx_in: &'a [u8],
    pub ctx_out: &'a mut [u8],
}

impl<'a> TestRunAttr<'a> {
    /// Runs `prog` `repeat` times on the buffers, each at most `u32::MAX` bytes.
    pub fn new(
        prog: BorrowedFd<'a>,
        buffers: TestRunBuffers<'a>,
        repeat: u32,
    ) -> Option<TestRunAttr<'a>> {
        let size = |b: &[u8]| u32::try_from(b.len()).ok();
        Some(TestRunAttr {
            prog_fd: u32::try_from(prog.as_raw_fd()).ok()?,
            data_size_in: size(buffers.data_in)?,
            data_size_out: size(buffers.data_out)?,
            data_in: pointer(buffers.data_in),
            data_out: pointer(buffers.data_out),
            repeat,
            ctx_size_in: size(buffers.ctx_in)?,
            ctx_size_out: size(buffers.ctx_out)?,
            ctx_in: pointer(buffers.ctx_in),
            ctx_out: pointer(buffers.ctx_out),
            ..TestRunAttr::default()
        })
    }
}

/// The address of a buffer, or null for an empty one, which the kernel then leaves alone.
fn pointer(buffer: &[u8]) -> u64 {
    if buffer.is_empty() {
        0
    } else {
        buffer.as_ptr() as u64
    }
}

/// Calls bpf(`cmd`, `attr`, sizeof `attr`), giving the non-negative result.
pub(crate) fn bpf<A: Attr>(cmd: u32, attr: &mut A) -> Result<i64, Errno> {
    let size = std::mem::size_of::<A>() as libc::c_uint;
    // SAFETY: `attr` is a valid, exclusively borrowed `union bpf_attr` member of `size`
    // bytes, and by the `Attr` contract every pointer in it refers to live memory of the
    // length beside it, borrowed (mutably where the kernel writes) at least as long as
    // `attr`. The kernel touches no other memory of the process.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut A as *mut libc::c_void,
            size,
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Calls `BPF_PROG_LOAD`, owning the file descriptor of the loaded program.
pub(crate) fn prog_load(attr: &mut ProgLoadAttr<'_>) -> Result<OwnedFd, Errno> {
    new_fd(bpf(BPF_PROG_LOAD, attr)?)
}

/// Calls `BPF_BTF_LOAD`, owning the file descriptor of the loaded BTF.
pub(crate) fn btf_load(attr: &mut BtfLoadAttr<'_>) -> Result<OwnedFd, Errno> {
    new_fd(bpf(BPF_BTF_LOAD, attr)?)
}

/// The descriptor a successful object-creating command returned.
fn new_fd(fd: i64) -> Result<OwnedFd, Errno> {
    let fd = i32::try_from(fd).map_err(|_| Errno(libc::EBADF))?;
    // SAFETY: a successful BPF_PROG_LOAD or BPF_BTF_LOAD returns a new file descriptor
    // that nothing else in the process knows of, so owning (and eventually closing) it is
    // ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
