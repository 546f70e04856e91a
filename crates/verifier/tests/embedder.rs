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
        ..MapSpec::default()
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

/// `long repeat(u32 n, callback, void *ctx)`, helper number 1002: calls the callback up to
/// n times, like `bpf_loop`.
const REPEAT: HelperProto = HelperProto {
    id: 1002,
    name: "repeat",
    args: [
        Arg::Anything,
        Arg::Func,
        Arg::StackOrNull,
        Arg::None,
        Arg::None,
    ],
    ret: Ret::Integer,
    changes_packet: false,
};

#[test]
fn a_custom_helper_with_a_callback_runs_it_any_number_of_times() {
    // The callback counts its runs in the caller's fp-8: the count differs after every
    // run, so the runs converge only once the count is taken as any number; the
    // caller's read of fp-8 is then an unknown number, which it may return.
    let counting = assemble(
        "*(u64 *)(r10 - 8) = 0
         r1 = 100
         r2 = subprog[+6]
         r3 = r10
         r3 += -8
         call 1002
         r0 = *(u64 *)(r10 - 8)
         exit
         r1 = *(u64 *)(r2 + 0)
         r1 += 1
         *(u64 *)(r2 + 0) = r1
         r0 = 0
         exit",
    )
    .unwrap();
    verify(&counting, &ProgType::MEMORY, &opts(vec![REPEAT])).unwrap();
    // The first run writes 1 where it found 0; a second run, finding 1, writes a pointer,
    // which the caller then returns. Verifying the callback once, from the state of the
    // first run, would miss it.
    let second_run = assemble(
        "*(u64 *)(r10 - 8) = 0
         r1 = 2
         r2 = subprog[+6]
         r3 = r10
         r3 += -8
         call 1002
         r0 = *(u64 *)(r10 - 8)
         exit
         r1 = *(u64 *)(r2 + 0)
         if r1 == 0 goto first
         *(u64 *)(r2 + 0) = r2
         r0 = 0
         exit
     first:
         r1 = 1
         *(u64 *)(r2 + 0) = r1
         r0 = 0
         exit",
    )
    .unwrap();
    let err = verify(&second_run, &ProgType::MEMORY, &opts(vec![REPEAT])).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::ReturnsPointer { .. }),
        "{err}"
    );
}
