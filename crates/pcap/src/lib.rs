//! Packet captures as bpfkit reads and writes them: the pcap format (both byte orders,
//! microsecond and nanosecond timestamps) and pcapng (sections in either byte order,
//! interface descriptions with their timestamp resolution, enhanced and simple packet
//! blocks), read from bytes into a [`Capture`] and written back as pcap or pcapng; and
//! the link-layer adaptation ([`link`]) that gives XDP and tc programs an Ethernet frame
//! whatever the capture's link type.
//!
//! Reading never panics on hostile input: every error names what is wrong and the byte
//! offset where it is.
//!
//! ```
//! use bpfkit_pcap::{Capture, Packet, LINKTYPE_ETHERNET};
//! let packets = vec![Packet { timestamp_ns: 1_000, orig_len: 3, data: vec![1, 2, 3], comment: None }];
//! let bytes = bpfkit_pcap::write_pcap(LINKTYPE_ETHERNET, 65535, &packets);
//! let capture = Capture::parse(&bytes).unwrap();
//! assert_eq!(capture.link_type, LINKTYPE_ETHERNET);
//! assert_eq!(capture.packets, packets);
//! ```

pub mod link;
mod read;
mod write;

pub use read::PcapError;
pub use write::{write_pcap, write_pcapng};

/// `LINKTYPE_ETHERNET`: IEEE 802.3 Ethernet frames.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_RAW`: raw IPv4 or IPv6 packets, told apart by the version nibble.
pub const LINKTYPE_RAW: u32 = 101;
/// `LINKTYPE_LINUX_SLL`: Linux "cooked" capture, a 16-byte pseudo-header.
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// `LINKTYPE_IPV4`: raw IPv4 packets.
pub const LINKTYPE_IPV4: u32 = 228;
/// `LINKTYPE_IPV6`: raw IPv6 packets.
pub const LINKTYPE_IPV6: u32 = 229;

/// The file format a capture was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The classic pcap format.
    Pcap,
    /// pcapng.
    PcapNg,
}

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Nanoseconds since 1970-01-01 00:00:00 UTC.
    pub timestamp_ns: u64,
    /// The packet's length on the wire; more than `data.len()` when the capture cut it
    /// (its snap length).
    pub orig_len: u32,
    /// The captured bytes, link-layer header included.
    pub data: Vec<u8>,
    /// A pcapng packet's comment (`opt_comment`); pcap files have none.
    pub comment: Option<String>,
}

impl Packet {
    /// Whether the capture kept fewer bytes than the packet had on the wire.
    pub fn is_cut(&self) -> bool {
        (self.orig_len as usize) > self.data.len()
    }
}

/// A capture file's packets and how they were captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The file format.
    pub format: Format,
    /// The link type of every packet (`LINKTYPE_*`, tcpdump.org's numbering).
    pub link_type: u32,
    /// The largest number of bytes kept of a packet (0 in pcapng means no limit).
    pub snaplen: u32,
    /// The packets, in file order.
    pub packets: Vec<Packet>,
}

impl Capture {
    /// Reads a pcap or pcapng file, told apart by its first four bytes.
    pub fn parse(bytes: &[u8]) -> Result<Capture, PcapError> {
        read::parse(bytes)
    }
}

/// The name of a link type, as tcpdump.org's registry has it, for the ones commonly seen.
pub fn link_type_name(link_type: u32) -> Option<&'static str> {
    Some(match link_type {
        0 => "NULL (BSD loopback)",
        LINKTYPE_ETHERNET => "ETHERNET",
        105 => "IEEE802_11",
        108 => "LOOP",
        LINKTYPE_RAW => "RAW",
        LINKTYPE_LINUX_SLL => "LINUX_SLL",
        127 => "IEEE802_11_RADIOTAP",
        LINKTYPE_IPV4 => "IPV4",
        LINKTYPE_IPV6 => "IPV6",
        276 => "LINUX_SLL2",
        _ => return None,
    })
}
