//! Embedders add their own helpers and maps through the options.

use bpfkit_isa::assemble;
use bpfkit_verifier::{
    verify, Arg, ErrorKind, HelperProto, MapSpec, ProgType, Ret, VerifierOptions,
};

/// `u64 checksum(const void *buf, u32 len)`, helper number 1000.
const CHECKSUM: HelperProto = HelperProto {
    id: 1000,
    name: "checksum",
    args: [Arg::Mem, Arg::ConstSize, Arg::None, Arg::None, Arg::None],
    ret: Ret::Integer,
    changes_packet: false,
};

fn opts(helpers: Vec<HelperProto>) -> VerifierOptions {
    VerifierOptions {
        helpers,
        ..VerifierOptions::default()
    }
}

#[test]
fn a_custom_helper_is_checked_against_its_prototype() {
    let ok = assemble(
        "*(u64 *)(r10 - 16) = 0
         *(u64 *)(r10 - 8) = 0
         r1 = r10
         r1 += -16
         r2 = 16
         call 1000
         exit",
    )
    .unwrap();
    verify(&ok, &ProgType::MEMORY, &opts(vec![CHECKSUM])).unwrap();
    // Only 8 of the 16 bytes are written.
    let uninit = assemble(
        "*(u64 *)(r10 - 8) = 0
         r1 = r10
         r1 += -16
         r2 = 16
         call 1000
         exit",
    )
    .unwrap();
    let err = verify(&uninit, &ProgType::MEMORY, &opts(vec![CHECKSUM])).unwrap_err();
    assert!(
        matches!(
            err.kind,
            ErrorKind::ArgUninitStack {
                off: -16,
                size: 16,
                ..
            }
        ),
        "{err}"
    );
    // Without the prototype the number means nothing.
    let err = verify(&ok, &ProgType::MEMORY, &opts(vec![])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownHelper { id: 1000 });
}

#[test]
fn an_inconsistent_prototype_is_an_error_not_a_panic() {
    let lookup_without_map = HelperProto {
        id: 1001,
        name: "broken",
        args: [Arg::MapKey, Arg::None, Arg::None, Arg::None, Arg::None],
        ret: Ret::MapValueOrNull,
        changes_packet: false,
    };
    let prog = assemble("r1 = r10\ncall 1001\nr0 = 0\nexit").unwrap();
    let err = verify(&prog, &ProgType::MEMORY, &opts(vec![lookup_without_map])).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Unsupported(_)), "{err}");
}

#[test]
fn maps_are_described_by_the_embedder() {
    let prog = assemble(
        "r1 = 0
         *(u32 *)(r10 - 4) = r1
         r2 = r10
         r2 += -4
         r1 = map[fd:7]
         call 1
         if r0 == 0 goto out
         r0 = *(u32 *)(r0 + 12)
         exit
     out:
         r0 = 0
         exit",
    )
    .unwrap();
    let map = |value_size| MapSpec {
        fd: Some(7),
        map_type: 2,
        key_size: 4,
        value_size,
        max_entries: 1,
        inner: None,
    };
    let with = |value_size| VerifierOptions {
        maps: vec![map(value_size)],
        ..VerifierOptions::default()
    };
    // A 16-byte value has bytes 12..16; an 8-byte one does not.
    verify(&prog, &ProgType::XDP, &with(16)).unwrap();
    let err = verify(&prog, &ProgType::XDP, &with(8)).unwrap_err();
    assert_eq!(err.pc, 8);
    assert!(matches!(
        err.kind,
        ErrorKind::MapValueOutOfRange { value_size: 8, .. }
    ));
}
