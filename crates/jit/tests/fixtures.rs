//! Every fixture's memory program, compiled, returns the value in fixtures/expected.txt on
//! every sample input (values from fixtures/reference.py, a model of the C sources, checked
//! against the kernel), and agrees with the interpreter on memory and instruction count.

mod common;

use bpfkit_vm::Helpers;

#[test]
fn fixtures_return_the_expected_values() {
    let runs = bpfkit_fixtures::expected();
    assert!(runs.len() >= 30, "only {} reference values", runs.len());
    for run in runs {
        let insns = bpfkit_fixtures::mem_program(&run.name);
        let (result, _) = common::run_both(&insns, &run.input_bytes(), &Helpers::new(), u64::MAX)
            .unwrap_or_else(|e| panic!("{} rejected: {e}", run.name));
        let out = result.unwrap_or_else(|e| panic!("{} on {}: {e}", run.name, run.input));
        assert_eq!(out.r0, run.value, "{} on {}", run.name, run.input);
    }
}
