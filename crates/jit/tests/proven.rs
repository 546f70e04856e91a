//! Programs compiled with the verifier's facts (`JitOptions::proven`): the accesses the
//! verifier proved in bounds lose their bounds check, and nothing else does.
//!
//! - Random programs that the verifier accepts as bpfkit's 'memory' type, compiled with
//!   their facts, give the checked interpreter's r0, instruction count, memory and errors.
//!   More cases with `PROPTEST_CASES=100000`.
//! - Every fixture's memory program, verified and compiled with its facts, returns the
//!   reference values of fixtures/expected.txt.
//! - The listing of the generated code shows a check exactly where no fact proves the
//!   access.
//! - An XDP program, verified, converted and run through `PacketProgram`, reads the packet
//!   unchecked after `bpf_xdp_adjust_head` moved it, through pointers read again.

mod common;

use bpfkit_isa::arbitrary;
use bpfkit_isa::{AluOp, Insn, JmpCond, Operand, Reg, Size, Width};
use bpfkit_jit::{JitOptions, JitProgram, ProvenAccesses};
use bpfkit_vm::{Helpers, Interpreter};
use common::verified::verify_memory;
use common::{alu64, alu64i, jmp, ldx, mov, r, EXIT};
use proptest::prelude::*;

/// Compiles `insns` with the accesses `proven` proves emitted unchecked.
fn compile(insns: &[Insn], proven: &ProvenAccesses) -> JitProgram {
    let options = JitOptions {
        proven: Some(proven),
        ..JitOptions::default()
    };
    JitProgram::with_options(insns, &Helpers::new(), options).expect("compiles")
}

/// Constants in r0, r3..r9 (so that fewer programs read an uninitialized register), then
/// `exit` unless the buffer has 64 bytes (so that accesses to its first 64 bytes can be
/// proven), r6 = the buffer + `skew`, r7 = r10 - `depth` with the 32 bytes from r7 - 16
/// zeroed (so that they may be read).
fn prologue(values: &[i32], skew: i32, depth: i32) -> Vec<Insn> {
    let mut insns: Vec<Insn> = [0u8, 3, 4, 5, 6, 8, 9]
        .iter()
        .zip(values)
        .map(|(&n, &v)| mov(n, v))
        .collect();
    insns.extend([
        jmp(JmpCond::Ge, 2, Operand::Imm(64), 1),
        EXIT,
        alu64(AluOp::Mov, 6, 1),
        alu64i(AluOp::Add, 6, skew),
        alu64(AluOp::Mov, 7, 10),
        alu64i(AluOp::Add, 7, -depth),
    ]);
    for off in [-16, -8, 0, 8] {
        insns.push(Insn::St {
            size: Size::DW,
            dst: Reg::R7,
            off,
            imm: 0,
        });
    }
    insns
}

/// A base register and an offset from it: the buffer (r1, r6) from 0 to 64 bytes, the
/// stack (r7) around its zeroed bytes, and now and then anything near them.
fn address() -> impl Strategy<Value = (Reg, i16)> {
    prop_oneof![
        4 => (prop::sample::select(vec![Reg::R1, Reg::R6]), 0i16..56),
        4 => (Just(Reg::R7), -16i16..16),
        1 => (prop::sample::select(vec![Reg::R1, Reg::R6, Reg::R7]), -32i16..96),
    ]
}

/// Memory accesses through [`address`], mixed into random programs to make proven
/// accesses common.
fn access() -> impl Strategy<Value = Insn> {
    let size = prop::sample::select(vec![Size::B, Size::H, Size::W, Size::DW]);
    let value = prop::sample::select(vec![Reg::R0, Reg::R3, Reg::R4, Reg::R5, Reg::R9]);
    prop_oneof![
        (size.clone(), value.clone(), address()).prop_map(|(size, dst, (src, off))| {
            Insn::Ldx {
                size,
                sx: false,
                dst,
                src,
                off,
            }
        }),
        (size.clone(), address(), value.clone()).prop_map(|(size, (dst, off), src)| {
            Insn::Stx {
                size,
                dst,
                src,
                off,
            }
        }),
        (size, address(), any::<i32>()).prop_map(|(size, (dst, off), imm)| Insn::St {
            size,
            dst,
            off,
            imm,
        }),
        (any::<bool>(), value, -16i16..16).prop_map(|(wide, src, off)| Insn::Atomic {
            size: if wide { Size::DW } else { Size::W },
            op: bpfkit_isa::AtomicOp::Add { fetch: false },
            dst: Reg::R7,
            src,
            off: off & !7,
        }),
    ]
}

