//! `bpf_trace_printk` and `bpf_snprintf`: `printf`-style formatting with the conversions
//! Linux accepts (`bpf_bprintf_prepare`): `%d %i %u %x %X %s %c %%`, `%p` alone or with
//! the `K`, `x`, `s`, `S`, `B`, `ks`, `us`, `i4`/`I4` and `i6`/`I6` modifiers, `l`/`ll`
//! length modifiers, the flags `-+ 0#` and a field width. `trace_printk` takes at most three arguments and its messages are collected in
//! a [`TraceLog`] instead of the kernel's trace pipe; `snprintf` takes up to twelve.

use super::linux::{TraceLog, EINVAL};
use super::{HelperContext, HelperError};
use crate::memory::Memory;

/// Longest string a `%s` reads: Linux copies strings into a 512-byte buffer.
const STR_MAX: u64 = 512;

/// `long bpf_trace_printk(const char *fmt, u32 fmt_size, ...)`: the length of the message,
/// or `-EINVAL` for a format that is not NUL-terminated within `fmt_size` or that Linux
/// would refuse.
pub(super) fn trace_printk(
    log: &TraceLog,
    ctx: &mut HelperContext,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let fmt = ctx.memory.slice(a[0], a[1] as u32 as u64)?;
    let Some(end) = fmt.iter().position(|b| *b == 0) else {
        return Ok(EINVAL);
    };
    match format(&fmt[..end], &a[2..], ctx.memory) {
        Some(message) => {
            let len = message.len() as u64;
            log.push(message);
            Ok(len)
        }
        None => Ok(EINVAL),
    }
}

/// The bytes of the NUL-terminated string at `addr` in the program's memory, at most
/// `max` of them before the NUL, and whether the NUL was found.
fn c_string(memory: &Memory<'_>, addr: u64, max: u64) -> (Vec<u8>, bool) {
    let mut bytes = Vec::new();
    for i in 0..max {
        match memory.slice(addr.wrapping_add(i), 1) {
            Ok([0]) => return (bytes, true),
            Ok(b) => bytes.push(b[0]),
            Err(_) => break,
        }
    }
    (bytes, false)
}

/// A `%s` argument; empty if unreadable, as Linux prints a string it fails to copy.
fn string(memory: &Memory<'_>, addr: u64) -> String {
    String::from_utf8_lossy(&c_string(memory, addr, STR_MAX).0).into_owned()
}

/// `%px` (and `%p`, `%pK`): without a field width, the address in 16 hex digits, as
/// Linux's `pointer_string`. Linux prints `%p` and `%pK` as a per-boot hash of the
/// address, to hide kernel addresses; bpfkit has none to hide and prints the value.
fn pointer(addr: u64, width: usize) -> String {
    if width == 0 {
        format!("{addr:016x}")
    } else {
        format!("{addr:x}")
    }
}

/// `%pI4`, `%pi4`, `%pI6`, `%pi6`: the address `addr` points to, as Linux prints it:
/// `1.2.3.4`, or `001.002.003.004` in the `i` form; eight groups of four hex digits with
/// colons, or 32 digits without them in the `i` form. An unreadable address prints as zeros, as Linux's copy of it fails
/// to zeros.
fn ip_address(memory: &Memory<'_>, addr: u64, v6: bool, i_form: bool) -> String {
    let len = if v6 { 16 } else { 4 };
    let zeros = [0u8; 16];
    let ip = memory.slice(addr, len).unwrap_or(&zeros[..len as usize]);
    match (v6, i_form) {
        (false, false) => format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]),
        (false, true) => format!("{:03}.{:03}.{:03}.{:03}", ip[0], ip[1], ip[2], ip[3]),
        (true, i_form) => {
            let groups = ip.chunks(2).map(|g| format!("{:02x}{:02x}", g[0], g[1]));
            groups
                .collect::<Vec<_>>()
                .join(if i_form { "" } else { ":" })
        }
    }
}

/// Most arguments of `bpf_snprintf` (`MAX_BPRINTF_VARARGS`).
const SNPRINTF_ARGS: u64 = 12;

