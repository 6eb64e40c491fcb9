//! The IDL compiler: turns an interface in `idl/*.idol` into the client stubs
//! and server dispatch that clients and servers use instead of packing
//! messages by hand.
//!
//! It runs at build time only, from the `build.rs` of an api crate (the
//! client side) and of a server task. It must never be a dependency of code
//! that runs in a task, and it must never accept a file it cannot generate
//! correct code for: every rule is checked here and a broken file fails the
//! build with a message naming the file, the op and what is wrong.
//!
//! The format is documented in `idl/README.md`; `idl/ping.idol` is the
//! example. What the generated code needs at run time is `idol-runtime`.
//!
//! # The api crate (client side)
//!
//! `test/ping/api/Cargo.toml` (the paths are relative to the crate: one
//! level deeper, as here, takes one more `../`):
//!
//! ```toml
//! [dependencies]
//! idol-runtime = { path = "../../../sys/idol-runtime" }
//! zerocopy.workspace = true
//! # only if an op uses `encoding: Hubpack`:
//! serde = { version = "1", default-features = false, features = ["derive"] }
//! hubpack = "0.1.2"
//!
//! [build-dependencies]
//! idol = { path = "../../../build/idol" }
//! ```
//!
//! `test/ping/api/build.rs`:
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let out = std::env::var("OUT_DIR")?;
//!     idol::generate_client("../../../idl/ping.idol", &out)?; // writes ping_client.rs
//!     Ok(())
//! }
//! ```
//!
//! `test/ping/api/src/lib.rs` defines the named types the IDL uses (here the
//! hubpack enum `PingStatus`) and includes the generated code, which brings the error enums (`PingError`), the operation
//! numbers (`PingOp`) and the client (`PingClient`):
//!
//! ```ignore
//! #![no_std]
//! #[derive(Copy, Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, hubpack::SerializedSize)]
//! pub enum PingStatus { Idle, Busy { pending: u32 } }
//! include!(concat!(env!("OUT_DIR"), "/ping_client.rs"));
//! ```
//!
//! A client task (with `idol-runtime`'s feature `userlib`):
//!
//! ```ignore
//! let ping = PingClient::new(idol_runtime::UserlibIpc, PING_TASK_ID);
//! let sum = ping.add(2, 3)?;                      // Result<u32, idol_runtime::CallError>
//! let n = ping.sum(&buffer)?;                     // read lease
//! match ping.divide(7, 0) {                       // Result<u32, RequestError<PingError>>
//!     Err(RequestError::Server(PingError::DivideByZero)) => {}
//!     Err(RequestError::ServerRestarted) => {}    // the server died: retry or give up
//!     Err(RequestError::ServerStopped) => {}      // left stopped: an operator must restart it
//!     _ => {}
//! }
//! ```
//!
//! # The server task
//!
//! `test/ping/server/Cargo.toml`: the generated request structs derive
//! zerocopy's traits (and hubpack's, for `encoding: Hubpack` ops), so the
//! server depends on those crates itself, not only through the api crate
//! (without `zerocopy` the build stops at "cannot find `zerocopy` in the
//! crate root" in `ping_server.rs`):
//!
//! ```toml
//! [dependencies]
//! userlib.workspace = true
//! idol-runtime = { path = "../../../sys/idol-runtime", features = ["userlib"] }
//! ping-api = { path = "../api" }
//! zerocopy.workspace = true
//! # only if an op uses `encoding: Hubpack`:
//! serde = { version = "1", default-features = false, features = ["derive"] }
//! hubpack = "0.1.2"
//!
//! [build-dependencies]
//! idol = { path = "../../../build/idol" }
//! ```
//!
//! Its `build.rs` calls [`generate_server`] (writes `ping_server.rs`); the
//! generated code names the IDL's error enums and named types unqualified,
//! so bring them into scope from the api crate before including it, and
//! with them the runtime's types the trait's methods are written in
//! (`Served<T, E>` is `Result<T, ServerError<E>>`, `E` defaulting to
//! `Infallible`):
//!
//! ```ignore
//! use idol_runtime::{Leased, Read, Served, TaskId, Write};
//! use ping_api::{PingError, PingStatus};
//! include!(concat!(env!("OUT_DIR"), "/ping_server.rs"));
//!
//! struct Server { /* the task's state */ }
//!
//! impl idol_runtime::NotificationHandler for Server {
//!     fn notification_mask(&self) -> u32 { IRQ_BIT }          // default: none
//!     fn handle_notification(&mut self, bits: u32) { /* interrupts, timers */ }
//! }
//!
//! impl PingServer for Server {
//!     fn add(&mut self, caller: TaskId, a: u32, b: u32) -> Served<u32> {
//!         Ok(a.wrapping_add(b))
//!     }
//!     fn sum(&mut self, caller: TaskId, data: Leased<'_, Read, u8>) -> Served<u32> {
//!         let mut chunk = [0u8; 64];
//!         // read_range(offset, &mut chunk[..n])? — bounds-checked, `?` faults the client
//!         # Ok(0)
//!     }
//!     // ... one method per op
//! }
//!
//! #[export_name = "main"]
//! fn main() -> ! {
//!     let mut server = Server { /* ... */ };
//!     let mut buffer = [0u8; PING_BUFFER_SIZE];
//!     // Each answer goes out with the next receive: one kernel entry a
//!     // request (idl/README.md, "A server's loop").
//!     let ipc = idol_runtime::HeldReply::new(idol_runtime::UserlibIpc);
//!     loop {
//!         ping_serve_once(&mut server, &ipc, &mut buffer);
//!     }
//! }
//! ```
//!
//! `ping_serve_once` is `recv` with the server's notification mask followed by
//! `ping_dispatch(server, ipc, buffer, msg)` or `handle_notification(bits)`;
//! call `ping_dispatch` directly to run your own loop. Include the client and
//! the server file in different modules if one crate needs both (each has its
//! own private request structs).
//!
//! # What is generated, per interface `Name`
//!
//! * client file: each error enum (`#[repr(u32)]`, explicit codes,
//!   `idol_runtime::ErrorCode`), `NameOp` (operation numbers, from 1 in file
//!   order), `NameClient<I: Ipc>` with `new(ipc, task_id)`, `task_id()` and one
//!   method per op: arguments by value, read leases as `&[T]`, write leases
//!   as `&mut [T]`, returning `Result<T, idol_runtime::CallError>` or, for
//!   a `Result` reply, `Result<T, RequestError<E>>`.
//! * server file: `trait NameServer: NotificationHandler` with one method per
//!   op (`caller`, arguments, `Leased<'_, Read|Write|ReadWrite, T>` leases,
//!   returning `Result<T, ServerError<E>>`), `NAME_BUFFER_SIZE`,
//!   `name_dispatch` and `name_serve_once`.
//!
//! # Deferred replies
//!
//! An op marked `deferred: true` lets the server answer after its method
//! returned, so one server keeps several callers waiting at once (a device
//! driver with requests in flight): its method returns
//! `Result<idol_runtime::Deferred<T>, ServerError<E>>` — `Deferred::Now(v)`
//! or `Err` are answered by dispatch as usual, `Deferred::Later` is not —
//! and the server file gets `name_reply_<op>(ipc, caller, result)` to answer
//! the call later, exactly once. The method keeps `caller` and turns each
//! lease into an `idol_runtime::Detached` with `Leased::detach`, to
//! `attach` it again when it completes. Dispatch checks a deferred request
//! exactly like any other before calling the method; the client side does
//! not change at all (its call simply blocks until the reply comes).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod check;
mod client;
mod error;
pub mod model;
mod server;
mod syntax;
pub mod types;
mod wire;

