//! A map refusing an operation, reported with the errno Linux gives for it.

use super::types;
use crate::error::CliError;
use crate::input;
use bpfkit_vm::maps::{MapError, MapSpec, MapType};

/// A map refusing an operation: `cannot <verb> key <hex> of <name>: <why> (<errno>)`.
pub fn refused(verb: &str, name: &str, key: &[u8], spec: &MapSpec, e: MapError) -> CliError {
    let target = if key.is_empty() {
        name.to_owned()
    } else {
        format!("key {} of {name}", input::to_hex(key))
    };
    CliError::failed(format!(
        "cannot {verb} {target}: {}",
        reason(e, spec.map_type)
    ))
}

/// Why a map refused an operation, in the words of its type, naming Linux's errno.
fn reason(e: MapError, map_type: MapType) -> String {
    let is_array = matches!(
        map_type,
        MapType::Array
            | MapType::PercpuArray
            | MapType::ProgArray
            | MapType::PerfEventArray
            | MapType::ArrayOfMaps
    );
    match e {
        MapError::NoEntry if matches!(map_type, MapType::Queue | MapType::Stack) => {
            format!("the {} is empty (ENOENT)", types::name(map_type))
        }
        MapError::NoEntry => "no such key (ENOENT)".into(),
        MapError::Exists => "key exists (EEXIST)".into(),
        MapError::TooBig if is_array => "index out of range (E2BIG)".into(),
        MapError::TooBig => "map is full (E2BIG)".into(),
        MapError::NoSpace => "map is full (ENOSPC)".into(),
        other => other.to_string(),
    }
}
