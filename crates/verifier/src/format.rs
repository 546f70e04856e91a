//! The format strings of `bpf_snprintf`, checked when the program is loaded as the
//! kernel checks them (`bpf_bprintf_prepare` in kernel/bpf/helpers.c, called by
//! `check_bpf_snprintf_call` with no arguments to copy): which conversions exist, and
//! that there are no more of them than arguments.

/// Checks `fmt` (the bytes before its NUL) for `num_args` arguments; the error says what
/// is wrong, to follow "the format string".
pub(crate) fn check(fmt: &[u8], num_args: u64) -> Result<(), String> {
    // Past the end reads as the NUL, as in the kernel's NUL-terminated string.
    let at = |i: usize| fmt.get(i).copied().unwrap_or(0);
    // The kernel's ctype: ASCII only.
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let is_punct = |c: u8| c.is_ascii_punctuation();
    // What may follow `%s` and the pointer conversions: the end, a space or punctuation.
    let ends_word = |c: u8| c == 0 || is_space(c) || is_punct(c);
    let mut specs = 0u64;
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        // Bytes of 0x80 and above pass (UTF-8 text); ASCII control bytes do not.
        if c.is_ascii() && !(0x20..0x7f).contains(&c) && !is_space(c) {
            return Err(format!("has the control byte {c:#04x} at {i}"));
        }
        if c != b'%' {
            i += 1;
            continue;
        }
        if at(i + 1) == b'%' {
            i += 2;
            continue;
        }
        if specs >= num_args {
            return Err(format!(
                "has more conversions than the {num_args} arguments given (the conversion at {i})"
            ));
        }
        let start = i;
        i += 1;
        if !at(i).is_ascii() {
            return Err(format!("has a non-ASCII byte after the `%` at {start}"));
        }
        let bad = |what: &str| Err(format!("has {what} at {start}"));
        // Flags and a width: "[0 +-]*[1-9][0-9]*".
        while matches!(at(i), b'0' | b'+' | b'-' | b' ') {
            i += 1;
        }
        if (b'1'..=b'9').contains(&at(i)) {
            while at(i).is_ascii_digit() {
                i += 1;
            }
        }
        match at(i) {
            b'p' => {
                match at(i + 1) {
                    c if ends_word(c) => {}
                    b'k' | b'u' if at(i + 2) == b's' => {
                        i += 2;
                        if !ends_word(at(i + 1)) {
                            return bad("a `%pks`/`%pus` followed by a letter or digit");
                        }
                    }
                    b'K' | b'x' | b's' | b'S' | b'B' => i += 1,
                    b'i' | b'I' if matches!(at(i + 2), b'4' | b'6') => i += 2,
                    _ => return bad(
                        "a `%p` with a modifier other than K, x, s, S, B, ks, us, i4, I4, i6, I6",
                    ),
                }
            }
            b's' => {
                if !ends_word(at(i + 1)) {
                    return bad("a `%s` followed by a letter or digit");
                }
            }
            b'c' => {}
            _ => {
                // Integers: up to two `l`s, then one of "idux X".
                for _ in 0..2 {
                    if at(i) == b'l' {
                        i += 1;
                    }
                }
                if !matches!(at(i), b'i' | b'd' | b'u' | b'x' | b'X') {
                    return bad("a conversion that is not one of d i u x X c s p (with l or ll)");
                }
            }
        }
        specs += 1;
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    // Expectations follow bpf_bprintf_prepare's code, case by case.
    #[test]
    fn conversions_the_kernel_takes() {
        for (fmt, n) in [
            ("plain text", 0),
            ("100%%", 0),
            ("%d %i %u %x %X", 5),
            ("%ld %lld %llx %lu", 4),
            ("%-5d|%05u|%+d|% d", 4),
            ("%s, %c", 2),
            ("%p %pK %px %pB %pks. %pus %pi4 %pI6", 8),
            // Fewer conversions than arguments is fine.
            ("%d", 3),
            ("caf\u{e9} %d", 1),
        ] {
            assert_eq!(check(fmt.as_bytes(), n), Ok(()), "{fmt}");
        }
    }

    #[test]
    fn conversions_the_kernel_refuses() {
        for (fmt, n) in [
            // More conversions than arguments.
            ("%d %d", 1),
            ("%d", 0),
            // Unknown conversions and modifiers.
            ("%f", 1),
            ("%lllu", 1),
            ("%hd", 1),
            ("%pZ", 1),
            ("%pi5", 1),
            ("%sx", 1),
            ("%pksa", 1),
            // A control byte.
            ("a\u{1}b", 0),
            // A `%` at the very end has no conversion.
            ("%", 1),
        ] {
            assert!(check(fmt.as_bytes(), n).is_err(), "{fmt}");
        }
    }
}
