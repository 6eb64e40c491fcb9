//! The shape of an IDL file as RON, before any meaning is checked.
//!
//! Ops are first taken as raw RON text and parsed one by one, so that a
//! syntax error inside an op can name the op as well as the position.

use crate::error::Error;
use ron::extensions::Extensions;
use ron::value::RawValue;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// A RON map whose keys keep their order (op numbers follow it) and must be
/// unique.
#[derive(Debug)]
pub struct UniqueMap<V>(pub Vec<(String, V)>);

impl<V> Default for UniqueMap<V> {
    fn default() -> Self {
        UniqueMap(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with string keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(UniqueMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// The top level: `Interface(name: ..., ops: {...}, errors: {...})`.
#[derive(Deserialize)]
#[serde(rename = "Interface", deny_unknown_fields)]
struct RawInterface<'a> {
    name: String,
    #[serde(default)]
    doc: Option<String>,
    #[serde(default = "one")]
    first_op: u16,
    #[serde(borrow)]
    ops: UniqueMap<&'a RawValue>,
    #[serde(default)]
    errors: UniqueMap<ErrorEnum>,
}

fn one() -> u16 {
    1
}

/// An interface as written.
pub struct Interface {
    pub name: String,
    pub doc: Option<String>,
    /// Number of the first op (default 1); lets one task serve two
    /// interfaces whose op numbers do not overlap.
    pub first_op: u16,
    pub ops: Vec<(String, Op)>,
    pub errors: Vec<(String, ErrorEnum)>,
}

/// One op as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    #[serde(default)]
    pub doc: Option<String>,
    #[serde(default)]
    pub args: UniqueMap<String>,
    #[serde(default)]
    pub leases: UniqueMap<Lease>,
    #[serde(default = "unit_reply")]
    pub reply: Reply,
    #[serde(default)]
    pub encoding: Encoding,
    #[serde(default)]
    pub idempotent: bool,
    #[serde(default)]
    pub deferred: bool,
}

fn unit_reply() -> Reply {
    Reply::Simple("()".to_string())
}

/// A lease as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub read: bool,
    #[serde(default)]
    pub write: bool,
    #[serde(default)]
    pub max_len: Option<u32>,
}

/// A reply as written.
#[derive(Deserialize)]
pub enum Reply {
    /// A plain value.
    Simple(String),
    /// A value or one of an error enum's codes.
    Result { ok: String, err: String },
}

/// How an op's request and reply are encoded.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// Bytes of fixed-layout structs.
    #[default]
    Zerocopy,
    /// serde + hubpack.
    Hubpack,
}

/// An error enum as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorEnum {
    #[serde(default)]
    pub doc: Option<String>,
    pub codes: UniqueMap<u32>,
    /// What each code means to the caller, by variant (any may be left
    /// out; each named must be one of `codes`).
    #[serde(default)]
    pub docs: UniqueMap<String>,
}

fn options() -> ron::Options {
    ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME)
}

/// 1-based line and column of byte `offset` of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// RON's words for a parse error, with what to write where RON's own
/// words leave a newcomer guessing: a type written bare (`"a": u32`, a
/// natural first try) is only "Expected string" to RON.
fn message(code: &ron::Error) -> String {
    match code {
        ron::Error::ExpectedString => {
            "Expected string: types, names and docs are written in double quotes (`\"u32\"`, `\"PingError\"`)".to_string()
        }
        other => other.to_string(),
    }
}

/// Parses the RON of an IDL file. `file` is only used in messages.
pub fn parse(file: &str, text: &str) -> Result<Interface, Error> {
    let raw: RawInterface = options().from_str(text).map_err(|e| Error {
        file: file.to_string(),
        position: Some((e.span.start.line, e.span.start.col)),
        context: None,
        message: message(&e.code),
    })?;
    let mut ops = Vec::new();
    for (name, value) in raw.ops.0 {
        let chunk = value.get_ron();
        // The raw value borrows from `text`, so its address says where the
        // op starts.
        let offset = (chunk.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        let (line0, col0) = position(text, offset);
        let op: Op = options().from_str(chunk).map_err(|e| {
            let (l, c) = (e.span.start.line, e.span.start.col);
            Error {
                file: file.to_string(),
                position: Some((line0 + l - 1, if l == 1 { col0 + c - 1 } else { c })),
                context: Some(format!("op `{name}`")),
                message: message(&e.code),
            }
        })?;
        ops.push((name, op));
    }
    Ok(Interface {
        name: raw.name,
        doc: raw.doc,
        first_op: raw.first_op,
        ops,
        errors: raw.errors.0,
    })
}
