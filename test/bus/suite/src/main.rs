//! The virtio bus test suite (image `test/bus.toml`): checks the bus
//! supervisor against the devices QEMU was given and three fake drivers
//! (`drva`, `drvb`, `drvc`, all claiming the entropy device id, of which the
//! image has two), one of which (`drvb`) a second client (`load`) keeps
//! calling. Each case prints `[test] case <name> ... ok|FAIL`.
//!
//! The cases run in order and build on each other (enumerate, probe,
//! unbind, revoke, bind), as an operator's session would; a case whose
//! precondition fails reports a failure, never a skip.

#![no_std]
#![no_main]

use abi::{FaultKind, RestartCause, TaskId};
use idol_runtime::{RequestError, UserlibIpc};
use supervisor_api::SupervisorClient;
use test_harness::{check, Case, CaseResult, LineBuf};
use userlib::{sleep_ms, sys_get_timer, tasks};
use virtio_bus_api::{slot_base, DeviceTable, SlotState, VirtioBusClient, NO_DRIVER};

mod driver {
    include!(concat!(env!("OUT_DIR"), "/bus_test_driver_client.rs"));
}

use driver::BusTestDriverClient;

const TIMER_BIT: u32 = 1 << 0;
const ENTROPY: u32 = 4;
const BLOCK: u32 = 2;
const NONE: u32 = u32::MAX;

/// What test/bus.toml puts on QEMU's command line, by slot: the first
/// `-device` lands in the highest slot.
const EXPECTED: [u32; 8] = [0, 0, 0, 0, 0, ENTROPY, BLOCK, ENTROPY];

struct Suite {
    bus: VirtioBusClient<UserlibIpc>,
    sup: SupervisorClient<UserlibIpc>,
    drivers: [BusTestDriverClient<UserlibIpc>; 3],
    /// Index into `drivers` of the one unbound in `unbind_removes_the_driver`.
    removed: usize,
}

fn driver_name(i: usize) -> &'static str {
    ["drva", "drvb", "drvc"][i]
}

impl Suite {
    fn table(&self) -> Result<DeviceTable, LineBuf> {
        let t = self.bus.devices();
        check!(t.is_ok(), "devices() failed: {:?}", t.err());
        Ok(t.unwrap_or_default())
    }

    /// The bus table `t` says `slot` is bound to driver `i`.
    fn bound_to(&self, t: &DeviceTable, slot: usize, i: usize) -> CaseResult {
        let (driver, state) = (
            t.slots[slot].driver,
            SlotState::from_u32(t.slots[slot].state),
        );
        check!(
            driver == self.drivers[i].task_id().index() as u32 && state == SlotState::Bound,
            "table says slot {slot} is {} to task {driver}, expected bound to {}",
            state.describe(),
            driver_name(i)
        );
        Ok(())
    }

    fn slot_of(&self, i: usize) -> u32 {
        self.drivers[i].slot().unwrap_or(NONE)
    }

    fn probes_of(&self, i: usize) -> u32 {
        self.drivers[i].probes().unwrap_or(NONE)
    }

    /// Driver `i`, at `generation` before, has been restarted once since,
    /// and the supervisor's latest restart record says so, with `cause`.
    fn restarted_once(&self, i: usize, generation: u32, cause: RestartCause) -> CaseResult {
        let id = self.drivers[i].task_id().index() as u32;
        let after = self.sup.task_status(id).unwrap_or_default();
        check!(
            after.generation == generation + 1,
            "{}'s generation {generation} -> {}",
            driver_name(i),
            after.generation
        );
        let record = self.sup.restart_record(0);
        check!(
            matches!(record, Ok(r) if r.task == id
                && r.generation == after.generation
                && r.cause() == Some(cause)),
            "the supervisor's latest restart record: {record:?} (cause {:?}, expected {cause:?})",
            record.map(|r| r.cause())
        );
        Ok(())
    }
}

fn enumeration_matches_the_command_line(s: &mut Suite) -> CaseResult {
    let t = s.table()?;
    for (slot, e) in t.slots.iter().enumerate() {
        check!(
            e.device_id == EXPECTED[slot],
            "slot {slot}: device {} expected {}",
            e.device_id,
            EXPECTED[slot]
        );
        let state = SlotState::from_u32(e.state);
        check!(
            (e.device_id == 0) == (state == SlotState::Empty),
            "slot {slot}: state {}",
            state.describe()
        );
        if e.device_id != 0 {
            check!(
                e.version == 1 || e.version == 2,
                "slot {slot}: transport version {}",
                e.version
            );
            check!(e.vendor_id != 0, "slot {slot}: vendor id 0");
        }
    }
    Ok(())
}

