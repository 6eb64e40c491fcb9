//! The least-authority suite (`test/authority.toml`). For each hole of
//! issue 10 it has the attack driver (`authority-test-attacker`, a compromised
//! entropy driver) try the attack, then checks two things: the attack was
//! refused with evidence (the exact error or refusal code of every step),
//! and the victim — the disk driver `blk0` — still serves: its slot is
//! still bound to it, its generation did not move (it was not faulted or
//! restarted), and a sector written through it reads back.
//!
//! The suite is an operator (app.toml `operator = true`): it reads task
//! status, restarts blk0 for the stale-id case and binds the attacker's
//! slot back. The attacker is not.

#![no_std]
#![no_main]
#![allow(clippy::result_large_err)]

use abi::{dead_generation, REFUSED_POST_BITS, REFUSED_POST_TARGET};
use block_api::BlockClient;
use idol_runtime::{ErrorCode, UserlibIpc};
use supervisor_api::{SupervisorClient, SupervisorError};
use test_harness::{check, fail, Case, CaseResult};
use userlib::{sys_get_timer, sys_refresh_task_id, sys_send, tasks};
use virtio_bus_api::{BusError, SlotState, VirtioBusClient};
use zerocopy::FromBytes;

const BLOCK: u32 = 2;
/// Restarts of blk0 in the stale-id case: more than 64, and a multiple of
/// 64, so a 6-bit generation would be back where the stale id was.
const RESTARTS: u32 = 128;

struct Suite {
    sup: SupervisorClient<UserlibIpc>,
    bus: VirtioBusClient<UserlibIpc>,
    /// blk0's generation as the suite last saw it legitimately change.
    blk0_generation: u32,
    /// A different sector and pattern per check.
    round: u8,
}

/// Has the attacker run attack `n`; the outcome of each of its steps.
fn attack(n: u16) -> Result<[u32; 8], test_harness::LineBuf> {
    let mut reply = [0u8; 32];
    let attacker = sys_refresh_task_id(tasks::ATTACKER);
    let (code, len) = sys_send(attacker, n, &[], &mut reply, &[]);
    check!(
        code == 0 && len == 32,
        "attack {n}: attacker answered {code:#x}, {len} bytes"
    );
    match <[u32; 8]>::read_from_bytes(&reply) {
        Ok(r) => Ok(r),
        Err(_) => fail!("attack {n}: unreadable reply"),
    }
}

impl Suite {
    /// The victim still serves: blk0 bound to the block device's slot, on
    /// the generation we expect, and a sector written reads back.
    fn victim_serves(&mut self) -> CaseResult {
        let blk0 = sys_refresh_task_id(tasks::BLK0);
        // A blk0 just restarted registers again when it next runs, which
        // its CPU share may put off to the end of the period (its last
        // registration's time was charged to it): ask again for up to a
        // second.
        let until = sys_get_timer().now + 1000 * abi::TICKS_PER_MS;
        let e = loop {
            let table = match self.bus.devices() {
                Ok(t) => t,
                Err(e) => fail!("devices: {e:?}"),
            };
            let Some(e) = table.slots.iter().find(|e| e.device_id == BLOCK).copied() else {
                fail!("no block device in the device table");
            };
            let bound =
                SlotState::from_u32(e.state) == SlotState::Bound && e.driver == blk0.index() as u32;
            if bound || sys_get_timer().now >= until {
                break e;
            }
        };
        check!(
            SlotState::from_u32(e.state) == SlotState::Bound && e.driver == blk0.index() as u32,
            "the disk's slot is {} with driver {} (blk0 is task {})",
            SlotState::from_u32(e.state).describe(),
            e.driver,
            blk0.index()
        );
        let st = match self.sup.task_status(blk0.index() as u32) {
            Ok(s) => s,
            Err(e) => fail!("task_status(blk0): {e:?}"),
        };
        check!(
            st.generation == self.blk0_generation && st.fault_count == 0,
            "blk0 is on generation {} with {} faults, expected generation {} and none",
            st.generation,
            st.fault_count,
            self.blk0_generation
        );
        self.round = self.round.wrapping_add(1);
        let sector = 16 + self.round as u64;
        let pattern = [self.round ^ 0x5A; 512];
        let blk = BlockClient::new(UserlibIpc, blk0);
        if let Err(e) = blk.write(sector, &pattern) {
            fail!("blk0 write of sector {sector}: {e:?}");
        }
        let mut back = [0u8; 512];
        if let Err(e) = blk.read(sector, &mut back) {
            fail!("blk0 read of sector {sector}: {e:?}");
        }
        check!(back == pattern, "sector {sector} read back differently");
        Ok(())
    }
}

