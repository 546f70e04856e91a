//! The socket `__sk_buff.sk` points to ([`BpfSock`]): the one the kernel's
//! `BPF_PROG_TEST_RUN` gives every skb it runs (`bpf_prog_test_run_skb` in
//! net/bpf/test_run.c), as `struct bpf_sock` reads it.
//!
//! The test run allocates a socket of family `AF_UNSPEC`, initializes it without a
//! `struct socket` (`sock_init_data(NULL, sk)`: state `TCP_CLOSE`, no receive queue,
//! type, protocol, mark, priority, bound device and ports all zero), and for an IPv4
//! (IPv6) packet makes it `AF_INET` (`AF_INET6`) with the packet's source and destination
//! addresses as its own (`sk_rcv_saddr`) and its peer's (`sk_daddr`) addresses. A test
//! run's skb always has this socket: `skb->sk` is never null there.
//!
//! The kernel converts each load of a `struct bpf_sock` field into a load of the socket's
//! real field (`bpf_sock_convert_ctx_access`), and a load narrower than the field into
//! the whole field's load, shifted and masked when it is narrower than the real field
//! too (`convert_ctx_accesses`). [`BpfSock`] holds, at each field's UAPI offset, the 4
//! bytes the whole field's converted load gives, little-endian, so that every load the
//! verifier accepts (`bpf_sock_is_valid_access`) reads, unconverted, what the kernel's
//! converted load reads, with one exception [`convert_access`] converts:
//! `rx_queue_mapping`, which the kernel reads from a 2-byte field and turns into -1 in
//! all 64 bits of the register when the socket has no queue, for a load of 2 or 4 bytes
//! (one byte is masked: 0xff).

use super::skb::eth_p;
use bpfkit_isa::{Insn, Size};
use std::mem::offset_of;

/// `AF_UNSPEC`.
pub const AF_UNSPEC: u32 = 0;
/// `AF_INET`.
pub const AF_INET: u32 = 2;
/// `AF_INET6`.
pub const AF_INET6: u32 = 10;
/// `TCP_CLOSE`, the state `sock_init_data` leaves a socket in.
pub const TCP_CLOSE: u32 = 7;

/// `struct bpf_sock` (80 bytes, /usr/include/linux/bpf.h), each field holding what the
/// kernel reads for the test run's socket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BpfSock {
    /// `sk_bound_dev_if`.
    pub bound_dev_if: u32,
    /// `skc_family`.
    pub family: u32,
    /// `sk_type`.
    pub type_: u32,
    /// `sk_protocol`.
    pub protocol: u32,
    /// `sk_mark`.
    pub mark: u32,
    /// `sk_priority`.
    pub priority: u32,
    /// `skc_rcv_saddr`, network byte order (the bytes as in the IP header).
    pub src_ip4: [u8; 4],
    /// `skc_v6_rcv_saddr`, network byte order.
    pub src_ip6: [u8; 16],
    /// `skc_num`, host order.
    pub src_port: u32,
    /// `skc_dport`, network byte order, then the 2 bytes of padding that a 4-byte load
    /// of the field reads as zero.
    pub dst_port: [u8; 4],
    /// `skc_daddr`, network byte order.
    pub dst_ip4: [u8; 4],
    /// `skc_v6_daddr`, network byte order.
    pub dst_ip6: [u8; 16],
    /// `skc_state`.
    pub state: u32,
    /// `sk_rx_queue_mapping`, -1 when the socket has received on no queue.
    pub rx_queue_mapping: i32,
    /// The register a 2- or 4-byte load of `rx_queue_mapping` leaves, in 64 bits (-1 for
    /// no queue): what [`convert_access`] makes those loads read. Not in the UAPI struct.
    pub rx_queue_mapping_reg: i64,
}

/// Offset of `rx_queue_mapping` in `struct bpf_sock`.
const RX_QUEUE_MAPPING: i16 = offset_of!(BpfSock, rx_queue_mapping) as i16;

/// The instruction a verified access `insn` through `__sk_buff.sk` runs as: a 2- or
/// 4-byte load of `rx_queue_mapping` reads [`BpfSock::rx_queue_mapping_reg`] whole, every
/// other access stays (the socket's bytes are what the kernel's conversion reads).
pub fn convert_access(insn: &Insn) -> Insn {
    match *insn {
        Insn::Ldx {
            size: Size::H | Size::W,
            dst,
            src,
            off: RX_QUEUE_MAPPING,
            ..
        } => Insn::Ldx {
            size: Size::DW,
            sx: false,
            dst,
            src,
            off: offset_of!(BpfSock, rx_queue_mapping_reg) as i16,
        },
        other => other,
    }
}

/// Size of `struct bpf_sock`.
pub const BPF_SOCK_SIZE: usize = 80;

