//! `bpfkit test-run`: runs an XDP, tc or socket-filter program on every packet of a
//! capture, as the kernel's `BPF_PROG_TEST_RUN` runs it on one, and reports the verdicts,
//! the packets that come out, the maps and the trace output.

use crate::capture::{self, Packets};
use crate::engine::EngineKind;
use crate::error::{CliError, CliResult};
use crate::input::{self, Format, Input, LoadOptions, Selector};
use crate::map::{dump_order, entry, types};
use crate::output;
use crate::prog_arrays::{self, PacketTarget};
use crate::verdict;
use crate::verify::{program_type, verifier_options};
use bpfkit_pcap::Packet;
use bpfkit_verifier::verify;
use bpfkit_vm::maps::MapTable;
use bpfkit_vm::net::skb::{self, SkBuff};
use bpfkit_vm::net::{
    self, PacketError, PacketInput, PacketKind, PacketOutcome, PacketProgram, Redirect,
};
use bpfkit_vm::Engine;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Arguments of `bpfkit test-run`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each packet runs as BPF_PROG_TEST_RUN runs one: XDP programs see it from its Ethernet \
header on, received on the loopback device (ifindex 1), queue 0; tc programs see an skb \
from the Ethernet header on; socket filters see the skb from the network header on. The \
program is verified first (as the kernel verifies every program; a rejection exits with 1), \
its type taken from the ELF section name as libbpf reads it, or from --type. Maps keep \
their contents from packet to packet and over the --repeat runs of a packet, as in the \
kernel.

Link types: Ethernet (1) captures run as they are. Packets of raw IP captures (RAW 101, \
IPV4 228, IPV6 229) are given an Ethernet header with zero addresses and the EtherType of \
their IP version; Linux cooked captures (LINUX_SLL 113) one with the cooked header's \
source address and protocol. --out takes that header off again (putting the cooked header \
back). Other link types are refused, naming the type.

Skipped, and counted: packets the capture cut to its snap length (the program would see \
another packet than the wire carried), and packets the kernel's test run refuses (e.g. \
shorter than an Ethernet header).

Output: --out FILE writes the packets that come out of the program (XDP_PASS, XDP_TX and \
XDP_REDIRECT; tc verdicts other than shot, stolen, queued and trap; socket filters' \
non-zero lengths, the frame cut to that many bytes of its network layer) as they are after \
the run, in the input's link type: pcapng with each packet's verdict (and redirect target) \
as its comment when FILE ends in .pcapng, pcap otherwise. Metadata an XDP program put in \
front of the packet (bpf_xdp_adjust_meta) is part of data_out, as in the kernel's test \
run, and so of the packet written.

--json prints one object: `packets` (per packet run: `index`, `retval`, `verdict`, \
`data_out` as hex, `redirect` when redirected, `ctx` for tc programs and socket filters: \
the __sk_buff fields the program changed that the kernel's test run copies back, mark, \
priority, tstamp and cb[0] to cb[4]), `skipped` (`index`, `reason`), `verdicts` \
(name -> count), `maps` (name -> list of {key, value} as hex, per-CPU values as a list of \
one hex string per CPU), `trace` (trace_printk lines), `packets_per_second`.

Exit status: 0 when every packet ran, 1 when the program is rejected, faults or cannot be \
run, 2 for a usage or input error (unreadable, truncated or corrupt capture, unsupported \
link type, a program of another type).")]
pub struct TestRunArgs {
    /// The program: a BPF ELF object (or assembly text, raw or hex bytecode, with
    /// --type); `-` for standard input.
    file: String,
    /// How FILE is encoded.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    #[command(flatten)]
    selector: Selector,
    #[command(flatten)]
    load: LoadOptions,
    /// The program type: xdp, sched_cls (tc), sched_act or socket_filter (socket); by
    /// default from the ELF section name.
    #[arg(long = "type", value_name = "TYPE")]
    prog_type: Option<String>,
    /// The capture to run the program on (pcap or pcapng).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "packet_hex",
        conflicts_with = "packet_hex"
    )]
    pcap: Option<String>,
    /// One Ethernet frame as hex digits (whitespace ignored), instead of a capture.
    #[arg(long, value_name = "HEX")]
    packet_hex: Option<String>,
    /// For tc programs and socket filters: the `struct __sk_buff` each run starts with,
    /// as hex (BPF_PROG_TEST_RUN's ctx_in: mark, priority, ingress_ifindex, ifindex, cb,
    /// tstamp, wire_len, gso_segs, gso_size and hwtstamp may be set, the rest must be
    /// zero; shorter is zero-filled).
    #[arg(long, value_name = "HEX")]
    ctx_hex: Option<String>,
    /// Write the packets that come out of the program to FILE (see below).
    #[arg(long, value_name = "FILE")]
    out: Option<String>,
    /// The engine that runs the program.
    #[arg(long, value_enum, default_value_t = EngineKind::Interp)]
    engine: EngineKind,
    /// Run the program N times on each packet (each time on the packet as captured), for
    /// timing; the last run's result is reported.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    /// Print one JSON object instead of the summary (see below).
    #[arg(long)]
    json: bool,
    /// List every packet in the summary: what it is, its verdict, what the program
    /// rewrote and the __sk_buff fields it changed.
    #[arg(long, short)]
    verbose: bool,
    /// Fault a run after N instructions (default: 2^32).
    #[arg(long, value_name = "N")]
    budget: Option<u64>,
}