fn each_driver_is_probed_once(s: &mut Suite) -> CaseResult {
    let t = s.table()?;
    let (a, b, c) = (s.slot_of(0), s.slot_of(1), s.slot_of(2));
    // Two entropy devices, three drivers registered in task order.
    check!(
        a == 5 && b == 7,
        "drva holds slot {a}, drvb slot {b}; expected 5 and 7"
    );
    check!(c == NONE, "drvc holds slot {c} though no device was free");
    for i in 0..3 {
        let expected = if i < 2 { 1 } else { 0 };
        check!(
            s.probes_of(i) == expected,
            "{} was probed {} times",
            driver_name(i),
            s.probes_of(i)
        );
    }
    s.bound_to(&t, 5, 0)?;
    s.bound_to(&t, 7, 1)?;
    check!(
        SlotState::from_u32(t.slots[6].state) == SlotState::Free,
        "the disk (no driver in this image) is not free"
    );
    Ok(())
}

fn unbind_removes_the_driver(s: &mut Suite) -> CaseResult {
    check!(s.bus.unbind(5).is_ok(), "unbind(5) failed");
    // The driver is more important than the suite, so it has answered the
    // remove request by now; allow a little time anyway.
    for _ in 0..10 {
        if s.drivers[0].removals().unwrap_or(0) == 1 {
            break;
        }
        sleep_ms(1, TIMER_BIT);
    }
    check!(
        s.drivers[0].removals() == Ok(1),
        "drva did not complete the removal"
    );
    check!(
        s.slot_of(0) == NONE,
        "drva still thinks it holds slot {}",
        s.slot_of(0)
    );
    let t = s.table()?;
    check!(
        SlotState::from_u32(t.slots[5].state) == SlotState::Unbound,
        "slot 5 is {}",
        SlotState::from_u32(t.slots[5].state).describe()
    );
    check!(
        t.slots[5].driver == NO_DRIVER,
        "slot 5 still bound to task {}",
        t.slots[5].driver
    );
    check!(
        s.bus.unbind(0) == Err(RequestError::Server(virtio_bus_api::BusError::NoDevice)),
        "unbind of an empty slot not refused with NoDevice"
    );
    s.removed = 0;
    Ok(())
}

fn a_revoked_window_faults_its_old_driver(s: &mut Suite) -> CaseResult {
    let i = s.removed;
    let before = s.sup.task_status(s.drivers[i].task_id().index() as u32);
    check!(before.is_ok(), "task_status failed");
    let generation = before.map(|b| b.generation).unwrap_or(0);
    let r = s.drivers[i].touch();
    check!(
        r == Err(RequestError::ServerRestarted),
        "touching the revoked window returned {r:?}"
    );
    let after = s.sup.task_status(s.drivers[i].task_id().index() as u32);
    check!(after.is_ok(), "task_status failed");
    let after = after.unwrap_or_default();
    let f = after.last_fault;
    check!(
        f.kind() == FaultKind::LoadAccess,
        "fault kind '{}'",
        f.kind().describe()
    );
    check!(
        f.address as usize == slot_base(5),
        "fault address {:#x}",
        f.address
    );
    check!(
        after.generation == generation + 1,
        "generation {} -> {}",
        generation,
        after.generation
    );
    Ok(())
}

fn bind_probes_a_waiting_driver(s: &mut Suite) -> CaseResult {
    check!(s.bus.bind(5).is_ok(), "bind(5) failed");
    let mut holder = None;
    for _ in 0..10 {
        holder = [0usize, 2].into_iter().find(|&i| s.slot_of(i) == 5);
        if holder.is_some() {
            break;
        }
        sleep_ms(1, TIMER_BIT);
    }
    let Some(h) = holder else {
        check!(false, "no waiting driver was probed for slot 5");
        return Ok(());
    };
    check!(
        s.probes_of(h) == 1,
        "{} probed {} times",
        driver_name(h),
        s.probes_of(h)
    );
    let other = if h == 0 { 2 } else { 0 };
    check!(
        s.slot_of(other) == NONE,
        "{} holds a slot too",
        driver_name(other)
    );
    s.bound_to(&s.table()?, 5, h)
}

