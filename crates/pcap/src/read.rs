//! Reading pcap and pcapng files from bytes.

use crate::{Capture, Format, Packet};
use thiserror::Error;

/// Why a capture cannot be read; each names the byte offset in the file.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PcapError {
    /// The file does not start with a pcap or pcapng magic number.
    #[error("not a pcap or pcapng file: the first bytes are {found}, not a pcap magic number (a1b2c3d4, a1b23c4d, either byte order) or a pcapng section header (0a0d0d0a)")]
    Magic {
        /// The first bytes, in hex.
        found: String,
    },
    /// The file ends inside a header, a block or a packet.
    #[error("truncated capture: {what} at byte offset {offset} needs {needed} bytes, but only {left} remain")]
    Truncated {
        /// What was being read (`packet 3's data`, `the file header`, ...).
        what: String,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes the file has from `offset` on.
        left: usize,
    },
    /// A header or block holds a value the format does not allow.
    #[error("corrupt capture: {what} at byte offset {offset}")]
    Corrupt {
        /// What is wrong.
        what: String,
        /// Where.
        offset: usize,
    },
    /// A pcapng file whose packets come from interfaces of different link types.
    #[error("the pcapng file mixes link types {first} and {other} (interface {interface}); bpfkit runs captures of one link type")]
    MixedLinkTypes {
        /// The link type of the first packet.
        first: u32,
        /// Another packet's.
        other: u32,
        /// That packet's interface.
        interface: u32,
    },
}

