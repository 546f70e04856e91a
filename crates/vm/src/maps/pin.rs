//! Pinning: saving a map (its spec and contents) to a file and loading it back in a later
//! process, the role `/sys/fs/bpf` plays in Linux. A [`PinDir`] is such a directory.
//!
//! # File format (version 1, integers little-endian)
//! ```text
//! magic      8 bytes  "BPFKPIN\0"
//! version    u32      1
//! crc32      u32      CRC-32 (IEEE) of the body
//! body_len   u64
//! body:
//!   map_type u32, key_size u32, value_size u32, max_entries u32, flags u32,
//!   name_len u32, name (UTF-8),
//!   cpus     u32      value slots per element in this file (per-CPU maps), else 1
//!   count    u64      elements, then each: key (key_size bytes), value (user layout)
//! ```
//! Queues and stacks store their values oldest first; ring buffers store no records.
//!
//! # Crash safety
//! A pin is written to a temporary file in the same directory, flushed to disk, renamed
//! over the pin (atomic on POSIX file systems) and the directory flushed: a crash leaves
//! either the old pin or the new one, never a mix. Leftover temporary files (names
//! starting with `.`) are never read as pins.

use super::error::MapError;
use super::spec::{round8, MapSpec, MapType};
use super::{cpu, create, Cpus, Map};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use thiserror::Error;

const MAGIC: &[u8; 8] = b"BPFKPIN\0";
const VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 4 + 8;

