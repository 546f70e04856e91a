//! The key and value of an operation, from the command line, checked against the map.

use super::{entry, hex, types};
use crate::error::{CliError, CliResult};
use bpfkit_vm::maps::MapSpec;

/// The key `text` gives for the map `name`: none for keyless maps (queues, stacks, ring
/// buffers), else exactly `key_size` bytes.
pub fn key(name: &str, spec: &MapSpec, text: Option<&[String]>) -> CliResult<Vec<u8>> {
    match (spec.key_size, text) {
        (0, None) => Ok(Vec::new()),
        (0, Some(_)) => Err(CliError::input(format!(
            "{name} is a {} map, which has no keys: leave out --key",
            types::name(spec.map_type)
        ))),
        (size, None) => Err(CliError::input(format!(
            "--key is required: {name} takes {size}-byte keys"
        ))),
        (size, Some(text)) => {
            let key = hex::parse("--key", &text.join(" "))?;
            check_size("--key", &key, size, name, "keys")?;
            Ok(key)
        }
    }
}

/// The value `text` gives, of the map's value size, in the user-space layout: for a
/// per-CPU map, repeated in every CPU's slot.
pub fn value(name: &str, spec: &MapSpec, text: &[String]) -> CliResult<Vec<u8>> {
    let value = hex::parse("--value", &text.join(" "))?;
    check_size("--value", &value, spec.value_size, name, "values")?;
    if !spec.map_type.is_percpu() {
        return Ok(value);
    }
    let mut slots = vec![0u8; spec.user_value_size()];
    for slot in slots.chunks_mut(entry::cpu_stride(spec)) {
        slot[..value.len()].copy_from_slice(&value);
    }
    Ok(slots)
}

fn check_size(option: &str, bytes: &[u8], size: u32, name: &str, what: &str) -> CliResult {
    if bytes.len() == size as usize {
        return Ok(());
    }
    let unit = if bytes.len() == 1 { "byte" } else { "bytes" };
    Err(CliError::input(format!(
        "{option} is {} {unit} long, but {name} takes {size}-byte {what}",
        bytes.len()
    )))
}
