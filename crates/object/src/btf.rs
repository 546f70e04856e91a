//! BTF, the BPF Type Format of the `.BTF` section: a header, a table of types numbered
//! from 1 (0 is `void`), and a string table. See the kernel's `Documentation/bpf/btf.rst`.
//!
//! Types are read once into [`BtfType`]s; every type id inside them is checked when it is
//! followed ([`Btf::get`]), and every chain of references is followed at most
//! [`MAX_RESOLVE_DEPTH`] steps, so a hostile table with loops ends in an error.

use crate::error::ObjectError;

/// `BTF_MAGIC`.
const MAGIC: u16 = 0xeb9f;
/// Bytes of `struct btf_header` in version 1.
const HEADER_LEN: usize = 24;
/// How many references (typedefs, modifiers, array elements) a resolution follows, as
/// libbpf's `MAX_RESOLVE_DEPTH`.
pub const MAX_RESOLVE_DEPTH: usize = 32;

/// A BTF type id; 0 is `void`.
pub type TypeId = u32;

/// A member of a struct or union.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub type_id: TypeId,
    /// Offset from the start of the struct in bits.
    pub bit_offset: u32,
    /// For a bitfield declared with the struct's kind_flag set, its size in bits; 0
    /// otherwise.
    pub bitfield_size: u32,
}

/// A variable of a `DATASEC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarSecinfo {
    pub type_id: TypeId,
    pub offset: u32,
    pub size: u32,
}

/// What a BTF type is (`BTF_KIND_*`), with the data that follows it in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BtfKind {
    Int {
        size: u32,
        /// `BTF_INT_SIGNED` in the encoding.
        signed: bool,
        /// `BTF_INT_BOOL` in the encoding: C's `_Bool`.
        boolean: bool,
        /// Bits used, from `offset` bits into the value (older compilers' bitfields).
        bits: u32,
        offset: u32,
    },
    Ptr(TypeId),
    Array {
        elem: TypeId,
        nelems: u32,
    },
    Struct {
        size: u32,
        members: Vec<Member>,
    },
    Union {
        size: u32,
        members: Vec<Member>,
    },
    /// `ENUM` and `ENUM64`, values widened to 64 bits.
    Enum {
        size: u32,
        /// The kind_flag: values are signed.
        signed: bool,
        values: Vec<(String, i64)>,
    },
    /// A forward declaration; `union` is the kind_flag (a union, else a struct).
    Fwd {
        union: bool,
    },
    Typedef(TypeId),
    Volatile(TypeId),
    Const(TypeId),
    Restrict(TypeId),
    Func {
        proto: TypeId,
        /// Its linkage is `BTF_FUNC_GLOBAL`: the kernel verifies it apart from its
        /// callers, from its prototype alone.
        global: bool,
    },
    FuncProto {
        ret: TypeId,
        params: Vec<TypeId>,
    },
    Var {
        type_id: TypeId,
    },
    Datasec {
        vars: Vec<VarSecinfo>,
    },
    Float {
        size: u32,
    },
    DeclTag(TypeId),
    TypeTag(TypeId),
}

/// One type of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BtfType {
    pub name: String,
    pub kind: BtfKind,
}

/// A parsed `.BTF` section.
#[derive(Clone, Debug, Default)]
pub struct Btf {
    /// Types by id - 1.
    types: Vec<BtfType>,
    strings: Vec<u8>,
    /// The section as read, and where each type starts in it (by id - 1): what a loader
    /// patches to hand the kernel (see `kernel_btf`).
    raw: Vec<u8>,
    positions: Vec<usize>,
}

