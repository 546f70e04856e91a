//! The memory accesses verification proved in bounds, which the compiler then emits
//! without a bounds check. Plain data: the JIT does not depend on the verifier; whoever
//! runs both converts the verifier's facts into [`ProvenAccesses`].

use bpfkit_isa::{with_pcs, Insn};

/// The region an access was proven to stay inside of, on every path through it.
///
/// Only the regions whose run-time memory is exactly what the verifier reasons about are
/// here: the context (rewritten field by field into the real context struct), the values
/// of maps that maps of maps hold (proven against the outer map's template, which bpfkit's
/// maps of maps do not check the maps they hold against: the map a lookup finds may have
/// smaller values), map keys and ring buffer records keep their checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvenRegion {
    /// The accessing function's stack frame, or a caller's (512 bytes each): every frame
    /// lies inside the program's stack.
    Stack,
    /// The packet, `[data_meta, data_end)`, proven against `data_end` (and, for a
    /// 'memory' program, its buffer, proven against the length in r2): always readable and
    /// writable memory while the program runs. Helpers that may move the packet make the
    /// verifier forget every packet pointer, so accesses after them were proven again.
    Packet,
    /// The value of a map the program names with `lddw`, as the kernel's JIT trusts its
    /// verifier for `PTR_TO_MAP_VALUE`: the verifier proved `off + size <= value_size`
    /// from a pointer that a lookup returned non-null (after the null check), that
    /// `bpf_for_each_map_elem` gave its callback, or that an `lddw` of a value (global
    /// data) made, with the value size of the map itself. Such a pointer is the address
    /// of the value memory the map handed out (one CPU's, for per-CPU maps), `value_size`
    /// bytes inside the map's own allocation: an array's block, a hash or trie map's slab
    /// slot, a device map's 8-byte entry. That memory stays allocated while the map
    /// lives (slab slots are reused, never freed), and the map lives as long as the
    /// program: it is in the program's map table, which the program's helpers (and its
    /// inlined lookups) hold, and which nothing removes maps from. (A map of maps also
    /// hands out maps of that table only, so user space removing one from its outer map
    /// during a run frees nothing; their values keep their checks for the reason above.) As for writing, the verifier refuses stores and atomics
    /// into maps programs may only read (`BPF_F_RDONLY_PROG`: `.rodata`, and the device
    /// and XSK maps), so an unchecked write only reaches value memory that programs may
    /// write, as its checked form would.
    MapValue,
}

/// Per instruction slot, the region a load, store or atomic was proven to stay inside
/// of. Compiled with [`crate::JitOptions::proven`], those accesses get no bounds check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenAccesses {
    /// The instructions the facts are about, to refuse facts about another program.
    insns: Vec<Insn>,
    /// Per slot; `None` for every instruction that is not a memory access.
    regions: Vec<Option<ProvenRegion>>,
}

impl ProvenAccesses {
    /// The accesses of `insns` for which `region_of(slot)` names a region. Slots of
    /// instructions that access no memory (or only through a helper) are ignored.
    ///
    /// # Safety
    /// Code compiled with these facts touches memory at the proven accesses without
    /// checking it, so they must be true: an accepting verification of `insns` (or of the
    /// instructions `insns` were made from by relocating map references or converting
    /// context accesses, which keep every other access as it is) must have proven each
    /// access `region_of` names in bounds of that region on every path; and the program
    /// must run as the verified program type runs (for the 'memory' type, r1 the buffer
    /// and r2 its length, as [`crate::JitProgram::run_mem`] does; for a packet type,
    /// through `bpfkit_vm::net::PacketProgram`), so that its pointers are the ones the
    /// verifier reasoned about. For [`ProvenRegion::MapValue`], the maps the verifier was
    /// told of must be those the program runs with (same order, type, value size and
    /// flags: the map table its helpers hold), and every helper whose prototype returns a
    /// map value must return the address of that many bytes of the map's value memory.
    pub unsafe fn new(
        insns: &[Insn],
        region_of: impl Fn(usize) -> Option<ProvenRegion>,
    ) -> ProvenAccesses {
        let nslots = insns.iter().map(Insn::slots).sum();
        let mut regions = vec![None; nslots];
        for (pc, insn) in with_pcs(insns) {
            if matches!(
                insn,
                Insn::Ldx { .. } | Insn::St { .. } | Insn::Stx { .. } | Insn::Atomic { .. }
            ) {
                regions[pc] = region_of(pc);
            }
        }
        ProvenAccesses {
            insns: insns.to_vec(),
            regions,
        }
    }

    /// The proven region of each slot, if these facts are about `insns`.
    pub(crate) fn for_program(&self, insns: &[Insn]) -> Option<&[Option<ProvenRegion>]> {
        (self.insns == insns).then_some(&self.regions[..])
    }

    /// How many accesses were proven.
    pub fn count(&self) -> usize {
        self.regions.iter().flatten().count()
    }
}
