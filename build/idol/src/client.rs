//! The client side: error enums, operation numbers and the client type.

use crate::model::{Encoding, Interface, Op};
use crate::types::Ty;
use crate::wire::{
    camel, doc, header, max_len_expr, reply_size, request_name, request_size,
    request_structs_and_doc, snake,
};
use std::fmt::Write;

/// The client file of `iface`, read from `source`.
pub fn generate(iface: &Interface, source: &str) -> String {
    let name = &iface.name;
    let mut out = String::new();
    header(
        &mut out,
        source,
        &format!("the client of interface `{name}`"),
    );

    for e in &iface.errors {
        error_enum(&mut out, e);
    }

    let _ = writeln!(
        out,
        "/// Operation numbers of interface `{name}` (the `operation` of a send)."
    );
    out.push_str("#[derive(Copy, Clone, Debug, PartialEq, Eq)]\n#[repr(u16)]\n");
    let _ = writeln!(out, "pub enum {name}Op {{");
    for op in &iface.ops {
        let _ = writeln!(
            out,
            "    /// `{}`.\n    {} = {},",
            op.name,
            camel(&op.name),
            op.number
        );
    }
    out.push_str("}\n\n");

    request_structs_and_doc(&mut out, iface, &format!("Client of interface `{name}`."));
    out.push_str(
        "///\n/// One method per op. A call to a server that died before or during it returns\n\
         /// `ServerRestarted` (an idempotent op is first retried once on the new incarnation);\n\
         /// the client then talks to the new incarnation. An answer outside the protocol (an\n\
         /// unknown code, a reply that does not decode, an untrusted server's rejection) is a\n\
         /// `RequestError::Protocol`: no method panics because of what the server did.\n",
    );
    let _ = writeln!(out, "pub struct {name}Client<I: ::idol_runtime::Ipc> {{");
    out.push_str("    ipc: I,\n    task: ::core::cell::Cell<::idol_runtime::TaskId>,\n}\n\n");
    let _ = writeln!(out, "impl<I: ::idol_runtime::Ipc> {name}Client<I> {{");
    out.push_str(
        "    /// A client of the server `task`, calling through `ipc`.\n\
         \x20   pub const fn new(ipc: I, task: ::idol_runtime::TaskId) -> Self {\n\
         \x20       Self { ipc, task: ::core::cell::Cell::new(task) }\n    }\n\n\
         \x20   /// The server's id as this client knows it (refreshed when the server restarts).\n\
         \x20   pub fn task_id(&self) -> ::idol_runtime::TaskId {\n        self.task.get()\n    }\n",
    );
    for op in &iface.ops {
        out.push('\n');
        method(&mut out, iface, op);
    }
    out.push_str("}\n");
    judge_fn(&mut out, iface);
    out
}