pub use error::Error;
pub use model::Interface;

use std::path::{Path, PathBuf};

/// Parses and checks IDL text; `file` is how errors name it.
pub fn parse_str(file: &str, text: &str) -> Result<Interface, Error> {
    check::check(file, text)
}

/// Reads, parses and checks an IDL file.
pub fn parse_file(path: impl AsRef<Path>) -> Result<Interface, Error> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error {
        file: file.clone(),
        position: None,
        context: None,
        message: format!("cannot read: {e}"),
    })?;
    parse_str(&file, &text)
}

/// The client code of a checked interface; `source` names the IDL file in
/// the generated header.
pub fn client_code(iface: &Interface, source: &str) -> String {
    client::generate(iface, source)
}

/// The server code of a checked interface.
pub fn server_code(iface: &Interface, source: &str) -> String {
    server::generate(iface, source)
}

fn generate(
    idl: &Path,
    out_dir: &Path,
    suffix: &str,
    code: fn(&Interface, &str) -> String,
) -> Result<PathBuf, Error> {
    // Cargo reruns the build script when the IDL file changes.
    println!("cargo:rerun-if-changed={}", idl.display());
    let iface = parse_file(idl)?;
    let out = out_dir.join(format!("{}_{suffix}.rs", wire::snake(&iface.name)));
    let file = idl.display().to_string();
    let name = idl
        .file_name()
        .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
    std::fs::write(&out, code(&iface, &name)).map_err(|e| Error {
        file,
        position: None,
        context: None,
        message: format!("cannot write {}: {e}", out.display()),
    })?;
    Ok(out)
}

/// Generates the client file of the interface in `idl` into `out_dir`
/// (`<snake_name>_client.rs`, returned) — call from an api crate's
/// `build.rs`.
pub fn generate_client(idl: impl AsRef<Path>, out_dir: impl AsRef<Path>) -> Result<PathBuf, Error> {
    generate(idl.as_ref(), out_dir.as_ref(), "client", client_code)
}

/// Generates the server file of the interface in `idl` into `out_dir`
/// (`<snake_name>_server.rs`, returned) — call from a server task's
/// `build.rs`.
pub fn generate_server(idl: impl AsRef<Path>, out_dir: impl AsRef<Path>) -> Result<PathBuf, Error> {
    generate(idl.as_ref(), out_dir.as_ref(), "server", server_code)
}
