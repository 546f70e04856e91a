//! Random instructions and programs for property tests (feature `proptest`).
//!
//! Programs from [`program`] decode: every branch and local call lands on an instruction
//! of the program and the last instruction is `exit`. Nothing else is promised (they may
//! loop, fault or read uninitialized registers), which is what tests of engines want.

use crate::decode::with_pcs;
use crate::insn::*;
use proptest::prelude::*;

/// Any register r0..r10.
pub fn reg() -> impl Strategy<Value = Reg> {
    (0u8..=10).prop_map(|n| Reg::new(n).expect("in range"))
}

/// A register a program may write: r0..r9.
pub fn writable_reg() -> impl Strategy<Value = Reg> {
    (0u8..=9).prop_map(|n| Reg::new(n).expect("in range"))
}

/// Immediates biased towards the edges that break engines: 0, ±1, sign bits, widths.
pub fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => -64i32..64,
        1 => Just(i32::MIN),
        1 => Just(i32::MAX),
        1 => Just(-1),
        1 => prop::sample::select(vec![8, 16, 31, 32, 63, 64, 0x7fff, 0x8000, 0xffff]),
        2 => any::<i32>(),
    ]
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![reg().prop_map(Operand::Reg), imm().prop_map(Operand::Imm)]
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W), Just(Size::DW)]
}

/// Memory offsets: mostly small, sometimes anywhere.
fn mem_off() -> impl Strategy<Value = i16> {
    prop_oneof![4 => -64i16..64, 2 => -512i16..0, 1 => any::<i16>()]
}

/// Base registers of memory accesses: mostly r10 (the stack) or r1 (the input).
fn base_reg() -> impl Strategy<Value = Reg> {
    prop_oneof![3 => Just(Reg::R10), 3 => Just(Reg::R1), 1 => reg()]
}

fn alu_op(width: Width) -> impl Strategy<Value = AluOp> {
    let mut ops = vec![
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Sdiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::Smod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
        AluOp::Movsx(SxBits::B8),
        AluOp::Movsx(SxBits::B16),
    ];
    if width == Width::W64 {
        ops.push(AluOp::Movsx(SxBits::B32));
    }
    prop::sample::select(ops)
}

fn cond() -> impl Strategy<Value = JmpCond> {
    prop::sample::select(vec![
        JmpCond::Eq,
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Set,
        JmpCond::Ne,
        JmpCond::Sgt,
        JmpCond::Sge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Slt,
        JmpCond::Sle,
    ])
}

fn atomic_op() -> impl Strategy<Value = AtomicOp> {
    any::<bool>().prop_flat_map(|fetch| {
        prop::sample::select(vec![
            AtomicOp::Add { fetch },
            AtomicOp::Or { fetch },
            AtomicOp::And { fetch },
            AtomicOp::Xor { fetch },
            AtomicOp::Xchg,
            AtomicOp::Cmpxchg,
        ])
    })
}

