//! From RON shapes to a checked [`Interface`]: every rule an IDL file must
//! follow, each broken one reported as an [`Error`] naming the part.

use crate::error::Error;
use crate::model::{Arg, ErrorEnum, Interface, Lease, Op};
use crate::syntax::{self, Encoding, Reply};
use crate::types::{is_identifier, Ty, SERDE_MAX_ARRAY};
use crate::wire::{camel, request_name};

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

fn is_upper_camel(s: &str) -> bool {
    is_identifier(s)
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && !s.contains('_')
        && !KEYWORDS.contains(&s)
}

/// A name generated code can use as a method or parameter: snake_case, not a
/// keyword, not `caller` (the server methods' first parameter) and not
/// starting with `__` (generated code's own names).
fn check_snake(kind: &str, name: &str) -> Result<(), String> {
    let snake = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !snake || name.is_empty() || name == "_" {
        return Err(format!("{kind} name `{name}` must be snake_case"));
    }
    if KEYWORDS.contains(&name) {
        return Err(format!("{kind} name `{name}` is a Rust keyword"));
    }
    if name.starts_with("__") {
        return Err(format!(
            "{kind} name `{name}`: names starting with `__` are reserved for generated code"
        ));
    }
    if name == "caller" && kind != "op" {
        return Err(format!(
            "{kind} name `caller` is taken: server methods get the caller under that name"
        ));
    }
    Ok(())
}

/// Parses and checks the text of an IDL file; `file` names it in errors.
pub fn check(file: &str, text: &str) -> Result<Interface, Error> {
    let raw = syntax::parse(file, text)?;
    let top = |message: String| Error::new(file, None, message);

    if !is_upper_camel(&raw.name) {
        return Err(top(format!(
            "interface name `{}` must be UpperCamelCase (it names the generated `{}Client` and `{}Server`)",
            raw.name, raw.name, raw.name
        )));
    }
    if raw.ops.is_empty() {
        return Err(top("the interface declares no ops".into()));
    }
    if raw.first_op == 0 {
        return Err(top("`first_op` must be at least 1".into()));
    }
    // The ops are numbered `first_op` to `first_op + len - 1`: the last may
    // be 65535 itself.
    if usize::from(raw.first_op) + raw.ops.len() > usize::from(u16::MAX) + 1 {
        return Err(top(format!(
            "{} ops from `first_op` {}: operation numbers are 16 bits",
            raw.ops.len(),
            raw.first_op
        )));
    }

    let mut errors = Vec::new();
    for (name, e) in raw.errors {
        errors.push(
            check_error_enum(&name, e)
                .map_err(|m| Error::new(file, Some(format!("error enum `{name}`")), m))?,
        );
    }

    let mut ops = Vec::new();
    for (index, (name, op)) in raw.ops.into_iter().enumerate() {
        let number = u16::try_from(index + usize::from(raw.first_op)).unwrap_or(u16::MAX);
        let op = check_op(&name, number, op, &errors)
            .map_err(|m| Error::new(file, Some(format!("op `{name}`")), m))?;
        ops.push(op);
    }
    let iface = Interface {
        name: raw.name,
        doc: raw.doc,
        ops,
        errors,
    };
    check_generated_names(&iface).map_err(|(context, m)| Error::new(file, Some(context), m))?;
    Ok(iface)
}

/// Methods the generated code defines beside the ops: the client's own
/// (`{Name}Client::new`, `task_id`) and the server trait's supertrait's
/// (`idol_runtime::NotificationHandler`). An op of the same name would
/// define the client's method twice, or make the dispatch's call of it
/// ambiguous.
const GENERATED_METHODS: &[(&str, &str)] = &[
    ("new", "the client's constructor"),
    (
        "task_id",
        "the client's method that returns the server's id",
    ),
    (
        "notification_mask",
        "a method of the server trait's supertrait `idol_runtime::NotificationHandler`",
    ),
    (
        "handle_notification",
        "a method of the server trait's supertrait `idol_runtime::NotificationHandler`",
    ),
];