/// The `struct __sk_buff` fields a tc program or socket filter may write that the
/// kernel's test run copies back out, with their values after a run (`BTreeMap` for a
/// stable order); empty for XDP.
type SkbFields = BTreeMap<&'static str, u64>;

/// The writable fields of `skb` whose values differ from those in `ctx_in`, the
/// `struct __sk_buff` the run started with (offsets from linux/bpf.h; missing bytes and a
/// missing context are zero).
fn changed_fields(skb: &SkBuff, ctx_in: Option<&[u8]>) -> SkbFields {
    let start = |offset: usize, size: usize| -> u64 {
        let mut bytes = [0u8; 8];
        if let Some(field) = ctx_in.and_then(|c| c.get(offset..offset + size)) {
            bytes[..size].copy_from_slice(field);
        }
        u64::from_le_bytes(bytes)
    };
    let mut fields = vec![
        ("mark", u64::from(skb.mark), start(8, 4)),
        ("priority", u64::from(skb.priority), start(32, 4)),
        ("tstamp", skb.tstamp, start(152, 8)),
    ];
    const CB: [&str; 5] = ["cb[0]", "cb[1]", "cb[2]", "cb[3]", "cb[4]"];
    for (i, (name, word)) in CB.iter().zip(skb.cb).enumerate() {
        fields.push((name, u64::from(word), start(48 + 4 * i, 4)));
    }
    fields
        .into_iter()
        .filter(|&(_, now, before)| now != before)
        .map(|(name, now, _)| (name, now))
        .collect()
}

/// What happened to one packet.
enum Fate {
    /// It ran; the outcome of its last run, and the __sk_buff fields it changed.
    Ran(PacketOutcome, SkbFields),
    /// It was not run, and why.
    Skipped(String),
}

/// The whole run: every packet's fate, and the time spent running the program.
struct RunResults {
    fates: Vec<Fate>,
    elapsed: Duration,
    runs: u64,
}

/// Runs `bpfkit test-run`.
pub fn run(args: &TestRunArgs) -> CliResult {
    let program = Input::read(&args.file)?;
    let loaded = input::load_program(&program, args.format, &args.selector, &args.load)?;
    let prog_type = program_type(args.prog_type.as_deref(), loaded.section.as_deref())?;
    let kind = PacketKind::by_name(prog_type.name).ok_or_else(|| {
        CliError::input(format!(
            "{} is a {} program; test-run runs xdp, sched_cls (tc), sched_act and socket_filter programs (--type names another)",
            loaded.origin, prog_type.name
        ))
    })?;
    let packets = match (&args.pcap, &args.packet_hex) {
        (Some(path), _) => capture::read(path)?,
        (None, Some(hex)) => capture::from_hex(hex)?,
        (None, None) => {
            return Err(CliError::input(
                "give the packets with --pcap or --packet-hex",
            ))
        }
    };
    let options = verifier_options(&loaded);
    let verified = verify(&loaded.insns, prog_type, &options).map_err(|r| {
        CliError::failed(format!(
            "{} is rejected as {}:\n{r}",
            loaded.origin, prog_type.name
        ))
    })?;
    let input::Runnable {
        runtime,
        mut helpers,
        insns,
        origin,
        setup,
    } = loaded.runnable()?;
    net::register(&mut helpers, kind, &runtime);
    let target = PacketTarget {
        prog_type,
        kind,
        engine: args.engine,
        helpers: &helpers,
        options: &options,
    };
    let _slot_programs = prog_arrays::install(setup.as_ref(), &runtime.maps, &target)?;
    let converted = crate::engine::convert_verified(&insns, kind, &verified)
        .map_err(|e| CliError::failed(format!("{origin} cannot be run as {}: {e}", kind.name())))?;
    let mut vm = PacketProgram::new(&converted, runtime.maps.clone(), |insns| {
        // SAFETY: `verified` accepted the instructions these were relocated and converted
        // from, as the type `kind` runs them as, and `PacketProgram` runs them as one.
        let proven = unsafe { crate::engine::proven_accesses(insns, &verified) };
        args.engine.build(insns, &helpers, Some(&proven))
    })
    .map_err(|e| CliError::failed(format!("{origin} cannot be run: {e}")))?;
    if let Some(budget) = args.budget {
        vm.engine_mut().set_budget(budget);
    }
    let ctx = context(args.ctx_hex.as_deref(), kind)?;
    let results =
        run_all(&mut vm, &packets, ctx.as_deref(), args.repeat).map_err(|(index, e)| {
            CliError::failed(format!(
                "{origin} faulted on packet {index} of {}: {e}",
                packets.source
            ))
        })?;
    if let Some(setup) = &setup {
        setup.save_pins()?;
    }
    let trace = runtime.trace.take();
    let written = match &args.out {
        Some(path) => Some(write_out(path, kind, &packets, &results, &runtime.maps)?),
        None => None,
    };
    let report = Report {
        origin: &origin,
        kind,
        engine: args.engine,
        packets: &packets,
        results: &results,
        maps: &runtime.maps,
        trace: &trace,
    };
    if args.json {
        output::json(&report.json())
    } else {
        output::stdout(
            report
                .text(args.verbose, written.as_ref().zip(args.out.as_deref()))
                .as_bytes(),
        )
    }
}

