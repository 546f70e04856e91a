//! Extern variables, as libbpf resolves them (`bpf_object__collect_externs`,
//! `bpf_object__resolve_externs`):
//!
//! - `__kconfig` externs (BTF `DATASEC .kconfig`): `CONFIG_*` options of the kernel's
//!   configuration and libbpf's virtual `LINUX_*` values. Laid out in one read-only
//!   global data map, `.kconfig`, by alignment (descending), size and name, which
//!   [`crate::Object::resolve_kconfig`] fills from a [`Kconfig`];
//! - `__ksym` externs (BTF `DATASEC .ksyms`): kernel symbols, which do not exist outside
//!   the kernel: a `__weak` one reads as address 0 (libbpf's answer for a weak symbol the
//!   kernel lacks), any other is an error naming it.

use crate::btf::{Btf, BtfKind, TypeId};
use crate::elf::{DataKind, DataSection, DataSymbol};
use crate::error::ObjectError;
use std::collections::BTreeMap;

/// The section name of the `__kconfig` externs' map, as libbpf's `.kconfig` internal map.
pub(crate) const KCONFIG: &str = ".kconfig";
/// The BTF `DATASEC` listing the `__ksym` externs.
pub(crate) const KSYMS: &str = ".ksyms";

/// What a `__kconfig` extern's C type lets it hold (libbpf's `enum kcfg_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KcfgKind {
    /// `bool`: `y` or `n`, 1 or 0.
    Bool,
    /// `enum libbpf_tristate`: `y` (1), `m` (2) or `n` (0).
    Tristate,
    /// `char`: the option's letter, or a number.
    Char,
    /// An integer of 2, 4 or 8 bytes (1 is `Char`).
    Int { signed: bool },
    /// `char[N]`: a quoted string, cut to N - 1 bytes and NUL-terminated.
    CharArray,
}

/// One `__kconfig` extern, placed in the `.kconfig` map.
#[derive(Clone, Debug)]
pub(crate) struct KconfigVar {
    name: String,
    kind: KcfgKind,
    offset: u64,
    size: u64,
    /// Declared `__weak`: left 0 when nothing sets it.
    weak: bool,
}

impl KconfigVar {
    /// The extern's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The `__kconfig` externs of an object and the section holding them.
#[derive(Clone, Debug)]
pub(crate) struct KconfigLayout {
    pub vars: Vec<KconfigVar>,
    /// The `.kconfig` section bpfkit makes for them (there is none in the ELF file).
    pub section: DataSection,
}

/// Lays out the `__kconfig` externs that `.BTF`'s `.kconfig` data section lists, as
/// libbpf does; `weak(name)` tells whether the ELF symbol is `STB_WEAK`. `None` when the
/// object has none.
pub(crate) fn kconfig_layout(
    btf: &Btf,
    weak: impl Fn(&str) -> bool,
) -> Result<Option<KconfigLayout>, ObjectError> {
    let Some(vars) = btf.datasec(KCONFIG) else {
        return Ok(None);
    };
    let mut placed = Vec::new();
    for var in vars {
        let fail = |reason: String| ObjectError::Extern {
            name: btf
                .get(var.type_id)
                .ok()
                .flatten()
                .map_or_else(|| format!("type {}", var.type_id), |t| t.name.clone()),
            reason,
        };
        let Some(BtfKind::Var { type_id }) = btf.get(var.type_id)?.map(|t| &t.kind) else {
            return Err(fail(format!(
                "entry of DATASEC {KCONFIG} is not a variable"
            )));
        };
        let name = btf
            .get(var.type_id)?
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let (kind, align) = kcfg_kind(btf, *type_id)
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| {
                fail("its type is none a kconfig value can have (bool, enum libbpf_tristate, char, an integer, or a char array)".into())
            })?;
        let size = btf.size_of(*type_id)?;
        placed.push((
            align,
            KconfigVar {
                weak: weak(&name),
                name,
                kind,
                offset: 0,
                size,
            },
        ));
    }
    // libbpf's `cmp_externs`: alignment descending, then size ascending, then name.
    placed.sort_by(|(a, x), (b, y)| {
        b.cmp(a)
            .then(x.size.cmp(&y.size))
            .then_with(|| x.name.cmp(&y.name))
    });
    let mut end = 0u64;
    let mut vars = Vec::new();
    for (align, mut var) in placed {
        var.offset = end.next_multiple_of(align);
        end = var.offset + var.size;
        vars.push(var);
    }
    let section = DataSection {
        name: KCONFIG.to_string(),
        kind: DataKind::Kconfig,
        bytes: vec![0; end as usize],
        size: end,
        symbols: vars
            .iter()
            .map(|v| DataSymbol {
                name: v.name.clone(),
                offset: v.offset,
                size: v.size,
            })
            .collect(),
        relocations: Vec::new(),
    };
    Ok(Some(KconfigLayout { vars, section }))
}

