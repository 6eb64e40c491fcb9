//! An untrusted raw server for `test/hostile.toml`: it answers each call
//! of its client (the suite) in the wrong way the operation names, as a
//! compromised server would, so that the suite can check it comes through
//! every one with its memory intact and the kernel unhurt. The client
//! lends each call two leases: lease 0, 16 bytes (read-write, or
//! write-only for operation 6), and lease 1, 8 bytes, read-only.
//!
//! It must never be part of a real image: it exists to misbehave.

#![no_std]
#![no_main]

use abi::{LeaseAt, ReplyFaultReason, TaskId, KERNEL_CODE_BASE, TICKS_PER_MS};
use userlib::{
    sys_borrow_info, sys_borrow_read, sys_borrow_write, sys_get_timer, sys_log, sys_recv,
    sys_recv_notification, sys_reply, sys_reply_fault, sys_set_timer,
};

const TIMER_BIT: u32 = 1 << 0;

/// A borrow's outcome as one word: the bytes moved, or the kernel's code.
fn outcome(r: Result<usize, u32>) -> u32 {
    r.map_or_else(|code| code, |n| n as u32)
}

/// Replies to `client` with `code` and `words`, little-endian.
fn reply_words(client: TaskId, code: u32, words: &[u32]) {
    let mut out = [0u8; 64];
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    sys_reply(client, code, &out[..4 * words.len().min(16)]);
}

#[export_name = "main"]
fn main() -> ! {
    let mut buf = [0u8; 16];
    loop {
        let m = sys_recv(&mut buf, 0, None);
        if m.sender == TaskId::KERNEL {
            continue;
        }
        let c = m.sender;
        let at = |index, offset| LeaseAt {
            lender: c,
            index,
            offset,
        };
        let stale = TaskId::new(c.index() as u16, c.generation().next());
        match m.operation {
            // A code the kernel keeps for itself: the kernel faults us at
            // the first, so the rest never run.
            1 => {
                sys_reply(c, KERNEL_CODE_BASE, &[]);
                sys_reply(c, u32::MAX, &[]);
                sys_log!("hostile: a kernel-range code was let through");
                sys_reply(c, 1, &[]);
            }
            // More than the client's 4-byte reply buffer: faulted too.
            2 => {
                sys_reply(c, 2, &[0xEE; 64]);
                sys_log!("hostile: a reply too long was let through");
                sys_reply(c, 2, &[]);
            }
            // Three replies to one call: only the first may land.
            3 => {
                sys_reply(c, 3, b"first");
                sys_reply(c, 0xBAD, b"second");
                sys_reply(c, 0xBAD, b"third");
            }
            // Replies to everyone but the caller, then the real one.
            4 => {
                let g = c.generation();
                for wrong in [
                    stale,
                    TaskId::new(c.index() as u16 + 1, g),
                    TaskId::new(0, g),
                    TaskId::KERNEL,
                    TaskId(0x3FE),
                    TaskId(0xFFFF),
                    TaskId(u32::MAX),
                ] {
                    sys_reply(wrong, 0xBAD, b"wrong");
                }
                sys_reply(c, 4, b"real");
            }
            // Writes past lease 0, into lease 1 (read-only), into leases
            // that do not exist, as a task that is not the lender; then
            // the one write that is right: 0x5A over lease 0.
            5 => {
                let d = [0x5Au8; 64];
                let r = [
                    outcome(sys_borrow_write(at(0, 16), &d[..1])),
                    outcome(sys_borrow_write(at(0, 8), &d[..16])),
                    outcome(sys_borrow_write(at(0, usize::MAX), &d[..2])),
                    outcome(sys_borrow_write(at(0, 0xFFFF_FFF0), &d[..32])),
                    outcome(sys_borrow_write(at(0, 0), &d[..64])),
                    outcome(sys_borrow_write(at(1, 0), &d[..1])),
                    outcome(sys_borrow_write(at(8, 0), &d[..1])),
                    outcome(sys_borrow_write(at(usize::MAX, 0), &d[..1])),
                    outcome(sys_borrow_write(
                        LeaseAt {
                            lender: stale,
                            index: 0,
                            offset: 0,
                        },
                        &d[..1],
                    )),
                    outcome(sys_borrow_write(
                        LeaseAt {
                            lender: TaskId::KERNEL,
                            index: 0,
                            offset: 0,
                        },
                        &d[..1],
                    )),
                    outcome(sys_borrow_write(at(0, 0), &d[..16])),
                    sys_borrow_info(c, 0).map_or_else(|e| e, |i| i.len as u32),
                    sys_borrow_info(c, 9).map_or_else(|e| e, |i| i.len as u32),
                ];
                reply_words(c, 5, &r);
            }
            // Lease 0 lent write-only, lease 1 read-only: each borrowed
            // the other way, then lease 1 read as lent.
            6 => {
                let mut d = [0u8; 16];
                let r = [
                    outcome(sys_borrow_read(at(0, 0), &mut d)),
                    outcome(sys_borrow_write(at(1, 0), &[0x77; 4])),
                    sys_borrow_info(c, 0).map_or_else(|e| e, |i| i.attributes),
                    outcome(sys_borrow_read(at(1, 0), &mut d[..8])),
                ];
                reply_words(c, 6, &r);
            }
            // An untrusted server's verdict reaches the client as a code.
            7 => sys_reply_fault(c, ReplyFaultReason::BadMessageContents),
            // Holds the call for a second, borrowing meanwhile, then
            // answers late: [borrow_info's length each 250 ms].
            8 => {
                let t0 = sys_get_timer().now;
                let mut r = [0u32; 4];
                for (i, seen) in r.iter_mut().enumerate() {
                    sys_set_timer(Some(t0 + (i as u64 + 1) * 250 * TICKS_PER_MS), TIMER_BIT);
                    sys_recv_notification(TIMER_BIT);
                    *seen = sys_borrow_info(c, 0).map_or_else(|e| e, |i| i.len as u32);
                }
                reply_words(c, 8, &r);
            }
            // Answers, then writes the lease it no longer has.
            9 => {
                sys_reply(c, 9, &[]);
                let r = sys_borrow_write(at(0, 0), &[0x66; 4]);
                sys_log!("hostile: borrow_write after the reply: {r:?}");
            }
            _ => sys_reply(c, 0, &[]),
        }
    }
}
