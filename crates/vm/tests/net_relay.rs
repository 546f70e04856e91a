//! Every run of a packet program starts from the packet as its input gives it: its
//! bytes, its bounds, its context, whatever the run before did to them (bpfkit's
//! `--repeat` semantics, see `PacketProgram::run_repeated`), for repeated runs of one
//! packet and for the packets of a capture, of different lengths, one after the other,
//! with the interpreter and the JIT. Expected values are derived by hand next to each
//! program: a run that saw what an earlier run left would give another verdict or other
//! output bytes.

use bpfkit_isa::{assemble, Insn};
use bpfkit_jit::JitProgram;
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::net::{
    self, ConvertedProgram, PacketInput, PacketKind, PacketOutcome, PacketProgram,
};
use bpfkit_vm::{Engine, Helpers, Interpreter};

/// `text` as a `kind` program whose instructions at `ctx_slots` access the context.
fn program<E: Engine>(
    kind: PacketKind,
    text: &str,
    ctx_slots: &[usize],
    build: fn(&[Insn], &Helpers) -> E,
) -> PacketProgram<E> {
    let insns = assemble(text).unwrap();
    let converted = ConvertedProgram::new(&insns, kind, |pc| ctx_slots.contains(&pc)).unwrap();
    let runtime = Runtime::default();
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    net::register(&mut helpers, kind, &runtime);
    PacketProgram::new(&converted, runtime.maps.clone(), |insns| {
        Ok::<_, ()>(build(insns, &helpers))
    })
    .unwrap()
}

fn interp(insns: &[Insn], helpers: &Helpers) -> Interpreter {
    Interpreter::new(insns, helpers).unwrap()
}

fn jit(insns: &[Insn], helpers: &Helpers) -> JitProgram {
    JitProgram::new(insns, helpers).unwrap()
}

