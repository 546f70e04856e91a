//! Reading inputs: files or stdin, format detection, hex text, and turning any supported
//! format into instructions.

use crate::error::{CliError, CliResult};
use bpfkit_isa::{decode_program, Insn};
use bpfkit_object::{Btf, Initial, Kconfig, MapDef, Object, BPF_MAP_TYPE_PROG_ARRAY};
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::pin::PinDir;
use bpfkit_vm::maps::MapTable;
use bpfkit_vm::maps::ProgramFd;
use bpfkit_vm::{Engine, Helpers};
use clap::{Args, ValueEnum};
use std::io::Read;

/// The name that reads standard input instead of a file.
pub const STDIN: &str = "-";

/// How an input file is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// ELF by its magic number, hex if only hex digits and whitespace, assembly if text,
    /// raw bytecode otherwise.
    Auto,
    /// A BPF ELF object, as `clang -target bpf -c` produces.
    Elf,
    /// Assembly text, in either syntax the assembler reads.
    Asm,
    /// Raw bytecode: 8-byte little-endian instruction slots.
    Raw,
    /// Bytecode as hex digits; whitespace is ignored.
    Hex,
}

impl Format {
    /// The concrete format of `bytes`, for [`Format::Auto`]; other formats as they are.
    pub fn resolve(self, bytes: &[u8]) -> Format {
        if self != Format::Auto {
            return self;
        }
        if bytes.starts_with(b"\x7fELF") {
            Format::Elf
        } else if !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace())
        {
            Format::Hex
        } else if !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok() {
            Format::Asm
        } else {
            Format::Raw
        }
    }
}

/// The program of an ELF object to use.
#[derive(Clone, Debug, Default, Args)]
pub struct Selector {
    /// For an ELF object: the program (function name) to use.
    #[arg(long, value_name = "NAME")]
    pub program: Option<String>,
    /// For an ELF object: the section of the program; without --program, its first
    /// program is used.
    #[arg(long, value_name = "SEC")]
    pub section: Option<String>,
}

impl Selector {
    fn is_set(&self) -> bool {
        self.program.is_some() || self.section.is_some()
    }
}

/// How an ELF object is prepared before its program runs, as user space adjusts an
/// object between opening and loading it.
#[derive(Clone, Debug, Default, Args)]
pub struct LoadOptions {
    /// For an ELF object with CO-RE relocations: the BTF to resolve them against (a raw
    /// BTF file; default /sys/kernel/btf/vmlinux).
    #[arg(long, value_name = "FILE")]
    pub btf: Option<String>,
    /// For an ELF object: set global variable NAME (of .data, .rodata or .bss, e.g. a
    /// `const volatile` parameter) to the bytes HEX before its maps are created; repeatable.
    #[arg(long = "set", value_name = "NAME=HEX")]
    pub globals: Vec<String>,
    /// For an ELF object with `__kconfig` externs: the kernel configuration (a .config
    /// file) to set them from; default this host's (/boot/config-$(uname -r) or
    /// /proc/config.gz, and its kernel version).
    #[arg(long, value_name = "FILE")]
    pub kconfig: Option<String>,
    /// For an ELF object: the directory of pinned maps (the role /sys/fs/bpf plays in
    /// Linux). A map defined with a pinning (`LIBBPF_PIN_BY_NAME`) is the one pinned there
    /// under its name, contents included, or is pinned there; `run` and `test-run` write
    /// its contents back after the runs.
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<String>,
}

impl LoadOptions {
    fn is_set(&self) -> bool {
        self.btf.is_some()
            || !self.globals.is_empty()
            || self.kconfig.is_some()
            || self.pin_dir.is_some()
    }
}

/// What finishes loading an object whose program arrays name programs (`.values`) or
/// whose maps are pinned (`--pin-dir`): the object loaded whole, as libbpf loads it.
pub struct ObjectSetup {
    loaded: bpfkit_object::Loaded,
    pin_dir: Option<PinDir>,
}

