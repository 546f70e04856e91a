//! The JIT (plain and blinded) and the interpreter agree on every program: same r0,
//! instruction count, memory and errors.
//!
//! Input: one byte of memory length (at most 255 bytes of memory follow), then the
//! bytecode; input that does not decode is skipped. Run with
//! `cargo +nightly fuzz run jit_diff` from the repository root.

#![no_main]

#[path = "../../crates/jit/tests/common/mod.rs"]
mod common;

use bpfkit_vm::Helpers;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let len = (len as usize).min(rest.len());
    let (mem, code) = rest.split_at(len);
    let Ok(insns) = bpfkit_isa::decode_program(code) else {
        return;
    };
    let insns: Vec<_> = insns.into_iter().map(common::hide_frame_pointer).collect();
    let mut helpers = Helpers::new();
    helpers.register(1, "first_arg", |_, a| Ok(a[0]));
    let _ = common::run_both(&insns, mem, &helpers, 10_000);
});
