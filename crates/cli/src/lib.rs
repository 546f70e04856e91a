//! The `bpfkit` command-line tool; the binary is `src/main.rs`. This library target holds
//! no code: it compiles and runs the Rust examples of the repository's README as doctests.

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
