//! What the dump needs from a program's DWARF: every type, by its
//! `.debug_info` offset, reduced to the shapes a value decoder walks
//! (structs, Rust enums with their variant parts, C-like enums, unions,
//! arrays, pointers, base types), and every static variable with its
//! address and type.
//!
//! Rust enums with data are `DW_TAG_structure_type`s holding one
//! `DW_TAG_variant_part` (DWARF 5 §5.7.10): a discriminant member, and one
//! `DW_TAG_variant` per variant whose `DW_AT_discr_value` is the value the
//! discriminant holds for it. A variant without `DW_AT_discr_value` is the
//! one whose data holds the niche: it is chosen when no other value matches.

use std::borrow::Cow;
use std::collections::HashMap;

use anyhow::{Context, Result};
use gimli::{AttributeValue, DebuggingInformationEntry, EndianSlice, RunTimeEndian};
use object::{Object as _, ObjectSection as _};

/// A type's identity: its offset in `.debug_info`.
pub type TypeId = usize;

/// One field of a struct or union (or the single member of a variant).
#[derive(Clone, Debug)]
pub struct Member {
    /// Field name (`__0`, `__1`, … for tuple fields).
    pub name: String,
    /// Byte offset in the containing value.
    pub offset: u64,
    /// The field's type.
    pub ty: TypeId,
}

/// One variant of a Rust enum with data.
#[derive(Clone, Debug)]
pub struct Variant {
    /// The discriminant value naming this variant; `None` for the variant
    /// chosen when no other matches (the niche holder).
    pub discr_value: Option<u64>,
    /// The variant, as a member whose type is a struct of its fields.
    pub member: Member,
}

/// The reduced shape of a type.
#[derive(Clone, Debug)]
pub enum Type {
    /// An integer, bool, char or float (`DW_TAG_base_type`).
    Base {
        /// Size in bytes.
        size: u64,
        /// `DW_ATE_*`.
        encoding: gimli::DwAte,
    },
    /// A struct, tuple, or Rust enum with data (`variants` set).
    Struct {
        /// Type name as DWARF gives it (without its module path).
        name: String,
        /// Size in bytes.
        size: u64,
        /// Fields (empty for an enum with data).
        members: Vec<Member>,
        /// For a Rust enum: the discriminant member and the variants.
        variants: Option<(Option<Member>, Vec<Variant>)>,
    },
    /// A union (`MaybeUninit`, …).
    Union {
        /// Type name.
        name: String,
        /// Size in bytes.
        size: u64,
        /// The overlapping fields.
        members: Vec<Member>,
    },
    /// A C-like enum (`DW_TAG_enumeration_type`).
    Enum {
        /// Type name.
        name: String,
        /// Size in bytes.
        size: u64,
        /// Value and name of each enumerator.
        enumerators: Vec<(u64, String)>,
    },
    /// `[T; N]`.
    Array {
        /// Element type.
        elem: TypeId,
        /// Number of elements.
        count: u64,
    },
    /// A pointer or reference (`&T`, `*const T`).
    Pointer {
        /// Pointee, if DWARF names one.
        target: Option<TypeId>,
        /// Size in bytes.
        size: u64,
    },
    /// A typedef or qualifier: the same as another type.
    Alias(TypeId),
    /// `()`, a function type, or anything else with no decodable value.
    Opaque {
        /// Size in bytes (0 if unknown).
        size: u64,
    },
}

/// A static variable.
#[derive(Clone, Debug)]
pub struct Variable {
    /// The Rust name (`TRACE`).
    pub name: String,
    /// The linkage name, demangled without its hash (`kernel::TASK_TABLE`),
    /// or as exported (`__RINGBUF_virtio_blk::TRACE`).
    pub linkage: String,
    /// Address in the program's address space.
    pub address: u64,
    /// Its type.
    pub ty: TypeId,
}

