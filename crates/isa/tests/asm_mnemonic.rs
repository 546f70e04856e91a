//! The mnemonic syntax covers the whole instruction set: a printer written here from the
//! table in the `asm` module documentation prints random instructions of every kind, local
//! and kfunc calls and every `lddw` pseudo form included, and each assembles back to
//! itself.

use bpfkit_isa::arbitrary;
use bpfkit_isa::*;
use proptest::prelude::*;

fn width(w: Width) -> &'static str {
    match w {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

fn size(s: Size) -> &'static str {
    match s {
        Size::B => "b",
        Size::H => "h",
        Size::W => "w",
        Size::DW => "dw",
    }
}

fn operand(o: Operand) -> String {
    match o {
        Operand::Reg(r) => r.to_string(),
        Operand::Imm(i) => i.to_string(),
    }
}

fn alu_name(op: AluOp) -> String {
    match op {
        AluOp::Add => "add".into(),
        AluOp::Sub => "sub".into(),
        AluOp::Mul => "mul".into(),
        AluOp::Div => "div".into(),
        AluOp::Sdiv => "sdiv".into(),
        AluOp::Or => "or".into(),
        AluOp::And => "and".into(),
        AluOp::Lsh => "lsh".into(),
        AluOp::Rsh => "rsh".into(),
        AluOp::Mod => "mod".into(),
        AluOp::Smod => "smod".into(),
        AluOp::Xor => "xor".into(),
        AluOp::Mov => "mov".into(),
        AluOp::Arsh => "arsh".into(),
        AluOp::Movsx(b) => format!("movsx{}", b.bits()),
    }
}

fn cond_name(c: JmpCond) -> &'static str {
    match c {
        JmpCond::Eq => "jeq",
        JmpCond::Gt => "jgt",
        JmpCond::Ge => "jge",
        JmpCond::Set => "jset",
        JmpCond::Ne => "jne",
        JmpCond::Sgt => "jsgt",
        JmpCond::Sge => "jsge",
        JmpCond::Lt => "jlt",
        JmpCond::Le => "jle",
        JmpCond::Slt => "jslt",
        JmpCond::Sle => "jsle",
    }
}

fn atomic_name(op: AtomicOp) -> &'static str {
    match op {
        AtomicOp::Add { fetch: false } => "atomic_add",
        AtomicOp::Or { fetch: false } => "atomic_or",
        AtomicOp::And { fetch: false } => "atomic_and",
        AtomicOp::Xor { fetch: false } => "atomic_xor",
        AtomicOp::Add { fetch: true } => "atomic_fetch_add",
        AtomicOp::Or { fetch: true } => "atomic_fetch_or",
        AtomicOp::And { fetch: true } => "atomic_fetch_and",
        AtomicOp::Xor { fetch: true } => "atomic_fetch_xor",
        AtomicOp::Xchg => "xchg",
        AtomicOp::Cmpxchg => "cmpxchg",
    }
}

/// `[r1+4]`, `[r10-8]`.
fn mem(reg: Reg, off: i16) -> String {
    format!("[{reg}{off:+}]")
}

