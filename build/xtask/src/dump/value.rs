//! Values read out of target memory, typed by DWARF: the decoder that
//! turns bytes into `Kick { slot: 3 }`, and how a value is shown to a
//! person (Rust-like, as Humility does) and as JSON.
//!
//! Decoding never fails as a whole: bytes that are missing from the dump or
//! that no variant matches become [`Value::Unreadable`] with the reason, so
//! one bad field does not hide the rest of a record.

use std::fmt;

use super::dwarf::{DebugInfo, Type, TypeId};
use super::snapshot::Memory;

/// How deep nested values are decoded (a cyclic or absurd type stops here).
const MAX_DEPTH: usize = 24;
/// Longest array decoded element by element.
const MAX_ELEMENTS: u64 = 4096;

/// A decoded value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An unsigned integer.
    Unsigned(u64),
    /// A signed integer.
    Signed(i64),
    /// A bool.
    Bool(bool),
    /// A char.
    Char(char),
    /// A float.
    Float(f64),
    /// A struct or tuple: type name and fields in order.
    Struct(String, Vec<(String, Value)>),
    /// An enum value: type name, variant name and the variant's fields.
    Enum(String, String, Vec<(String, Value)>),
    /// An array.
    Array(Vec<Value>),
    /// A pointer's address.
    Pointer(u64),
    /// A `&str` whose bytes were found.
    Str(String),
    /// A value with nothing to show (`()`, a function type).
    Unit,
    /// Could not be decoded, and why.
    Unreadable(String),
}

impl Value {
    /// A struct field or enum variant field by name (`__0` for tuples).
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(_, fields) | Value::Enum(_, _, fields) => {
                fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// Follows a dotted path of field names.
    pub fn path(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(self, |v, name| v.field(name))
    }

    /// The value as an unsigned integer (pointers and bools too).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Unsigned(v) | Value::Pointer(v) => Some(*v),
            Value::Signed(v) => Some(*v as u64),
            Value::Bool(b) => Some(u64::from(*b)),
            Value::Struct(_, fields) if fields.len() == 1 => fields[0].1.as_u64(),
            _ => None,
        }
    }

    /// An enum's variant name.
    pub fn variant(&self) -> Option<&str> {
        match self {
            Value::Enum(_, v, _) => Some(v),
            _ => None,
        }
    }

    /// Converts to JSON: structs are objects, enums are externally tagged
    /// (`"Interrupt"`, `{"Kick": 3}`, `{"Write": {"slot": 1}}`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value as J};
        let fields_json = |fields: &[(String, Value)]| -> J {
            if is_tuple(fields) {
                if fields.len() == 1 {
                    fields[0].1.to_json()
                } else {
                    J::Array(fields.iter().map(|(_, v)| v.to_json()).collect())
                }
            } else {
                J::Object(
                    fields
                        .iter()
                        .map(|(n, v)| (n.clone(), v.to_json()))
                        .collect::<Map<_, _>>(),
                )
            }
        };
        match self {
            Value::Unsigned(v) | Value::Pointer(v) => json!(v),
            Value::Signed(v) => json!(v),
            Value::Bool(b) => json!(b),
            Value::Char(c) => json!(c.to_string()),
            Value::Float(f) => json!(f),
            Value::Struct(_, fields) => fields_json(fields),
            Value::Enum(_, variant, fields) if fields.is_empty() => json!(variant),
            Value::Enum(_, variant, fields) => {
                let mut m = Map::new();
                m.insert(variant.clone(), fields_json(fields));
                J::Object(m)
            }
            Value::Array(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Str(s) => json!(s),
            Value::Unit => J::Null,
            Value::Unreadable(why) => json!({ "unreadable": why }),
        }
    }
}

