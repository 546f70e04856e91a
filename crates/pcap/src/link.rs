//! Link-layer adaptation. XDP and tc programs see Ethernet frames, so packets of other link
//! types are given an Ethernet header before the run and have it taken off again after:
//!
//! - `ETHERNET` (1): as captured.
//! - `RAW` (101), `IPV4` (228), `IPV6` (229): a header with zero MAC addresses and the
//!   EtherType of the IP version (0x0800 or 0x86dd, from the first nibble for `RAW`);
//!   afterwards the first 14 bytes are removed.
//! - `LINUX_SLL` (113): a header whose source is the cooked header's link-layer address
//!   (when it is 6 bytes, else zero), destination zero, EtherType the cooked header's
//!   protocol; afterwards the cooked header is put back with the frame's EtherType as its
//!   protocol.
//!
//! Every other link type is refused, naming it.

use crate::{
    link_type_name, LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
};

/// Ethernet's header length.
pub const ETH_HLEN: usize = 14;
/// Linux cooked capture's header length.
const SLL_HLEN: usize = 16;

/// Why a packet cannot be made an Ethernet frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// A link type this module does not adapt.
    #[error("unsupported link type {number}{}; bpfkit runs ETHERNET (1), RAW (101), IPV4 (228), IPV6 (229) and LINUX_SLL (113) captures", .name.map(|n| format!(" ({n})")).unwrap_or_default())]
    Unsupported {
        /// The link type.
        number: u32,
        /// Its registry name, if known.
        name: Option<&'static str>,
    },
    /// The packet is too short for its link-layer header, or its IP version is unknown.
    #[error("{0}")]
    Malformed(String),
}

/// Checks that bpfkit adapts `link_type`.
pub fn check(link_type: u32) -> Result<(), LinkError> {
    match link_type {
        LINKTYPE_ETHERNET | LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 | LINKTYPE_LINUX_SLL => {
            Ok(())
        }
        number => Err(LinkError::Unsupported {
            number,
            name: link_type_name(number),
        }),
    }
}

fn ethernet(dst: [u8; 6], src: [u8; 6], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(ETH_HLEN + payload.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ether_type.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The Ethernet frame a program sees for `packet` of `link_type`.
pub fn to_ethernet(link_type: u32, packet: &[u8]) -> Result<Vec<u8>, LinkError> {
    check(link_type)?;
    let ether_type = match link_type {
        LINKTYPE_ETHERNET => return Ok(packet.to_vec()),
        LINKTYPE_IPV4 => 0x0800,
        LINKTYPE_IPV6 => 0x86DD,
        LINKTYPE_RAW => match packet.first().map(|b| b >> 4) {
            Some(4) => 0x0800,
            Some(6) => 0x86DD,
            Some(v) => {
                return Err(LinkError::Malformed(format!(
                    "a RAW packet of IP version {v}, neither 4 nor 6"
                )))
            }
            None => return Err(LinkError::Malformed("an empty RAW packet".to_string())),
        },
        _ => {
            if packet.len() < SLL_HLEN {
                return Err(LinkError::Malformed(format!(
                    "{} bytes, shorter than the 16-byte LINUX_SLL header",
                    packet.len()
                )));
            }
            let mut src = [0u8; 6];
            if u16::from_be_bytes([packet[4], packet[5]]) == 6 {
                src.copy_from_slice(&packet[6..12]);
            }
            let protocol = u16::from_be_bytes([packet[14], packet[15]]);
            return Ok(ethernet([0; 6], src, protocol, &packet[SLL_HLEN..]));
        }
    };
    Ok(ethernet([0; 6], [0; 6], ether_type, packet))
}

/// The packet of `link_type` to write for the Ethernet `frame` a program left, `original`
/// being the packet as captured (for the cooked header).
pub fn from_ethernet(link_type: u32, original: &[u8], frame: &[u8]) -> Result<Vec<u8>, LinkError> {
    check(link_type)?;
    if link_type == LINKTYPE_ETHERNET {
        return Ok(frame.to_vec());
    }
    if frame.len() < ETH_HLEN {
        return Err(LinkError::Malformed(format!(
            "the program left {} bytes, less than the Ethernet header that stands for the {} header",
            frame.len(),
            link_type_name(link_type).unwrap_or("link-layer")
        )));
    }
    if link_type != LINKTYPE_LINUX_SLL {
        return Ok(frame[ETH_HLEN..].to_vec());
    }
    let Some(header) = original.get(..SLL_HLEN) else {
        return Err(LinkError::Malformed(format!(
            "{} bytes, shorter than the 16-byte LINUX_SLL header",
            original.len()
        )));
    };
    let mut out = header.to_vec();
    out[14..16].copy_from_slice(&frame[12..14]);
    out.extend_from_slice(&frame[ETH_HLEN..]);
    Ok(out)
}
