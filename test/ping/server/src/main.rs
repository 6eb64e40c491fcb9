//! Server of the `Ping` example interface (`idl/ping.idol`): one op of every
//! kind, answered through the generated `ping_dispatch`, so that the IDL and
//! restart test images and the benchmark exercise real generated code.
//!
//! It never decodes a message itself: the generated dispatch checks every
//! request and faults a client that sends a malformed one. Its only
//! deliberate way to die is the `crash` op; nothing a client sends may make
//! it panic otherwise.

#![no_std]
#![no_main]

use idol_runtime::{Leased, Read, Served, TaskId, Write};
use ping_api::{PingError, PingStatus};

include!(concat!(env!("OUT_DIR"), "/ping_server.rs"));

/// Bytes read from a lease per `borrow_read`: a syscall per chunk, so larger
/// is faster, but the chunk lives on the stack.
const CHUNK: usize = 512;

/// The server's state: only a count, so that `status` has something to say
/// and a restart is visible (it starts again from `Idle`).
struct Server {
    requests: u32,
}

impl Server {
    /// Counts an answered op and passes its result through.
    fn served<T, E>(&mut self, result: Served<T, E>) -> Served<T, E> {
        self.requests = self.requests.wrapping_add(1);
        result
    }
}

impl idol_runtime::NotificationHandler for Server {}

impl PingServer for Server {
    fn add(&mut self, _: TaskId, a: u32, b: u32) -> Served<u32> {
        self.served(Ok(a.wrapping_add(b)))
    }

    fn sum(&mut self, _: TaskId, data: Leased<'_, Read, u8>) -> Served<u32> {
        let mut chunk = [0u8; CHUNK];
        let mut sum = 0u32;
        let mut offset = 0;
        while offset < data.len() {
            let part = &mut chunk[..(data.len() - offset).min(CHUNK)];
            data.read_range(offset, part)?;
            sum = part.iter().fold(sum, |s, &b| s.wrapping_add(b as u32));
            offset += part.len();
        }
        self.served(Ok(sum))
    }

    fn fill(&mut self, _: TaskId, byte: u8, buf: Leased<'_, Write, u8>) -> Served<u32> {
        let chunk = [byte; CHUNK];
        let mut offset = 0;
        while offset < buf.len() {
            let part = &chunk[..(buf.len() - offset).min(CHUNK)];
            buf.write_range(offset, part)?;
            offset += part.len();
        }
        // The IDL puts no max_len on `buf`, but a lease lies in the
        // client's 32-bit address space, so its length fits a u32.
        self.served(Ok(offset as u32))
    }

    fn status(&mut self, _: TaskId) -> Served<PingStatus> {
        Ok(match self.requests {
            0 => PingStatus::Idle,
            requests => PingStatus::Served { requests },
        })
    }

    fn divide(&mut self, _: TaskId, dividend: u32, divisor: u32) -> Served<u32, PingError> {
        let result = match dividend.checked_div(divisor) {
            Some(q) => Ok(q),
            None => Err(PingError::DivideByZero.into()),
        };
        self.served(result)
    }

    fn crash(&mut self, _: TaskId) -> Served<()> {
        panic!("asked to crash");
    }

    fn checksum(&mut self, _: TaskId, seed: u64, data: Leased<'_, Read, u8>) -> Served<u64> {
        let mut chunk = [0u8; CHUNK];
        let mut hash = seed;
        let mut offset = 0;
        while offset < data.len() {
            let part = &mut chunk[..(data.len() - offset).min(CHUNK)];
            data.read_range(offset, part)?;
            hash = ping_api::checksum_update(hash, part);
            offset += part.len();
        }
        self.served(Ok(hash))
    }
}

#[export_name = "main"]
fn main() -> ! {
    let mut server = Server { requests: 0 };
    let mut buffer = [0u8; PING_BUFFER_SIZE];
    // Each answer goes out with the next receive, one `reply_recv` a
    // request where `reply` and `recv` were two kernel entries.
    let ipc = idol_runtime::HeldReply::new(idol_runtime::UserlibIpc);
    loop {
        ping_serve_once(&mut server, &ipc, &mut buffer);
    }
}
