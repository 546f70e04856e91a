//! Helper functions: the registry keyed by Linux's helper numbers (`enum bpf_func_id`).
//!
//! An engine resolves each `call imm` against the registry once, when the program is
//! prepared, so an unknown helper is an error before anything runs and a call at run time
//! is one indirect call.

use crate::error::Fault;
use crate::memory::Memory;
use crate::net::PacketState;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a helper sees of the running program: its memory, checked, and the packet of a
/// packet program's run.
pub struct HelperContext<'a, 'm> {
    /// The regions of the run; helpers read and write pointer arguments through it.
    pub memory: &'a mut Memory<'m>,
    /// The packet and the real context, when the program runs on a packet
    /// ([`crate::net`]). After every helper call the engines bring the context's pointers
    /// and the run's packet region up to date ([`PacketState::resync`]).
    pub packet: Option<&'a mut PacketState>,
}

/// A helper's failure, which ends the run with [`Fault::Helper`] or the memory fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelperError {
    /// A pointer argument was outside the program's memory.
    Fault(Fault),
    /// Anything else, in words.
    Failed(String),
}

impl From<Fault> for HelperError {
    fn from(f: Fault) -> Self {
        HelperError::Fault(f)
    }
}

/// A helper implementation: receives `r1..=r5`, returns `r0`.
pub type HelperFn =
    dyn Fn(&mut HelperContext<'_, '_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync;

/// One registered helper.
#[derive(Clone)]
pub struct Helper {
    /// The helper's name, as in `linux/bpf.h` without the `bpf_` prefix.
    pub name: String,
    /// Its implementation.
    pub func: Arc<HelperFn>,
}

impl std::fmt::Debug for Helper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helper").field("name", &self.name).finish()
    }
}

/// The helpers a program may call, by number.
#[derive(Clone, Debug, Default)]
pub struct Helpers {
    by_id: BTreeMap<i32, Helper>,
}

impl Helpers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) helper number `id`.
    pub fn register<F>(&mut self, id: i32, name: &str, func: F) -> &mut Self
    where
        F: Fn(&mut HelperContext<'_, '_>, [u64; 5]) -> Result<u64, HelperError>
            + Send
            + Sync
            + 'static,
    {
        self.by_id.insert(
            id,
            Helper {
                name: name.to_string(),
                func: Arc::new(func),
            },
        );
        self
    }

    /// Helper number `id`, if registered.
    pub fn get(&self, id: i32) -> Option<&Helper> {
        self.by_id.get(&id)
    }

    /// Every registered helper, by number.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Helper)> {
        self.by_id.iter().map(|(id, h)| (*id, h))
    }
}

mod host;
pub mod linux;
mod lock;
mod map;
mod output;
mod strto;
mod trace;
