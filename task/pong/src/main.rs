//! Raw echo server: replies to every message with its own payload. It must
//! never trust the message length: at most its buffer is echoed.
//!
//! It stays raw on purpose, the one server that does not use an interface
//! generated from `idl/`: the kernel benchmark's `ipc_null_round_trip` and
//! `raw_send_8b_4k_lease` figures are the baselines the generated ops are
//! measured against, so they must cost the kernel's IPC path and nothing
//! else (no decoding, no dispatch checks); and the kernel test image uses it
//! as the `unslotted` target, where only the kernel's refusal matters. The
//! default image's demo is `task-ping` calling `task-ping-server` through
//! the generated `PingClient`.

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
