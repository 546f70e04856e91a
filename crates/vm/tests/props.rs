//! Whatever the bytecode, the interpreter returns a value or an error: no panic, no access
//! outside the run's regions (a stray access would crash or be caught by the allocator).

use bpfkit_isa::arbitrary::program;
use bpfkit_vm::{Fault, Helpers, Interpreter};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn random_programs_never_panic(
        insns in program(48),
        mut mem in prop::collection::vec(any::<u8>(), 0..96),
    ) {
        let mut helpers = Helpers::new();
        helpers.register(1, "first_arg", |_, a| Ok(a[0]));
        let Ok(mut vm) = Interpreter::new(&insns, &helpers) else {
            // Refused before running (e.g. a write to r10): also fine.
            return Ok(());
        };
        vm.set_budget(10_000);
        let before = mem.len();
        match vm.run_mem(&mut mem) {
            Ok(out) => prop_assert!(out.insns <= 10_000 + insns.len() as u64 * 8),
            Err(e) => {
                let n: usize = insns.iter().map(|i| i.slots()).sum();
                prop_assert!(e.pc <= n, "fault at {} beyond program of {} slots", e.pc, n);
                let helper_failed = matches!(e.fault, Fault::Helper { .. });
                prop_assert!(!helper_failed, "the helper never fails: {}", e);
            }
        }
        prop_assert_eq!(mem.len(), before);
    }
}
