//! Linking a program for execution: its own instructions followed by every function it
//! reaches through BPF-to-BPF calls or takes the address of (callbacks), transitively,
//! each call's and callback `lddw`'s immediate rewritten to the slot offset of its target
//! in the linked code, and each `lddw` of a map or global data turned into a map
//! reference ([`crate::relocations`]). This is what libbpf does to a program before
//! `BPF_PROG_LOAD` (`bpf_object__relocate`).

use crate::elf::{CodeSection, Relocation, Target};
use crate::error::{ObjectError, R_BPF_64_32, R_BPF_64_64};
use crate::relocations::MapSites;
use bpfkit_isa::decode::{check_branches, decode_at, raw_slots};
use bpfkit_isa::{DecodeError, DecodeErrorKind, Insn, LddwKind};
use std::ops::Range;

/// A linked program: its instructions and where each function's code went.
pub(crate) struct Linked {
    pub insns: Vec<Insn>,
    pub placed: Vec<Placed>,
}

/// Links the code at `range` of `sections[section]` with the functions it calls.
pub(crate) fn link(
    sections: &[CodeSection],
    maps: &MapSites<'_>,
    section: usize,
    range: Range<u64>,
) -> Result<Linked, ObjectError> {
    let mut linker = Linker {
        sections,
        maps,
        placed: Vec::new(),
        insns: Vec::new(),
        slots: 0,
    };
    linker.place(section, range)?;
    // Placing a callee appends to `placed`, so this visits every reached function once.
    let mut next = 0;
    while next < linker.placed.len() {
        linker.relocate(next)?;
        next += 1;
    }
    linker.check_branches()?;
    Ok(Linked {
        insns: linker.insns,
        placed: linker.placed,
    })
}

/// A function's code as placed in the linked program.
#[derive(Clone, Copy)]
pub(crate) struct Placed {
    /// Index of its code section.
    pub section: usize,
    /// Its byte range in the section.
    pub start: u64,
    pub end: u64,
    /// Index of its first instruction in the linked program.
    first_insn: usize,
    /// Number of its instructions.
    insn_count: usize,
    /// Slot of its first instruction in the linked program.
    first_slot: usize,
}

impl Placed {
    fn contains(&self, section: usize, offset: u64) -> bool {
        self.section == section && offset >= self.start && offset < self.end
    }

    /// The linked slot of byte `offset` of its section, which it contains.
    pub fn slot_of(&self, offset: u64) -> usize {
        self.first_slot + ((offset - self.start) / 8) as usize
    }
}

struct Linker<'a> {
    sections: &'a [CodeSection],
    maps: &'a MapSites<'a>,
    placed: Vec<Placed>,
    insns: Vec<Insn>,
    /// Slots taken by `insns`.
    slots: usize,
}

