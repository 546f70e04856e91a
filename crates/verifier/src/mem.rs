//! Memory accesses (`check_mem_access` and the per-region checks it dispatches to):
//! loads, stores and atomics through each pointer type, and the legacy packet loads.

use crate::alu::{width_mask, MAX_VAR_OFF};
use crate::bounds::Scalar;
use crate::check::{fail, Checker, Fail};
use crate::error::ErrorKind;
use crate::facts::Region;
use crate::helpers::map_flags::{BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG};
use crate::progtype::{Context, CtxField, Entry, FieldKind, Narrow, ALL_FLAVOURS, BPF_SOCK_COMMON};
use crate::state::{ByteKind, Frame, RegState, RegType, State, SLOT, STACK_SIZE};
use crate::tnum::Tnum;
use bpfkit_isa::{AtomicOp, Reg, Size};

/// What a store writes, as far as the stack needs to know.
#[derive(Clone, Copy, Debug)]
pub enum Stored {
    /// A register (`stx`): spilled whole when 8 bytes are stored at a slot.
    Reg(RegState),
    /// An immediate (`st`), sign-extended.
    Imm(i64),
    /// Bytes of unknown content (atomics, helpers filling memory).
    Unknown,
}

impl Stored {
    fn is_zero(&self) -> bool {
        match self {
            Stored::Reg(r) => r.as_const() == Some(0),
            Stored::Imm(v) => *v == 0,
            Stored::Unknown => false,
        }
    }
}

/// A scalar as loaded from `size` bytes (zero-extended).
pub fn loaded(size: usize) -> RegState {
    RegState::scalar(Scalar::up_to(width_mask(size as u32 * 8)))
}

