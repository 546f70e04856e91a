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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_what_passes() {
        // enum xdp_action in linux/bpf.h: ABORTED 0, DROP 1, PASS 2, TX 3, REDIRECT 4.
        assert_eq!(name(PacketKind::Xdp, 3), "XDP_TX");
        assert_eq!(name(PacketKind::Xdp, 9), "0x9");
        assert!(passes(PacketKind::Xdp, 4) && !passes(PacketKind::Xdp, 1));
        // linux/pkt_cls.h: TC_ACT_UNSPEC (-1), OK 0, SHOT 2, REDIRECT 7.
        assert_eq!(
            name(PacketKind::SchedCls, u64::from(u32::MAX)),
            "TC_ACT_UNSPEC"
        );
        assert_eq!(name(PacketKind::SchedCls, 7), "TC_ACT_REDIRECT");
        assert!(!passes(PacketKind::SchedCls, 2) && passes(PacketKind::SchedCls, 0));
        // A socket filter's return value is the number of bytes to keep; 0 drops.
        assert_eq!(name(PacketKind::SocketFilter, 40), "keep 40 bytes");
        assert_eq!(group(PacketKind::SocketFilter, 40), "keep");
        assert!(!passes(PacketKind::SocketFilter, 0));
    }
}