impl Linker<'_> {
    /// Appends the code at `range` of a section to the linked program.
    fn place(&mut self, section: usize, range: Range<u64>) -> Result<Placed, ObjectError> {
        let insns = decode(&self.sections[section], range.clone())?;
        let placed = Placed {
            section,
            start: range.start,
            end: range.end,
            first_insn: self.insns.len(),
            insn_count: insns.len(),
            first_slot: self.slots,
        };
        self.slots += ((range.end - range.start) / 8) as usize;
        self.insns.extend(insns);
        self.placed.push(placed);
        Ok(placed)
    }

    /// Applies the relocations of the `which`th placed function and rewrites its local
    /// calls, placing their targets as needed.
    fn relocate(&mut self, which: usize) -> Result<(), ObjectError> {
        let placed = self.placed[which];
        let sections = self.sections;
        let code = &sections[placed.section];
        let mut starts = Vec::with_capacity(placed.insn_count);
        let mut slot = placed.first_slot;
        for i in placed.first_insn..placed.first_insn + placed.insn_count {
            let insn = self.insns[i];
            let offset = placed.start + (slot - placed.first_slot) as u64 * 8;
            starts.push(offset);
            self.insns[i] = match code.relocation_at(offset) {
                Some(rel) => self.apply(code, rel, insn, slot)?,
                // A call within the section that needed no relocation: relative to itself.
                None => match insn {
                    Insn::CallLocal { imm } => {
                        let target = (placed.section, jump_target(offset, 0, imm));
                        Insn::CallLocal {
                            imm: self.relative(code, offset, slot, target)?,
                        }
                    }
                    _ => insn,
                },
            };
            slot += insn.slots();
        }
        // Relocations are 8-byte aligned, but one may still point into the second slot of an lddw.
        if let Some(rel) = code.relocations.iter().find(|r| {
            (placed.start..placed.end).contains(&r.offset)
                && starts.binary_search(&r.offset).is_err()
        }) {
            return Err(ObjectError::RelocationNotOnInstruction {
                section: code.name.clone(),
                offset: rel.offset,
            });
        }
        Ok(())
    }

    /// The instruction `insn` at linked `slot` with relocation `rel` applied.
    fn apply(
        &mut self,
        code: &CodeSection,
        rel: &Relocation,
        insn: Insn,
        slot: usize,
    ) -> Result<Insn, ObjectError> {
        match (insn, rel.kind, rel.target) {
            // A call relocated against a function symbol (imm = -1) or against the section
            // symbol (imm = offset / 8 - 1): either way the target is value + (imm + 1) * 8.
            (Insn::CallLocal { imm }, R_BPF_64_32, Target::Code(s)) => {
                let target = (s, jump_target(rel.value, 0, imm));
                Ok(Insn::CallLocal {
                    imm: self.relative(code, rel.offset, slot, target)?,
                })
            }
            // A callback's address (`bpf_loop(n, callback, ...)`): the function at
            // value + imm bytes, as a `BPF_PSEUDO_FUNC` slot offset.
            (
                Insn::Lddw {
                    dst,
                    kind: LddwKind::Imm64,
                    imm,
                    ..
                },
                R_BPF_64_64,
                Target::Code(s),
            ) => {
                let target = (s, jump_target(rel.value, imm, -1));
                Ok(Insn::Lddw {
                    dst,
                    kind: LddwKind::Func,
                    imm: self.relative(code, rel.offset, slot, target)?,
                    next_imm: 0,
                })
            }
            (
                Insn::Lddw {
                    dst,
                    kind: LddwKind::Imm64,
                    imm,
                    ..
                },
                R_BPF_64_64,
                _,
            ) => {
                let (kind, imm, next_imm) = self.maps.resolve(code, rel, imm)?;
                Ok(Insn::Lddw {
                    dst,
                    kind,
                    imm,
                    next_imm,
                })
            }
            _ => Err(ObjectError::UnsupportedRelocation {
                section: code.name.clone(),
                offset: rel.offset,
                symbol: rel.symbol.clone(),
                kind: rel.kind,
            }),
        }
    }

    /// The slot offset from the instruction at linked `slot` (at `code+offset`) to the
    /// target, as a call's or callback `lddw`'s immediate counts it.
    fn relative(
        &mut self,
        code: &CodeSection,
        offset: u64,
        slot: usize,
        target: (usize, i128),
    ) -> Result<i32, ObjectError> {
        let target_slot = self.target_slot(code, offset, target)?;
        i32::try_from(target_slot as i64 - (slot as i64 + 1))
            .map_err(|_| self.bad_target(code, offset, target))
    }

    /// The linked slot of the call target `(section, byte offset)` made at `code+offset`,
    /// placing the function containing it if it is not placed yet.
    fn target_slot(
        &mut self,
        code: &CodeSection,
        offset: u64,
        (section, target): (usize, i128),
    ) -> Result<usize, ObjectError> {
        let at = u64::try_from(target)
            .ok()
            .filter(|t| t.is_multiple_of(8))
            .ok_or_else(|| self.bad_target(code, offset, (section, target)))?;
        if let Some(placed) = self.placed.iter().find(|p| p.contains(section, at)) {
            return Ok(placed.slot_of(at));
        }
        let function = self.sections[section]
            .functions
            .iter()
            .find(|f| f.contains(at))
            .ok_or_else(|| self.bad_target(code, offset, (section, target)))?;
        let placed = self.place(section, function.offset..function.offset + function.size)?;
        Ok(placed.slot_of(at))
    }

    /// Checks that every jump of the linked program lands on an instruction, reporting a
    /// failure at the section and slot the offending instruction came from.
    fn check_branches(&self) -> Result<(), ObjectError> {
        check_branches(&self.insns).map_err(|e| {
            let placed = self
                .placed
                .iter()
                .rev()
                .find(|p| p.first_slot <= e.index)
                .expect("the first placed function starts at slot 0");
            let code = &self.sections[placed.section];
            ObjectError::Decode {
                section: code.name.clone(),
                source: DecodeError {
                    index: (placed.start / 8) as usize + (e.index - placed.first_slot),
                    kind: e.kind,
                },
            }
        })
    }

    /// The error for a call at `code+offset` to `(section, byte offset)`.
    fn bad_target(
        &self,
        code: &CodeSection,
        offset: u64,
        (section, at): (usize, i128),
    ) -> ObjectError {
        let name = &self.sections[section].name;
        let target = if at < 0 {
            format!("{name}-{:#x}", -at)
        } else {
            format!("{name}+{at:#x}")
        };
        ObjectError::BadCallTarget {
            section: code.name.clone(),
            offset,
            target,
        }
    }
}

/// Decodes the code at `range` of a section, reporting errors by slot index in the section.
fn decode(code: &CodeSection, range: Range<u64>) -> Result<Vec<Insn>, ObjectError> {
    let first = (range.start / 8) as usize;
    let error = |index: usize, kind: DecodeErrorKind| ObjectError::Decode {
        section: code.name.clone(),
        source: DecodeError {
            index: first + index,
            kind,
        },
    };
    // Ranges were checked against the section size and alignment when the object was read.
    let bytes = &code.bytes[range.start as usize..range.end as usize];
    let slots = raw_slots(bytes).map_err(|e| error(e.index, e.kind))?;
    if slots.is_empty() {
        return Err(error(0, DecodeErrorKind::Empty));
    }
    let mut insns = Vec::with_capacity(slots.len());
    let mut pc = 0;
    while pc < slots.len() {
        let insn = decode_at(&slots, pc).map_err(|kind| error(pc, kind))?;
        pc += insn.slots();
        insns.push(insn);
    }
    Ok(insns)
}

/// The byte offset `base + bytes + (slots + 1) * 8`: where a call or callback at `base`
/// with those immediates points.
fn jump_target(base: u64, bytes: i32, slots: i32) -> i128 {
    i128::from(base) + i128::from(bytes) + (i128::from(slots) + 1) * 8
}
