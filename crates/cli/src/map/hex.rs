//! Keys and values as hex: parsed from the command line, printed as bpftool prints them.

use crate::error::{CliError, CliResult};
use crate::input;

/// Parses the bytes given to `option` (`--key`, `--value`): whitespace-separated groups
/// of hex digits, each optionally prefixed with `0x`, read left to right as bytes, so
/// `01 02`, `0x0102` and `0102` are the same two bytes. Each group has whole bytes (an
/// even number of digits): `0x1` is refused rather than guessed as `01` or `10`.
pub fn parse(option: &str, text: &str) -> CliResult<Vec<u8>> {
    let mut bytes = Vec::new();
    for group in text.split_whitespace() {
        let digits = group
            .strip_prefix("0x")
            .or_else(|| group.strip_prefix("0X"))
            .unwrap_or(group);
        let group_bytes = input::parse_hex(digits)
            .map_err(|e| CliError::input(format!("{option} is not valid hex: {group}: {e}")))?;
        bytes.extend(group_bytes);
    }
    Ok(bytes)
}

/// `bytes` as bpftool's `fprint_hex` prints them: two lowercase digits per byte, one
/// space between bytes, two after every 8th byte and a line break after every 16th.
pub fn bpftool(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(match i % 16 {
                0 => "\n",
                8 => "  ",
                _ => " ",
            });
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}
