//! The Internet checksum (RFC 1071) as Linux's networking code computes it, for the
//! checksum helpers: `bpf_csum_diff`, `bpf_l3_csum_replace` and `bpf_l4_csum_replace`.
//!
//! Linux keeps partial sums (`__wsum`) as 32-bit one's complement sums of the bytes read
//! in host order: on a little-endian host, the packet's 16-bit words byte-swapped. The
//! sum is order-independent under that swap (RFC 1071 §2(B)), so updating a checksum
//! field stored in network order with values read from the packet in host order gives
//! the field the host would compute. All values here are in that host-order view: a
//! `u16` checksum field is the two bytes at its offset read as a little-endian number,
//! exactly what `*(__sum16 *)ptr` reads on x86-64.
//!
//! A one's complement sum of non-zero data is never the all-zero word (adding with
//! end-around carry only reaches 0 from 0 + 0), so the representations below are the
//! exact ones the kernel produces, not merely equivalent modulo 0xffff.

/// `csum_add`: one's complement addition of two 32-bit partial sums (end-around carry).
pub fn add(a: u32, b: u32) -> u32 {
    let (sum, carry) = a.overflowing_add(b);
    sum.wrapping_add(carry as u32)
}

/// `csum_sub`: `a` minus `b` in one's complement, i.e. `a + ~b`.
pub fn sub(a: u32, b: u32) -> u32 {
    add(a, !b)
}

/// `csum_partial`: the one's complement sum of `data` added to `seed`. Bytes are taken as
/// little-endian 32-bit words, a short last word padded with zero bytes; since 2^32 ≡ 1
/// modulo 2^32 - 1, this is the RFC 1071 sum of the 16-bit words, kept in 32 bits.
pub fn partial(data: &[u8], seed: u32) -> u32 {
    let mut words = data.chunks_exact(4);
    let mut sum = seed;
    for w in words.by_ref() {
        sum = add(sum, u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 4];
        last[..rest.len()].copy_from_slice(rest);
        sum = add(sum, u32::from_le_bytes(last));
    }
    sum
}

/// `csum_from32to16`: a 32-bit partial sum folded into 16 bits, not complemented.
pub fn from32to16(sum: u32) -> u16 {
    (sum.wrapping_add(sum.rotate_right(16)) >> 16) as u16
}

/// `csum_fold`: a 32-bit partial sum folded into the 16-bit checksum field value (the
/// complement of the folded sum).
pub fn fold(sum: u32) -> u16 {
    !from32to16(sum)
}

/// `csum_unfold`: a checksum field as a 32-bit partial sum.
pub fn unfold(field: u16) -> u32 {
    field as u32
}

/// `csum16_add`: 16-bit one's complement addition.
fn add16(a: u16, b: u16) -> u16 {
    let (sum, carry) = a.overflowing_add(b);
    sum.wrapping_add(carry as u16)
}

/// `bpf_csum_diff` (helper 28): the checksum difference between the bytes `from` and the
/// bytes `to`, added to `seed`, folded into 16 bits as Linux computes it since 6.13 (the
/// same on every architecture): `csum_sub(csum_partial(to, seed), csum_partial(from, 0))`
/// when both are given, `~csum_partial(from, ~seed)` for `from` alone (removing data
/// from a sum), `csum_partial(to, seed)` for `to` alone (adding data), `seed` for none.
pub fn diff(from: &[u8], to: &[u8], seed: u32) -> u32 {
    let sum = match (from.is_empty(), to.is_empty()) {
        (false, false) => sub(partial(to, seed), partial(from, 0)),
        (true, false) => partial(to, seed),
        (false, true) => !partial(from, !seed),
        (true, true) => seed,
    };
    from32to16(sum) as u32
}

/// `csum_replace_by_diff`: the checksum field `field` after the data it covers changed by
/// the partial sum `diff` (as `bpf_csum_diff` computes it).
pub fn replace_by_diff(field: u16, diff: u32) -> u16 {
    fold(add(diff, !unfold(field)))
}

/// `csum_replace2`: the checksum field `field` after a 16-bit word of the data it covers
/// changed from `old` to `new`, by RFC 1624's HC' = ~(~HC + ~m + m') in 16 bits.
pub fn replace2(field: u16, old: u16, new: u16) -> u16 {
    !add16(add16(!field, !old), new)
}