/// Why a pin could not be written or read.
#[derive(Debug, Error)]
pub enum PinError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a bpfkit pinned map ({what})")]
    Corrupt { path: PathBuf, what: String },
    #[error("{path}: pinned map format version {version}, this bpfkit reads version {VERSION}")]
    Version { path: PathBuf, version: u32 },
    #[error("{path}: the pinned map cannot be recreated: {source}")]
    Map { path: PathBuf, source: MapError },
    #[error("{name:?} is not a valid pin name (a file name without '/', not starting with '.')")]
    Name { name: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PinError + '_ {
    move |source| PinError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Serialises `map`.
fn encode(map: &dyn Map) -> Vec<u8> {
    let spec = map.spec();
    let cpus = if spec.map_type.is_percpu() {
        cpu::possible() as u32
    } else {
        1
    };
    let entries = map.entries();
    let mut body = Vec::new();
    for v in [
        spec.map_type as u32,
        spec.key_size,
        spec.value_size,
        spec.max_entries,
        spec.flags,
        spec.name.len() as u32,
    ] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    body.extend_from_slice(spec.name.as_bytes());
    body.extend_from_slice(&cpus.to_le_bytes());
    body.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (key, value) in &entries {
        body.extend_from_slice(key);
        body.extend_from_slice(value);
    }
    let mut file = Vec::with_capacity(HEADER + body.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&VERSION.to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    file.extend_from_slice(&(body.len() as u64).to_le_bytes());
    file.extend_from_slice(&body);
    file
}

/// Reads the body's fields in order, failing with a description of what is missing.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!("truncated in {what}"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
}

/// A per-CPU value saved with `from` slots, as this process's layout: slots it lacks are
/// zero, extra ones dropped.
fn adapt_cpus(value: &[u8], from: usize, stride: usize) -> Vec<u8> {
    let mut out = vec![0u8; stride * cpu::possible()];
    let n = from.min(cpu::possible()) * stride;
    out[..n].copy_from_slice(&value[..n]);
    out
}

/// Parses a pin file's bytes and recreates the map.
fn decode(path: &Path, file: &[u8]) -> Result<Arc<dyn Map>, PinError> {
    let corrupt = |what: String| PinError::Corrupt {
        path: path.to_owned(),
        what,
    };
    if file.len() < HEADER || &file[..8] != MAGIC {
        return Err(corrupt("bad magic number".into()));
    }
    let version = u32::from_le_bytes(file[8..12].try_into().unwrap());
    if version != VERSION {
        return Err(PinError::Version {
            path: path.to_owned(),
            version,
        });
    }
    let crc = u32::from_le_bytes(file[12..16].try_into().unwrap());
    let len = u64::from_le_bytes(file[16..24].try_into().unwrap());
    let body = &file[HEADER..];
    if body.len() as u64 != len {
        return Err(corrupt(format!(
            "body is {} bytes, header says {len}",
            body.len()
        )));
    }
    let actual = crc32fast::hash(body);
    if actual != crc {
        return Err(corrupt(format!(
            "checksum mismatch: header says {crc:#010x}, contents hash to {actual:#010x}"
        )));
    }
    let mut r = Reader { bytes: body };
    let (spec, cpus, count) = (|| -> Result<_, String> {
        let raw_type = r.u32("the map type")?;
        let map_type = MapType::from_raw(raw_type).ok_or(format!("unknown map type {raw_type}"))?;
        let mut spec = MapSpec::new(
            map_type,
            r.u32("the key size")?,
            r.u32("the value size")?,
            r.u32("max_entries")?,
        );
        spec.flags = r.u32("the flags")?;
        let name_len = r.u32("the name length")? as usize;
        spec.name = String::from_utf8(r.take(name_len, "the name")?.to_vec())
            .map_err(|_| "the name is not UTF-8".to_string())?;
        Ok((
            spec,
            r.u32("the CPU count")? as usize,
            r.u64("the element count")?,
        ))
    })()
    .map_err(corrupt)?;
    let map = create(&spec).map_err(|source| PinError::Map {
        path: path.to_owned(),
        source,
    })?;
    let stride = round8(spec.value_size as usize);
    let value_len = if spec.map_type.is_percpu() {
        stride
            .checked_mul(cpus)
            .ok_or_else(|| corrupt("CPU count overflows".into()))?
    } else {
        spec.value_size as usize
    };
    for i in 0..count {
        let what = format!("element {i}");
        let key = r.take(spec.key_size as usize, &what).map_err(corrupt)?;
        let value = r.take(value_len, &what).map_err(corrupt)?;
        let value = if spec.map_type.is_percpu() {
            adapt_cpus(value, cpus, stride)
        } else {
            value.to_vec()
        };
        let restored = match spec.map_type {
            MapType::Queue | MapType::Stack => map.push(&value, 0),
            _ => map.update_cpus(key, &value, super::BPF_ANY, Cpus::All),
        };
        restored.map_err(|e| corrupt(format!("element {i} cannot be restored: {e}")))?;
    }
    if !r.bytes.is_empty() {
        return Err(corrupt(format!(
            "{} bytes after the last element",
            r.bytes.len()
        )));
    }
    Ok(map)
}

/// Writes `map` to `path`, crash-safely (see the module documentation).
pub fn save(map: &dyn Map, path: &Path) -> Result<(), PinError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| PinError::Name {
        name: path.display().to_string(),
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(&encode(map))?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Reads the map pinned at `path`, recreating it with its contents.
pub fn load(path: &Path) -> Result<Arc<dyn Map>, PinError> {
    let bytes = fs::read(path).map_err(io(path))?;
    decode(path, &bytes)
}

/// A directory of pinned maps, by name.
#[derive(Clone, Debug)]
pub struct PinDir {
    root: PathBuf,
}

impl PinDir {
    /// The directory `root`, created if missing.
    pub fn open(root: impl Into<PathBuf>) -> Result<PinDir, PinError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io(&root))?;
        Ok(PinDir { root })
    }

    fn path(&self, name: &str) -> Result<PathBuf, PinError> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(PinError::Name { name: name.into() });
        }
        Ok(self.root.join(name))
    }

    /// Pins `map` as `name`, replacing any previous pin of that name.
    pub fn pin(&self, name: &str, map: &dyn Map) -> Result<(), PinError> {
        save(map, &self.path(name)?)
    }

    /// The map pinned as `name`.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Map>, PinError> {
        load(&self.path(name)?)
    }

    /// Removes the pin `name` (the map itself lives on while used).
    pub fn unpin(&self, name: &str) -> Result<(), PinError> {
        let path = self.path(name)?;
        fs::remove_file(&path).map_err(io(&path))
    }

    /// The names pinned here, sorted.
    pub fn names(&self) -> Result<Vec<String>, PinError> {
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .map_err(io(&self.root))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }
}
