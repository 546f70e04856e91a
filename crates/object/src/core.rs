//! CO-RE ("compile once, run everywhere") relocations: clang records, for each
//! instruction whose constant depends on a type's layout, the local type, an access path
//! and what is wanted (a field's offset, size or existence, a type's existence, size or
//! id, an enumerator's existence or value, whether a type matches). Resolving one finds the same type in a target
//! BTF (the running kernel's, usually) by name, follows the same path by member names,
//! and patches the instruction with the target's value. This mirrors libbpf's
//! `bpf_core_apply_relo_insn` (tools/lib/bpf/relo_core.c), bitfields included, for
//! little-endian targets.

use crate::btf::{Btf, BtfKind, BtfType, Member, TypeId, MAX_RESOLVE_DEPTH};
use crate::btf_ext::CoreRelo;
use crate::error::ObjectError;

/// `enum bpf_core_relo_kind`.
const FIELD_BYTE_OFFSET: u32 = 0;
const FIELD_BYTE_SIZE: u32 = 1;
const FIELD_EXISTS: u32 = 2;
const FIELD_SIGNED: u32 = 3;
const FIELD_LSHIFT_U64: u32 = 4;
const FIELD_RSHIFT_U64: u32 = 5;
const TYPE_ID_LOCAL: u32 = 6;
const TYPE_ID_TARGET: u32 = 7;
const TYPE_EXISTS: u32 = 8;
const TYPE_SIZE: u32 = 9;
const ENUMVAL_EXISTS: u32 = 10;
const ENUMVAL_VALUE: u32 = 11;
const TYPE_MATCHES: u32 = 12;

/// How deep `TYPE_MATCHES` follows members and parameters (libbpf's `bpf_core_types_match`).
const MATCH_LEVELS: u32 = 32;

/// The helper number libbpf writes into an instruction whose relocation has no target
/// (`bpf_core_poison_insn`): the verifier rejects it only if the instruction is reachable.
const POISON_HELPER: i32 = 0xbad2310;

/// The name of a relocation kind, for errors.
fn kind_name(kind: u32) -> &'static str {
    match kind {
        FIELD_BYTE_OFFSET => "field byte offset",
        FIELD_BYTE_SIZE => "field byte size",
        FIELD_EXISTS => "field existence",
        FIELD_SIGNED => "field signedness",
        FIELD_LSHIFT_U64 => "field left shift",
        FIELD_RSHIFT_U64 => "field right shift",
        TYPE_ID_LOCAL => "local type id",
        TYPE_ID_TARGET => "target type id",
        TYPE_EXISTS => "type existence",
        TYPE_SIZE => "type size",
        ENUMVAL_EXISTS => "enum value existence",
        ENUMVAL_VALUE => "enum value",
        TYPE_MATCHES => "type match",
        _ => "unknown kind",
    }
}

/// What a relocation resolves to: the value for the local and the target types, or no
/// target (the instruction is poisoned, or 0 for the existence kinds).
struct Resolution {
    local: u64,
    target: Option<u64>,
}

/// Resolves every relocation of `relos` (of code section `section`, whose bytes are
/// `code`) against `target`, patching `code`.
pub(crate) fn apply(
    local: &Btf,
    target: &Btf,
    section: &str,
    code: &mut [u8],
    relos: &[CoreRelo],
) -> Result<(), ObjectError> {
    for relo in relos {
        let fail = |reason: String| ObjectError::Core {
            section: section.to_string(),
            offset: relo.offset,
            kind: kind_name(relo.kind),
            reason,
        };
        let resolution = resolve(local, target, relo).map_err(|e| match e {
            ObjectError::Btf { reason, .. } => fail(reason),
            other => other,
        })?;
        patch(code, relo.offset, &resolution, relo.kind).map_err(fail)?;
    }
    Ok(())
}

