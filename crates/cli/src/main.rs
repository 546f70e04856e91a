//! `bpfkit`: assemble, disassemble, verify and run eBPF programs.

mod asm;
mod capture;
mod describe;
mod disasm;
mod engine;
mod error;
mod input;
mod map;
mod output;
mod prog_arrays;
mod run;
mod test_run;
mod verdict;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// bpfkit: eBPF assembled, disassembled and run without a kernel.
#[derive(Debug, Parser)]
#[command(name = "bpfkit", version)]
#[command(
    after_help = "Exit status: 0 on success, 1 when a program faulted or cannot be \
run, 2 for a usage or input error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Assemble text into raw or hex bytecode.
    Asm(asm::AsmArgs),
    /// List bytecode or an ELF object's code in llvm-objdump's syntax.
    Disasm(disasm::DisasmArgs),
    /// Run a program in the interpreter on a memory buffer and print r0.
    Run(run::RunArgs),
    /// Create, inspect and change maps pinned in a directory.
    Map(map::MapArgs),
    /// Prove a program safe for its program type, or explain why it is not.
    Verify(verify::VerifyArgs),
    /// Run an XDP, tc or socket-filter program on every packet of a capture.
    TestRun(test_run::TestRunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Asm(args) => asm::run(args),
        Command::Disasm(args) => disasm::run(args),
        Command::Run(args) => run::run(args),
        Command::Map(args) => map::run(args),
        Command::Verify(args) => verify::run(args),
        Command::TestRun(args) => test_run::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bpfkit: error: {e}");
            ExitCode::from(e.status())
        }
    }
}
