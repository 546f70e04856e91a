//! The abstract state of a program point: registers and stack of every active frame
//! (`struct bpf_verifier_state`, `bpf_func_state`, `bpf_reg_state`, `bpf_stack_state`).

use crate::bounds::Scalar;
use bpfkit_isa::Reg;
use std::fmt;

/// Size of one frame's stack in bytes (`MAX_BPF_STACK`).
pub const STACK_SIZE: usize = 512;
/// Size of a stack slot: one spilled register (`BPF_REG_SIZE`).
pub const SLOT: usize = 8;

/// What a register holds (`enum bpf_reg_type`, the subset bpfkit tracks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegType {
    /// Never written: reading it is an error.
    NotInit,
    /// A number, described by [`RegState::var`].
    Scalar,
    /// The program type's context structure.
    PtrToCtx,
    /// A frame's stack: `fp + off + var`, `frame` saying whose.
    PtrToStack,
    /// A map (`lddw r, map`), for helper arguments.
    ConstPtrToMap,
    /// A map value, non-null.
    MapValue,
    /// A map lookup's result before its null check.
    MapValueOrNull,
    /// Into the packet (or the 'memory' program type's buffer): proven readable within
    /// `[0, range)` of `off`.
    PtrToPacket,
    /// One past the packet's last byte (`data_end`; for 'memory', `r1 + r2`).
    PtrToPacketEnd,
    /// The packet's metadata area (`data_meta`), ending at the packet's start.
    PtrToPacketMeta,
    /// A map of maps' lookup result before its null check: one of the maps it holds
    /// (`CONST_PTR_TO_MAP | PTR_MAYBE_NULL`), `map` indexing the inner maps' template.
    ConstPtrToMapOrNull,
    /// A map key, read-only: a `bpf_for_each_map_elem` callback's second argument
    /// (`PTR_TO_MAP_KEY`).
    MapKey,
    /// A ring buffer record reserved by `bpf_ringbuf_reserve`, `range` bytes long
    /// (`PTR_TO_MEM | MEM_ALLOC`); it must be submitted or discarded on every path.
    RingbufMem,
    /// A ring buffer reservation's result before its null check.
    RingbufMemOrNull,
    /// The socket of `__sk_buff.sk`, read-only, its fields those of `struct bpf_sock`
    /// common to every socket (`PTR_TO_SOCK_COMMON`).
    SockCommon,
    /// `__sk_buff.sk` before its null check.
    SockCommonOrNull,
    /// A function of the program (`lddw` of `BPF_PSEUDO_FUNC`), a callback for
    /// `bpf_loop` and `bpf_for_each_map_elem`: `off` is its first slot.
    PtrToFunc,
}

impl RegType {
    /// The kernel's name for the type, as its log prints it.
    pub const fn name(self) -> &'static str {
        match self {
            RegType::NotInit => "?",
            RegType::Scalar => "scalar",
            RegType::PtrToCtx => "ctx",
            RegType::PtrToStack => "fp",
            RegType::ConstPtrToMap => "map_ptr",
            RegType::MapValue => "map_value",
            RegType::MapValueOrNull => "map_value_or_null",
            RegType::PtrToPacket => "pkt",
            RegType::PtrToPacketEnd => "pkt_end",
            RegType::PtrToPacketMeta => "pkt_meta",
            RegType::ConstPtrToMapOrNull => "map_ptr_or_null",
            RegType::MapKey => "map_key",
            RegType::RingbufMem => "ringbuf_mem",
            RegType::RingbufMemOrNull => "ringbuf_mem_or_null",
            RegType::SockCommon => "sock_common",
            RegType::SockCommonOrNull => "sock_common_or_null",
            RegType::PtrToFunc => "func",
        }
    }

    /// Whether values of this type are addresses.
    pub const fn is_pointer(self) -> bool {
        !matches!(self, RegType::NotInit | RegType::Scalar)
    }

    /// Packet pointers whose ranges comparisons with `data_end` establish.
    pub const fn is_packet(self) -> bool {
        matches!(self, RegType::PtrToPacket | RegType::PtrToPacketMeta)
    }

    /// A helper's result that may be null, and what its null check proves it is
    /// otherwise.
    pub const fn non_null(self) -> Option<RegType> {
        match self {
            RegType::MapValueOrNull => Some(RegType::MapValue),
            RegType::ConstPtrToMapOrNull => Some(RegType::ConstPtrToMap),
            RegType::RingbufMemOrNull => Some(RegType::RingbufMem),
            RegType::SockCommonOrNull => Some(RegType::SockCommon),
            _ => None,
        }
    }
}

