//! Context conversion, as the kernel's verifier does it (`convert_ctx_accesses`): a
//! program reads and writes the UAPI context (`struct xdp_md`, `struct __sk_buff`), and
//! every such access is rewritten to the matching field of the real context, the
//! `#[repr(C)]` struct bpfkit runs the program with.
//!
//! Each access becomes exactly one instruction (the program keeps its length, so no jump
//! needs fixing): a new offset, a 64-bit load for the pointer fields (the packet pointers,
//! 32 bits wide in the UAPI, and `__sk_buff.sk`, 64; host pointers in the real struct),
//! a narrower access for a real field
//! smaller than its UAPI field, or `dst = 0` for a read of UAPI bytes the real field does
//! not have. Which instructions access the context is the verifier's knowledge: the
//! conversion takes it as a predicate over instruction slots, and the verifier requires
//! the context pointer unmodified at such accesses, so the UAPI offset is `insn.off`.

use super::{KindOps, PacketKind};
use bpfkit_isa::{AluOp, Insn, Operand, Size, Width};
use thiserror::Error;

/// One UAPI field and the real field it maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldMap {
    /// Offset of the field in the UAPI struct.
    pub uapi_off: u16,
    /// Size of the field in the UAPI struct.
    pub uapi_size: u8,
    /// Offset of the real field in the real struct.
    pub real_off: u16,
    /// Size of the real field.
    pub real_size: u8,
    /// A pointer (`data`, `data_end`, `data_meta`: 32 bits in the UAPI; `sk`: 64): a
    /// 64-bit host address in the real struct, read whole, never written.
    pub pointer: bool,
}

impl FieldMap {
    /// A packet pointer field: a `u32` in the UAPI at `uapi_off`, a `u64` at `real_off`.
    pub const fn pointer(uapi_off: u16, real_off: usize) -> FieldMap {
        FieldMap {
            uapi_off,
            uapi_size: 4,
            real_off: real_off as u16,
            real_size: 8,
            pointer: true,
        }
    }

    /// A pointer field that is 64 bits in the UAPI as well (`__bpf_md_ptr`, e.g.
    /// `__sk_buff.sk`): a `u64` at `uapi_off`, a `u64` at `real_off`.
    pub const fn pointer64(uapi_off: u16, real_off: usize) -> FieldMap {
        FieldMap {
            uapi_size: 8,
            ..FieldMap::pointer(uapi_off, real_off)
        }
    }

    /// A scalar field of `uapi_size` bytes at `uapi_off`, stored in `real_size` bytes at
    /// `real_off` (little-endian, so the low bytes of both coincide).
    pub const fn scalar(uapi_off: u16, uapi_size: u8, real_off: usize, real_size: u8) -> FieldMap {
        FieldMap {
            uapi_off,
            uapi_size,
            real_off: real_off as u16,
            real_size,
            pointer: false,
        }
    }
}

/// How a UAPI context struct maps onto a real one.
#[derive(Clone, Copy, Debug)]
pub struct ContextLayout {
    /// The UAPI struct's name, for errors.
    pub name: &'static str,
    /// The fields, by UAPI offset.
    pub fields: &'static [FieldMap],
}

/// Why a program cannot be converted: a context access the real context cannot serve.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConvertError {
    #[error(
        "instruction {pc}: {size}-byte access at offset {off} of {ctx} is not inside one field"
    )]
    NotAField {
        pc: usize,
        ctx: &'static str,
        off: i16,
        size: usize,
    },
    #[error("instruction {pc}: the pointer at offset {off} of {ctx} can only be read whole, {size} bytes at once")]
    PointerAccess {
        pc: usize,
        ctx: &'static str,
        off: i16,
        size: u8,
    },
    #[error("instruction {pc}: only loads and stores may access {ctx}")]
    NotLoadOrStore { pc: usize, ctx: &'static str },
    #[error("bpfkit does not run {kind} programs on packets")]
    NoContext { kind: &'static str },
}

/// A program whose context accesses were converted for a program type: the only form in
/// which packet programs run (see [`super::PacketProgram`]).
#[derive(Clone)]
pub struct ConvertedProgram {
    kind: PacketKind,
    ops: &'static KindOps,
    insns: Vec<Insn>,
}

impl std::fmt::Debug for ConvertedProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConvertedProgram")
            .field("kind", &self.kind)
            .field("insns", &self.insns)
            .finish()
    }
}

