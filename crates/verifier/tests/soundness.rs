//! Soundness: a program the verifier accepts never faults in the checked interpreter.
//! Random programs (with their registers given random constants first, so that more of
//! them get past the uninitialized-register rule) are verified as bpfkit's 'memory'
//! type; the accepted ones run on random buffers and must finish without a fault. About
//! one in twelve is accepted; the budget of processed instructions is lowered so that
//! the occasional long loop is given up on quickly.

use bpfkit_isa::{arbitrary, AluOp, Insn, Operand, Reg, Width};
use bpfkit_verifier::{verify, ProgType, VerifierOptions};
use bpfkit_vm::{Helpers, Interpreter};
use proptest::prelude::*;

/// `r0`, `r3`..`r9` set to constants; r1 (buffer) and r2 (length) kept.
fn prologue(values: &[i32]) -> Vec<Insn> {
    [0u8, 3, 4, 5, 6, 7, 8, 9]
        .iter()
        .zip(values)
        .map(|(&r, &v)| Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::new(r).expect("a register"),
            src: Operand::Imm(v),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn accepted_programs_never_fault(
        values in prop::collection::vec(arbitrary::imm(), 8),
        body in arbitrary::program(24),
        inputs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..48), 1..4),
    ) {
        let mut prog = prologue(&values);
        prog.extend(body);
        let opts = VerifierOptions { max_insns: 20_000, ..VerifierOptions::default() };
        if verify(&prog, &ProgType::MEMORY, &opts).is_ok() {
            let mut vm = Interpreter::new(&prog, &Helpers::new()).expect("accepted programs prepare");
            vm.set_budget(10_000_000);
            for mut input in inputs {
                let result = vm.run_mem(&mut input);
                prop_assert!(result.is_ok(), "{:?} on {} bytes: {:?}", prog, input.len(), result);
            }
        }
    }

    /// Whatever the program, verification ends with a verdict, for every program type.
    #[test]
    fn verification_never_panics(body in arbitrary::program(32), which in 0..ProgType::ALL.len()) {
        let opts = VerifierOptions { max_insns: 20_000, ..VerifierOptions::default() };
        let _ = verify(&body, &ProgType::ALL[which], &opts);
    }
}
