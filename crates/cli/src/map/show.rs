//! A map as `bpfkit map show` describes it: its attributes and element count.

use super::types;
use bpfkit_vm::maps::Map;
use serde::Serialize;

/// A map as `show` describes it: what bpftool shows of `struct bpf_map_info` that bpfkit's
/// maps have, with the pin's name and the element count.
#[derive(Serialize)]
pub struct MapInfo {
    /// The pin's name.
    pin: String,
    #[serde(rename = "type")]
    map_type: &'static str,
    /// The map's own name, for maps that have one (those of ELF objects).
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    flags: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    elements: usize,
}

impl MapInfo {
    /// The map `map`, pinned as `pin`.
    pub fn new(pin: &str, map: &dyn Map) -> MapInfo {
        let spec = map.spec();
        MapInfo {
            pin: pin.to_owned(),
            map_type: types::name(spec.map_type),
            name: spec.name.clone(),
            flags: spec.flags,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            elements: map.entries().len(),
        }
    }

    /// Two lines in the shape of `bpftool map show`'s, with the element count added.
    pub fn plain(&self) -> String {
        let name = if self.name.is_empty() {
            String::new()
        } else {
            format!("name {}  ", self.name)
        };
        format!(
            "{}: {}  {name}flags {:#x}\n\tkey {}B  value {}B  max_entries {}  elements {}\n",
            self.pin,
            self.map_type,
            self.flags,
            self.key_size,
            self.value_size,
            self.max_entries,
            self.elements
        )
    }
}