/// Names the generated code would define twice, or use for two things:
/// each is a compile error in the generated file, far from the IDL line
/// that caused it, so it is refused here by name.
fn check_generated_names(iface: &Interface) -> Result<(), (String, String)> {
    let name = &iface.name;
    for (i, op) in iface.ops.iter().enumerate() {
        let op_context = || format!("op `{}`", op.name);
        if let Some((_, what)) = GENERATED_METHODS.iter().find(|(m, _)| *m == op.name) {
            return Err((
                op_context(),
                format!("the name `{}` is taken by {what}; rename the op", op.name),
            ));
        }
        let variant = camel(&op.name);
        if let Some(other) = iface.ops[..i].iter().find(|o| camel(&o.name) == variant) {
            return Err((
                op_context(),
                format!(
                    "ops `{}` and `{}` both become `{name}Op::{variant}` (and `{}`) in generated code; rename one",
                    other.name,
                    op.name,
                    request_name(iface, op)
                ),
            ));
        }
    }
    // The types the generated files define, each with what it is.
    let mut generated: Vec<(String, String)> = vec![
        (format!("{name}Op"), "the enum of operation numbers".into()),
        (format!("{name}Client"), "the client".into()),
        (format!("{name}Server"), "the server trait".into()),
    ];
    for op in iface.ops.iter().filter(|op| !op.args.is_empty()) {
        generated.push((
            request_name(iface, op),
            format!("op `{}`'s request struct", op.name),
        ));
    }
    let clash = |ty: &str| {
        generated
            .iter()
            .find(|(g, _)| g == ty)
            .map(|(_, what)| what)
    };
    for e in &iface.errors {
        if let Some(what) = clash(&e.name) {
            return Err((
                format!("error enum `{}`", e.name),
                format!("the name is taken by {what} in generated code; rename the enum"),
            ));
        }
    }
    for op in &iface.ops {
        let mut named = Vec::new();
        for a in &op.args {
            a.ty.named(&mut named);
        }
        for l in &op.leases {
            l.elem.named(&mut named);
        }
        op.ok.named(&mut named);
        if let Some(ty) = named.into_iter().find_map(|n| clash(n).map(|w| (n, w))) {
            return Err((
                format!("op `{}`", op.name),
                format!(
                    "type `{}` is the name of {} in generated code; rename the type",
                    ty.0, ty.1
                ),
            ));
        }
    }
    Ok(())
}

fn check_error_enum(name: &str, e: syntax::ErrorEnum) -> Result<ErrorEnum, String> {
    if !is_upper_camel(name) {
        return Err("the name must be UpperCamelCase".into());
    }
    if e.codes.0.is_empty() {
        return Err("declares no codes".into());
    }
    let mut variants: Vec<(String, u32)> = Vec::new();
    for (variant, code) in e.codes.0 {
        if !is_upper_camel(&variant) {
            return Err(format!("variant `{variant}` must be UpperCamelCase"));
        }
        if code == abi::SUCCESS {
            return Err(format!(
                "variant `{variant}` has code 0, which is the success code"
            ));
        }
        if code >= abi::KERNEL_CODE_BASE {
            return Err(format!(
                "variant `{variant}` has code {code:#x}, reserved by the kernel (codes must be below {:#x})",
                abi::KERNEL_CODE_BASE
            ));
        }
        if let Some((other, _)) = variants.iter().find(|(_, c)| *c == code) {
            return Err(format!(
                "variants `{other}` and `{variant}` share code {code}"
            ));
        }
        variants.push((variant, code));
    }
    for (variant, _) in &e.docs.0 {
        if !variants.iter().any(|(v, _)| v == variant) {
            return Err(format!(
                "`docs` names `{variant}`, which is none of the codes"
            ));
        }
    }
    Ok(ErrorEnum {
        name: name.to_string(),
        doc: e.doc,
        variants,
        variant_docs: e.docs.0,
    })
}

