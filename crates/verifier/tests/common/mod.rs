//! Shared by the tests over clang-compiled objects: the verifier's view of an object's
//! maps, and the kernel's verdict on one of its programs.

#![allow(dead_code)] // each test file uses a different part

use bpfkit_isa::{encode_program, Insn, LddwKind};
use bpfkit_kernel::{KernelMap, Program};
use bpfkit_object::{Initial, MapDef, Object};
use bpfkit_verifier::MapSpec;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The verifier's view of a map definition (and of the maps a map of maps holds).
pub fn spec(def: &MapDef) -> MapSpec {
    MapSpec {
        fd: None,
        map_type: def.map_type,
        key_size: def.key_size,
        value_size: def.value_size,
        max_entries: def.max_entries,
        inner: def.inner.as_deref().map(|d| Box::new(spec(d))),
    }
}

/// The kernel's program type for a bpfkit type name, where bpfkit-kernel loads it.
pub fn kernel_type(name: &str) -> Option<bpfkit_kernel::ProgType> {
    match name {
        "xdp" => Some(bpfkit_kernel::ProgType::Xdp),
        "sched_cls" => Some(bpfkit_kernel::ProgType::SchedCls),
        "sched_act" => Some(bpfkit_kernel::ProgType::SchedAct),
        "socket_filter" => Some(bpfkit_kernel::ProgType::SocketFilter),
        _ => None,
    }
}

/// The object's maps, created in the kernel (global data with its contents), or why not.
pub fn create_maps(object: &Object) -> Result<Vec<KernelMap>, String> {
    let mut maps = Vec::new();
    for def in object.maps() {
        let map = KernelMap::create(
            def.map_type,
            def.key_size,
            def.value_size,
            def.max_entries,
            def.flags,
        )
        .map_err(|e| format!("cannot create map {} ({e})", def.name))?;
        if let Initial::Data(bytes) = &def.initial {
            let mut value = bytes.clone();
            value.resize(def.value_size as usize, 0);
            map.update(Some(&0u32.to_ne_bytes()), &value, 0)
                .map_err(|e| format!("cannot set global data {} ({e})", def.name))?;
        }
        maps.push(map);
    }
    Ok(maps)
}

/// `insns` with map references by index turned into references to `maps`' descriptors.
pub fn by_fd(insns: &[Insn], maps: &[KernelMap]) -> Vec<Insn> {
    insns
        .iter()
        .map(|insn| match *insn {
            Insn::Lddw {
                dst,
                kind: kind @ (LddwKind::MapIdx | LddwKind::MapIdxValue),
                imm,
                next_imm,
            } => Insn::Lddw {
                dst,
                kind: if kind == LddwKind::MapIdx {
                    LddwKind::MapFd
                } else {
                    LddwKind::MapValue
                },
                imm: maps[imm as usize].as_fd().as_raw_fd(),
                next_imm,
            },
            other => other,
        })
        .collect()
}

/// The kernel's verdict on program `name` of `object` (linked as `insns`), loaded as
/// `prog_type` with the object's maps created (global data with its contents):
/// `Some(Ok)` accepted, `Some(Err(log))` rejected, `None` when it cannot be loaded here
/// (said on stdout).
pub fn kernel_verdict(
    object: &Object,
    name: &str,
    insns: &[Insn],
    prog_type: bpfkit_kernel::ProgType,
) -> Option<Result<(), String>> {
    let callback = |i: &Insn| {
        matches!(
            i,
            Insn::Lddw {
                kind: LddwKind::Func,
                ..
            }
        )
    };
    if insns.iter().any(callback) {
        println!("kernel skipped {name}: its callbacks need the object's BTF and func_info");
        return None;
    }
    let maps = match create_maps(object) {
        Ok(maps) => maps,
        Err(why) => {
            println!("kernel skipped {name}: {why}");
            return None;
        }
    };
    let code = by_fd(insns, &maps);
    let license = object.license().unwrap_or_default();
    Some(
        match Program::load(prog_type, &encode_program(&code), &license, name) {
            Ok(_) => Ok(()),
            Err(bpfkit_kernel::KernelError::Rejected { log, errno, .. }) => {
                Err(format!("{errno}: {log}"))
            }
            Err(e) => Err(e.to_string()),
        },
    )
}
