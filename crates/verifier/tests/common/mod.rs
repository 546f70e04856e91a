//! Shared by the tests over clang-compiled objects: the verifier's view of an object's
//! maps, and the kernel's verdict on one of its programs.

#![allow(dead_code)] // each test file uses a different part

use bpfkit_kernel::KernelError;
use bpfkit_object::{KernelLoadError, MapDef, Object, Program};
use bpfkit_verifier::VerifierOptions;
use std::path::PathBuf;

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// What the verifier is told of `program` of `object`: the object's maps and the
/// program's global functions.
pub fn object_options(object: &Object, program: &Program<'_>) -> VerifierOptions {
    VerifierOptions {
        maps: object.maps().iter().map(MapDef::verifier_spec).collect(),
        global_functions: program.global_functions().expect("BTF function info"),
        ..VerifierOptions::default()
    }
}

/// The kernel's program type for a bpfkit type name, where bpfkit-kernel loads it.
pub fn kernel_type(name: &str) -> Option<bpfkit_kernel::ProgType> {
    match name {
        "xdp" => Some(bpfkit_kernel::ProgType::Xdp),
        "sched_cls" => Some(bpfkit_kernel::ProgType::SchedCls),
        "sched_act" => Some(bpfkit_kernel::ProgType::SchedAct),
        "socket_filter" => Some(bpfkit_kernel::ProgType::SocketFilter),
        "cgroup_skb" => Some(bpfkit_kernel::ProgType::CgroupSkb),
        _ => None,
    }
}

/// The kernel's verdict on program `name` of `object`, loaded as `prog_type` with the
/// object's maps, BTF and func_info (bpfkit's loader linking it): `Some(Ok)` accepted,
/// `Some(Err(log))` rejected, `None` when it cannot be loaded here (said on stdout).
pub fn kernel_verdict(
    object: &Object,
    name: &str,
    prog_type: bpfkit_kernel::ProgType,
) -> Option<Result<(), String>> {
    match object.load_into_kernel(prog_type, &[name]) {
        Ok(_) => Some(Ok(())),
        Err(KernelLoadError::Program(KernelError::Rejected { log, errno, .. })) => {
            Some(Err(format!("{errno}: {log}")))
        }
        Err(e) => {
            println!("kernel skipped {name}: {e}");
            None
        }
    }
}
