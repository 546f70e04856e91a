//! Why a program is rejected: one variant per broken rule, each with the kernel's log
//! message for it (so that the two can be compared) and a plain-words reason.

use bpfkit_isa::Reg;

/// A broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    // Structure (`check_cfg`, `check_subprogs`).
    /// No instructions.
    Empty,
    /// A branch goes outside the program or its function.
    JumpOutOfRange { to: i64 },
    /// A branch lands on the second half of an `lddw`.
    JumpIntoLddw { to: usize },
    /// The last instruction of a function is neither `exit` nor a jump.
    FallsOffEnd,
    /// No path reaches the instruction.
    Unreachable,
    /// An instruction or form bpfkit does not verify.
    Unsupported(&'static str),
    /// More than the instruction budget was processed (`BPF_COMPLEXITY_LIMIT_INSNS`).
    TooComplex { limit: usize },
    /// The same state came back to a loop head: the loop may never end.
    InfiniteLoop,
    /// Local calls nest deeper than `MAX_CALL_FRAMES`.
    CallTooDeep,
    /// The stacks of the frames of a call chain exceed 512 bytes together.
    CombinedStackTooLarge { size: usize },

    // Registers.
    /// Reading a register never written.
    UninitRegister { reg: Reg },
    /// Writing r10.
    FramePointerWrite,
    /// The value in r0 at exit is a pointer.
    ReturnsPointer { what: &'static str },
    /// r0 at exit is outside the range the program type accepts.
    ReturnOutOfRange { min: i64, max: i64 },
    /// A subprogram returns a pointer into its own stack.
    ReturnsStackPointer,
    /// A pointer to a callee's stack stored into a caller's frame, where it would dangle.
    StackPointerEscape,

    // Memory.
    /// A load or store through something that is not a pointer that may be dereferenced.
    InvalidMemAccess { reg: Reg, what: &'static str },
    /// Stack access outside `[fp - 512, fp)`.
    StackOutOfBounds { reg: Reg, off: i64, size: usize },
    /// An access not aligned to its size where alignment is required: the stack, and
    /// atomics anywhere.
    Misaligned {
        reg: Reg,
        what: &'static str,
        off: i64,
        size: usize,
    },
    /// Stack bytes read before being written.
    StackUninitRead { reg: Reg, off: i64, size: usize },
    /// A register spilled to the stack read back with a narrower load.
    PartialFill { reg: Reg, off: i64, size: usize },
    /// Context access at a field or size the program type does not allow.
    CtxAccess { off: i64, size: usize, write: bool },
    /// Context access through a pointer moved from the structure's start.
    CtxModified {
        reg: Reg,
        off: i64,
        /// The pointer's variable offset, when not a constant.
        var: Option<String>,
    },
    /// A variable subtracted from a stack pointer.
    StackPointerSubtraction { reg: Reg },
    /// Packet access not proven within the bytes compared against `data_end`.
    PacketOutOfRange {
        reg: Reg,
        off: i64,
        size: usize,
        range: u32,
    },
    /// Packet pointer whose variable offset may be negative.
    NegativeOffset { reg: Reg },
    /// Write to a packet the program type may only read.
    PacketReadOnly,
    /// Map value access outside `[0, value_size)`.
    MapValueOutOfRange {
        reg: Reg,
        off: i64,
        size: usize,
        value_size: u32,
    },
    /// Access through a pointer whose variable offset has no upper bound.
    UnboundedAccess { reg: Reg },
    /// Atomic operation on memory that does not allow it.
    AtomicNotAllowed { reg: Reg, what: &'static str },
    /// Access outside a map key or a ring buffer record.
    RegionOutOfRange {
        reg: Reg,
        /// "map key" or "memory", as the kernel says.
        what: &'static str,
        off: i64,
        size: usize,
        limit: u32,
    },
    /// A store through a map key pointer.
    KeyWrite { reg: Reg },
    /// A store through a pointer to read-only kernel memory (a socket).
    ReadOnlyPointer { reg: Reg, what: &'static str },
    /// A read of a socket (`__sk_buff.sk`) outside the fields it offers.
    SockAccess {
        reg: Reg,
        what: &'static str,
        off: i64,
        size: usize,
    },
    /// One instruction accesses the context on one path and other memory on another:
    /// the context access cannot be rewritten for both.
    CtxMixedPointers { reg: Reg },

    // Pointer arithmetic.
    /// Arithmetic on a pointer type that does not allow any.
    PointerArithmeticOn { reg: Reg, what: &'static str },
    /// An operation other than add or subtract on a pointer.
    PointerOp { reg: Reg, op: &'static str },
    /// 32-bit arithmetic on a pointer.
    Pointer32 { reg: Reg },
    /// `scalar -= pointer`.
    SubtractPointerFromScalar { reg: Reg },
    /// Two pointers combined by an operation other than subtraction.
    PointerPointer { reg: Reg, op: &'static str },
    /// Adding a register without a lower bound to a packet or map value pointer.
    UnboundedMin { reg: Reg, what: &'static str },
    /// A variable offset whose minimum could move a pointer out of any object.
    OffsetOutOfBounds {
        reg: Reg,
        what: &'static str,
        value: i64,
    },
    /// A constant added to a pointer beyond what any object spans.
    PointerMath {
        reg: Reg,
        what: &'static str,
        value: i64,
    },
    /// A pointer's fixed offset beyond what any object spans.
    PointerOffset {
        reg: Reg,
        what: &'static str,
        off: i64,
    },

    // Maps and helpers.
    /// `lddw` of a map that the options do not describe.
    UnknownMap { fd: i64 },
    /// A map passed to a helper that does not work on its type.
    MapHelperMismatch {
        map_type: u32,
        helper: &'static str,
        id: u32,
    },
    /// Call of a helper number with no prototype.
    UnknownHelper { id: i32 },
    /// Helper not available to the program type.
    HelperNotAllowed { id: u32, name: &'static str },
    /// Helper argument of the wrong type.
    ArgType {
        reg: Reg,
        what: &'static str,
        expected: &'static str,
    },
    /// Helper argument pointing to memory that is not initialized.
    ArgUninitStack { reg: Reg, off: i64, size: usize },
    /// A size argument that may be zero (where not allowed), negative or unbounded.
    ArgSize { reg: Reg, problem: &'static str },
    /// A helper's memory argument not proven within its region.
    ArgOutOfRange { reg: Reg, size: u64 },
    /// A packet pointer given to a helper that may not access the packet.
    HelperPacketAccess { reg: Reg },
    /// A pointer to release (a ring buffer record) moved from its start.
    ReleaseModified { reg: Reg },
    /// A ring buffer record still reserved when the program ends.
    UnreleasedReference { id: u32 },
    /// A tail call while a ring buffer record is reserved.
    TailCallWithReference,
    /// A callback returns something other than 0 or 1.
    CallbackReturn,
    /// `LD_ABS`/`LD_IND` in a type without an skb.
    LdAbsNotAllowed,
    /// `LD_ABS`/`LD_IND` with r6 not the context.
    LdAbsNeedsCtx,

    // Spin locks (`process_spin_lock`) and constant strings (`ARG_PTR_TO_CONST_STR`,
    // `check_bpf_snprintf_call`).
    /// A map whose value holds a `struct bpf_spin_lock`, used by a program type the
    /// kernel refuses it to (`check_map_prog_compatibility`).
    SpinLockProgType { what: &'static str },
    /// `bpf_spin_lock`'s argument at a variable offset.
    SpinLockVarOffset { reg: Reg },
    /// `bpf_spin_lock`'s argument in a map whose value has no lock.
    SpinLockMissing { reg: Reg },
    /// `bpf_spin_lock`'s argument not at the value's lock.
    SpinLockWrongOffset { reg: Reg, off: i64, lock: u32 },
    /// `bpf_spin_unlock` with no lock held.
    SpinUnlockWithoutLock,
    /// `bpf_spin_unlock` of another lock than the one held.
    SpinUnlockOther,
    /// A helper call (other than `bpf_spin_unlock`) while a lock is held.
    CallWhileLocked,
    /// A call of a global function while a lock is held.
    GlobalCallWhileLocked,
    /// An instruction that may not run while a lock is held: the program's exit, a
    /// legacy packet load.
    LockedRegion { what: &'static str },
    /// A load, store or helper access touching the lock itself.
    SpinLockAccess,
    /// A write into a map programs may only read (`BPF_F_RDONLY_PROG`), or a read from
    /// one they may only write (`BPF_F_WRONLY_PROG`).
    MapAccessForbidden {
        write: bool,
        off: i64,
        size: usize,
        value_size: u32,
    },
    /// A constant string argument in a map that is not frozen and read-only.
    ConstStrNotReadonly { reg: Reg },
    /// A constant string argument at a variable offset.
    ConstStrVarOffset { reg: Reg },
    /// A constant string argument in a map without direct value access (only
    /// single-element arrays have it).
    ConstStrNoDirectAccess { reg: Reg },
    /// A constant string argument with no NUL before the value's end.
    ConstStrUnterminated { reg: Reg },
    /// `bpf_snprintf`'s `data_len` is not a multiple of 8.
    FormatDataLen { len: u64 },
    /// `bpf_snprintf`'s format is one `bpf_bprintf_prepare` refuses.
    BadFormat { why: String },
}

/// "1 byte", "4 bytes".
fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

/// "1 byte was", "14 bytes were".
fn were(n: u32) -> String {
    if n == 1 {
        "1 byte was".into()
    } else {
        format!("{n} bytes were")
    }
}

impl ErrorKind {
    /// The kernel's verifier log message for the same rule (kernel/bpf/verifier.c).
    pub fn kernel_message(&self) -> String {
        use ErrorKind::*;
        match self {
            Empty => "program is empty".into(),
            JumpOutOfRange { to } => format!("jump out of range to insn {to}"),
            JumpIntoLddw { to } => format!("jump into the middle of ldimm64 insn {to}"),
            FallsOffEnd => "last insn is not an exit or jmp".into(),
            Unreachable => "unreachable insn".into(),
            Unsupported(what) => format!("unsupported: {what}"),
            TooComplex { limit } => format!("BPF program is too large. Processed {limit} insn"),
            InfiniteLoop => "infinite loop detected".into(),
            CallTooDeep => "the call stack of 9 frames is too deep".into(),
            CombinedStackTooLarge { size } => {
                format!("combined stack size of calls is {size}. Too large")
            }
            UninitRegister { reg } => format!("R{} !read_ok", reg.num()),
            FramePointerWrite => "frame pointer is read only".into(),
            ReturnsPointer { what } => format!("R0 leaks addr as return value ({what})"),
            ReturnOutOfRange { min, max } => {
                format!("At program exit the register R0 should have been in [{min}, {max}]")
            }
            ReturnsStackPointer => "cannot return stack pointer to the caller".into(),
            StackPointerEscape => {
                "cannot spill pointers to stack into stack frame of the caller".into()
            }
            InvalidMemAccess { reg, what } => format!("R{} invalid mem access '{what}'", reg.num()),
            StackOutOfBounds { reg, off, size } => {
                format!("invalid stack access R{} off={off} size={size}", reg.num())
            }
            Misaligned {
                what, off, size, ..
            } => {
                format!("misaligned {what} access off {off} size {size}")
            }
            StackUninitRead { off, size, .. } => {
                format!("invalid read from stack off {off}+0 size {size}")
            }
            PartialFill { .. } => "invalid size of register fill".into(),
            CtxAccess { off, size, .. } => {
                format!("invalid bpf_context access off={off} size={size}")
            }
            CtxModified { var: Some(var), .. } => {
                format!("variable ctx access var_off={var} disallowed")
            }
            CtxModified { reg, off, .. } => {
                format!(
                    "dereference of modified ctx ptr R{} off={off} disallowed",
                    reg.num()
                )
            }
            StackPointerSubtraction { reg } => {
                format!("R{} subtraction from stack pointer prohibited", reg.num())
            }
            PacketOutOfRange {
                reg,
                off,
                size,
                range,
            } => format!(
                "invalid access to packet, off={off} size={size}, R{}(r={range})",
                reg.num()
            ),
            NegativeOffset { reg } => format!("R{} min value is negative", reg.num()),
            PacketReadOnly => "cannot write into packet".into(),
            MapValueOutOfRange {
                off,
                size,
                value_size,
                ..
            } => format!(
                "invalid access to map value, value_size={value_size} off={off} size={size}"
            ),
            UnboundedAccess { reg } => format!("R{} unbounded memory access", reg.num()),
            AtomicNotAllowed { reg, what } => {
                format!(
                    "BPF_ATOMIC stores into R{} {what} is not allowed",
                    reg.num()
                )
            }
            PointerArithmeticOn { reg, what } => {
                format!("R{} pointer arithmetic on {what} prohibited", reg.num())
            }
            PointerOp { reg, op } if matches!(*op, "&=" | "|=" | "^=") => {
                format!("R{} bitwise operator {op} on pointer prohibited", reg.num())
            }
            PointerOp { reg, op } => {
                format!(
                    "R{} pointer arithmetic with {op} operator prohibited",
                    reg.num()
                )
            }
            Pointer32 { reg } => format!("R{} 32-bit pointer arithmetic prohibited", reg.num()),
            SubtractPointerFromScalar { reg } => {
                format!("R{} tried to subtract pointer from scalar", reg.num())
            }
            PointerPointer { reg, op } => format!("R{} pointer {op} pointer prohibited", reg.num()),
            UnboundedMin { what, .. } => format!(
                "math between {what} pointer and register with unbounded min value is not allowed"
            ),
            OffsetOutOfBounds { what, value, .. } => {
                format!("value {value} makes {what} pointer be out of bounds")
            }
            PointerMath { what, value, .. } => {
                format!("math between {what} pointer and {value} is not allowed")
            }
            PointerOffset { what, off, .. } => {
                format!("{what} pointer offset {off} is not allowed")
            }
            UnknownMap { fd } => format!("fd {fd} is not pointing to valid bpf_map"),
            MapHelperMismatch { id: 12, .. } => "expected prog array map for tail call".into(),
            MapHelperMismatch {
                map_type,
                helper,
                id,
            } => format!("cannot pass map_type {map_type} into func bpf_{helper}#{id}"),
            UnknownHelper { id } => format!("invalid func unknown#{id}"),
            HelperNotAllowed { id, name } => {
                format!("program of this type cannot use helper bpf_{name}#{id}")
            }
            ArgType {
                reg,
                what,
                expected,
            } => {
                format!("R{} type={what} expected={expected}", reg.num())
            }
            ArgUninitStack { reg, off, size } => {
                format!(
                    "invalid indirect read from stack R{} off {off}+0 size {size}",
                    reg.num()
                )
            }
            ArgSize { reg, problem } => format!("R{} {problem}", reg.num()),
            ArgOutOfRange { reg, size } => {
                format!("R{} invalid helper memory access of size {size}", reg.num())
            }
            RegionOutOfRange {
                what,
                off,
                size,
                limit,
                ..
            } => {
                let limit_name = if *what == "map key" {
                    "key_size"
                } else {
                    "mem_size"
                };
                format!("invalid access to {what}, {limit_name}={limit} off={off} size={size}")
            }
            KeyWrite { reg } => format!("write to change key R{} not allowed", reg.num()),
            ReadOnlyPointer { reg, what } => format!("R{} cannot write into {what}", reg.num()),
            SockAccess {
                reg,
                what,
                off,
                size,
            } => format!("R{} invalid {what} access off={off} size={size}", reg.num()),
            CtxMixedPointers { .. } => "same insn cannot be used with different pointers".into(),
            HelperPacketAccess { .. } => "helper access to the packet is not allowed".into(),
            ReleaseModified { reg } => format!(
                "R{} must have zero offset when passed to release func",
                reg.num()
            ),
            UnreleasedReference { id } => format!("Unreleased reference id={id}"),
            TailCallWithReference => "tail_call would lead to reference leak".into(),
            CallbackReturn => {
                "At callback return the register R0 should have been in (0x0; 0x1)".into()
            }
            LdAbsNotAllowed => {
                "BPF_LD_[ABS|IND] instructions not allowed for this program type".into()
            }
            LdAbsNeedsCtx => "at the time of BPF_LD_ABS|IND R6 != pointer to skb".into(),
            SpinLockProgType { what } => format!("{what} progs cannot use bpf_spin_lock yet"),
            SpinLockVarOffset { reg } => format!(
                "R{} doesn't have constant offset. bpf_spin_lock has to be at the constant offset",
                reg.num()
            ),
            SpinLockMissing { .. } => "map has no valid bpf_spin_lock".into(),
            SpinLockWrongOffset { off, lock, .. } => {
                format!("off {off} doesn't point to 'struct bpf_spin_lock' that is at {lock}")
            }
            SpinUnlockWithoutLock => "bpf_spin_unlock without taking a lock".into(),
            SpinUnlockOther => "bpf_spin_unlock of different lock".into(),
            CallWhileLocked => "function calls are not allowed while holding a lock".into(),
            GlobalCallWhileLocked => {
                "global function calls are not allowed while holding a lock, use static function instead".into()
            }
            LockedRegion { what } => {
                format!("{what} cannot be used inside bpf_spin_lock-ed region")
            }
            SpinLockAccess => "bpf_spin_lock cannot be accessed directly by load/store".into(),
            MapAccessForbidden {
                write,
                off,
                size,
                value_size,
            } => format!(
                "{} map forbidden, value_size={value_size} off={off} size={size}",
                if *write { "write into" } else { "read from" }
            ),
            ConstStrNotReadonly { reg } => {
                format!("R{} does not point to a readonly map'", reg.num())
            }
            ConstStrVarOffset { reg } => format!("R{} is not a constant address'", reg.num()),
            ConstStrNoDirectAccess { .. } => "direct value access on string failed".into(),
            ConstStrUnterminated { .. } => "string is not zero-terminated".into(),
            // The kernel refuses it with -EINVAL and no message.
            FormatDataLen { len } => format!("data_len {len} is not a multiple of 8"),
            BadFormat { .. } => "Invalid format string".into(),
        }
    }

    /// One sentence in plain words.
    pub fn reason(&self) -> String {
        use ErrorKind::*;
        match self {
            Empty => "the program has no instructions".into(),
            JumpOutOfRange { to } => format!("this jump goes to instruction {to}, outside its function"),
            JumpIntoLddw { to } => format!("this jump lands at {to}, the second half of a 64-bit constant load"),
            FallsOffEnd => "execution can run past the end of the function without an exit".into(),
            Unreachable => "no path from the program's start reaches this instruction".into(),
            Unsupported(what) => format!("bpfkit does not verify {what}"),
            TooComplex { limit } => format!("verification needed more than {limit} instruction steps: the program has too many paths or too long a loop"),
            InfiniteLoop => "this loop can come back to the same state, so it may never end".into(),
            CallTooDeep => "function calls nest more than 8 deep".into(),
            CombinedStackTooLarge { size } => format!("the functions of this call chain use {size} bytes of stack together, more than 512"),
            UninitRegister { reg } => format!("{reg} is read here but nothing on this path wrote it"),
            FramePointerWrite => "r10, the frame pointer, is read-only".into(),
            ReturnsPointer { what } => format!("the program returns a pointer ({what}) instead of a number"),
            ReturnOutOfRange { min, max } => format!("the return value may be outside [{min}, {max}], the range this program type accepts"),
            ReturnsStackPointer => "the function returns a pointer to its own stack, which is gone after the return".into(),
            StackPointerEscape => "a pointer to this function's stack is stored where it outlives the function".into(),
            InvalidMemAccess { reg, what } => match *what {
                "scalar" => format!("{reg} holds a number, not a pointer, so it cannot be dereferenced"),
                "map_value_or_null" => format!("{reg} may be NULL: the map lookup's result is used before checking it"),
                "pkt_end" => format!("{reg} points past the end of the packet; it is only for comparisons"),
                "map_ptr" => format!("{reg} is a map, not a map value; look the value up first"),
                "sock_common_or_null" => format!("{reg} may be NULL: skb->sk is used before checking it"),
                w => format!("{reg} ({w}) cannot be dereferenced"),
            },
            StackOutOfBounds { off, size, .. } => format!("the access of {size} bytes at fp{off:+} is outside the 512-byte stack"),
            Misaligned { reg, what, off, size } => format!("the {what} access at {reg}{off:+} is not aligned to its size {size}"),
            StackUninitRead { off, size, .. } => format!("the {size} bytes at fp{off:+} are read before anything is written there"),
            PartialFill { off, size, .. } => format!("a pointer saved at fp{off:+} is read back with a {size}-byte load; pointers must be reloaded whole"),
            CtxAccess { off, size, write } => format!("the context has no {}field of {size} bytes at offset {off}", if *write { "writable " } else { "" }),
            CtxModified { reg, var: Some(_), .. } => format!("{reg} points a variable distance into the context; context fields must be accessed from the unmodified context pointer"),
            CtxModified { reg, off, .. } => format!("{reg} points {off} bytes into the context; context fields must be accessed from the unmodified context pointer"),
            StackPointerSubtraction { reg } => format!("{reg} is a stack pointer: a variable may be added to it, not subtracted"),
            PacketOutOfRange { reg, off, size, range } => format!("the packet access of {} at offset {off} from {reg} is not proven in bounds: only {} checked against data_end", bytes(*size), were(*range)),
            NegativeOffset { reg } => format!("{reg}'s offset may be negative"),
            PacketReadOnly => "this program type may not write into the packet".into(),
            MapValueOutOfRange { off, size, value_size, .. } => format!("the access of {} at offset {off} is outside the {value_size}-byte map value", bytes(*size)),
            UnboundedAccess { reg } => format!("{reg}'s offset has no proven upper bound"),
            AtomicNotAllowed { what, .. } => format!("atomic operations are not allowed on {what}"),
            PointerArithmeticOn { reg, what } => format!("{reg} is a {what} pointer, on which arithmetic is not allowed"),
            PointerOp { reg, op } => format!("{reg} is a pointer: only + and - are allowed on it, not {op}"),
            Pointer32 { reg } => format!("{reg} is a pointer: 32-bit arithmetic would cut it"),
            SubtractPointerFromScalar { reg } => format!("{reg}: a pointer cannot be subtracted from a number"),
            PointerPointer { op, .. } => format!("two pointers cannot be combined with {op}"),
            UnboundedMin { reg, what } => format!("the value added to the {what} pointer in {reg} has no lower bound"),
            OffsetOutOfBounds { reg, value, .. } => format!("{reg}'s offset may be {value}, which moves the pointer outside any object"),
            PointerMath { reg, value, .. } => format!("adding {value} to {reg} moves the pointer outside any object"),
            PointerOffset { reg, off, .. } => format!("{reg}'s offset {off} is outside any object"),
            UnknownMap { fd } => format!("map {fd} is not known to the verifier"),
            MapHelperMismatch { map_type, helper, .. } => format!("bpf_{helper} cannot take a map of type {map_type}"),
            UnknownHelper { id } => format!("there is no helper number {id}"),
            HelperNotAllowed { name, .. } => format!("bpf_{name} is not available to this program type"),
            ArgType { reg, what, expected } => format!("{reg} should be {expected} for this helper but is {what}"),
            ArgUninitStack { reg, off, size } => format!("the helper reads {size} bytes at fp{off:+} through {reg}, not all of them written"),
            ArgSize { reg, problem } => format!("the size in {reg}: {problem}"),
            ArgOutOfRange { reg, size } => format!("the helper accesses {size} bytes through {reg}, beyond the memory it points to"),
            RegionOutOfRange { what, off, size, limit, .. } => format!("the access of {} at offset {off} is outside the {limit}-byte {what}", bytes(*size)),
            KeyWrite { reg } => format!("{reg} points to a map key, which may only be read"),
            ReadOnlyPointer { reg, what } => format!("{reg} points to a socket ({what}), which may only be read"),
            SockAccess { reg, off, size, .. } => format!("the socket {reg} points to has no field of {size} bytes at offset {off} (struct bpf_sock: bound_dev_if, family, the addresses and ports, state, rx_queue_mapping)"),
            CtxMixedPointers { reg } => format!("{reg} is the context on one path and other memory on another; a context field must be accessed by its own instruction"),
            HelperPacketAccess { reg } => format!("{reg} points into the packet, which this helper may not access; copy the bytes to the stack first"),
            ReleaseModified { reg } => format!("{reg} must point to the start of the ring buffer record to submit or discard it"),
            UnreleasedReference { .. } => "a ring buffer record reserved on this path is neither submitted nor discarded".into(),
            TailCallWithReference => "a tail call here would leave a reserved ring buffer record neither submitted nor discarded".into(),
            CallbackReturn => "the callback must return 0 (go on) or 1 (stop)".into(),
            LdAbsNotAllowed => "legacy packet loads (LD_ABS/LD_IND) exist only for socket filters and tc".into(),
            LdAbsNeedsCtx => "legacy packet loads need the context in r6".into(),
            SpinLockProgType { what } => format!("{what} programs may not use a map whose value holds a bpf_spin_lock"),
            SpinLockVarOffset { reg } => format!("{reg} points a variable distance into the map value; bpf_spin_lock needs the lock's constant place"),
            SpinLockMissing { reg } => format!("the map value {reg} points to has no struct bpf_spin_lock the kernel knows of: none in its BTF type, or a map type that may not hold one (only hash, array and the local storages may)"),
            SpinLockWrongOffset { reg, off, lock } => format!("{reg} points to offset {off} of the map value, but its struct bpf_spin_lock is at offset {lock}"),
            SpinUnlockWithoutLock => "bpf_spin_unlock is called while no lock is held on this path".into(),
            SpinUnlockOther => "bpf_spin_unlock names another lock than the one held on this path".into(),
            CallWhileLocked => "a helper is called while a bpf_spin_lock is held; only bpf_spin_unlock may be".into(),
            GlobalCallWhileLocked => "a global function is called while a bpf_spin_lock is held; the kernel verifies global functions on their own, so only static ones may be".into(),
            LockedRegion { what } => format!("{what} is reached while a bpf_spin_lock is held on this path"),
            SpinLockAccess => "this access touches the map value's struct bpf_spin_lock, which only bpf_spin_lock and bpf_spin_unlock may use".into(),
            MapAccessForbidden { write: true, off, size, .. } => format!("the write of {} at offset {off} is into a map programs may only read (BPF_F_RDONLY_PROG, e.g. .rodata)", bytes(*size)),
            MapAccessForbidden { write: false, off, size, .. } => format!("the read of {} at offset {off} is from a map programs may only write (BPF_F_WRONLY_PROG)", bytes(*size)),
            ConstStrNotReadonly { reg } => format!("{reg} must point into a frozen read-only map (e.g. a const string in .rodata)"),
            ConstStrVarOffset { reg } => format!("{reg} points a variable distance into the map; the string must be at a constant offset"),
            ConstStrNoDirectAccess { reg } => format!("the map {reg} points into has no directly readable value (only single-element arrays such as .rodata do)"),
            ConstStrUnterminated { reg } => format!("the string {reg} points to has no NUL before the end of the map value"),
            FormatDataLen { len } => format!("the size of the argument array, {len}, is not a multiple of 8 (an array of u64)"),
            BadFormat { why } => format!("the format string {why}"),
        }
    }

    /// A suggestion, where there is a usual fix.
    pub fn hint(&self, prog_type: &str) -> Option<String> {
        use ErrorKind::*;
        let ret = if prog_type == "xdp" { "XDP_DROP" } else { "0" };
        Some(match self {
            PacketOutOfRange { off, size, .. } => format!(
                "add `if (data + {} > data_end) return {ret};` before this access",
                off + *size as i64
            ),
            InvalidMemAccess {
                what: "map_value_or_null",
                ..
            } => "add `if (!value) return 0;` after the lookup".into(),
            InvalidMemAccess {
                what: "sock_common_or_null",
                ..
            } => "add `if (!sk) return 0;` after reading skb->sk".into(),
            UninitRegister { .. } => "initialize the variable on every path".into(),
            StackUninitRead { .. } | ArgUninitStack { .. } => {
                "initialize the variable (e.g. `= {}`) before using it".into()
            }
            MapValueOutOfRange { .. } | UnboundedAccess { .. } | UnboundedMin { .. } => {
                "check the index against the size first, e.g. `if (i >= N) return 0;`".into()
            }
            NegativeOffset { .. } => "use an unsigned index, or check `if (i < 0)` first".into(),
            InfiniteLoop | TooComplex { .. } => "bound the loop with a constant trip count".into(),
            UnreleasedReference { .. } | TailCallWithReference => {
                "call bpf_ringbuf_submit or bpf_ringbuf_discard on every path".into()
            }
            LockedRegion { .. } => "call bpf_spin_unlock on every path first".into(),
            CallWhileLocked => "call the helper after bpf_spin_unlock".into(),
            GlobalCallWhileLocked => "make the function static".into(),
            SpinLockWrongOffset { .. } | SpinLockVarOffset { .. } => {
                "pass the address of the value's struct bpf_spin_lock field".into()
            }
            ConstStrNotReadonly { .. } | ConstStrVarOffset { .. } => {
                "use a string literal or a `static const char fmt[]` as the format".into()
            }
            _ => return None,
        })
    }
}
