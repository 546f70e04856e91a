//! Every fixture's memory program, run by the interpreter on every sample input, returns
//! the value in fixtures/expected.txt (computed by fixtures/reference.py, a Python model of
//! the C sources, and checked against the kernel running the XDP twins by build.sh).

use bpfkit_vm::{Helpers, Interpreter};

#[test]
fn fixtures_return_the_expected_values() {
    let runs = bpfkit_fixtures::expected();
    assert!(runs.len() >= 30, "only {} reference values", runs.len());
    for run in runs {
        let insns = bpfkit_fixtures::mem_program(&run.name);
        let mut vm = Interpreter::new(&insns, &Helpers::new()).unwrap();
        let out = vm
            .run_mem(&mut run.input_bytes())
            .unwrap_or_else(|e| panic!("{} on {}: {e}", run.name, run.input));
        assert_eq!(out.r0, run.value, "{} on {}", run.name, run.input);
    }
}
