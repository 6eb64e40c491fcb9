//! The HTTP server task: the status page on port 80 and `/api/status`.
//!
//! Each connection gets a bounded buffer for its request head; a head that
//! does not parse is answered 400, one too long 431 (414 if its request
//! line is), an unknown path 404, a standard method other than GET/HEAD
//! 405, an unknown method 501. Every
//! response closes its connection. A connection is closed when it has sent
//! nothing for a while or has been open too long in all; and while another
//! connection waits for a slot, one that has read half a head for a short
//! grace (or whose answer has not moved for as long) gives its slot up
//! (`task_http::conn` has the rules and the times). None of this can stop
//! the server: a client can only lose its own connection, and clients that
//! trickle half requests (slowloris) delay a real one by about a grace each,
//! not by a whole lifetime.
//!
//! It reads the system's state from the supervisor (tasks and its log of
//! restarts) and the bus (devices) for every page.

#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(target_os = "none")]
mod task;

userlib::task_crate!();