fn resolve(local: &Btf, target: &Btf, relo: &CoreRelo) -> Result<Resolution, ObjectError> {
    let (local_id, local_type) = match local.get(relo.type_id)? {
        Some(t) => (relo.type_id, t),
        None => return Err(btf_error("the relocation's type is void")),
    };
    let candidates = candidates(local_type, target)?;
    match relo.kind {
        FIELD_BYTE_OFFSET..=FIELD_RSHIFT_U64 => {
            let path = local_path(local, local_id, &relo.access)?;
            let local_value = field_value(local, &path.field, relo.kind)?;
            let mut found = None;
            for id in candidates {
                if let Some(f) = match_path(local, target, id, &path)? {
                    agree(&mut found, field_value(target, &f, relo.kind)?)?;
                }
            }
            Ok(Resolution {
                local: local_value,
                target: exists_or(relo.kind == FIELD_EXISTS, found),
            })
        }
        TYPE_ID_LOCAL => Ok(Resolution {
            local: u64::from(local_id),
            target: Some(u64::from(local_id)),
        }),
        TYPE_ID_TARGET | TYPE_EXISTS | TYPE_SIZE => {
            let value = |btf: &Btf, id: TypeId| -> Result<u64, ObjectError> {
                Ok(match relo.kind {
                    TYPE_ID_TARGET => u64::from(id),
                    TYPE_EXISTS => 1,
                    _ => btf.size_of(id)?,
                })
            };
            let mut found = None;
            for id in candidates {
                agree(&mut found, value(target, id)?)?;
            }
            Ok(Resolution {
                local: value(local, local_id)?,
                target: exists_or(relo.kind == TYPE_EXISTS, found),
            })
        }
        TYPE_MATCHES => {
            let mut found = None;
            for id in candidates {
                if types_match(local, local_id, target, id, false, MATCH_LEVELS)? {
                    agree(&mut found, 1)?;
                }
            }
            Ok(Resolution {
                local: 1,
                target: exists_or(true, found),
            })
        }
        ENUMVAL_EXISTS | ENUMVAL_VALUE => {
            let index: usize = relo
                .access
                .parse()
                .map_err(|_| btf_error(format!("bad enum access string `{}`", relo.access)))?;
            let BtfKind::Enum { values, .. } = &local_type.kind else {
                return Err(btf_error(
                    "an enum value relocation on a type that is not an enum",
                ));
            };
            let (name, local_value) = values
                .get(index)
                .ok_or_else(|| btf_error(format!("the enum has no value number {index}")))?;
            let value = |v: i64| {
                if relo.kind == ENUMVAL_EXISTS {
                    1
                } else {
                    v as u64
                }
            };
            let mut found = None;
            for id in candidates {
                if let Some(BtfKind::Enum { values, .. }) = target.get(id)?.map(|t| &t.kind) {
                    if let Some((_, v)) =
                        values.iter().find(|(n, _)| essential(n) == essential(name))
                    {
                        agree(&mut found, value(*v))?;
                    }
                }
            }
            Ok(Resolution {
                local: value(*local_value),
                target: exists_or(relo.kind == ENUMVAL_EXISTS, found),
            })
        }
        _ => Err(btf_error("this relocation kind is not supported")),
    }
}

/// For the existence kinds, a missing target is the answer 0.
fn exists_or(existence: bool, found: Option<u64>) -> Option<u64> {
    if existence {
        Some(found.unwrap_or(0))
    } else {
        found
    }
}

/// Records `value` as the resolution, checking every matching candidate agrees (libbpf
/// refuses ambiguous relocations).
fn agree(found: &mut Option<u64>, value: u64) -> Result<(), ObjectError> {
    match *found {
        Some(previous) if previous != value => Err(btf_error(format!(
            "target candidates disagree ({previous} and {value})"
        ))),
        _ => {
            *found = Some(value);
            Ok(())
        }
    }
}

/// A name without its `___flavour` suffix: `iphdr___local` is looked up as `iphdr`.
fn essential(name: &str) -> &str {
    name.find("___").map_or(name, |i| &name[..i])
}

/// Which kinds a local type may match: the same kind (`ENUM` and `ENUM64` are one kind
/// here), as libbpf's `btf_kind_core_compat`.
fn kind_class(kind: &BtfKind) -> u8 {
    match kind {
        BtfKind::Struct { .. } => 1,
        BtfKind::Union { .. } => 11,
        BtfKind::Enum { .. } => 2,
        BtfKind::Int { .. } => 3,
        BtfKind::Ptr(_) => 4,
        BtfKind::Array { .. } => 5,
        BtfKind::Typedef(_) => 6,
        BtfKind::Func { .. } => 7,
        BtfKind::FuncProto { .. } => 8,
        BtfKind::Float { .. } => 9,
        BtfKind::Fwd { .. } => 10,
        _ => 0,
    }
}

