//! Writing results: to stdout (a closed pipe is not an error), to files, and as JSON.

use crate::error::{CliError, CliResult};
use serde::Serialize;
use std::io::Write;

/// Writes `bytes` to standard output. A reader that went away (`| head`) ends the output
/// quietly.
pub fn stdout(bytes: &[u8]) -> CliResult {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::input(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

/// Writes `bytes` to the file `path`.
pub fn file(path: &str, bytes: &[u8]) -> CliResult {
    std::fs::write(path, bytes).map_err(|e| CliError::input(format!("cannot write {path}: {e}")))
}

/// Prints `value` as one line of JSON.
pub fn json<T: Serialize>(value: &T) -> CliResult {
    let mut line = serde_json::to_string(value)
        .map_err(|e| CliError::input(format!("cannot encode the result as JSON: {e}")))?;
    line.push('\n');
    stdout(line.as_bytes())
}
