//! What a rejection tells, and what an acceptance hands to engines.

use bpfkit_isa::{assemble, Reg};
use bpfkit_verifier::{verify, ErrorKind, ProgType, Region, VerifierOptions};

fn xdp(text: &str) -> Result<bpfkit_verifier::Verified, Box<bpfkit_verifier::Rejection>> {
    verify(
        &assemble(text).unwrap(),
        &ProgType::XDP,
        &VerifierOptions::default(),
    )
}

#[test]
fn the_slice_keeps_only_what_produced_the_offending_state() {
    // r2 comes from slot 0, is moved at 4 and checked (too short) at 7; r6, r7 and r0
    // have nothing to do with the access at 9.
    let err = xdp("
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r6 = 1
        r7 = r6
        r2 += 2
        r4 = r2
        r4 += 4
        if r4 > r3 goto out
        r0 = 0
        r0 = *(u32 *)(r2 + 2)
        exit
    out:
        r0 = 0
        exit")
    .unwrap_err();
    assert_eq!(err.pc, 9);
    assert_eq!(
        err.kind,
        ErrorKind::PacketOutOfRange {
            reg: Reg::R2,
            off: 4,
            size: 4,
            // As the kernel: the range counts from the packet's start, like `off`.
            range: 6,
        }
    );
    let pcs: Vec<usize> = err.slice.iter().map(|s| s.pc).collect();
    assert_eq!(pcs, [0, 1, 4, 5, 6, 7]);
    assert_eq!(err.slice[5].taken, Some(false));
    assert_eq!(err.registers, [(Reg::R2, "pkt(off=2,r=6)".to_string())]);
    let text = err.to_string();
    assert!(
        text.starts_with("rejected at instruction 9: r0 = *(u32 *)(r2 + 0x2)\n"),
        "{text}"
    );
    assert!(
        text.contains("hint: add `if (data + 8 > data_end) return XDP_DROP;`"),
        "{text}"
    );
}

#[test]
fn the_log_traces_every_processed_instruction() {
    let opts = VerifierOptions {
        log: true,
        ..VerifierOptions::default()
    };
    let prog = assemble("r0 = 1\nif r0 == 1 goto +1\nr0 = 2\nexit").unwrap();
    let v = verify(&prog, &ProgType::XDP, &opts).unwrap();
    let log = v.log.unwrap();
    // The branch is decided (r0 is 1), so slot 2 is never processed.
    assert!(log.contains("0: r0 = 0x1"), "{log}");
    assert!(log.contains("1: if r0 == 0x1 goto +0x1"), "{log}");
    assert!(!log.contains("2: r0 = 0x2"), "{log}");
    assert_eq!(v.stats.insns_processed, 3);
}

#[test]
fn facts_name_constants_and_regions() {
    let v = xdp("
        r3 = 4
        r2 = *(u32 *)(r1 + 0)
        r4 = *(u32 *)(r1 + 4)
        r5 = r2
        r5 += r3
        if r5 > r4 goto out
        *(u64 *)(r10 - 8) = r3
        r0 = *(u32 *)(r2 + 0)
        exit
    out:
        r0 = 0
        exit")
    .unwrap();
    assert_eq!(v.facts[4].constant(Reg::R3), Some(4));
    assert_eq!(v.facts[1].access, Some(Region::Ctx));
    assert_eq!(v.facts[6].access, Some(Region::Stack));
    assert_eq!(v.facts[7].access, Some(Region::Packet));
    assert_eq!(v.facts[3].access, None);
    assert_eq!(v.facts[9].visits, 1);
}

#[test]
fn structural_errors_have_no_state() {
    let err = xdp("r0 = 0\nexit\nr0 = 1\nexit").unwrap_err();
    assert_eq!((err.pc, &err.kind), (2, &ErrorKind::Unreachable));
    assert!(err.registers.is_empty() && err.slice.is_empty());
}
