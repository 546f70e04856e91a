//! `bpfkit map`: create, inspect and change maps pinned in a directory, as bpftool's
//! `map` commands do for the maps of a kernel.
//!
//! Each command loads the map from its pin file, applies one operation of the maps
//! library (which answers with Linux's errno values) and, if the map changed, writes the
//! pin back through the library's crash-safe writer.

pub(crate) mod entry;
mod hex;
mod operands;
mod pins;
mod refused;
mod show;
pub(crate) mod types;

use crate::error::{CliError, CliResult};
use crate::output;
use bpfkit_vm::maps::{self, Map, MapError, MapSpec, MapType, BPF_ANY, BPF_EXIST, BPF_NOEXIST};
use clap::{Args, Subcommand, ValueEnum};
use entry::EntryJson;
use pins::Store;
use refused::refused;
use show::MapInfo;
use std::path::{Path, PathBuf};

/// Arguments of `bpfkit map`.
#[derive(Debug, Args)]
#[command(after_help = "\
Maps live in a directory, one pin file per map, under the name given when the map was \
created: --pin-dir DIR, else $BPFKIT_PIN_DIR, else ./bpffs. The directory plays the role of \
/sys/fs/bpf: a map keeps its contents from one command to the next. To remove a map, delete \
its pin file.

Every change (create, update, delete, pop, pin) loads the pin, applies the operation and \
writes the whole map to a temporary file renamed over the pin, so that a crash leaves \
either the old map or the new one, never a mix. Commands changing the same map at the same \
moment do not wait for each other: one of the changes may be lost.

Keys and values are hex bytes in memory order: `01 02`, `0x0102` and `0102` are the same \
two bytes, and the u32 key 1 is `01 00 00 00` on a little-endian host.

Exit status: 0 on success; 1 when the map refuses the operation, with Linux's errno (no \
such key: ENOENT, key exists: EEXIST, map full: E2BIG); 2 for a usage or input error \
(bad hex, wrong key or value size, no such map, corrupt pin file, attributes the map type \
refuses).")]
pub struct MapArgs {
    #[command(subcommand)]
    command: MapCommand,
    /// The directory of pinned maps [default: $BPFKIT_PIN_DIR, else ./bpffs].
    #[arg(long, value_name = "DIR", global = true)]
    pin_dir: Option<PathBuf>,
    /// Print JSON: an element as `{"key": "<hex>", "value": "<hex>"}` (per-CPU maps: a
    /// list of values, one per CPU), `dump` a list of elements, `show` an object per map,
    /// and `null` for commands that only change a map.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum MapCommand {
    /// Create an empty map pinned as NAME.
    Create(CreateArgs),
    /// Show the type, sizes, flags and element count of the map NAME, or of every map.
    Show {
        /// The map; without it, every map of the pin directory.
        name: Option<String>,
    },
    /// Print every element, as `bpftool map dump` does.
    #[command(after_help = "\
Hash maps are listed in key byte order, so that maps with equal contents dump equally; \
arrays by index; lpm_trie maps by prefix; queues and stacks in the order pops would \
return their values.")]
    Dump {
        /// The map.
        name: String,
    },
    /// Print the value of a key; for a queue or stack, its next value, left in place.
    Lookup(KeyArgs),
    /// Create or replace the value of a key; for a queue or stack, push a value.
    Update(UpdateArgs),
    /// Remove a key.
    Delete(KeyArgs),
    /// Remove and print the next value of a queue (oldest) or a stack (newest).
    Pop {
        /// The map.
        name: String,
    },
    /// Copy the map NAME, with its contents, to the pin file PATH.
    #[command(after_help = "\
Maps are always pinned, so `pin` makes a copy: to share a map, or to take a snapshot of \
it. PATH is a file, or a directory (existing, or written with a trailing `/`) to copy \
the pin into under NAME; pinning to a path that exists fails with EEXIST. The copy is an \
independent map: `--pin-dir DIR` names it when DIR is the directory holding it.")]
    Pin {
        /// The map.
        name: String,
        /// Where to pin the copy.
        path: PathBuf,
    },
}

/// Arguments of `bpfkit map create`.
#[derive(Debug, Args)]
#[command(after_help = "\
What each type needs, as Linux's BPF_MAP_CREATE checks it (a value size above 0 for all \
but ringbuf):
  array, percpu_array            --key-size 4
  hash, percpu_hash, lru_hash,
  lru_percpu_hash                --key-size 1 to 512
  lpm_trie                       --flags 1 (BPF_F_NO_PREALLOC), --key-size 4 plus the data
                                 size (8 for IPv4, 20 for IPv6): keys are a host-endian u32
                                 prefix length followed by the data
  queue, stack                   --key-size 0
  ringbuf                        --key-size 0, --value-size 0, --max-entries a power of 2
                                 and a multiple of 4096