/// A driver that reports its slot released although the bus never asked
/// (a corrupted one, sure it has no device, would answer its clients "no
/// device" for good while the slot stays bound to it) is restarted, device
/// reset first, as its restart policy says (drvb's: app.toml's backoff,
/// so 10 ms later; restarted at once every time, a hostile driver came
/// back 229 times in 1.85 s), and its next incarnation is probed with the
/// same slot.
fn an_unasked_release_restarts_the_driver(s: &mut Suite) -> CaseResult {
    let id = s.drivers[1].task_id().index() as u32;
    let before = s.sup.task_status(id);
    check!(before.is_ok(), "task_status failed");
    let generation = before.map(|b| b.generation).unwrap_or(0);
    check!(s.slot_of(1) == 7, "drvb holds slot {}, not 7", s.slot_of(1));
    let t0 = sys_get_timer().now;
    let r = s.drivers[1].release();
    check!(
        r == Ok(virtio_bus_api::BusError::NotBound as u32),
        "drvb's unasked release returned {r:?}, not NotBound (restarted at once?)"
    );
    let mut waited_ms = 0;
    while waited_ms < 500 {
        let now = s.sup.task_status(id).map(|b| b.generation).unwrap_or(0);
        waited_ms = (sys_get_timer().now - t0) / abi::TICKS_PER_MS;
        if now != generation {
            break;
        }
        sleep_ms(1, TIMER_BIT);
    }
    check!(
        (10..500).contains(&waited_ms),
        "drvb was restarted {waited_ms} ms after its release, not after its 10 ms backoff"
    );
    s.restarted_once(1, generation, RestartCause::UnaskedRelease)?;
    for _ in 0..10 {
        if s.slot_of(1) == 7 {
            break;
        }
        sleep_ms(1, TIMER_BIT);
    }
    check!(
        s.slot_of(1) == 7 && s.probes_of(1) == 1,
        "the new drvb holds slot {} after {} probe(s)",
        s.slot_of(1),
        s.probes_of(1)
    );
    s.bound_to(&s.table()?, 7, 1)
}

/// A driver that goes on answering (the `load` task calls drvb every
/// millisecond) but holds one caller's request for good is restarted by
/// the supervisor's watchdog once that caller has waited 50 samples (5 s
/// at the default 100 ms): the caller gets ServerRestarted, not a hang.
fn an_answering_driver_that_holds_a_caller_is_restarted(s: &mut Suite) -> CaseResult {
    let id = s.drivers[1].task_id().index() as u32;
    let generation = s.sup.task_status(id).map(|b| b.generation).unwrap_or(0);
    let t0 = sys_get_timer().now;
    let r = s.drivers[1].hold();
    let waited_ms = (sys_get_timer().now - t0) / abi::TICKS_PER_MS;
    check!(
        r == Err(RequestError::ServerRestarted),
        "drvb's held call ended with {r:?}"
    );
    // 50 samples of the call awaiting its reply, the first at most one
    // period after it began; well under the test's timeout.
    check!(
        (4_900..=7_000).contains(&waited_ms),
        "the held call ended after {waited_ms} ms, not after the watchdog's 5 s"
    );
    s.restarted_once(1, generation, RestartCause::HeldCaller)?;
    check!(
        s.slot_of(1) == 7,
        "the new drvb holds slot {}, not 7",
        s.slot_of(1)
    );
    Ok(())
}

/// A driver without a slot is watched too: one that holds its only
/// caller's request is restarted once the call has waited 15 samples
/// with no reply (1.5 s), and the caller gets ServerRestarted. (Watching
/// only bound drivers, a red team's driver unbound its own slot, which a
/// driver may, and then held its caller for good.)
fn a_driver_without_a_slot_that_holds_a_caller_is_restarted(s: &mut Suite) -> CaseResult {
    let Some(i) = [0usize, 2].into_iter().find(|&i| s.slot_of(i) == NONE) else {
        check!(false, "neither drva nor drvc is waiting without a slot");
        return Ok(());
    };
    let id = s.drivers[i].task_id().index() as u32;
    let generation = s.sup.task_status(id).map(|b| b.generation).unwrap_or(0);
    let t0 = sys_get_timer().now;
    let r = s.drivers[i].hold();
    let waited_ms = (sys_get_timer().now - t0) / abi::TICKS_PER_MS;
    check!(
        r == Err(RequestError::ServerRestarted),
        "{}'s held call ended with {r:?}",
        driver_name(i)
    );
    check!(
        (1_400..=3_500).contains(&waited_ms),
        "the held call ended after {waited_ms} ms, not after the watchdog's 1.5 s"
    );
    s.restarted_once(i, generation, RestartCause::Hung)
}