fn check_op(name: &str, number: u16, op: syntax::Op, errors: &[ErrorEnum]) -> Result<Op, String> {
    check_snake("op", name)?;
    let encoding = op.encoding;
    let encodable = |what: &str, ty: &Ty| -> Result<(), String> {
        match encoding {
            Encoding::Zerocopy if !ty.fixed_layout() => Err(format!(
                "{what}: type `{ty}` has no fixed layout, so it cannot be a zerocopy message; give the op \
                 `encoding: Hubpack`"
            )),
            Encoding::Hubpack => match ty.too_long_for_serde() {
                Some(n) => Err(format!(
                    "{what}: an array of {n} elements cannot be encoded with hubpack (serde stops at \
                     {SERDE_MAX_ARRAY}); use `encoding: Zerocopy` or a lease"
                )),
                None => Ok(()),
            },
            Encoding::Zerocopy => Ok(()),
        }
    };

    let mut args = Vec::new();
    for (arg, ty) in op.args.0 {
        check_snake("argument", &arg)?;
        let ty = Ty::parse(&ty).map_err(|m| format!("argument `{arg}`: {m}"))?;
        if ty == Ty::Unit {
            return Err(format!("argument `{arg}`: `()` is only a reply type"));
        }
        encodable(&format!("argument `{arg}`"), &ty)?;
        args.push(Arg { name: arg, ty });
    }

    let mut leases = Vec::new();
    for (lease, l) in op.leases.0 {
        check_snake("lease", &lease)?;
        if args.iter().any(|a| a.name == lease) {
            return Err(format!("lease `{lease}` has the same name as an argument"));
        }
        let elem = Ty::parse(&l.ty).map_err(|m| format!("lease `{lease}`: {m}"))?;
        if !elem.every_bit_pattern_valid() {
            return Err(format!(
                "lease `{lease}`: element type `{elem}` cannot be lent: the server reads the client's memory \
                 as-is, so every byte pattern must be a value (integers, arrays of them, named FromBytes types)"
            ));
        }
        if elem.zero_sized() {
            // idol-runtime refuses a lease of zero-sized elements (it
            // cannot count them): every call of the op was refused.
            return Err(format!(
                "lease `{lease}`: element type `{elem}` has no bytes, so nothing can be lent; use a type of at least one byte"
            ));
        }
        if !l.read && !l.write {
            return Err(format!("lease `{lease}` grants neither read nor write: add `read: true` and/or `write: true`"));
        }
        if l.max_len == Some(0) {
            return Err(format!("lease `{lease}`: `max_len: 0` lends nothing"));
        }
        leases.push(Lease {
            name: lease,
            elem,
            read: l.read,
            write: l.write,
            max_len: l.max_len,
        });
    }
    if leases.len() > abi::MAX_LEASES {
        return Err(format!(
            "{} leases: a call carries at most {}",
            leases.len(),
            abi::MAX_LEASES
        ));
    }

    let (ok, err) = match op.reply {
        Reply::Simple(ok) => (ok, None),
        Reply::Result { ok, err } => (ok, Some(err)),
    };
    let ok = Ty::parse(&ok).map_err(|m| format!("reply: {m}"))?;
    encodable("reply", &ok)?;
    if let Some(err) = &err {
        if !errors.iter().any(|e| e.name == *err) {
            let declared: Vec<&str> = errors.iter().map(|e| e.name.as_str()).collect();
            return Err(format!(
                "reply error `{err}` is not declared in `errors` (declared: {})",
                if declared.is_empty() {
                    "none".to_string()
                } else {
                    declared.join(", ")
                }
            ));
        }
    }

    Ok(Op {
        name: name.to_string(),
        number,
        doc: op.doc,
        args,
        leases,
        ok,
        err,
        encoding,
        idempotent: op.idempotent,
        deferred: op.deferred,
    })
}
