//! The server side: the server trait, the dispatch function, the receive
//! loop step.

use crate::model::{Encoding, Interface, Op};
use crate::types::Ty;
use crate::wire::{
    doc, header, max_len_expr, reply_size, request_name, request_size, request_structs_and_doc,
    snake,
};
use std::fmt::Write;

fn error_type(op: &Op) -> String {
    op.err
        .clone()
        .unwrap_or_else(|| "::core::convert::Infallible".into())
}

fn lease_type(l: &crate::model::Lease) -> String {
    let dir = match (l.read, l.write) {
        (true, false) => "Read",
        (false, _) => "Write",
        (true, true) => "ReadWrite",
    };
    format!(
        "::idol_runtime::Leased<'_, ::idol_runtime::{dir}, {}>",
        l.elem
    )
}

/// The server file of `iface`, read from `source`.
pub fn generate(iface: &Interface, source: &str) -> String {
    let name = &iface.name;
    let lower = snake(name);
    let upper = lower.to_ascii_uppercase();
    let mut out = String::new();
    header(
        &mut out,
        source,
        &format!("the server of interface `{name}`"),
    );

    // The request structs, then the trait.
    request_structs_and_doc(&mut out, iface, &format!("Server of interface `{name}`."));
    let _ = writeln!(
        out,
        "///\n/// One method per op, called by [`{lower}_dispatch`] only with a well-formed request:\n\
         /// every argument decoded, every lease present with the right direction and size.\n\
         /// `caller` is the client. Return `ServerError::Error` for the op's error (its code is\n\
         /// the response code) or `ServerError::Fault` to refuse the request. Notifications are\n\
         /// handled through the `NotificationHandler` supertrait."
    );
    let _ = writeln!(
        out,
        "pub trait {name}Server: ::idol_runtime::NotificationHandler {{"
    );
    for (i, op) in iface.ops.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        doc(
            &mut out,
            "    ",
            op.doc
                .as_deref()
                .unwrap_or(&format!("Serves `{name}.{}`.", op.name)),
        );
        let mut params = vec![
            "&mut self".to_string(),
            "caller: ::idol_runtime::TaskId".to_string(),
        ];
        params.extend(op.args.iter().map(|a| format!("{}: {}", a.name, a.ty)));
        params.extend(
            op.leases
                .iter()
                .map(|l| format!("{}: {}", l.name, lease_type(l))),
        );
        if params.len() > 7 {
            out.push_str("    #[allow(clippy::too_many_arguments)]\n");
        }
        if op.deferred {
            let _ = writeln!(
                out,
                "    ///\n    /// Deferred op: return `Deferred::Later` to answer afterwards with\n    \
                 /// [`{lower}_reply_{}`] (keep `caller`, and the leases with `Leased::detach`).",
                op.name
            );
        }
        let ok = if op.deferred {
            format!("::idol_runtime::Deferred<{}>", op.ok)
        } else {
            op.ok.to_string()
        };
        let _ = writeln!(
            out,
            "    fn {}(\n        {},\n    ) -> ::core::result::Result<{}, ::idol_runtime::ServerError<{}>>;",
            op.name,
            params.join(",\n        "),
            ok,
            error_type(op)
        );
    }
    out.push_str("}\n\n");

    // The receive buffer size.
    let sizes: Vec<String> = iface.ops.iter().map(|op| request_size(iface, op)).collect();
    let _ = writeln!(
        out,
        "/// Receive buffer size that holds every well-formed request of `{name}`.\n\
         pub const {upper}_BUFFER_SIZE: usize = {{\n    let sizes = [{}];\n    let mut max = 0;\n    let mut i = 0;\n    \
         while i < sizes.len() {{\n        if sizes[i] > max {{\n            max = sizes[i];\n        }}\n        i += 1;\n    }}\n    max\n}};\n",
        sizes.join(", ")
    );

    // Dispatch.
    let _ = writeln!(
        out,
        "/// Answers one request of `{name}` received into `buffer`: checks the operation, the\n\
         /// message, the leases and the reply buffer (in that order), calls the server method\n\
         /// and replies. A malformed request is answered with `reply_fault` naming the reason;\n\
         /// nothing a client sends can make this panic.\n\
         pub fn {lower}_dispatch<S: {name}Server + ?Sized>(\n    server: &mut S,\n    ipc: &dyn ::idol_runtime::Ipc,\n    \
         buffer: &[u8],\n    msg: &::idol_runtime::RecvMessage,\n) {{\n    let result = match msg.operation {{"
    );
    for op in &iface.ops {
        let _ = writeln!(
            out,
            "        {} => __idol_{lower}_{}(server, ipc, buffer, msg),",
            op.number, op.name
        );
    }
    out.push_str(
        "        _ => ::core::result::Result::Err(::idol_runtime::ReplyFaultReason::UndefinedOperation),\n    };\n    \
         if let ::core::result::Result::Err(reason) = result {\n        ipc.reply_fault(msg.sender, reason);\n    }\n}\n\n",
    );

    let _ = writeln!(
        out,
        "/// One turn of a `{name}` server's loop: receives a request (and answers it with\n\
         /// [`{lower}_dispatch`]) or notifications in the server's `notification_mask` (and\n\
         /// passes them to `handle_notification`). `buffer` should be\n\
         /// [`{upper}_BUFFER_SIZE`] bytes. Pass one `idol_runtime::HeldReply`, made before\n\
         /// the loop, as `ipc`: each answer then goes out with the next receive, in one\n\
         /// kernel entry where a bare `UserlibIpc` makes two.\n\
         pub fn {lower}_serve_once<S: {name}Server + ?Sized>(\n    server: &mut S,\n    ipc: &dyn ::idol_runtime::Ipc,\n    \
         buffer: &mut [u8],\n) {{\n    ::idol_runtime::server::serve_once(ipc, server, buffer, {lower}_dispatch::<S>);\n}}\n"
    );

    for op in &iface.ops {
        op_fn(&mut out, iface, op, &lower);
    }
    for op in iface.ops.iter().filter(|op| op.deferred) {
        reply_fn(&mut out, iface, op, &lower);
    }
    out
}