/// `long bpf_snprintf(char *str, u32 str_size, const char *fmt, u64 *data, u32 data_len)`:
/// formats into `str`, truncating and NUL-terminating (unless `str_size` is 0), and
/// returns the length of the whole formatted string including its NUL; `-EINVAL` for a
/// bad format or a `data_len` that is not a multiple of 8 or exceeds twelve arguments.
pub(super) fn snprintf(ctx: &mut HelperContext, a: [u64; 5]) -> Result<u64, HelperError> {
    let data_len = a[4] as u32 as u64;
    if !data_len.is_multiple_of(8) || data_len > SNPRINTF_ARGS * 8 {
        return Ok(EINVAL);
    }
    let args: Vec<u64> = ctx
        .memory
        .slice(a[3], data_len)?
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    let (fmt, terminated) = c_string(ctx.memory, a[2], 1 << 16);
    if !terminated {
        return Ok(EINVAL);
    }
    let Some(text) = format(&fmt, &args, ctx.memory) else {
        return Ok(EINVAL);
    };
    let size = a[1] as u32 as u64;
    if size > 0 {
        let out = ctx.memory.slice_mut(a[0], size)?;
        let n = text.len().min(out.len() - 1);
        out[..n].copy_from_slice(&text.as_bytes()[..n]);
        out[n] = 0;
    }
    Ok(text.len() as u64 + 1)
}