/// Any valid instruction other than local calls and `callx` (whose targets depend on the
/// program: see [`program`]); branch offsets are arbitrary.
pub fn insn() -> impl Strategy<Value = Insn> {
    let alu = width().prop_flat_map(|w| {
        (alu_op(w), writable_reg(), operand()).prop_map(move |(op, dst, src)| {
            // Sign-extending moves take a register source only.
            let src = match (op, src) {
                (AluOp::Movsx(_), Operand::Imm(i)) => {
                    Operand::Reg(Reg::new((i as u32 % 11) as u8).expect("in range"))
                }
                _ => src,
            };
            Insn::Alu {
                width: w,
                op,
                dst,
                src,
            }
        })
    });
    let end = (
        prop::sample::select(vec![Endian::ToLe, Endian::ToBe, Endian::Swap]),
        prop::sample::select(vec![SwapBits::B16, SwapBits::B32, SwapBits::B64]),
        writable_reg(),
    )
        .prop_map(|(kind, bits, dst)| Insn::End { kind, bits, dst });
    let jmp = (width(), cond(), reg(), operand(), any::<i16>()).prop_map(
        |(width, cond, dst, src, off)| Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        },
    );
    let lddw = (writable_reg(), any::<u64>()).prop_map(|(dst, v)| Insn::lddw(dst, v));
    let ldx = (size(), any::<bool>(), writable_reg(), base_reg(), mem_off()).prop_map(
        |(size, sx, dst, src, off)| Insn::Ldx {
            size,
            sx: sx && size != Size::DW,
            dst,
            src,
            off,
        },
    );
    let st = (size(), base_reg(), mem_off(), imm()).prop_map(|(size, dst, off, imm)| Insn::St {
        size,
        dst,
        off,
        imm,
    });
    let stx = (size(), base_reg(), reg(), mem_off()).prop_map(|(size, dst, src, off)| Insn::Stx {
        size,
        dst,
        src,
        off,
    });
    let atomic = (
        any::<bool>(),
        atomic_op(),
        base_reg(),
        writable_reg(),
        mem_off(),
    )
        .prop_map(|(wide, op, dst, src, off)| Insn::Atomic {
            size: if wide { Size::DW } else { Size::W },
            op,
            dst,
            src,
            off: off & !7,
        });
    let ld_pkt = (
        prop::sample::select(vec![Size::B, Size::H, Size::W]),
        any::<bool>(),
        reg(),
        -8i32..80,
    )
        .prop_map(|(size, ind, src, imm)| {
            if ind {
                Insn::LdInd { size, src, imm }
            } else {
                Insn::LdAbs { size, imm }
            }
        });
    prop_oneof![
        8 => alu,
        1 => (width(), writable_reg()).prop_map(|(width, dst)| Insn::Neg { width, dst }),
        1 => end,
        4 => jmp,
        1 => any::<i16>().prop_map(|off| Insn::Ja { off }),
        1 => any::<i32>().prop_map(|imm| Insn::JaLong { imm }),
        1 => lddw,
        3 => ldx,
        1 => st,
        2 => stx,
        1 => atomic,
        1 => ld_pkt,
    ]
}

/// A program of 1..=`max_len` instructions ending in `exit`, whose branches (and
/// occasional local calls) land on instructions of the program.
pub fn program(max_len: usize) -> impl Strategy<Value = Vec<Insn>> {
    let body = prop_oneof![
        20 => insn(),
        1 => any::<i32>().prop_map(|imm| Insn::CallLocal { imm }),
        1 => Just(Insn::Exit),
        // A function's address, for callx.
        1 => (writable_reg(), any::<i32>()).prop_map(|(dst, imm)| Insn::Lddw {
            dst,
            kind: LddwKind::Func,
            imm,
            next_imm: 0,
        }),
        1 => reg().prop_map(|dst| Insn::Callx { dst }),
    ];
    prop::collection::vec(body, 0..max_len.max(1)).prop_map(|mut insns| {
        insns.push(Insn::Exit);
        retarget(&mut insns);
        insns
    })
}

/// Points every branch and function address of `insns` at an instruction start, keeping
/// its direction and roughly its distance.
fn retarget(insns: &mut [Insn]) {
    let pcs: Vec<usize> = with_pcs(insns).map(|(pc, _)| pc).collect();
    let n = insns.len() as i64;
    for i in 0..insns.len() {
        let off = match insns[i] {
            Insn::Lddw {
                kind: LddwKind::Func,
                imm,
                ..
            } => imm.into(),
            ref insn => match insn.branch_offset() {
                Some(off) => off,
                None => continue,
            },
        };
        let target = (i as i64 + 1 + off % (n + 1)).rem_euclid(n) as usize;
        let rel = pcs[target] as i64 - pcs[i] as i64 - 1;
        match &mut insns[i] {
            Insn::Ja { off } | Insn::Jmp { off, .. } => *off = rel as i16,
            Insn::JaLong { imm } | Insn::CallLocal { imm } | Insn::Lddw { imm, .. } => {
                *imm = rel as i32
            }
            _ => {}
        }
    }
}