/// Integers in a file's byte order.
#[derive(Clone, Copy)]
struct Order {
    big: bool,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        if self.big {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    fn u32(self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }
}

/// `bytes[offset..offset + len]`, or the error naming `what` when the file is too short.
fn take(
    bytes: &[u8],
    offset: usize,
    len: usize,
    what: impl FnOnce() -> String,
) -> Result<&[u8], PcapError> {
    let left = bytes.len().saturating_sub(offset);
    if left < len {
        return Err(PcapError::Truncated {
            what: what(),
            offset,
            needed: len,
            left,
        });
    }
    Ok(&bytes[offset..offset + len])
}

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;

pub(crate) fn parse(bytes: &[u8]) -> Result<Capture, PcapError> {
    let magic = take(bytes, 0, 4, || "the file's magic number".to_string())?;
    let le = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
    let be = u32::from_be_bytes([magic[0], magic[1], magic[2], magic[3]]);
    match (le, be) {
        (PCAPNG_SHB, _) => parse_pcapng(bytes),
        (0xA1B2_C3D4, _) => parse_pcap(bytes, Order { big: false }, 1_000),
        (0xA1B2_3C4D, _) => parse_pcap(bytes, Order { big: false }, 1),
        (_, 0xA1B2_C3D4) => parse_pcap(bytes, Order { big: true }, 1_000),
        (_, 0xA1B2_3C4D) => parse_pcap(bytes, Order { big: true }, 1),
        _ => Err(PcapError::Magic {
            found: magic.iter().map(|b| format!("{b:02x}")).collect(),
        }),
    }
}

/// A pcap file; `frac_ns` is nanoseconds per unit of the timestamps' fraction field.
fn parse_pcap(bytes: &[u8], order: Order, frac_ns: u64) -> Result<Capture, PcapError> {
    let header = take(bytes, 0, 24, || "the pcap file header".to_string())?;
    let major = order.u16(header, 4);
    if major != 2 {
        return Err(PcapError::Corrupt {
            what: format!("pcap major version {major}, expected 2"),
            offset: 4,
        });
    }
    let snaplen = order.u32(header, 16);
    // The low 16 bits are the link type; the high bits may carry FCS information.
    let link_type = order.u32(header, 20) & 0xFFFF;
    let mut packets = Vec::new();
    let mut offset = 24;
    while offset < bytes.len() {
        let index = packets.len();
        let record = take(bytes, offset, 16, || {
            format!("packet {index}'s record header")
        })?;
        let (sec, frac) = (order.u32(record, 0), order.u32(record, 4));
        let (incl_len, orig_len) = (order.u32(record, 8), order.u32(record, 12));
        if u64::from(frac) * frac_ns >= 1_000_000_000 {
            return Err(PcapError::Corrupt {
                what: format!("packet {index}'s timestamp fraction {frac} is a second or more"),
                offset: offset + 4,
            });
        }
        let data = take(bytes, offset + 16, incl_len as usize, || {
            format!("packet {index}'s data ({incl_len} bytes captured)")
        })?;
        packets.push(Packet {
            timestamp_ns: u64::from(sec) * 1_000_000_000 + u64::from(frac) * frac_ns,
            // Some writers record a shorter original length than they captured; the
            // packet was at least as long as what is there.
            orig_len: orig_len.max(incl_len),
            data: data.to_vec(),
            comment: None,
        });
        offset += 16 + incl_len as usize;
    }
    Ok(Capture {
        format: Format::Pcap,
        link_type,
        snaplen,
        packets,
    })
}

/// An interface of a pcapng section.
struct Interface {
    link_type: u32,
    snaplen: u32,
    /// Timestamp units per second.
    units_per_sec: u128,
}

const PCAPNG_IDB: u32 = 1;
const PCAPNG_SPB: u32 = 3;
const PCAPNG_EPB: u32 = 6;
const IF_TSRESOL: u16 = 9;
const OPT_COMMENT: u16 = 1;

fn parse_pcapng(bytes: &[u8]) -> Result<Capture, PcapError> {
    let mut order = Order { big: false };
    let mut interfaces: Vec<Interface> = Vec::new();
    // (link type, snap length) of the first packet's interface.
    let mut first: Option<(u32, u32)> = None;
    let mut packets = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let head = take(bytes, offset, 12, || "a pcapng block header".to_string())?;
        let block_type = order.u32(head, 0);
        if block_type == PCAPNG_SHB {
            // The byte-order magic decides how this section, its length included, reads.
            order = match order.u32(head, 8) {
                0x1A2B_3C4D => order,
                0x4D3C_2B1A => Order { big: !order.big },
                magic => {
                    return Err(PcapError::Corrupt {
                        what: format!(
                            "section header byte-order magic {magic:08x}, expected 1a2b3c4d"
                        ),
                        offset: offset + 8,
                    })
                }
            };
            interfaces.clear();
        }
        let len = order.u32(head, 4) as usize;
        if len < 12 || !len.is_multiple_of(4) {
            return Err(PcapError::Corrupt {
                what: format!("block length {len} (type {block_type:#x}) is not a multiple of 4 of at least 12"),
                offset: offset + 4,
            });
        }
        let block = take(bytes, offset, len, || {
            format!("a block of type {block_type:#x}")
        })?;
        if order.u32(block, len - 4) as usize != len {
            return Err(PcapError::Corrupt {
                what: format!(
                    "block of type {block_type:#x} ends with length {}, but starts with {len}",
                    order.u32(block, len - 4)
                ),
                offset: offset + len - 4,
            });
        }
        let body = &block[8..len - 4];
        let body_at = offset + 8;
        match block_type {
            PCAPNG_IDB => interfaces.push(interface(body, body_at, order)?),
            PCAPNG_EPB | PCAPNG_SPB => {
                let index = packets.len();
                let (iface_id, packet) = if block_type == PCAPNG_EPB {
                    enhanced_packet(body, body_at, order, &interfaces, index)?
                } else {
                    (0, simple_packet(body, body_at, order, &interfaces, index)?)
                };
                let iface = &interfaces[iface_id as usize];
                match first {
                    None => first = Some((iface.link_type, iface.snaplen)),
                    Some((link, _)) if link != iface.link_type => {
                        return Err(PcapError::MixedLinkTypes {
                            first: link,
                            other: iface.link_type,
                            interface: iface_id,
                        })
                    }
                    Some(_) => {}
                }
                packets.push(packet);
            }
            // Statistics, name resolution, custom and other blocks say nothing the
            // packets need; readers skip blocks they do not know, as the format asks.
            _ => {}
        }
        offset += len;
    }
    let (link_type, snaplen) = match (first, interfaces.first()) {
        (Some(found), _) => found,
        (None, Some(iface)) => (iface.link_type, iface.snaplen),
        (None, None) => {
            return Err(PcapError::Corrupt {
                what: "the pcapng file describes no interface, so its link type is unknown"
                    .to_string(),
                offset: bytes.len(),
            })
        }
    };
    Ok(Capture {
        format: Format::PcapNg,
        link_type,
        snaplen,
        packets,
    })
}

/// An interface description block's body.
fn interface(body: &[u8], at: usize, order: Order) -> Result<Interface, PcapError> {
    let fixed =
        take(body, 0, 8, || "an interface description".to_string()).map_err(|e| shift(e, at))?;
    let mut iface = Interface {
        link_type: u32::from(order.u16(fixed, 0)),
        snaplen: order.u32(fixed, 4),
        units_per_sec: 1_000_000,
    };
    for (code, value, value_at) in options(body, 8, at, order)? {
        if code == IF_TSRESOL {
            let Some(&res) = value.first() else {
                return Err(PcapError::Corrupt {
                    what: "empty if_tsresol option".to_string(),
                    offset: value_at,
                });
            };
            // High bit clear: 10^-n seconds; set: 2^-n. A unit finer than 10^-18 s (or
            // 2^-63 s) would overflow the arithmetic and exists in no capture tool.
            let exp = u32::from(res & 0x7F);
            iface.units_per_sec = match (res & 0x80 != 0, exp) {
                (false, 0..=18) => 10u128.pow(exp),
                (true, 0..=63) => 1u128 << exp,
                _ => {
                    return Err(PcapError::Corrupt {
                        what: format!("unsupported timestamp resolution {res:#04x}"),
                        offset: value_at,
                    })
                }
            };
        }
    }
    Ok(iface)
}