impl Btf {
    /// Parses a `.BTF` section (little-endian).
    pub fn parse(bytes: &[u8]) -> Result<Btf, ObjectError> {
        let mut r = Reader::new(bytes, 0, ".BTF");
        if r.u16()? != MAGIC {
            return Err(error(".BTF", 0, "bad magic number (expected 0xeb9f)"));
        }
        let version = r.u8()?;
        if version != 1 {
            return Err(error(".BTF", 2, format!("unknown version {version}")));
        }
        r.u8()?; // flags
        let hdr_len = r.u32()? as usize;
        let (type_off, type_len) = (r.u32()? as usize, r.u32()? as usize);
        let (str_off, str_len) = (r.u32()? as usize, r.u32()? as usize);
        if hdr_len < HEADER_LEN {
            return Err(error(".BTF", 4, format!("header length {hdr_len} < 24")));
        }
        let types = sub_range(bytes, hdr_len, type_off, type_len, ".BTF", "type table")?;
        let strings = sub_range(bytes, hdr_len, str_off, str_len, ".BTF", "string table")?;
        let mut btf = Btf {
            types: Vec::new(),
            strings: strings.to_vec(),
            raw: bytes.to_vec(),
            positions: Vec::new(),
        };
        let mut r = Reader::new(types, hdr_len + type_off, ".BTF");
        while !r.is_empty() {
            btf.positions.push(r.position());
            let ty = btf.read_type(&mut r)?;
            btf.types.push(ty);
        }
        Ok(btf)
    }

    /// The string at `offset` of the string table (`""` past its end, as for offset 0).
    pub fn string(&self, offset: u32) -> Result<String, ObjectError> {
        string_at(&self.strings, offset, ".BTF")
    }

    /// The section's bytes, as parsed.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The byte position of type `id` (not `void`) in [`Btf::raw`].
    pub(crate) fn position(&self, id: TypeId) -> usize {
        self.positions[id as usize - 1]
    }

    /// The string table, which `.BTF.ext` names point into.
    pub fn strings(&self) -> &[u8] {
        &self.strings
    }

    /// The type numbered `id`; `Ok(None)` for `void` (id 0).
    pub fn get(&self, id: TypeId) -> Result<Option<&BtfType>, ObjectError> {
        if id == 0 {
            return Ok(None);
        }
        self.types
            .get(id as usize - 1)
            .map(Some)
            .ok_or_else(|| ObjectError::Btf {
                section: ".BTF".to_string(),
                offset: 0,
                reason: format!(
                    "type id {id} does not exist (the table has {} types)",
                    self.types.len()
                ),
            })
    }

    /// Every type, with its id.
    pub fn types(&self) -> impl Iterator<Item = (TypeId, &BtfType)> {
        self.types.iter().zip(1..).map(|(t, id)| (id, t))
    }