/// One register's abstract value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegState {
    pub ty: RegType,
    /// Fixed offset of a pointer from its region's base.
    pub off: i32,
    /// A scalar's value, or a pointer's variable offset (added to `off`).
    pub var: Scalar,
    /// Identity shared by copies of one value: a null check or a packet range learnt on
    /// one applies to all; scalars with the same id are equal. 0 for none.
    pub id: u32,
    /// Packet pointers: bytes `[0, range)` from the pointer's base (the packet's start
    /// plus the variable offset; `off` counts from there too) are proven to exist.
    /// Ring buffer records: the record's size.
    pub range: u32,
    /// Map pointers, keys and values: index of the map in the verifier's map list (the
    /// options' maps, then the templates of maps of maps' inner maps).
    pub map: u32,
    /// Stack pointers: the frame (0 = main program).
    pub frame: u32,
}

impl RegState {
    /// An uninitialized register.
    pub fn not_init() -> RegState {
        RegState {
            ty: RegType::NotInit,
            off: 0,
            var: Scalar::unknown(),
            id: 0,
            range: 0,
            map: 0,
            frame: 0,
        }
    }

    /// A scalar with bounds `var`.
    pub fn scalar(var: Scalar) -> RegState {
        RegState {
            ty: RegType::Scalar,
            var,
            ..RegState::not_init()
        }
    }

    /// A pointer of type `ty` at fixed offset 0 and no variable part.
    pub fn pointer(ty: RegType) -> RegState {
        RegState {
            ty,
            var: Scalar::constant(0),
            ..RegState::not_init()
        }
    }

    /// A known constant, when the register is a scalar with one possible value.
    pub fn as_const(&self) -> Option<u64> {
        (self.ty == RegType::Scalar)
            .then(|| self.var.as_const())
            .flatten()
    }
}

impl fmt::Display for RegState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ty {
            RegType::NotInit => write!(f, "uninitialized"),
            RegType::Scalar => {
                write!(f, "scalar({})", self.var)?;
                if self.id != 0 {
                    write!(f, " id={}", self.id)?;
                }
                Ok(())
            }
            ty => {
                write!(f, "{}(", ty.name())?;
                let mut parts = Vec::new();
                if ty == RegType::PtrToStack && self.frame != 0 {
                    parts.push(format!("frame={}", self.frame));
                }
                if matches!(
                    ty,
                    RegType::ConstPtrToMap
                        | RegType::ConstPtrToMapOrNull
                        | RegType::MapKey
                        | RegType::MapValue
                        | RegType::MapValueOrNull
                ) {
                    parts.push(format!("map={}", self.map));
                }
                if self.id != 0 {
                    parts.push(format!("id={}", self.id));
                }
                parts.push(format!("off={}", self.off));
                if ty.is_packet() {
                    parts.push(format!("r={}", self.range));
                }
                if matches!(ty, RegType::RingbufMem | RegType::RingbufMemOrNull) {
                    parts.push(format!("size={}", self.range));
                }
                if self.var.as_const() != Some(0) {
                    parts.push(format!("var={}", self.var));
                }
                write!(f, "{})", parts.join(","))
            }
        }
    }
}

/// What one stack byte holds (`STACK_INVALID`, `STACK_MISC`, `STACK_ZERO`, `STACK_SPILL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteKind {
    Uninit,
    Misc,
    Zero,
    Spill,
}

/// An 8-byte stack slot: its bytes, and the register spilled there when all eight are
/// [`ByteKind::Spill`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackSlot {
    pub bytes: [ByteKind; SLOT],
    pub spilled: Option<RegState>,
}

impl StackSlot {
    const EMPTY: StackSlot = StackSlot {
        bytes: [ByteKind::Uninit; SLOT],
        spilled: None,
    };
}