/// The kind and alignment of a `__kconfig` extern's type (libbpf's `find_kcfg_type`).
fn kcfg_kind(btf: &Btf, id: TypeId) -> Result<Option<(KcfgKind, u64)>, ObjectError> {
    let (_, ty) = btf.skip_mods(id)?;
    let Some(ty) = ty else { return Ok(None) };
    Ok(match &ty.kind {
        BtfKind::Int {
            boolean: true,
            size: 1,
            ..
        } => Some((KcfgKind::Bool, 1)),
        BtfKind::Int { boolean: true, .. } => None,
        BtfKind::Int { size: 1, .. } => Some((KcfgKind::Char, 1)),
        BtfKind::Int { size, signed, .. } if matches!(size, 2 | 4 | 8) => {
            Some((KcfgKind::Int { signed: *signed }, u64::from(*size)))
        }
        BtfKind::Enum { size: 4, .. } if ty.name == "libbpf_tristate" => {
            Some((KcfgKind::Tristate, 4))
        }
        BtfKind::Array { elem, nelems } if *nelems > 0 => match kcfg_kind(btf, *elem)? {
            Some((KcfgKind::Char, _)) => Some((KcfgKind::CharArray, 1)),
            _ => None,
        },
        _ => None,
    })
}

/// `KERNEL_VERSION(a, b, c)`, with `c` saturated at 255 as the kernel's macro does since
/// 4.9.256.
pub fn kernel_version(major: u32, minor: u32, patch: u32) -> u32 {
    (major << 16) + (minor << 8) + patch.min(255)
}

/// What `__kconfig` externs are resolved from: a kernel configuration (the text of a
/// `.config` file: `CONFIG_FOO=y` lines) and the kernel version for
/// `LINUX_KERNEL_VERSION`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kconfig {
    options: BTreeMap<String, String>,
    /// `KERNEL_VERSION(major, minor, patch)`.
    pub kernel_version: Option<u32>,
}