/// A driver that calls a more important server in a loop blocks at every
/// call, yet never waits for work: the kernel charges its own stretches
/// across the calls and faults it at its CPU budget. Until then it is held
/// to its CPU share, so this less important suite runs meanwhile and sees
/// it throttled (before shares it kept the suite off the CPU until the
/// fault). The flooding driver is the one without a slot: the watchdog
/// watches it, but it answers its callers (it has none) and makes
/// syscalls, so only its budget stops it.
fn a_driver_calling_in_a_loop_is_stopped_by_its_budget(s: &mut Suite) -> CaseResult {
    /// Its 200 ms budget at its 26 % share takes some 770 ms to spend.
    const FAULT_WITHIN_MS: u64 = 3000;
    let Some(i) = [0usize, 2].into_iter().find(|&i| s.slot_of(i) == NONE) else {
        check!(false, "neither drva nor drvc is waiting without a slot");
        return Ok(());
    };
    let id = s.drivers[i].task_id().index() as u32;
    let before = s.sup.task_status(id).unwrap_or_default();
    check!(
        s.drivers[i].flood() == Ok(()),
        "{}'s flood was not answered",
        driver_name(i)
    );
    let start = sys_get_timer().now;
    let mut seen_throttled = false;
    let after = loop {
        let st = s.sup.task_status(id).unwrap_or_default();
        seen_throttled |= abi::TaskState::from_u32(st.state) == Some(abi::TaskState::Throttled);
        let waited = sys_get_timer().now - start;
        if st.fault_count != before.fault_count || waited > FAULT_WITHIN_MS * abi::TICKS_PER_MS {
            break st;
        }
        sleep_ms(1, TIMER_BIT);
    };
    check!(
        after.fault_count == before.fault_count + 1,
        "{} faulted {} times in {FAULT_WITHIN_MS} ms of flooding, before {}",
        driver_name(i),
        after.fault_count,
        before.fault_count
    );
    check!(
        seen_throttled && after.throttles > before.throttles,
        "{} flooded without being throttled ({} throttles, before {})",
        driver_name(i),
        after.throttles,
        before.throttles
    );
    check!(
        after.last_fault.kind() == FaultKind::BudgetExceeded,
        "{}'s last fault: '{}'",
        driver_name(i),
        after.last_fault.kind().describe()
    );
    Ok(())
}

#[export_name = "main"]
fn main() -> ! {
    let client = |t: TaskId| BusTestDriverClient::new(UserlibIpc, t);
    let mut s = Suite {
        bus: VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR),
        sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
        drivers: [
            client(tasks::DRVA),
            client(tasks::DRVB),
            client(tasks::DRVC),
        ],
        removed: 0,
    };
    let cases: &[Case<Suite>] = &[
        (
            "enumeration_matches_the_command_line",
            enumeration_matches_the_command_line,
        ),
        ("each_driver_is_probed_once", each_driver_is_probed_once),
        ("unbind_removes_the_driver", unbind_removes_the_driver),
        (
            "a_revoked_window_faults_its_old_driver",
            a_revoked_window_faults_its_old_driver,
        ),
        ("bind_probes_a_waiting_driver", bind_probes_a_waiting_driver),
        (
            "an_unasked_release_restarts_the_driver",
            an_unasked_release_restarts_the_driver,
        ),
        (
            "an_answering_driver_that_holds_a_caller_is_restarted",
            an_answering_driver_that_holds_a_caller_is_restarted,
        ),
        (
            "a_driver_without_a_slot_that_holds_a_caller_is_restarted",
            a_driver_without_a_slot_that_holds_a_caller_is_restarted,
        ),
        (
            "a_driver_calling_in_a_loop_is_stopped_by_its_budget",
            a_driver_calling_in_a_loop_is_stopped_by_its_budget,
        ),
    ];
    test_harness::run_suite(&mut s, cases)
}