/// Runs `check` with `text` built by each engine.
fn both(kind: PacketKind, text: &str, ctx_slots: &[usize], check: impl Fn(&str, Runner<'_>)) {
    let mut i = program(kind, text, ctx_slots, interp);
    check("interpreter", &mut |input, n| run(&mut i, input, n));
    let mut j = program(kind, text, ctx_slots, jit);
    check("jit", &mut |input, n| run(&mut j, input, n));
}

type Runner<'a> = &'a mut dyn FnMut(&PacketInput<'_>, u64) -> (PacketOutcome, Option<u32>);

/// The last of `n` runs on `input`, and the skb's mark after it for the skb kinds.
fn run<E: Engine>(
    p: &mut PacketProgram<E>,
    input: &PacketInput<'_>,
    n: u64,
) -> (PacketOutcome, Option<u32>) {
    let out = p.run_repeated(input, n).unwrap().to_owned();
    (out, p.skb().map(|skb| skb.mark))
}

/// 64 bytes: 2, then 1, 2, .., 63.
fn frame() -> Vec<u8> {
    let mut f: Vec<u8> = (0..64).collect();
    f[0] = 2;
    f
}

/// Runs `text` (as `both` does) on `packet` `n` times for each `n` of `repeats`: the last
/// run's verdict, output bytes and skb mark (`None` for XDP) are `want` whatever `n`.
fn every_repeat_gives(
    kind: PacketKind,
    text: &str,
    ctx_slots: &[usize],
    packet: &[u8],
    repeats: &[u64],
    want: (u64, &[u8], Option<u32>),
) {
    both(kind, text, ctx_slots, |engine, run| {
        for &n in repeats {
            let (out, mark) = run(&PacketInput::new(packet), n);
            assert_eq!(
                (out.retval, &out.data_out[..], mark),
                want,
                "{engine}, {n} runs"
            );
        }
    });
}

/// XDP: returns the packet's first byte and adds 0x10 to it.
const STORE: &str = "
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 1
    if r4 > r3 goto out
    r0 = *(u8 *)(r2 + 0)
    r5 = r0
    r5 += 0x10
    *(u8 *)(r2 + 0) = r5
    exit
out:
    r0 = 0
    exit
";

#[test]
fn a_packet_store_is_undone_for_the_next_run() {
    let packet = frame();
    // Every run reads 2 and leaves 0x12: a run that saw the last one's store would
    // read 0x12 and leave 0x22.
    let mut expected = packet.clone();
    expected[0] = 0x12;
    every_repeat_gives(
        PacketKind::Xdp,
        STORE,
        &[0, 1],
        &packet,
        &[1, 2, 5],
        (2, &expected, None),
    );
}

#[test]
fn a_moved_head_finds_zeroed_headroom_on_every_run() {
    // bpf_xdp_adjust_head(ctx, -4); then the new first byte (headroom, zero when the
    // packet is laid out afresh) plus 2 is the verdict, and 0x77 is stored there. Every
    // run: verdict 2, output 0x77 0 0 0 and the frame; a run that saw the last one's
    // headroom would return 0x79.
    let text = "
        r6 = r1
        r2 = -4
        call 44
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r2
        r4 += 1
        if r4 > r3 goto out
        r0 = *(u8 *)(r2 + 0)
        *(u8 *)(r2 + 0) = 0x77
        r0 += 2
        exit
    out:
        r0 = 0
        exit
    ";
    let packet = frame();
    let mut expected = vec![0x77, 0, 0, 0];
    expected.extend_from_slice(&packet);
    every_repeat_gives(
        PacketKind::Xdp,
        text,
        &[3, 4],
        &packet,
        &[1, 2, 4],
        (2, &expected, None),
    );
}

#[test]
fn a_shrunk_tail_is_whole_again_on_the_next_run() {
    // bpf_xdp_adjust_tail(ctx, -10), then the verdict is the length (64 - 10 = 54) and
    // the last byte becomes 0xee. A run that saw the last one's packet would have 44.
    let text = "
        r6 = r1
        r2 = -10
        call 65
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r0 = r3
        r0 -= r2
        r4 = r2
        r4 += 1
        if r4 > r3 goto out
        *(u8 *)(r3 - 1) = 0xee
    out:
        exit
    ";
    let packet = frame();
    let mut expected = packet[..54].to_vec();
    expected[53] = 0xee;
    every_repeat_gives(
        PacketKind::Xdp,
        text,
        &[3, 4],
        &packet,
        &[1, 3],
        (54, &expected, None),
    );
}

#[test]
fn a_context_write_is_undone_for_the_next_run() {
    // tc: skb->mark += 1 and the packet's first byte += 1; the verdict is the mark. The
    // mark starts at 0 and the byte at 2 on every run: mark 1, byte 3 after any number.
    let text = "
        r2 = *(u32 *)(r1 + 8)
        r2 += 1
        *(u32 *)(r1 + 8) = r2
        r3 = *(u32 *)(r1 + 76)
        r4 = *(u32 *)(r1 + 80)
        r5 = r3
        r5 += 1
        if r5 > r4 goto out
        r5 = *(u8 *)(r3 + 0)
        r5 += 1
        *(u8 *)(r3 + 0) = r5
    out:
        r0 = r2
        exit
    ";
    let packet = frame();
    let mut expected = packet.clone();
    expected[0] = 3;
    every_repeat_gives(
        PacketKind::SchedCls,
        text,
        &[0, 2, 3, 4],
        &packet,
        &[1, 2, 3],
        (1, &expected, Some(1)),
    );
}

#[test]
fn packets_of_different_lengths_each_see_only_their_own_bytes() {
    // STORE on packets of 64, 14, 100, 60, 1500 and 20 bytes, each filled with its own
    // byte after a first byte of 2, run 1 and 3 times, one after the other; then as a
    // packet with 4 bytes of metadata in front (xdp_md.data = 4, data_end = the input's
    // length), where the packet's
    // first byte is the fifth of the input. Each outcome: verdict 2, the input with that
    // byte made 0x12, of the input's length.
    let lens = [64usize, 14, 100, 60, 1500, 20];
    let packets: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let mut p = vec![0xa0 + i as u8; len];
            p[0] = 2;
            p
        })
        .collect();
    both(PacketKind::Xdp, STORE, &[0, 1], |engine, run| {
        for n in [1, 3] {
            for p in &packets {
                let (out, _) = run(&PacketInput::new(p), n);
                let mut expected = p.clone();
                expected[0] = 0x12;
                assert_eq!(
                    (out.retval, out.data_out),
                    (2, expected),
                    "{engine}, {n} runs"
                );
            }
            for p in packets.iter().filter(|p| p.len() >= 18) {
                let mut with_meta = vec![9, 9, 9, 9];
                with_meta.extend_from_slice(p);
                let mut md = [0u8; 24];
                md[..4].copy_from_slice(&4u32.to_ne_bytes());
                md[4..8].copy_from_slice(&(with_meta.len() as u32).to_ne_bytes());
                let input = PacketInput {
                    ctx: Some(&md),
                    ..PacketInput::new(&with_meta)
                };
                let (out, _) = run(&input, n);
                let mut expected = with_meta.clone();
                expected[4] = 0x12;
                assert_eq!(
                    (out.retval, out.data_out),
                    (2, expected),
                    "{engine}, {n} runs, metadata"
                );
            }
        }
    });
}