/// Formats `fmt` with `args`, or `None` if Linux would reject the format.
pub(super) fn format(fmt: &[u8], args: &[u64], memory: &Memory<'_>) -> Option<String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            out.push(c as char);
            continue;
        }
        let mut flags = Vec::new();
        while i < fmt.len() && b"-+ 0#".contains(&fmt[i]) {
            flags.push(fmt[i]);
            i += 1;
        }
        let mut width = 0usize;
        while i < fmt.len() && fmt[i].is_ascii_digit() {
            width = width * 10 + (fmt[i] - b'0') as usize;
            i += 1;
        }
        let mut longs = 0;
        while i < fmt.len() && fmt[i] == b'l' && longs < 2 {
            longs += 1;
            i += 1;
        }
        let conv = *fmt.get(i)?;
        i += 1;
        if conv == b'%' {
            out.push('%');
            continue;
        }
        let arg = *args.next()?;
        // Without `l`, the argument is an int: its low 32 bits.
        let (signed, unsigned) = if longs == 0 {
            (arg as i32 as i64, arg as u32 as u64)
        } else {
            (arg as i64, arg)
        };
        let alt = flags.contains(&b'#');
        let body = match conv {
            b'd' | b'i' => {
                let plus = if flags.contains(&b'+') && signed >= 0 {
                    "+"
                } else if flags.contains(&b' ') && signed >= 0 {
                    " "
                } else {
                    ""
                };
                format!("{plus}{signed}")
            }
            b'u' => unsigned.to_string(),
            b'x' if alt => format!("{unsigned:#x}"),
            b'x' => format!("{unsigned:x}"),
            b'X' if alt => format!("0X{unsigned:X}"),
            b'X' => format!("{unsigned:X}"),
            b'p' => match (fmt.get(i), fmt.get(i + 1)) {
                (Some(&kind @ (b'i' | b'I')), Some(&family @ (b'4' | b'6'))) => {
                    i += 2;
                    ip_address(memory, arg, family == b'6', kind == b'i')
                }
                (Some(b'k'), Some(b's')) => {
                    i += 2;
                    string(memory, arg)
                }
                // A user-space string: every address a program holds is the kernel's
                // memory (stack, context, packet, map values), from which Linux's
                // `strncpy_from_user_nofault` copies nothing.
                (Some(b'u'), Some(b's')) => {
                    i += 2;
                    String::new()
                }
                // Symbols: bpfkit has no kernel symbols, and Linux prints an address it
                // finds no symbol for as `0x%lx`.
                (Some(b's' | b'S' | b'B'), _) => {
                    i += 1;
                    format!("{arg:#x}")
                }
                (Some(b'K' | b'x'), _) => {
                    i += 1;
                    pointer(arg, width)
                }
                (Some(c), _) if c.is_ascii_alphanumeric() => return None,
                _ => pointer(arg, width),
            },
            b's' => string(memory, arg),
            b'c' => (arg as u8 as char).to_string(),
            _ => return None,
        };
        let pad = width.saturating_sub(body.chars().count());
        if flags.contains(&b'-') {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', pad));
        } else if flags.contains(&b'0') && conv != b's' && conv != b'c' {
            // Zeros go after the sign.
            let (sign, digits) = body.split_at(body.starts_with(['-', '+', ' ']) as usize);
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', pad));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&body);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_printf() {
        let mut s = *b"hi\0\0";
        let addr = s.as_ptr() as u64;
        let mut memory = Memory::new();
        memory.add_mut(&mut s);
        let f = |fmt: &str, args: &[u64]| format(fmt.as_bytes(), args, &memory);
        // printf semantics (C11 7.21.6.1): int conversions take the low 32 bits.
        assert_eq!(f("%d", &[u32::MAX as u64]).unwrap(), "-1");
        assert_eq!(f("%u", &[u64::MAX]).unwrap(), "4294967295");
        assert_eq!(f("%llu", &[u64::MAX]).unwrap(), "18446744073709551615");
        assert_eq!(f("%lx %#x %X", &[255, 255, 255]).unwrap(), "ff 0xff FF");
        assert_eq!(
            f("[%5d|%-5d|%05d]", &[-42i64 as u64, 7, -42i64 as u64]).unwrap(),
            "[  -42|7    |-0042]"
        );
        assert_eq!(f("%s!%c%%", &[addr, b'x' as u64]).unwrap(), "hi!x%");
        // %pI4 prints the 4 bytes it points to as a dotted quad ("h" = 104, "i" = 105).
        assert_eq!(f("%pI4", &[addr]).unwrap(), "104.105.0.0");
        // A fourth argument does not exist; an unknown conversion is refused.
        assert_eq!(f("%d %d %d %d", &[1, 2, 3]), None);
        assert_eq!(f("%n", &[0]), None);
        assert_eq!(f("%pZ", &[0]), None);
    }

    /// Each expected string is what Linux 6.18 wrote through `bpf_snprintf` from an XDP
    /// program given the same format and arguments (run with `BPF_PROG_TEST_RUN`; the
    /// address 0x10 is unreadable in both).
    #[test]
    fn pointer_conversions_print_as_linux_prints_them() {
        let mut ip4 = [10u8, 1, 2, 3];
        let mut ip6 = [0x20u8, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut s = *b"hey\0";
        let (ip4_addr, ip6_addr, s_addr) =
            (ip4.as_ptr() as u64, ip6.as_ptr() as u64, s.as_ptr() as u64);
        let mut memory = Memory::new();
        memory.add_mut(&mut ip4);
        memory.add_mut(&mut ip6);
        memory.add_mut(&mut s);
        let f = |fmt: &str, args: &[u64]| format(fmt.as_bytes(), args, &memory).unwrap();
        assert_eq!(
            f("%px|%pi4|%pI4", &[255, ip4_addr, ip4_addr]),
            "00000000000000ff|010.001.002.003|10.1.2.3"
        );
        assert_eq!(
            f("%pI6|%pi6", &[ip6_addr, ip6_addr]),
            "2001:0db8:0000:0000:0000:0000:0000:0001|20010db8000000000000000000000001"
        );
        assert_eq!(
            f("%ps|%pS|%pB|", &[0x1234, 0x1234, 0x1234]),
            "0x1234|0x1234|0x1234|"
        );
        assert_eq!(f("%pks|%pus|%s", &[s_addr, s_addr, s_addr]), "hey||hey");
        assert_eq!(f("%pI4|%pks|", &[0x10, 0x10]), "0.0.0.0||");
        assert_eq!(f("%5px|", &[0x10]), "   10|");
    }
}
