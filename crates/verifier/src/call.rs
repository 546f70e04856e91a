//! Calls and returns: helper calls checked against their prototypes
//! (`check_helper_call`, `check_func_arg`), BPF-to-BPF calls with a new frame
//! (`check_func_call`, `prepare_func_exit`) and the program's exit
//! (`check_return_code`).

use crate::bounds::Scalar;
use crate::check::{fail, Checker, Fail, Next, MAX_CALL_FRAMES};
use crate::error::ErrorKind;
use crate::format;
use crate::helpers::{self, Arg, HelperProto, Ret};
use crate::mem::Stored;
use crate::progtype::Entry;
use crate::state::{Frame, RegState, RegType, SpinLock, State};
use crate::tnum::Tnum;
use bpfkit_isa::Reg;

/// Embedders' prototypes can be inconsistent; these say how.
const NEEDS_MAP: &str =
    "a helper prototype with a map key, value or result but no map argument before it";
const NEEDS_SIZE: &str = "a helper prototype with a memory argument not followed by its size";
const NEEDS_ALLOC_SIZE: &str =
    "a helper prototype returning a ring buffer record but with no size argument";

/// What a call's arguments named, for the checks and the result that depend on them.
#[derive(Default)]
struct Seen {
    /// The map argument's index.
    map: Option<u32>,
    /// The callback's first slot.
    func: Option<usize>,
    /// The size of the memory the helper allocates.
    alloc_size: Option<u32>,
    /// The reference the helper releases.
    released: Option<u32>,
    /// The spin lock a `bpf_spin_lock` or `bpf_spin_unlock` argument names.
    lock: Option<SpinLock>,
    /// A constant string argument's bytes, up to its NUL.
    string: Option<Vec<u8>>,
}

