//! `bpfkit verify`: proves a program safe for its program type, or explains why not.

use crate::error::{CliError, CliResult};
use crate::input::{self, Format, Input, LoadOptions, Loaded, Selector};
use crate::output;
use bpfkit_object::MapDef;
use bpfkit_verifier::{verify, MapSpec, ProgType, Rejection, Verified, VerifierOptions};
use clap::Args;
use serde::Serialize;

/// Arguments of `bpfkit verify`.
#[derive(Debug, Args)]
#[command(after_help = "\
Program types: memory (bpfkit's plain buffer: r1 = start, r2 = length), socket_filter \
(alias socket), sched_cls (alias tc), sched_act, xdp, kprobe, tracepoint, raw_tracepoint, \
perf_event, cgroup_skb, cgroup_sock, cgroup_sock_addr, sock_ops. Without --type, an ELF \
program's type comes from its section name as libbpf reads it; other inputs are memory \
programs.

Exit status: 0 when the program is accepted, 1 when it is rejected, 2 when it cannot be \
loaded or for a usage error.")]
pub struct VerifyArgs {
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
    /// The program type, as the kernel names it in lower case (see below).
    #[arg(long = "type", value_name = "TYPE")]
    prog_type: Option<String>,
    /// Print the verifier's trace of every path, like the kernel's log level 2.
    #[arg(long)]
    log: bool,
    /// Print the verdict as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The verdict as `--json` prints it.
#[derive(Serialize)]
struct VerdictJson<'a> {
    accepted: bool,
    #[serde(rename = "type")]
    prog_type: &'a str,
    insns_processed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejection: Option<RejectionJson<'a>>,
}

#[derive(Serialize)]
struct RejectionJson<'a> {
    pc: usize,
    insn: Option<&'a str>,
    reason: &'a str,
    kernel_message: &'a str,
    hint: Option<&'a str>,
    registers: Vec<RegisterJson>,
    slice: Vec<SliceJson<'a>>,
}

#[derive(Serialize)]
struct RegisterJson {
    reg: String,
    state: String,
}

#[derive(Serialize)]
struct SliceJson<'a> {
    pc: usize,
    text: &'a str,
    taken: Option<bool>,
}

/// Runs `bpfkit verify`.
pub fn run(args: &VerifyArgs) -> CliResult {
    let input = Input::read(&args.file)?;
    let loaded = input::load_program(&input, args.format, &args.selector, &args.load)?;
    let prog_type = program_type(args.prog_type.as_deref(), loaded.section.as_deref())?;
    let options = VerifierOptions {
        log: args.log,
        ..verifier_options(&loaded)
    };
    let verdict = verify(&loaded.insns, prog_type, &options);
    let log = match &verdict {
        Ok(v) => v.log.as_deref(),
        Err(r) => r.log.as_deref(),
    };
    if let Some(log) = log {
        print!("{log}");
    }
    let origin = &loaded.origin;
    if args.json {
        output::json(&verdict_json(prog_type, &verdict))?;
    }
    match verdict {
        Ok(_) if args.json => Ok(()),
        Err(r) if args.json => Err(CliError::failed(format!(
            "{origin} is rejected as {}: {}",
            prog_type.name, r.reason
        ))),
        Ok(v) => {
            println!(
                "{origin}: accepted as {}: {} instructions processed, {} states saved, stack depth {} bytes",
                prog_type.name, v.stats.insns_processed, v.stats.states_saved, v.stats.max_stack_depth
            );
            Ok(())
        }
        Err(r) => Err(CliError::failed(format!(
            "{origin} is rejected as {}:\n{r}",
            prog_type.name
        ))),
    }
}

/// The type named by `--type`, else the one the section name implies, else `memory`.
pub(crate) fn program_type(
    name: Option<&str>,
    section: Option<&str>,
) -> CliResult<&'static ProgType> {
    match (name, section) {
        (Some(name), _) => ProgType::by_name(name).ok_or_else(|| {
            let known: Vec<&str> = ProgType::ALL.iter().map(|t| t.name).collect();
            CliError::input(format!(
                "unknown program type {name:?}; known types: {}, and the aliases tc and socket",
                known.join(", ")
            ))
        }),
        (None, Some(section)) => ProgType::for_section(section).ok_or_else(|| {
            CliError::input(format!(
                "section {section:?} names no program type bpfkit knows; give one with --type"
            ))
        }),
        (None, None) => Ok(&ProgType::MEMORY),
    }
}

/// What the verifier is told of a loaded program: its maps ([`map_specs`]) and, for an
/// object's program, which of its functions are global.
pub(crate) fn verifier_options(loaded: &Loaded) -> VerifierOptions {
    VerifierOptions {
        maps: map_specs(loaded),
        global_functions: loaded.global_functions.clone(),
        ..VerifierOptions::default()
    }
}

/// What the verifier needs to know of the program's maps, by index: each created map's
/// spec, and for a map of maps the definition of the maps it holds.
fn map_specs(loaded: &Loaded) -> Vec<MapSpec> {
    loaded
        .maps
        .iter()
        .enumerate()
        .map(|(i, map)| {
            let spec = map.spec();
            // What only an object's definition says: the maps a map of maps holds, the
            // value's spin lock, the contents of a frozen read-only map.
            let from_def = loaded.map_defs.get(i).map(MapDef::verifier_spec);
            MapSpec {
                fd: None,
                map_type: spec.map_type as u32,
                key_size: spec.key_size,
                value_size: spec.value_size,
                max_entries: spec.max_entries,
                flags: spec.flags,
                ..from_def.unwrap_or_default()
            }
        })
        .collect()
}

/// Verifies a program `bpfkit run` is about to run, for the type `--type` names, or its
/// section's, or 'memory': a rejection is a failure explained as `bpfkit verify` does.
/// Returns the type and what verification proved.
pub fn before_run(
    loaded: &Loaded,
    type_name: Option<&str>,
) -> CliResult<(&'static ProgType, Verified)> {
    let prog_type = program_type(type_name, loaded.section.as_deref())?;
    match verify(&loaded.insns, prog_type, &verifier_options(loaded)) {
        Ok(verified) => Ok((prog_type, verified)),
        Err(r) => Err(CliError::failed(format!(
            "{} is rejected as {}:\n{r}\n(--no-verify runs it without verification, checked at run time)",
            loaded.origin, prog_type.name
        ))),
    }
}

fn verdict_json<'a>(
    prog_type: &'a ProgType,
    verdict: &'a Result<Verified, Box<Rejection>>,
) -> VerdictJson<'a> {
    match verdict {
        Ok(v) => VerdictJson {
            accepted: true,
            prog_type: prog_type.name,
            insns_processed: v.stats.insns_processed,
            rejection: None,
        },
        Err(r) => VerdictJson {
            accepted: false,
            prog_type: prog_type.name,
            insns_processed: r.insns_processed,
            rejection: Some(RejectionJson {
                pc: r.pc,
                insn: r.insn.as_deref(),
                reason: &r.reason,
                kernel_message: &r.kernel_message,
                hint: r.hint.as_deref(),
                registers: r
                    .registers
                    .iter()
                    .map(|(reg, state)| RegisterJson {
                        reg: reg.to_string(),
                        state: state.clone(),
                    })
                    .collect(),
                slice: r
                    .slice
                    .iter()
                    .map(|s| SliceJson {
                        pc: s.pc,
                        text: &s.text,
                        taken: s.taken,
                    })
                    .collect(),
            }),
        },
    }
}