Program arrays, perf event arrays and maps of maps hold descriptors of a running process's \
programs, maps or perf events, which mean nothing once it is gone: they cannot be created \
here.")]
struct CreateArgs {
    /// The name to pin the map as: a file name, not starting with `.`.
    name: String,
    /// The map type: `enum bpf_map_type` in lower case, without `BPF_MAP_TYPE_`.
    #[arg(long = "type", value_name = "TYPE")]
    map_type: types::Creatable,
    /// Bytes per key.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    key_size: u32,
    /// Bytes per value (of one CPU, for per-CPU maps).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    value_size: u32,
    /// Capacity in elements (in bytes for ringbuf).
    #[arg(long, value_name = "N")]
    max_entries: u32,
    /// `BPF_F_*` creation flags, in decimal or 0x-prefixed hex.
    #[arg(long, value_name = "N", default_value = "0", value_parser = parse_flags)]
    flags: u32,
}

/// A map and, for maps with keys, one of its keys.
#[derive(Debug, Args)]
struct KeyArgs {
    /// The map.
    name: String,
    /// The key, as hex bytes (one argument or several); queues and stacks take none.
    #[arg(long, value_name = "HEX", num_args = 1..)]
    key: Option<Vec<String>>,
}

/// Arguments of `bpfkit map update`.
#[derive(Debug, Args)]
struct UpdateArgs {
    #[command(flatten)]
    target: KeyArgs,
    /// The value, as hex bytes (one argument or several). For a per-CPU map, the value of
    /// one CPU, written for every CPU (as bpftool does).
    #[arg(long, value_name = "HEX", num_args = 1.., required = true)]
    value: Vec<String>,
    /// When to write: `any` (create or replace), `noexist` (create only: EEXIST if the key
    /// exists), `exist` (replace only: ENOENT if it does not; a full queue or stack drops
    /// its oldest value instead of failing with E2BIG).
    #[arg(long, value_enum, default_value_t = UpdateFlags::Any)]
    flags: UpdateFlags,
}

/// The update flags of `BPF_MAP_UPDATE_ELEM`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum UpdateFlags {
    /// BPF_ANY.
    Any,
    /// BPF_NOEXIST.
    Noexist,
    /// BPF_EXIST.
    Exist,
}

impl UpdateFlags {
    fn bits(self) -> u64 {
        match self {
            UpdateFlags::Any => BPF_ANY,
            UpdateFlags::Noexist => BPF_NOEXIST,
            UpdateFlags::Exist => BPF_EXIST,
        }
    }
}

/// A number in decimal or, prefixed with `0x`, in hex.
fn parse_flags(text: &str) -> Result<u32, String> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .map_err(|e| e.to_string())
}

/// Runs `bpfkit map`.
pub fn run(args: &MapArgs) -> CliResult {
    let store = Store::resolve(args.pin_dir.as_deref());
    let json = args.json;
    match &args.command {
        MapCommand::Create(create_args) => create(&store, create_args, json),
        MapCommand::Show { name } => show(&store, name.as_deref(), json),
        MapCommand::Dump { name } => dump(&store, name, json),
        MapCommand::Lookup(target) => lookup(&store, target, json),
        MapCommand::Update(update_args) => update(&store, update_args, json),
        MapCommand::Delete(target) => delete(&store, target, json),
        MapCommand::Pop { name } => pop(&store, name, json),
        MapCommand::Pin { name, path } => pin(&store, name, path, json),
    }
}

fn create(store: &Store, args: &CreateArgs, json: bool) -> CliResult {
    let name = &args.name;
    if store.exists(name) {
        return Err(CliError::failed(format!(
            "a map is already pinned as {name} in {} (EEXIST)",
            store.dir().display()
        )));
    }
    let spec = MapSpec::new(
        args.map_type.0,
        args.key_size,
        args.value_size,
        args.max_entries,
    )
    .with_flags(args.flags);
    let map = maps::create(&spec).map_err(|e| match e {
        MapError::NoMemory => CliError::failed(format!("cannot create {name}: {e}")),
        _ => CliError::input(format!(
            "cannot create {name}: map type {} refuses these attributes: {e}; \
             `bpfkit map create --help` lists what each type needs",
            types::name(spec.map_type)
        )),
    })?;
    store.save(name, &*map)?;
    done(json)
}