/// Arithmetic on r0, r3..r5, r8, r9 (r6 and r7 now and then: the buffer and stack
/// pointers, which pointer arithmetic moves and other operations make numbers of).
fn arithmetic() -> impl Strategy<Value = Insn> {
    let op = prop::sample::select(vec![
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ]);
    let dst = prop::sample::select(vec![0u8, 3, 4, 5, 8, 9, 0, 3, 4, 5, 8, 9, 6, 7]);
    let src = prop_oneof![
        prop::sample::select(vec![0u8, 3, 4, 5, 8, 9]).prop_map(|n| Operand::Reg(r(n))),
        (-16i32..64).prop_map(Operand::Imm),
        arbitrary::imm().prop_map(Operand::Imm),
    ];
    (any::<bool>(), op, dst, src).prop_map(|(wide, op, dst, src)| {
        let width = if wide { Width::W64 } else { Width::W32 };
        common::alu(width, op, dst, src)
    })
}

/// A conditional jump forward over up to 3 instructions (cut to the program's end).
fn branch() -> impl Strategy<Value = Insn> {
    let cond = prop::sample::select(vec![
        JmpCond::Eq,
        JmpCond::Ne,
        JmpCond::Gt,
        JmpCond::Lt,
        JmpCond::Sge,
        JmpCond::Set,
    ]);
    let dst = prop::sample::select(vec![0u8, 3, 4, 5, 8, 9]);
    (cond, dst, -8i32..64, 0i16..4)
        .prop_map(|(cond, dst, imm, off)| jmp(cond, dst, Operand::Imm(imm), off))
}

/// Straight-line code with forward branches, mostly memory accesses and arithmetic,
/// then `exit`: shapes the verifier accepts often.
fn body() -> impl Strategy<Value = Vec<Insn>> {
    let step = prop_oneof![4 => access(), 4 => arithmetic(), 1 => branch()];
    prop::collection::vec(step, 1..24).prop_map(|mut insns| {
        let n = insns.len();
        for (i, insn) in insns.iter_mut().enumerate() {
            if let Insn::Jmp { off, .. } = insn {
                // Every instruction is one slot: land at most on the final exit.
                *off = (*off).min((n - 1 - i) as i16);
            }
        }
        insns.push(EXIT);
        insns
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000)
    ))]

    #[test]
    fn accepted_programs_with_facts_match_the_checked_interpreter(
        values in prop::collection::vec(arbitrary::imm(), 7),
        skew in 0i32..16,
        depth in prop::sample::select(vec![24, 64, 256, 488]),
        body in body(),
        inputs in prop::collection::vec(prop::collection::vec(any::<u8>(), 56..96), 1..3),
    ) {
        let mut insns = prologue(&values, skew, depth);
        insns.extend(body);
        let Some(proven) = verify_memory(&insns, 20_000) else {
            return Ok(());
        };
        let Ok(mut interp) = Interpreter::new(&insns, &Helpers::new()) else {
            // A helper the 'memory' type allows but these tests do not register.
            return Ok(());
        };
        let mut jit = compile(&insns, &proven);
        interp.set_budget(100_000);
        jit.set_budget(100_000);
        for input in inputs {
            // One buffer for both runs: pointers into it are the same numbers.
            let mut buf = input.clone();
            let expected = interp.run_mem(&mut buf);
            let after = buf.clone();
            buf.copy_from_slice(&input);
            let got = jit.run_mem(&mut buf);
            prop_assert_eq!(
                common::rebase(&expected, &buf),
                common::rebase(&got, &buf),
                "{:?} on {:?}", insns, input
            );
            prop_assert_eq!(&after, &buf, "memory after {:?}", insns);
        }
    }
}