/// The target types with the local type's essential name and kind (libbpf's
/// `bpf_core_add_cands`).
fn candidates(local: &BtfType, target: &Btf) -> Result<Vec<TypeId>, ObjectError> {
    let name = essential(&local.name);
    if name.is_empty() {
        return Err(btf_error("the relocated type has no name to find it by"));
    }
    let class = kind_class(&local.kind);
    Ok(target
        .types()
        .filter(|(_, t)| kind_class(&t.kind) == class && essential(&t.name) == name)
        .map(|(id, _)| id)
        .collect())
}

/// Whether two names are the same once their `___flavour` suffixes are dropped; an
/// anonymous target matches only an anonymous local (libbpf's `bpf_core_names_match`).
fn names_match(local: &str, target: &str) -> bool {
    if target.is_empty() {
        local.is_empty()
    } else {
        essential(local) == essential(target)
    }
}

/// Whether local type `local_id` matches target type `target_id` (libbpf's
/// `__bpf_core_types_match`, which `bpf_core_type_matches()` asks for): after typedefs and
/// modifiers, the same names and kinds; integers of the same size and signedness; arrays
/// of as many matching elements; pointers to matching types; enums of the same size whose
/// every local enumerator name is in the target; structs and unions whose every local
/// member has a target member of the same name and a matching type (behind a pointer, a
/// struct or union also matches a forward declaration of its kind, and only names and
/// kinds are compared); function prototypes with as many matching parameters and a
/// matching return type. `level` bounds the nesting of members and parameters.
fn types_match(
    local: &Btf,
    local_id: TypeId,
    target: &Btf,
    target_id: TypeId,
    mut behind_ptr: bool,
    level: u32,
) -> Result<bool, ObjectError> {
    if level == 0 {
        return Err(btf_error("types nest too deep to match"));
    }
    let (mut local_id, mut target_id) = (local_id, target_id);
    for _ in 0..MAX_RESOLVE_DEPTH {
        let (_, l) = local.skip_mods(local_id)?;
        let (_, t) = target.skip_mods(target_id)?;
        let (Some(l), Some(t)) = (l, t) else {
            // `void` matches only `void`.
            return Ok(l.is_none() && t.is_none());
        };
        if !names_match(&l.name, &t.name) {
            return Ok(false);
        }
        return match (&l.kind, &t.kind) {
            (BtfKind::Fwd { union }, _) => Ok(match t.kind {
                BtfKind::Fwd { union: t_union } => *union == t_union,
                // Behind a pointer, a declaration matches the definition of its kind.
                BtfKind::Struct { .. } => behind_ptr && !union,
                BtfKind::Union { .. } => behind_ptr && *union,
                _ => false,
            }),
            (
                BtfKind::Enum { size, values, .. },
                BtfKind::Enum {
                    size: t_size,
                    values: t_values,
                    ..
                },
            ) => Ok(size == t_size
                && values.len() <= t_values.len()
                && values
                    .iter()
                    .all(|(n, _)| t_values.iter().any(|(tn, _)| names_match(n, tn)))),
            (BtfKind::Struct { .. } | BtfKind::Union { .. }, _) => {
                let (union, members) = composite(&l.kind).expect("a struct or union");
                match (composite(&t.kind), &t.kind) {
                    (Some((t_union, _)), _) if behind_ptr => Ok(union == t_union),
                    (Some((t_union, t_members)), _) if union == t_union => {
                        composites_match(local, members, target, t_members, behind_ptr, level)
                    }
                    (None, BtfKind::Fwd { union: t_union }) if behind_ptr => Ok(union == *t_union),
                    _ => Ok(false),
                }
            }
            (
                BtfKind::Int { size, signed, .. },
                BtfKind::Int {
                    size: t_size,
                    signed: t_signed,
                    ..
                },
            ) => Ok(size == t_size && signed == t_signed),
            (BtfKind::Ptr(l_next), BtfKind::Ptr(t_next)) => {
                behind_ptr = true;
                (local_id, target_id) = (*l_next, *t_next);
                continue;
            }
            (
                BtfKind::Array { elem, nelems },
                BtfKind::Array {
                    elem: t_elem,
                    nelems: t_nelems,
                },
            ) => {
                if nelems != t_nelems {
                    return Ok(false);
                }
                (local_id, target_id) = (*elem, *t_elem);
                continue;
            }
            (
                BtfKind::FuncProto { ret, params },
                BtfKind::FuncProto {
                    ret: t_ret,
                    params: t_params,
                },
            ) => {
                if params.len() != t_params.len() {
                    return Ok(false);
                }
                for (&p, &tp) in params.iter().zip(t_params) {
                    if !types_match(local, p, target, tp, behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                (local_id, target_id) = (*ret, *t_ret);
                continue;
            }
            _ => Ok(false),
        };
    }
    Err(btf_error("types nest too deep to match"))
}

/// Whether a struct or union kind is a union, and its members.
fn composite(kind: &BtfKind) -> Option<(bool, &[Member])> {
    match kind {
        BtfKind::Struct { members, .. } => Some((false, members)),
        BtfKind::Union { members, .. } => Some((true, members)),
        _ => None,
    }
}

/// Whether every member of a local struct or union has a target member of the same name
/// and a matching type (libbpf's `bpf_core_composites_match`).
fn composites_match(
    local: &Btf,
    members: &[Member],
    target: &Btf,
    t_members: &[Member],
    behind_ptr: bool,
    level: u32,
) -> Result<bool, ObjectError> {
    if members.len() > t_members.len() {
        return Ok(false);
    }
    for m in members {
        let mut matched = false;
        for tm in t_members.iter().filter(|tm| names_match(&m.name, &tm.name)) {
            if types_match(local, m.type_id, target, tm.type_id, behind_ptr, level - 1)? {
                matched = true;
                break;
            }
        }
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One step of an access path after the first (array) index.
enum Step {
    /// A named member of a struct or union (anonymous members are folded into offsets),
    /// with its local type.
    Member(String, TypeId),
    /// An element of an array.
    Index(u32),
}

/// Where an access path lands.
struct Field {
    /// Bits from the start of the root (wide enough that no hostile BTF overflows it).
    bit_offset: u128,
    /// The size in bits of a bitfield member; 0 for other fields.
    bitfield_size: u32,
    type_id: TypeId,
}

/// What a field relocation of `kind` asks of `field`, as libbpf's
/// `bpf_core_calc_field_relo` computes it: a bitfield is read with the smallest aligned
/// load (of its type's size or wider) that holds it, then shifted left and right.
fn field_value(btf: &Btf, field: &Field, kind: u32) -> Result<u64, ObjectError> {
    let (_, ty) = btf.skip_mods(field.type_id)?;
    let mut byte_size = u128::from(btf.size_of(field.type_id)?);
    let bit_offset = field.bit_offset;
    let (byte_offset, bit_size) = if field.bitfield_size == 0 {
        (bit_offset / 8, byte_size * 8)
    } else {
        let bit_size = u128::from(field.bitfield_size);
        if byte_size == 0 {
            return Err(btf_error("a bitfield of a type without size"));
        }
        let mut byte_offset = bit_offset / 8 / byte_size * byte_size;
        while bit_offset + bit_size - byte_offset * 8 > byte_size * 8 {
            if byte_size >= 8 {
                return Err(btf_error("a bitfield that no 64-bit load holds"));
            }
            byte_size *= 2;
            byte_offset = bit_offset / 8 / byte_size * byte_size;
        }
        (byte_offset, bit_size)
    };
    let value = match kind {
        FIELD_BYTE_OFFSET => byte_offset,
        FIELD_BYTE_SIZE => byte_size,
        FIELD_EXISTS => 1,
        FIELD_SIGNED => u128::from(matches!(
            ty.map(|t| &t.kind),
            Some(BtfKind::Int { signed: true, .. } | BtfKind::Enum { signed: true, .. })
        )),
        // Little-endian: the field's bits, loaded, end `bit_offset + bit_size` bits in.
        FIELD_LSHIFT_U64 => (64 + byte_offset * 8)
            .checked_sub(bit_offset + bit_size)
            .ok_or_else(|| btf_error("a field wider than 64 bits"))?,
        _ => 64u128
            .checked_sub(bit_size)
            .ok_or_else(|| btf_error("a field wider than 64 bits"))?,
    };
    u64::try_from(value).map_err(|_| btf_error("a field offset or size beyond 64 bits"))
}

/// The access path of a field relocation, resolved in the local BTF.
struct Path {
    first: u64,
    steps: Vec<Step>,
    field: Field,
}

fn local_path(btf: &Btf, root: TypeId, access: &str) -> Result<Path, ObjectError> {
    let indices = access
        .split(':')
        .map(|s| s.parse::<u32>())
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| btf_error(format!("bad access string `{access}`")))?;
    let Some((&first, rest)) = indices.split_first() else {
        return Err(btf_error("empty access string"));
    };
    if rest.len() > MAX_RESOLVE_DEPTH {
        return Err(btf_error("access string too long"));
    }
    let mut bits = u128::from(first) * u128::from(btf.size_of(root)?) * 8;
    let mut bitfield_size = 0;
    let mut current = root;
    let mut steps = Vec::new();
    for &index in rest {
        let (id, ty) = btf.skip_mods(current)?;
        match ty.map(|t| &t.kind) {
            Some(BtfKind::Struct { members, .. } | BtfKind::Union { members, .. }) => {
                let member = members
                    .get(index as usize)
                    .ok_or_else(|| btf_error(format!("type {id} has no member number {index}")))?;
                bits += u128::from(member.bit_offset);
                bitfield_size = member.bitfield_size;
                current = member.type_id;
                if !member.name.is_empty() {
                    steps.push(Step::Member(member.name.clone(), member.type_id));
                }
            }
            Some(BtfKind::Array { elem, .. }) => {
                bits += u128::from(index) * u128::from(btf.size_of(*elem)?) * 8;
                bitfield_size = 0;
                current = *elem;
                steps.push(Step::Index(index));
            }
            _ => {
                return Err(btf_error(format!(
                    "type {id} cannot be indexed by `{access}`"
                )))
            }
        }
    }
    Ok(Path {
        first: u64::from(first),
        steps,
        field: Field {
            bit_offset: bits,
            bitfield_size,
            type_id: current,
        },
    })
}

/// Follows `path` from target type `root`, by member names; `None` if it does not fit.
fn match_path(
    local: &Btf,
    btf: &Btf,
    root: TypeId,
    path: &Path,
) -> Result<Option<Field>, ObjectError> {
    let mut bits = u128::from(path.first) * u128::from(btf.size_of(root)?) * 8;
    let mut bitfield_size = 0;
    let mut current = root;
    for step in &path.steps {
        let (_, ty) = btf.skip_mods(current)?;
        match (step, ty.map(|t| &t.kind)) {
            (
                Step::Member(name, local_type),
                Some(BtfKind::Struct { .. } | BtfKind::Union { .. }),
            ) => {
                let Some((member_bits, member)) = find_member(btf, current, name, 0)? else {
                    return Ok(None);
                };
                if !fields_compatible(local, *local_type, btf, member.type_id)? {
                    return Ok(None);
                }
                bits += u128::from(member_bits);
                bitfield_size = member.bitfield_size;
                current = member.type_id;
            }
            (Step::Index(i), Some(BtfKind::Array { elem, nelems })) => {
                // A zero-length array is a flexible array member: any index fits.
                if *nelems != 0 && *i >= *nelems {
                    return Ok(None);
                }
                bits += u128::from(*i) * u128::from(btf.size_of(*elem)?) * 8;
                bitfield_size = 0;
                current = *elem;
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(Field {
        bit_offset: bits,
        bitfield_size,
        type_id: current,
    }))
}

/// Whether a target member's type can stand for the local member's, as libbpf's
/// `bpf_core_fields_are_compat` decides: structs and unions always (their members are
/// matched by name further down the path), otherwise the same kind, enums and forward
/// declarations with the same essential name, arrays with compatible elements.
fn fields_compatible(
    local: &Btf,
    local_id: TypeId,
    target: &Btf,
    target_id: TypeId,
) -> Result<bool, ObjectError> {
    let (mut local_id, mut target_id) = (local_id, target_id);
    for _ in 0..MAX_RESOLVE_DEPTH {
        let (_, l) = local.skip_mods(local_id)?;
        let (_, t) = target.skip_mods(target_id)?;
        let (Some(l), Some(t)) = (l, t) else {
            return Ok(false);
        };
        return Ok(match (&l.kind, &t.kind) {
            (
                BtfKind::Struct { .. } | BtfKind::Union { .. },
                BtfKind::Struct { .. } | BtfKind::Union { .. },
            ) => true,
            (BtfKind::Ptr(_), BtfKind::Ptr(_))
            | (BtfKind::Float { .. }, BtfKind::Float { .. })
            | (BtfKind::Int { .. }, BtfKind::Int { .. }) => true,
            (BtfKind::Enum { .. }, BtfKind::Enum { .. })
            | (BtfKind::Fwd { .. }, BtfKind::Fwd { .. }) => {
                essential(&l.name) == essential(&t.name)
            }
            (BtfKind::Array { elem: le, .. }, BtfKind::Array { elem: te, .. }) => {
                (local_id, target_id) = (*le, *te);
                continue;
            }
            _ => false,
        });
    }
    Err(btf_error("array types nest too deep"))
}

/// Member `name` of struct or union `id` and its bit offset from the start of `id`,
/// looking inside anonymous members as C does.
fn find_member<'b>(
    btf: &'b Btf,
    id: TypeId,
    name: &str,
    depth: usize,
) -> Result<Option<(u64, &'b Member)>, ObjectError> {
    if depth > MAX_RESOLVE_DEPTH {
        return Err(btf_error("anonymous members nest too deep"));
    }
    let members = match btf.skip_mods(id)?.1.map(|t| &t.kind) {
        Some(BtfKind::Struct { members, .. } | BtfKind::Union { members, .. }) => members,
        _ => return Ok(None),
    };
    for member in members {
        if member.name == name {
            return Ok(Some((u64::from(member.bit_offset), member)));
        }
        if member.name.is_empty() {
            if let Some((bits, found)) = find_member(btf, member.type_id, name, depth + 1)? {
                return Ok(Some((u64::from(member.bit_offset) + bits, found)));
            }
        }
    }
    Ok(None)
}

/// Writes the resolution into the instruction at `offset` of `code`: the immediate of an
/// ALU instruction or an `lddw`, the offset of a load or store. The instruction must hold
/// the local value, as clang wrote it.
fn patch(code: &mut [u8], offset: u64, resolution: &Resolution, kind: u32) -> Result<(), String> {
    let at = usize::try_from(offset)
        .ok()
        .filter(|at| at.is_multiple_of(8) && at.checked_add(8).is_some_and(|end| end <= code.len()))
        .ok_or_else(|| format!("offset {offset:#x} is not an instruction of the section"))?;
    let opcode = code[at];
    let class = opcode & 7;
    let imm = |code: &[u8], at: usize| i32::from_le_bytes(code[at + 4..at + 8].try_into().unwrap());
    let Some(value) = resolution.target else {
        // No target: the instruction becomes a call of a helper that does not exist, and
        // so does an lddw's second slot, so that the code still decodes.
        let slots = if opcode == 0x18 { 2 } else { 1 };
        for slot in 0..slots {
            let poison = code
                .get_mut(at + slot * 8..at + slot * 8 + 8)
                .ok_or("the lddw's second slot is past the section")?;
            poison[..4].copy_from_slice(&[0x85, 0, 0, 0]);
            poison[4..].copy_from_slice(&POISON_HELPER.to_le_bytes());
        }
        return Ok(());
    };
    let mismatch = |found: i64| {
        format!(
            "the instruction holds {found}, not the local {} {}",
            kind_name(kind),
            resolution.local
        )
    };
    match class {
        // lddw: the 64-bit immediate is split over the two slots.
        0 if opcode == 0x18 && at + 16 <= code.len() => {
            let old = u64::from(imm(code, at) as u32) | u64::from(imm(code, at + 8) as u32) << 32;
            if old != resolution.local {
                return Err(mismatch(old as i64));
            }
            code[at + 4..at + 8].copy_from_slice(&(value as u32).to_le_bytes());
            code[at + 12..at + 16].copy_from_slice(&((value >> 32) as u32).to_le_bytes());
        }
        // ALU and ALU64 with an immediate operand.
        4 | 7 if opcode & 8 == 0 => {
            let old = i64::from(imm(code, at));
            if old as u64 != resolution.local {
                return Err(mismatch(old));
            }
            let new =
                i32::try_from(value).map_err(|_| format!("{value} does not fit an immediate"))?;
            code[at + 4..at + 8].copy_from_slice(&new.to_le_bytes());
        }
        // LDX, ST, STX: the field offset is the instruction's offset.
        1..=3 if kind == FIELD_BYTE_OFFSET => {
            let old = i16::from_le_bytes([code[at + 2], code[at + 3]]);
            if old as u64 != resolution.local {
                return Err(mismatch(i64::from(old)));
            }
            let new =
                i16::try_from(value).map_err(|_| format!("{value} does not fit an offset"))?;
            code[at + 2..at + 4].copy_from_slice(&new.to_le_bytes());
        }
        _ => return Err(format!("opcode {opcode:#04x} cannot take this relocation")),
    }
    Ok(())
}

fn btf_error(reason: impl Into<String>) -> ObjectError {
    ObjectError::Btf {
        section: ".BTF".into(),
        offset: 0,
        reason: reason.into(),
    }
}
