//! One element of a map as `bpfkit map lookup` and `dump` print it: as bpftool's plain
//! output (`print_entry_plain`), or as JSON.

use super::hex;
use crate::input;
use bpfkit_vm::maps::MapSpec;
use serde::Serialize;

/// An element in JSON: `{"key": "hex", "value": "hex"}`, the value a list with one string
/// per CPU for per-CPU maps. Keyless maps (queues, stacks) have an empty key.
#[derive(Serialize)]
pub struct EntryJson {
    key: String,
    value: ValueJson,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ValueJson {
    One(String),
    PerCpu(Vec<String>),
}

impl EntryJson {
    /// The element `key`, `value` (in the user-space layout) of a map with `spec`.
    pub fn new(spec: &MapSpec, key: &[u8], value: &[u8]) -> EntryJson {
        let value = if spec.map_type.is_percpu() {
            ValueJson::PerCpu(cpu_slots(spec, value).map(input::to_hex).collect())
        } else {
            ValueJson::One(input::to_hex(value))
        };
        EntryJson {
            key: input::to_hex(key),
            value,
        }
    }
}

/// The element as bpftool prints it, ending with a line break: `key: .. ..  value: ..`
/// on one line when both are short, `key:` and `value:` on lines of their own when either
/// is longer than 16 bytes, and one `value (CPU NN):` line per CPU for per-CPU maps.
pub fn plain(spec: &MapSpec, key: &[u8], value: &[u8]) -> String {
    let (key_size, value_size) = (key.len(), spec.value_size as usize);
    let mut out = String::new();
    if spec.map_type.is_percpu() {
        if key_size > 0 {
            out += &format!("key:\n{}\n", hex::bpftool(key));
        }
        let space = if value_size > 16 { '\n' } else { ' ' };
        for (cpu, slot) in cpu_slots(spec, value).enumerate() {
            out += &format!("value (CPU {cpu:02}):{space}{}\n", hex::bpftool(slot));
        }
        return out;
    }
    let break_names = key_size > 16 || value_size > 16;
    let single_line = key_size + value_size <= 24 && !break_names;
    let space = if break_names { '\n' } else { ' ' };
    if key_size > 0 {
        let end = if single_line { "  " } else { "\n" };
        out += &format!("key:{space}{}{end}", hex::bpftool(key));
    }
    if value_size > 0 {
        out += &format!("value:{space}{}", hex::bpftool(value));
    }
    out.push('\n');
    out
}

/// Each CPU's value in a per-CPU value.
fn cpu_slots<'a>(spec: &MapSpec, value: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let size = spec.value_size as usize;
    value.chunks(cpu_stride(spec)).map(move |s| &s[..size])
}

/// The distance between two CPUs' values in a per-CPU value: the value size rounded up to
/// 8 bytes, as Linux lays them out for user space. Never 0: per-CPU maps refuse an empty
/// value when created.
pub fn cpu_stride(spec: &MapSpec) -> usize {
    (spec.value_size as usize).next_multiple_of(8)
}
