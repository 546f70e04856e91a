//! Helper functions: the registry keyed by Linux's helper numbers (`enum bpf_func_id`).
//!
//! An engine resolves each `call imm` against the registry once, when the program is
//! prepared, so an unknown helper is an error before anything runs and a call at run time
//! is one indirect call.

use crate::error::{Fault, VmError};
use crate::maps::{MapTable, SharedProgram};
use crate::memory::Memory;
use crate::net::PacketState;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a helper sees of the running program: its memory, checked, the packet of a
/// packet program's run, and the engine running it, for the helpers that call back into
/// the program or tail-call.
pub struct HelperContext<'a, 'm> {
    /// The regions of the run; helpers read and write pointer arguments through it.
    pub memory: &'a mut Memory<'m>,
    /// The packet and the real context, when the program runs on a packet
    /// ([`crate::net`]). After every helper call the engines bring the context's pointers
    /// and the run's packet region up to date ([`PacketState::resync`]).
    pub packet: Option<&'a mut PacketState>,
    /// The engine running the program.
    pub program: &'a mut dyn ProgramCalls,
}

impl HelperContext<'_, '_> {
    /// Calls the program's function at address `func` (an `lddw` of a function) with
    /// r1..=r5 = `args`, as a BPF-to-BPF call in a new frame, and returns its r0.
    pub fn call(&mut self, func: u64, args: [u64; 5]) -> Result<u64, HelperError> {
        self.program
            .call(self.memory, self.packet.as_deref_mut(), func, args)
    }
}

/// Most tail calls one run may make, as Linux's `MAX_TAIL_CALL_CNT`.
pub const MAX_TAIL_CALLS: u32 = 33;

/// What an engine offers the helpers of the program it runs.
pub trait ProgramCalls {
    /// Calls the function at address `func` with r1..=r5 = `args` in a new frame (the
    /// call depth limit and the instruction budget apply, and its instructions count),
    /// on the run's packet if it has one, and returns its r0. A bad address, too deep a call or a fault inside the function
    /// is an error that ends the run.
    fn call(
        &mut self,
        memory: &mut Memory<'_>,
        packet: Option<&mut PacketState>,
        func: u64,
        args: [u64; 5],
    ) -> Result<u64, HelperError>;

    /// Counts a tail call: false, counting nothing, once the run has made
    /// [`MAX_TAIL_CALLS`] of them.
    fn count_tail_call(&mut self) -> bool;

    /// Makes the run continue at the start of `target`, in the current frame and with
    /// the registers as they are, once the calling helper returns; engines honour it
    /// after `bpf_tail_call` (helper 12) only, whose result they ignore, as they leave r0
    /// as it was when the tail call falls through. A target prepared for another engine
    /// ends the run with an error.
    fn tail_call(&mut self, target: SharedProgram);
}

/// A helper's failure, which ends the run with [`Fault::Helper`] or the memory fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelperError {
    /// A pointer argument was outside the program's memory.
    Fault(Fault),
    /// Anything else, in words.
    Failed(String),
    /// A function of the program the helper called back faulted: the run ends with that
    /// fault, at the function's instruction.
    Callback(VmError),
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
    /// The maps `bpf_map_lookup_elem` resolves handles in, with the helper
    /// [`linux::register`] installed for it: valid while that helper is still the one
    /// registered.
    lookup_maps: Option<(Helper, Arc<MapTable>)>,
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

    /// The maps whose handles `bpf_map_lookup_elem` (helper 1) looks up in, when it is
    /// Linux's helper as [`linux::register`] installed it: an engine may then resolve a
    /// call's map when it prepares the program and call [`map::lookup_in`] directly.
    pub fn lookup_maps(&self) -> Option<&Arc<MapTable>> {
        let (helper, maps) = self.lookup_maps.as_ref()?;
        let current = self.by_id.get(&linux::id::MAP_LOOKUP_ELEM)?;
        Arc::ptr_eq(&current.func, &helper.func).then_some(maps)
    }

    /// Every registered helper, by number.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Helper)> {
        self.by_id.iter().map(|(id, h)| (*id, h))
    }
}

mod callback;
mod host;
pub mod linux;
mod lock;
pub mod map;
mod output;
mod strto;
mod trace;