/// `<name>_judge_call`: the steps of the generated dispatch, held against a
/// call the kernel recorded as refused (`idol_runtime::judge`).
fn judge_fn(out: &mut String, iface: &Interface) {
    let name = &iface.name;
    let lower = snake(name);
    let _ = writeln!(
        out,
        "\n/// Whether a call that a server of `{name}` refused fits the interface, step by\n\
         /// step as the generated dispatch checks it (`idol_runtime::judge`): `WellFormed`\n\
         /// means no correct server refuses it, so the server that did is broken.\n\
         pub fn {lower}_judge_call(\n    call: &::idol_runtime::judge::RejectedCall,\n\
         ) -> ::idol_runtime::judge::Verdict {{\n    \
         #[allow(unused_imports)]\n    \
         use ::idol_runtime::judge::{{judge_op, LeaseRule, MessageRule, Verdict}};\n    \
         match call.operation {{"
    );
    for op in &iface.ops {
        let message = match (op.args.is_empty(), op.encoding) {
            (true, _) => "MessageRule::Empty".to_string(),
            (false, Encoding::Zerocopy) if op.args.iter().all(|a| plain(&a.ty)) => {
                format!("MessageRule::Exact({})", request_size(iface, op))
            }
            (false, Encoding::Zerocopy) => format!(
                "MessageRule::ExactThenDecodes({}, |m| \
                 ::idol_runtime::wire::decode_zerocopy::<{}>(m).is_some())",
                request_size(iface, op),
                request_name(iface, op)
            ),
            (false, Encoding::Hubpack) => format!(
                "MessageRule::AtMostThenDecodes({}, |m| \
                 ::idol_runtime::wire::decode_hubpack::<{}>(m).is_some())",
                request_size(iface, op),
                request_name(iface, op)
            ),
        };
        let leases: Vec<String> = op
            .leases
            .iter()
            .map(|l| {
                format!(
                    "LeaseRule::new({}, {}, ::core::mem::size_of::<{}>(), {})",
                    l.read,
                    l.write,
                    l.elem,
                    max_len_expr(l)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "        {} => judge_op(call, {message}, &[{}], {}),",
            op.number,
            leases.join(", "),
            reply_size(op)
        );
    }
    out.push_str("        _ => Verdict::Malformed,\n    }\n}\n");
}

/// Whether every bit pattern of an argument of type `ty` decodes, so that
/// its length alone decides (a named type may be an enum).
fn plain(ty: &Ty) -> bool {
    match ty {
        Ty::Prim(_) => true,
        Ty::Array(elem, _) => plain(elem),
        _ => false,
    }
}

fn error_enum(out: &mut String, e: &crate::model::ErrorEnum) {
    let name = &e.name;
    doc(
        out,
        "",
        e.doc
            .as_deref()
            .unwrap_or(&format!("Errors of `{name}`, sent as response codes.")),
    );
    out.push_str("#[derive(Copy, Clone, Debug, PartialEq, Eq)]\n#[repr(u32)]\n");
    let _ = writeln!(out, "pub enum {name} {{");
    for (variant, code) in &e.variants {
        match e.variant_docs.iter().find(|(v, _)| v == variant) {
            Some((_, text)) => doc(out, "    ", &format!("{text}\n\nResponse code {code}.")),
            None => {
                let _ = writeln!(out, "    /// Response code {code}.");
            }
        }
        let _ = writeln!(out, "    {variant} = {code},");
    }
    out.push_str("}\n\n");
    let _ = writeln!(out, "impl ::idol_runtime::ErrorCode for {name} {{");
    out.push_str("    fn code(&self) -> u32 {\n        *self as u32\n    }\n\n");
    out.push_str(
        "    fn from_code(code: u32) -> ::core::option::Option<Self> {\n        match code {\n",
    );
    for (variant, code) in &e.variants {
        let _ = writeln!(
            out,
            "            {code} => ::core::option::Option::Some(Self::{variant}),"
        );
    }
    out.push_str("            _ => ::core::option::Option::None,\n        }\n    }\n}\n\n");
    let _ = writeln!(
        out,
        "impl ::core::convert::From<{name}> for ::idol_runtime::ServerError<{name}> {{\n    \
         fn from(e: {name}) -> Self {{\n        ::idol_runtime::ServerError::Error(e)\n    }}\n}}\n"
    );
}

fn method(out: &mut String, iface: &Interface, op: &Op) {
    let what = format!("{}.{}", iface.name, op.name);
    doc(
        out,
        "    ",
        op.doc.as_deref().unwrap_or(&format!("Calls `{what}`.")),
    );
    for l in &op.leases {
        if let Some(max) = l.max_len {
            let _ = writeln!(
                out,
                "    ///\n    /// `{}` holds at most {max} elements. The server refuses a longer \
                 one: a trusted server faults the caller, an untrusted one (every \
                 driver) answers `Protocol(Rejected(BadLeases))`.",
                l.name
            );
        }
    }
    if op.idempotent {
        out.push_str(
            "    ///\n    /// Idempotent: retried once if the server restarts during the call.\n",
        );
    }
    let mut params = vec!["&self".to_string()];
    params.extend(op.args.iter().map(|a| format!("{}: {}", a.name, a.ty)));
    params.extend(op.leases.iter().map(|l| {
        let r = if l.write { "&mut " } else { "&" };
        format!("{}: {r}[{}]", l.name, l.elem)
    }));
    let ret = match &op.err {
        Some(err) => format!(
            "::core::result::Result<{}, ::idol_runtime::RequestError<{err}>>",
            op.ok
        ),
        None => format!(
            "::core::result::Result<{}, ::idol_runtime::CallError>",
            op.ok
        ),
    };
    if params.len() > 7 {
        out.push_str("    #[allow(clippy::too_many_arguments)]\n");
    }
    let _ = writeln!(
        out,
        "    pub fn {}({}) -> {ret} {{",
        op.name,
        params.join(", ")
    );

    let fields: Vec<&str> = op.args.iter().map(|a| a.name.as_str()).collect();
    let request = request_name(iface, op);
    if !op.args.is_empty() {
        let _ = writeln!(
            out,
            "        let __request = {request} {{ {} }};",
            fields.join(", ")
        );
    }
    match (op.args.is_empty(), op.encoding) {
        (true, _) => out.push_str("        let __message: &[u8] = &[];\n"),
        (false, Encoding::Zerocopy) => {
            out.push_str("        let __message = ::zerocopy::IntoBytes::as_bytes(&__request);\n");
        }
        (false, Encoding::Hubpack) => {
            let _ = writeln!(
                out,
                "        let mut __buffer = [0u8; <{request} as ::hubpack::SerializedSize>::MAX_SIZE];\n        \
                 let __message = match ::idol_runtime::wire::encode_hubpack(&mut __buffer, &__request) {{\n            \
                 ::core::option::Option::Some(bytes) => bytes,\n            \
                 ::core::option::Option::None => ::idol_runtime::client::protocol_violation(\"{what}: request does not encode\", 0),\n        }};"
            );
        }
    }
    let _ = writeln!(out, "        let mut __reply = [0u8; {}];", reply_size(op));
    if op.leases.is_empty() {
        out.push_str("        let mut __leases: [::idol_runtime::LeaseRef<'_>; 0] = [];\n");
    } else {
        let leases: Vec<String> = op
            .leases
            .iter()
            .map(|l| {
                let (kind, view) = match (l.read, l.write) {
                    (true, false) => ("Read", "as_bytes"),
                    (false, _) => ("Write", "as_mut_bytes"),
                    (true, true) => ("ReadWrite", "as_mut_bytes"),
                };
                format!(
                    "::idol_runtime::LeaseRef::{kind}(::zerocopy::IntoBytes::{view}({}))",
                    l.name
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "        let mut __leases = [\n            {},\n        ];",
            leases.join(",\n            ")
        );
    }
    let _ = writeln!(
        out,
        "        let (__code, __bytes) = ::idol_runtime::client::call(\n            &self.ipc,\n            &self.task,\n            \
         {}Op::{} as u16,\n            __message,\n            &mut __reply,\n            &mut __leases,\n            {},\n        )?;",
        iface.name,
        camel(&op.name),
        op.idempotent
    );
    let err = op.err.as_deref().unwrap_or("::core::convert::Infallible");
    let _ = writeln!(
        out,
        "        ::idol_runtime::client::response::<{err}>(__code)?;"
    );
    let decode = match (&op.ok, op.encoding) {
        (Ty::Unit, _) => "__bytes.is_empty().then_some(())".to_string(),
        (ok, Encoding::Zerocopy) => {
            format!("::idol_runtime::wire::decode_zerocopy::<{ok}>(__bytes)")
        }
        (ok, Encoding::Hubpack) => format!("::idol_runtime::wire::decode_hubpack::<{ok}>(__bytes)"),
    };
    let _ = writeln!(
        out,
        "        ::idol_runtime::client::decoded({decode}, __code, __bytes.len())\n    }}"
    );
}
