//! Properties of the decoder over random input.

use bpfkit_isa::arbitrary::program;
use bpfkit_isa::{decode_program, encode_program};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Any byte string decodes or gives an error; never a panic.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_program(&bytes);
    }

    /// Random slots with a valid opcode byte reach deep into the decoder's checks.
    #[test]
    fn random_slots_never_panic(slots in prop::collection::vec(
        (prop::sample::select(ALL_OPCODES), any::<u8>(), any::<i16>(), any::<i32>()), 1..32)) {
        let bytes: Vec<u8> = slots.iter().flat_map(|&(code, regs, off, imm)| {
            let mut b = vec![code, regs];
            b.extend_from_slice(&off.to_le_bytes());
            b.extend_from_slice(&imm.to_le_bytes());
            b
        }).collect();
        if let Ok(insns) = decode_program(&bytes) {
            // What decodes encodes back to the same bytes.
            prop_assert_eq!(encode_program(&insns), bytes);
        }
    }

    /// Generated programs decode back to themselves.
    #[test]
    fn programs_round_trip(insns in program(40)) {
        prop_assert_eq!(decode_program(&encode_program(&insns)).unwrap(), insns);
    }
}

/// Every opcode byte some instruction uses (RFC 9669 plus callx).
const ALL_OPCODES: &[u8] = &[
    // ALU and ALU64, K and X: add sub mul div or and lsh rsh neg mod xor mov arsh end
    0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c,
    0x84, 0x94, 0x9c, 0xa4, 0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc, 0x07, 0x0f, 0x17, 0x1f, 0x27,
    0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f, 0x87, 0x97, 0x9f, 0xa7, 0xaf,
    0xb7, 0xbf, 0xc7, 0xcf, 0xd7,
    // JMP: ja jeq jgt jge jset jne jsgt jsge call callx exit jlt jle jslt jsle
    0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75, 0x7d, 0x85,
    0x8d, 0x95, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd,
    // JMP32: gotol and conditions
    0x06, 0x16, 0x1e, 0x26, 0x2e, 0xa6, 0xae, 0xd6, // LD: lddw, abs, ind
    0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, // LDX, LDSX, ST, STX, atomics
    0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x7a, 0x63, 0x7b, 0xc3, 0xdb,
];
