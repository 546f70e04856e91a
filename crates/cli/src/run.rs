//! `bpfkit run`: runs a program in the interpreter on a memory buffer.

use crate::engine::EngineKind;
use crate::error::{CliError, CliResult};
use crate::input::{self, Format, Input, LoadOptions, Selector};
use crate::output;
use bpfkit_verifier::ProgType;
use bpfkit_vm::helpers::linux::Runtime;
use bpfkit_vm::{Engine, Invocation, Outcome};
use clap::Args;
use serde::Serialize;
use std::time::Duration;
use std::time::Instant;

/// Arguments of `bpfkit run`.
#[derive(Debug, Args)]
#[command(after_help = "\
Verification: `run` first verifies the program, as `bpfkit verify` does, for the type --type \
names, else its ELF section's, else bpfkit's 'memory' type (r1 = buffer, r2 = length), and \
refuses a rejected program with the verifier's explanation. --no-verify skips this: the \
program then runs unverified, still checked at run time (each memory access against the \
regions the program may touch, and an instruction budget).

Maps: an ELF object's maps are created as libbpf would create them (global data sections \
as arrays holding their initial values, after --set), its CO-RE relocations resolved \
(--btf), and Linux's helpers are available. Maps keep their contents from one --repeat run \
to the next.

Exit status: 0 when the program ran, 1 when it faulted or cannot be run, 2 for a usage or \
input error.")]
pub struct RunArgs {
    /// The program: a BPF ELF object, assembly text, raw or hex bytecode; `-` for standard
    /// input.
    file: String,
    /// How FILE is encoded.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    #[command(flatten)]
    selector: Selector,
    #[command(flatten)]
    load: LoadOptions,
    /// A file whose bytes are the program's memory: r1 = its start, r2 = its length.
    #[arg(long, value_name = "FILE", conflicts_with = "mem_hex")]
    mem: Option<String>,
    /// The program's memory as hex digits (whitespace ignored). Without --mem or
    /// --mem-hex the memory is empty.
    #[arg(long, value_name = "HEX")]
    mem_hex: Option<String>,
    /// Run the program N times, each on a fresh copy of the memory, for timing.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    /// Print one line `{"r0": "0x...", "instructions": N, "mean_ns": X}`: instructions
    /// executed per run, mean wall-clock nanoseconds per run.
    #[arg(long)]
    json: bool,
    /// Run without verifying the program first (see below).
    #[arg(long)]
    no_verify: bool,
    /// The program type to verify it for, as `bpfkit verify --type` takes it.
    #[arg(long = "type", value_name = "TYPE", conflicts_with = "no_verify")]
    prog_type: Option<String>,
    /// The engine that runs the program: the interpreter, or the x86-64 JIT compiler
    /// (same results and errors, native speed).
    #[arg(long, value_enum, default_value_t = EngineKind::Interp)]
    engine: EngineKind,
    /// Fault a run after N instructions (default: 2^32).
    #[arg(long, value_name = "N")]
    budget: Option<u64>,
}

/// The JSON output of `bpfkit run`.
#[derive(Serialize)]
struct RunJson {
    r0: String,
    instructions: u64,
    mean_ns: f64,
}

/// Runs `bpfkit run`.
pub fn run(args: &RunArgs) -> CliResult {
    let program = Input::read(&args.file)?;
    let loaded = input::load_program(&program, args.format, &args.selector, &args.load)?;
    let verified = if args.no_verify {
        None
    } else {
        Some(crate::verify::before_run(
            &loaded,
            args.prog_type.as_deref(),
        )?)
    };
    let memory = memory(args)?;
    let input::Runnable {
        runtime,
        helpers,
        insns,
        origin,
        setup,
    } = loaded.runnable()?;
    let origin = &origin;
    // `run` runs every program as a 'memory' program (r1 the buffer, r2 its length): what
    // verification proved holds only if it verified the program as one.
    let proven = verified
        .filter(|(prog_type, _)| prog_type.name == ProgType::MEMORY.name)
        // SAFETY: `verified` accepted the instructions `insns` were relocated from, as the
        // 'memory' type, and `run_repeated` runs them as one.
        .map(|(_, verified)| unsafe { crate::engine::proven_accesses(&insns, &verified) });
    let mut vm = args
        .engine
        .build(&insns, &helpers, proven.as_ref())
        .map_err(|e| CliError::failed(format!("{origin} cannot be run: {e}")))?;
    if let Some(budget) = args.budget {
        vm.set_budget(budget);
    }
    // The programs the object's program arrays name, prepared for the same engine (with
    // every check: they were not verified), held while the runs last.
    let _slot_programs = match &setup {
        Some(setup) => setup.fill_program_arrays(&runtime.maps, |insns| {
            args.engine.build(insns, &helpers, None)
        })?,
        None => Vec::new(),
    };
    let (outcome, elapsed) =
        run_repeated(vm.as_mut(), &runtime, &memory, args.repeat).map_err(|e| {
            let verification = if args.no_verify {
                " (unverified, as --no-verify asks)"
            } else {
                ""
            };
            CliError::failed(format!("{origin} faulted{verification}: {e}"))
        })?;
    if let Some(setup) = &setup {
        setup.save_pins()?;
    }
    let r0 = format!("{:#x}", outcome.r0);
    if args.json {
        output::json(&RunJson {
            r0,
            instructions: outcome.insns,
            mean_ns: elapsed.as_nanos() as f64 / args.repeat as f64,
        })
    } else {
        output::stdout(format!("{r0}\n").as_bytes())
    }
}

/// The input memory, from --mem or --mem-hex.
fn memory(args: &RunArgs) -> CliResult<Vec<u8>> {
    match (&args.mem, &args.mem_hex) {
        (Some(path), _) => Ok(Input::read(path)?.bytes),
        (None, Some(hex)) => input::parse_hex(hex)
            .map_err(|e| CliError::input(format!("--mem-hex is not valid hex: {e}"))),
        (None, None) => Ok(Vec::new()),
    }
}

/// Runs `repeat` times, each on a fresh copy of `memory` (maps keep their contents from
/// run to run, as in the kernel); returns the last outcome and the time spent in the runs
/// themselves.
fn run_repeated(
    vm: &mut dyn Engine,
    runtime: &Runtime,
    memory: &[u8],
    repeat: u64,
) -> Result<(Outcome, Duration), bpfkit_vm::VmError> {
    let mut buffer = memory.to_vec();
    let mut elapsed = Duration::ZERO;
    let mut run_once = || {
        buffer.copy_from_slice(memory);
        let start = Instant::now();
        let mut invocation = Invocation::memory(&mut buffer);
        // Global data: lddw of a variable's address points into its array map's value.
        runtime.maps.add_value_regions(&mut invocation.memory);
        let outcome = vm.run(invocation);
        elapsed += start.elapsed();
        outcome
    };
    let mut outcome = run_once()?;
    for _ in 1..repeat {
        outcome = run_once()?;
    }
    Ok((outcome, elapsed))
}
