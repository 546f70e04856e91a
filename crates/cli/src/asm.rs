//! `bpfkit asm`: assembly text to bytecode.

use crate::error::{CliError, CliResult};
use crate::input::{self, Input, STDIN};
use crate::output;
use bpfkit_isa::encode_program;
use clap::Args;
use serde::Serialize;
use std::io::IsTerminal;

/// Arguments of `bpfkit asm`.
#[derive(Debug, Args)]
pub struct AsmArgs {
    /// Assembly text (llvm-objdump or kernel-style syntax); `-` for standard input.
    #[arg(default_value = STDIN)]
    file: String,
    /// Write the bytecode to OUT instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    output: Option<String>,
    /// Write hex text, one 8-byte instruction slot per line, instead of raw bytes.
    #[arg(long)]
    hex: bool,
    /// Print `{"instructions": N, "bytes": "<hex>"}` on standard output.
    #[arg(long)]
    json: bool,
}

/// The JSON output of `bpfkit asm`.
#[derive(Serialize)]
struct AsmJson {
    /// Instructions assembled (an `lddw` counts once).
    instructions: usize,
    /// The bytecode, as one string of hex digits.
    bytes: String,
}

/// Runs `bpfkit asm`.
pub fn run(args: &AsmArgs) -> CliResult {
    let input = Input::read(&args.file)?;
    let insns = input::assemble(&input)?;
    let bytes = encode_program(&insns);
    let encoded = if args.hex {
        input::to_hex_lines(&bytes).into_bytes()
    } else {
        bytes.clone()
    };
    if let Some(path) = &args.output {
        output::file(path, &encoded)?;
    }
    if args.json {
        return output::json(&AsmJson {
            instructions: insns.len(),
            bytes: input::to_hex(&bytes),
        });
    }
    if args.output.is_some() {
        return Ok(());
    }
    if !args.hex && std::io::stdout().is_terminal() {
        return Err(CliError::input(
            "refusing to write binary bytecode to a terminal; use -o OUT, --hex or --json",
        ));
    }
    output::stdout(&encoded)
}
