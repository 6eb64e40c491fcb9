//! Echo server of the default image: replies to every message with its own
//! payload. It must never trust the message length: at most its buffer is
//! echoed.

#![no_std]
#![no_main]

use userlib::{sys_recv, sys_reply};

#[export_name = "main"]
fn main() -> ! {
    let mut buf = [0u8; 64];
    loop {
        let msg = sys_recv(&mut buf, 0, None);
        let n = msg.message_len.min(buf.len()).min(msg.response_capacity);
        sys_reply(msg.sender, 0, &buf[..n]);
    }
}
