//! The native builds compute what fixtures/expected.txt (the Python reference) says.

use std::path::PathBuf;

#[test]
fn native_fixtures_return_the_expected_values() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let mut checked = 0;
    for line in expected.lines() {
        let [name, input, value] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            panic!("malformed line in expected.txt: {line:?}");
        };
        let want = u64::from_str_radix(value.trim_start_matches("0x"), 16).unwrap();
        let mut mem = std::fs::read(dir.join(input)).unwrap();
        let got = bpfkit_fixtures_native::run(name, &mut mem).expect("a native fixture");
        assert_eq!(got, want, "{name} on {input}");
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} runs");
}
