//! The capture reader on arbitrary bytes: a value or an error, never a panic; every
//! packet of a capture it reads adapts to Ethernet and back (or says why not), and the
//! capture written as pcapng reads back as the same packets. Seed the corpus with
//! fixtures/net/*.pcap*.

#![no_main]

use bpfkit_pcap::{link, Capture};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(capture) = Capture::parse(bytes) else {
        return;
    };
    for packet in &capture.packets {
        if let Ok(frame) = link::to_ethernet(capture.link_type, &packet.data) {
            let back = link::from_ethernet(capture.link_type, &packet.data, &frame)
                .expect("a frame made from a packet converts back");
            assert_eq!(back, packet.data);
        }
    }
    let written = bpfkit_pcap::write_pcapng(capture.link_type, capture.snaplen, &capture.packets);
    let again = Capture::parse(&written).expect("a written capture reads back");
    assert_eq!(again.packets, capture.packets);
    assert_eq!(again.link_type, capture.link_type & 0xFFFF);
});