impl BpfSock {
    /// The socket the test run gives an skb whose `protocol` (host order) is `protocol`
    /// and whose network header starts `network` (a packet the test run accepted: at
    /// least an IPv4 or IPv6 header long for those protocols).
    pub fn for_packet(protocol: u16, network: &[u8]) -> BpfSock {
        let mut sock = BpfSock {
            family: AF_UNSPEC,
            state: TCP_CLOSE,
            // sock_init_data clears the receive queue (sk_rx_queue_clear), which the
            // kernel reads as -1.
            rx_queue_mapping: -1,
            rx_queue_mapping_reg: -1,
            ..BpfSock::default()
        };
        match protocol {
            eth_p::IP => {
                sock.family = AF_INET;
                // struct iphdr: saddr at 12, daddr at 16.
                sock.src_ip4.copy_from_slice(&network[12..16]);
                sock.dst_ip4.copy_from_slice(&network[16..20]);
            }
            eth_p::IPV6 => {
                sock.family = AF_INET6;
                // struct ipv6hdr: saddr at 8, daddr at 24.
                sock.src_ip6.copy_from_slice(&network[8..24]);
                sock.dst_ip6.copy_from_slice(&network[24..40]);
            }
            _ => {}
        }
        sock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    /// /usr/include/linux/bpf.h: family at 4, src_ip4 at 24, src_ip6 at 28, src_port at
    /// 44, dst_port at 48, dst_ip4 at 52, dst_ip6 at 56, state at 72, rx_queue_mapping
    /// at 76, 80 bytes in all.
    #[test]
    fn uapi_layout() {
        assert_eq!(offset_of!(BpfSock, rx_queue_mapping_reg), BPF_SOCK_SIZE);
        assert_eq!(size_of::<BpfSock>(), BPF_SOCK_SIZE + 8);
        assert_eq!(offset_of!(BpfSock, family), 4);
        assert_eq!(offset_of!(BpfSock, src_ip4), 24);
        assert_eq!(offset_of!(BpfSock, src_ip6), 28);
        assert_eq!(offset_of!(BpfSock, src_port), 44);
        assert_eq!(offset_of!(BpfSock, dst_port), 48);
        assert_eq!(offset_of!(BpfSock, dst_ip4), 52);
        assert_eq!(offset_of!(BpfSock, dst_ip6), 56);
        assert_eq!(offset_of!(BpfSock, state), 72);
        assert_eq!(offset_of!(BpfSock, rx_queue_mapping), 76);
    }

    #[test]
    fn loads_of_rx_queue_mapping_read_the_register_value() {
        use bpfkit_isa::Reg;
        let ldx = |size, off| Insn::Ldx {
            size,
            sx: false,
            dst: Reg::R0,
            src: Reg::R2,
            off,
        };
        assert_eq!(convert_access(&ldx(Size::W, 76)), ldx(Size::DW, 80));
        assert_eq!(convert_access(&ldx(Size::H, 76)), ldx(Size::DW, 80));
        assert_eq!(convert_access(&ldx(Size::B, 76)), ldx(Size::B, 76));
        assert_eq!(convert_access(&ldx(Size::W, 72)), ldx(Size::W, 72));
    }

    /// The socket is the program's to read only: a program run without verification that
    /// stores into it faults, and the store changes nothing.
    #[test]
    fn the_socket_is_read_only() {
        use crate::error::{Access, Fault};
        use crate::helpers::linux::Runtime;
        use crate::net::{ConvertedProgram, PacketError, PacketInput, PacketKind, PacketProgram};
        use crate::{Helpers, Interpreter};
        use bpfkit_isa::Reg;
        // r2 = skb->sk; r0 = sk->family; sk->family = r0 + 1.
        let prog = [
            Insn::Ldx {
                size: Size::DW,
                sx: false,
                dst: Reg::R2,
                src: Reg::R1,
                off: 168,
            },
            Insn::Ldx {
                size: Size::W,
                sx: false,
                dst: Reg::R0,
                src: Reg::R2,
                off: 4,
            },
            Insn::St {
                size: Size::W,
                dst: Reg::R2,
                off: 4,
                imm: 1,
            },
            Insn::Exit,
        ];
        let converted = ConvertedProgram::new(&prog, PacketKind::SchedCls, |pc| pc == 0).unwrap();
        let runtime = Runtime::default();
        let helpers = Helpers::new();
        let mut tc = PacketProgram::new(&converted, runtime.maps.clone(), |insns| {
            Interpreter::new(insns, &helpers)
        })
        .unwrap();
        let mut packet = [0u8; 34];
        packet[12] = 0x08;
        let err = tc.run(&PacketInput::new(&packet)).unwrap_err();
        let PacketError::Run(e) = err else {
            panic!("{err:?}")
        };
        assert_eq!(e.pc, 2);
        assert!(
            matches!(
                e.fault,
                Fault::OutOfBounds {
                    size: 4,
                    access: Access::Write,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(tc.skb().unwrap().sock.family, AF_INET);
    }

    #[test]
    fn addresses_from_the_ip_header() {
        let mut v4 = [0u8; 20];
        v4[12..20].copy_from_slice(&[192, 168, 0, 1, 10, 0, 0, 2]);
        let s = BpfSock::for_packet(eth_p::IP, &v4);
        assert_eq!((s.family, s.state), (AF_INET, TCP_CLOSE));
        assert_eq!((s.src_ip4, s.dst_ip4), ([192, 168, 0, 1], [10, 0, 0, 2]));
        assert_eq!(s.src_ip6, [0; 16]);
        let mut v6 = [0u8; 40];
        v6[8] = 0x20;
        v6[39] = 2;
        let s = BpfSock::for_packet(eth_p::IPV6, &v6);
        assert_eq!((s.family, s.src_ip6[0], s.dst_ip6[15]), (AF_INET6, 0x20, 2));
        assert_eq!(s.src_ip4, [0; 4]);
        let s = BpfSock::for_packet(0x0806, &[]);
        assert_eq!((s.family, s.rx_queue_mapping), (AF_UNSPEC, -1));
    }
}
