//! The eBPF instruction set of RFC 9669: typed instructions, their binary encoding,
//! an assembler for the two assembly syntaxes in use and a disassembler that prints what
//! `llvm-objdump` prints.
//!
//! ```
//! use bpfkit_isa::{decode_program, encode_program, Insn, Reg};
//! let prog = [Insn::lddw(Reg::R0, 0x1_0000_0002), Insn::Exit];
//! let bytes = encode_program(&prog);
//! assert_eq!(bytes.len(), 24);
//! assert_eq!(decode_program(&bytes).unwrap(), prog);
//! ```

#[cfg(feature = "proptest")]
pub mod arbitrary;
pub mod asm;
pub mod decode;
pub mod disasm;
pub mod encode;
pub mod insn;
pub mod opcode;

pub use asm::{assemble, AsmError, AsmErrorKind};
pub use decode::{decode_program, with_pcs, DecodeError, DecodeErrorKind};
pub use disasm::{disassemble, format_insn, Dialect, ListingOptions, Symbol};
pub use encode::{encode, encode_program};
pub use insn::*;