/// `csum_replace4`: the checksum field `field` after a 32-bit word of the data it covers
/// changed from `old` to `new` (RFC 1624 in 32-bit partial sums).
pub fn replace4(field: u16, old: u32, new: u32) -> u16 {
    fold(add(sub(!unfold(field), old), new))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3's example: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's
    /// complement, big-endian view). Read little-endian the bytes give the byte-swapped
    /// sum, f2dd.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(from32to16(partial(&data, 0)), 0xf2dd);
        assert_eq!(fold(partial(&data, 0)), !0xf2dd);
    }

    /// An odd length pads with a zero byte: 01 02 03 is the words 0201 + 0003 = 0204.
    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(from32to16(partial(&[1, 2, 3], 0)), 0x0204);
    }

    /// The classic IPv4 header of RFC 1071 discussions (Wikipedia's "IPv4 header checksum"
    /// example): 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7. Summing the header
    /// with its checksum gives ffff, so the fold (its complement) is 0.
    #[test]
    fn ipv4_header_sums_to_ffff() {
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(fold(partial(&hdr, 0)), 0);
        let mut zeroed = hdr;
        zeroed[10] = 0;
        zeroed[11] = 0;
        // The field read little-endian: bytes b8 61 are 0x61b8.
        assert_eq!(fold(partial(&zeroed, 0)), 0x61b8);
    }

    /// RFC 1624 §4's example: HC = 0xdd2f, m changes 0x5555 -> 0x3285 gives
    /// HC' = 0x0000 by eqn. 3 (where eqn. 2 wrongly gives 0xffff). In the little-endian
    /// view every value is byte-swapped, and so is the result.
    #[test]
    fn rfc1624_example() {
        assert_eq!(replace2(0x2fdd, 0x5555, 0x8532), 0x0000);
        // The same change as a 32-bit word whose other half is unchanged.
        assert_eq!(replace4(0x2fdd, 0x5555_1234, 0x8532_1234), 0x0000);
    }

    /// Replacing by a difference is the same as replacing the word.
    #[test]
    fn replace_by_diff_matches_replace4() {
        let (old, new) = (0xc0a8_0001u32, 0x0a00_0002u32);
        let d = diff(&old.to_le_bytes(), &new.to_le_bytes(), 0);
        assert_eq!(replace_by_diff(0x61b8, d), replace4(0x61b8, old, new));
    }

    /// Values of `bpf_csum_diff` as Linux 6.18 returned them (BPF_PROG_TEST_RUN of a tc
    /// program calling the helper), each also derived by hand:
    /// a = 01020304 ffffffff 80000000 00000001, b = 11111111 00000000 deadbeef 12345678
    /// (host-order u32 words, stored little-endian).
    #[test]
    fn csum_diff_as_the_kernel() {
        let words = |w: &[u32]| w.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let a = words(&[0x0102_0304, 0xffff_ffff, 0x8000_0000, 1]);
        let b = words(&[0x1111_1111, 0, 0xdead_beef, 0x1234_5678]);
        // partial(b) = 11111111 + deadbeef + 12345678 = 01f32679 (end-around carry),
        // partial(a) = 81020305; 01f32679 + ~81020305 = 80f12373; 80f1 + 2373 = a464.
        assert_eq!(diff(&a, &b, 0), 0xa464);
        // 01f3 + 2679 = 286c.
        assert_eq!(diff(&[], &b, 0), 0x286c);
        // ~partial(a, ~0) = ~81020305 = 7efdfcfa; 7efd + fcfa = 17bf7 -> 7bf8.
        assert_eq!(diff(&a, &[], 0), 0x7bf8);
        // 11111111 + 00000000 + 12345678 = 23456789; + ~01020304 = 22436485 -> 86c8.
        assert_eq!(diff(&a[..4], &b[..8], 0x1234_5678), 0x86c8);
        // The seed alone, folded: ffff + ffff = 1fffe -> ffff; 1234 + 5678 = 68ac.
        assert_eq!(diff(&[], &[], 0xffff_ffff), 0xffff);
        assert_eq!(diff(&[], &[], 0x1234_5678), 0x68ac);
        // x - x is the non-zero representation of zero.
        assert_eq!(diff(&a[..4], &a[..4], 0), 0xffff);
        // Sizes need not be multiples of 4: to = 04 03 02 01, from = 04 03 02;
        // 0406 - 0306 = 0100.
        assert_eq!(diff(&a[..3], &a[..4], 0), 0x0100);
    }

    #[test]
    fn all_zero_stays_zero() {
        assert_eq!(diff(&[], &[0; 8], 0), 0);
        assert_eq!(from32to16(0), 0);
        assert_eq!(fold(0), 0xffff);
    }
}