/// The context of --ctx-hex, for the types that take one.
fn context(hex: Option<&str>, kind: PacketKind) -> CliResult<Option<Vec<u8>>> {
    let Some(hex) = hex else { return Ok(None) };
    if kind == PacketKind::Xdp {
        return Err(CliError::input(
            "--ctx-hex applies to tc programs and socket filters (a struct __sk_buff)",
        ));
    }
    input::parse_hex(hex)
        .map(Some)
        .map_err(|e| CliError::input(format!("--ctx-hex is not valid hex: {e}")))
}

/// Runs the program on every packet, `repeat` times each, each run starting from the
/// context `ctx` if given; a fault ends the run with the packet's index.
fn run_all<E: Engine>(
    vm: &mut PacketProgram<E>,
    packets: &Packets,
    ctx: Option<&[u8]>,
    repeat: u64,
) -> Result<RunResults, (usize, PacketError)> {
    let total = packets.packets.len() as u64 * repeat;
    // Long runs show their progress, on a terminal only (a pipe or file gets none).
    let progress = (std::io::stderr().is_terminal() && total >= 100_000).then(|| {
        let bar = ProgressBar::new(packets.packets.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} packets, {per_sec}, {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let mut fates = Vec::with_capacity(packets.packets.len());
    let mut elapsed = Duration::ZERO;
    let mut runs = 0;
    for (index, packet) in packets.packets.iter().enumerate() {
        if let Some(bar) = &progress {
            bar.inc(1);
        }
        let frame = match capture::frame(packets.link_type, packet) {
            Ok(frame) => frame,
            Err(reason) => {
                fates.push(Fate::Skipped(reason));
                continue;
            }
        };
        let input = PacketInput {
            ctx,
            ..PacketInput::new(&frame)
        };
        let start = Instant::now();
        // Only the last run's output is taken.
        let last = vm.run_repeated(&input, repeat).map(|out| out.to_owned());
        elapsed += start.elapsed();
        match last {
            Ok(outcome) => {
                runs += repeat;
                let fields = vm
                    .skb()
                    .map(|skb| changed_fields(skb, ctx))
                    .unwrap_or_default();
                fates.push(Fate::Ran(outcome, fields));
            }
            Err(PacketError::Input { len, reason }) => fates.push(Fate::Skipped(format!(
                "the kernel's test run refuses it ({len} bytes: {reason})"
            ))),
            Err(e) => return Err((index, e)),
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(RunResults {
        fates,
        elapsed,
        runs,
    })
}

/// Where a redirected packet goes, in words: `ifindex 3`, `map tx_ports key 1`.
fn redirect_text(redirect: &Redirect, maps: &MapTable) -> String {
    match *redirect {
        Redirect::Ifindex { ifindex, .. } => format!("ifindex {ifindex}"),
        Redirect::Map { map, key, .. } => {
            let name = maps
                .get(map)
                .map_or_else(|| format!("#{map}"), |m| m.spec().name.clone());
            format!("map {name} key {key}")
        }
    }
}

/// The verdict of an outcome, with its redirect target.
fn verdict_text(kind: PacketKind, outcome: &PacketOutcome, maps: &MapTable) -> String {
    let name = verdict::name(kind, outcome.retval);
    match &outcome.redirect {
        Some(r) => format!("{name} to {}", redirect_text(r, maps)),
        None => name,
    }
}

/// The frame that comes out for a passing outcome: the packet after the run; for a
/// socket filter, the frame cut to the kept length of its network layer.
fn frame_out(kind: PacketKind, outcome: &PacketOutcome, input: &[u8]) -> Vec<u8> {
    match kind {
        PacketKind::SocketFilter => {
            let eth = bpfkit_pcap::link::ETH_HLEN.min(input.len());
            let keep = skb::socket_filter_keeps(outcome.retval, input.len() - eth);
            input[..eth + keep].to_vec()
        }
        _ => outcome.data_out.clone(),
    }
}

/// Writes the packets that came out to `path`; returns how many.
fn write_out(
    path: &str,
    kind: PacketKind,
    packets: &Packets,
    results: &RunResults,
    maps: &MapTable,
) -> CliResult<usize> {
    let mut out: Vec<(&Packet, Vec<u8>, String)> = Vec::new();
    for (packet, fate) in packets.packets.iter().zip(&results.fates) {
        let Fate::Ran(outcome, _) = fate else {
            continue;
        };
        if !verdict::passes(kind, outcome.retval) {
            continue;
        }
        // The frame the program saw: the adaptation succeeded, since the packet ran.
        let input = capture::frame(packets.link_type, packet).unwrap_or_default();
        out.push((
            packet,
            frame_out(kind, outcome, &input),
            verdict_text(kind, outcome, maps),
        ));
    }
    capture::write(path, packets, &out)?;
    Ok(out.len())
}

/// Everything the summary and the JSON output say.
struct Report<'a> {
    origin: &'a str,
    kind: PacketKind,
    engine: EngineKind,
    packets: &'a Packets,
    results: &'a RunResults,
    maps: &'a MapTable,
    trace: &'a [String],
}

/// The JSON output.
#[derive(Serialize)]
struct ReportJson {
    program: String,
    #[serde(rename = "type")]
    prog_type: &'static str,
    engine: &'static str,
    packets: Vec<PacketJson>,
    skipped: Vec<SkippedJson>,
    verdicts: BTreeMap<String, usize>,
    maps: BTreeMap<String, Vec<entry::EntryJson>>,
    trace: Vec<String>,
    packets_per_second: f64,
}

#[derive(Serialize)]
struct PacketJson {
    index: usize,
    retval: u64,
    verdict: String,
    data_out: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect: Option<String>,
    /// For tc programs and socket filters: the __sk_buff fields the program changed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    ctx: SkbFields,
}

#[derive(Serialize)]
struct SkippedJson {
    index: usize,
    reason: String,
}

impl Report<'_> {
    /// Packets per second over the time spent in the program's runs.
    fn rate(&self) -> f64 {
        let secs = self.results.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.results.runs as f64 / secs
        } else {
            0.0
        }
    }

    /// How many packets got each verdict (socket filters' kept lengths grouped as `keep`).
    fn verdicts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for fate in &self.results.fates {
            if let Fate::Ran(outcome, _) = fate {
                *counts
                    .entry(verdict::group(self.kind, outcome.retval))
                    .or_insert(0) += 1;
            }
        }
        counts
    }

    fn ran(&self) -> impl Iterator<Item = (usize, &PacketOutcome, &SkbFields)> {
        self.results
            .fates
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f {
                Fate::Ran(o, fields) => Some((i, o, fields)),
                Fate::Skipped(_) => None,
            })
    }

    fn skipped(&self) -> impl Iterator<Item = (usize, &str)> {
        self.results
            .fates
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f {
                Fate::Skipped(why) => Some((i, why.as_str())),
                Fate::Ran(..) => None,
            })
    }

    fn json(&self) -> ReportJson {
        ReportJson {
            program: self.origin.to_string(),
            prog_type: self.kind.name(),
            engine: self.engine.name(),
            packets: self
                .ran()
                .map(|(index, o, fields)| PacketJson {
                    index,
                    retval: o.retval,
                    verdict: verdict::name(self.kind, o.retval),
                    data_out: input::to_hex(&o.data_out),
                    redirect: o.redirect.as_ref().map(|r| redirect_text(r, self.maps)),
                    ctx: fields.clone(),
                })
                .collect(),
            skipped: self
                .skipped()
                .map(|(index, reason)| SkippedJson {
                    index,
                    reason: reason.to_string(),
                })
                .collect(),
            verdicts: self.verdicts(),
            maps: self
                .maps
                .iter()
                .map(|map| {
                    let entries = dump_order(map.as_ref())
                        .iter()
                        .map(|(k, v)| entry::EntryJson::new(map.spec(), k, v))
                        .collect();
                    (map.spec().name.clone(), entries)
                })
                .collect(),
            trace: self.trace.to_vec(),
            packets_per_second: self.rate(),
        }
    }

    /// The summary; `written` is (packets written, path) for --out.
    fn text(&self, verbose: bool, written: Option<(&usize, &str)>) -> String {
        let mut out = String::new();
        let total = self.packets.packets.len();
        let skipped = self.skipped().count();
        out += &format!(
            "{}: {} program, {}\n",
            self.origin,
            self.kind.name(),
            match self.engine {
                EngineKind::Interp => "interpreter",
                EngineKind::Jit => "JIT",
            }
        );
        let link = bpfkit_pcap::link_type_name(self.packets.link_type)
            .map_or_else(|| self.packets.link_type.to_string(), str::to_string);
        out += &format!(
            "{}: {total} packet{} ({link}), {} run, {skipped} skipped\n",
            self.packets.source,
            if total == 1 { "" } else { "s" },
            total - skipped
        );
        for (index, reason) in self.skipped() {
            out += &format!("  skipped packet {index}: {reason}\n");
        }
        if verbose {
            out += "\npackets:\n";
            for (index, o, fields) in self.ran() {
                let input = capture::frame(self.packets.link_type, &self.packets.packets[index])
                    .unwrap_or_default();
                let mut line = format!(
                    "  {index:>5}  {:<54} {}",
                    crate::describe::frame(&input),
                    verdict_text(self.kind, o, self.maps)
                );
                if verdict::passes(self.kind, o.retval)
                    && self.kind != PacketKind::SocketFilter
                    && o.data_out != input
                {
                    line += &format!(", rewritten: {}", crate::describe::frame(&o.data_out));
                }
                for (field, value) in fields {
                    line += &format!(", {field} = {value:#x}");
                }
                out += line.trim_end();
                out.push('\n');
            }
        }
        out += "\nverdicts:\n";
        if self.verdicts().is_empty() {
            out += "  (no packet ran)\n";
        }
        for (name, count) in self.verdicts() {
            out += &format!("  {name:<16} {count:>8}\n");
        }
        let runs = self.results.runs;
        if runs > 0 {
            let insns: u64 = self.ran().map(|(_, o, _)| o.insns).sum();
            let ran = self.ran().count() as u64;
            out += &format!(
                "\n{runs} run{} in {:.3} ms: {:.0} packets/s, {:.0} ns and {} instructions per packet\n",
                if runs == 1 { "" } else { "s" },
                self.results.elapsed.as_secs_f64() * 1e3,
                self.rate(),
                self.results.elapsed.as_nanos() as f64 / runs as f64,
                insns / ran.max(1)
            );
        }
        out += &self.maps_text();
        if !self.trace.is_empty() {
            out += "\ntrace_printk output:\n";
            for line in self.trace {
                out += &format!("  {}\n", line.trim_end());
            }
        }
        if let Some((count, path)) = written {
            out += &format!(
                "\nwrote {count} packet{} to {path}\n",
                if *count == 1 { "" } else { "s" }
            );
        }
        out
    }

    /// The maps after the run, as bpftool dumps them; all-zero array elements (an array
    /// always has every element) are counted instead of listed.
    fn maps_text(&self) -> String {
        let mut out = String::new();
        for map in self.maps.iter() {
            let spec = map.spec();
            // Global data (.rodata, .bss, ...) is shown like any array.
            out += &format!(
                "\nmap {} ({}, key {} bytes, value {} bytes):\n",
                spec.name,
                types::name(spec.map_type),
                spec.key_size,
                spec.value_size
            );
            let is_array = matches!(
                spec.map_type,
                bpfkit_vm::maps::MapType::Array | bpfkit_vm::maps::MapType::PercpuArray
            );
            let mut zeros = 0;
            let entries = dump_order(map.as_ref());
            for (key, value) in &entries {
                if is_array && value.iter().all(|&b| b == 0) {
                    zeros += 1;
                    continue;
                }
                for line in entry::plain(spec, key, value).lines() {
                    out += &format!("  {line}\n");
                }
            }
            let plural = if zeros == 1 { "" } else { "s" };
            if entries.is_empty() {
                out += "  (empty)\n";
            } else if zeros == entries.len() {
                out += &format!("  ({zeros} element{plural}, all zero)\n");
            } else if zeros > 0 {
                out += &format!("  ({zeros} more element{plural}, all zero)\n");
            }
        }
        out
    }
}
