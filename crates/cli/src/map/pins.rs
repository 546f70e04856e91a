//! The directory where `bpfkit map` keeps maps, one pin file per map, playing the role
//! of `/sys/fs/bpf`; the reading and writing itself is the maps library's [`PinDir`],
//! whose writes are crash-safe.

use crate::error::{CliError, CliResult};
use bpfkit_vm::maps::pin::{PinDir, PinError};
use bpfkit_vm::maps::Map;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable naming the pin directory when `--pin-dir` is not given.
pub const PIN_DIR_VAR: &str = "BPFKIT_PIN_DIR";
/// The pin directory when neither `--pin-dir` nor [`PIN_DIR_VAR`] names one.
pub const DEFAULT_PIN_DIR: &str = "bpffs";

/// A directory of pinned maps. Reading never creates it; writing does.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The directory `dir`, else the one [`PIN_DIR_VAR`] names, else [`DEFAULT_PIN_DIR`].
    pub fn resolve(dir: Option<&Path>) -> Store {
        let dir = match dir {
            Some(dir) => dir.to_owned(),
            None => std::env::var_os(PIN_DIR_VAR)
                .filter(|v| !v.is_empty())
                .map_or_else(|| PathBuf::from(DEFAULT_PIN_DIR), PathBuf::from),
        };
        Store { dir }
    }

    /// The directory `dir` as it is.
    pub fn at(dir: &Path) -> Store {
        Store {
            dir: dir.to_owned(),
        }
    }

    /// The map pinned as `name`. A missing or corrupt pin is an input error.
    pub fn load(&self, name: &str) -> CliResult<Arc<dyn Map>> {
        let missing = || {
            CliError::input(format!(
                "no map is pinned as {name} in {}",
                self.dir.display()
            ))
        };
        if !self.dir.is_dir() {
            return Err(missing());
        }
        match self.pins()?.get(name) {
            Err(PinError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                Err(missing())
            }
            result => result.map_err(pin_error),
        }
    }

    /// Whether something is pinned as `name`.
    pub fn exists(&self, name: &str) -> bool {
        self.dir.join(name).exists()
    }

    /// Pins `map` as `name`, replacing any earlier pin atomically.
    pub fn save(&self, name: &str, map: &dyn Map) -> CliResult {
        self.pins()?.pin(name, map).map_err(pin_error)
    }

    /// The names pinned, sorted; none if the directory does not exist.
    pub fn names(&self) -> CliResult<Vec<String>> {
        if !self.dir.is_dir() {
            return Ok(Vec::new());
        }
        self.pins()?.names().map_err(pin_error)
    }

    /// The directory, for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn pins(&self) -> CliResult<PinDir> {
        PinDir::open(&self.dir).map_err(pin_error)
    }
}

/// Every pin error is about the input: a bad name, an unreadable, unwritable or corrupt
/// file. Each message names the file.
fn pin_error(e: PinError) -> CliError {
    CliError::input(e.to_string())
}
