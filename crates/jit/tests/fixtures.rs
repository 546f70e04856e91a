//! Every fixture's memory program, compiled, returns the value in fixtures/expected.txt on
//! every sample input (values from fixtures/reference.py, a model of the C sources, checked
//! against the kernel), and agrees with the interpreter on memory and instruction count.

mod common;

use bpfkit_object::Object;
use bpfkit_vm::Helpers;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[test]
fn fixtures_return_the_expected_values() {
    let expected = std::fs::read_to_string(fixtures().join("expected.txt")).unwrap();
    let mut checked = 0;
    for line in expected.lines() {
        let [name, input, value] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            panic!("malformed line in expected.txt: {line:?}");
        };
        let want = u64::from_str_radix(value.trim_start_matches("0x"), 16).unwrap();
        let bytes = std::fs::read(fixtures().join(format!("{name}.o"))).unwrap();
        let object = Object::parse(&bytes).unwrap();
        let insns = object
            .program(&format!("{name}_mem"))
            .unwrap()
            .insns()
            .unwrap();
        let mem = std::fs::read(fixtures().join(input)).unwrap();
        let (result, _) = common::run_both(&insns, &mem, &Helpers::new(), u64::MAX)
            .unwrap_or_else(|e| panic!("{name} rejected: {e}"));
        let out = result.unwrap_or_else(|e| panic!("{name} on {input}: {e}"));
        assert_eq!(out.r0, want, "{name} on {input}");
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} fixture runs found");
}
