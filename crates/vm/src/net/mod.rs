//! Packet programs (XDP, tc, socket filters) run on packets the way the kernel's
//! `BPF_PROG_TEST_RUN` runs them: same verdict, same output bytes, same map contents.
//!
//! A packet program is verified, its context accesses are converted to bpfkit's real
//! context ([`ConvertedProgram`], [`convert`]), an engine is built from the converted
//! instructions, and a [`PacketProgram`] runs it on packets, reusing one packet buffer:
//!
//! ```
//! use bpfkit_isa::{Insn, Reg, Size};
//! use bpfkit_vm::helpers::linux::Runtime;
//! use bpfkit_vm::net::{self, ConvertedProgram, PacketInput, PacketKind, PacketProgram};
//! use bpfkit_vm::{Helpers, Interpreter};
//! // r0 = ctx->ingress_ifindex: slot 0 reads the context (the verifier says which slots do).
//! let prog = [
//!     Insn::Ldx { size: Size::W, sx: false, dst: Reg::R0, src: Reg::R1, off: 12 },
//!     Insn::Exit,
//! ];
//! let converted = ConvertedProgram::new(&prog, PacketKind::Xdp, |pc| pc == 0).unwrap();
//! let runtime = Runtime::default();
//! let mut helpers = Helpers::new();
//! net::register(&mut helpers, PacketKind::Xdp, &runtime);
//! let mut xdp = PacketProgram::new(&converted, runtime.maps.clone(), |insns| {
//!     Interpreter::new(insns, &helpers)
//! })
//! .unwrap();
//! let out = xdp.run(&PacketInput::new(&[0; 64])).unwrap();
//! assert_eq!(out.retval, 1); // the loopback device, as in the kernel's test run
//! assert_eq!(out.data_out, [0; 64]);
//! ```

pub mod convert;
pub mod csum;
mod event;
pub mod packet;
pub mod skb;
mod skb_flow;
pub mod skb_helpers;
pub mod sock;
pub mod xdp;

pub use convert::{ContextLayout, ConvertError, ConvertedProgram, FieldMap};
pub use packet::{
    Bounds, Context, Headers, PacketState, Redirect, RedirectInfo, SKF_LL_OFF, SKF_NET_OFF,
};

use crate::error::VmError;
use crate::helpers::linux::Runtime;
use crate::helpers::Helpers;
use crate::interp::{Engine, Outcome, Run};
use crate::maps::MapTable;
use crate::memory::Memory;
use bpfkit_isa::Insn;
use std::sync::Arc;
use thiserror::Error;

/// The program types that run on packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// `BPF_PROG_TYPE_XDP`, context `struct xdp_md`.
    Xdp,
    /// `BPF_PROG_TYPE_SCHED_CLS` (tc classifier), context `struct __sk_buff`.
    SchedCls,
    /// `BPF_PROG_TYPE_SCHED_ACT` (tc action), context `struct __sk_buff`.
    SchedAct,
    /// `BPF_PROG_TYPE_SOCKET_FILTER`, context `struct __sk_buff`.
    SocketFilter,
}

impl PacketKind {
    /// The program type's name, as the verifier and libbpf's section names know it.
    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Xdp => "xdp",
            PacketKind::SchedCls => "sched_cls",
            PacketKind::SchedAct => "sched_act",
            PacketKind::SocketFilter => "socket_filter",
        }
    }

    /// The kind named `name` (`tc` is `sched_cls`, `socket` is `socket_filter`).
    pub fn by_name(name: &str) -> Option<PacketKind> {
        let name = match name {
            "tc" => "sched_cls",
            "socket" => "socket_filter",
            n => n,
        };
        [
            PacketKind::Xdp,
            PacketKind::SchedCls,
            PacketKind::SchedAct,
            PacketKind::SocketFilter,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }

    /// What bpfkit needs to run the type on packets, if it can.
    pub(crate) fn ops(self) -> Option<&'static KindOps> {
        match self {
            PacketKind::Xdp => Some(&xdp::OPS),
            PacketKind::SchedCls | PacketKind::SchedAct => Some(&skb::TC_OPS),
            PacketKind::SocketFilter => Some(&skb::SOCKET_FILTER_OPS),
        }
    }
}

