//! The honest client of `test/hostile.toml`: it calls the untrusted raw
//! server `hostile`, which answers each call in the wrong way its
//! operation names, and checks what the threat model promises: the
//! client comes through every misdeed with an answer or an error code,
//! never a fault; nothing of its memory outside what it lent changes (a
//! canary around lease 0, a read-only lease 1); a server that breaks the
//! kernel's rules is faulted and restarted, and the client hears DEAD;
//! and the server still serves afterwards. Reported as `[test] case`
//! lines.

#![no_std]
#![no_main]

use abi::{
    dead_generation, rejected_code, ReplyFaultReason, TaskId, BORROW_NOT_LENT,
    BORROW_NO_SUCH_LEASE, BORROW_OUT_OF_RANGE, BORROW_WRONG_ATTRIBUTES, LEASE_READ, LEASE_WRITE,
};
use test_harness::{check, Case, CaseResult};
use userlib::{lease_read, lease_write, lease_write_only, sys_refresh_task_id, sys_send, tasks};

const CANARY: u8 = 0xC3;
const FILL: u8 = 0x11;
const READ_ONLY: [u8; 8] = [7; 8];

/// The client's memory: lease 0 is `mem[16..32]`, between canaries.
struct Client {
    server: TaskId,
    mem: [u8; 48],
    read_only: [u8; 8],
}

impl Client {
    /// Calls operation `op`, lending lease 0 read-write (or write-only)
    /// and lease 1 read-only; the reply lands in `reply`. Learns the
    /// server's new generation from a DEAD code.
    fn call(&mut self, op: u16, reply: &mut [u8], write_only: bool) -> (u32, usize) {
        self.mem = [CANARY; 48];
        self.mem[16..32].fill(FILL);
        let lease = &mut self.mem[16..32];
        let leases = [
            if write_only {
                lease_write_only(lease)
            } else {
                lease_write(lease)
            },
            lease_read(&self.read_only),
        ];
        let r = sys_send(self.server, op, &[], reply, &leases);
        if dead_generation(r.0).is_some() {
            self.server = sys_refresh_task_id(self.server);
        }
        r
    }

    /// Whether the canaries around lease 0 and the read-only lease are
    /// as they were.
    fn intact(&self) -> bool {
        self.mem[..16].iter().all(|&b| b == CANARY)
            && self.mem[32..].iter().all(|&b| b == CANARY)
            && self.read_only == READ_ONLY
    }

    /// Whether lease 0 holds `b` throughout.
    fn lease_holds(&self, b: u8) -> bool {
        self.mem[16..32].iter().all(|&x| x == b)
    }
}

/// Word `i` of a reply, little-endian.
fn word(b: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[4 * i..4 * i + 4]);
    u32::from_le_bytes(w)
}

fn a_kernel_range_code_faults_the_server(c: &mut Client) -> CaseResult {
    let before = c.server;
    let mut r = [0u8; 16];
    let (code, n) = c.call(1, &mut r, false);
    check!(
        dead_generation(code).is_some() && c.server != before,
        "code {code:#x}, {n} bytes: wanted DEAD and a new generation"
    );
    check!(
        c.intact() && c.lease_holds(FILL),
        "the client's memory changed"
    );
    Ok(())
}

fn a_reply_too_long_faults_the_server(c: &mut Client) -> CaseResult {
    let mut r = [0x44u8; 8];
    let (code, n) = c.call(2, &mut r[..4], false);
    check!(
        dead_generation(code).is_some(),
        "code {code:#x}, {n} bytes: wanted DEAD"
    );
    check!(
        r == [0x44; 8],
        "the reply buffer or what follows it changed: {r:x?}"
    );
    check!(c.intact(), "the client's memory changed");
    Ok(())
}

fn only_the_first_of_three_replies_lands(c: &mut Client) -> CaseResult {
    let mut r = [0u8; 16];
    let (code, n) = c.call(3, &mut r, false);
    check!(
        code == 3 && &r[..n] == b"first",
        "code {code:#x}, {:?}",
        &r[..n]
    );
    // The next call gets its own answer, not a leftover.
    let (code, n) = c.call(99, &mut r, false);
    check!(
        code == 0 && n == 0,
        "the next call got code {code:#x}, {n} bytes"
    );
    Ok(())
}

fn replies_to_other_tasks_are_dropped(c: &mut Client) -> CaseResult {
    let mut r = [0u8; 16];
    let (code, n) = c.call(4, &mut r, false);
    check!(
        code == 4 && &r[..n] == b"real",
        "code {code:#x}, {:?}",
        &r[..n]
    );
    check!(c.intact(), "the client's memory changed");
    Ok(())
}

