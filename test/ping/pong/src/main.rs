//! Raw echo server: replies to every message with its own payload. It must
//! never trust the message length: at most its buffer is echoed.
//!
//! It answers with `sys_reply_recv` (reply and wait in one trap), the way
//! a raw server loop should. It stays raw on purpose, the one server that
//! does not use an interface
//! generated from `idl/`: the kernel benchmark's `ipc_null_round_trip` and
//! `raw_send_8b_4k_lease` figures are the baselines the generated ops are
//! measured against, so they must cost the kernel's IPC path and nothing
//! else (no decoding, no dispatch checks). The generated-interface
//! counterpart is `ping-server`, called through the generated `PingClient`.

#![no_std]
#![no_main]

use userlib::{sys_recv, sys_reply_recv};

#[export_name = "main"]
fn main() -> ! {
    // Two buffers in turn: the reply is sent from the one the request
    // arrived in while the next request lands in the other, so nothing is
    // copied in this task.
    let mut bufs = [[0u8; 64]; 2];
    let mut msg = sys_recv(&mut bufs[0], 0, None);
    let mut cur = 0;
    loop {
        let (first, second) = bufs.split_at_mut(1);
        let (request, next) = if cur == 0 {
            (&first[0], &mut second[0])
        } else {
            (&second[0], &mut first[0])
        };
        let n = msg
            .message_len
            .min(request.len())
            .min(msg.response_capacity);
        // Reply and wait for the next call in one trap, as a server should.
        msg = sys_reply_recv(msg.sender, 0, &request[..n], next, 0);
        cur ^= 1;
    }
}
