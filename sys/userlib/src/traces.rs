//! A task's trace rings, shown to a trace reader from inside the running
//! image: the shell's `ringbuf <task>` sends [`abi::RINGBUF_OP`] with a
//! writable lease, and the target's `recv` (this module) answers with
//! each ring's name and entries as text, in the layout `cargo xtask dump`
//! prints. Only operators (app.toml `operator = true`, the shell) get an
//! answer: a driver's trace names its other clients' requests.
//!
//! It must never fault the task it runs in: a bad lease only ends the
//! text early, and a refused reader, or one with no room for the answer
//! (`abi::TRACE_NO_ROOM`), gets a reply code, not a fault.

use core::fmt::{self, Write as _};

use abi::{LeaseAt, TaskId};

use crate::syscalls::{sys_borrow_info, sys_borrow_write, sys_reply, RecvMessage};

/// Copies formatted text into the caller's lease 0, a chunk at a time;
/// stops quietly at the lease's end.
struct LeaseWriter {
    to: TaskId,
    offset: usize,
    limit: usize,
    chunk: [u8; 64],
    used: usize,
}

impl LeaseWriter {
    fn flush(&mut self) -> fmt::Result {
        let n = self.used.min(self.limit.saturating_sub(self.offset));
        if n > 0
            && sys_borrow_write(
                LeaseAt {
                    lender: self.to,
                    index: 0,
                    offset: self.offset,
                },
                &self.chunk[..n],
            )
            .is_err()
        {
            self.limit = self.offset;
        } else {
            self.offset += n;
        }
        self.used = 0;
        if self.offset >= self.limit {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

impl fmt::Write for LeaseWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.used == self.chunk.len() {
                self.flush()?;
            }
            self.chunk[self.used] = b;
            self.used += 1;
        }
        Ok(())
    }
}

/// Whether task `index` may read this task's traces: operators only.
pub fn may_read(index: usize, authority: &[abi::Authority]) -> bool {
    authority.get(index).is_some_and(|a| a.operator)
}

/// Answers one [`abi::RINGBUF_OP`] message.
pub(crate) fn answer(m: &RecvMessage) {
    if !may_read(m.sender.index(), &crate::tasks::AUTHORITY) {
        sys_reply(m.sender, abi::TRACE_REFUSED, &[]);
        return;
    }
    // The answer is the text's length, 4 bytes: into a smaller reply
    // buffer the kernel would refuse it by faulting us (a supervisor's
    // fault reboots the machine), so such a reader gets a code alone.
    if m.response_capacity < ANSWER_LEN {
        sys_reply(m.sender, abi::TRACE_NO_ROOM, &[]);
        return;
    }
    let limit = match sys_borrow_info(m.sender, 0) {
        Ok(info) => info.len,
        Err(_) => 0,
    };
    let mut w = LeaseWriter {
        to: m.sender,
        offset: 0,
        limit,
        chunk: [0; 64],
        used: 0,
    };
    let rings = ringbuf::registered();
    let _ = (|| -> fmt::Result {
        if rings.is_empty() {
            writeln!(w, "(no ringbufs)")?;
        }
        for r in rings {
            writeln!(w, "{}:", r.name)?;
            r.ring.show(&mut w)?;
        }
        Ok(())
    })();
    let _ = w.flush();
    let length: [u8; ANSWER_LEN] = (w.offset as u32).to_le_bytes();
    sys_reply(m.sender, abi::SUCCESS, &length);
}

/// Bytes of a trace read's answer: the text's length, a little-endian u32.
const ANSWER_LEN: usize = 4;