impl ObjectSetup {
    /// Prepares every program the object's program arrays name with `build` (their map
    /// references resolved against `maps`) and stores their descriptors in the slots, as
    /// libbpf does once it loaded them. The descriptors keep the programs loaded: hold
    /// them for as long as the runs last.
    pub fn fill_program_arrays(
        &self,
        maps: &MapTable,
        build: impl Fn(&[Insn]) -> Result<Box<dyn Engine>, String>,
    ) -> CliResult<Vec<(String, ProgramFd)>> {
        self.fill_program_arrays_checked(maps, |_, relocated| build(relocated))
    }

    /// As [`ObjectSetup::fill_program_arrays`], `build` given each program both as linked
    /// (map references by index, as the verifier takes them) and with its map references
    /// resolved (as an engine takes them).
    pub fn fill_program_arrays_checked(
        &self,
        maps: &MapTable,
        build: impl Fn(&[Insn], &[Insn]) -> Result<Box<dyn Engine>, String>,
    ) -> CliResult<Vec<(String, ProgramFd)>> {
        let mut fds: Vec<(String, ProgramFd)> = Vec::new();
        for slot in &self.loaded.program_slots {
            if fds.iter().any(|(name, _)| *name == slot.program) {
                continue;
            }
            let fail = |e: String| {
                CliError::failed(format!(
                    "program {} (for a program array): {e}",
                    slot.program
                ))
            };
            let program = self
                .loaded
                .program(&slot.program)
                .map_err(|e| fail(e.to_string()))?;
            let insns = maps
                .relocate(&program.insns)
                .map_err(|e| fail(e.to_string()))?;
            fds.push((
                slot.program.clone(),
                build(&program.insns, &insns).map_err(fail)?.program_fd(),
            ));
        }
        self.loaded
            .fill_program_arrays(|name| fds.iter().find(|(n, _)| n == name).map(|(_, fd)| fd.fd()))
            .map_err(|e| CliError::failed(e.to_string()))?;
        Ok(fds)
    }

    /// Writes the pinned maps' contents back to their pins, with `--pin-dir`.
    pub fn save_pins(&self) -> CliResult {
        let Some(dir) = &self.pin_dir else {
            return Ok(());
        };
        self.loaded
            .save_pins(dir)
            .map_err(|e| CliError::failed(format!("cannot write the pinned maps back: {e}")))
    }
}

/// An input's bytes and the name to report it by.
pub struct Input {
    /// The path as given, or `<stdin>`.
    pub name: String,
    /// The contents.
    pub bytes: Vec<u8>,
}

impl Input {
    /// Reads `path`, or standard input for `-`.
    pub fn read(path: &str) -> CliResult<Input> {
        if path == STDIN {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::input(format!("cannot read standard input: {e}")))?;
            return Ok(Input {
                name: "<stdin>".to_string(),
                bytes,
            });
        }
        let bytes =
            std::fs::read(path).map_err(|e| CliError::input(format!("cannot read {path}: {e}")))?;
        Ok(Input {
            name: path.to_string(),
            bytes,
        })
    }

    /// The contents as text, for assembly or hex.
    pub fn text(&self) -> CliResult<&str> {
        std::str::from_utf8(&self.bytes)
            .map_err(|e| CliError::input(format!("{} is not UTF-8 text: {e}", self.name)))
    }

    /// Parses the object, for the ELF format.
    pub fn object(&self) -> CliResult<Object> {
        Object::parse(&self.bytes).map_err(|e| {
            CliError::input(format!(
                "cannot read {} as a BPF ELF object: {e}",
                self.name
            ))
        })
    }
}

