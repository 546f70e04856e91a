//! Loading an object into bpfkit's virtual machine, libbpf's `bpf_object__load` without
//! the kernel: each map definition becomes a map of `bpfkit_vm::maps` with its initial
//! contents (global data, `.rodata` created with `BPF_F_RDONLY_PROG`; the inner maps of
//! a map of maps), and each program is linked, its map references naming maps of the
//! resulting [`MapTable`] by index. Map `i` also has the descriptor [`map_fd`]`(i)` in the
//! table, which is what a map of maps stores for it.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use bpfkit_vm::helpers::linux::{self, Runtime};
//! use bpfkit_vm::{Helpers, Interpreter};
//! let mut object = bpfkit_object::Object::parse(&std::fs::read("prog.o")?)?;
//! object.set_global("threshold", &7u32.to_ne_bytes())?; // a `const volatile` in .rodata
//! let loaded = object.load()?;
//! let runtime = Runtime::new(loaded.maps.clone());
//! let mut helpers = Helpers::new();
//! linux::register(&mut helpers, &runtime);
//! let insns = runtime.maps.relocate(&loaded.program("count")?.insns)?;
//! let mut vm = Interpreter::new(&insns, &helpers)?;
//! # let _ = &mut vm; Ok(()) }
//! ```

use crate::{Initial, MapDef, Object, ObjectError, BPF_MAP_TYPE_PROG_ARRAY};
use bpfkit_isa::Insn;
use bpfkit_vm::maps::pin::{PinDir, PinError};
use bpfkit_vm::maps::{self, MapError, MapSpec, MapTable, MapType, BPF_ANY};
use std::sync::Arc;
use thiserror::Error;

/// Why an object could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The object itself is malformed.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A map could not be created or given its initial contents.
    #[error("cannot create map `{map}` (type {map_type}): {reason}")]
    Map {
        map: String,
        map_type: u32,
        reason: String,
    },
    /// A pinned map could not be read or written.
    #[error("pinned map `{map}`: {source}")]
    Pin { map: String, source: PinError },
}

/// A program of a loaded object.
#[derive(Clone, Debug)]
pub struct LoadedProgram {
    pub name: String,
    pub section: String,
    /// Linked, with map references by index into [`Loaded::maps`]: hand them to the
    /// verifier as they are, or resolve them with [`MapTable::relocate`] for an engine.
    pub insns: Vec<Insn>,
}

/// A loaded object: its maps, created, and its programs.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The maps, in the order of [`Object::maps`].
    pub maps: MapTable,
    pub programs: Vec<LoadedProgram>,
    /// The pinned maps ([`Object::load_pinned`]): name and index into `maps`.
    pinned: Vec<(String, u32)>,
}