/// Tuple structs and tuple variants name their fields `__0`, `__1`, …
fn is_tuple(fields: &[(String, Value)]) -> bool {
    !fields.is_empty() && fields.iter().all(|(n, _)| n.starts_with("__"))
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn fields(f: &mut fmt::Formatter<'_>, fields: &[(String, Value)]) -> fmt::Result {
            if fields.is_empty() {
                return Ok(());
            }
            if is_tuple(fields) {
                list(f, ("(", ")"), fields.iter().map(|(_, v)| v))
            } else {
                let named = fields.iter().map(|(n, v)| format!("{n}: {v}"));
                list(f, (" { ", " }"), named)
            }
        }
        match self {
            // Decimal, as `Debug` prints it: a ring entry reads the same
            // here as in the shell's `ringbuf` (which uses `Debug`).
            Value::Unsigned(v) => write!(f, "{v}"),
            Value::Signed(v) => write!(f, "{v}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Char(c) => write!(f, "{c:?}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Struct(name, fs) => {
                // Tuples are named after their fields' types: `(u64, u32)`.
                if !name.starts_with('(') {
                    write!(f, "{name}")?;
                }
                fields(f, fs)
            }
            Value::Enum(_, variant, fs) => {
                write!(f, "{variant}")?;
                fields(f, fs)
            }
            Value::Array(items) => list(f, ("[", "]"), items.iter()),
            Value::Pointer(p) => write!(f, "{p:#010x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Unit => write!(f, "()"),
            Value::Unreadable(why) => write!(f, "<{why}>"),
        }
    }
}

/// `items` separated by `, ` between `open` and `close`.
fn list(
    f: &mut fmt::Formatter<'_>,
    (open, close): (&str, &str),
    items: impl Iterator<Item = impl fmt::Display>,
) -> fmt::Result {
    f.write_str(open)?;
    for (i, v) in items.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str(close)
}

/// Decodes values of one program's types from a memory image.
pub struct Decoder<'a> {
    /// The program's types.
    pub debug: &'a DebugInfo,
    /// Where its memory is read from.
    pub memory: &'a dyn Memory,
}

