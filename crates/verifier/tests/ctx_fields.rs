//! Every context access the packet program types can make, compared with the kernel: for
//! each type with a context (`xdp`, `socket_filter`, `sched_cls`, `sched_act`,
//! `cgroup_skb`), each offset from 0 to 8 bytes past the structure's end, each size 1,
//! 2, 4 and 8, and each of a load, a sign-extending load, a register store, an immediate
//! store and an atomic add, bpfkit must accept the one-access program exactly when the
//! kernel does (the kernel's `*_is_valid_access` functions decide; the expected verdicts
//! are the running kernel's, not bpfkit's).

mod common;

use bpfkit_isa::{assemble, encode_program};
use bpfkit_verifier::progtype::Entry;
use bpfkit_verifier::{verify, ProgType, VerifierOptions};

/// An access's assembly for `bits` bits at offset `off` from the context.
type Text = fn(u32, i64) -> String;

/// The access forms and how each one is written.
const ACCESSES: [(&str, Text); 5] = [
    ("load", |bits, off| {
        format!("r0 = *(u{bits} *)(r1 + {off})\nr0 = 0\nexit")
    }),
    ("sign-extending load", |bits, off| {
        format!("r0 = *(s{bits} *)(r1 + {off})\nr0 = 0\nexit")
    }),
    ("register store", |bits, off| {
        format!("r2 = 0\n*(u{bits} *)(r1 + {off}) = r2\nr0 = 0\nexit")
    }),
    ("immediate store", |bits, off| {
        format!("*(u{bits} *)(r1 + {off}) = 0\nr0 = 0\nexit")
    }),
    ("atomic add", |bits, off| {
        format!("r2 = 1\nlock *(u{bits} *)(r1 + {off}) += r2\nr0 = 0\nexit")
    }),
];

#[test]
fn context_accesses_match_the_kernel() {
    if let Err(why) = bpfkit_kernel::available() {
        println!("skipped: this process may not load BPF programs ({why})");
        return;
    }
    let types = [
        "xdp",
        "socket_filter",
        "sched_cls",
        "sched_act",
        "cgroup_skb",
    ];
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for name in types {
        let prog_type = ProgType::by_name(name).expect("a bpfkit type");
        let kernel_type = common::kernel_type(name).expect("a type the kernel loads");
        let Entry::Context(ctx) = prog_type.entry else {
            panic!("{name} has a context");
        };
        for off in 0..ctx.size as i64 + 8 {
            for bits in [8, 16, 32, 64] {
                for (what, text) in ACCESSES {
                    // There is no 8-byte sign-extending load, and atomics are 4 or 8
                    // bytes wide.
                    if (bits == 64 && what == "sign-extending load")
                        || (bits < 32 && what == "atomic add")
                    {
                        continue;
                    }
                    let insns = assemble(&text(bits, off)).expect("assembles");
                    let ours = verify(&insns, prog_type, &VerifierOptions::default());
                    let kernel = bpfkit_kernel::Program::load(
                        kernel_type,
                        &encode_program(&insns),
                        "GPL",
                        "ctx_access",
                    );
                    let kernel = match kernel {
                        Ok(_) => Ok(()),
                        Err(bpfkit_kernel::KernelError::Rejected { log, .. }) => Err(log),
                        Err(e) => panic!("{name}: {e}"),
                    };
                    compared += 1;
                    let access = format!("{name}: {what} of {} bytes at {off}", bits / 8);
                    match (ours, kernel) {
                        (Ok(_), Ok(())) | (Err(_), Err(_)) => {}
                        (Ok(_), Err(log)) => mismatches.push(format!(
                            "{access}: bpfkit accepts, the kernel rejects: {}",
                            log.lines().rev().nth(1).unwrap_or_default()
                        )),
                        (Err(e), Ok(())) => mismatches.push(format!(
                            "{access}: the kernel accepts, bpfkit rejects: {}",
                            e.kind.kernel_message()
                        )),
                    }
                }
            }
        }
    }
    println!("{compared} context accesses compared with the kernel");
    assert!(
        mismatches.is_empty(),
        "{} of {compared} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The socket `__sk_buff.sk` points to, once null-checked: every load of 1, 2, 4 and 8
/// bytes at every offset of `struct bpf_sock` (and 8 bytes past it) and a store of each
/// size at each field's start, from tc and from a socket filter. bpfkit must agree with
/// the kernel, except on the one read it refuses on purpose (see `BPF_SOCK_COMMON`): the
/// single byte at 49, `dst_port`'s second.
#[test]
fn socket_accesses_match_the_kernel() {
    if let Err(why) = bpfkit_kernel::available() {
        println!("skipped: this process may not load BPF programs ({why})");
        return;
    }
    let sock = &bpfkit_verifier::progtype::BPF_SOCK_COMMON;
    let (mut unsound, mut refused) = (Vec::new(), Vec::new());
    let mut stricter = 0;
    let mut compared = 0;
    for name in ["sched_cls", "socket_filter"] {
        let prog_type = ProgType::by_name(name).expect("a bpfkit type");
        let kernel_type = common::kernel_type(name).expect("a type the kernel loads");
        for off in 0..sock.size as i64 + 8 {
            for bits in [8, 16, 32, 64] {
                let load = format!("r0 = *(u{bits} *)(r2 + {off})");
                let store = format!("*(u{bits} *)(r2 + {off}) = r0");
                let stores = sock.fields.iter().any(|f| f.off as i64 == off);
                for access in [Some(load), stores.then_some(store)].into_iter().flatten() {
                    let text = format!(
                        "r2 = *(u64 *)(r1 + 168)\nr0 = 0\nif r2 == 0 goto +1\n{access}\nr0 = 0\nexit"
                    );
                    let insns = assemble(&text).expect("assembles");
                    let ours = verify(&insns, prog_type, &VerifierOptions::default()).is_ok();
                    let kernel = match bpfkit_kernel::Program::load(
                        kernel_type,
                        &encode_program(&insns),
                        "GPL",
                        "sock_access",
                    ) {
                        Ok(_) => true,
                        Err(bpfkit_kernel::KernelError::Rejected { .. }) => false,
                        Err(e) => panic!("{name}: {e}"),
                    };
                    compared += 1;
                    match (ours, kernel) {
                        (true, false) => unsound.push(format!("{name}: `{access}`")),
                        (false, true) if bits == 8 && off == 49 => stricter += 1,
                        (false, true) => refused.push(format!("{name}: `{access}`")),
                        _ => {}
                    }
                }
            }
        }
    }
    println!("{compared} socket accesses compared with the kernel; {stricter} refused on purpose");
    assert!(
        unsound.is_empty() && refused.is_empty(),
        "bpfkit takes what the kernel refuses:\n{}\nthe kernel takes what bpfkit refuses:\n{}",
        unsound.join("\n"),
        refused.join("\n")
    );
}
