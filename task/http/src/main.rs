//! The HTTP server task: the status page on port 80 and `/api/status`.
//!
//! Each connection gets a bounded buffer for its request head; a head that
//! does not parse is answered 400, one too long 413, an unknown path 404, a
//! standard method other than GET/HEAD 405, an unknown method 501; a connection that sends nothing for
//! [`IDLE_MS`], or is still open [`LIFETIME_MS`] after it was accepted
//! (a request head trickled in a byte at a time), is closed. Every
//! response closes its connection. None of this can stop the server: a
//! client can only lose its own connection, and a slot it holds is free
//! again within [`LIFETIME_MS`].
//!
//! It reads the system's state from the supervisor (tasks and its log of
//! restarts) and the bus (devices) for every page.

#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

userlib::task_crate!(task);