fn borrows_outside_the_lease_are_refused(c: &mut Client) -> CaseResult {
    let mut r = [0u8; 64];
    let (code, n) = c.call(5, &mut r, false);
    check!(code == 5 && n == 52, "code {code:#x}, {n} bytes");
    let want = [
        (BORROW_OUT_OF_RANGE, "one byte at its end"),
        (BORROW_OUT_OF_RANGE, "16 bytes from offset 8"),
        (BORROW_OUT_OF_RANGE, "at offset usize::MAX"),
        (BORROW_OUT_OF_RANGE, "32 bytes wrapping from 0xFFFF_FFF0"),
        (BORROW_OUT_OF_RANGE, "64 bytes into 16"),
        (BORROW_WRONG_ATTRIBUTES, "a write into the read-only lease"),
        (BORROW_NO_SUCH_LEASE, "lease 8"),
        (BORROW_NO_SUCH_LEASE, "lease usize::MAX"),
        (BORROW_NOT_LENT, "as the client's next generation"),
        (BORROW_NOT_LENT, "as the kernel"),
        (16, "the whole lease, as lent"),
        (16, "borrow_info's length"),
        (BORROW_NO_SUCH_LEASE, "borrow_info of lease 9"),
    ];
    for (i, (expected, what)) in want.iter().enumerate() {
        let got = word(&r, i);
        check!(got == *expected, "{what}: {got:#x}, wanted {expected:#x}");
    }
    check!(c.intact(), "memory outside the lease changed: {:x?}", c.mem);
    check!(
        c.lease_holds(0x5A),
        "the lease does not hold what was written"
    );
    Ok(())
}

fn borrows_the_wrong_way_are_refused(c: &mut Client) -> CaseResult {
    let mut r = [0u8; 16];
    let (code, n) = c.call(6, &mut r, true);
    check!(code == 6 && n == 16, "code {code:#x}, {n} bytes");
    let w: [u32; 4] = core::array::from_fn(|i| word(&r, i));
    check!(
        w[0] == BORROW_WRONG_ATTRIBUTES,
        "a read of the write-only lease: {:#x}",
        w[0]
    );
    check!(
        w[1] == BORROW_WRONG_ATTRIBUTES,
        "a write of the read-only lease: {:#x}",
        w[1]
    );
    check!(
        w[2] & LEASE_WRITE != 0 && w[2] & LEASE_READ == 0,
        "the write-only lease described as {:#x}",
        w[2]
    );
    check!(w[3] == 8, "the read-only lease read as lent: {:#x}", w[3]);
    check!(
        c.intact() && c.lease_holds(FILL),
        "the client's memory changed"
    );
    Ok(())
}

fn an_untrusted_verdict_is_a_code_not_a_fault(c: &mut Client) -> CaseResult {
    let mut r = [0u8; 16];
    let (code, n) = c.call(7, &mut r, false);
    check!(
        code == rejected_code(ReplyFaultReason::BadMessageContents),
        "code {code:#x}, {n} bytes"
    );
    check!(c.intact(), "the client's memory changed");
    Ok(())
}

fn a_held_call_keeps_its_leases_until_answered(c: &mut Client) -> CaseResult {
    let mut r = [0u8; 16];
    let (code, n) = c.call(8, &mut r, false);
    check!(code == 8 && n == 16, "code {code:#x}, {n} bytes");
    for i in 0..4 {
        check!(
            word(&r, i) == 16,
            "borrow_info at {} ms: {:#x}",
            250 * (i + 1),
            word(&r, i)
        );
    }
    check!(
        c.intact() && c.lease_holds(FILL),
        "the client's memory changed"
    );
    Ok(())
}

fn a_borrow_after_the_reply_is_refused(c: &mut Client) -> CaseResult {
    let mut r = [0u8; 16];
    let (code, _) = c.call(9, &mut r, false);
    check!(code == 9, "code {code:#x}");
    // The server is more important: its late write has been tried by now.
    check!(
        c.intact() && c.lease_holds(FILL),
        "memory changed after the reply: {:x?}",
        c.mem
    );
    Ok(())
}

fn the_server_still_serves(c: &mut Client) -> CaseResult {
    let mut r = [0u8; 16];
    let (code, n) = c.call(99, &mut r, false);
    check!(code == 0 && n == 0, "code {code:#x}, {n} bytes");
    Ok(())
}

#[export_name = "main"]
fn main() -> ! {
    let mut c = Client {
        server: tasks::HOSTILE,
        mem: [CANARY; 48],
        read_only: READ_ONLY,
    };
    let cases: &[Case<Client>] = &[
        (
            "a_kernel_range_code_faults_the_server",
            a_kernel_range_code_faults_the_server,
        ),
        (
            "a_reply_too_long_faults_the_server",
            a_reply_too_long_faults_the_server,
        ),
        (
            "only_the_first_of_three_replies_lands",
            only_the_first_of_three_replies_lands,
        ),
        (
            "replies_to_other_tasks_are_dropped",
            replies_to_other_tasks_are_dropped,
        ),
        (
            "borrows_outside_the_lease_are_refused",
            borrows_outside_the_lease_are_refused,
        ),
        (
            "borrows_the_wrong_way_are_refused",
            borrows_the_wrong_way_are_refused,
        ),
        (
            "an_untrusted_verdict_is_a_code_not_a_fault",
            an_untrusted_verdict_is_a_code_not_a_fault,
        ),
        (
            "a_held_call_keeps_its_leases_until_answered",
            a_held_call_keeps_its_leases_until_answered,
        ),
        (
            "a_borrow_after_the_reply_is_refused",
            a_borrow_after_the_reply_is_refused,
        ),
        ("the_server_still_serves", the_server_still_serves),
    ];
    test_harness::run_suite(&mut c, cases)
}