/// Fails at the first attempt that did not get its code: `want[i]` names
/// attempt `i` of an attack and the code the kernel or the supervisor must
/// have answered it with.
fn expect_codes(r: &[u32], want: &[(&str, u32)]) -> CaseResult {
    for (i, &(what, code)) in want.iter().enumerate() {
        let Some(&got) = r.get(i) else {
            fail!("{what}: the attack reported only {} answers", r.len());
        };
        check!(got == code, "{what} gave {got:#x}, expected {code:#x}");
    }
    Ok(())
}

/// Hole 1: a compromised entropy driver releases its own slot, asks for a
/// fault of blk0, and registers for block devices.
fn driver_cannot_take_the_disk(s: &mut Suite) -> CaseResult {
    s.victim_serves()?;
    let np = BusError::NotPermitted.code();
    expect_codes(
        &attack(1)?,
        &[
            ("unbinding its own slot", 0),
            ("removed() for its own slot", 0),
            ("fault_task(blk0)", SupervisorError::NotOperator.code()),
            ("register(block)", np),
            ("register(entropy, block)", np),
        ],
    )?;
    s.victim_serves()?;
    // Give the attacker its own device back (operator op).
    let table = match s.bus.devices() {
        Ok(t) => t,
        Err(e) => fail!("devices: {e:?}"),
    };
    let Some(slot) = table
        .slots
        .iter()
        .position(|e| SlotState::from_u32(e.state) == SlotState::Unbound)
    else {
        fail!("the attacker's slot is not unbound after its unbind");
    };
    check!(s.bus.bind(slot as u32).is_ok(), "bind({slot}) failed");
    Ok(())
}

/// Hole 2: operator ops from a driver.
fn operator_ops_are_refused_to_a_driver(s: &mut Suite) -> CaseResult {
    let np = BusError::NotPermitted.code();
    let no = SupervisorError::NotOperator.code();
    let nob = SupervisorError::NotObserver.code();
    expect_codes(
        &attack(2)?,
        &[
            ("unbind(blk0's slot)", np),
            ("bind(blk0's slot)", np),
            ("fault_task(blk0) x10", no),
            ("restart_task(blk0)", no),
            ("task_status(blk0)", nob),
            ("inject(blk0)", no),
            ("shutdown", no),
            ("restart_record(0)", nob),
        ],
    )?;
    s.victim_serves()
}

/// Hole 3: spoofed notifications.
fn spoofed_notifications_are_refused(s: &mut Suite) -> CaseResult {
    expect_codes(
        &attack(3)?,
        &[
            ("post(blk0, remove bit)", REFUSED_POST_BITS),
            ("post(blk0, irq bit)", REFUSED_POST_BITS),
            ("post(supervisor, fault bit)", REFUSED_POST_BITS),
            ("post(suite)", REFUSED_POST_TARGET),
        ],
    )?;
    s.victim_serves()
}

/// Hole 4: an id from before many restarts.
fn stale_id_after_many_restarts_gets_dead(s: &mut Suite) -> CaseResult {
    let index = tasks::BLK0.index() as u32;
    for n in 0..RESTARTS {
        if let Err(e) = s.sup.restart_task(index) {
            fail!("restart_task(blk0) #{n}: {e:?}");
        }
    }
    s.blk0_generation += RESTARTS;
    let now = sys_refresh_task_id(tasks::BLK0).generation();
    // The attack first: what matters is that the old id does not reach
    // the new incarnation.
    let r = attack(4)?;
    check!(
        dead_generation(r[0]) == Some(now),
        "the attacker's id from boot gave {:#x} instead of DEAD (blk0 is on generation {})",
        r[0],
        now.0
    );
    check!(
        now.0 as u32 == s.blk0_generation,
        "blk0 is on generation {} after {RESTARTS} restarts, expected {}",
        now.0,
        s.blk0_generation
    );
    s.victim_serves()
}

