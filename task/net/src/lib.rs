//! The net task's bookkeeping, apart from smoltcp and the syscalls so that
//! host tests run it: socket ids and who owns them ([`table`]), where a
//! closed connection stands ([`close`]), the
//! task's settings from app.toml ([`settings`]), the NIC driver's
//! incarnations it met and subscribed to ([`incarnation`]), the ports app.toml grants
//! to each task ([`ports`]), the shares of the TCP sockets between the
//! tasks that may hold them ([`share`]), and the guard that keeps a
//! connection's repeated SYN from the listening sockets ([`syn`]), a TCP
//! socket's reads and writes through a client's lease ([`stream`]), a UDP
//! socket's datagrams through one ([`datagram`]), and
//! the watch that drops a UDP transmit queue stuck behind a neighbour that
//! never answers ([`txwatch`]), received IPv4 fragments put back together
//! ([`reassembly`]), and the order of a datagram's outgoing fragments
//! ([`fragmenter`]).
//!
//! It must never hand one task's socket to another, never let a task bind
//! a port app.toml did not grant it, never let one task's sockets keep
//! another from its share, and never accept an id minted by an earlier
//! incarnation of the stack.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod close;
pub mod datagram;
pub mod fragmenter;
pub mod incarnation;
#[cfg(test)]
mod loopback;
pub mod ports;
pub mod reassembly;
pub mod settings;
pub mod share;
pub mod stream;
pub mod syn;
pub mod table;
pub mod txwatch;
