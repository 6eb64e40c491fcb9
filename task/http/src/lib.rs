//! The HTTP server's logic, apart from the syscalls so that host tests run
//! it: the connection slots and when one is taken back ([`conn`]),
//! reading a request head ([`request`]), the head of every answer
//! ([`response`]), the status snapshot and how it
//! is shown as a page and as JSON ([`status`]), and the bounded buffer
//! responses are written into ([`out`]).
//!
//! What it must never do: trust a request. Every length is bounded, every
//! byte of a name that reaches the page is escaped, and a request it does
//! not understand is answered with an error status, never a panic.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod conn;
pub mod out;
pub mod request;
pub mod response;
pub mod status;