/// A refused call that breaks the interface convicts nobody: the attacker
/// and the suite, two clients, take turns sending blk0 garbage (the old
/// rule restarted a driver that refused two different clients in a row),
/// and blk0 must refuse every call, be neither faulted nor restarted, and
/// go on serving. The kernel recorded each refusal in the sender's own
/// record.
fn garbage_from_two_clients_restarts_no_driver(s: &mut Suite) -> CaseResult {
    use abi::{rejected_code, Lease, ReplyFaultReason, LEASE_WRITE};
    s.victim_serves()?;
    let record = |s: &mut Suite, task: userlib::TaskId| match s.sup.task_status(task.index() as u32)
    {
        Ok(st) => Ok(st.rejected_call),
        Err(e) => fail!("task_status: {e:?}"),
    };
    let (attacker0, suite0) = (record(s, tasks::ATTACKER)?, record(s, tasks::SUITE)?);
    let blk0 = sys_refresh_task_id(tasks::BLK0);
    let mut data = [0u8; 512];
    let lease = Lease {
        attributes: LEASE_WRITE,
        base: data.as_mut_ptr() as u32,
        len: 512,
    };
    // The suite's own garbage: an unknown operation, `flush` with a
    // message, `read` with two leases.
    let ours: [(u16, &[u8], &[Lease], ReplyFaultReason); 3] = [
        (99, b"junk", &[], ReplyFaultReason::UndefinedOperation),
        (4, &[0; 8], &[], ReplyFaultReason::BadMessageContents),
        (2, &[0; 8], &[lease, lease], ReplyFaultReason::BadLeases),
    ];
    const ROUNDS: u32 = 3;
    for round in 0..ROUNDS {
        expect_codes(
            &attack(5)?,
            &[
                (
                    "unknown operation",
                    rejected_code(ReplyFaultReason::UndefinedOperation),
                ),
                (
                    "short read message",
                    rejected_code(ReplyFaultReason::BadMessageContents),
                ),
                (
                    "read-only read lease",
                    rejected_code(ReplyFaultReason::BadLeaseAttributes),
                ),
                (
                    "write without a lease",
                    rejected_code(ReplyFaultReason::BadLeases),
                ),
                (
                    "no room for info",
                    rejected_code(ReplyFaultReason::ReplyBufferTooSmall),
                ),
            ],
        )?;
        for &(op, message, leases, reason) in &ours {
            let (code, _) = sys_send(blk0, op, message, &mut [0u8; 64], leases);
            check!(
                code == rejected_code(reason),
                "round {round}: our op {op} gave {code:#x}, expected {reason:?}"
            );
        }
    }
    let (attacker, suite) = (record(s, tasks::ATTACKER)?, record(s, tasks::SUITE)?);
    check!(
        attacker.count.wrapping_sub(attacker0.count) == 5 * ROUNDS
            && suite.count.wrapping_sub(suite0.count) == 3 * ROUNDS,
        "refusals recorded: attacker {} -> {}, suite {} -> {}",
        attacker0.count,
        attacker.count,
        suite0.count,
        suite.count
    );
    check!(
        attacker.server == blk0.0
            && attacker.operation == 1
            && attacker.response_capacity == 0
            && suite.operation == 2
            && suite.lease_count == 2,
        "last refusals recorded as {attacker:?} and {suite:?}"
    );
    s.victim_serves()
}

/// A trace read (`abi::RINGBUF_OP`, which every task's `recv` answers by
/// itself to an operator, as the suite is) whose reply buffer has no room
/// for the answer's 4-byte length. Answered with the length, the kernel
/// faulted the server for a reply larger than its caller's buffer: blk0
/// was restarted, and the supervisor's fault rebooted the machine.
fn a_trace_read_with_no_room_for_its_answer_faults_no_server(s: &mut Suite) -> CaseResult {
    use abi::{Lease, LEASE_WRITE, RINGBUF_OP, TRACE_NO_ROOM};
    s.victim_serves()?;
    let mut text = [0u8; 64];
    let lease = [Lease {
        attributes: LEASE_WRITE,
        base: text.as_mut_ptr() as u32,
        len: text.len() as u32,
    }];
    for (name, task) in [("blk0", tasks::BLK0), ("supervisor", tasks::SUPERVISOR)] {
        for room in [0, 3] {
            let id = sys_refresh_task_id(task);
            let mut reply = [0u8; 3];
            let (code, len) = sys_send(id, RINGBUF_OP, &[], &mut reply[..room], &lease);
            check!(
                code == TRACE_NO_ROOM && len == 0,
                "{name}: a trace read with {room} bytes for the answer got {code:#x} ({len} bytes)"
            );
        }
    }
    check!(
        s.sup.task_count().is_ok(),
        "the supervisor does not answer after the trace reads"
    );
    s.victim_serves()
}

#[export_name = "main"]
fn main() -> ! {
    let mut s = Suite {
        sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
        bus: VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR),
        blk0_generation: 0,
        round: 0,
    };
    let cases: &[Case<Suite>] = &[
        ("driver_cannot_take_the_disk", driver_cannot_take_the_disk),
        (
            "operator_ops_are_refused_to_a_driver",
            operator_ops_are_refused_to_a_driver,
        ),
        (
            "spoofed_notifications_are_refused",
            spoofed_notifications_are_refused,
        ),
        (
            "stale_id_after_128_restarts_gets_dead",
            stale_id_after_many_restarts_gets_dead,
        ),
        (
            "garbage_from_two_clients_restarts_no_driver",
            garbage_from_two_clients_restarts_no_driver,
        ),
        (
            "a_trace_read_with_no_room_for_its_answer_faults_no_server",
            a_trace_read_with_no_room_for_its_answer_faults_no_server,
        ),
    ];
    test_harness::run_suite(&mut s, cases)
}
