//! An interface after checking: everything the code generators need, and
//! nothing they still have to validate.

use crate::types::Ty;

/// A checked interface.
#[derive(Clone, Debug, PartialEq)]
pub struct Interface {
    /// UpperCamelCase name (`Ping`): generated items are named after it.
    pub name: String,
    /// Documentation for the generated client and server trait.
    pub doc: Option<String>,
    /// The ops, numbered from `first_op` (default 1) in file order.
    pub ops: Vec<Op>,
    /// The error enums replies may use.
    pub errors: Vec<ErrorEnum>,
}

/// How an op's request and reply are encoded.
pub use crate::syntax::Encoding;

/// A checked op.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// snake_case name: the client method and the server trait method.
    pub name: String,
    /// The operation number sent with the request (position in the file,
    /// from 1).
    pub number: u16,
    /// Documentation for the generated methods.
    pub doc: Option<String>,
    /// Arguments, in order.
    pub args: Vec<Arg>,
    /// Leases, in order (lease `i` is the `i`th lease of the call).
    pub leases: Vec<Lease>,
    /// The reply's value type (`()` for none).
    pub ok: Ty,
    /// The error enum of a `Result` reply.
    pub err: Option<String>,
    /// Message encoding.
    pub encoding: Encoding,
    /// Retried once on a restarted server instead of failing.
    pub idempotent: bool,
    /// The server may answer later: its method returns
    /// `idol_runtime::Deferred`, and a generated `<name>_reply_<op>`
    /// function answers the call when the work completes.
    pub deferred: bool,
}

/// An argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// snake_case name.
    pub name: String,
    /// Its type.
    pub ty: Ty,
}

/// A lease: a slice of the client's memory lent for the call.
#[derive(Clone, Debug, PartialEq)]
pub struct Lease {
    /// snake_case name.
    pub name: String,
    /// Element type (every bit pattern valid).
    pub elem: Ty,
    /// The server may read it.
    pub read: bool,
    /// The server may write it.
    pub write: bool,
    /// Most elements the server accepts.
    pub max_len: Option<u32>,
}

/// An error enum whose variants travel as response codes.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorEnum {
    /// UpperCamelCase name.
    pub name: String,
    /// Documentation.
    pub doc: Option<String>,
    /// Variant names and their codes (non-zero, below the kernel's codes,
    /// distinct).
    pub variants: Vec<(String, u32)>,
    /// What variants mean to the caller, by name (each a variant's).
    pub variant_docs: Vec<(String, String)>,
}