/// The types and statics of one program.
#[derive(Debug, Default)]
pub struct DebugInfo {
    types: HashMap<TypeId, Type>,
    /// Every static with a fixed address.
    pub variables: Vec<Variable>,
}

impl DebugInfo {
    /// Reads the DWARF of an ELF file's bytes.
    pub fn parse(data: &[u8]) -> Result<DebugInfo> {
        let file = object::File::parse(data).context("not an ELF file")?;
        let endian = if file.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
            Ok(match file.section_by_name(id.name()) {
                Some(s) => s.uncompressed_data().unwrap_or(Cow::Borrowed(&[])),
                None => Cow::Borrowed(&[]),
            })
        };
        let sections = gimli::DwarfSections::load(load)?;
        let dwarf = sections.borrow(|s| EndianSlice::new(s, endian));
        let mut info = DebugInfo::default();
        let mut units = dwarf.units();
        while let Some(header) = units.next()? {
            let unit = dwarf.unit(header)?;
            let mut tree = unit.entries_tree(None)?;
            let root = tree.root()?;
            info.walk(&dwarf, &unit, root)?;
        }
        Ok(info)
    }

    /// The type with this id, typedefs and qualifiers resolved.
    pub fn ty(&self, mut id: TypeId) -> Option<&Type> {
        // Bounded: a malformed file could make an alias cycle.
        for _ in 0..16 {
            match self.types.get(&id)? {
                Type::Alias(target) => id = *target,
                t => return Some(t),
            }
        }
        None
    }

    /// The first static whose Rust name or linkage name is `name`.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables
            .iter()
            .find(|v| v.linkage == name || v.name == name)
    }

    /// Every static whose linkage name starts with `prefix`.
    pub fn variables_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a Variable> + 'a {
        self.variables
            .iter()
            .filter(move |v| v.linkage.starts_with(prefix))
    }

    /// The offset and type of the field `path` (dot-separated names) in a
    /// value of type `ty`, looking through wrappers on the way
    /// (`MaybeUninit`'s `value`, any struct with a single field), as a
    /// debugger script needs to address `TASK_TABLE[i].save.regs`.
    pub fn member_path(&self, ty: TypeId, path: &str) -> Option<(u64, TypeId)> {
        path.split('.').try_fold((0, ty), |(offset, ty), name| {
            let (o, t) = self.member_through_wrappers(ty, name, 0)?;
            Some((offset + o, t))
        })
    }

    fn member_through_wrappers(
        &self,
        ty: TypeId,
        name: &str,
        depth: usize,
    ) -> Option<(u64, TypeId)> {
        if depth > 8 {
            return None;
        }
        let members = match self.ty(ty)? {
            Type::Struct {
                members,
                variants: None,
                ..
            }
            | Type::Union { members, .. } => members,
            _ => return None,
        };
        if let Some(m) = members.iter().find(|m| m.name == name) {
            return Some((m.offset, m.ty));
        }
        let inner = match members.as_slice() {
            [only] => only,
            _ => members.iter().find(|m| m.name == "value")?,
        };
        let (o, t) = self.member_through_wrappers(inner.ty, name, depth + 1)?;
        Some((inner.offset + o, t))
    }

    /// Size in bytes of a type (0 if unknown).
    pub fn size_of(&self, id: TypeId) -> u64 {
        match self.ty(id) {
            Some(
                Type::Base { size, .. }
                | Type::Struct { size, .. }
                | Type::Union { size, .. }
                | Type::Enum { size, .. }
                | Type::Pointer { size, .. }
                | Type::Opaque { size, .. },
            ) => *size,
            Some(Type::Array { elem, count }) => self.size_of(*elem).saturating_mul(*count),
            Some(Type::Alias(_)) | None => 0,
        }
    }

    fn walk(
        &mut self,
        dwarf: &gimli::Dwarf<Slice<'_>>,
        unit: &gimli::Unit<Slice<'_>>,
        node: gimli::EntriesTreeNode<'_, '_, Slice<'_>>,
    ) -> Result<()> {
        let entry = node.entry().clone();
        let id = global(unit, entry.offset());
        let tag = entry.tag();
        if tag == gimli::DW_TAG_variable {
            self.add_variable(dwarf, unit, &entry);
            return Ok(());
        }
        let mut children = Vec::new();
        {
            let mut iter = node.children();
            while let Some(child) = iter.next()? {
                children.push(child.entry().clone());
                self.walk(dwarf, unit, child)?;
            }
        }
        // The children with one tag (members, enumerators, subranges).
        let tagged = |tag| children.iter().filter(move |c| c.tag() == tag);
        let name = name_of(dwarf, unit, &entry).unwrap_or_default();
        let size = udata(&entry, gimli::DW_AT_byte_size).unwrap_or(0);
        let ty = match tag {
            gimli::DW_TAG_base_type => {
                let encoding = match entry.attr_value(gimli::DW_AT_encoding) {
                    Some(AttributeValue::Encoding(e)) => e,
                    _ => gimli::DW_ATE_unsigned,
                };
                Type::Base { size, encoding }
            }
            gimli::DW_TAG_structure_type => {
                let mut members = Vec::new();
                let mut variants = None;
                for c in &children {
                    match c.tag() {
                        gimli::DW_TAG_member => {
                            if let Some(m) = member(dwarf, unit, c) {
                                members.push(m);
                            }
                        }
                        gimli::DW_TAG_variant_part => {
                            variants = Some(self.variant_part(dwarf, unit, c.offset())?);
                        }
                        _ => {}
                    }
                }
                Type::Struct {
                    name,
                    size,
                    members,
                    variants,
                }
            }
            gimli::DW_TAG_union_type => Type::Union {
                name,
                size,
                members: tagged(gimli::DW_TAG_member)
                    .filter_map(|c| member(dwarf, unit, c))
                    .collect(),
            },
            gimli::DW_TAG_enumeration_type => Type::Enum {
                name,
                size,
                enumerators: tagged(gimli::DW_TAG_enumerator)
                    .filter_map(|c| {
                        let v = constant(c, gimli::DW_AT_const_value)?;
                        Some((v, name_of(dwarf, unit, c)?))
                    })
                    .collect(),
            },
            gimli::DW_TAG_array_type => {
                let count = tagged(gimli::DW_TAG_subrange_type)
                    .next()
                    .and_then(|c| {
                        udata(c, gimli::DW_AT_count)
                            .or_else(|| udata(c, gimli::DW_AT_upper_bound).map(|u| u + 1))
                    })
                    .unwrap_or(0);
                match type_ref(unit, &entry) {
                    Some(elem) => Type::Array { elem, count },
                    None => return Ok(()),
                }
            }
            gimli::DW_TAG_pointer_type | gimli::DW_TAG_reference_type => Type::Pointer {
                target: type_ref(unit, &entry),
                size: if size == 0 { 4 } else { size },
            },
            gimli::DW_TAG_typedef
            | gimli::DW_TAG_const_type
            | gimli::DW_TAG_volatile_type
            | gimli::DW_TAG_atomic_type => match type_ref(unit, &entry) {
                Some(target) => Type::Alias(target),
                None => Type::Opaque { size: 0 },
            },
            gimli::DW_TAG_subroutine_type | gimli::DW_TAG_unspecified_type => Type::Opaque { size },
            _ => return Ok(()),
        };
        self.types.insert(id, ty);
        Ok(())
    }

    /// Reads a `DW_TAG_variant_part` by walking its children afresh.
    fn variant_part(
        &mut self,
        dwarf: &gimli::Dwarf<Slice<'_>>,
        unit: &gimli::Unit<Slice<'_>>,
        offset: gimli::UnitOffset,
    ) -> Result<(Option<Member>, Vec<Variant>)> {
        let part = unit.entry(offset)?;
        let discr_at = match part.attr_value(gimli::DW_AT_discr) {
            Some(AttributeValue::UnitRef(o)) => Some(o),
            _ => None,
        };
        let mut discr = None;
        let mut variants = Vec::new();
        let mut tree = unit.entries_tree(Some(offset))?;
        let root = tree.root()?;
        let mut iter = root.children();
        while let Some(child) = iter.next()? {
            let e = child.entry().clone();
            match e.tag() {
                gimli::DW_TAG_member if Some(e.offset()) == discr_at => {
                    discr = member(dwarf, unit, &e);
                }
                gimli::DW_TAG_variant => {
                    let discr_value = constant(&e, gimli::DW_AT_discr_value);
                    let mut inner = child.children();
                    while let Some(m) = inner.next()? {
                        let me = m.entry().clone();
                        if me.tag() == gimli::DW_TAG_member {
                            if let Some(member) = member(dwarf, unit, &me) {
                                variants.push(Variant {
                                    discr_value,
                                    member,
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok((discr, variants))
    }

    fn add_variable(
        &mut self,
        dwarf: &gimli::Dwarf<Slice<'_>>,
        unit: &gimli::Unit<Slice<'_>>,
        entry: &Die<'_>,
    ) {
        let Some(AttributeValue::Exprloc(expr)) = entry.attr_value(gimli::DW_AT_location) else {
            return;
        };
        let mut ops = expr.operations(unit.encoding());
        let Ok(Some(gimli::Operation::Address { address })) = ops.next() else {
            return;
        };
        let Some(ty) = type_ref(unit, entry) else {
            return;
        };
        let name = name_of(dwarf, unit, entry).unwrap_or_default();
        let linkage = match entry.attr_value(gimli::DW_AT_linkage_name) {
            Some(v) => string(dwarf, unit, v)
                .map(|s| format!("{:#}", rustc_demangle::demangle(&s)))
                .unwrap_or_else(|| name.clone()),
            None => name.clone(),
        };
        self.variables.push(Variable {
            name,
            linkage,
            address,
            ty,
        });
    }
}

type Slice<'a> = EndianSlice<'a, RunTimeEndian>;
type Die<'a> = DebuggingInformationEntry<Slice<'a>>;

/// A DIE's offset in `.debug_info`, which names a type across units.
fn global(unit: &gimli::Unit<Slice<'_>>, offset: gimli::UnitOffset) -> TypeId {
    offset
        .to_debug_info_offset(&unit.header)
        .map_or(usize::MAX, |o| o.0)
}

fn type_ref(unit: &gimli::Unit<Slice<'_>>, entry: &Die<'_>) -> Option<TypeId> {
    match entry.attr_value(gimli::DW_AT_type)? {
        AttributeValue::UnitRef(o) => Some(global(unit, o)),
        AttributeValue::DebugInfoRef(o) => Some(o.0),
        _ => None,
    }
}

fn string(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &gimli::Unit<Slice<'_>>,
    v: AttributeValue<Slice<'_>>,
) -> Option<String> {
    let s = dwarf.attr_string(unit, v).ok()?;
    Some(s.to_string_lossy().into_owned())
}

fn name_of(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &gimli::Unit<Slice<'_>>,
    entry: &Die<'_>,
) -> Option<String> {
    string(dwarf, unit, entry.attr_value(gimli::DW_AT_name)?)
}

fn udata(entry: &Die<'_>, at: gimli::DwAt) -> Option<u64> {
    entry.attr_value(at)?.udata_value()
}

fn constant(entry: &Die<'_>, at: gimli::DwAt) -> Option<u64> {
    match entry.attr_value(at)? {
        AttributeValue::Sdata(v) => Some(v as u64),
        v => v.udata_value(),
    }
}

fn member(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &gimli::Unit<Slice<'_>>,
    entry: &Die<'_>,
) -> Option<Member> {
    Some(Member {
        name: name_of(dwarf, unit, entry).unwrap_or_default(),
        offset: udata(entry, gimli::DW_AT_data_member_location).unwrap_or(0),
        ty: type_ref(unit, entry)?,
    })
}