/// Parses hex digits, ignoring whitespace, into bytes.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let nibbles = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .enumerate()
        .map(|(i, c)| {
            c.to_digit(16)
                .map(|d| d as u8)
                .ok_or_else(|| format!("{c:?} (digit {i}) is not a hex digit"))
        })
        .collect::<Result<Vec<u8>, String>>()?;
    if nibbles.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", nibbles.len()));
    }
    Ok(nibbles.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// Bytes as lowercase hex digits.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes as lowercase hex, one 8-byte instruction slot per line, bytes separated by spaces.
pub fn to_hex_lines(bytes: &[u8]) -> String {
    bytes
        .chunks(8)
        .map(|slot| {
            let bytes: Vec<String> = slot.iter().map(|b| format!("{b:02x}")).collect();
            bytes.join(" ") + "\n"
        })
        .collect()
}

/// A program loaded from an input, and words saying where it came from.
pub struct Loaded {
    /// The instructions (subprograms linked for an ELF program), map references by index
    /// into `maps`.
    pub insns: Vec<Insn>,
    /// The maps of an ELF object, created with their initial contents (global data);
    /// empty for other formats.
    pub maps: MapTable,
    /// The definitions `maps` were created from, in the same order (for the verifier,
    /// which needs the inner maps of maps of maps); empty for other formats.
    pub map_defs: Vec<MapDef>,
    /// `program hash_mem (section memory) of hash.o`, or `prog.bin`.
    pub origin: String,
    /// The ELF section the program came from (its type, by libbpf's conventions).
    pub section: Option<String>,
    /// For an object with program arrays to fill or pinned maps: the rest of its load.
    pub setup: Option<ObjectSetup>,
    /// The first slots of the program's global functions (from an object's BTF).
    pub global_functions: Vec<usize>,
}

/// Loads the program `input` holds in `format`; `selector` picks one from an ELF object,
/// `options` say how to prepare the object.
pub fn load_program(
    input: &Input,
    format: Format,
    selector: &Selector,
    options: &LoadOptions,
) -> CliResult<Loaded> {
    let format = format.resolve(&input.bytes);
    if format != Format::Elf && (selector.is_set() || options.is_set()) {
        return Err(CliError::input(format!(
            "--program, --section, --btf, --set and --kconfig apply to ELF objects only, but {} is read as {}",
            input.name,
            format_name(format)
        )));
    }
    match format {
        Format::Elf => load_elf(input, selector, options),
        Format::Asm => Ok(Loaded {
            insns: assemble(input)?,
            maps: MapTable::new(),
            map_defs: Vec::new(),
            origin: input.name.clone(),
            section: None,
            setup: None,
            global_functions: Vec::new(),
        }),
        Format::Raw | Format::Hex => Ok(Loaded {
            insns: decode(&bytecode(input, format)?, &input.name)?,
            maps: MapTable::new(),
            map_defs: Vec::new(),
            origin: input.name.clone(),
            section: None,
            setup: None,
            global_functions: Vec::new(),
        }),
        Format::Auto => unreachable!("Format::resolve returns a concrete format"),
    }
}

/// A loaded program made ready for an engine: its maps behind Linux's helpers, and its
/// map references resolved against them.
pub struct Runnable {
    /// The maps and what the helpers collect (trace output, ring buffers).
    pub runtime: Runtime,
    /// Linux's helpers, working on `runtime`.
    pub helpers: Helpers,
    /// The instructions, map references resolved.
    pub insns: Vec<Insn>,
    /// Where the program came from, as [`Loaded::origin`].
    pub origin: String,
    /// As [`Loaded::setup`].
    pub setup: Option<ObjectSetup>,
}

impl Loaded {
    /// Gives the program its maps and helpers, as an engine needs them.
    pub fn runnable(self) -> CliResult<Runnable> {
        let runtime = Runtime::new(self.maps);
        let mut helpers = Helpers::new();
        linux::register(&mut helpers, &runtime);
        let insns = runtime
            .maps
            .relocate(&self.insns)
            .map_err(|e| CliError::failed(format!("{} cannot be run: {e}", self.origin)))?;
        Ok(Runnable {
            runtime,
            helpers,
            insns,
            origin: self.origin,
            setup: self.setup,
        })
    }
}

/// The bytecode of a raw or hex input.
pub fn bytecode(input: &Input, format: Format) -> CliResult<Vec<u8>> {
    match format {
        Format::Hex => parse_hex(input.text()?)
            .map_err(|e| CliError::input(format!("{} is not valid hex: {e}", input.name))),
        _ => Ok(input.bytes.clone()),
    }
}

/// Decodes bytecode, reporting the instruction index of a bad instruction.
fn decode(bytes: &[u8], name: &str) -> CliResult<Vec<Insn>> {
    decode_program(bytes)
        .map_err(|e| CliError::input(format!("cannot decode the bytecode of {name}: {e}")))
}

/// Assembles a text input.
pub fn assemble(input: &Input) -> CliResult<Vec<Insn>> {
    bpfkit_isa::assemble(input.text()?)
        .map_err(|e| CliError::input(format!("cannot assemble {}: {e}", input.name)))
}

/// The kernel's BTF, the default target of CO-RE relocations.
const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

fn load_elf(input: &Input, selector: &Selector, options: &LoadOptions) -> CliResult<Loaded> {
    let mut object = input.object()?;
    for global in &options.globals {
        let (name, hex) = global
            .split_once('=')
            .ok_or_else(|| CliError::input(format!("--set {global}: expected NAME=HEX")))?;
        let bytes = parse_hex(hex).map_err(|e| CliError::input(format!("--set {global}: {e}")))?;
        object
            .set_global(name, &bytes)
            .map_err(|e| CliError::input(format!("{}: {e}", input.name)))?;
    }
    if object.pending_core_relocations() > 0 {
        let path = options.btf.as_deref().unwrap_or(VMLINUX_BTF);
        let bytes = std::fs::read(path).map_err(|e| {
            CliError::input(format!(
                "{} has CO-RE relocations, but the target BTF {path} cannot be read ({e}); give one with --btf",
                input.name
            ))
        })?;
        let target = Btf::parse(&bytes)
            .map_err(|e| CliError::input(format!("{path} is not a BTF file: {e}")))?;
        object
            .relocate_core(&target)
            .map_err(|e| CliError::input(format!("{}: {e}", input.name)))?;
    }
    if object.pending_kconfig() {
        let config = match &options.kconfig {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| CliError::input(format!("cannot read {path}: {e}")))?;
                let mut config = Kconfig::parse(&text)
                    .map_err(|e| CliError::input(format!("{path}: {e}")))?;
                config.kernel_version = Kconfig::host_kernel_version();
                config
            }
            None => Kconfig::host().map_err(|e| {
                CliError::input(format!(
                    "{} reads __kconfig externs, but this host's configuration cannot be read ({e}); give one with --kconfig",
                    input.name
                ))
            })?,
        };
        object
            .resolve_kconfig(&config)
            .map_err(|e| CliError::input(format!("{}: {e}", input.name)))?;
    }
    let program = match (&selector.program, &selector.section) {
        (Some(name), _) => object.program(name),
        (None, Some(section)) => object.program_by_section(section),
        (None, None) => match object.programs().next() {
            Some(first) => Ok(first),
            None => {
                return Err(CliError::input(format!(
                    "{} contains no BPF programs",
                    input.name
                )))
            }
        },
    }
    .map_err(|e| CliError::input(format!("{}: {e}", input.name)))?;
    let origin = format!(
        "program {} (section {}) of {}",
        program.name(),
        program.section(),
        input.name
    );
    if let Some(section) = selector
        .section
        .as_deref()
        .filter(|&s| s != program.section())
    {
        return Err(CliError::input(format!(
            "{origin} is not in section {section}"
        )));
    }
    let insns = program
        .insns()
        .map_err(|e| CliError::input(format!("cannot load {origin}: {e}")))?;
    let global_functions = program
        .global_functions()
        .map_err(|e| CliError::input(format!("cannot load {origin}: {e}")))?;
    let map_error = |e| CliError::failed(format!("cannot load the maps of {}: {e}", input.name));
    let pin_dir = options
        .pin_dir
        .as_deref()
        .map(|dir| PinDir::open(dir).map_err(|e| CliError::input(format!("--pin-dir {dir}: {e}"))))
        .transpose()?;
    let program_slots = object
        .maps()
        .iter()
        .any(|d| d.map_type == BPF_MAP_TYPE_PROG_ARRAY && matches!(d.initial, Initial::Slots(_)));
    let (maps, setup) = if pin_dir.is_some() || program_slots {
        // As libbpf loads an object: every program of it is linked.
        let loaded = match &pin_dir {
            Some(dir) => object.load_pinned(dir),
            None => object.load(),
        }
        .map_err(map_error)?;
        (loaded.maps.clone(), Some(ObjectSetup { loaded, pin_dir }))
    } else {
        (object.create_maps().map_err(map_error)?, None)
    };
    Ok(Loaded {
        insns,
        maps,
        map_defs: object.maps().to_vec(),
        origin,
        section: Some(program.section().to_string()),
        setup,
        global_functions,
    })
}

/// The name of a format, as `--format` takes it.
pub fn format_name(format: Format) -> String {
    format
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}