/// The instruction in mnemonic syntax, as the `asm` module documentation specifies it.
fn print(insn: &Insn) -> String {
    match *insn {
        Insn::Alu {
            width: w,
            op: AluOp::Movsx(b),
            dst,
            src,
        } => {
            let suffix = if w == Width::W32 { "_32" } else { "" };
            format!("movsx{}{suffix} {dst}, {}", b.bits(), operand(src))
        }
        Insn::Alu {
            width: w,
            op,
            dst,
            src,
        } => format!("{}{} {dst}, {}", alu_name(op), width(w), operand(src)),
        Insn::Neg { width: w, dst } => format!("neg{} {dst}", width(w)),
        Insn::End { kind, bits, dst } => {
            let name = match kind {
                Endian::ToLe => "le",
                Endian::ToBe => "be",
                Endian::Swap => "bswap",
            };
            format!("{name}{} {dst}", bits.bits())
        }
        Insn::Ja { off } => format!("ja {off:+}"),
        Insn::JaLong { imm } => format!("ja32 {imm:+}"),
        Insn::Jmp {
            width: w,
            cond,
            dst,
            src,
            off,
        } => format!(
            "{}{} {dst}, {}, {off:+}",
            cond_name(cond),
            width(w),
            operand(src)
        ),
        Insn::Call { imm } => format!("call {imm}"),
        Insn::CallLocal { imm } => format!("call local {imm:+}"),
        Insn::CallKfunc { imm, off } => format!("call kfunc {imm}, {off}"),
        Insn::Callx { dst } => format!("callx {dst}"),
        Insn::Exit => "exit".into(),
        Insn::Lddw {
            dst,
            kind,
            imm,
            next_imm,
        } => {
            let value = match kind {
                LddwKind::Imm64 => format!("{:#x}", Insn::imm64(imm, next_imm)),
                LddwKind::MapFd => format!("map[fd:{imm}]"),
                LddwKind::MapValue => format!("map[fd:{imm}]+{next_imm}"),
                LddwKind::BtfId => format!("btf_id[{imm}]"),
                LddwKind::Func => format!("subprog[{imm:+}]"),
                LddwKind::MapIdx => format!("map[idx:{imm}]"),
                LddwKind::MapIdxValue => format!("map[idx:{imm}]+{next_imm}"),
            };
            format!("lddw {dst}, {value}")
        }
        Insn::LdAbs { size: s, imm } => format!("ldabs{} {imm}", size(s)),
        Insn::LdInd { size: s, src, imm } => format!("ldind{} {src}, {imm}", size(s)),
        Insn::Ldx {
            size: s,
            sx,
            dst,
            src,
            off,
        } => {
            let sign = if sx { "s" } else { "" };
            format!("ldx{sign}{} {dst}, {}", size(s), mem(src, off))
        }
        Insn::St {
            size: s,
            dst,
            off,
            imm,
        } => format!("st{} {}, {imm}", size(s), mem(dst, off)),
        Insn::Stx {
            size: s,
            dst,
            src,
            off,
        } => format!("stx{} {}, {src}", size(s), mem(dst, off)),
        Insn::Atomic {
            size: s,
            op,
            dst,
            src,
            off,
        } => {
            let bits = if s == Size::DW { "64" } else { "32" };
            format!("{}{bits} {}, {src}", atomic_name(op), mem(dst, off))
        }
    }
}

/// Instructions `arbitrary::insn` leaves out: calls, `callx`, `exit`, pseudo `lddw`s.
fn calls_and_pseudo_loads() -> impl Strategy<Value = Insn> {
    let kinds = prop::sample::select(vec![
        LddwKind::Imm64,
        LddwKind::MapFd,
        LddwKind::MapValue,
        LddwKind::BtfId,
        LddwKind::Func,
        LddwKind::MapIdx,
        LddwKind::MapIdxValue,
    ]);
    let lddw = (arbitrary::writable_reg(), kinds, any::<i32>(), any::<i32>()).prop_map(
        |(dst, kind, imm, next)| {
            // Only plain constants and map values use the second immediate.
            let carries_next = matches!(
                kind,
                LddwKind::Imm64 | LddwKind::MapValue | LddwKind::MapIdxValue
            );
            Insn::Lddw {
                dst,
                kind,
                imm,
                next_imm: if carries_next { next } else { 0 },
            }
        },
    );
    prop_oneof![
        any::<i32>().prop_map(|imm| Insn::Call { imm }),
        any::<i32>().prop_map(|imm| Insn::CallLocal { imm }),
        (any::<i32>(), any::<i16>()).prop_map(|(imm, off)| Insn::CallKfunc { imm, off }),
        arbitrary::reg().prop_map(|dst| Insn::Callx { dst }),
        Just(Insn::Exit),
        lddw,
    ]
}

proptest! {
    #[test]
    fn every_instruction_assembles_back_from_mnemonic_syntax(
        insn in prop_oneof![3 => arbitrary::insn(), 1 => calls_and_pseudo_loads()]
    ) {
        let text = print(&insn);
        let back = assemble(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, vec![insn], "{}", text);
    }
}