/// Sends `result` to `caller` in the op's encoding: the tail shared by
/// dispatch (immediate answers) and the deferred reply functions.
fn reply_code(out: &mut String, op: &Op) {
    match (&op.ok, op.encoding) {
        (Ty::Unit, _) | (_, Encoding::Zerocopy) => {
            out.push_str("    ::idol_runtime::server::reply_zerocopy(ipc, caller, result);\n");
        }
        (_, Encoding::Hubpack) => {
            let _ = writeln!(
                out,
                "    let mut reply = [0u8; {}];\n    ::idol_runtime::server::reply_hubpack(ipc, caller, result, &mut reply);",
                reply_size(op)
            );
        }
    }
}

/// `<name>_reply_<op>`: answers a deferred call.
fn reply_fn(out: &mut String, iface: &Interface, op: &Op, lower: &str) {
    let _ = writeln!(
        out,
        "/// Answers a `{}.{}` call that the server method deferred (`Deferred::Later`):\n\
         /// `caller` is the `caller` it was given. Call it exactly once per deferred call; the\n\
         /// reply buffer was checked at dispatch. A caller that died meanwhile is not waiting\n\
         /// any more, and the kernel ignores the answer.\n\
         pub fn {lower}_reply_{}(\n    ipc: &dyn ::idol_runtime::Ipc,\n    caller: ::idol_runtime::TaskId,\n    \
         result: ::core::result::Result<{}, ::idol_runtime::ServerError<{}>>,\n) {{",
        iface.name,
        op.name,
        op.name,
        op.ok,
        error_type(op)
    );
    reply_code(out, op);
    out.push_str("}\n\n");
}

fn op_fn(out: &mut String, iface: &Interface, op: &Op, lower: &str) {
    let _ = writeln!(
        out,
        "fn __idol_{lower}_{}<S: {}Server + ?Sized>(\n    server: &mut S,\n    ipc: &dyn ::idol_runtime::Ipc,\n    buffer: &[u8],\n    \
         msg: &::idol_runtime::RecvMessage,\n) -> ::core::result::Result<(), ::idol_runtime::ReplyFaultReason> {{\n    \
         let caller = msg.sender;",
        op.name, iface.name
    );
    let request = request_name(iface, op);
    match (op.args.is_empty(), op.encoding) {
        (true, _) => {
            out.push_str("    let _ = buffer;\n    ::idol_runtime::server::decode_empty(msg)?;\n")
        }
        (false, Encoding::Zerocopy) => {
            let _ = writeln!(out, "    let args = ::idol_runtime::server::decode_zerocopy::<{request}>(buffer, msg)?;");
        }
        (false, Encoding::Hubpack) => {
            let _ = writeln!(
                out,
                "    let args = ::idol_runtime::server::decode_hubpack::<{request}>(buffer, msg)?;"
            );
        }
    }
    let _ = writeln!(
        out,
        "    ::idol_runtime::server::check_lease_count(msg, {})?;",
        op.leases.len()
    );
    for (i, l) in op.leases.iter().enumerate() {
        let max = max_len_expr(l);
        let ty = lease_type(l).replacen("<'_, ", "::<", 1);
        let _ = writeln!(
            out,
            "    let lease_{i} = {ty}::claim_described(ipc, caller, {i}, {max}, msg.described_lease({i}))?;"
        );
    }
    let _ = writeln!(
        out,
        "    ::idol_runtime::server::check_reply_capacity(msg, {})?;",
        reply_size(op)
    );
    let mut call_args = vec!["caller".to_string()];
    call_args.extend(op.args.iter().map(|a| format!("args.{}", a.name)));
    call_args.extend((0..op.leases.len()).map(|i| format!("lease_{i}")));
    let _ = writeln!(
        out,
        "    let result = server.{}({});",
        op.name,
        call_args.join(", ")
    );
    if op.deferred {
        // Answered later by the reply function, unless the method had
        // its answer at once.
        out.push_str(
            "    let ::core::option::Option::Some(result) = ::idol_runtime::server::answer_now(result) else {\n        \
             return ::core::result::Result::Ok(());\n    };\n",
        );
    }
    reply_code(out, op);
    out.push_str("    ::core::result::Result::Ok(())\n}\n\n");
}