impl Checker<'_> {
    /// Whether the embedder's prototype of `id` replaces Linux's.
    fn is_embedders(&self, id: u32) -> bool {
        self.opts.helpers.iter().any(|p| p.id == id)
    }

    /// The prototype of helper `id`: the embedder's first, then Linux's, which the program
    /// type must allow.
    fn helper(&self, id: i32) -> Result<HelperProto, Fail> {
        let p = *helpers::resolve(&self.opts.helpers, id)
            .ok_or(Fail::new(ErrorKind::UnknownHelper { id }, &[]))?;
        if !self.is_embedders(p.id) && !self.prog.allows_helper(p.id) {
            return fail(
                ErrorKind::HelperNotAllowed {
                    id: p.id,
                    name: p.name,
                },
                &[],
            );
        }
        Ok(p)
    }

    pub(crate) fn check_helper_call(
        &mut self,
        st: &mut State,
        pc: usize,
        id: i32,
    ) -> Result<Next, Fail> {
        // Only the unlock may be called under a lock (`do_check`, before anything else).
        if st.lock.is_some() && id != helpers::ids::SPIN_UNLOCK as i32 {
            return fail(ErrorKind::CallWhileLocked, &[]);
        }
        let proto = self.helper(id)?;
        let mut seen = Seen::default();
        for (i, &arg) in proto.args.iter().enumerate() {
            let r = Reg::new(i as u8 + 1).expect("r1..r5");
            self.check_arg(st, &proto, i, r, arg, &mut seen)?;
        }
        self.check_lock_change(st, proto.id, seen.lock)?;
        if let (helpers::ids::SNPRINTF, Some(fmt)) = (proto.id, &seen.string) {
            check_snprintf_format(st, fmt)?;
        }
        if let Some(m) = seen.map {
            let map_type = self.maps[m as usize].map_type;
            if !helpers::map_compatible(proto.id, map_type) {
                let kind = ErrorKind::MapHelperMismatch {
                    map_type,
                    helper: proto.name,
                    id: proto.id,
                };
                return fail(kind, &[Reg::R1, Reg::R2]);
            }
        }
        if proto.id == helpers::ids::TAIL_CALL && !st.refs.is_empty() {
            return fail(ErrorKind::TailCallWithReference, &[]);
        }
        // The callback's first run, from the state before the call (the caller's
        // arguments stay as they are, for the next run).
        let callback = match seen.func {
            Some(target) => Some((self.callback_state(st, pc, &proto, seen.map)?, target)),
            None => None,
        };
        if let Some(id) = seen.released {
            // The record is gone: every copy of its pointer is now a number
            // (`release_reference`).
            st.refs.retain(|&r| r != id);
            st.for_each_reg(|reg| {
                if reg.id == id && reg.ty == RegType::RingbufMem {
                    *reg = RegState::scalar(Scalar::unknown());
                }
            });
        }
        if proto.changes_packet {
            // The packet may have moved: every pointer into it is now a number
            // (`clear_all_pkt_pointers`).
            st.for_each_reg(|reg| {
                if reg.ty.is_packet() || reg.ty == RegType::PtrToPacketEnd {
                    *reg = RegState::scalar(Scalar::unknown());
                }
            });
        }
        for r in 1..=5 {
            st.cur_mut().regs[r] = RegState::not_init();
        }
        let needs_map = || Fail::new(ErrorKind::Unsupported(NEEDS_MAP), &[]);
        let r0 = match proto.ret {
            Ret::Integer => RegState::scalar(Scalar::unknown()),
            Ret::MapValueOrNull => {
                let map = seen.map.ok_or_else(needs_map)?;
                let id = self.new_id();
                match self.inner[map as usize] {
                    // A map of maps holds maps.
                    Some(template) => RegState {
                        map: template,
                        id,
                        ..RegState::pointer(RegType::ConstPtrToMapOrNull)
                    },
                    None => RegState {
                        map,
                        id,
                        ..RegState::pointer(RegType::MapValueOrNull)
                    },
                }
            }
            Ret::RingbufRecordOrNull => {
                let id = self.new_id();
                st.refs.push(id);
                RegState {
                    id,
                    range: seen
                        .alloc_size
                        .ok_or(Fail::new(ErrorKind::Unsupported(NEEDS_ALLOC_SIZE), &[]))?,
                    ..RegState::pointer(RegType::RingbufMemOrNull)
                }
            }
        };
        *st.reg_mut(Reg::R0) = r0;
        Ok(match callback {
            // Either the helper calls the callback (again), or it returns.
            Some((taken, target)) => Next::Fork {
                fall: pc + 1,
                target,
                taken,
                refined: 0,
            },
            None => Next::Goto(pc + 1),
        })
    }

    /// The state in which a helper's callback starts: a new frame whose arguments are
    /// the helper's (`set_loop_callback_state`, `set_map_elem_callback_state`).
    fn callback_state(
        &self,
        st: &State,
        pc: usize,
        proto: &HelperProto,
        map: Option<u32>,
    ) -> Result<State, Fail> {
        if st.frames.len() >= MAX_CALL_FRAMES {
            return fail(ErrorKind::CallTooDeep, &[]);
        }
        let mut taken = st.clone();
        let mut callee = Frame::new(st.frames.len() as u32, pc);
        callee.callback = true;
        let ctx = *st.reg(Reg::R3);
        match (proto.id, map) {
            (helpers::ids::FOR_EACH_MAP_ELEM, Some(map)) => {
                let of_map = |ty| RegState {
                    map,
                    ..RegState::pointer(ty)
                };
                callee.regs[1] = of_map(RegType::ConstPtrToMap);
                callee.regs[2] = of_map(RegType::MapKey);
                callee.regs[3] = of_map(RegType::MapValue);
                callee.regs[4] = ctx;
            }
            // bpf_loop: the iteration's number and the context.
            _ => {
                callee.regs[1] = RegState::scalar(Scalar::unknown());
                callee.regs[2] = ctx;
            }
        }
        taken.frames.push(callee);
        Ok(taken)
    }

    /// One argument against its declared type.
    fn check_arg(
        &mut self,
        st: &mut State,
        proto: &HelperProto,
        i: usize,
        r: Reg,
        arg: Arg,
        seen: &mut Seen,
    ) -> Result<(), Fail> {
        if arg == Arg::None {
            return Ok(());
        }
        let reg = self.read_reg(st, r)?;
        let wrong = |expected: &'static str| {
            fail(
                ErrorKind::ArgType {
                    reg: r,
                    what: reg.ty.name(),
                    expected,
                },
                &[r],
            )
        };
        let memory = matches!(
            arg,
            Arg::MapKey
                | Arg::MapValue
                | Arg::MapValueOut
                | Arg::Mem
                | Arg::UninitMem
                | Arg::LongOut
                | Arg::IntInOut
        );
        // Only some of Linux's helpers read or write the packet directly; bpfkit's
        // 'memory' type has no kernel counterpart, and embedders' helpers decide for
        // themselves.
        if memory
            && reg.ty.is_packet()
            && matches!(self.prog.entry, Entry::Context(_))
            && !self.is_embedders(proto.id)
            && !helpers::PACKET_ARGS.contains(&proto.id)
        {
            return fail(ErrorKind::HelperPacketAccess { reg: r }, &[r]);
        }
        match arg {
            Arg::None | Arg::Anything | Arg::ConstSize | Arg::ConstSizeOrZero => Ok(()),
            Arg::ConstMapPtr => {
                if reg.ty != RegType::ConstPtrToMap {
                    return wrong("map_ptr");
                }
                seen.map = Some(reg.map);
                Ok(())
            }
            Arg::Ctx => {
                if reg.ty != RegType::PtrToCtx || reg.off != 0 {
                    return wrong("ctx");
                }
                Ok(())
            }
            Arg::MapKey | Arg::MapValue | Arg::MapValueOut => {
                let m = seen
                    .map
                    .ok_or(Fail::new(ErrorKind::Unsupported(NEEDS_MAP), &[]))?;
                let m = &self.maps[m as usize];
                let size = if arg == Arg::MapKey {
                    m.key_size
                } else {
                    m.value_size
                };
                self.check_mem_arg(st, r, reg, size as u64, arg == Arg::MapValueOut)
            }
            Arg::Mem | Arg::UninitMem => {
                let size_reg = match proto.args.get(i + 1) {
                    Some(Arg::ConstSize | Arg::ConstSizeOrZero) => Reg::new(i as u8 + 2),
                    _ => None,
                }
                .ok_or(Fail::new(ErrorKind::Unsupported(NEEDS_SIZE), &[]))?;
                let size = self.read_reg(st, size_reg)?;
                let zero_ok = proto.args[i + 1] == Arg::ConstSizeOrZero;
                let max = self.check_size_arg(size_reg, &size, zero_ok)?;
                if max == 0 && reg.as_const() == Some(0) {
                    return Ok(());
                }
                self.check_mem_arg(st, r, reg, max, arg == Arg::UninitMem)
            }
            Arg::LongOut | Arg::IntInOut => {
                // The helper's out-argument, filled whole: bpf_strtol's long may be
                // uninitialized, bpf_check_mtu's int is read first.
                let (size, uninit) = if arg == Arg::LongOut {
                    (8, true)
                } else {
                    (4, false)
                };
                let at = reg.var.var_off.add(Tnum::constant(reg.off as i64 as u64));
                if reg.ty.is_pointer() && !at.is_aligned(size) {
                    let kind = ErrorKind::Misaligned {
                        reg: r,
                        what: reg.ty.name(),
                        off: reg.off as i64,
                        size: size as usize,
                    };
                    return fail(kind, &[r]);
                }
                self.check_mem_arg(st, r, reg, size, uninit)
            }
            Arg::Func => {
                if reg.ty != RegType::PtrToFunc {
                    return wrong("func");
                }
                seen.func = Some(reg.off as usize);
                Ok(())
            }
            Arg::StackOrNull => {
                if reg.ty != RegType::PtrToStack && reg.as_const() != Some(0) {
                    return wrong("fp or null");
                }
                Ok(())
            }
            Arg::AllocSize => match reg.as_const() {
                Some(size) if size <= u32::MAX as u64 => {
                    seen.alloc_size = Some(size as u32);
                    Ok(())
                }
                _ => fail(
                    ErrorKind::ArgSize {
                        reg: r,
                        problem: "is not a known constant",
                    },
                    &[r],
                ),
            },
            Arg::SpinLock => {
                if reg.ty != RegType::MapValue {
                    return wrong("map_value");
                }
                let Some(var) = reg.var.as_const() else {
                    return fail(ErrorKind::SpinLockVarOffset { reg: r }, &[r]);
                };
                let Some(lock) = self.maps[reg.map as usize].spin_lock else {
                    return fail(ErrorKind::SpinLockMissing { reg: r }, &[r]);
                };
                let off = reg.off as i64 + var as i64;
                if off != lock as i64 {
                    return fail(ErrorKind::SpinLockWrongOffset { reg: r, off, lock }, &[r]);
                }
                seen.lock = Some(SpinLock {
                    map: reg.map,
                    id: reg.id,
                });
                Ok(())
            }
            Arg::ConstStr => {
                seen.string = Some(self.const_str(st, r, reg)?);
                Ok(())
            }
            Arg::RingbufRecord => {
                if reg.ty != RegType::RingbufMem {
                    return wrong("ringbuf_mem");
                }
                if reg.off != 0 || reg.var.as_const() != Some(0) {
                    return fail(ErrorKind::ReleaseModified { reg: r }, &[r]);
                }
                seen.released = Some(reg.id);
                Ok(())
            }
        }
    }

    /// Takes or releases the lock a `bpf_spin_lock` or `bpf_spin_unlock` names
    /// (`process_spin_lock`), unlocked by the pointer that locked it. One lock at a time:
    /// a second `bpf_spin_lock` is a call under a lock, refused before its arguments.
    fn check_lock_change(
        &self,
        st: &mut State,
        id: u32,
        named: Option<SpinLock>,
    ) -> Result<(), Fail> {
        match id {
            helpers::ids::SPIN_LOCK => st.lock = named,
            helpers::ids::SPIN_UNLOCK => {
                match st.lock {
                    None => return fail(ErrorKind::SpinUnlockWithoutLock, &[Reg::R1]),
                    Some(held) if Some(held) != named => {
                        return fail(ErrorKind::SpinUnlockOther, &[Reg::R1])
                    }
                    Some(_) => {}
                }
                st.lock = None;
            }
            _ => {}
        }
        Ok(())
    }

    /// A constant string argument (`ARG_PTR_TO_CONST_STR`): in a frozen read-only map's
    /// value at a constant offset, NUL-terminated before the value's end. Returns its
    /// bytes before the NUL.
    fn const_str(&mut self, st: &mut State, r: Reg, reg: RegState) -> Result<Vec<u8>, Fail> {
        if reg.ty != RegType::MapValue {
            let kind = ErrorKind::ArgType {
                reg: r,
                what: reg.ty.name(),
                expected: "map_value",
            };
            return fail(kind, &[r]);
        }
        let map = &self.maps[reg.map as usize];
        let (value_size, direct) = (
            map.value_size,
            map.map_type == helpers::map_types::ARRAY && map.max_entries == 1,
        );
        // Read-only for programs and frozen (`bpf_map_is_rdonly`).
        let read_only = map.flags & helpers::map_flags::BPF_F_RDONLY_PROG != 0;
        let Some(contents) = map.frozen.clone().filter(|_| read_only) else {
            return fail(ErrorKind::ConstStrNotReadonly { reg: r }, &[r]);
        };
        let Some(var) = reg.var.as_const() else {
            return fail(ErrorKind::ConstStrVarOffset { reg: r }, &[r]);
        };
        if !direct {
            return fail(ErrorKind::ConstStrNoDirectAccess { reg: r }, &[r]);
        }
        // The bytes from the pointer to the value's end must be readable
        // (`check_map_access` of `value_size - off` bytes).
        let size = value_size as i64 - reg.off as i64;
        let access_ok = size > 0 && self.access(st, r, reg, 0, size as usize, None).is_ok();
        let off = reg.off as i64 + var as i64;
        if !access_ok || off < 0 || off >= value_size as i64 {
            let size = size.max(0) as u64;
            return fail(ErrorKind::ArgOutOfRange { reg: r, size }, &[r]);
        }
        // Bytes past the contents a loader gave are zeros, as in the created map.
        let mut value = contents;
        value.resize(value_size as usize, 0);
        match value[off as usize..].iter().position(|&b| b == 0) {
            Some(len) => Ok(value[off as usize..off as usize + len].to_vec()),
            None => fail(ErrorKind::ConstStrUnterminated { reg: r }, &[r]),
        }
    }

    /// A size argument must be a bounded, non-negative number (`check_mem_size_reg`).
    fn check_size_arg(&self, r: Reg, size: &RegState, zero_ok: bool) -> Result<u64, Fail> {
        let problem = if size.ty != RegType::Scalar {
            Some("is a pointer, not a size")
        } else if size.var.smin < 0 {
            Some("min value is negative, either use unsigned or 'var &= const'")
        } else if size.var.umin == 0 && !zero_ok {
            Some("invalid zero-sized read")
        } else if size.var.umax >= 1 << 29 {
            Some("unbounded memory access, use 'var &= const' or 'if (var < const)'")
        } else {
            None
        };
        match problem {
            Some(problem) => fail(ErrorKind::ArgSize { reg: r, problem }, &[r]),
            None => Ok(size.var.umax),
        }
    }

    /// A pointer argument to `size` bytes, read (initialized) or written by the helper
    /// (`check_helper_mem_access`).
    fn check_mem_arg(
        &mut self,
        st: &mut State,
        r: Reg,
        reg: RegState,
        size: u64,
        write: bool,
    ) -> Result<(), Fail> {
        if size == 0 {
            return Ok(());
        }
        match reg.ty {
            RegType::PtrToStack => {
                if write {
                    // The helper fills the bytes: checked as a store of unknown data.
                    for b in 0..size as i64 {
                        self.access(st, r, reg, b, 1, Some(Stored::Unknown))
                            .map_err(|_| {
                                Fail::new(ErrorKind::ArgOutOfRange { reg: r, size }, &[r])
                            })?;
                    }
                    return Ok(());
                }
                for b in 0..size as i64 {
                    match self.access(st, r, reg, b, 1, None) {
                        // The helper reads a spilled register's bytes, which a privileged
                        // loader may hand it even when they are a pointer (as the kernel
                        // allows with `allow_ptr_leaks`): `%s` arguments of bpf_snprintf.
                        Err(f) if matches!(f.kind, ErrorKind::PartialFill { .. }) => continue,
                        other => other,
                    }
                    .map_err(|f| match f.kind {
                        ErrorKind::StackUninitRead { off, .. } => Fail::new(
                            ErrorKind::ArgUninitStack {
                                reg: r,
                                off: off - b,
                                size: size as usize,
                            },
                            &[r],
                        ),
                        _ => Fail::new(ErrorKind::ArgOutOfRange { reg: r, size }, &[r]),
                    })?;
                }
                Ok(())
            }
            RegType::PtrToPacket
            | RegType::PtrToPacketMeta
            | RegType::MapValue
            | RegType::MapKey
            | RegType::RingbufMem => {
                let stored = write.then_some(Stored::Unknown);
                self.access(st, r, reg, 0, size as usize, stored)
                    .map(|_| ())
                    .map_err(|f| match f.kind {
                        // The map's own rules, which the kernel's helper accesses keep.
                        ErrorKind::SpinLockAccess | ErrorKind::MapAccessForbidden { .. } => f,
                        _ => Fail::new(ErrorKind::ArgOutOfRange { reg: r, size }, &[r]),
                    })
            }
            ty => fail(
                ErrorKind::ArgType {
                    reg: r,
                    what: ty.name(),
                    expected: "fp, pkt, pkt_meta, map_key, map_value, ringbuf_mem",
                },
                &[r],
            ),
        }
    }

    /// A BPF-to-BPF call: a new frame gets r1-r5; the caller's r1-r5 are clobbered when
    /// it returns.
    pub(crate) fn check_local_call(
        &mut self,
        st: &mut State,
        pc: usize,
        target: usize,
    ) -> Result<Next, Fail> {
        if st.lock.is_some() && self.opts.global_functions.contains(&target) {
            return fail(ErrorKind::GlobalCallWhileLocked, &[]);
        }
        if st.frames.len() >= MAX_CALL_FRAMES {
            return fail(ErrorKind::CallTooDeep, &[]);
        }
        let mut callee = Frame::new(st.frames.len() as u32, pc);
        for r in 1..=5 {
            callee.regs[r] = st.cur().regs[r];
        }
        st.frames.push(callee);
        Ok(Next::Goto(target))
    }

    /// `exit`: returns to the caller's frame, or ends the program.
    pub(crate) fn check_exit(&mut self, st: &mut State) -> Result<Next, Fail> {
        if st.cur().callback {
            // Back to the helper, which may call the callback again
            // (`prepare_func_exit` for a callback: its result says whether to go on).
            let r0 = self.read_reg(st, Reg::R0)?;
            if r0.ty != RegType::Scalar || r0.var.smin < 0 || r0.var.smax > 1 {
                return fail(ErrorKind::CallbackReturn, &[Reg::R0]);
            }
            let callee = st.frames.pop().expect("a callback has a caller");
            return Ok(Next::Goto(callee.callsite));
        }
        if st.frames.len() > 1 {
            // Like the kernel, a function may return without setting r0: the caller
            // cannot read it then (`prepare_func_exit` copies it as it is).
            let r0 = *st.reg(Reg::R0);
            let depth = st.frames.len() as u32 - 1;
            if r0.ty == RegType::PtrToStack && r0.frame == depth {
                return fail(ErrorKind::ReturnsStackPointer, &[Reg::R0]);
            }
            let callee = st.frames.pop().expect("more than one frame");
            let caller = st.cur_mut();
            caller.regs[0] = r0;
            for r in 1..=5 {
                caller.regs[r] = RegState::not_init();
            }
            return Ok(Next::Goto(callee.callsite + 1));
        }
        if st.lock.is_some() {
            let what = "BPF_EXIT instruction in main prog";
            return fail(ErrorKind::LockedRegion { what }, &[]);
        }
        let r0 = self.read_reg(st, Reg::R0)?;
        if r0.ty != RegType::Scalar {
            return fail(ErrorKind::ReturnsPointer { what: r0.ty.name() }, &[Reg::R0]);
        }
        if let Some(&id) = st.refs.first() {
            return fail(ErrorKind::UnreleasedReference { id }, &[]);
        }
        if let Some((min, max)) = self.prog.ret_range {
            if r0.var.smin < min || r0.var.smax > max {
                return fail(ErrorKind::ReturnOutOfRange { min, max }, &[Reg::R0]);
            }
        }
        Ok(Next::Done)
    }
}

/// `bpf_snprintf`'s format against its arguments (`check_bpf_snprintf_call`): `data_len`
/// (r5) must be a multiple of 8, and its known bits give the number of arguments the
/// format's conversions may take.
fn check_snprintf_format(st: &State, fmt: &[u8]) -> Result<(), Fail> {
    let len = st.reg(Reg::R5).var.var_off.value;
    if !len.is_multiple_of(8) {
        return fail(ErrorKind::FormatDataLen { len }, &[Reg::R5]);
    }
    format::check(fmt, len / 8).or_else(|why| fail(ErrorKind::BadFormat { why }, &[Reg::R3]))
}
