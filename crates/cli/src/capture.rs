//! The packets `bpfkit test-run` runs a program on: a capture file (pcap or pcapng) or one
//! packet given as hex, and the capture it writes of the packets that come out.

use crate::error::{CliError, CliResult};
use crate::input::{self, Input};
use bpfkit_pcap::{link, Capture, Packet, LINKTYPE_ETHERNET};

/// Packets to run, with where they came from.
pub struct Packets {
    /// The capture's path, or `--packet-hex`.
    pub source: String,
    /// Their link type (`LINKTYPE_*`).
    pub link_type: u32,
    /// The capture's snap length, kept for the output.
    pub snaplen: u32,
    /// The packets, as captured.
    pub packets: Vec<Packet>,
}

/// Reads a capture file, refusing link types bpfkit cannot give programs as Ethernet.
pub fn read(path: &str) -> CliResult<Packets> {
    let file = Input::read(path)?;
    let capture = Capture::parse(&file.bytes)
        .map_err(|e| CliError::input(format!("cannot read {} as a capture: {e}", file.name)))?;
    link::check(capture.link_type).map_err(|e| CliError::input(format!("{}: {e}", file.name)))?;
    Ok(Packets {
        source: file.name,
        link_type: capture.link_type,
        snaplen: capture.snaplen,
        packets: capture.packets,
    })
}

/// One Ethernet frame given as hex digits.
pub fn from_hex(hex: &str) -> CliResult<Packets> {
    let data = input::parse_hex(hex)
        .map_err(|e| CliError::input(format!("--packet-hex is not valid hex: {e}")))?;
    Ok(Packets {
        source: "--packet-hex".to_string(),
        link_type: LINKTYPE_ETHERNET,
        snaplen: 65535,
        packets: vec![Packet {
            timestamp_ns: 0,
            orig_len: data.len() as u32,
            data,
            comment: None,
        }],
    })
}

/// Why a captured packet is not run, if it is not: cut by the snap length (the program
/// would see a different packet than the wire carried), or not adaptable to Ethernet.
pub fn frame(link_type: u32, packet: &Packet) -> Result<Vec<u8>, String> {
    if packet.is_cut() {
        return Err(format!(
            "cut to {} of its {} bytes by the capture's snap length",
            packet.data.len(),
            packet.orig_len
        ));
    }
    link::to_ethernet(link_type, &packet.data).map_err(|e| e.to_string())
}

/// Writes `packets` (Ethernet frames after the run, with the packets they came from) to
/// `path` in the input's link type: pcapng, with each packet's verdict as its comment,
/// when the name ends in `.pcapng`, pcap otherwise.
pub fn write(path: &str, from: &Packets, out: &[(&Packet, Vec<u8>, String)]) -> CliResult {
    let packets = out
        .iter()
        .map(|(original, frame, comment)| {
            let data = link::from_ethernet(from.link_type, &original.data, frame)
                .map_err(|e| CliError::failed(format!("cannot write {path}: {e}")))?;
            Ok(Packet {
                timestamp_ns: original.timestamp_ns,
                orig_len: data.len() as u32,
                data,
                comment: Some(comment.clone()),
            })
        })
        .collect::<CliResult<Vec<Packet>>>()?;
    let snaplen = packets
        .iter()
        .map(|p| p.data.len() as u32)
        .max()
        .unwrap_or(0)
        .max(from.snaplen);
    let bytes = if path.ends_with(".pcapng") {
        bpfkit_pcap::write_pcapng(from.link_type, snaplen, &packets)
    } else {
        bpfkit_pcap::write_pcap(from.link_type, snaplen, &packets)
    };
    crate::output::file(path, &bytes)
}
