//! The socket hog (`test/net-hog.toml`): a client of the net stack that
//! app.toml grants TCP port 9. It listens there with the largest backlog,
//! accepts every connection and closes none, and asks again at once (each
//! accept refills its pool from the free sockets): with a peer outside
//! opening connections, it takes every TCP socket the stack lets it have.
//! The `socket-hog` check opens them, and needs the echo and the page
//! served all the same.
//!
//! It must never close a socket or stop asking: it is the attacker.

#![no_std]
#![no_main]

use idol_runtime::{RequestError, UserlibIpc};
use net_api::{NetClient, NetError};
use userlib::{sleep_ms, sys_log, tasks};

/// Notification bit of the hog's timer (app.toml `notifications`).
const TIMER_BIT: u32 = 1 << 0;
/// The port app.toml grants the hog.
const PORT: u16 = 9;
/// The stack's largest backlog.
const BACKLOG: u32 = 8;

/// Listens on [`PORT`], retrying until the stack answers.
fn listen(net: &NetClient<UserlibIpc>) -> u32 {
    loop {
        match net.tcp_listen(PORT, BACKLOG) {
            Ok(l) => {
                sys_log!("hog: listening on TCP port {}", PORT);
                return l;
            }
            Err(_) => sleep_ms(10, TIMER_BIT),
        }
    }
}

#[export_name = "main"]
fn main() -> ! {
    let net = NetClient::new(UserlibIpc, tasks::NET);
    let mut listener = listen(&net);
    let mut held = 0u32;
    loop {
        match net.tcp_accept(listener) {
            Ok(_) => {
                held += 1;
                sys_log!("hog: holding {} connection(s)", held);
            }
            Err(RequestError::Server(NetError::WouldBlock | NetError::NoSockets)) => {
                sleep_ms(1, TIMER_BIT)
            }
            // The stack restarted: its sockets are gone, and so are ours.
            Err(_) => {
                held = 0;
                listener = listen(&net);
            }
        }
    }
}