impl Decoder<'_> {
    /// Decodes the value of type `ty` at `addr`.
    pub fn decode(&self, ty: TypeId, addr: u64) -> Value {
        self.decode_at(ty, addr, 0)
    }

    fn read_uint(&self, addr: u64, size: u64) -> Option<u64> {
        if size == 0 || size > 8 {
            return None;
        }
        let bytes = self.memory.read(addr, size as usize)?;
        let mut buf = [0u8; 8];
        buf[..size as usize].copy_from_slice(&bytes);
        Some(u64::from_le_bytes(buf))
    }

    fn decode_at(&self, ty: TypeId, addr: u64, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Unreadable("nested too deeply".into());
        }
        let Some(t) = self.debug.ty(ty) else {
            return Value::Unreadable(format!("unknown type at .debug_info+{ty:#x}"));
        };
        let unreadable =
            |size: u64| Value::Unreadable(format!("{size} bytes at {addr:#x} not in the dump"));
        match t {
            Type::Base { size, encoding, .. } => {
                let Some(raw) = self.read_uint(addr, *size) else {
                    return if *size > 8 {
                        Value::Unreadable(format!("{size}-byte integer"))
                    } else {
                        unreadable(*size)
                    };
                };
                match *encoding {
                    gimli::DW_ATE_boolean => Value::Bool(raw != 0),
                    gimli::DW_ATE_signed | gimli::DW_ATE_signed_char => {
                        let shift = 64 - 8 * size;
                        Value::Signed(((raw << shift) as i64) >> shift)
                    }
                    gimli::DW_ATE_UTF => Value::Char(
                        char::from_u32(raw as u32).unwrap_or(char::REPLACEMENT_CHARACTER),
                    ),
                    gimli::DW_ATE_float if *size == 4 => {
                        Value::Float(f32::from_bits(raw as u32).into())
                    }
                    gimli::DW_ATE_float => Value::Float(f64::from_bits(raw)),
                    _ => Value::Unsigned(raw),
                }
            }
            Type::Enum {
                name,
                size,
                enumerators,
            } => match self.read_uint(addr, *size) {
                Some(raw) => match enumerators.iter().find(|(v, _)| mask(*v, *size) == raw) {
                    Some((_, variant)) => Value::Enum(name.clone(), variant.clone(), Vec::new()),
                    None => Value::Unreadable(format!("{name}: no variant has value {raw}")),
                },
                None => unreadable(*size),
            },
            Type::Pointer { size, .. } => match self.read_uint(addr, *size) {
                Some(p) => Value::Pointer(p),
                None => unreadable(*size),
            },
            Type::Array { elem, count } => {
                let stride = self.debug.size_of(*elem);
                let n = (*count).min(MAX_ELEMENTS);
                Value::Array(
                    (0..n)
                        .map(|i| self.decode_at(*elem, addr + i * stride, depth + 1))
                        .collect(),
                )
            }
            Type::Union { name, members, .. } => {
                // MaybeUninit<T> { uninit: (), value: ManuallyDrop<T> }: the
                // dump shows the value; other unions show every reading.
                if let Some(m) = members.iter().find(|m| m.name == "value") {
                    return unwrap_manually_drop(self.decode_at(m.ty, addr + m.offset, depth + 1));
                }
                Value::Struct(name.clone(), self.fields(members, addr, depth))
            }
            Type::Struct {
                name,
                variants: Some((discr, variants)),
                ..
            } => {
                let chosen = match discr {
                    Some(d) => {
                        let size = self.debug.size_of(d.ty);
                        let Some(raw) = self.read_uint(addr + d.offset, size) else {
                            return unreadable(size);
                        };
                        variants
                            .iter()
                            .find(|v| v.discr_value.is_some_and(|dv| mask(dv, size) == raw))
                            .or_else(|| variants.iter().find(|v| v.discr_value.is_none()))
                            .ok_or_else(|| format!("{name}: no variant has discriminant {raw}"))
                    }
                    // One variant only: no discriminant is stored.
                    None => variants
                        .first()
                        .ok_or_else(|| format!("{name}: no variants")),
                };
                match chosen {
                    Ok(v) => {
                        let fields =
                            match self.decode_at(v.member.ty, addr + v.member.offset, depth + 1) {
                                Value::Struct(_, fields) => fields,
                                other => vec![("__0".into(), other)],
                            };
                        Value::Enum(name.clone(), v.member.name.clone(), fields)
                    }
                    Err(why) => Value::Unreadable(why),
                }
            }
            Type::Struct { name, members, .. } => {
                if name == "&str" {
                    if let Some(s) = self.str_at(members, addr) {
                        return Value::Str(s);
                    }
                }
                if name.starts_with("&[") || name.starts_with("&mut [") {
                    if let Some(items) = self.slice_at(members, addr, depth) {
                        return Value::Array(items);
                    }
                }
                // `NonZero<u16>(NonZeroU16Inner(5))` is a 5 to a reader.
                if name.starts_with("NonZero") && members.len() == 1 {
                    return self.decode_at(members[0].ty, addr + members[0].offset, depth + 1);
                }
                Value::Struct(name.clone(), self.fields(members, addr, depth))
            }
            Type::Alias(_) | Type::Opaque { .. } => Value::Unit,
        }
    }

    /// A `&str`'s text, if its bytes are in the dump or the image.
    fn str_at(&self, members: &[super::dwarf::Member], addr: u64) -> Option<String> {
        let (p, n, _) = self.fat_pointer(members, addr)?;
        if n > 4096 {
            return None;
        }
        let bytes = self.memory.read(p, n as usize)?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A fat pointer's (`&str`, `&[T]`) address, length and pointer type;
    /// each read with its own size from DWARF, so 32- and 64-bit programs
    /// alike.
    fn fat_pointer(
        &self,
        members: &[super::dwarf::Member],
        addr: u64,
    ) -> Option<(u64, u64, TypeId)> {
        let ptr = members.iter().find(|m| m.name == "data_ptr")?;
        let len = members.iter().find(|m| m.name == "length")?;
        let p = self.read_uint(addr + ptr.offset, self.debug.size_of(ptr.ty))?;
        let n = self.read_uint(addr + len.offset, self.debug.size_of(len.ty))?;
        Some((p, n, ptr.ty))
    }

    /// Every field of a struct or union, decoded.
    fn fields(
        &self,
        members: &[super::dwarf::Member],
        addr: u64,
        depth: usize,
    ) -> Vec<(String, Value)> {
        members
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    self.decode_at(m.ty, addr + m.offset, depth + 1),
                )
            })
            .collect()
    }

    /// A `&[T]`'s elements, if its bytes are in the dump or the image.
    fn slice_at(
        &self,
        members: &[super::dwarf::Member],
        addr: u64,
        depth: usize,
    ) -> Option<Vec<Value>> {
        let (p, n, ptr_ty) = self.fat_pointer(members, addr)?;
        let Some(Type::Pointer {
            target: Some(elem), ..
        }) = self.debug.ty(ptr_ty)
        else {
            return None;
        };
        if n > MAX_ELEMENTS {
            return None;
        }
        let stride = self.debug.size_of(*elem);
        Some(
            (0..n)
                .map(|i| self.decode_at(*elem, p + i * stride, depth + 1))
                .collect(),
        )
    }
}

/// `ManuallyDrop<T>` (`MaybeDangling<T>` in newer Rust) is a struct with
/// one field; show `T`.
fn unwrap_manually_drop(v: Value) -> Value {
    match v {
        Value::Struct(name, mut fields)
            if (name.starts_with("ManuallyDrop") || name.starts_with("MaybeDangling"))
                && fields.len() == 1 =>
        {
            unwrap_manually_drop(fields.remove(0).1)
        }
        v => v,
    }
}

/// A DWARF constant truncated to `size` bytes, as memory holds it.
fn mask(v: u64, size: u64) -> u64 {
    if size >= 8 {
        v
    } else {
        v & ((1u64 << (8 * size)) - 1)
    }
}