impl Kconfig {
    /// Reads the text of a kernel configuration: `CONFIG_NAME=value` lines; comments,
    /// blank lines and lines of other variables are skipped, as libbpf skips them. A
    /// `CONFIG_` line without `=` or without a value is an error naming its line.
    pub fn parse(text: &str) -> Result<Kconfig, ObjectError> {
        let mut options = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            if !line.starts_with("CONFIG_") {
                continue;
            }
            let fail = |reason: &str| ObjectError::Kconfig {
                line: n + 1,
                reason: format!("{reason}: `{line}`"),
            };
            let (name, value) = line.split_once('=').ok_or_else(|| fail("no `=`"))?;
            if value.is_empty() {
                return Err(fail("no value"));
            }
            // The first definition wins, as in libbpf.
            options
                .entry(name.to_string())
                .or_insert_with(|| value.to_string());
        }
        Ok(Kconfig {
            options,
            kernel_version: None,
        })
    }

    /// The running kernel's configuration and version, where libbpf finds them:
    /// `/boot/config-$(uname -r)`, else `/proc/config.gz`; the version from `uname -r`.
    pub fn host() -> Result<Kconfig, ObjectError> {
        let release = host_release()?;
        let release = release.trim();
        let boot = format!("/boot/config-{release}");
        let text = match std::fs::read_to_string(&boot) {
            Ok(text) => text,
            Err(_) => read_gzip("/proc/config.gz").map_err(|e| ObjectError::Kconfig {
                line: 0,
                reason: format!("neither {boot} nor /proc/config.gz can be read: {e}"),
            })?,
        };
        let mut config = Kconfig::parse(&text)?;
        config.kernel_version = parse_release(release);
        Ok(config)
    }

    /// The running kernel's version (`KERNEL_VERSION` of `uname -r`), without reading its
    /// configuration: what `LINUX_KERNEL_VERSION` gets with a configuration of another
    /// origin, as libbpf does with an extra kconfig.
    pub fn host_kernel_version() -> Option<u32> {
        parse_release(host_release().ok()?.trim())
    }

    /// The value of option `name` (`CONFIG_...`), as written in the configuration.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }
}

/// The running kernel's release string (`uname -r`), with its newline.
fn host_release() -> Result<String, ObjectError> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map_err(|e| ObjectError::Kconfig {
        line: 0,
        reason: format!("cannot read /proc/sys/kernel/osrelease: {e}"),
    })
}

/// `major.minor.patch` at the start of a kernel release string (`6.1.0-13-amd64`).
fn parse_release(release: &str) -> Option<u32> {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next()??, parts.next()??);
    let patch = parts.next().flatten().unwrap_or(0);
    Some(kernel_version(major, minor, patch))
}

fn read_gzip(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path)?).read_to_string(&mut text)?;
    Ok(text)
}

/// Writes every extern's value into `data` (the `.kconfig` map's value), as libbpf's
/// `bpf_object__resolve_externs` does: `LINUX_KERNEL_VERSION` from the version,
/// `CONFIG_*` from the configuration, other `LINUX_*` externs 0 when weak. An extern
/// nothing sets is an error unless it is weak (then 0).
pub(crate) fn fill_kconfig(
    vars: &[KconfigVar],
    config: &Kconfig,
    data: &mut [u8],
) -> Result<(), ObjectError> {
    for var in vars {
        let fail = |reason: String| ObjectError::Extern {
            name: var.name.clone(),
            reason,
        };
        let slot = &mut data[var.offset as usize..(var.offset + var.size) as usize];
        slot.fill(0);
        if var.name == "LINUX_KERNEL_VERSION" {
            let version = config
                .kernel_version
                .ok_or_else(|| fail("the kernel version is not known".into()))?;
            set_number(var, slot, u64::from(version)).map_err(fail)?;
        } else if var.name.starts_with("CONFIG_") {
            match config.get(&var.name) {
                Some(value) => set_value(var, slot, value).map_err(fail)?,
                None if var.weak => {}
                None => return Err(fail(
                    "the kernel configuration does not set it (declare it __weak to read 0 then)"
                        .into(),
                )),
            }
        } else if !(var.weak && var.name.starts_with("LINUX_")) {
            // libbpf's other virtual externs (LINUX_HAS_BPF_COOKIE, ...) describe features
            // of the kernel libbpf loads into; weak ones read 0 here.
            return Err(fail(
                "bpfkit knows no such value: __kconfig externs are CONFIG_* options, LINUX_KERNEL_VERSION, or weak LINUX_* values".into(),
            ));
        }
    }
    Ok(())
}