fn show(store: &Store, name: Option<&str>, json: bool) -> CliResult {
    if let Some(name) = name {
        let shown = MapInfo::new(name, &*store.load(name)?);
        return if json {
            output::json(&shown)
        } else {
            output::stdout(shown.plain().as_bytes())
        };
    }
    let shown = store
        .names()?
        .iter()
        .map(|name| Ok(MapInfo::new(name, &*store.load(name)?)))
        .collect::<CliResult<Vec<_>>>()?;
    if json {
        output::json(&shown)
    } else {
        let text: String = shown.iter().map(MapInfo::plain).collect();
        output::stdout(text.as_bytes())
    }
}

fn dump(store: &Store, name: &str, json: bool) -> CliResult {
    let map = store.load(name)?;
    let spec = map.spec();
    let entries = dump_order(&*map);
    if json {
        let entries: Vec<EntryJson> = entries
            .iter()
            .map(|(key, value)| EntryJson::new(spec, key, value))
            .collect();
        return output::json(&entries);
    }
    let mut text: String = entries
        .iter()
        .map(|(key, value)| entry::plain(spec, key, value))
        .collect();
    let plural = if entries.len() == 1 { "" } else { "s" };
    text += &format!("Found {} element{plural}\n", entries.len());
    output::stdout(text.as_bytes())
}

/// The elements in the order `dump` lists them. A hash map's own order depends on a hash
/// seed chosen per process, so it is sorted by key for equal maps to dump equally; a
/// stack, which the library lists oldest first, is reversed to pop order like a queue;
/// other maps keep their order (arrays by index, lpm_trie by prefix).
pub(crate) fn dump_order(map: &dyn Map) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut entries = map.entries();
    match map.spec().map_type {
        MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
            entries.sort()
        }
        MapType::Stack => entries.reverse(),
        _ => {}
    }
    entries
}

fn lookup(store: &Store, target: &KeyArgs, json: bool) -> CliResult {
    let map = store.load(&target.name)?;
    let spec = map.spec();
    let key = operands::key(&target.name, spec, target.key.as_deref())?;
    let mut value = vec![0u8; spec.user_value_size()];
    map.lookup(&key, &mut value)
        .map_err(|e| refused("look up", &target.name, &key, spec, e))?;
    print_entry(spec, &key, &value, json)
}

fn update(store: &Store, args: &UpdateArgs, json: bool) -> CliResult {
    let name = &args.target.name;
    let map = store.load(name)?;
    let spec = map.spec();
    let key = operands::key(name, spec, args.target.key.as_deref())?;
    let value = operands::value(name, spec, &args.value)?;
    map.update(&key, &value, args.flags.bits())
        .map_err(|e| refused("update", name, &key, spec, e))?;
    store.save(name, &*map)?;
    done(json)
}

fn delete(store: &Store, target: &KeyArgs, json: bool) -> CliResult {
    let map = store.load(&target.name)?;
    let spec = map.spec();
    let key = operands::key(&target.name, spec, target.key.as_deref())?;
    map.delete(&key)
        .map_err(|e| refused("delete", &target.name, &key, spec, e))?;
    store.save(&target.name, &*map)?;
    done(json)
}

fn pop(store: &Store, name: &str, json: bool) -> CliResult {
    let map = store.load(name)?;
    let spec = map.spec();
    let mut value = vec![0u8; spec.user_value_size()];
    map.pop(&mut value)
        .map_err(|e| refused("pop from", name, &[], spec, e))?;
    store.save(name, &*map)?;
    print_entry(spec, &[], &value, json)
}

fn pin(store: &Store, name: &str, path: &Path, json: bool) -> CliResult {
    let map = store.load(name)?;
    let into_dir = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
    let (dir, file) = if into_dir {
        (path, name)
    } else {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .ok_or_else(|| CliError::input(format!("{} names no pin file", path.display())))?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        (dir.unwrap_or(Path::new(".")), file)
    };
    let target = Store::at(dir);
    if target.exists(file) {
        return Err(CliError::failed(format!(
            "{} exists (EEXIST)",
            dir.join(file).display()
        )));
    }
    target.save(file, &*map)?;
    done(json)
}

fn print_entry(spec: &MapSpec, key: &[u8], value: &[u8], json: bool) -> CliResult {
    if json {
        output::json(&EntryJson::new(spec, key, value))
    } else {
        output::stdout(entry::plain(spec, key, value).as_bytes())
    }
}

/// The output of a command that only changes a map: nothing, or `null` in JSON (as
/// `bpftool --json` prints).
fn done(json: bool) -> CliResult {
    if json {
        output::json(&())
    } else {
        Ok(())
    }
}