/// One function's registers and stack (`bpf_func_state`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub regs: [RegState; Reg::COUNT],
    /// Slots from the frame pointer down: `slots[i]` covers `fp - 8 * (i + 1)`; grown on
    /// first use.
    pub slots: Vec<StackSlot>,
    /// Slot index of the call instruction that created the frame (0 for the main one).
    pub callsite: usize,
    /// Whether the frame runs a callback that a helper (`bpf_loop`,
    /// `bpf_for_each_map_elem`) calls from `callsite`: its exit goes back to the helper
    /// call, which may call it again.
    pub callback: bool,
}

impl Frame {
    /// A frame with uninitialized registers but the frame pointer.
    pub fn new(frame: u32, callsite: usize) -> Frame {
        let mut regs = [RegState::not_init(); Reg::COUNT];
        regs[10] = RegState {
            frame,
            ..RegState::pointer(RegType::PtrToStack)
        };
        Frame {
            regs,
            slots: Vec::new(),
            callsite,
            callback: false,
        }
    }

    /// The slot holding stack byte `fp + off` (`off` in `-512..0`).
    pub fn slot_index(off: i64) -> usize {
        ((-off - 1) / SLOT as i64) as usize
    }

    /// The slot at `index`, if ever written.
    pub fn slot(&self, index: usize) -> &StackSlot {
        self.slots.get(index).unwrap_or(&StackSlot::EMPTY)
    }

    /// The slot at `index`, created when needed.
    pub fn slot_mut(&mut self, index: usize) -> &mut StackSlot {
        if self.slots.len() <= index {
            self.slots.resize(index + 1, StackSlot::EMPTY);
        }
        &mut self.slots[index]
    }

    /// The kind of stack byte `fp + off`.
    pub fn byte(&self, off: i64) -> ByteKind {
        let slot = self.slot(Frame::slot_index(off));
        slot.bytes[(off.rem_euclid(SLOT as i64)) as usize]
    }

    /// Number of stack bytes in use (the deepest slot written).
    pub fn depth(&self) -> usize {
        self.slots.len() * SLOT
    }
}

/// The whole abstract state: the frames of the call chain, innermost last.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub frames: Vec<Frame>,
    /// For the 'memory' program type: the buffer's length, a scalar sharing its id with
    /// the registers still holding it, so that comparisons on them bound the buffer.
    pub buffer_len: Option<RegState>,
    /// Ids of the ring buffer records reserved and not yet submitted or discarded
    /// (`acquire_reference_state`): each must be released before the program ends.
    pub refs: Vec<u32>,
    /// The `bpf_spin_lock` held, if any (`active_lock`): the map whose value holds it and
    /// the id of the pointer it was taken through (0 for a global variable's), which
    /// `bpf_spin_unlock` must name again.
    pub lock: Option<SpinLock>,
}

/// A held `bpf_spin_lock`: which map value's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpinLock {
    /// The map's index in the verifier's map list.
    pub map: u32,
    /// The id of the map value pointer it was locked through.
    pub id: u32,
}

impl State {
    /// The innermost frame.
    pub fn cur(&self) -> &Frame {
        self.frames.last().expect("a state has a frame")
    }

    /// The innermost frame, mutably.
    pub fn cur_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a state has a frame")
    }

    /// A register of the innermost frame.
    pub fn reg(&self, r: Reg) -> &RegState {
        &self.cur().regs[r.index()]
    }

    /// A register of the innermost frame, mutably.
    pub fn reg_mut(&mut self, r: Reg) -> &mut RegState {
        &mut self.cur_mut().regs[r.index()]
    }

    /// Every register and spilled register of every frame, plus the buffer length: what
    /// id-based propagation (null checks, packet ranges, linked scalars) walks over
    /// (`bpf_for_each_reg_in_vstate`).
    pub fn for_each_reg(&mut self, mut f: impl FnMut(&mut RegState)) {
        for frame in &mut self.frames {
            frame.regs.iter_mut().for_each(&mut f);
            for slot in &mut frame.slots {
                if let Some(r) = &mut slot.spilled {
                    f(r);
                }
            }
        }
        if let Some(r) = &mut self.buffer_len {
            f(r);
        }
    }
}
