//! Labels: definitions, references, and patching resolved offsets into instructions.

use super::error::{AsmError, AsmErrorKind, Pos};
use crate::insn::{Insn, LddwKind};
use std::collections::HashMap;

/// A use of a label by name, where it was written.
#[derive(Clone, Debug)]
pub(super) struct LabelRef {
    pub name: String,
    pub pos: Pos,
}

/// Where a branch goes: a slot-relative offset already known, or a label to resolve.
pub(super) enum Target {
    Rel(i64),
    Label(LabelRef),
}

/// A parsed instruction whose branch offset may still wait for a label.
pub(super) struct Stmt {
    pub insn: Insn,
    pub label: Option<LabelRef>,
}

impl Stmt {
    pub fn plain(insn: Insn) -> Stmt {
        Stmt { insn, label: None }
    }

    /// A branch to `target`: `make` builds the instruction from its offset, which stays 0
    /// until a label is resolved. A relative offset must already fit the instruction.
    pub fn branch(target: Target, make: impl FnOnce(i64) -> Insn) -> Stmt {
        match target {
            Target::Rel(off) => Stmt::plain(make(off)),
            Target::Label(label) => Stmt {
                insn: make(0),
                label: Some(label),
            },
        }
    }
}

/// The program being assembled: instructions in order and where each label points.
#[derive(Default)]
pub(super) struct Program {
    stmts: Vec<Stmt>,
    /// Slot index of the next instruction.
    next_slot: usize,
    /// Label name to (slot it names, line where it was defined).
    labels: HashMap<String, (usize, usize)>,
}

impl Program {
    /// Defines `name` as the slot of the next instruction.
    pub fn define(&mut self, name: &str, pos: Pos) -> Result<(), AsmError> {
        if let Some(&(_, first_line)) = self.labels.get(name) {
            return Err(AsmError::at(
                pos,
                AsmErrorKind::DuplicateLabel {
                    name: name.to_string(),
                    first_line,
                },
            ));
        }
        self.labels
            .insert(name.to_string(), (self.next_slot, pos.line));
        Ok(())
    }

    pub fn push(&mut self, stmt: Stmt) {
        self.next_slot += stmt.insn.slots();
        self.stmts.push(stmt);
    }

    /// Resolves every label reference to `target - pc - 1` and returns the instructions.
    pub fn finish(self) -> Result<Vec<Insn>, AsmError> {
        let mut pc = 0;
        let mut out = Vec::with_capacity(self.stmts.len());
        for Stmt { mut insn, label } in self.stmts {
            if let Some(label) = label {
                let &(target, _) = self.labels.get(&label.name).ok_or_else(|| {
                    AsmError::at(label.pos, AsmErrorKind::UndefinedLabel(label.name.clone()))
                })?;
                let offset = target as i64 - pc as i64 - 1;
                set_branch_offset(&mut insn, offset).map_err(|bits| {
                    AsmError::at(
                        label.pos,
                        AsmErrorKind::LabelTooFar {
                            label: label.name,
                            offset,
                            bits,
                        },
                    )
                })?;
            }
            pc += insn.slots();
            out.push(insn);
        }
        Ok(out)
    }
}

/// Stores a resolved slot offset into the field that holds it; on overflow, returns the
/// field's width in bits.
fn set_branch_offset(insn: &mut Insn, offset: i64) -> Result<(), u32> {
    match insn {
        Insn::Ja { off } | Insn::Jmp { off, .. } => {
            *off = i16::try_from(offset).map_err(|_| 16u32)?;
        }
        Insn::JaLong { imm }
        | Insn::CallLocal { imm }
        | Insn::Lddw {
            kind: LddwKind::Func,
            imm,
            ..
        } => {
            *imm = i32::try_from(offset).map_err(|_| 32u32)?;
        }
        // Parsers attach labels to branches only.
        _ => {}
    }
    Ok(())
}
