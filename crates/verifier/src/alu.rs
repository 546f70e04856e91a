//! ALU instructions (`check_alu_op`, `adjust_reg_min_max_vals`): scalar arithmetic on
//! bounds, and pointer arithmetic as the kernel allows it to a privileged loader
//! (`adjust_ptr_min_max_vals`).

use crate::bounds::Scalar;
use crate::check::{fail, Checker, Fail};
use crate::error::ErrorKind;
use crate::state::{RegState, RegType, State};
use bpfkit_isa::disasm::alu_operator;
use bpfkit_isa::{AluOp, Endian, LddwKind, Operand, Reg, SwapBits, Width};

/// Largest variable offset a pointer may carry (`BPF_MAX_VAR_OFF`).
pub const MAX_VAR_OFF: i64 = 1 << 29;
/// Largest offset into a packet (`MAX_PACKET_OFF`).
pub const MAX_PACKET_OFF: u64 = 0xffff;

impl Checker<'_> {
    pub(crate) fn check_alu(
        &mut self,
        st: &mut State,
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Operand,
    ) -> Result<(), Fail> {
        let src_reg = match src {
            Operand::Reg(r) => self.read_reg(st, r)?,
            Operand::Imm(imm) => RegState::scalar(Scalar::constant(match width {
                Width::W64 => imm as i64 as u64,
                Width::W32 => imm as u32 as u64,
            })),
        };
        self.check_writable(dst)?;
        let result = match op {
            AluOp::Mov => self.mov(st, width, src, src_reg),
            AluOp::Movsx(bits) => match src_reg.ty {
                RegType::Scalar => {
                    let v = src_reg.var.extend(bits.bits(), true);
                    RegState::scalar(match width {
                        Width::W64 => v,
                        Width::W32 => v.extend(32, false),
                    })
                }
                _ => RegState::scalar(Scalar::unknown()),
            },
            _ => {
                let dst_reg = self.read_reg(st, dst)?;
                self.binary(st, width, op, dst, dst_reg, src, src_reg)?
            }
        };
        *st.reg_mut(dst) = result;
        Ok(())
    }

    /// `dst = src`: a 64-bit move copies the register, sharing a scalar's id so that what
    /// a later comparison learns about one applies to the other (`find_equal_scalars`).
    fn mov(&mut self, st: &mut State, width: Width, src: Operand, src_reg: RegState) -> RegState {
        match (width, src) {
            (Width::W64, Operand::Reg(r)) => {
                if src_reg.ty == RegType::Scalar && src_reg.id == 0 && src_reg.as_const().is_none()
                {
                    let id = self.new_id();
                    st.reg_mut(r).id = id;
                    return RegState { id, ..src_reg };
                }
                src_reg
            }
            (Width::W32, Operand::Reg(_)) if src_reg.ty == RegType::Scalar => {
                RegState::scalar(src_reg.var.extend(32, false))
            }
            // A pointer's low half is just a number (privileged loaders may do this).
            (Width::W32, Operand::Reg(_)) => RegState::scalar(Scalar::up_to(u32::MAX as u64)),
            (_, Operand::Imm(_)) => src_reg,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn binary(
        &mut self,
        st: &State,
        width: Width,
        op: AluOp,
        dst: Reg,
        dst_reg: RegState,
        src: Operand,
        src_reg: RegState,
    ) -> Result<RegState, Fail> {
        let src_r = match src {
            Operand::Reg(r) => vec![dst, r],
            Operand::Imm(_) => vec![dst],
        };
        let (dp, sp) = (dst_reg.ty.is_pointer(), src_reg.ty.is_pointer());
        if !dp && !sp {
            return Ok(RegState::scalar(dst_reg.var.alu(op, &src_reg.var, width)));
        }
        if width == Width::W32 {
            // A privileged program may subtract with a pointer in 32 bits: a meaningless
            // number, zero-extended like every 32-bit result (`adjust_ptr_min_max_vals`).
            if op == AluOp::Sub {
                return Ok(RegState::scalar(Scalar::up_to(u32::MAX as u64)));
            }
            return fail(ErrorKind::Pointer32 { reg: dst }, &src_r);
        }
        match (dp, sp) {
            (true, true) => {
                if op == AluOp::Sub {
                    // The distance between two pointers is a number (privileged only).
                    Ok(RegState::scalar(Scalar::unknown()))
                } else {
                    fail(
                        ErrorKind::PointerPointer {
                            reg: dst,
                            op: alu_operator(op),
                        },
                        &src_r,
                    )
                }
            }
            (true, false) => self.pointer_arith(st, op, dst, dst_reg, src_reg, &src_r),
            _ => match op {
                // scalar + pointer is pointer + scalar.
                AluOp::Add => self.pointer_arith(st, op, dst, src_reg, dst_reg, &src_r),
                AluOp::Sub => fail(ErrorKind::SubtractPointerFromScalar { reg: dst }, &src_r),
                _ => fail(
                    ErrorKind::PointerOp {
                        reg: dst,
                        op: alu_operator(op),
                    },
                    &src_r,
                ),
            },
        }
    }

    /// `ptr op scalar` (`adjust_ptr_min_max_vals`).
    fn pointer_arith(
        &mut self,
        st: &State,
        op: AluOp,
        dst: Reg,
        ptr: RegState,
        off: RegState,
        regs: &[Reg],
    ) -> Result<RegState, Fail> {
        if !matches!(op, AluOp::Add | AluOp::Sub) {
            let kind = ErrorKind::PointerOp {
                reg: dst,
                op: alu_operator(op),
            };
            return fail(kind, regs);
        }
        match ptr.ty {
            RegType::MapValueOrNull
            | RegType::ConstPtrToMap
            | RegType::ConstPtrToMapOrNull
            | RegType::RingbufMemOrNull
            | RegType::SockCommon
            | RegType::SockCommonOrNull
            | RegType::PtrToFunc
            | RegType::PtrToPacketEnd => {
                return fail(
                    ErrorKind::PointerArithmeticOn {
                        reg: dst,
                        what: ptr.ty.name(),
                    },
                    regs,
                )
            }
            _ => {}
        }
        // The 'memory' type: buffer start + its length is the buffer's end.
        if let Some(len) = st.buffer_len {
            if op == AluOp::Add
                && ptr.ty == RegType::PtrToPacket
                && ptr.off == 0
                && ptr.var.as_const() == Some(0)
                && off.ty == RegType::Scalar
                && off.id == len.id
            {
                return Ok(RegState::pointer(RegType::PtrToPacketEnd));
            }
        }
        let what = ptr.ty.name();
        if op == AluOp::Sub && ptr.ty == RegType::PtrToStack && off.var.as_const().is_none() {
            return fail(ErrorKind::StackPointerSubtraction { reg: dst }, regs);
        }
        sane_offset(&off, dst, what, regs)?;
        let mut r = ptr;
        match off.var.as_const() {
            // pointer += K: accumulated into the fixed offset.
            Some(k) => {
                r.off = match op {
                    AluOp::Add => ptr.off.wrapping_add(k as i32),
                    _ => ptr.off.wrapping_sub(k as i32),
                };
            }
            None => r.var = ptr.var.alu(op, &off.var, Width::W64),
        }
        sane_offset(&r, dst, what, regs)?;
        if off.var.as_const().is_some() {
            return Ok(r);
        }
        if ptr.ty.is_packet() {
            // A new variable base: ranges learnt for the old one do not apply.
            r.id = self.new_id();
            r.range = 0;
        }
        Ok(r)
    }

    pub(crate) fn check_neg(&mut self, st: &mut State, width: Width, dst: Reg) -> Result<(), Fail> {
        let d = self.read_reg(st, dst)?;
        self.check_writable(dst)?;
        let v = match d.ty {
            RegType::Scalar => Scalar::constant(0).alu(AluOp::Sub, &d.var, width),
            _ => Scalar::unknown(),
        };
        *st.reg_mut(dst) = RegState::scalar(v);
        Ok(())
    }

    pub(crate) fn check_end(
        &mut self,
        st: &mut State,
        kind: Endian,
        bits: SwapBits,
        dst: Reg,
    ) -> Result<(), Fail> {
        let d = self.read_reg(st, dst)?;
        self.check_writable(dst)?;
        let n = bits.bits();
        let v = match (d.ty, d.as_const()) {
            (RegType::Scalar, Some(c)) => Scalar::constant(match kind {
                // On a little-endian machine, `le` only truncates.
                Endian::ToLe => c & width_mask(n),
                Endian::ToBe | Endian::Swap => (c & width_mask(n)).swap_bytes() >> (64 - n),
            }),
            (RegType::Scalar, None) if kind == Endian::ToLe => d.var.extend(n, false),
            _ => Scalar::up_to(width_mask(n)),
        };
        *st.reg_mut(dst) = RegState::scalar(v);
        Ok(())
    }

    /// Map `map`, if the program type may use it: socket filters and tracing programs
    /// may not use maps whose values hold a spin lock (`check_map_prog_compatibility`).
    fn usable_map(&self, map: u32) -> Result<u32, Fail> {
        if self.maps[map as usize].spin_lock.is_some() {
            // BPF_PROG_TYPE_SOCKET_FILTER; KPROBE, TRACEPOINT, PERF_EVENT, RAW_TRACEPOINT
            // and RAW_TRACEPOINT_WRITABLE (`is_tracing_prog_type`).
            let what = match self.prog.kernel_id {
                1 => Some("socket filter"),
                2 | 5 | 7 | 17 | 24 => Some("tracing"),
                _ => None,
            };
            if let Some(what) = what {
                return fail(ErrorKind::SpinLockProgType { what }, &[]);
            }
        }
        Ok(map)
    }

    pub(crate) fn check_lddw(
        &mut self,
        st: &mut State,
        dst: Reg,
        kind: LddwKind,
        imm: i32,
        next_imm: i32,
    ) -> Result<(), Fail> {
        self.check_writable(dst)?;
        let map_by = |fd: bool| {
            let found = if fd {
                self.opts.maps.iter().position(|m| m.fd == Some(imm))
            } else {
                (imm >= 0 && (imm as usize) < self.opts.maps.len()).then_some(imm as usize)
            };
            found
                .map(|i| i as u32)
                .ok_or(Fail::new(ErrorKind::UnknownMap { fd: imm as i64 }, &[dst]))
        };
        let reg = match kind {
            LddwKind::Imm64 => {
                RegState::scalar(Scalar::constant(bpfkit_isa::Insn::imm64(imm, next_imm)))
            }
            LddwKind::MapFd | LddwKind::MapIdx => RegState {
                map: self.usable_map(map_by(kind == LddwKind::MapFd)?)?,
                ..RegState::pointer(RegType::ConstPtrToMap)
            },
            LddwKind::MapValue | LddwKind::MapIdxValue => {
                let map = self.usable_map(map_by(kind == LddwKind::MapValue)?)?;
                RegState {
                    map,
                    off: next_imm,
                    ..RegState::pointer(RegType::MapValue)
                }
            }
            LddwKind::BtfId => return fail(ErrorKind::Unsupported("ld_imm64 of a BTF id"), &[]),
            // The callback's first slot (checked to start a function by `cfg::build`).
            LddwKind::Func => RegState {
                off: (self.current_pc as i64 + imm as i64 + 1) as i32,
                ..RegState::pointer(RegType::PtrToFunc)
            },
        };
        *st.reg_mut(dst) = reg;
        Ok(())
    }
}

/// The kernel's `check_reg_sane_offset`, applied to the offset register and to the
/// resulting pointer: offsets stay within `±BPF_MAX_VAR_OFF` and have a lower bound.
fn sane_offset(reg: &RegState, dst: Reg, what: &'static str, regs: &[Reg]) -> Result<(), Fail> {
    let kind = if let Some(v) = reg
        .var
        .as_const()
        .filter(|&v| (v as i64).unsigned_abs() >= MAX_VAR_OFF as u64)
    {
        ErrorKind::PointerMath {
            reg: dst,
            what,
            value: v as i64,
        }
    } else if (reg.off as i64).unsigned_abs() >= MAX_VAR_OFF as u64 {
        ErrorKind::PointerOffset {
            reg: dst,
            what,
            off: reg.off as i64,
        }
    } else if reg.var.smin == i64::MIN {
        ErrorKind::UnboundedMin { reg: dst, what }
    } else if reg.var.smin.unsigned_abs() >= MAX_VAR_OFF as u64 {
        ErrorKind::OffsetOutOfBounds {
            reg: dst,
            what,
            value: reg.var.smin,
        }
    } else {
        return Ok(());
    };
    fail(kind, regs)
}

/// The low `bits` bits set.
pub fn width_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}