impl Checker<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_load(
        &mut self,
        st: &mut State,
        size: Size,
        sx: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> Result<(), Fail> {
        let ptr = self.read_reg(st, src)?;
        self.check_writable(dst)?;
        let mut value = self.access(st, src, ptr, off as i64, size.bytes(), None)?;
        // A context field holding a pointer cannot be sign-extended (`check_ctx_access`
        // refuses `BPF_MEMSX` of any field but a number).
        if sx && ptr.ty == RegType::PtrToCtx && value.ty.is_pointer() {
            let kind = ErrorKind::CtxAccess {
                off: off as i64,
                size: size.bytes(),
                write: false,
            };
            return fail(kind, &[src]);
        }
        if sx {
            value = match value.ty {
                RegType::Scalar => {
                    RegState::scalar(value.var.extend(size.bytes() as u32 * 8, true))
                }
                _ => RegState::scalar(Scalar::unknown()),
            };
        }
        *st.reg_mut(dst) = value;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_store(
        &mut self,
        st: &mut State,
        size: Size,
        dst: Reg,
        src: Option<Reg>,
        off: i16,
        imm: i32,
    ) -> Result<(), Fail> {
        let ptr = self.read_reg(st, dst)?;
        let value = match src {
            Some(r) => Stored::Reg(self.read_reg(st, r)?),
            None => Stored::Imm(imm as i64),
        };
        self.access(st, dst, ptr, off as i64, size.bytes(), Some(value))?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_atomic(
        &mut self,
        st: &mut State,
        size: Size,
        op: AtomicOp,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> Result<(), Fail> {
        let ptr = self.read_reg(st, dst)?;
        self.read_reg(st, src)?;
        if op == AtomicOp::Cmpxchg {
            self.read_reg(st, Reg::R0)?;
        }
        if !matches!(
            ptr.ty,
            RegType::PtrToStack | RegType::MapValue | RegType::RingbufMem
        ) {
            let what = ptr.ty.name();
            return fail(ErrorKind::AtomicNotAllowed { reg: dst, what }, &[dst]);
        }
        let n = size.bytes();
        // Atomics must be aligned wherever they are (`check_atomic` asks for strict
        // alignment).
        let at = ptr
            .var
            .var_off
            .add(Tnum::constant((ptr.off as i64 + off as i64) as u64));
        if !at.is_aligned(n as u64) {
            let kind = ErrorKind::Misaligned {
                reg: dst,
                what: if ptr.ty == RegType::PtrToStack {
                    "stack"
                } else {
                    "value"
                },
                off: ptr.off as i64 + off as i64,
                size: n,
            };
            return fail(kind, &[dst]);
        }
        self.access(st, dst, ptr, off as i64, n, None)?;
        self.access(st, dst, ptr, off as i64, n, Some(Stored::Unknown))?;
        let fetched = match op {
            AtomicOp::Cmpxchg => Some(Reg::R0),
            AtomicOp::Xchg
            | AtomicOp::Add { fetch: true }
            | AtomicOp::Or { fetch: true }
            | AtomicOp::And { fetch: true }
            | AtomicOp::Xor { fetch: true } => Some(src),
            _ => None,
        };
        if let Some(r) = fetched {
            self.check_writable(r)?;
            *st.reg_mut(r) = loaded(n);
        }
        Ok(())
    }

    /// `LD_ABS`/`LD_IND`: r6 must be the skb; like a call, they clobber r1-r5.
    pub(crate) fn check_ld_abs(
        &mut self,
        st: &mut State,
        size: Size,
        src: Option<Reg>,
    ) -> Result<(), Fail> {
        if !self.prog.ld_abs {
            return fail(ErrorKind::LdAbsNotAllowed, &[]);
        }
        if st.lock.is_some() {
            let what = "BPF_LD_[ABS|IND]";
            return fail(ErrorKind::LockedRegion { what }, &[]);
        }
        let r6 = self.read_reg(st, Reg::R6)?;
        if r6.ty != RegType::PtrToCtx || r6.off != 0 {
            return fail(ErrorKind::LdAbsNeedsCtx, &[Reg::R6]);
        }
        if let Some(r) = src {
            self.read_reg(st, r)?;
        }
        for r in 1..=5 {
            st.cur_mut().regs[r] = RegState::not_init();
        }
        *st.reg_mut(Reg::R0) = loaded(size.bytes());
        Ok(())
    }

    /// One access of `size` bytes at `ptr + off`, through register `base`: checks it and,
    /// for a store, applies it to the stack. Returns what a load yields.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn access(
        &mut self,
        st: &mut State,
        base: Reg,
        ptr: RegState,
        off: i64,
        size: usize,
        store: Option<Stored>,
    ) -> Result<RegState, Fail> {
        let write = store.is_some();
        let (region, value) = match ptr.ty {
            RegType::PtrToStack => (
                Region::Stack,
                self.stack_access(st, base, ptr, off, size, store)?,
            ),
            RegType::PtrToCtx => (Region::Ctx, self.ctx_access(base, ptr, off, size, write)?),
            RegType::SockCommon => (Region::Sock, self.sock_access(base, ptr, off, size, write)?),
            RegType::PtrToPacket | RegType::PtrToPacketMeta => {
                self.packet_access(st, base, ptr, off, size, write)?;
                (Region::Packet, loaded(size))
            }
            RegType::MapValue => {
                let map = &self.maps[ptr.map as usize];
                let value_size = map.value_size;
                let fixed = ptr.off as i64 + off;
                // The kernel checks the program's permission first
                // (`check_map_access_type`).
                let forbidden = if write {
                    BPF_F_RDONLY_PROG
                } else {
                    BPF_F_WRONLY_PROG
                };
                if map.flags & forbidden != 0 {
                    let kind = ErrorKind::MapAccessForbidden {
                        write,
                        off: fixed,
                        size,
                        value_size,
                    };
                    return fail(kind, &[base]);
                }
                self.region_access(base, ptr, off, size, value_size, |off| {
                    ErrorKind::MapValueOutOfRange {
                        reg: base,
                        off,
                        size,
                        value_size,
                    }
                })?;
                // No byte of the lock may be touched but by the lock helpers: the
                // access [smin + fixed, umax + fixed + size) and the lock overlap.
                if let Some(lock) = map.spin_lock {
                    let lo = ptr.var.smin as i128 + fixed as i128;
                    let hi = ptr.var.umax as i128 + fixed as i128 + size as i128;
                    if lo < lock as i128 + 4 && (lock as i128) < hi {
                        return fail(ErrorKind::SpinLockAccess, &[base]);
                    }
                }
                // Maps past the options' are the templates of inner maps.
                let region = if (ptr.map as usize) < self.opts.maps.len() {
                    Region::MapValue
                } else {
                    Region::InnerMapValue
                };
                (region, loaded(size))
            }
            RegType::MapKey | RegType::RingbufMem => {
                let (what, limit, region) = if ptr.ty == RegType::MapKey {
                    if write {
                        return fail(ErrorKind::KeyWrite { reg: base }, &[base]);
                    }
                    let key_size = self.maps[ptr.map as usize].key_size;
                    ("map key", key_size, Region::MapKey)
                } else {
                    ("memory", ptr.range, Region::Ringbuf)
                };
                self.region_access(base, ptr, off, size, limit, |off| {
                    ErrorKind::RegionOutOfRange {
                        reg: base,
                        what,
                        off,
                        size,
                        limit,
                    }
                })?;
                (region, loaded(size))
            }
            ty => {
                let what = ty.name();
                return fail(ErrorKind::InvalidMemAccess { reg: base, what }, &[base]);
            }
        };
        if !self.facts[self.current_pc].note_access(region) {
            // The kernel rewrites a context access into the real structure's field: the
            // instruction cannot also access other memory (`reg_type_mismatch`).
            return fail(ErrorKind::CtxMixedPointers { reg: base }, &[base]);
        }
        Ok(value)
    }

    /// Context fields per the program type's table (`check_ctx_access`).
    fn ctx_access(
        &mut self,
        base: Reg,
        ptr: RegState,
        off: i64,
        size: usize,
        write: bool,
    ) -> Result<RegState, Fail> {
        if ptr.off != 0 || ptr.var.as_const() != Some(0) {
            let kind = ErrorKind::CtxModified {
                reg: base,
                off: ptr.off as i64,
                var: (ptr.var.as_const() != Some(0)).then(|| ptr.var.var_off.to_string()),
            };
            return fail(kind, &[base]);
        }
        let Entry::Context(ctx) = self.prog.entry else {
            unreachable!("only context program types have a context pointer");
        };
        let field = field_access(ctx, self.prog.flavour, off, size, write)
            .ok_or_else(|| Fail::new(ErrorKind::CtxAccess { off, size, write }, &[base]))?;
        Ok(match field.kind {
            FieldKind::Scalar => loaded(size),
            FieldKind::PacketData => RegState::pointer(RegType::PtrToPacket),
            FieldKind::PacketEnd => RegState::pointer(RegType::PtrToPacketEnd),
            FieldKind::PacketMeta => RegState::pointer(RegType::PtrToPacketMeta),
            // Each load is a new socket as far as null checks go (`mark_reg_known_zero`
            // with a fresh id for a `PTR_MAYBE_NULL` context field).
            FieldKind::SockCommonOrNull => RegState {
                id: self.new_id(),
                ..RegState::pointer(RegType::SockCommonOrNull)
            },
        })
    }

    /// Reads through `__sk_buff.sk` once null-checked (`check_sock_access`): fields of
    /// `struct bpf_sock` common to every socket, never written.
    fn sock_access(
        &self,
        base: Reg,
        ptr: RegState,
        off: i64,
        size: usize,
        write: bool,
    ) -> Result<RegState, Fail> {
        let what = ptr.ty.name();
        if write {
            return fail(ErrorKind::ReadOnlyPointer { reg: base, what }, &[base]);
        }
        // Arithmetic on the pointer is refused, so only the instruction's offset moves it.
        field_access(&BPF_SOCK_COMMON, ALL_FLAVOURS, off, size, false)
            .map(|_| loaded(size))
            .ok_or_else(|| {
                let kind = ErrorKind::SockAccess {
                    reg: base,
                    what,
                    off,
                    size,
                };
                Fail::new(kind, &[base])
            })
    }

    /// Packet bytes must lie within the range proven by comparisons with the packet's
    /// end (`check_packet_access`); for the 'memory' type, within the buffer's proven
    /// minimum length as well.
    fn packet_access(
        &self,
        st: &State,
        base: Reg,
        ptr: RegState,
        off: i64,
        size: usize,
        write: bool,
    ) -> Result<(), Fail> {
        if ptr.var.smin < 0 {
            return fail(ErrorKind::NegativeOffset { reg: base }, &[base]);
        }
        if write && !self.prog.packet_write {
            return fail(ErrorKind::PacketReadOnly, &[base]);
        }
        let start = ptr.off as i64 + off;
        let end = start + size as i64;
        let in_range = start >= 0 && end <= ptr.range as i64;
        let in_buffer = st.buffer_len.is_some_and(|len| {
            ptr.ty == RegType::PtrToPacket
                && start >= 0
                && (ptr.var.umax as i128 + end as i128) <= len.var.umin as i128
        });
        if !(in_range || in_buffer) {
            let kind = ErrorKind::PacketOutOfRange {
                reg: base,
                off: start,
                size,
                range: ptr.range,
            };
            return fail(kind, &[base]);
        }
        Ok(())
    }

    /// Map values, keys and ring buffer records: within `[0, limit)` for every possible
    /// offset (`check_mem_region_access`); `beyond` makes the error for an access
    /// reaching the given offset.
    fn region_access(
        &self,
        base: Reg,
        ptr: RegState,
        off: i64,
        size: usize,
        limit: u32,
        beyond: impl Fn(i64) -> ErrorKind,
    ) -> Result<(), Fail> {
        let fixed = ptr.off as i64 + off;
        let lo = fixed as i128 + ptr.var.smin as i128;
        if ptr.var.smin < 0 && lo < 0 {
            return fail(ErrorKind::NegativeOffset { reg: base }, &[base]);
        }
        if ptr.var.umax >= MAX_VAR_OFF as u64 {
            return fail(ErrorKind::UnboundedAccess { reg: base }, &[base]);
        }
        let hi = fixed as i128 + ptr.var.umax as i128 + size as i128;
        if lo < 0 || hi > limit as i128 {
            return fail(beyond(fixed + ptr.var.umax as i64), &[base]);
        }
        Ok(())
    }

    /// Stack accesses (`check_stack_read`/`check_stack_write`, fixed and variable
    /// offsets).
    fn stack_access(
        &mut self,
        st: &mut State,
        base: Reg,
        ptr: RegState,
        off: i64,
        size: usize,
        store: Option<Stored>,
    ) -> Result<RegState, Fail> {
        let fixed = ptr.off as i64 + off;
        // The bounds of the variable offset were checked at the arithmetic
        // (`sane_offset`), but the maximum may still be large: compare widened.
        let lo = fixed as i128 + ptr.var.smin as i128;
        let hi = fixed as i128 + ptr.var.smax as i128;
        if lo < -(STACK_SIZE as i128) || hi + size as i128 > 0 {
            let kind = ErrorKind::StackOutOfBounds {
                reg: base,
                off: lo as i64,
                size,
            };
            return fail(kind, &[base]);
        }
        let (lo, hi) = (lo as i64, hi as i64);
        let frameno = ptr.frame as usize;
        if let Some(Stored::Reg(v)) = store {
            if v.ty == RegType::PtrToStack && v.frame as usize > frameno {
                return fail(ErrorKind::StackPointerEscape, &[base]);
            }
        }
        let frame = &mut st.frames[frameno];
        if lo == hi {
            if lo % size as i64 != 0 {
                let kind = ErrorKind::Misaligned {
                    reg: base,
                    what: "stack",
                    off: lo,
                    size,
                };
                return fail(kind, &[base]);
            }
            match store {
                Some(v) => write_fixed(frame, lo, size, v),
                None => return read_fixed(frame, base, lo, size),
            }
        } else {
            // Stack accesses are always checked for alignment (`check_ptr_alignment`).
            let at = ptr
                .var
                .var_off
                .add(crate::tnum::Tnum::constant(fixed as u64));
            if !at.is_aligned(size as u64) {
                let kind = ErrorKind::Misaligned {
                    reg: base,
                    what: "stack",
                    off: lo,
                    size,
                };
                return fail(kind, &[base]);
            }
            match store {
                Some(v) => write_range(frame, lo, hi + size as i64, v),
                None => {
                    if (lo..hi + size as i64).any(|b| frame.byte(b) == ByteKind::Uninit) {
                        let kind = ErrorKind::StackUninitRead {
                            reg: base,
                            off: lo,
                            size,
                        };
                        return fail(kind, &[base]);
                    }
                    return Ok(loaded(size));
                }
            }
        }
        let depth = frame.depth();
        self.stats.max_stack_depth = self.stats.max_stack_depth.max(depth);
        // `check_max_stack_depth`: each frame rounded up to 16 bytes, as the kernels
        // after 6.1 count.
        let total: usize = st
            .frames
            .iter()
            .map(|f| f.depth().max(1).div_ceil(16) * 16)
            .sum();
        if total > STACK_SIZE {
            return fail(ErrorKind::CombinedStackTooLarge { size: total }, &[]);
        }
        Ok(RegState::not_init())
    }
}

/// Stores at a known stack offset: 8 aligned bytes of a register spill it whole; fewer
/// bytes at the start of a slot spill a non-zero scalar that fits in them, so that a
/// loop counter kept in a `u32` on the stack stays known (`save_register_state` with a
/// size). The kernel spills any bounded scalar there and gives it back whole on a fill of
/// the same size; bpfkit spills only values the stored bytes hold exactly, since the fill
/// zero-extends what was truncated.
fn write_fixed(frame: &mut Frame, off: i64, size: usize, v: Stored) {
    let fits = |r: &RegState| {
        r.ty == RegType::Scalar && r.var.umax <= width_mask(size as u32 * 8) && !v.is_zero()
    };
    let spill = match v {
        Stored::Reg(r) if size == SLOT => Some(r),
        Stored::Imm(i) if size == SLOT => Some(RegState::scalar(Scalar::constant(i as u64))),
        _ if off % SLOT as i64 != 0 => None,
        Stored::Reg(r) if fits(&r) => Some(r),
        Stored::Imm(i) => Some(RegState::scalar(Scalar::constant(
            i as u64 & width_mask(size as u32 * 8),
        )))
        .filter(fits),
        _ => None,
    };
    if let Some(r) = spill {
        let slot = frame.slot_mut(Frame::slot_index(off));
        // The rest of a narrow spill's slot keeps its bytes, but no longer as a known
        // zero (`scrub_spilled_slot`).
        for (i, b) in slot.bytes.iter_mut().enumerate() {
            *b = if i < size {
                ByteKind::Spill
            } else if *b == ByteKind::Uninit {
                ByteKind::Uninit
            } else {
                ByteKind::Misc
            };
        }
        slot.spilled = Some(r);
        return;
    }
    let kind = if v.is_zero() {
        ByteKind::Zero
    } else {
        ByteKind::Misc
    };
    for b in off..off + size as i64 {
        set_byte(frame, b, kind);
    }
}

/// Stores at a variable stack offset: every byte it may touch becomes initialized data,
/// as the kernel does for privileged programs (`check_stack_write_var_off`).
fn write_range(frame: &mut Frame, lo: i64, end: i64, v: Stored) {
    for b in lo..end {
        let keep_zero = v.is_zero() && frame.byte(b) == ByteKind::Zero;
        set_byte(
            frame,
            b,
            if keep_zero {
                ByteKind::Zero
            } else {
                ByteKind::Misc
            },
        );
    }
}

/// Sets one byte, breaking up a spilled register it overwrites part of.
fn set_byte(frame: &mut Frame, b: i64, kind: ByteKind) {
    let slot = frame.slot_mut(Frame::slot_index(b));
    if slot.spilled.take().is_some() {
        for k in &mut slot.bytes {
            if *k == ByteKind::Spill {
                *k = ByteKind::Misc;
            }
        }
    }
    slot.bytes[b.rem_euclid(SLOT as i64) as usize] = kind;
}

/// Loads from a known stack offset: a spilled register comes back whole, other bytes
/// must have been written.
fn read_fixed(frame: &Frame, base: Reg, off: i64, size: usize) -> Result<RegState, Fail> {
    let slot = frame.slot(Frame::slot_index(off));
    if let Some(spilled) = slot.spilled {
        let spill_size = slot
            .bytes
            .iter()
            .take_while(|&&b| b == ByteKind::Spill)
            .count();
        // The whole spill, read back at its own offset and size.
        if size == spill_size && off % SLOT as i64 == 0 {
            return Ok(spilled);
        }
        if spilled.ty.is_pointer() {
            return fail(
                ErrorKind::PartialFill {
                    reg: base,
                    off,
                    size,
                },
                &[base],
            );
        }
        // Part of a spilled number, or more than it: the bytes read must be written.
    }
    let mut all_zero = true;
    for b in off..off + size as i64 {
        match frame.byte(b) {
            ByteKind::Uninit => {
                return fail(
                    ErrorKind::StackUninitRead {
                        reg: base,
                        off,
                        size,
                    },
                    &[base],
                );
            }
            ByteKind::Zero => {}
            _ => all_zero = false,
        }
    }
    Ok(if all_zero {
        RegState::scalar(Scalar::constant(0))
    } else {
        loaded(size)
    })
}

/// The field of `ctx` an access of `size` bytes at `off` may touch for a program of
/// `flavour` (the `*_is_valid_access` functions, as tables): within one field, of a size
/// the field allows for loads or stores, at an offset the size divides.
fn field_access(
    ctx: &'static Context,
    flavour: u8,
    off: i64,
    size: usize,
    write: bool,
) -> Option<&'static CtxField> {
    let field = ctx
        .fields
        .iter()
        .find(|f| f.off as i64 <= off && off < (f.off + f.size) as i64)?;
    let allowed = if write { field.write } else { field.read };
    let narrow = match (write, field.narrow_write) {
        (true, true) => Narrow::Anywhere,
        (true, false) => Narrow::No,
        (false, _) => field.narrow,
    };
    let end = off + size as i64;
    let whole = off == field.off as i64 && size == field.size.min(8) as usize;
    let fits = match narrow {
        Narrow::No => whole,
        Narrow::Anywhere => {
            size <= 8 && off % size as i64 == 0 && end <= (field.off + field.size) as i64
        }
        Narrow::Start => whole || (off == field.off as i64 && size < 4),
    };
    (allowed & flavour != 0 && fits).then_some(field)
}
