//! What a packet program's return value means, per program type: the names of XDP's and
//! tc's verdicts (`enum xdp_action`, `TC_ACT_*` in linux/pkt_cls.h) and whether the packet
//! comes out of the program (passed on, sent back, redirected) or not.

use bpfkit_vm::net::PacketKind;

/// The name of `retval` as a verdict of `kind`: `XDP_PASS`, `TC_ACT_SHOT`, `keep 42 bytes`.
pub fn name(kind: PacketKind, retval: u64) -> String {
    let known = match kind {
        PacketKind::Xdp => match retval {
            0 => Some("XDP_ABORTED"),
            1 => Some("XDP_DROP"),
            2 => Some("XDP_PASS"),
            3 => Some("XDP_TX"),
            4 => Some("XDP_REDIRECT"),
            _ => None,
        },
        PacketKind::SchedCls | PacketKind::SchedAct => match retval as u32 as i32 {
            -1 => Some("TC_ACT_UNSPEC"),
            0 => Some("TC_ACT_OK"),
            1 => Some("TC_ACT_RECLASSIFY"),
            2 => Some("TC_ACT_SHOT"),
            3 => Some("TC_ACT_PIPE"),
            4 => Some("TC_ACT_STOLEN"),
            5 => Some("TC_ACT_QUEUED"),
            6 => Some("TC_ACT_REPEAT"),
            7 => Some("TC_ACT_REDIRECT"),
            8 => Some("TC_ACT_TRAP"),
            _ => None,
        },
        PacketKind::SocketFilter => {
            return match retval as u32 {
                0 => "drop".to_string(),
                n => format!("keep {n} bytes"),
            }
        }
    };
    known.map_or_else(|| format!("{retval:#x}"), str::to_string)
}

/// Whether a packet with this verdict leaves the program: XDP's pass, TX and redirect;
/// every tc verdict but shot, stolen, queued and trap (which consume the packet) and
/// unknown values; a socket filter's non-zero lengths.
pub fn passes(kind: PacketKind, retval: u64) -> bool {
    match kind {
        PacketKind::Xdp => matches!(retval, 2..=4),
        PacketKind::SchedCls | PacketKind::SchedAct => {
            matches!(retval as u32 as i32, -1 | 0 | 1 | 3 | 6 | 7)
        }
        PacketKind::SocketFilter => retval as u32 != 0,
    }
}

/// The verdict name used to group a socket filter's results in the summary: `drop` or
/// `keep`, since the kept length differs from packet to packet.
pub fn group(kind: PacketKind, retval: u64) -> String {
    match kind {
        PacketKind::SocketFilter if retval as u32 != 0 => "keep".to_string(),
        _ => name(kind, retval),
    }
}
