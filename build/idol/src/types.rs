//! The type expressions an IDL file may use, and what each encoding can
//! carry.

use std::fmt;

/// A type as written in an IDL file (`"u32"`, `"[u8; 16]"`, `"Option<u8>"`,
/// `"Status"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ty {
    /// `()`: only as a reply.
    Unit,
    /// `bool`.
    Bool,
    /// An integer or float primitive, spelled as in Rust.
    Prim(&'static str),
    /// `[T; N]`.
    Array(Box<Ty>, usize),
    /// `Option<T>`: hubpack only.
    Option(Box<Ty>),
    /// A type the api crate defines (`Status`, `types::Point`); it must be in
    /// scope where the generated code is included.
    Named(String),
}

const PRIMS: [&str; 10] = [
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64",
];

/// Largest array serde (and so hubpack) can encode.
pub const SERDE_MAX_ARRAY: usize = 32;

impl Ty {
    /// Parses a type expression, or says why it is not one.
    pub fn parse(text: &str) -> Result<Ty, String> {
        let t = text.trim();
        if t == "()" {
            return Ok(Ty::Unit);
        }
        if t == "bool" {
            return Ok(Ty::Bool);
        }
        if let Some(p) = PRIMS.iter().find(|p| **p == t) {
            return Ok(Ty::Prim(p));
        }
        if t == "usize" || t == "isize" {
            return Err(format!(
                "type `{t}` is 64 bits on the host and 32 on the target; use `u32` or `u64`"
            ));
        }
        if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let Some((elem, len)) = inner.rsplit_once(';') else {
                return Err(format!(
                    "type `{t}`: slices are leases, not arguments; an array is `[T; N]`"
                ));
            };
            let len: usize = len.trim().parse().map_err(|_| {
                format!("type `{t}`: array length `{}` is not a number", len.trim())
            })?;
            let elem = Ty::parse(elem)?;
            if elem == Ty::Unit {
                return Err(format!("type `{t}`: array of `()`"));
            }
            return Ok(Ty::Array(Box::new(elem), len));
        }
        if let Some(inner) = t.strip_prefix("Option<").and_then(|r| r.strip_suffix('>')) {
            let inner = Ty::parse(inner)?;
            if inner == Ty::Unit {
                return Err(format!("type `{t}`: option of `()`"));
            }
            return Ok(Ty::Option(Box::new(inner)));
        }
        let segments: Vec<&str> = t.split("::").collect();
        let well_formed = segments.iter().all(|s| is_identifier(s));
        let last_upper = segments
            .last()
            .and_then(|s| s.chars().next())
            .is_some_and(|c| c.is_ascii_uppercase());
        if well_formed && last_upper {
            return Ok(Ty::Named(t.to_string()));
        }
        Err(format!(
            "unknown type `{t}` (primitives are bool, u8..u64, i8..i64, f32, f64; arrays are `[T; N]`; \
             named types from the api crate start with an upper-case letter)"
        ))
    }

    /// Appends the named types the type is made of (`[Point; 2]` → `Point`).
    pub fn named<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Ty::Named(name) => out.push(name),
            Ty::Array(elem, _) | Ty::Option(elem) => elem.named(out),
            Ty::Unit | Ty::Bool | Ty::Prim(_) => {}
        }
    }

    /// Whether the type is an array of no bytes (`[u8; 0]`, `[[u16; 0]; 4]`).
    pub fn zero_sized(&self) -> bool {
        match self {
            Ty::Array(_, 0) => true,
            Ty::Array(elem, _) => elem.zero_sized(),
            _ => false,
        }
    }

    /// Whether the type has one fixed layout, so it can be part of a
    /// zerocopy message (named types are trusted here and checked by rustc).
    pub fn fixed_layout(&self) -> bool {
        match self {
            Ty::Unit | Ty::Bool | Ty::Prim(_) | Ty::Named(_) => true,
            Ty::Array(elem, _) => elem.fixed_layout(),
            Ty::Option(_) => false,
        }
    }

    /// Whether every byte pattern is a value, as lease elements must be
    /// (the client's memory is read as-is).
    pub fn every_bit_pattern_valid(&self) -> bool {
        match self {
            Ty::Prim(_) | Ty::Named(_) => true,
            Ty::Array(elem, _) => elem.every_bit_pattern_valid(),
            Ty::Unit | Ty::Bool | Ty::Option(_) => false,
        }
    }

    /// The first array in the type longer than serde can encode.
    pub fn too_long_for_serde(&self) -> Option<usize> {
        match self {
            Ty::Array(_, n) if *n > SERDE_MAX_ARRAY => Some(*n),
            Ty::Array(elem, _) | Ty::Option(elem) => elem.too_long_for_serde(),
            _ => None,
        }
    }
}

/// Rust spelling, as generated code writes the type.
impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Unit => f.write_str("()"),
            Ty::Bool => f.write_str("bool"),
            Ty::Prim(p) => f.write_str(p),
            Ty::Array(elem, n) => write!(f, "[{elem}; {n}]"),
            Ty::Option(inner) => write!(f, "::core::option::Option<{inner}>"),
            Ty::Named(name) => f.write_str(name),
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::Ty;

    #[test]
    fn parses_every_kind() {
        assert_eq!(Ty::parse("u32"), Ok(Ty::Prim("u32")));
        assert_eq!(Ty::parse(" bool "), Ok(Ty::Bool));
        assert_eq!(Ty::parse("()"), Ok(Ty::Unit));
        assert_eq!(
            Ty::parse("[u8; 4]"),
            Ok(Ty::Array(Box::new(Ty::Prim("u8")), 4))
        );
        assert_eq!(
            Ty::parse("[[bool; 2]; 3]"),
            Ok(Ty::Array(Box::new(Ty::Array(Box::new(Ty::Bool), 2)), 3))
        );
        assert_eq!(
            Ty::parse("Option<u8>"),
            Ok(Ty::Option(Box::new(Ty::Prim("u8"))))
        );
        assert_eq!(
            Ty::parse("types::Point"),
            Ok(Ty::Named("types::Point".into()))
        );
        assert_eq!(Ty::parse("[u8; 4]").unwrap().to_string(), "[u8; 4]");
    }

    #[test]
    fn rejects_with_reasons() {
        assert!(Ty::parse("usize").unwrap_err().contains("32 on the target"));
        assert!(Ty::parse("u33").unwrap_err().contains("unknown type `u33`"));
        assert!(Ty::parse("[u8]").unwrap_err().contains("slices are leases"));
        assert!(Ty::parse("[u8; n]").unwrap_err().contains("not a number"));
        assert!(Ty::parse("Vec<u8>").unwrap_err().contains("unknown type"));
    }

    #[test]
    fn encoding_properties() {
        assert!(!Ty::parse("Option<u8>").unwrap().fixed_layout());
        assert!(Ty::parse("[bool; 2]").unwrap().fixed_layout());
        assert!(!Ty::parse("[bool; 2]").unwrap().every_bit_pattern_valid());
        assert!(Ty::parse("[u16; 2]").unwrap().every_bit_pattern_valid());
        assert_eq!(
            Ty::parse("Option<[u8; 33]>").unwrap().too_long_for_serde(),
            Some(33)
        );
    }
}
