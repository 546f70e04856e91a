//! The assembler against external references: llvm-mc's encodings, hand derivations from
//! RFC 9669, and its error messages.

use bpfkit_isa::{assemble, encode_program, AsmError, AsmErrorKind};

fn bytes(text: &str) -> Vec<u8> {
    match assemble(text) {
        Ok(insns) => encode_program(&insns),
        Err(e) => panic!("{text:?} does not assemble: {e}"),
    }
}

/// Every instruction form, in llvm syntax and in mnemonic syntax, with the bytes that
/// `llvm-mc-19 -triple bpfel -mcpu=v4 -show-encoding` prints for the llvm-syntax text.
const LLVM_MC: &[(&str, &str, &[u8])] = &[
    (
        "r0 = r1",
        "mov r0, r1",
        &[0xbf, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = 1",
        "mov r0, 1",
        &[0xb7, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00],
    ),
    (
        "w0 = w1",
        "mov32 r0, r1",
        &[0xbc, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w0 = -5",
        "mov32 %r0, -5",
        &[0xb4, 0x00, 0x00, 0x00, 0xfb, 0xff, 0xff, 0xff],
    ),
    (
        "r1 = 0xffffffff",
        "mov64 r1, 0xffffffff",
        &[0xb7, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff],
    ),
    (
        "r1 += 2",
        "add64 r1, 2",
        &[0x07, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00],
    ),
    (
        "r1 += r2",
        "add r1, r2",
        &[0x0f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w1 += 2",
        "add32 r1, 2",
        &[0x04, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00],
    ),
    (
        "r1 -= r2",
        "sub r1, r2",
        &[0x1f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w1 -= 7",
        "sub32 r1, 7",
        &[0x14, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00],
    ),
    (
        "r1 *= r2",
        "mul r1, r2",
        &[0x2f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w1 *= 3",
        "mul32 r1, 3",
        &[0x24, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00],
    ),
    (
        "r1 /= r2",
        "div r1, r2",
        &[0x3f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w1 /= 3",
        "div32 r1, 3",
        &[0x34, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00],
    ),
    (
        "r1 s/= r2",
        "sdiv r1, r2",
        &[0x3f, 0x21, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w0 s/= w1",
        "sdiv32 r0, r1",
        &[0x3c, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r1 %= 5",
        "mod r1, 5",
        &[0x97, 0x01, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00],
    ),
    (
        "w1 %= w2",
        "mod32 r1, r2",
        &[0x9c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 s%= 3",
        "smod r0, 3",
        &[0x97, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00],
    ),
    (
        "w1 s%= w2",
        "smod32 r1, r2",
        &[0x9c, 0x21, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r1 |= 0x10",
        "or r1, 0x10",
        &[0x47, 0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00],
    ),
    (
        "w1 |= w2",
        "or32 r1, r2",
        &[0x4c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r1 &= r2",
        "and r1, r2",
        &[0x5f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w1 &= 0xff",
        "and32 r1, 0xff",
        &[0x54, 0x01, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00],
    ),
    (
        "r1 <<= 3",
        "lsh r1, 3",
        &[0x67, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00],
    ),
    (
        "w1 <<= w2",
        "lsh32 r1, r2",
        &[0x6c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r1 >>= r2",
        "rsh r1, r2",
        &[0x7f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w1 >>= 3",
        "rsh32 r1, 3",
        &[0x74, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00],
    ),
    (
        "r1 ^= -1",
        "xor r1, -1",
        &[0xa7, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff],
    ),
    (
        "w1 ^= w2",
        "xor32 r1, r2",
        &[0xac, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r1 s>>= r2",
        "arsh r1, r2",
        &[0xcf, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w1 s>>= 3",
        "arsh32 r1, 3",
        &[0xc4, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = -r0",
        "neg r0",
        &[0x87, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w3 = -w3",
        "neg32 r3",
        &[0x84, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = (s8)r1",
        "movsx8 r0, r1",
        &[0xbf, 0x10, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = (s16)r1",
        "movsx16 r0, r1",
        &[0xbf, 0x10, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = (s32)r1",
        "movsx32 r0, r1",
        &[0xbf, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w0 = (s8)w1",
        "movsx8_32 r0, r1",
        &[0xbc, 0x10, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w0 = (s16)w1",
        "movsx16_32 r0, r1",
        &[0xbc, 0x10, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = le16 r0",
        "le16 r0",
        &[0xd4, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00],
    ),
    (
        "r1 = le32 r1",
        "le32 r1",
        &[0xd4, 0x01, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00],
    ),
    (
        "r1 = le64 r1",
        "le64 r1",
        &[0xd4, 0x01, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00],
    ),
    (
        "r1 = be16 r1",
        "be16 r1",
        &[0xdc, 0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00],
    ),
    (
        "r2 = be32 r2",
        "be32 r2",
        &[0xdc, 0x02, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00],
    ),
    (
        "r1 = be64 r1",
        "be64 r1",
        &[0xdc, 0x01, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00],
    ),
    (
        "r1 = bswap16 r1",
        "bswap16 r1",
        &[0xd7, 0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00],
    ),
    (
        "r1 = bswap32 r1",
        "bswap32 r1",
        &[0xd7, 0x01, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00],
    ),
    (
        "r1 = bswap64 r1",
        "bswap64 r1",
        &[0xd7, 0x01, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = *(u8 *)(r1 + 0x4)",
        "ldxb r0, [r1+4]",
        &[0x71, 0x10, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = *(u16 *)(r1 - 2)",
        "ldxh r0, [r1-2]",
        &[0x69, 0x10, 0xfe, 0xff, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = *(u32 *)(r1 + 0x4)",
        "ldxw r0, [r1+4]",
        &[0x61, 0x10, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = *(u64 *)(r10 - 8)",
        "ldxdw r0, [r10-8]",
        &[0x79, 0xa0, 0xf8, 0xff, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "w0 = *(u32 *)(r1 + 4)",
        "ldxw r0, [r1 + 4]",
        &[0x61, 0x10, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = *(s8 *)(r1 + 2)",
        "ldxsb r0, [r1+2]",
        &[0x91, 0x10, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = *(s16 *)(r1 + 2)",
        "ldxsh r0, [r1+2]",
        &[0x89, 0x10, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = *(s32 *)(r1 + 2)",
        "ldxsw r0, [r1+2]",
        &[0x81, 0x10, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "*(u8 *)(r10 - 1) = 0x7f",
        "stb [r10-1], 0x7f",
        &[0x72, 0x0a, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00],
    ),
    (
        "*(u16 *)(r10 - 2) = -1",
        "sth [r10-2], -1",
        &[0x6a, 0x0a, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff],
    ),
    (
        "*(u32 *)(r10 - 4) = 7",
        "stw [r10-4], 7",
        &[0x62, 0x0a, 0xfc, 0xff, 0x07, 0x00, 0x00, 0x00],
    ),
    (
        "*(u64 *)(r10 - 8) = 0",
        "stdw [r10-8], 0",
        &[0x7a, 0x0a, 0xf8, 0xff, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "*(u8 *)(r10 - 1) = r1",
        "stxb [r10-1], r1",
        &[0x73, 0x1a, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "*(u16 *)(r10 - 2) = r1",
        "stxh [r10-2], r1",
        &[0x6b, 0x1a, 0xfe, 0xff, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "*(u32 *)(r10 - 4) = w1",
        "stxw [r10-4], r1",
        &[0x63, 0x1a, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "*(u64 *)(r10 - 8) = r1",
        "stxdw [r10-8], r1",
        &[0x7b, 0x1a, 0xf8, 0xff, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "if r3 == r2 goto +11",
        "jeq r3, r2, +11",
        &[0x1d, 0x23, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "if r1 == 0 goto +2",
        "jeq r1, 0, +2",
        &[0x15, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "if r3 > r2 goto +0xb",
        "jgt r3, r2, +11",
        &[0x2d, 0x23, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "if r3 >= 4 goto -1",
        "jge r3, 4, -1",
        &[0x35, 0x03, 0xff, 0xff, 0x04, 0x00, 0x00, 0x00],
    ),
    (
        "if r3 & r2 goto +1",
        "jset r3, r2, +1",
        &[0x4d, 0x23, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "if r3 != 7 goto +1",
        "jne r3, 7, +1",
        &[0x55, 0x03, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00],
    ),
    (
        "if r3 s> r2 goto +1",
        "jsgt r3, r2, +1",
        &[0x6d, 0x23, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "if r3 s>= -3 goto +1",
        "jsge r3, -3, +1",
        &[0x75, 0x03, 0x01, 0x00, 0xfd, 0xff, 0xff, 0xff],
    ),
    (
        "if r3 < r2 goto +1",
        "jlt r3, r2, +1",
        &[0xad, 0x23, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "if r3 <= 9 goto +1",
        "jle r3, 9, +1",
        &[0xb5, 0x03, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00],
    ),
    (
        "if r3 s< r2 goto +1",
        "jslt r3, r2, +1",
        &[0xcd, 0x23, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "if r3 s<= 0 goto +1",
        "jsle r3, 0, +1",
        &[0xd5, 0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "if w1 == w2 goto +1",
        "jeq32 r1, r2, +1",
        &[0x1e, 0x21, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "if w3 s< 5 goto -2",
        "jslt32 r3, 5, -2",
        &[0xc6, 0x03, 0xfe, 0xff, 0x05, 0x00, 0x00, 0x00],
    ),
    (
        "if w1 & 3 goto +1",
        "jset32 r1, 3, +1",
        &[0x46, 0x01, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00],
    ),
    (
        "if w1 > 0xffffffff goto +1",
        "jgt32 r1, 0xffffffff, +1",
        &[0x26, 0x01, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff],
    ),
    (
        "goto +3",
        "ja +3",
        &[0x05, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "goto -1",
        "ja -1",
        &[0x05, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "gotol +5",
        "ja32 +5",
        &[0x06, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00],
    ),
    (
        "call 1",
        "call 1",
        &[0x85, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00],
    ),
    (
        "call 0x23",
        "call 0x23",
        &[0x85, 0x00, 0x00, 0x00, 0x23, 0x00, 0x00, 0x00],
    ),
    (
        "callx r1",
        "callx r1",
        &[0x8d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "exit",
        "exit",
        &[0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r1 = 0x123456789 ll",
        "lddw r1, 0x123456789",
        &[
            0x18, 0x01, 0x00, 0x00, 0x89, 0x67, 0x45, 0x23, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
            0x00, 0x00,
        ],
    ),
    (
        "r1 = 12345678901 ll",
        "lddw r1, 12345678901",
        &[
            0x18, 0x01, 0x00, 0x00, 0x35, 0x1c, 0xdc, 0xdf, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
            0x00, 0x00,
        ],
    ),
    (
        "r1 = -1 ll",
        "lddw r1, -1",
        &[
            0x18, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
            0xff, 0xff,
        ],
    ),
    (
        "r0 = *(u8 *)skb[3]",
        "ldabsb 3",
        &[0x30, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = *(u16 *)skb[12]",
        "ldabsh 12",
        &[0x28, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = *(u32 *)skb[0x1a]",
        "ldabsw 0x1a",
        &[0x20, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x00, 0x00],
    ),
    (
        "lock *(u64 *)(r0 + 0x0) += r1",
        "xadddw [r0+0], r1",
        &[0xdb, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "lock *(u32 *)(r1 + 8) += w2",
        "xaddw [r1+8], r2",
        &[0xc3, 0x21, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "lock *(u64 *)(r1 + 8) |= r2",
        "atomic_or64 [r1+8], r2",
        &[0xdb, 0x21, 0x08, 0x00, 0x40, 0x00, 0x00, 0x00],
    ),
    (
        "lock *(u32 *)(r1 + 8) |= w2",
        "atomic_or32 [r1+8], r2",
        &[0xc3, 0x21, 0x08, 0x00, 0x40, 0x00, 0x00, 0x00],
    ),
    (
        "lock *(u64 *)(r1 + 8) &= r2",
        "atomic_and [r1+8], r2",
        &[0xdb, 0x21, 0x08, 0x00, 0x50, 0x00, 0x00, 0x00],
    ),
    (
        "lock *(u32 *)(r1 + 8) ^= w2",
        "atomic_xor32 [r1+8], r2",
        &[0xc3, 0x21, 0x08, 0x00, 0xa0, 0x00, 0x00, 0x00],
    ),
    (
        "lock *(u64 *)(r1 + 8) += r2",
        "atomic_add64 [r1+8], r2",
        &[0xdb, 0x21, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = atomic_fetch_add((u64 *)(r1 + 0x8), r0)",
        "atomic_fetch_add64 [r1+8], r0",
        &[0xdb, 0x01, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00],
    ),
    (
        "w0 = atomic_fetch_add((u32 *)(r1 + 8), w0)",
        "atomic_fetch_add32 [r1+8], r0",
        &[0xc3, 0x01, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00],
    ),
    (
        "r3 = atomic_fetch_or((u64 *)(r1 + 8), r3)",
        "atomic_fetch_or [r1+8], r3",
        &[0xdb, 0x31, 0x08, 0x00, 0x41, 0x00, 0x00, 0x00],
    ),
    (
        "w3 = atomic_fetch_and((u32 *)(r1 + 8), w3)",
        "atomic_fetch_and32 [r1+8], r3",
        &[0xc3, 0x31, 0x08, 0x00, 0x51, 0x00, 0x00, 0x00],
    ),
    (
        "w0 = atomic_fetch_xor((u32 *)(r1 + 8), w0)",
        "atomic_fetch_xor32 [r1+8], r0",
        &[0xc3, 0x01, 0x08, 0x00, 0xa1, 0x00, 0x00, 0x00],
    ),
    (
        "r2 = xchg_64(r1 + 0x8, r2)",
        "xchg64 [r1+8], r2",
        &[0xdb, 0x21, 0x08, 0x00, 0xe1, 0x00, 0x00, 0x00],
    ),
    (
        "w2 = xchg32_32(r1 + 8, w2)",
        "xchg32 [r1+8], r2",
        &[0xc3, 0x21, 0x08, 0x00, 0xe1, 0x00, 0x00, 0x00],
    ),
    (
        "r0 = cmpxchg_64(r1 + 0x8, r0, r2)",
        "cmpxchg64 [r1+8], r2",
        &[0xdb, 0x21, 0x08, 0x00, 0xf1, 0x00, 0x00, 0x00],
    ),
    (
        "w0 = cmpxchg32_32(r1 + 8, w0, w2)",
        "cmpxchg32 [r1+8], r2",
        &[0xc3, 0x21, 0x08, 0x00, 0xf1, 0x00, 0x00, 0x00],
    ),
];

#[test]
fn both_syntaxes_match_llvm_mc_encodings() {
    for &(llvm, mnemonic, expected) in LLVM_MC {
        assert_eq!(bytes(llvm), expected, "llvm syntax: {llvm}");
        assert_eq!(bytes(mnemonic), expected, "mnemonic syntax: {mnemonic}");
    }
}

/// Forms llvm-mc cannot assemble, with bytes derived from RFC 9669: the opcode byte is
/// `class | operation | source`, then `src << 4 | dst`, a little-endian 16-bit offset and
/// a little-endian 32-bit immediate; an `lddw` has a second slot holding only the upper
/// immediate.
const RFC: &[(&str, &str, &[u8])] = &[
    // LD (0x00) | IND (0x40) | H (0x08) = 0x48; src r3 -> 0x30; imm 4.
    (
        "r0 = *(u16 *)skb[r3 + 4]",
        "ldindh r3, 4",
        &[0x48, 0x30, 0, 0, 4, 0, 0, 0],
    ),
    // LD | IND | B (0x10) = 0x50; imm -2 = 0xfffffffe.
    (
        "r0 = *(u8 *)skb[r3 - 2]",
        "ldindb r3, -2",
        &[0x50, 0x30, 0, 0, 0xfe, 0xff, 0xff, 0xff],
    ),
    // LD | IND | W (0x00) = 0x40; llvm-objdump's `skb[r3]` omits the immediate: 0.
    (
        "r0 = *(u32 *)skb[r3]",
        "ldindw r3, 0",
        &[0x40, 0x30, 0, 0, 0, 0, 0, 0],
    ),
    // JMP (0x05) | CALL (0x80) = 0x85, src = BPF_PSEUDO_CALL (1), imm = relative offset.
    (
        "call pc+3",
        "call local +3",
        &[0x85, 0x10, 0, 0, 3, 0, 0, 0],
    ),
    (
        "call pc-1",
        "call local -1",
        &[0x85, 0x10, 0, 0, 0xff, 0xff, 0xff, 0xff],
    ),
    // src = BPF_PSEUDO_KFUNC_CALL (2), imm = BTF id, off = module BTF index.
    (
        "call kfunc 42",
        "call kfunc 42",
        &[0x85, 0x20, 0, 0, 42, 0, 0, 0],
    ),
    (
        "call kfunc 42, 1",
        "call kfunc 42, 1",
        &[0x85, 0x20, 1, 0, 42, 0, 0, 0],
    ),
    // The kernel log's helper spelling: src 0, imm = helper number 1.
    (
        "call bpf_map_lookup_elem#1",
        "call 1",
        &[0x85, 0, 0, 0, 1, 0, 0, 0],
    ),
    // JMP32 (0x06) | JA (0x00) = 0x06, imm -100000 = 0xfffe7960.
    (
        "gotol -100000",
        "ja32 -100000",
        &[0x06, 0, 0, 0, 0x60, 0x79, 0xfe, 0xff],
    ),
    // The kernel log's relative jump target.
    ("goto pc+3", "ja +3", &[0x05, 0, 3, 0, 0, 0, 0, 0]),
    (
        "if r1 > r2 goto pc-2",
        "jgt r1, r2, -2",
        &[0x2d, 0x21, 0xfe, 0xff, 0, 0, 0, 0],
    ),
    // LD (0x00) | IMM (0x00) | DW (0x18) = 0x18, src = the pseudo kind, dst r1:
    // MAP_FD (1), imm = fd 5.
    (
        "r1 = map[fd:5]",
        "lddw r1, map[fd:5]",
        &[0x18, 0x11, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ),
    (
        "r1 = map[id:5]",
        "lddw r1, map[id:5]",
        &[0x18, 0x11, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ),
    // MAP_VALUE (2), imm = fd 5, next imm = offset 8.
    (
        "r1 = map[fd:5]+8",
        "lddw r1, map[fd:5]+8",
        &[0x18, 0x21, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0],
    ),
    (
        "r1 = map[id:5][0]+8",
        "lddw r1, map[id:5][0]+8",
        &[0x18, 0x21, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0],
    ),
    // BTF_ID (3), imm = 7.
    (
        "r2 = btf_id[7]",
        "lddw r2, btf_id[7]",
        &[0x18, 0x32, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ),
    // FUNC (4), imm = relative offset 2.
    (
        "r2 = subprog[+2]",
        "lddw r2, subprog[+2]",
        &[0x18, 0x42, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ),
    // MAP_IDX (5), imm = index 0.
    (
        "r1 = map[idx:0]",
        "lddw r1, map[idx:0]",
        &[0x18, 0x51, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ),
    // MAP_IDX_VALUE (6), imm = index 1, next imm = offset 16.
    (
        "r1 = map[idx:1]+16",
        "lddw r1, map[idx:1]+16",
        &[0x18, 0x61, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0],
    ),
    // llvm's generic spelling with src 2; the 64-bit value is split like a plain lddw's
    // (llvm-mc itself drops the upper half).
    (
        "ld_pseudo r1, 2, 0x800000005",
        "lddw r1, map[fd:5]+8",
        &[0x18, 0x21, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0],
    ),
];

#[test]
fn forms_beyond_llvm_mc_match_rfc_derivations() {
    for &(llvm, mnemonic, expected) in RFC {
        assert_eq!(bytes(llvm), expected, "llvm syntax: {llvm}");
        assert_eq!(bytes(mnemonic), expected, "mnemonic syntax: {mnemonic}");
    }
}

#[test]
fn llvm_pseudo_loads_match_llvm_mc() {
    // llvm-mc encodes `ld_pseudo r1, 1, 5` as 18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00.
    assert_eq!(
        bytes("ld_pseudo r1, 1, 5"),
        [0x18, 0x11, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
}

/// The kernel log's spellings of atomics, with the bytes llvm-mc gives their llvm-syntax
/// equivalents (`r0 = atomic_fetch_add((u64 *)(r1 + 8), r0)`, `r2 = xchg_64(r1 + 8, r2)`,
/// `r0 = cmpxchg_64(r1 + 8, r0, r2)`, `w0 = cmpxchg32_32(r1 + 8, w0, w2)`).
#[test]
fn kernel_log_atomics_match_llvm_mc() {
    let cases: &[(&str, [u8; 8])] = &[
        (
            "r0 = atomic64_fetch_add((u64 *)(r1 +8), r0)",
            [0xdb, 0x01, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00],
        ),
        (
            "r2 = atomic64_xchg((u64 *)(r1 +8), r2)",
            [0xdb, 0x21, 0x08, 0x00, 0xe1, 0x00, 0x00, 0x00],
        ),
        (
            "r0 = atomic64_cmpxchg((u64 *)(r1 +8), r0, r2)",
            [0xdb, 0x21, 0x08, 0x00, 0xf1, 0x00, 0x00, 0x00],
        ),
        (
            "w0 = atomic_cmpxchg((u32 *)(r1 +8), w0, w2)",
            [0xc3, 0x21, 0x08, 0x00, 0xf1, 0x00, 0x00, 0x00],
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(bytes(text), expected, "{text}");
    }
}

/// Labels resolve to `target - pc - 1` in slots; an lddw takes two slots.
#[test]
fn labels_resolve_to_slot_offsets() {
    let text = "
        start:
            r0 = 0               ; slot 0
            if r1 == 0 goto done ; slot 1: done is slot 5 -> 5 - 1 - 1 = 3
            r2 = 0x100000000 ll  ; slots 2, 3
            goto start           ; slot 4: 0 - 4 - 1 = -5
        done: exit               ; slot 5
    ";
    let b = bytes(text);
    assert_eq!(b.len(), 6 * 8);
    assert_eq!(&b[8..16], &[0x15, 0x01, 3, 0, 0, 0, 0, 0]);
    assert_eq!(&b[32..40], &[0x05, 0, 0xfb, 0xff, 0, 0, 0, 0]);

    // The same in mnemonic syntax, with gotol/ja32 and a label on its own line.
    let text = "
            mov r0, 0
            jeq r1, 0, done
            lddw r2, 0x100000000
            ja32 done
        done:
            exit
    ";
    let b = bytes(text);
    assert_eq!(&b[8..16], &[0x15, 0x01, 3, 0, 0, 0, 0, 0]);
    // ja32 at slot 4 to slot 5: imm 0.
    assert_eq!(&b[32..40], &[0x06, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn calls_to_labels_are_local_calls() {
    let text = "
        call helper_fn     ; slot 0 -> slot 3: imm 2
        r1 = subprog[f2]   ; slots 1, 2 -> slot 3: imm 1
        helper_fn: f2: exit
        call local helper_fn ; slot 4 -> slot 3: imm -2
    ";
    let b = bytes(text);
    // JMP | CALL with src BPF_PSEUDO_CALL (1).
    assert_eq!(&b[0..8], &[0x85, 0x10, 0, 0, 2, 0, 0, 0]);
    // lddw with src BPF_PSEUDO_FUNC (4).
    assert_eq!(
        &b[8..24],
        &[0x18, 0x41, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&b[32..40], &[0x85, 0x10, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
}

/// A pasted llvm-objdump listing: headers, symbol lines, slot indices, raw bytes, jump
/// annotations and relocation lines. The expected bytes are the raw columns llvm-objdump
/// printed.
#[test]
fn objdump_listing_assembles() {
    let listing = "
calls.o:\tfile format elf64-bpf

Disassembly of section .text:

0000000000000000 <mix>:
       0:\tbf 30 00 00 00 00 00 00\tr0 = r3
       1:\t18 01 00 00 00 00 00 f8 00 00 00 00 00 00 00 00\tr1 = 0xf8000000 ll
       3:\t2d 82 08 00 00 00 00 00\tif r2 > r8 goto +0x8 <mix+0x98>
       4:\t05 00 f3 ff 00 00 00 00\tgoto -0xd <mix+0x30>
       5:\t85 00 00 00 01 00 00 00\tcall 0x1
\t\t0000000000000028:  R_BPF_64_32\t.text
       6:\t95 00 00 00 00 00 00 00\texit
";
    let expected: Vec<u8> = [
        "bf 30 00 00 00 00 00 00",
        "18 01 00 00 00 00 00 f8 00 00 00 00 00 00 00 00",
        "2d 82 08 00 00 00 00 00",
        "05 00 f3 ff 00 00 00 00",
        "85 00 00 00 01 00 00 00",
        "95 00 00 00 00 00 00 00",
    ]
    .iter()
    .flat_map(|line| line.split(' '))
    .map(|b| u8::from_str_radix(b, 16).unwrap())
    .collect();
    assert_eq!(bytes(listing), expected);
}

/// Kernel verifier log lines: `N: (opcode) insn` with state comments after `;`.
#[test]
fn verifier_log_assembles() {
    let log = "
0: (bf) r6 = r1
1: (61) r0 = *(u32 *)(r6 +4)          ; R0_w=scalar()
2: (b7) r1 = 0
3: (15) if r0 == 0x0 goto pc+1
4: (85) call bpf_ktime_get_ns#5
5: (95) exit
";
    let expected = [
        [0xbf, 0x16, 0, 0, 0, 0, 0, 0], // ALU64|MOV|X, dst r6, src r1
        [0x61, 0x60, 4, 0, 0, 0, 0, 0], // LDX|MEM|W, dst r0, src r6, off 4
        [0xb7, 0x01, 0, 0, 0, 0, 0, 0], // ALU64|MOV|K, dst r1
        [0x15, 0x00, 1, 0, 0, 0, 0, 0], // JMP|JEQ|K, dst r0, off 1
        [0x85, 0x00, 0, 0, 5, 0, 0, 0], // JMP|CALL, helper 5
        [0x95, 0x00, 0, 0, 0, 0, 0, 0], // JMP|EXIT
    ]
    .concat();
    assert_eq!(bytes(log), expected);
}

#[test]
fn comments_and_mixed_syntax() {
    let text = "
        # a comment line
        // another
        mov r0, 1      // mnemonic
        r0 += 2        # llvm
        ; semicolon
        exit
    ";
    // ALU64|MOV|K r0 1; ALU64|ADD|K (0x07) r0 2; exit.
    let expected = [
        [0xb7, 0, 0, 0, 1, 0, 0, 0],
        [0x07, 0, 0, 0, 2, 0, 0, 0],
        [0x95, 0, 0, 0, 0, 0, 0, 0],
    ]
    .concat();
    assert_eq!(bytes(text), expected);
}

fn error(text: &str) -> AsmError {
    match assemble(text) {
        Ok(insns) => panic!("{text:?} assembled to {insns:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_name_line_column_and_what_was_expected() {
    let cases: &[(&str, &str)] = &[
        ("exit\nexit\nadd r1, r11", "line 3, column 9: expected a register r0..r10 or a number, found 'r11'"),
        ("ldxw r11, [r1]", "line 1, column 6: expected a register r0..r10, found 'r11'"),
        ("w0 = r1", "line 1, column 6: expected a 32-bit register w0..w10, found 'r1'"),
        ("if r1 > w2 goto +1", "line 1, column 9: expected a 64-bit register r0..r10, found 'w2'"),
        ("r0 = 0x100000000", "line 1, column 6: immediate 4294967296 does not fit in 32 bits; add 'll' for a 64-bit immediate load"),
        ("mov r0, 0x100000000", "line 1, column 9: immediate 4294967296 is out of range -2147483648..=4294967295"),
        ("mov r0, -2147483649", "line 1, column 9: immediate -2147483649 is out of range -2147483648..=4294967295"),
        ("ldxw r0, [r1+32768]", "line 1, column 13: offset 32768 is out of range -32768..=32767"),
        ("*(u32 *)(r1 - 32769) = 1", "line 1, column 13: offset -32769 is out of range -32768..=32767"),
        ("if r1 > r2 goto +40000", "line 1, column 17: jump offset 40000 is out of range -32768..=32767"),
        ("call 0x100000000", "line 1, column 6: immediate 4294967296 is out of range -2147483648..=4294967295"),
        ("r0 = 18446744073709551616 ll", "line 1, column 6: invalid number '18446744073709551616'"),
        ("r0 = 12ab", "line 1, column 6: invalid number '12ab'"),
        ("r0 = 1 $", "line 1, column 8: invalid character '$'"),
        ("r0 = \u{fc}", "line 1, column 6: invalid character '\u{fc}'"),
        ("r0 = 1 2", "line 1, column 8: expected end of line, found '2'"),
        ("jeq r1, 0", "line 1, column 10: expected ',', found end of line"),
        ("  foo r1", "line 1, column 3: unknown mnemonic 'foo'"),
        ("ldxdwx r0, [r1]", "line 1, column 1: unknown mnemonic 'ldxdwx'"),
        ("r1 = *(s64 *)(r2 + 0)", "line 1, column 8: expected a memory type u8..u64 or s8..s32, found 's64'"),
        ("lock *(u8 *)(r2 + 0) += r1", "line 1, column 8: expected an atomic memory type u32 or u64, found 'u8'"),
        ("w1 = (s32)w2", "line 1, column 7: expected 's8' or 's16', found 's32'"),
        ("r1 = be16 r2", "line 1, column 11: expected 'r1' (byte swaps are in place), found 'r2'"),
        ("r1 = -r2", "line 1, column 7: expected 'r1' (negation is in place), found 'r2'"),
        ("r2 = xchg_64(r1 + 8, r3)", "line 1, column 22: expected 'r2' (the register receiving the old value), found 'r3'"),
        ("r1 = cmpxchg_64(r1 + 8, r0, r2)", "line 1, column 1: expected 'r0' (cmpxchg returns the old value in r0), found 'r1'"),
        ("r1 = *(u8 *)skb[3]", "line 1, column 1: expected 'r0 = *(u8|u16|u32 *)skb[...]' for a legacy packet load, found 'r1'"),
        ("ld_pseudo r1, 7, 0", "line 1, column 15: lddw pseudo source 7 is out of range 0..=6"),
        ("r1 = map[key:1]", "line 1, column 10: expected 'fd', 'id' or 'idx', found 'key'"),
        ("exit\n\nja nowhere", "line 3, column 4: undefined label 'nowhere'"),
        ("a:\nexit\n a: exit", "line 3, column 2: label 'a' is already defined on line 1"),
        ("r0 = atomic64_fetch_add((u32 *)(r1 + 8), r0)", "line 1, column 6: expected an operation whose size matches its pointer type, found 'atomic64_fetch_add'"),
        ("r0 = foo(r1)", "line 1, column 6: expected a register, a number or an atomic operation, found 'foo'"),
    ];
    for &(text, message) in cases {
        assert_eq!(error(text).to_string(), message, "for {text:?}");
    }
}

#[test]
fn labels_out_of_reach_of_16_bits() {
    // `ja` at slot 0, `far` at slot 40001: offset 40000 does not fit an i16.
    let text = format!("ja far\n{}far: exit\n", "exit\n".repeat(40000));
    let e = error(&text);
    assert_eq!((e.line, e.column), (1, 4));
    assert_eq!(
        e.kind,
        AsmErrorKind::LabelTooFar {
            label: "far".into(),
            offset: 40000,
            bits: 16
        }
    );
    // `ja32` reaches it.
    assert!(assemble(&text.replacen("ja far", "ja32 far", 1)).is_ok());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn on_arbitrary_text(text in "\\PC{0,60}") {
            let _ = assemble(&text);
        }

        #[test]
        fn on_instruction_like_text(
            text in "[a-z0-9_ ]{0,6}[=+*<>&|,()\\[\\]:#%s-]{0,3}[ a-z0-9x+-]{0,12}[\\[\\]()*]{0,2}"
        ) {
            let _ = assemble(&text);
        }
    }
}
