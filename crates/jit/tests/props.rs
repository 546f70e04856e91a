//! Random programs on random memory: the JIT (with and without blinding) and the
//! interpreter give the same r0, instruction count, memory and errors. More cases with
//! `PROPTEST_CASES=100000`.

mod common;

use bpfkit_isa::arbitrary::program;
use bpfkit_isa::Insn;
use bpfkit_vm::{HelperError, Helpers};
use proptest::prelude::*;

fn helpers() -> Helpers {
    let mut h = Helpers::new();
    h.register(1, "first_arg", |_, a| Ok(a[0]));
    // Reads 8 bytes at r1 through the checked memory: faults like a load would.
    h.register(2, "read_u64", |ctx, a| {
        let b = ctx.memory.slice(a[0], 8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap()))
    });
    h.register(3, "fail_on_odd", |_, a| {
        if a[0] & 1 == 1 {
            Err(HelperError::Failed("odd".into()))
        } else {
            Ok(a[0] ^ a[1])
        }
    });
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000)
    ))]

    #[test]
    fn jit_matches_interpreter(
        insns in program(48),
        mem in prop::collection::vec(any::<u8>(), 0..96),
    ) {
        let insns: Vec<Insn> = insns.into_iter().map(common::hide_frame_pointer).collect();
        let _ = common::run_both(&insns, &mem, &helpers(), 10_000);
    }
}
