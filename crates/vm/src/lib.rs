//! Running eBPF programs: the memory model (checked regions), the helper registry keyed by
//! Linux's helper numbers, the interpreter, the maps ([`maps`]) and Linux helpers
//! ([`helpers::linux`]) programs share with each other and with user space, and packet
//! programs (XDP, tc, socket filters) run on packets as the kernel's test run does
//! ([`net`]).
//!
//! ```
//! use bpfkit_isa::{Insn, Reg, AluOp, Operand, Width, Size};
//! use bpfkit_vm::{Helpers, Interpreter};
//! // r0 = *(u8 *)(r1 + 0) + r2: first byte plus length.
//! let prog = [
//!     Insn::Ldx { size: Size::B, sx: false, dst: Reg::R0, src: Reg::R1, off: 0 },
//!     Insn::Alu { width: Width::W64, op: AluOp::Add, dst: Reg::R0, src: Operand::Reg(Reg::R2) },
//!     Insn::Exit,
//! ];
//! let mut vm = Interpreter::new(&prog, &Helpers::new()).unwrap();
//! let out = vm.run_mem(&mut [40, 0]).unwrap();
//! assert_eq!(out.r0, 42);
//! ```

pub mod error;
pub mod helpers;
pub mod interp;
pub mod maps;
pub mod memory;
pub mod net;

pub use error::{Access, Fault, PrepareError, PrepareErrorKind, VmError};
pub use helpers::{Helper, HelperContext, HelperError, HelperFn, Helpers};
pub use interp::{Engine, Interpreter, Invocation, Outcome, Run};
pub use memory::{Memory, Region};
