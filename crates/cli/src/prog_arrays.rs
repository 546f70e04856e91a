//! The programs an object's program arrays name (`.values`), made ready for `bpfkit
//! test-run`: a tail call from the program under test continues in one of them on the
//! same packet and context, so each is verified as the same program type, its context
//! accesses converted to bpfkit's context as the main program's are, and prepared for the
//! same engine, before its descriptor goes into its slots (as libbpf stores the programs
//! it loaded).

use crate::engine::{convert_verified, proven_accesses, EngineKind};
use crate::error::CliResult;
use crate::input::ObjectSetup;
use bpfkit_verifier::{verify, ProgType, VerifierOptions};
use bpfkit_vm::maps::{MapTable, ProgramFd};
use bpfkit_vm::net::PacketKind;
use bpfkit_vm::Helpers;

/// How the main program runs, which its tail call targets must match.
pub struct PacketTarget<'a> {
    pub prog_type: &'a ProgType,
    pub kind: PacketKind,
    pub engine: EngineKind,
    /// The packet type's helpers and Linux's, on the run's maps.
    pub helpers: &'a Helpers,
    /// The verifier's view of the object's maps.
    pub options: &'a VerifierOptions,
}

/// Fills the program arrays of `setup` (if any) over `maps` with their programs, made
/// like `target`; the descriptors returned keep them loaded while the runs last.
pub fn install(
    setup: Option<&ObjectSetup>,
    maps: &MapTable,
    target: &PacketTarget<'_>,
) -> CliResult<Vec<(String, ProgramFd)>> {
    let Some(setup) = setup else {
        return Ok(Vec::new());
    };
    setup.fill_program_arrays_checked(maps, |linked, relocated| {
        let verified = verify(linked, target.prog_type, target.options)
            .map_err(|r| format!("rejected as {}:\n{r}", target.prog_type.name))?;
        let converted = convert_verified(relocated, target.kind, &verified)
            .map_err(|e| format!("cannot be run as {}: {e}", target.kind.name()))?;
        // SAFETY: `verified` accepted the instructions these were relocated and converted
        // from, as the type `kind` runs them as, and a tail call runs them as one: on the
        // context and packet of a run of a program of that type.
        let proven = unsafe { proven_accesses(converted.insns(), &verified) };
        target
            .engine
            .build(converted.insns(), target.helpers, Some(&proven))
    })
}
