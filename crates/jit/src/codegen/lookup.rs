//! `bpf_map_lookup_elem` on a map known when compiling, as Linux's verifier and JIT treat
//! it: the helper is replaced by the map's own lookup (`map->ops->map_lookup_elem`), and
//! an array's lookup is inlined (`array_map_gen_lookup`, and for per-CPU arrays
//! `percpu_array_map_gen_lookup`).
//!
//! The map is known when r1 was set by an `lddw` of a map handle (what relocating a map
//! reference leaves) earlier in the same counting segment, straight-line code that
//! nothing enters in between, and nothing after it wrote r1; and when the helper is Linux's
//! own, over a known map table ([`Helpers::lookup_maps`]). Programs with `callx`, which
//! may enter any instruction, keep the helper call.
//!
//! Nothing is trusted that was not checked before: the key is read through the run's
//! checked memory (the same fault as the helper's read of it), and the value pointer is
//! covered by a region of the run (added by the lookup, or for inlined arrays at the
//! start of every run), so accesses through it are checked as they are after the helper.

use super::{mem, Compiler, StubKind};
use crate::emit::{mem as m, Arith, Cc, Rm, Sz, R};
use crate::regs::{CTX, T0, T1};
use crate::runtime::{self, ctx_off, DirectLookup};
use bpfkit_isa::{with_pcs, Insn, LddwKind, Reg, Size};
use bpfkit_vm::helpers::linux::id;
use bpfkit_vm::maps::{cpu, Map, MapType};
use bpfkit_vm::{Helpers, Region};

/// Whether `insn` may write r1 (conservatively: anything but stores and writes to other
/// registers).
fn may_write_r1(insn: &Insn) -> bool {
    match *insn {
        Insn::St { .. } | Insn::Stx { .. } => false,
        Insn::Alu { dst, .. }
        | Insn::Neg { dst, .. }
        | Insn::End { dst, .. }
        | Insn::Ldx { dst, .. }
        | Insn::Lddw { dst, .. } => dst == Reg::R1,
        // Fetching atomics write their source register; cmpxchg writes r0.
        Insn::Atomic { src, .. } => src == Reg::R1,
        _ => true,
    }
}

/// The `bpf_map_lookup_elem` calls of `insns` whose map is known (see the module's docs),
/// the value regions of the arrays among them, whose lookups are inlined, and whether one
/// of those is a per-CPU array. `leader` says where counting segments start.
pub(super) fn direct_lookups(
    insns: &[Insn],
    helpers: &Helpers,
    leader: &[bool],
) -> (Vec<DirectLookup>, Vec<Region>, bool) {
    let (mut lookups, mut regions, mut percpu) = (Vec::new(), Vec::<Region>::new(), false);
    let Some(maps) = helpers.lookup_maps() else {
        return (lookups, regions, percpu);
    };
    if insns.iter().any(|i| matches!(i, Insn::Callx { .. })) {
        return (lookups, regions, percpu);
    }
    let at: Vec<(usize, &Insn)> = with_pcs(insns).collect();
    for (k, &(pc, insn)) in at.iter().enumerate() {
        if *insn
            != (Insn::Call {
                imm: id::MAP_LOOKUP_ELEM,
            })
        {
            continue;
        }
        let mut j = k;
        let handle = loop {
            // Entered here: r1 may come from elsewhere.
            if leader[at[j].0] || j == 0 {
                break None;
            }
            j -= 1;
            match *at[j].1 {
                Insn::Lddw {
                    dst: Reg::R1,
                    kind: LddwKind::Imm64,
                    imm,
                    next_imm,
                } => break Some(Insn::imm64(imm, next_imm)),
                ref other if may_write_r1(other) => break None,
                _ => {}
            }
        };
        let Some(map) = handle.and_then(|h| maps.by_handle(h)) else {
            continue;
        };
        if let Some(array) = inlined_array(&**map) {
            if !regions.contains(&array.region) {
                regions.push(array.region);
            }
            percpu |= array.cpu_stride.is_some();
        }
        lookups.push(DirectLookup {
            pc,
            map: map.clone(),
            maps: maps.clone(),
        });
    }
    (lookups, regions, percpu)
}