/// An option of a pcapng block: its code, its value and the value's offset in the file.
type BlockOption<'a> = (u16, &'a [u8], usize);

/// The options of a block body from `start` on: (code, value, offset of the value).
fn options(
    body: &[u8],
    start: usize,
    at: usize,
    order: Order,
) -> Result<Vec<BlockOption<'_>>, PcapError> {
    let mut out = Vec::new();
    let mut pos = start;
    // Options may be absent altogether, or end with opt_endofopt (code 0).
    while pos + 4 <= body.len() {
        let (code, len) = (order.u16(body, pos), order.u16(body, pos + 2) as usize);
        if code == 0 {
            break;
        }
        let value =
            take(body, pos + 4, len, || format!("option {code}")).map_err(|e| shift(e, at))?;
        out.push((code, value, at + pos + 4));
        pos += 4 + len.div_ceil(4) * 4;
    }
    Ok(out)
}

/// An error found in a block body, its offset made relative to the file.
fn shift(e: PcapError, at: usize) -> PcapError {
    match e {
        PcapError::Truncated {
            what,
            offset,
            needed,
            left,
        } => PcapError::Corrupt {
            what: format!("{what} needs {needed} bytes, but its block has {left} left"),
            offset: offset + at,
        },
        other => other,
    }
}

fn interface_of(
    interfaces: &[Interface],
    id: u32,
    index: usize,
    at: usize,
) -> Result<&Interface, PcapError> {
    interfaces
        .get(id as usize)
        .ok_or_else(|| PcapError::Corrupt {
            what: format!(
                "packet {index} names interface {id}, but the section describes {}",
                interfaces.len()
            ),
            offset: at,
        })
}

/// An enhanced packet block's body: the packet and its interface.
fn enhanced_packet(
    body: &[u8],
    at: usize,
    order: Order,
    interfaces: &[Interface],
    index: usize,
) -> Result<(u32, Packet), PcapError> {
    let fixed = take(body, 0, 20, || {
        format!("packet {index}'s enhanced packet block")
    })
    .map_err(|e| shift(e, at))?;
    let id = order.u32(fixed, 0);
    let iface = interface_of(interfaces, id, index, at)?;
    let ts = (u128::from(order.u32(fixed, 4)) << 32) | u128::from(order.u32(fixed, 8));
    let (caplen, orig_len) = (order.u32(fixed, 12), order.u32(fixed, 16));
    let data = take(body, 20, caplen as usize, || {
        format!("packet {index}'s data ({caplen} bytes captured)")
    })
    .map_err(|e| shift(e, at))?;
    let options_at = 20 + (caplen as usize).div_ceil(4) * 4;
    let comment = options(body, options_at, at, order)?
        .into_iter()
        .find(|(code, _, _)| *code == OPT_COMMENT)
        .map(|(_, value, _)| String::from_utf8_lossy(value).into_owned());
    let timestamp_ns = u64::try_from(ts * 1_000_000_000 / iface.units_per_sec).map_err(|_| {
        PcapError::Corrupt {
            what: format!("packet {index}'s timestamp is past the year 2554"),
            offset: at + 4,
        }
    })?;
    Ok((
        id,
        Packet {
            timestamp_ns,
            orig_len: orig_len.max(caplen),
            data: data.to_vec(),
            comment,
        },
    ))
}

/// A simple packet block's body: a packet of interface 0, cut to the snap length.
fn simple_packet(
    body: &[u8],
    at: usize,
    order: Order,
    interfaces: &[Interface],
    index: usize,
) -> Result<Packet, PcapError> {
    let fixed = take(body, 0, 4, || {
        format!("packet {index}'s simple packet block")
    })
    .map_err(|e| shift(e, at))?;
    let iface = interface_of(interfaces, 0, index, at)?;
    let orig_len = order.u32(fixed, 0);
    let mut caplen = (orig_len as usize).min(body.len() - 4);
    if iface.snaplen != 0 {
        caplen = caplen.min(iface.snaplen as usize);
    }
    Ok(Packet {
        timestamp_ns: 0,
        orig_len,
        data: body[4..4 + caplen].to_vec(),
        comment: None,
    })
}