impl ConvertedProgram {
    /// Converts `insns` for `kind`. `is_ctx_access(slot)` says whether the instruction at
    /// slot index `slot` accesses the context, as the verifier found (with
    /// `bpfkit_verifier`: `facts[slot].access == Some(Region::Ctx)`).
    ///
    /// Loads through `__sk_buff.sk` are left as they are: they read the socket's bytes
    /// ([`super::sock`]), which is what the kernel reads for all of them but a 2- or
    /// 4-byte load of `rx_queue_mapping`; [`ConvertedProgram::with_sock`] converts those
    /// too.
    pub fn new(
        insns: &[Insn],
        kind: PacketKind,
        is_ctx_access: impl Fn(usize) -> bool,
    ) -> Result<ConvertedProgram, ConvertError> {
        ConvertedProgram::with_sock(insns, kind, is_ctx_access, |_| false)
    }

    /// Converts `insns` for `kind` as [`ConvertedProgram::new`] does, and the accesses
    /// through `__sk_buff.sk` as well: `is_sock_access(slot)` says whether the
    /// instruction at slot index `slot` accesses the socket (with `bpfkit_verifier`:
    /// `facts[slot].access == Some(Region::Sock)`).
    pub fn with_sock(
        insns: &[Insn],
        kind: PacketKind,
        is_ctx_access: impl Fn(usize) -> bool,
        is_sock_access: impl Fn(usize) -> bool,
    ) -> Result<ConvertedProgram, ConvertError> {
        let ops = kind
            .ops()
            .ok_or(ConvertError::NoContext { kind: kind.name() })?;
        let insns = convert(insns, &ops.layout, is_ctx_access)?;
        Ok(ConvertedProgram {
            kind,
            ops,
            insns: rewrite(&insns, |pc, insn| {
                Ok(if is_sock_access(pc) {
                    super::sock::convert_access(insn)
                } else {
                    *insn
                })
            })?,
        })
    }

    /// The program type it was converted for.
    pub fn kind(&self) -> PacketKind {
        self.kind
    }

    /// How its program type runs.
    pub(super) fn ops(&self) -> &'static KindOps {
        self.ops
    }

    /// The converted instructions, for building an engine.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }
}

/// Rewrites every context access of `insns` (slots for which `is_ctx_access` holds) from
/// the UAPI struct of `layout` to its real struct.
pub fn convert(
    insns: &[Insn],
    layout: &ContextLayout,
    is_ctx_access: impl Fn(usize) -> bool,
) -> Result<Vec<Insn>, ConvertError> {
    rewrite(insns, |pc, insn| {
        if is_ctx_access(pc) {
            convert_one(pc, insn, layout)
        } else {
            Ok(*insn)
        }
    })
}

/// Replaces each instruction of `insns` by `one(slot, insn)`.
fn rewrite(
    insns: &[Insn],
    mut one: impl FnMut(usize, &Insn) -> Result<Insn, ConvertError>,
) -> Result<Vec<Insn>, ConvertError> {
    let mut slot = 0;
    insns
        .iter()
        .map(|insn| {
            let pc = slot;
            slot += insn.slots();
            one(pc, insn)
        })
        .collect()
}

fn size_of_bytes(bytes: usize) -> Size {
    match bytes {
        1 => Size::B,
        2 => Size::H,
        4 => Size::W,
        _ => Size::DW,
    }
}

