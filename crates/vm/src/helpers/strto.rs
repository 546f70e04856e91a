//! `bpf_strtol` and `bpf_strtoul`: parse an integer at the start of a buffer, as the
//! kernel's `__bpf_strtoull` does: leading white space, an optional `-`, then digits in
//! base 8, 10 or 16 (`flags`), or base 0 to detect it from a `0x` or `0` prefix; at most
//! 63 characters after the sign are looked at.

use super::{HelperContext, HelperError};

const EINVAL: i64 = 22;
const ERANGE: i64 = 34;
/// The base is the low 5 bits of `flags`; other bits are `-EINVAL`.
const BASE_MASK: u64 = 0x1f;

/// A parsed number: its magnitude, its sign, and the characters consumed.
struct Parsed {
    value: u64,
    negative: bool,
    consumed: usize,
}

fn parse(buf: &[u8], flags: u64) -> Result<Parsed, i64> {
    let mut base = (flags & BASE_MASK) as u32;
    if buf.is_empty() || ![0, 8, 10, 16].contains(&base) || flags & !BASE_MASK != 0 {
        return Err(-EINVAL);
    }
    // isspace() in the kernel's ctype: space, \t, \n, \v, \f, \r.
    let mut at = buf
        .iter()
        .position(|c| !b" \t\n\x0b\x0c\r".contains(c))
        .unwrap_or(buf.len());
    let negative = buf.get(at) == Some(&b'-');
    at += negative as usize;
    if at == buf.len() {
        return Err(-EINVAL);
    }
    let text = &buf[at..buf.len().min(at + 63)];
    let byte = |i: usize| text.get(i).copied().unwrap_or(0);
    let hex_prefix = byte(0) == b'0' && byte(1) | 0x20 == b'x';
    if base == 0 {
        base = if hex_prefix && byte(2).is_ascii_hexdigit() {
            16
        } else if byte(0) == b'0' {
            8
        } else {
            10
        };
    }
    let mut i = if base == 16 && hex_prefix { 2 } else { 0 };
    let digits_start = i;
    let (mut value, mut overflow) = (0u64, false);
    while let Some(d) = (byte(i) as char).to_digit(base) {
        match value
            .checked_mul(base as u64)
            .and_then(|v| v.checked_add(d as u64))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        i += 1;
    }
    if overflow {
        return Err(-ERANGE);
    }
    if i == digits_start {
        return Err(-EINVAL);
    }
    Ok(Parsed {
        value,
        negative,
        consumed: at + i,
    })
}

/// Reads the buffer `a[0..2]`, parses it with `convert`, stores the result (0 on error,
/// as the kernel does) at `a[3]`, and returns the characters consumed or `-errno`.
fn strto(
    ctx: &mut HelperContext,
    a: [u64; 5],
    convert: fn(Parsed) -> Result<u64, i64>,
) -> Result<u64, HelperError> {
    ctx.memory.slice_mut(a[3], 8)?.fill(0);
    let parsed = parse(ctx.memory.slice(a[0], a[1])?, a[2]);
    let (ret, value) = match parsed {
        Ok(p) => {
            let consumed = p.consumed as i64;
            match convert(p) {
                Ok(v) => (consumed, v),
                Err(e) => (e, 0),
            }
        }
        Err(e) => (e, 0),
    };
    ctx.memory
        .slice_mut(a[3], 8)?
        .copy_from_slice(&value.to_ne_bytes());
    Ok(ret as u64)
}

/// `long bpf_strtol(const char *buf, size_t buf_len, u64 flags, long *res)`.
pub(super) fn strtol(ctx: &mut HelperContext, a: [u64; 5]) -> Result<u64, HelperError> {
    strto(ctx, a, |p| {
        let v = p.value as i64;
        if p.negative {
            // -v must not be positive: magnitudes up to 2^63 fit.
            if v.wrapping_neg() > 0 {
                return Err(-ERANGE);
            }
            Ok(v.wrapping_neg() as u64)
        } else if v < 0 {
            Err(-ERANGE)
        } else {
            Ok(v as u64)
        }
    })
}

/// `long bpf_strtoul(const char *buf, size_t buf_len, u64 flags, unsigned long *res)`: a
/// minus sign is `-EINVAL`.
pub(super) fn strtoul(ctx: &mut HelperContext, a: [u64; 5]) -> Result<u64, HelperError> {
    strto(ctx, a, |p| {
        if p.negative {
            Err(-EINVAL)
        } else {
            Ok(p.value)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, base: u64) -> Result<(u64, bool, usize), i64> {
        parse(s.as_bytes(), base).map(|p| (p.value, p.negative, p.consumed))
    }

    #[test]
    fn parses_like_kernel_strtoull() {
        // Leading blanks and the sign are counted in what is consumed.
        assert_eq!(p("  -42abc", 10), Ok((42, true, 5)));
        // Base 0: "0x" followed by a hex digit is hex, a leading 0 octal, else decimal.
        assert_eq!(p("0x1fz", 0), Ok((31, false, 4)));
        assert_eq!(p("017", 0), Ok((15, false, 3)));
        assert_eq!(p("0xg", 0), Ok((0, false, 1)));
        assert_eq!(p("99", 0), Ok((99, false, 2)));
        // Base 16 skips a 0x prefix even if no digit follows, which then fails.
        assert_eq!(p("0x", 16), Err(-EINVAL));
        // No digits, an empty buffer, a bad base, unknown flag bits: -EINVAL.
        assert_eq!(p("  ", 10), Err(-EINVAL));
        assert_eq!(p("", 10), Err(-EINVAL));
        assert_eq!(p("1", 2), Err(-EINVAL));
        assert_eq!(p("1", 10 | 0x20), Err(-EINVAL));
        // 2^64 overflows: -ERANGE.
        assert_eq!(p("18446744073709551616", 10), Err(-ERANGE));
        assert_eq!(p("18446744073709551615", 10), Ok((u64::MAX, false, 20)));
    }
}
