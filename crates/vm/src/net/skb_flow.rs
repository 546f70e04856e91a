//! The software flow hash of an skb (`skb_get_hash`, which `bpf_get_hash_recalc` calls
//! when the skb has no hash yet).
//!
//! Linux dissects the packet into flow keys (addresses, ports, protocol, IPv6 flow label),
//! orders the two endpoints so that both directions of a flow hash alike, and hashes the
//! keys with a key drawn at random at boot; the value is therefore different on every
//! machine and every boot, and bpfkit cannot reproduce it. It keeps what programs may rely
//! on: the hash is a function of the flow alone, the same for both directions, never 0,
//! and marked as an L4 hash when the keys include ports or a flow label.

use super::skb::eth_p;
use std::hash::{BuildHasher, Hasher};

/// IP protocols whose first 4 bytes are the source and destination ports, as the flow
/// dissector reads them (TCP, UDP, DCCP, SCTP, UDP-Lite).
const PORT_PROTOCOLS: [u8; 5] = [6, 17, 33, 132, 136];

/// The flow keys of a packet: one endpoint, the other, the IP protocol, and the IPv6 flow
/// label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FlowKeys {
    n_proto: u16,
    ip_proto: u8,
    a: ([u8; 16], u16),
    b: ([u8; 16], u16),
    flow_label: u32,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Dissects the network packet `net` of ethernet protocol `proto` (host order), through
/// up to two VLAN tags.
fn dissect(mut proto: u16, mut net: &[u8]) -> FlowKeys {
    let mut keys = FlowKeys::default();
    for _ in 0..2 {
        if proto != eth_p::P_8021Q && proto != eth_p::P_8021AD {
            break;
        }
        let Some(inner) = be16(net, 2) else {
            break;
        };
        proto = inner;
        net = &net[4..];
    }
    keys.n_proto = proto;
    let (l4, ip_proto) = match proto {
        eth_p::IP if net.len() >= 20 => {
            keys.a.0[..4].copy_from_slice(&net[12..16]);
            keys.b.0[..4].copy_from_slice(&net[16..20]);
            let ihl = usize::from(net[0] & 0x0f) * 4;
            // A fragment other than the first has no ports; the first has them but the
            // dissector leaves them out too unless asked (FLOW_DISSECTOR_F_PARSE_1ST_FRAG).
            let fragment = be16(net, 6).is_some_and(|f| f & 0x3fff != 0);
            (
                (!fragment && ihl >= 20).then(|| net.get(ihl..)).flatten(),
                net[9],
            )
        }
        eth_p::IPV6 if net.len() >= 40 => {
            keys.a.0.copy_from_slice(&net[8..24]);
            keys.b.0.copy_from_slice(&net[24..40]);
            keys.flow_label = u32::from_be_bytes([0, net[1] & 0x0f, net[2], net[3]]);
            (net.get(40..), net[6])
        }
        _ => (None, 0),
    };
    keys.ip_proto = ip_proto;
    if let Some(l4) = l4.filter(|_| PORT_PROTOCOLS.contains(&ip_proto)) {
        if let (Some(src), Some(dst)) = (be16(l4, 0), be16(l4, 2)) {
            keys.a.1 = src;
            keys.b.1 = dst;
        }
    }
    // Both directions of a flow hash alike (__flow_hash_consistentify).
    if keys.b < keys.a {
        std::mem::swap(&mut keys.a, &mut keys.b);
    }
    keys
}

/// The flow hash of the network packet `net` of ethernet protocol `proto` (host order),
/// and whether it covers L4 information (ports or an IPv6 flow label).
pub fn flow_hash(proto: u16, net: &[u8]) -> (u32, bool) {
    let keys = dissect(proto, net);
    let mut h = foldhash::fast::FixedState::with_seed(0x6270_666b_6974).build_hasher();
    h.write_u16(keys.n_proto);
    h.write_u8(keys.ip_proto);
    h.write(&keys.a.0);
    h.write_u16(keys.a.1);
    h.write(&keys.b.0);
    h.write_u16(keys.b.1);
    h.write_u32(keys.flow_label);
    let wide = h.finish();
    let hash = (wide ^ (wide >> 32)) as u32;
    let l4 = keys.a.1 != 0 || keys.b.1 != 0 || keys.flow_label != 0;
    (hash.max(1), l4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0, 8, 0, 0]);
        p
    }

    #[test]
    fn both_directions_hash_alike_and_ports_matter() {
        let fwd = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 1000, 53);
        let rev = ipv4_udp([10, 0, 0, 2], [10, 0, 0, 1], 53, 1000);
        let other = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 1001, 53);
        let (h, l4) = flow_hash(eth_p::IP, &fwd);
        assert!(l4);
        assert_eq!(flow_hash(eth_p::IP, &rev), (h, true));
        assert_ne!(flow_hash(eth_p::IP, &other).0, h);
    }

    #[test]
    fn fragments_and_non_ip_have_no_l4() {
        let mut frag = ipv4_udp([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
        frag[6] = 0x20; // more fragments
        assert!(!flow_hash(eth_p::IP, &frag).1);
        let (h, l4) = flow_hash(0x0806, &[0; 28]);
        assert!(h != 0 && !l4);
    }
}