/// The one instruction replacing context access `insn` at slot `pc`.
fn convert_one(pc: usize, insn: &Insn, layout: &ContextLayout) -> Result<Insn, ConvertError> {
    let ctx = layout.name;
    // The access, and how to rebuild it at another size and offset.
    let (size, off, load, rebuild): (Size, i16, bool, &dyn Fn(Size, i16) -> Insn) = match *insn {
        Insn::Ldx {
            size,
            sx,
            dst,
            src,
            off,
        } => (size, off, true, &move |new_size, off| Insn::Ldx {
            size: new_size,
            // A narrowed load has no sign bit of the field to extend.
            sx: sx && new_size == size,
            dst,
            src,
            off,
        }),
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => (size, off, false, &move |size, off| Insn::St {
            size,
            dst,
            off,
            imm,
        }),
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => (size, off, false, &move |size, off| Insn::Stx {
            size,
            dst,
            src,
            off,
        }),
        _ => return Err(ConvertError::NotLoadOrStore { pc, ctx }),
    };
    let bytes = size.bytes();
    let field = layout
        .fields
        .iter()
        .find(|f| {
            let start = i32::from(f.uapi_off);
            let o = i32::from(off);
            o >= start && o + bytes as i32 <= start + i32::from(f.uapi_size)
        })
        .ok_or(ConvertError::NotAField {
            pc,
            ctx,
            off,
            size: bytes,
        })?;
    let within = (i32::from(off) - i32::from(field.uapi_off)) as usize;
    let (new_size, new_off) = if field.pointer {
        let sx = matches!(insn, Insn::Ldx { sx: true, .. });
        if !load || sx || within != 0 || bytes != usize::from(field.uapi_size) {
            return Err(ConvertError::PointerAccess {
                pc,
                ctx,
                off,
                size: field.uapi_size,
            });
        }
        (Size::DW, field.real_off)
    } else {
        let real = usize::from(field.real_size);
        if within >= real {
            // A load at least as wide as the real field, of UAPI bytes beyond it: the
            // kernel converts it to a load of the whole real field and shifts only loads
            // narrower than that field (convert_ctx_accesses), so it reads the field.
            if load && bytes >= real {
                return Ok(rebuild(size_of_bytes(real), field.real_off as i16));
            }
            // Narrower: the bytes beyond the real field, always zero.
            return match *insn {
                Insn::Ldx { dst, .. } => Ok(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst,
                    src: Operand::Imm(0),
                }),
                _ => Err(ConvertError::NotAField {
                    pc,
                    ctx,
                    off,
                    size: bytes,
                }),
            };
        }
        // Same bytes of the real field, narrowed to what it has: a load zero-extends the
        // missing high bytes, a store drops them, as the kernel's conversions do.
        (
            size_of_bytes(bytes.min(real - within)),
            field.real_off + within as u16,
        )
    };
    Ok(rebuild(new_size, new_off as i16))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bpfkit_isa::Reg;

    const FIELDS: &[FieldMap] = &[
        FieldMap::pointer(0, 8),
        FieldMap::scalar(4, 4, 0, 4),
        FieldMap::scalar(8, 4, 16, 2),
        FieldMap::pointer64(16, 24),
    ];
    const LAYOUT: ContextLayout = ContextLayout {
        name: "test_md",
        fields: FIELDS,
    };

    fn ldx(size: Size, off: i16) -> Insn {
        Insn::Ldx {
            size,
            sx: false,
            dst: Reg::R2,
            src: Reg::R1,
            off,
        }
    }

    #[test]
    fn rewrites_only_the_marked_slots() {
        let prog = [
            ldx(Size::W, 0),
            Insn::lddw(Reg::R3, 1),
            ldx(Size::W, 4),
            ldx(Size::B, 5),
            ldx(Size::W, 8),
            ldx(Size::B, 10),
            Insn::St {
                size: Size::W,
                dst: Reg::R1,
                off: 8,
                imm: 7,
            },
            Insn::Exit,
        ];
        // Slots 1 (the lddw) and 8 (exit) access no memory; slot 3 is not marked (as the
        // verifier would not mark an access through another pointer), so it stays.
        let out = convert(&prog, &LAYOUT, |pc| ![1, 3, 8].contains(&pc)).unwrap();
        assert_eq!(out[0], ldx(Size::DW, 8));
        assert_eq!(out[1], prog[1]);
        assert_eq!(out[2], prog[2]);
        // Byte 1 of the field at 4 is byte 1 of the real field at 0.
        assert_eq!(out[3], ldx(Size::B, 1));
        // A 4-byte read of a 2-byte real field reads the 2 bytes, zero-extended.
        assert_eq!(out[4], ldx(Size::H, 16));
        // Byte 2 of a field whose real storage has 2 bytes is always 0.
        assert_eq!(
            out[5],
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: Reg::R2,
                src: Operand::Imm(0)
            }
        );
        assert!(matches!(
            out[6],
            Insn::St {
                size: Size::H,
                off: 16,
                imm: 7,
                ..
            }
        ));
    }

    /// Linux 6.18 reads `__sk_buff.protocol` (2 bytes in `struct sk_buff`) with a 2-byte
    /// load at offset 18 as the whole protocol, and a 1-byte load at 19 as 0
    /// (crates/vm/tests/net_skb.rs checks it against the kernel).
    #[test]
    fn loads_as_wide_as_the_real_field_read_it_whole() {
        let out = convert(&[ldx(Size::H, 10), ldx(Size::B, 11)], &LAYOUT, |_| true).unwrap();
        assert_eq!(out[0], ldx(Size::H, 16));
        assert!(matches!(
            out[1],
            Insn::Alu {
                op: AluOp::Mov,
                src: Operand::Imm(0),
                ..
            }
        ));
    }

    /// `__sk_buff.sk` is read 8 bytes at once only (`bpf_skb_is_valid_access`).
    #[test]
    fn a_64_bit_pointer_is_read_whole() {
        let out = convert(&[ldx(Size::DW, 16)], &LAYOUT, |_| true).unwrap();
        assert_eq!(out[0], ldx(Size::DW, 24));
        let err = convert(&[ldx(Size::W, 16)], &LAYOUT, |_| true).unwrap_err();
        assert_eq!(
            err,
            ConvertError::PointerAccess {
                pc: 0,
                ctx: "test_md",
                off: 16,
                size: 8
            }
        );
    }

    #[test]
    fn refuses_what_no_field_serves() {
        let err = |insn: Insn| convert(&[insn, Insn::Exit], &LAYOUT, |pc| pc == 0).unwrap_err();
        assert_eq!(
            err(ldx(Size::W, 12)),
            ConvertError::NotAField {
                pc: 0,
                ctx: "test_md",
                off: 12,
                size: 4
            }
        );
        assert_eq!(
            err(ldx(Size::DW, 4)),
            ConvertError::NotAField {
                pc: 0,
                ctx: "test_md",
                off: 4,
                size: 8
            }
        );
        assert_eq!(
            err(ldx(Size::H, 0)),
            ConvertError::PointerAccess {
                pc: 0,
                ctx: "test_md",
                off: 0,
                size: 4
            }
        );
        assert_eq!(
            err(Insn::Stx {
                size: Size::W,
                dst: Reg::R1,
                src: Reg::R2,
                off: 0
            }),
            ConvertError::PointerAccess {
                pc: 0,
                ctx: "test_md",
                off: 0,
                size: 4
            }
        );
        assert_eq!(
            err(Insn::Exit),
            ConvertError::NotLoadOrStore {
                pc: 0,
                ctx: "test_md"
            }
        );
        assert!(err(ldx(Size::W, -4))
            .to_string()
            .starts_with("instruction 0:"));
    }
}
