//! Verifying a 'memory' program and handing the JIT what the verifier proved.

use bpfkit_isa::Insn;
use bpfkit_jit::{ProvenAccesses, ProvenRegion};
use bpfkit_verifier::{verify, ProgType, Region, Verified, VerifierOptions};

/// The verifier's regions the JIT may trust (see `ProvenRegion`).
pub fn proven_region(region: Option<Region>) -> Option<ProvenRegion> {
    match region? {
        Region::Stack => Some(ProvenRegion::Stack),
        Region::Packet => Some(ProvenRegion::Packet),
        Region::MapValue => Some(ProvenRegion::MapValue),
        // Every other region keeps its checks, whatever regions the verifier adds.
        _ => None,
    }
}

/// The accesses of `insns` that `verified` (a verification of exactly `insns`) proved.
pub fn proven(insns: &[Insn], verified: &Verified) -> ProvenAccesses {
    // SAFETY: `verified` is an accepting verification of `insns`, and every program these
    // facts are used for runs as the 'memory' type (`run_mem`).
    unsafe {
        ProvenAccesses::new(insns, |pc| {
            proven_region(verified.facts.get(pc).and_then(|f| f.access))
        })
    }
}

/// `insns` verified as bpfkit's 'memory' type, within `max_insns` processed
/// instructions, and the accesses proven; `None` when rejected.
pub fn verify_memory(insns: &[Insn], max_insns: usize) -> Option<ProvenAccesses> {
    let opts = VerifierOptions {
        max_insns,
        ..VerifierOptions::default()
    };
    let verified = verify(insns, &ProgType::MEMORY, &opts).ok()?;
    Some(proven(insns, &verified))
}
