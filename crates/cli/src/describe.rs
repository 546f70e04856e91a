//! One-line descriptions of Ethernet frames for `test-run --verbose`, in tcpdump's spirit:
//! `vlan 100 IPv4 10.0.0.1:4000 > 10.0.0.2:80 UDP`. Frames too short for a header they
//! announce end with `[cut]`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Describes `frame`, an Ethernet frame.
pub fn frame(frame: &[u8]) -> String {
    let mut words = Vec::new();
    let Some(mut ether_type) = be16(frame, 12) else {
        return "[cut Ethernet header]".to_string();
    };
    let mut at = 14;
    while ether_type == 0x8100 || ether_type == 0x88a8 {
        let (Some(tci), Some(inner)) = (be16(frame, at), be16(frame, at + 2)) else {
            words.push("vlan [cut]".to_string());
            return words.join(" ");
        };
        words.push(format!("vlan {}", tci & 0x0fff));
        ether_type = inner;
        at += 4;
    }
    let rest = &frame[at.min(frame.len())..];
    words.push(match ether_type {
        0x0800 => ipv4(rest),
        0x86dd => ipv6(rest),
        0x0806 => "ARP".to_string(),
        other => format!("ethertype {other:#06x}"),
    });
    words.join(" ")
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

fn ipv4(p: &[u8]) -> String {
    if p.len() < 20 {
        return "IPv4 [cut]".to_string();
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let frag = u16::from_be_bytes([p[6], p[7]]);
    if frag & 0x1fff != 0 {
        return format!("IPv4 {src} > {dst} fragment at {}", (frag & 0x1fff) * 8);
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    transport(
        "IPv4",
        &src.to_string(),
        &dst.to_string(),
        p[9],
        p.get(ihl..).unwrap_or(&[]),
    )
}

fn ipv6(p: &[u8]) -> String {
    if p.len() < 40 {
        return "IPv6 [cut]".to_string();
    }
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&p[at..at + 16]);
        Ipv6Addr::from(a).to_string()
    };
    transport("IPv6", &addr(8), &addr(24), p[6], &p[40..])
}

/// `IPv4 src:port > dst:port TCP`, or without ports for other protocols.
fn transport(ip: &str, src: &str, dst: &str, proto: u8, l4: &[u8]) -> String {
    let name = match proto {
        1 => "ICMP",
        4 => "IP-in-IP",
        6 => "TCP",
        17 => "UDP",
        58 => "ICMPv6",
        _ => return format!("{ip} {src} > {dst} protocol {proto}"),
    };
    match (proto, be16(l4, 0), be16(l4, 2)) {
        (6 | 17, Some(sport), Some(dport)) if ip == "IPv6" => {
            format!("{ip} [{src}]:{sport} > [{dst}]:{dport} {name}")
        }
        (6 | 17, Some(sport), Some(dport)) => {
            format!("{ip} {src}:{sport} > {dst}:{dport} {name}")
        }
        (1 | 58, _, _) => match l4.first() {
            Some(8 | 128) => format!("{ip} {src} > {dst} {name} echo request"),
            Some(0 | 129) => format!("{ip} {src} > {dst} {name} echo reply"),
            Some(t) => format!("{ip} {src} > {dst} {name} type {t}"),
            None => format!("{ip} {src} > {dst} {name} [cut]"),
        },
        _ => format!("{ip} {src} > {dst} {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::frame;

    #[test]
    fn descriptions() {
        // Ethernet + IPv4 (10.0.0.1 > 10.0.0.2, TCP, IHL 5) + ports 40000 > 80.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0x9c, 0x40, 0, 80]);
        assert_eq!(frame(&f), "IPv4 10.0.0.1:40000 > 10.0.0.2:80 TCP");
        assert_eq!(frame(&f[..20]), "IPv4 [cut]");
        assert_eq!(frame(&f[..5]), "[cut Ethernet header]");
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
        tagged.extend_from_slice(&f[12..]);
        assert_eq!(
            frame(&tagged),
            "vlan 100 IPv4 10.0.0.1:40000 > 10.0.0.2:80 TCP"
        );
    }
}