    /// The type `id` with typedefs and modifiers (`const`, `volatile`, `restrict`, type
    /// tags) skipped: libbpf's `skip_mods_and_typedefs`. `(0, None)` for `void`.
    pub fn skip_mods(&self, mut id: TypeId) -> Result<(TypeId, Option<&BtfType>), ObjectError> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            let Some(ty) = self.get(id)? else {
                return Ok((0, None));
            };
            match ty.kind {
                BtfKind::Typedef(next)
                | BtfKind::Volatile(next)
                | BtfKind::Const(next)
                | BtfKind::Restrict(next)
                | BtfKind::TypeTag(next) => id = next,
                _ => return Ok((id, Some(ty))),
            }
        }
        Err(too_deep(id))
    }

    /// The size in bytes of type `id`: libbpf's `btf__resolve_size`.
    pub fn size_of(&self, id: TypeId) -> Result<u64, ObjectError> {
        let mut id = id;
        let mut count: u64 = 1;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let (resolved, ty) = self.skip_mods(id)?;
            let size = match ty.map(|t| &t.kind) {
                Some(BtfKind::Int { size, .. })
                | Some(BtfKind::Struct { size, .. })
                | Some(BtfKind::Union { size, .. })
                | Some(BtfKind::Enum { size, .. })
                | Some(BtfKind::Float { size }) => u64::from(*size),
                Some(BtfKind::Ptr(_)) => 8,
                Some(BtfKind::Array { elem, nelems }) => {
                    count = count.saturating_mul(u64::from(*nelems));
                    id = *elem;
                    continue;
                }
                Some(BtfKind::Var { type_id }) => {
                    id = *type_id;
                    continue;
                }
                _ => {
                    return Err(ObjectError::Btf {
                        section: ".BTF".to_string(),
                        offset: 0,
                        reason: format!("type id {resolved} has no size"),
                    })
                }
            };
            return count.checked_mul(size).ok_or_else(|| ObjectError::Btf {
                section: ".BTF".to_string(),
                offset: 0,
                reason: format!("the size of type id {id} overflows"),
            });
        }
        Err(too_deep(id))
    }

    /// The byte offset of the `struct bpf_spin_lock` in a map value of type `id`, as the
    /// kernel finds it when the map is created with that type (`btf_parse_fields` for a
    /// struct value): a member whose own type is the struct `bpf_spin_lock`.
    /// `None` when the value (typedefs and modifiers skipped) is not a struct or has no
    /// such member, and also where the kernel refuses the type ([`Btf::one_spin_lock`]).
    pub fn spin_lock_offset(&self, id: TypeId) -> Result<Option<u32>, ObjectError> {
        let members = match self.skip_mods(id)?.1 {
            Some(BtfType {
                kind: BtfKind::Struct { members, .. },
                ..
            }) => members,
            _ => return Ok(None),
        };
        let fields = members
            .iter()
            .filter(|m| m.bitfield_size == 0 && m.bit_offset % 8 == 0)
            .map(|m| (m.type_id, u64::from(m.bit_offset / 8)));
        self.one_spin_lock(fields)
    }

    /// The `DATASEC` named `section` and the offset of the global variable in it whose
    /// type is the struct `bpf_spin_lock` (`btf_find_datasec_var`), `offset` giving each
    /// variable's place by name (clang leaves most DATASEC offsets 0: a loader takes
    /// them from the symbols). `None` as for [`Btf::spin_lock_offset`].
    pub fn datasec_spin_lock(
        &self,
        section: &str,
        offset: impl Fn(&str) -> Option<u64>,
    ) -> Result<Option<(TypeId, u32)>, ObjectError> {
        let Some((id, vars)) = self.types().find_map(|(id, t)| match &t.kind {
            BtfKind::Datasec { vars } if t.name == section => Some((id, vars)),
            _ => None,
        }) else {
            return Ok(None);
        };
        let mut fields = Vec::new();
        for var in vars {
            if let Some(BtfType {
                name,
                kind: BtfKind::Var { type_id },
            }) = self.get(var.type_id)?
            {
                fields.push((*type_id, offset(name).unwrap_or(u64::from(var.offset))));
            }
        }
        Ok(self.one_spin_lock(fields)?.map(|off| (id, off)))
    }

    /// Of `fields` (type id, byte offset), the offset of the one `struct bpf_spin_lock`
    /// they hold, directly or in nested structs and arrays (`btf_find_field_one`);
    /// `None` when there is none, or where the kernel refuses the map's BTF: two locks,
    /// an array of several, one not 4 bytes (libbpf then creates the map without BTF,
    /// with no lock the verifier knows of). A lock at an offset not a multiple of 4 the
    /// kernel does not take for one.
    fn one_spin_lock(
        &self,
        fields: impl IntoIterator<Item = (TypeId, u64)>,
    ) -> Result<Option<u32>, ObjectError> {
        let mut locks = Vec::new();
        for (type_id, off) in fields {
            if !self.collect_spin_locks(type_id, off, 0, &mut locks)? {
                return Ok(None);
            }
        }
        let [(type_id, off, 1)] = locks[..] else {
            return Ok(None);
        };
        let placed = off % 4 == 0 && self.size_of(type_id)? == 4;
        Ok(placed.then(|| u32::try_from(off).ok()).flatten())
    }

    /// Adds to `locks` the `struct bpf_spin_lock`s in a field of type `id` at byte `off`
    /// (type id, offset, element count): arrays are walked into, their counts multiplied,
    /// and structs (not through typedefs or modifiers, as the kernel looks) searched
    /// member by member. False where the kernel refuses the type: too deep, or a lock in
    /// an array of several structs.
    fn collect_spin_locks(
        &self,
        mut id: TypeId,
        off: u64,
        depth: usize,
        locks: &mut Vec<(TypeId, u64, u64)>,
    ) -> Result<bool, ObjectError> {
        let mut nelems = 1u64;
        for _ in 0..MAX_RESOLVE_DEPTH {
            match self.get(id)? {
                Some(BtfType {
                    kind: BtfKind::Array { elem, nelems: n },
                    ..
                }) => {
                    nelems = nelems.saturating_mul(u64::from(*n));
                    id = *elem;
                }
                _ => break,
            }
        }
        let members = match self.get(id)? {
            _ if nelems == 0 => return Ok(true),
            Some(BtfType {
                name,
                kind: BtfKind::Struct { .. },
            }) if name == "bpf_spin_lock" => {
                locks.push((id, off, nelems));
                return Ok(true);
            }
            Some(BtfType {
                kind: BtfKind::Struct { members, .. },
                ..
            }) => members,
            _ => return Ok(true),
        };
        if depth >= MAX_RESOLVE_DEPTH {
            return Ok(false);
        }
        let mut inner = Vec::new();
        for m in members.iter().filter(|m| m.bitfield_size == 0) {
            let at = off + u64::from(m.bit_offset / 8);
            if !self.collect_spin_locks(m.type_id, at, depth + 1, &mut inner)? {
                return Ok(false);
            }
        }
        // The kernel repeats a nested struct's fields for each element, which it refuses
        // for a lock.
        if nelems > 1 && !inner.is_empty() {
            return Ok(false);
        }
        locks.extend(inner);
        Ok(true)
    }

    /// The `DATASEC` named `name`, if there is one.
    pub fn datasec(&self, name: &str) -> Option<&[VarSecinfo]> {
        self.types.iter().find_map(|t| match &t.kind {
            BtfKind::Datasec { vars } if t.name == name => Some(&vars[..]),
            _ => None,
        })
    }

    fn read_type(&self, r: &mut Reader<'_>) -> Result<BtfType, ObjectError> {
        let at = r.position();
        let name = self.string(r.u32()?)?;
        let info = r.u32()?;
        let size_or_type = r.u32()?;
        let vlen = info & 0xffff;
        let kind = match (info >> 24) & 0x1f {
            1 => {
                // Encoding in bits 24..28, offset in 16..24, bits in 0..8.
                let encoding = r.u32()?;
                BtfKind::Int {
                    size: size_or_type,
                    signed: (encoding >> 24) & 1 == 1,
                    boolean: (encoding >> 24) & 4 == 4,
                    bits: encoding & 0xff,
                    offset: (encoding >> 16) & 0xff,
                }
            }
            2 => BtfKind::Ptr(size_or_type),
            3 => {
                let elem = r.u32()?;
                r.u32()?; // index type
                BtfKind::Array {
                    elem,
                    nelems: r.u32()?,
                }
            }
            kind @ (4 | 5) => {
                let members = (0..vlen)
                    .map(|_| {
                        let name = self.string(r.u32()?)?;
                        let type_id = r.u32()?;
                        let offset = r.u32()?;
                        // With kind_flag set, the high 8 bits are the bitfield size.
                        let (bit_offset, bitfield_size) = if info >> 31 == 1 {
                            (offset & 0xff_ffff, offset >> 24)
                        } else {
                            (offset, 0)
                        };
                        Ok(Member {
                            name,
                            type_id,
                            bit_offset,
                            bitfield_size,
                        })
                    })
                    .collect::<Result<_, ObjectError>>()?;
                if kind == 4 {
                    BtfKind::Struct {
                        size: size_or_type,
                        members,
                    }
                } else {
                    BtfKind::Union {
                        size: size_or_type,
                        members,
                    }
                }
            }
            6 => BtfKind::Enum {
                size: size_or_type,
                signed: info >> 31 == 1,
                values: (0..vlen)
                    .map(|_| Ok((self.string(r.u32()?)?, i64::from(r.u32()? as i32))))
                    .collect::<Result<_, ObjectError>>()?,
            },
            7 => BtfKind::Fwd {
                union: info >> 31 == 1,
            },
            8 => BtfKind::Typedef(size_or_type),
            9 => BtfKind::Volatile(size_or_type),
            10 => BtfKind::Const(size_or_type),
            11 => BtfKind::Restrict(size_or_type),
            12 => BtfKind::Func {
                proto: size_or_type,
                // The linkage is in vlen: static 0, global 1, extern 2.
                global: vlen == 1,
            },
            13 => BtfKind::FuncProto {
                ret: size_or_type,
                params: (0..vlen)
                    .map(|_| {
                        r.u32()?; // name
                        r.u32()
                    })
                    .collect::<Result<_, ObjectError>>()?,
            },
            14 => {
                r.u32()?; // linkage
                BtfKind::Var {
                    type_id: size_or_type,
                }
            }
            15 => BtfKind::Datasec {
                vars: (0..vlen)
                    .map(|_| {
                        Ok(VarSecinfo {
                            type_id: r.u32()?,
                            offset: r.u32()?,
                            size: r.u32()?,
                        })
                    })
                    .collect::<Result<_, ObjectError>>()?,
            },
            16 => BtfKind::Float { size: size_or_type },
            17 => {
                r.u32()?; // component index
                BtfKind::DeclTag(size_or_type)
            }
            18 => BtfKind::TypeTag(size_or_type),
            19 => BtfKind::Enum {
                size: size_or_type,
                signed: info >> 31 == 1,
                values: (0..vlen)
                    .map(|_| {
                        let name = self.string(r.u32()?)?;
                        let lo = u64::from(r.u32()?);
                        let hi = u64::from(r.u32()?);
                        Ok((name, (hi << 32 | lo) as i64))
                    })
                    .collect::<Result<_, ObjectError>>()?,
            },
            other => return Err(error(".BTF", at, format!("unknown type kind {other}"))),
        };
        Ok(BtfType { name, kind })
    }
}