/// How one program type runs on packets: its context, the packet's layout, the output.
pub(crate) struct KindOps {
    /// How the UAPI context maps onto bpfkit's real context.
    pub layout: ContextLayout,
    /// A packet state holding the type's real context.
    pub new_state: fn() -> PacketState,
    /// Lays out a packet (or refuses it as the kernel's test run does) and fills the
    /// context from the input.
    pub prepare: fn(&mut PacketState, &PacketInput<'_>) -> Result<(), PacketError>,
    /// What the test run does to the packet after the program ran, before copying out.
    pub finish: fn(&mut PacketState),
    /// The bytes the test run copies out after the run.
    pub output: fn(&PacketState) -> &[u8],
    /// The verdict that sends the packet where the redirect helpers recorded.
    pub redirect_verdict: Option<u32>,
}

/// Registers the helpers of program type `kind`, by Linux number, sharing `runtime`'s maps.
/// Add the general ones with [`crate::helpers::linux::register`] first: some are replaced
/// by the packet programs' own (`bpf_perf_event_output`, which can append packet bytes).
pub fn register(helpers: &mut Helpers, kind: PacketKind, runtime: &Runtime) {
    match kind {
        PacketKind::Xdp => xdp::register(helpers, runtime),
        PacketKind::SchedCls | PacketKind::SchedAct => skb_helpers::register(helpers, false),
        PacketKind::SocketFilter => skb_helpers::register(helpers, true),
    }
    // bpf_xdp_event_output and bpf_skb_event_output: both append the packet's bytes.
    event::register(helpers, runtime);
}

/// One packet to run a program on, with what the context says about where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInput<'a> {
    /// The packet, from its Ethernet header on.
    pub data: &'a [u8],
    /// The receiving device's ifindex.
    pub ingress_ifindex: u32,
    /// The receive queue.
    pub rx_queue_index: u32,
    /// The context the run starts with, as the test run's `ctx_in`: for tc programs and
    /// socket filters a `struct __sk_buff` (see [`skb`]); for XDP a `struct xdp_md`, whose
    /// `data` is the length of metadata at the start of `data` and whose device and
    /// queue replace the fields above (see [`xdp`]).
    pub ctx: Option<&'a [u8]>,
}

impl<'a> PacketInput<'a> {
    /// `data` received as the kernel's test run receives it without a context: on the
    /// loopback device (ifindex 1), queue 0.
    pub fn new(data: &'a [u8]) -> PacketInput<'a> {
        PacketInput {
            data,
            ingress_ifindex: 1,
            rx_queue_index: 0,
            ctx: None,
        }
    }
}

/// The result of running a program on one packet: with the output bytes owned (from
/// [`PacketProgram::run`]), or borrowed from the program's packet buffer until its next
/// run (`PacketOutcome<&[u8]>`, from [`PacketProgram::run_in_place`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOutcome<D = Vec<u8>> {
    /// The verdict: `r0` as the kernel reports it (its low 32 bits).
    pub retval: u64,
    /// The packet after the run, as the test run copies it out (for XDP, the metadata
    /// in front of the packet included).
    pub data_out: D,
    /// Where the packet is redirected, when the verdict is the type's redirect verdict.
    pub redirect: Option<Redirect>,
    /// Instructions executed.
    pub insns: u64,
}

impl PacketOutcome<&[u8]> {
    /// The outcome with its own copy of the output bytes.
    pub fn to_owned(&self) -> PacketOutcome {
        PacketOutcome {
            retval: self.retval,
            data_out: self.data_out.to_vec(),
            redirect: self.redirect,
            insns: self.insns,
        }
    }
}

