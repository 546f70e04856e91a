//! Loading an object into the running kernel with bpfkit's linking (not libbpf's): each
//! map created with `BPF_MAP_CREATE` (a map of maps from its inner definition, a map whose
//! value holds a spin lock with its BTF types), global data given its contents and, when
//! read-only, frozen, programs' map references rewritten to the maps' descriptors,
//! the programs loaded with `BPF_PROG_LOAD` (the kernel's verifier checks the result)
//! with the object's BTF and their functions' info when the object has BTF, and the
//! `values` of maps of maps and program arrays stored as descriptors, as libbpf's
//! `bpf_object__load` does. Tests and benchmarks compare bpfkit with the kernel through it.

use crate::{Initial, MapDef, Object, ObjectError, BPF_MAP_TYPE_PROG_ARRAY};
use bpfkit_isa::{encode_program, Insn, LddwKind};
use bpfkit_kernel::{KernelBtf, KernelError, KernelMap, MapBtf, ProgType, Program, ProgramBtf};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use thiserror::Error;

/// Why an object could not be loaded into the kernel.
#[derive(Debug, Error)]
pub enum KernelLoadError {
    /// The object itself is malformed, or a program not in it.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A map could not be created or given its contents.
    #[error("map `{map}`: {reason}")]
    Map { map: String, reason: String },
    /// The kernel refused a program (its verifier's log included).
    #[error(transparent)]
    Program(#[from] KernelError),
}

/// An object's maps and some of its programs, in the kernel; everything is released
/// when dropped.
#[derive(Debug)]
pub struct KernelObject {
    /// The maps, in the order of [`Object::maps`], with their names.
    pub maps: Vec<(String, KernelMap)>,
    programs: Vec<Program>,
}

impl KernelObject {
    /// The loaded program named `name`.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name() == name)
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Option<&KernelMap> {
        self.maps.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }
}

impl Object {
    /// Loads the programs named `programs` as `prog_type`, and the programs the object's
    /// program arrays hold, into the running kernel with every map of the object.
    /// CO-RE relocations and `__kconfig` externs must be resolved first.
    pub fn load_into_kernel(
        &self,
        prog_type: ProgType,
        programs: &[&str],
    ) -> Result<KernelObject, KernelLoadError> {
        let maps = self.create_kernel_maps()?;
        let mut names: Vec<&str> = programs.to_vec();
        for def in self.maps() {
            if let (BPF_MAP_TYPE_PROG_ARRAY, Initial::Slots(slots)) = (def.map_type, &def.initial) {
                names.extend(slots.iter().map(|(_, name)| name.as_str()));
            }
        }
        names.sort_unstable();
        names.dedup();
        let license = self.license().unwrap_or_default();
        let btf = self
            .kernel_btf()?
            .map(|bytes| KernelBtf::load(&bytes))
            .transpose()?;
        let loaded = names
            .iter()
            .map(|&name| {
                let program = self.program(name)?;
                let code = kernel_code(&program.insns()?, &maps);
                let func_info: Vec<u8> = program
                    .func_info()?
                    .iter()
                    .flat_map(|(slot, f)| [*slot as u32, f.type_id])
                    .flat_map(u32::to_ne_bytes)
                    .collect();
                let btf = btf.as_ref().map(|btf| ProgramBtf {
                    btf,
                    func_info: &func_info,
                });
                Ok(Program::load_with_btf(
                    prog_type, &code, &license, name, btf,
                )?)
            })
            .collect::<Result<Vec<_>, KernelLoadError>>()?;
        let object = KernelObject {
            maps,
            programs: loaded,
        };
        for (def, (_, map)) in self.maps().iter().zip(&object.maps) {
            let Initial::Slots(slots) = &def.initial else {
                continue;
            };
            for (slot, name) in slots {
                let fd = if def.map_type == BPF_MAP_TYPE_PROG_ARRAY {
                    object.program(name).map(|p| p.as_fd())
                } else {
                    object.map(name).map(|m| m.as_fd())
                };
                let fd = fd.ok_or_else(|| {
                    map_error(
                        def,
                        format!("slot {slot} names `{name}`, which the object does not define"),
                    )
                })?;
                map.update(Some(&slot.to_ne_bytes()), &fd.as_raw_fd().to_ne_bytes(), 0)
                    .map_err(|e| map_error(def, format!("slot {slot} (`{name}`): {e}")))?;
            }
        }
        Ok(object)
    }
}

impl Object {
    /// Creates the object's maps in the kernel, with their initial contents (maps of maps
    /// with their inner template, their slots left empty), in the order of
    /// [`Object::maps`], with their names.
    pub fn create_kernel_maps(&self) -> Result<Vec<(String, KernelMap)>, KernelLoadError> {
        // The kernel learns where a value's spin lock is from the value's BTF type only;
        // other maps are created without BTF, as before.
        let needs_btf = |def: &MapDef| def.spin_lock.is_some();
        let btf = if self
            .maps()
            .iter()
            .any(|d| needs_btf(d) || d.inner.as_deref().is_some_and(needs_btf))
        {
            self.kernel_btf()?
                .map(|bytes| KernelBtf::load(&bytes))
                .transpose()?
        } else {
            None
        };
        self.maps()
            .iter()
            .map(|def| Ok((def.name.clone(), create_map(def, btf.as_ref())?)))
            .collect()
    }
}

/// A linked program's instructions as `BPF_PROG_LOAD` takes them: encoded, with map
/// references by index (as bpfkit's loader leaves them) turned into references to the
/// descriptors of `maps` ([`Object::create_kernel_maps`]).
pub fn kernel_code(insns: &[Insn], maps: &[(String, KernelMap)]) -> Vec<u8> {
    let fds: Vec<BorrowedFd<'_>> = maps.iter().map(|(_, m)| m.as_fd()).collect();
    encode_program(&by_fd(insns, &fds))
}

/// Creates `def` in the kernel with its initial contents (a map of maps with a map of its
/// inner definition as the template), with its BTF types when its value holds a spin
/// lock, and frozen when it is read-only global data, as libbpf does.
fn create_map(def: &MapDef, btf: Option<&KernelBtf>) -> Result<KernelMap, KernelLoadError> {
    let inner = def
        .inner
        .as_deref()
        .map(|d| create_map(d, btf))
        .transpose()?;
    let map = match btf.filter(|_| def.spin_lock.is_some()) {
        Some(btf) => KernelMap::create_with_btf(
            def.map_type,
            def.key_size,
            def.value_size,
            def.max_entries,
            def.flags,
            MapBtf {
                btf: btf.as_fd(),
                key_type: def.btf_key_type,
                value_type: def.btf_value_type,
            },
        ),
        None => KernelMap::create_with_inner(
            def.map_type,
            def.key_size,
            def.value_size,
            def.max_entries,
            def.flags,
            inner.as_ref().map(|m| m.as_fd()),
        ),
    }
    .map_err(|e| map_error(def, e.to_string()))?;
    if let Initial::Data(bytes) = &def.initial {
        let mut value = bytes.clone();
        value.resize(def.value_size as usize, 0);
        map.update(Some(&0u32.to_ne_bytes()), &value, 0)
            .map_err(|e| map_error(def, format!("initial contents: {e}")))?;
    }
    if def.frozen_contents().is_some() {
        map.freeze()
            .map_err(|e| map_error(def, format!("freezing: {e}")))?;
    }
    Ok(map)
}

/// `insns` with map references by index (as bpfkit's loader leaves them) turned into
/// references by descriptor, as the kernel takes them.
fn by_fd(insns: &[Insn], fds: &[BorrowedFd<'_>]) -> Vec<Insn> {
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
                imm: fds[imm as usize].as_raw_fd(),
                next_imm,
            },
            other => other,
        })
        .collect()
}

fn map_error(def: &MapDef, reason: String) -> KernelLoadError {
    KernelLoadError::Map {
        map: def.name.clone(),
        reason,
    }
}