impl Loaded {
    /// Writes the pinned maps' contents back to their pins in `pins` (the directory given
    /// to [`Object::load_pinned`]), so that the next load finds what the programs left.
    pub fn save_pins(&self, pins: &PinDir) -> Result<(), LoadError> {
        for (name, index) in &self.pinned {
            let map = self.maps.get(*index).expect("pinned maps are in the table");
            pins.pin(name, map.as_ref())
                .map_err(|source| LoadError::Pin {
                    map: name.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Result<&LoadedProgram, ObjectError> {
        self.programs
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ObjectError::UnknownProgram {
                name: name.to_string(),
                available: self.programs.iter().map(|p| p.name.clone()).collect(),
            })
    }
}

impl Object {
    /// Creates the object's maps and links every program.
    pub fn load(&self) -> Result<Loaded, LoadError> {
        self.load_with(None)
    }

    /// Like [`Object::load`], acting on the maps' pinning as libbpf does with a pin root
    /// path: a map defined with `__uint(pinning, LIBBPF_PIN_BY_NAME)` (or an iproute2
    /// definition with a `PIN_*` value) is the map pinned under its name in `pins` when
    /// there is one, contents included, whose type, sizes, `max_entries` and flags must
    /// match the definition; otherwise it is created as usual and pinned there. Pins are
    /// files: [`Loaded::save_pins`] writes the programs' changes back.
    pub fn load_pinned(&self, pins: &PinDir) -> Result<Loaded, LoadError> {
        self.load_with(Some(pins))
    }

    fn load_with(&self, pins: Option<&PinDir>) -> Result<Loaded, LoadError> {
        let (table, pinned) = self.create_maps_with(pins)?;
        let programs = self
            .programs()
            .map(|p| {
                Ok(LoadedProgram {
                    name: p.name().to_string(),
                    section: p.section().to_string(),
                    insns: p.insns()?,
                })
            })
            .collect::<Result<_, ObjectError>>()?;
        Ok(Loaded {
            maps: table,
            programs,
            pinned,
        })
    }
}

impl Object {
    /// Creates the object's maps, with their initial contents, in the order of
    /// [`Object::maps`]: the table a program of the object (linked by
    /// [`crate::Program::insns`]) resolves its map references against.
    pub fn create_maps(&self) -> Result<MapTable, LoadError> {
        Ok(self.create_maps_with(None)?.0)
    }

    /// Creates the maps, reusing or pinning those with a pinning in `pins`; also gives
    /// the pinned maps' names and indices.
    fn create_maps_with(
        &self,
        pins: Option<&PinDir>,
    ) -> Result<(MapTable, Vec<(String, u32)>), LoadError> {
        let mut table = MapTable::new();
        let mut pinned = Vec::new();
        let mut reused = vec![false; self.maps().len()];
        for (i, def) in self.maps().iter().enumerate() {
            let map = match pins.filter(|_| def.pinning != 0) {
                Some(pins) => {
                    pinned.push((def.name.clone(), i as u32));
                    let existing = reuse(pins, def)?;
                    reused[i] = existing.is_some();
                    match existing {
                        Some(map) => map,
                        None => create(def)?,
                    }
                }
                None => create(def)?,
            };
            table.insert_fd(map_fd(i), map);
        }
        // Slots name other maps, which all exist now (libbpf's `init_map_in_map_slots`).
        for (i, def) in self.maps().iter().enumerate() {
            if let (Initial::Slots(slots), false) = (&def.initial, reused[i]) {
                let map = table.get(i as u32).expect("created above");
                for (slot, name) in slots {
                    set_slot(self.maps(), def, map.as_ref(), *slot, name)?;
                }
            }
        }
        // New pinned maps are pinned once complete, as libbpf pins after creating.
        for (name, i) in &pinned {
            if let (Some(pins), false) = (pins, reused[*i as usize]) {
                let map = table.get(*i).expect("created above");
                pins.pin(name, map.as_ref())
                    .map_err(|source| LoadError::Pin {
                        map: name.clone(),
                        source,
                    })?;
            }
        }
        Ok((table, pinned))
    }
}

/// The map pinned as `def`'s name in `pins`, if there is one, checked against `def` as
/// libbpf's `map_is_reuse_compat` does.
fn reuse(pins: &PinDir, def: &MapDef) -> Result<Option<Arc<dyn maps::Map>>, LoadError> {
    let pin_error = |source| LoadError::Pin {
        map: def.name.clone(),
        source,
    };
    if !pins.names().map_err(pin_error)?.contains(&def.name) {
        return Ok(None);
    }
    let map = pins.get(&def.name).map_err(pin_error)?;
    let want = spec(def)?;
    let have = map.spec();
    let differs = [
        ("type", want.map_type as u32, have.map_type as u32),
        ("key size", want.key_size, have.key_size),
        ("value size", want.value_size, have.value_size),
        ("max_entries", want.max_entries, have.max_entries),
        ("flags", want.flags, have.flags),
    ]
    .into_iter()
    .find(|(_, w, h)| w != h);
    if let Some((what, w, h)) = differs {
        return Err(map_error(
            def,
            &format!("the map pinned under this name has {what} {h}, the definition {w}"),
        ));
    }
    Ok(Some(map))
}

/// The `bpfkit_vm` spec of a definition.
fn spec(def: &MapDef) -> Result<MapSpec, LoadError> {
    let map_type = MapType::from_raw(def.map_type)
        .ok_or_else(|| map_error(def, "bpfkit does not know this map type"))?;
    let mut spec =
        MapSpec::new(map_type, def.key_size, def.value_size, def.max_entries).with_flags(def.flags);
    spec.name = def.name.clone();
    Ok(spec)
}

/// Creates the map of `def` with its initial contents.
fn create(def: &MapDef) -> Result<std::sync::Arc<dyn maps::Map>, LoadError> {
    let map = maps::create(&spec(def)?).map_err(|e| map_error(def, &e.to_string()))?;
    match &def.initial {
        Initial::Empty => {}
        Initial::Data(bytes) => {
            // The section's bytes, zero-extended if `set_global` never widened them.
            let mut value = bytes.clone();
            value.resize(def.value_size as usize, 0);
            map.update(&0u32.to_ne_bytes(), &value, BPF_ANY)
                .map_err(|e: MapError| map_error(def, &e.to_string()))?;
        }
        // Program arrays hold program descriptors, which bpfkit's loader does not make:
        // better refuse than run with tail calls that silently fall through.
        Initial::Slots(_) if def.map_type == BPF_MAP_TYPE_PROG_ARRAY => {
            return Err(map_error(
                def,
                "initial values of program arrays are not supported (bpfkit has no program descriptors for tail calls)",
            ))
        }
        Initial::Slots(_) => {}
    }
    Ok(map)
}

/// The descriptor map `index` of an object has in its loaded [`MapTable`].
pub fn map_fd(index: usize) -> i32 {
    // Small numbers like a process's descriptors; 0 to 2 are the standard streams.
    3 + index as i32
}

/// Stores the map `name` in slot `slot` of the map of maps `map` (defined by `def`).
fn set_slot(
    defs: &[MapDef],
    def: &MapDef,
    map: &dyn maps::Map,
    slot: u32,
    name: &str,
) -> Result<(), LoadError> {
    let index = defs.iter().position(|d| d.name == name).ok_or_else(|| {
        map_error(
            def,
            &format!("slot {slot} names `{name}`, which is not a map"),
        )
    })?;
    map.update(&slot.to_ne_bytes(), &map_fd(index).to_ne_bytes(), BPF_ANY)
        .map_err(|e| map_error(def, &format!("slot {slot} (`{name}`): {e}")))
}

fn map_error(def: &MapDef, reason: &str) -> LoadError {
    LoadError::Map {
        map: def.name.clone(),
        map_type: def.map_type,
        reason: reason.to_string(),
    }
}