#[test]
fn fixtures_with_facts_return_the_expected_values() {
    let mut unchecked = 0;
    for run in bpfkit_fixtures::expected() {
        let insns = bpfkit_fixtures::mem_program(&run.name);
        let proven = verify_memory(&insns, bpfkit_verifier::COMPLEXITY_LIMIT)
            .unwrap_or_else(|| panic!("{} is rejected as a memory program", run.name));
        let mut jit = compile(&insns, &proven);
        unchecked += jit.unchecked_accesses();
        let mut input = run.input_bytes();
        let out = jit
            .run_mem(&mut input)
            .unwrap_or_else(|e| panic!("{} on {}: {e}", run.name, run.input));
        assert_eq!(out.r0, run.value, "{} on {}", run.name, run.input);
        let mut input = run.input_bytes();
        let interp = Interpreter::new(&insns, &Helpers::new())
            .expect("prepares")
            .run_mem(&mut input);
        assert_eq!(interp.map(|o| o.insns), Ok(out.insns), "{}", run.name);
    }
    assert!(unchecked > 0, "no fixture access was emitted unchecked");
}

/// The host instructions listed under BPF instruction `pc`.
fn code_of(jit: &JitProgram, pc: usize) -> Vec<String> {
    let listing = jit.disasm_jited();
    let title = format!("; {pc}: ");
    listing
        .lines()
        .skip_while(|l| !l.starts_with(&title))
        .skip(1)
        .take_while(|l| !l.starts_with(';'))
        .map(str::to_owned)
        .collect()
}

/// Whether host code contains the inline bounds check (a `cmp` of the address's offset
/// against a fast region's bound, then a jump to the slow path).
fn has_check(code: &[String]) -> bool {
    code.iter().any(|l| l.contains("cmp"))
}

#[test]
fn only_proven_accesses_lose_their_check() {
    // r0 = 0; if r2 < 8 goto exit; r3 = r1 (the buffer) or r10 - 8 (the stack), on
    // whether the first byte is zero; r0 = *(u64 *)(r1 + 0) (proven: the packet);
    // *(u64 *)(r10 - 8) = r0 (inside the frame: never checked); r4 = *(u8 *)(r3 + 0)
    // (in bounds on both paths, but of two regions: not proven).
    let insns = [
        mov(0, 0),
        jmp(JmpCond::Lt, 2, Operand::Imm(8), 9),
        ldx(Size::DW, 0, 1, 0),
        Insn::Stx {
            size: Size::DW,
            dst: Reg::R10,
            src: Reg::R0,
            off: -8,
        },
        alu64(AluOp::Mov, 3, 1),
        ldx(Size::B, 4, 1, 0),
        jmp(JmpCond::Eq, 4, Operand::Imm(0), 2),
        alu64(AluOp::Mov, 3, 10),
        alu64i(AluOp::Add, 3, -8),
        ldx(Size::B, 4, 3, 0),
        alu(4),
        EXIT,
    ];
    let proven = verify_memory(&insns, 10_000).expect("accepted");
    let jit = compile(&insns, &proven);
    let checked = JitProgram::new(&insns, &Helpers::new()).expect("compiles");
    // Slot 2: proven against the length; slot 5 likewise; slot 9: two regions.
    for pc in [2, 5] {
        assert!(!has_check(&code_of(&jit, pc)), "{pc} unchecked with facts");
        assert!(has_check(&code_of(&checked, pc)), "{pc} checked without");
    }
    assert!(
        has_check(&code_of(&jit, 9)),
        "a mixed access keeps its check"
    );
    assert!(
        !has_check(&code_of(&checked, 3)),
        "r10 - 8 is never checked"
    );
    assert_eq!(jit.unchecked_accesses(), 2);
    assert_eq!(checked.unchecked_accesses(), 0);
    // Facts about other instructions are not used.
    let other = verify_memory(&insns[..3], 10_000);
    assert!(other.is_none(), "a program without its exit is rejected");
    let mut shorter = insns.to_vec();
    shorter[0] = mov(0, 1);
    let misapplied = compile(&shorter, &proven);
    assert_eq!(misapplied.unchecked_accesses(), 0);
    assert!(has_check(&code_of(&misapplied, 2)));
}

