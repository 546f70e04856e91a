//! Reading captures: what the writers produce reads back the same, hand-made files in
//! the other byte order and resolutions read as the formats define them, and every
//! truncation or corruption is an error naming where, never a panic.

use bpfkit_pcap::{link, Capture, Format, Packet, PcapError, LINKTYPE_ETHERNET, LINKTYPE_RAW};

fn packets() -> Vec<Packet> {
    vec![
        Packet {
            timestamp_ns: 1_700_000_000_123_456_789,
            orig_len: 5,
            data: vec![1, 2, 3, 4, 5],
            comment: None,
        },
        Packet {
            timestamp_ns: 1_700_000_001_000_000_000,
            orig_len: 100,
            data: vec![9; 60],
            comment: None,
        },
        Packet {
            timestamp_ns: 0,
            orig_len: 0,
            data: vec![],
            comment: None,
        },
    ]
}

#[test]
fn pcap_and_pcapng_round_trip() {
    let pcap = Capture::parse(&bpfkit_pcap::write_pcap(
        LINKTYPE_ETHERNET,
        1500,
        &packets(),
    ))
    .unwrap();
    assert_eq!(pcap.format, Format::Pcap);
    assert_eq!((pcap.link_type, pcap.snaplen), (LINKTYPE_ETHERNET, 1500));
    assert_eq!(pcap.packets, packets());
    assert!(pcap.packets[1].is_cut());
    let mut commented = packets();
    commented[0].comment = Some("XDP_REDIRECT to ifindex 3".to_string());
    let ng = Capture::parse(&bpfkit_pcap::write_pcapng(LINKTYPE_RAW, 0, &commented)).unwrap();
    assert_eq!(ng.format, Format::PcapNg);
    assert_eq!((ng.link_type, ng.snaplen), (LINKTYPE_RAW, 0));
    assert_eq!(ng.packets, commented);
}

#[test]
fn big_endian_microsecond_pcap() {
    // The pcap file format (draft-ietf-opsawg-pcap): magic a1b2c3d4 written big-endian,
    // version 2.4, snaplen 65535, link type 1; one record: 2 s + 5 us, 2 bytes of 4.
    let mut file = vec![0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4];
    file.extend_from_slice(&[0; 8]);
    file.extend_from_slice(&[0, 0, 0xff, 0xff, 0, 0, 0, 1]);
    file.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 4, 0xab, 0xcd]);
    let capture = Capture::parse(&file).unwrap();
    assert_eq!(capture.link_type, 1);
    assert_eq!(
        capture.packets,
        vec![Packet {
            timestamp_ns: 2_000_005_000,
            orig_len: 4,
            data: vec![0xab, 0xcd],
            comment: None,
        }]
    );
}

#[test]
fn pcapng_microsecond_default_resolution() {
    // No if_tsresol: units of 10^-6 s (pcapng spec, section 4.2). Timestamp 3_000_001 units.
    let mut file = Vec::new();
    let block = |out: &mut Vec<u8>, t: u32, body: &[u8]| {
        let len = 12 + body.len() as u32;
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&len.to_le_bytes());
    };
    block(
        &mut file,
        0x0A0D0D0A,
        &[
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    block(&mut file, 1, &[101, 0, 0, 0, 0, 0, 0, 0]);
    let mut epb = Vec::new();
    for w in [0u32, 0, 3_000_001, 4, 4] {
        epb.extend_from_slice(&w.to_le_bytes());
    }
    epb.extend_from_slice(&[0x45, 0, 0, 0]);
    block(&mut file, 6, &epb);
    // An unknown block (custom, 0x00000BAD) is skipped.
    block(&mut file, 0xBAD, &[0; 4]);
    let capture = Capture::parse(&file).unwrap();
    assert_eq!(capture.link_type, LINKTYPE_RAW);
    assert_eq!(capture.packets[0].timestamp_ns, 3_000_001_000);
    assert_eq!(capture.packets[0].data, vec![0x45, 0, 0, 0]);
}

#[test]
fn every_truncation_is_an_error_naming_its_offset() {
    for bytes in [
        bpfkit_pcap::write_pcap(LINKTYPE_ETHERNET, 65535, &packets()),
        bpfkit_pcap::write_pcapng(LINKTYPE_ETHERNET, 65535, &packets()),
    ] {
        // Cuts between whole records leave a valid file with fewer packets.
        for cut in 0..bytes.len() {
            match Capture::parse(&bytes[..cut]) {
                Ok(c) => assert!(c.packets.len() < 3, "cut at {cut}"),
                Err(PcapError::Truncated {
                    offset,
                    left,
                    needed,
                    ..
                }) => {
                    assert!(offset <= cut && left < needed, "cut at {cut}")
                }
                // A pcapng file cut right after its section header has no link type.
                Err(PcapError::Corrupt { what, .. }) if what.contains("no interface") => {}
                Err(e) => panic!("cut at {cut}: unexpected {e}"),
            }
        }
    }
}

#[test]
fn corrupt_bytes_never_panic() {
    let files = [
        bpfkit_pcap::write_pcap(LINKTYPE_ETHERNET, 65535, &packets()),
        bpfkit_pcap::write_pcapng(LINKTYPE_ETHERNET, 65535, &packets()),
    ];
    for bytes in files {
        for at in 0..bytes.len() {
            for value in [0x00, 0xff, 0x7f, 0x80, 0x03] {
                let mut corrupt = bytes.clone();
                corrupt[at] = value;
                let _ = Capture::parse(&corrupt);
            }
        }
    }
}

#[test]
fn bad_magic_and_version() {
    let err = Capture::parse(b"GIF89a......................").unwrap_err();
    assert!(err.to_string().contains("474946"), "{err}");
    let mut pcap = bpfkit_pcap::write_pcap(LINKTYPE_ETHERNET, 65535, &[]);
    pcap[4] = 3;
    assert_eq!(
        Capture::parse(&pcap).unwrap_err(),
        PcapError::Corrupt {
            what: "pcap major version 3, expected 2".into(),
            offset: 4
        }
    );
}

#[test]
fn link_adaptation() {
    let ip = [0x45, 0, 0, 20];
    let frame = link::to_ethernet(LINKTYPE_RAW, &ip).unwrap();
    assert_eq!(&frame[12..14], &[0x08, 0x00]);
    assert_eq!(link::from_ethernet(LINKTYPE_RAW, &ip, &frame).unwrap(), ip);
    let v6 = link::to_ethernet(229, &[0x60, 0, 0, 0]).unwrap();
    assert_eq!(&v6[12..14], &[0x86, 0xdd]);
    // LINUX_SLL: packet type 0, ARPHRD_ETHER 1, address length 6, address, 2 pad, IPv4.
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    let frame = link::to_ethernet(113, &sll).unwrap();
    assert_eq!(
        &frame[..14],
        &[0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0x08, 0x00]
    );
    assert_eq!(link::from_ethernet(113, &sll, &frame).unwrap(), sll);
    let err = link::to_ethernet(105, &ip).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unsupported link type 105 (IEEE802_11)"),
        "{err}"
    );
    assert!(link::to_ethernet(LINKTYPE_RAW, &[0x75]).is_err());
    assert!(link::from_ethernet(LINKTYPE_RAW, &ip, &[0; 10]).is_err());
}