/// An array whose lookups are inlined: where its values are, and their stride.
struct InlineArray {
    region: Region,
    base: u64,
    /// Distance between two elements.
    stride: u64,
    /// For a per-CPU array, the distance between two CPUs' values of one element.
    cpu_stride: Option<u64>,
    max_entries: u32,
}

/// `map` as an inlined array: plain and per-CPU arrays.
fn inlined_array(map: &dyn Map) -> Option<InlineArray> {
    let spec = map.spec();
    let first = map.lookup_ptr(&0u32.to_ne_bytes(), 0)?;
    // As Linux lays them out: values `round_up(value_size, 8)` apart, and each element of
    // a per-CPU array one such value per CPU.
    let value = (spec.value_size as u64).next_multiple_of(8);
    let (stride, cpu_stride) = match spec.map_type {
        MapType::Array => (value, None),
        MapType::PercpuArray => (value * cpu::possible() as u64, Some(value)),
        _ => return None,
    };
    // The code multiplies by 32-bit immediates.
    if i32::try_from(stride).is_err() {
        return None;
    }
    Some(InlineArray {
        region: first.region,
        base: first.addr,
        stride,
        cpu_stride,
        max_entries: spec.max_entries,
    })
}

/// Emits the lookup at `pc` if its map is known; false to emit the helper call.
pub(super) fn emit(c: &mut Compiler<'_>, pc: usize) -> bool {
    let Some(lookup) = c.tables.lookups.iter().find(|l| l.pc == pc) else {
        return false;
    };
    match inlined_array(&*lookup.map) {
        Some(array) => inline_array(c, pc, &array),
        None => direct_call(c, pc, lookup),
    }
    true
}

/// r0 = the value of the array element whose index is the u32 at r2, or NULL past the
/// end; r1..r5 are kept, as after a helper call.
fn inline_array(c: &mut Compiler<'_>, pc: usize, array: &InlineArray) {
    // The helper's read of the key, checked as the helper checks it.
    mem::load(c, pc, Size::W, false, R::RAX, Reg::R2, 0);
    // `cmp eax, imm32` compares all 32 bits: max_entries as an i32 is the same bits.
    c.e.arith_ri(Sz::W, Arith::Cmp, Rm::Reg(R::RAX), array.max_entries as i32);
    let past_end = c.e.jcc8(Cc::Ae);
    // Value sizes are at most 4 MiB (checked at creation): the stride fits an i32, and the
    // 64-bit product of an index below max_entries does not overflow.
    c.e.imul_ri(Sz::Q, R::RAX, array.stride as i32);
    if let Some(cpu_stride) = array.cpu_stride {
        // The thread's value of the element: `Ctx::cpu` is below `cpu::possible()`.
        c.e.load(Sz::Q, T1, m(CTX, ctx_off!(cpu)));
        c.e.imul_ri(Sz::Q, T1, cpu_stride as i32);
        c.e.arith_rr(Sz::Q, Arith::Add, Rm::Reg(R::RAX), T1);
    }
    c.load_const(T1, array.base);
    c.e.arith_rr(Sz::Q, Arith::Add, Rm::Reg(R::RAX), T1);
    let done = c.e.jmp8();
    c.e.bind8(past_end);
    c.e.mov_imm64(R::RAX, 0);
    c.e.bind8(done);
}

/// r0 = `runtime::map_lookup(lookup, r2, ctx)`, keeping r1..r5 and the counter.
fn direct_call(c: &mut Compiler<'_>, pc: usize, lookup: &DirectLookup) {
    for r in super::flow::HELPER_SAVED {
        c.e.push(r);
    }
    c.e.mov_imm64(R::RDI, lookup as *const DirectLookup as u64);
    // r2, the key's address, is already the second argument.
    c.e.lea(R::RDX, m(CTX, -runtime::CTX_BIAS));
    c.e.mov_imm64(T0, runtime::map_lookup as *const () as u64);
    c.e.call_r(T0);
    for r in super::flow::HELPER_SAVED.into_iter().rev() {
        c.e.pop(r);
    }
    c.e.arith_ri(Sz::Q, Arith::Cmp, m(CTX, ctx_off!(fault_kind)), 0);
    let j = c.e.jcc32(Cc::Ne);
    c.stub(j, pc, StubKind::RustFault);
}
