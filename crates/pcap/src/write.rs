//! Writing captures: pcap (little-endian, nanosecond timestamps) and pcapng (one section,
//! one interface with nanosecond resolution).

use crate::Packet;

/// A pcap file of `packets` with the given link type and snap length; timestamps keep
/// their nanoseconds (magic `a1b23c4d`).
pub fn write_pcap(link_type: u32, snaplen: u32, packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B2_3C4Du32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for word in [0u32, 0, snaplen, link_type] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for packet in packets {
        let sec = (packet.timestamp_ns / 1_000_000_000) as u32;
        let nsec = (packet.timestamp_ns % 1_000_000_000) as u32;
        for word in [sec, nsec, packet.data.len() as u32, packet.orig_len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&packet.data);
    }
    out
}

/// Appends a pcapng block of `block_type` with `body`, padded to 4 bytes.
fn block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
    let padded = body.len().div_ceil(4) * 4;
    let len = (12 + padded) as u32;
    out.extend_from_slice(&block_type.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + padded - body.len(), 0);
    out.extend_from_slice(&len.to_le_bytes());
}

/// A pcapng file of `packets`: a section header, one interface of `link_type` with
/// nanosecond timestamps (`if_tsresol` 9), and an enhanced packet block per packet, with
/// the packet's comment as its `opt_comment`.
pub fn write_pcapng(link_type: u32, snaplen: u32, packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    // Section length unknown (-1).
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    block(&mut out, 0x0A0D_0D0A, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&(link_type as u16).to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&snaplen.to_le_bytes());
    // if_tsresol = 10^-9, then opt_endofopt.
    idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0]);
    idb.extend_from_slice(&[0, 0, 0, 0]);
    block(&mut out, 1, &idb);
    for packet in packets {
        let mut epb = Vec::new();
        let ts = packet.timestamp_ns;
        for word in [
            0,
            (ts >> 32) as u32,
            ts as u32,
            packet.data.len() as u32,
            packet.orig_len,
        ] {
            epb.extend_from_slice(&word.to_le_bytes());
        }
        epb.extend_from_slice(&packet.data);
        epb.resize(epb.len().next_multiple_of(4), 0);
        if let Some(comment) = &packet.comment {
            // opt_comment, then opt_endofopt; an option's value is padded to 4 bytes.
            let text = &comment.as_bytes()[..comment.len().min(0xFFFF)];
            epb.extend_from_slice(&1u16.to_le_bytes());
            epb.extend_from_slice(&(text.len() as u16).to_le_bytes());
            epb.extend_from_slice(text);
            epb.resize(epb.len().next_multiple_of(4), 0);
            epb.extend_from_slice(&[0; 4]);
        }
        block(&mut out, 6, &epb);
    }
    out
}