/// r0 += r4, keeping the test's program readable.
fn alu(src: u8) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Add,
        dst: Reg::R0,
        src: Operand::Reg(r(src)),
    }
}

#[test]
fn packet_accesses_after_a_helper_moved_the_packet_are_proven_again() {
    use bpfkit_verifier::{verify, ProgType, Region, VerifierOptions};
    use bpfkit_vm::helpers::linux::Runtime;
    use bpfkit_vm::net::{self, ConvertedProgram, PacketInput, PacketKind, PacketProgram};
    use bpfkit_vm::Engine;
    // XDP: bpf_xdp_adjust_head(ctx, 14) drops the Ethernet header; on failure r0 = 0xffff;
    // then data and data_end are read again, and r0 = the first two bytes of the moved
    // packet (little-endian) if it has two, else 0xffff.
    let prog = [
        alu64(AluOp::Mov, 6, 1),
        mov(2, 14),
        Insn::Call { imm: 44 },
        jmp(JmpCond::Ne, 0, Operand::Imm(0), 7),
        ldx(Size::W, 2, 6, 0),
        ldx(Size::W, 3, 6, 4),
        alu64(AluOp::Mov, 4, 2),
        alu64i(AluOp::Add, 4, 2),
        common::jmp(JmpCond::Gt, 4, Operand::Reg(r(3)), 2),
        ldx(Size::H, 0, 2, 0),
        EXIT,
        mov(0, 0xffff),
        EXIT,
    ];
    let verified =
        verify(&prog, &ProgType::XDP, &VerifierOptions::default()).expect("accepted as xdp");
    let converted = ConvertedProgram::new(&prog, PacketKind::Xdp, |pc| {
        verified.facts[pc].access == Some(Region::Ctx)
    })
    .expect("converts");
    let proven = common::verified::proven(converted.insns(), &verified);
    let runtime = Runtime::default();
    let mut helpers = Helpers::new();
    net::register(&mut helpers, PacketKind::Xdp, &runtime);
    let jit = JitProgram::with_options(
        converted.insns(),
        &helpers,
        JitOptions {
            proven: Some(&proven),
            ..JitOptions::default()
        },
    )
    .expect("compiles");
    // Only the load through the packet pointer read after the helper: the context reads
    // keep their checks.
    assert_eq!(jit.unchecked_accesses(), 1);
    let interp = Interpreter::new(converted.insns(), &helpers).expect("prepares");
    let run = |engine: Box<dyn Engine>, packet: &[u8]| {
        let mut p = PacketProgram::new(&converted, runtime.maps.clone(), |_| Ok::<_, ()>(engine))
            .expect("builds");
        p.run(&PacketInput::new(packet))
            .map(|o| (o.retval, o.data_out))
    };
    let long: Vec<u8> = (0..64).collect();
    // Bytes 14 and 15 of the input.
    let expected = Ok((0x0f0e, long[14..].to_vec()));
    assert_eq!(run(Box::new(jit.clone()), &long), expected);
    assert_eq!(run(Box::new(interp.clone()), &long), expected);
    // 20 bytes: dropping 14 would leave less than an Ethernet header, so the helper
    // fails (as the kernel's bpf_xdp_adjust_head) and the packet stays as it is.
    let short: Vec<u8> = (0..20).collect();
    let expected = Ok((0xffff, short.clone()));
    assert_eq!(run(Box::new(jit), &short), expected);
    assert_eq!(run(Box::new(interp), &short), expected);
}