/// Why a packet could not be run.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PacketError {
    /// The packet is one the kernel's test run refuses (or bpfkit cannot represent).
    #[error("packet of {len} bytes: {reason}")]
    Input { len: usize, reason: &'static str },
    /// The program faulted.
    #[error(transparent)]
    Run(#[from] VmError),
}

/// A converted packet program with its engine, ready to run on many packets.
///
/// What does not change from one packet to the next is set up once: the packet buffer
/// and the real context ([`PacketState`]), the memory of every run (the packet's region,
/// the context's, the array values' of the program's maps) and the engine's own run
/// state. A run lays out the packet, brings the packet's region and the context's
/// pointers up to date ([`PacketState::resync`]), and runs.
pub struct PacketProgram<E> {
    ops: &'static KindOps,
    engine: E,
    /// Keeps the maps, and so the array values among `memory`'s regions, alive.
    _maps: Arc<MapTable>,
    /// The regions of every run: the packet (replaced whenever it moves), the context
    /// (and an skb's socket), then the array values relocated `lddw`s may point into.
    /// Raw regions: they lie in `state` and in `_maps`, which this program owns, and only
    /// its runs use them.
    memory: Memory<'static>,
    /// The context's address, r1 of every run.
    ctx: u64,
    state: PacketState,
}

impl<E: Engine> PacketProgram<E> {
    /// Builds the engine from `converted`'s instructions (with `build`, e.g.
    /// `|insns| Interpreter::new(insns, &helpers)`); `maps` are the program's maps, whose
    /// array values its relocated `lddw`s may point into.
    pub fn new<Err>(
        converted: &ConvertedProgram,
        maps: Arc<MapTable>,
        build: impl FnOnce(&[Insn]) -> Result<E, Err>,
    ) -> Result<PacketProgram<E>, Err> {
        let ops = converted.ops();
        let engine = build(converted.insns())?;
        let mut state = (ops.new_state)();
        let mut memory = Memory::new();
        let ctx = state.install(&mut memory);
        let mut values = Memory::new();
        maps.add_value_regions(&mut values);
        for region in values.regions() {
            // SAFETY: an array map's value block, alive as long as the map, which
            // `_maps` keeps alive as long as `memory`; map memory is only accessed through
            // atomics and raw pointers.
            unsafe { memory.add_raw(*region) };
        }
        Ok(PacketProgram {
            ops,
            engine,
            _maps: maps,
            memory,
            ctx,
            state,
        })
    }

    /// The real `struct sk_buff` after the last run of a tc program or socket filter, for
    /// [`skb::ctx_out`] and for showing what the program changed.
    pub fn skb(&mut self) -> Option<&skb::SkBuff> {
        self.state.context_mut::<skb::SkBuff>().map(|s| &*s)
    }

    /// The real XDP context after the last run of an XDP program, for [`xdp::ctx_out`].
    pub fn xdp(&mut self) -> Option<&xdp::XdpBuff> {
        self.state.context_mut::<xdp::XdpBuff>().map(|s| &*s)
    }

    /// The engine, e.g. to set its instruction budget.
    pub fn engine_mut(&mut self) -> &mut E {
        &mut self.engine
    }

    /// Runs the program on one packet.
    pub fn run(&mut self, input: &PacketInput<'_>) -> Result<PacketOutcome, PacketError> {
        self.run_in_place(input).map(|out| out.to_owned())
    }

    /// Runs the program on one packet, the output bytes left in the program's buffer:
    /// nothing is allocated, which is what running many packets wants.
    pub fn run_in_place(
        &mut self,
        input: &PacketInput<'_>,
    ) -> Result<PacketOutcome<&[u8]>, PacketError> {
        self.run_repeated(input, 1)
    }

    /// Runs the program `repeat` times (at least once) on one packet, each run on the
    /// packet laid out afresh from `input` (unlike the kernel's test run, which runs its
    /// repetitions on the packet as the last one left it), and gives the last run's
    /// outcome, its output bytes left in the program's buffer. The first fault ends the
    /// runs. What the runs before the last leave is never looked at: their cost is
    /// laying out the packet and running.
    pub fn run_repeated(
        &mut self,
        input: &PacketInput<'_>,
        repeat: u64,
    ) -> Result<PacketOutcome<&[u8]>, PacketError> {
        (self.ops.prepare)(&mut self.state, input)?;
        if repeat > 1 {
            // Saved with the context's pointers set, so that a further run on a buffer
            // that did not move need not set them again.
            self.state.resync(&mut self.memory);
            self.state.save_layout();
        }
        let mut out = self.run_laid_out()?;
        for _ in 1..repeat {
            // The input was checked and laid out once: the next runs find it as it was.
            self.state.relay(input.data);
            out = self.run_laid_out()?;
        }
        (self.ops.finish)(&mut self.state);
        // The kernel's test run reports the verdict as a u32.
        let retval = u64::from(out.r0 as u32);
        let redirect = if self.ops.redirect_verdict.map(u64::from) == Some(retval) {
            self.state.redirect.target()
        } else {
            None
        };
        Ok(PacketOutcome {
            retval,
            data_out: (self.ops.output)(&self.state),
            redirect,
            insns: out.insns,
        })
    }

    /// Runs the program once on the packet laid out.
    #[inline(always)]
    fn run_laid_out(&mut self) -> Result<Outcome, VmError> {
        // The buffer may have moved since the last run, the bounds have: the packet's
        // region and the context's pointers follow before anything runs.
        self.state.resync(&mut self.memory);
        let packet = self.state.legacy_packet();
        self.engine.run_on(Run {
            args: [self.ctx, 0, 0, 0, 0],
            memory: &mut self.memory,
            packet,
            packet_state: Some(&mut self.state),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Access, Fault};
    use crate::Interpreter;
    use bpfkit_isa::{Reg, Size};

    /// The memory kept from packet to packet follows each packet: a shorter packet after
    /// a longer one ends its bytes where it ends, for a program not verified.
    #[test]
    fn each_run_reaches_its_own_packet_only() {
        let ldx = |dst, src, off, size| Insn::Ldx {
            size,
            sx: false,
            dst,
            src,
            off,
        };
        // r2 = ctx->data; r0 = *(u8 *)(r2 + 40).
        let prog = [
            ldx(Reg::R2, Reg::R1, 0, Size::W),
            ldx(Reg::R0, Reg::R2, 40, Size::B),
            Insn::Exit,
        ];
        let converted = ConvertedProgram::new(&prog, PacketKind::Xdp, |pc| pc == 0).unwrap();
        let runtime = Runtime::default();
        let mut helpers = Helpers::new();
        register(&mut helpers, PacketKind::Xdp, &runtime);
        let mut xdp = PacketProgram::new(&converted, runtime.maps.clone(), |insns| {
            Interpreter::new(insns, &helpers)
        })
        .unwrap();
        let long = [9u8; 64];
        assert_eq!(xdp.run(&PacketInput::new(&long)).unwrap().retval, 9);
        let err = xdp.run(&PacketInput::new(&[9u8; 20])).unwrap_err();
        let PacketError::Run(e) = err else {
            panic!("{err:?}")
        };
        assert!(
            matches!(
                e.fault,
                Fault::OutOfBounds {
                    size: 1,
                    access: Access::Read,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(xdp.run(&PacketInput::new(&long)).unwrap().retval, 9);
    }

    /// `(prog, ctx_slots)` run `repeat` times on `packet` as `kind`: the last outcome, and
    /// the skb's mark after it for the skb kinds.
    fn repeated(
        kind: PacketKind,
        prog: &[Insn],
        ctx_slots: &[usize],
        packet: &[u8],
        repeat: u64,
    ) -> (PacketOutcome, Option<u32>) {
        let converted = ConvertedProgram::new(prog, kind, |pc| ctx_slots.contains(&pc)).unwrap();
        let runtime = Runtime::default();
        let mut helpers = Helpers::new();
        register(&mut helpers, kind, &runtime);
        let mut p = PacketProgram::new(&converted, runtime.maps.clone(), |insns| {
            Interpreter::new(insns, &helpers)
        })
        .unwrap();
        let out = p
            .run_repeated(&PacketInput::new(packet), repeat)
            .unwrap()
            .to_owned();
        (out, p.skb().map(|skb| skb.mark))
    }

    /// Every run of a repeated packet starts from the packet as the input gives it: its
    /// bytes, its bounds and its context, whatever the run before did to them.
    #[test]
    fn repeated_runs_each_start_afresh() {
        use bpfkit_isa::{AluOp, JmpCond, Operand, Width};
        let alu = |op, dst, src| Insn::Alu {
            width: Width::W64,
            op,
            dst,
            src,
        };
        let ldx = |size, dst, src, off| Insn::Ldx {
            size,
            sx: false,
            dst,
            src,
            off,
        };
        let stx = |size, dst, src, off| Insn::Stx {
            size,
            dst,
            src,
            off,
        };
        // bpf_xdp_adjust_head(ctx, 4), then the packet's first byte plus one, stored
        // back and returned.
        let xdp = [
            alu(AluOp::Mov, Reg::R6, Operand::Reg(Reg::R1)),
            alu(AluOp::Mov, Reg::R2, Operand::Imm(4)),
            Insn::Call {
                imm: xdp::id::XDP_ADJUST_HEAD,
            },
            ldx(Size::W, Reg::R2, Reg::R6, 0),
            ldx(Size::W, Reg::R3, Reg::R6, 4),
            alu(AluOp::Mov, Reg::R4, Operand::Reg(Reg::R2)),
            alu(AluOp::Add, Reg::R4, Operand::Imm(1)),
            Insn::Jmp {
                width: Width::W64,
                cond: JmpCond::Gt,
                dst: Reg::R4,
                src: Operand::Reg(Reg::R3),
                off: 4,
            },
            ldx(Size::B, Reg::R0, Reg::R2, 0),
            alu(AluOp::Add, Reg::R0, Operand::Imm(1)),
            stx(Size::B, Reg::R2, Reg::R0, 0),
            Insn::Exit,
            alu(AluOp::Mov, Reg::R0, Operand::Imm(0)),
            Insn::Exit,
        ];
        let packet: Vec<u8> = (0..64).collect();
        // Each run moves the start from byte 0 to byte 4 (value 4) and makes it 5.
        let mut expected = packet[4..].to_vec();
        expected[0] = 5;
        for repeat in [1, 3] {
            let (out, _) = repeated(PacketKind::Xdp, &xdp, &[3, 4], &packet, repeat);
            assert_eq!((out.retval, &out.data_out), (5, &expected), "{repeat} runs");
        }
        // skb->mark += 1, returned: 1 after every run, the mark starting at 0.
        let tc = [
            ldx(Size::W, Reg::R2, Reg::R1, 8),
            alu(AluOp::Add, Reg::R2, Operand::Imm(1)),
            stx(Size::W, Reg::R1, Reg::R2, 8),
            alu(AluOp::Mov, Reg::R0, Operand::Reg(Reg::R2)),
            Insn::Exit,
        ];
        for repeat in [1, 3] {
            let (out, mark) = repeated(PacketKind::SchedCls, &tc, &[0, 2], &packet, repeat);
            assert_eq!((out.retval, mark), (1, Some(1)), "{repeat} runs");
        }
    }
}