/// One option's value into its slot (libbpf's `bpf_object__process_kconfig_line`).
fn set_value(var: &KconfigVar, slot: &mut [u8], value: &str) -> Result<(), String> {
    match value.as_bytes()[0] {
        letter @ (b'y' | b'n' | b'm') => match var.kind {
            KcfgKind::Bool if letter == b'm' => {
                Err("its value `m` needs a tristate or char type, not bool".into())
            }
            KcfgKind::Bool => {
                slot[0] = u8::from(letter == b'y');
                Ok(())
            }
            KcfgKind::Tristate => {
                let tri: u32 = match letter {
                    b'y' => 1,
                    b'm' => 2,
                    _ => 0,
                };
                slot.copy_from_slice(&tri.to_le_bytes());
                Ok(())
            }
            KcfgKind::Char => {
                slot[0] = letter;
                Ok(())
            }
            _ => Err(format!(
                "its value `{value}` needs a bool, tristate or char type"
            )),
        },
        b'"' => {
            if var.kind != KcfgKind::CharArray {
                return Err(format!("its value {value} needs a char array type"));
            }
            let text = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| format!("its value {value} is not a quoted string"))?;
            let len = text.len().min(slot.len() - 1);
            slot[..len].copy_from_slice(&text.as_bytes()[..len]);
            Ok(())
        }
        _ => {
            let number = parse_number(value)
                .ok_or_else(|| format!("its value `{value}` is not a number"))?;
            if !matches!(var.kind, KcfgKind::Int { .. } | KcfgKind::Char) {
                return Err(format!("its value `{value}` needs an integer type"));
            }
            set_number(var, slot, number)
        }
    }
}

/// A number as C's `strtoull(value, .., 0)` reads it: decimal, `0x` hex or `0` octal,
/// with an optional sign (a negative number wraps).
fn parse_number(value: &str) -> Option<u64> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let magnitude = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}

/// A number into an integer, char or bool slot, if it fits (libbpf's
/// `set_kcfg_value_num`).
fn set_number(var: &KconfigVar, slot: &mut [u8], value: u64) -> Result<(), String> {
    let fits = match var.kind {
        KcfgKind::Bool => value <= 1,
        KcfgKind::Int { .. } | KcfgKind::Char if var.size == 8 => true,
        KcfgKind::Int { signed: true } => {
            let bits = var.size * 8;
            value.wrapping_add(1 << (bits - 1)) < 1 << bits
        }
        KcfgKind::Int { signed: false } | KcfgKind::Char => value >> (var.size * 8) == 0,
        KcfgKind::Tristate | KcfgKind::CharArray => {
            return Err(format!(
                "the number {value} needs an integer, char or bool type"
            ))
        }
    };
    if !fits {
        return Err(format!("{value} does not fit in {} bytes", var.size));
    }
    slot.copy_from_slice(&value.to_le_bytes()[..slot.len()]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_strtoull_reads_them() {
        assert_eq!(parse_number("250"), Some(250));
        assert_eq!(parse_number("0x1f"), Some(31));
        assert_eq!(parse_number("017"), Some(15));
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("-1"), Some(u64::MAX));
        assert_eq!(parse_number("12ab"), None);
    }

    #[test]
    fn release_strings_give_kernel_versions() {
        assert_eq!(parse_release("6.1.0-13-amd64"), Some(0x060100));
        assert_eq!(parse_release("6.18.44-fc-v657"), Some(0x06122c));
        // The patch level saturates at 255.
        assert_eq!(parse_release("4.9.300"), Some(0x0409ff));
        assert_eq!(parse_release("5.4"), Some(0x050400));
        assert_eq!(parse_release("x"), None);
    }

    #[test]
    fn configuration_lines() {
        let config =
            Kconfig::parse("# CONFIG_X is not set\nCONFIG_HZ=250\nCONFIG_HZ=100\nFOO=1\n").unwrap();
        assert_eq!(config.get("CONFIG_HZ"), Some("250"));
        assert_eq!(config.get("CONFIG_X"), None);
        let err = Kconfig::parse("\nCONFIG_BAD\n").unwrap_err();
        assert!(matches!(err, ObjectError::Kconfig { line: 2, .. }), "{err}");
    }
}
