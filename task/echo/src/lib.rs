//! The echo service's logic apart from the syscalls, so that host tests
//! run it: how fast it answers datagrams ([`pace`]) and which connection
//! makes room for a waiting client ([`evict`]).
//!
//! What it must never do: let a peer decide how much of the CPU the echo
//! takes.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod evict;
pub mod pace;