/// The bytes `[base + off, base + off + len)` of `bytes`, named `what` in errors.
pub(crate) fn sub_range<'a>(
    bytes: &'a [u8],
    base: usize,
    off: usize,
    len: usize,
    section: &str,
    what: &str,
) -> Result<&'a [u8], ObjectError> {
    base.checked_add(off)
        .and_then(|start| Some((start, start.checked_add(len)?)))
        .and_then(|(start, end)| bytes.get(start..end))
        .ok_or_else(|| {
            error(
                section,
                base,
                format!(
                    "the {what} ({len} bytes at {off} after the header) lies outside the section ({} bytes)",
                    bytes.len()
                ),
            )
        })
}

/// The NUL-terminated string at `offset` of a string table.
pub(crate) fn string_at(strings: &[u8], offset: u32, section: &str) -> Result<String, ObjectError> {
    let tail = strings
        .get(offset as usize..)
        .ok_or_else(|| ObjectError::Btf {
            section: section.to_string(),
            offset: 0,
            reason: format!(
                "string offset {offset} is past the end of the string table ({} bytes)",
                strings.len()
            ),
        })?;
    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
    Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
}

pub(crate) fn error(section: &str, offset: usize, reason: impl Into<String>) -> ObjectError {
    ObjectError::Btf {
        section: section.to_string(),
        offset: offset as u64,
        reason: reason.into(),
    }
}

fn too_deep(id: TypeId) -> ObjectError {
    error(
        ".BTF",
        0,
        format!("type id {id} refers through more than {MAX_RESOLVE_DEPTH} types (a loop?)"),
    )
}

/// Little-endian reads from a section's bytes, errors naming the byte offset in it.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Offset of `bytes` in the section.
    base: usize,
    section: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], base: usize, section: &'static str) -> Self {
        Reader {
            bytes,
            pos: 0,
            base,
            section,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// The offset of the next read in the section.
    pub fn position(&self) -> usize {
        self.base + self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ObjectError> {
        let at = self.position();
        let chunk = self
            .pos
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or_else(|| {
                error(
                    self.section,
                    at,
                    format!("truncated: {n} more bytes expected"),
                )
            })?;
        self.pos += n;
        Ok(chunk)
    }

    pub fn u8(&mut self) -> Result<u8, ObjectError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, ObjectError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, ObjectError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}
