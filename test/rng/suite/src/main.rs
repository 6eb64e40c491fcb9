//! The entropy test suite: checks the virtio-rng driver task (`rng0`) end
//! to end on the real kernel and QEMU's `virtio-rng-device`, through the
//! generated `EntropyClient`. It reports each case as `[test] case <name>
//! ... ok` or `... FAIL: <reason>`, then `[test] done`, then stops the
//! machine with the failure count.
//!
//! * fills of 0, 1, 7, 64, 1023, 1024, 1025 (around the driver's 1 KiB
//!   bounce buffer), 4096, 5000 and 8192 (the most a fill may ask)
//!   bytes: each succeeds, writes exactly the lease (guard bytes around
//!   it stay untouched) and is not all zeroes (nor the pattern the buffer
//!   held before); one of 8193 is refused (`BadLeases`) and writes
//!   nothing;
//! * two fills differ;
//! * `unbind` of the rng slot: the driver lets go (the bus shows the slot
//!   unbound) and a fill gets `NoDevice`, not a hang; `bind` gives the
//!   device back and fills work again;
//! * a fault injected into the driver: the supervisor restarts it, it
//!   registers again, and the next fill (retried by the stub, `fill` is
//!   idempotent) succeeds.
//!
//! A case must never pass by skipping: every path that does not reach its
//! assertions reports a failure.

#![no_std]
#![no_main]
// The shared harness's `CaseResult` carries a whole line of text on purpose.
#![allow(clippy::result_large_err)]

use abi::ReplyFaultReason;
use entropy_api::{EntropyClient, EntropyError};
use idol_runtime::{ProtocolError, RequestError, UserlibIpc};
use test_harness::{check, fail, task_status, Case, CaseResult, LineBuf};
use userlib::tasks;
use virtio_bus_api::{SlotState, VirtioBusClient, NO_DRIVER};

/// The largest fill (`idl/entropy.idol`'s `max_len`), plus guard bytes
/// on both sides.
const MAX_FILL: usize = 8192;
const GUARD: usize = 16;
/// What the buffer holds before a fill.
const PATTERN: u8 = 0xA5;

/// The virtio device id of an entropy source.
const ENTROPY_ID: u32 = 4;

/// The guarded buffer, one byte longer than the largest fill (for the
/// refused one); in RAM, not on the stack.
static mut BUF: [u8; MAX_FILL + 1 + 2 * GUARD] = [0; MAX_FILL + 1 + 2 * GUARD];

struct Suite {
    rng: EntropyClient<UserlibIpc>,
    bus: VirtioBusClient<UserlibIpc>,
    buf: &'static mut [u8; MAX_FILL + 1 + 2 * GUARD],
}

impl Suite {
    /// Fills `len` bytes in the middle of the guarded buffer and checks
    /// what it can about them.
    fn fill_checked(&mut self, len: usize) -> CaseResult {
        self.buf.fill(PATTERN);
        if let Err(e) = self.rng.fill(&mut self.buf[GUARD..GUARD + len]) {
            fail!("fill({len}) failed: {e:?}");
        }
        let (before, rest) = self.buf.split_at(GUARD);
        let (data, after) = rest.split_at(len);
        check!(
            before.iter().chain(&after[..GUARD]).all(|&b| b == PATTERN),
            "fill({len}) wrote outside its lease"
        );
        if len >= 7 {
            check!(
                data.iter().any(|&b| b != PATTERN),
                "fill({len}) left the buffer unchanged"
            );
        }
        if len >= 64 {
            check!(data.iter().any(|&b| b != 0), "fill({len}) gave all zeroes");
            // Every byte value is equally likely: no byte position should be
            // unchanged in long runs. A weak check that the whole length, not
            // only a prefix, was written: the last 64 bytes changed too.
            check!(
                data[len - 64..].iter().any(|&b| b != PATTERN),
                "fill({len}) did not reach the end of the lease"
            );
        }
        Ok(())
    }

    /// The slot the bus shows holding an entropy device.
    fn rng_slot(&self) -> Result<(u32, u32, u32), LineBuf> {
        let table = match self.bus.devices() {
            Ok(t) => t,
            Err(e) => fail!("devices() failed: {e:?}"),
        };
        for (slot, e) in table.slots.iter().enumerate() {
            if e.device_id == ENTROPY_ID {
                return Ok((slot as u32, e.state, e.driver));
            }
        }
        fail!("no entropy device in the device table")
    }
}

fn lengths(s: &mut Suite) -> CaseResult {
    for len in [0, 1, 7, 64, 1023, 1024, 1025, 4096, 5000, MAX_FILL] {
        s.fill_checked(len)?;
    }
    // One byte more than a fill may ask: refused before the driver looks
    // at it (an untrusted server's `reply_fault` reaches us as an error),
    // and nothing written.
    s.buf.fill(PATTERN);
    let r = s.rng.fill(&mut s.buf[GUARD..GUARD + MAX_FILL + 1]);
    check!(
        r == Err(RequestError::Protocol(ProtocolError::Rejected(
            ReplyFaultReason::BadLeases
        ))),
        "fill({}) gave {r:?}, expected Rejected(BadLeases)",
        MAX_FILL + 1
    );
    check!(
        s.buf.iter().all(|&b| b == PATTERN),
        "the refused fill wrote into its lease"
    );
    Ok(())
}

fn fills_differ(s: &mut Suite) -> CaseResult {
    let mut a = [0u8; 64];
    let mut b = [0u8; 64];
    if let Err(e) = s.rng.fill(&mut a) {
        fail!("first fill failed: {e:?}");
    }
    if let Err(e) = s.rng.fill(&mut b) {
        fail!("second fill failed: {e:?}");
    }
    check!(a != b, "two 64-byte fills gave the same bytes");
    Ok(())
}

fn bound_to_rng0(s: &mut Suite) -> CaseResult {
    let (slot, state, driver) = s.rng_slot()?;
    check!(
        SlotState::from_u32(state) == SlotState::Bound && driver == tasks::RNG0.index() as u32,
        "slot {slot}: state {state}, driver {driver}; expected bound to rng0"
    );
    Ok(())
}

fn unbind_gives_no_device(s: &mut Suite) -> CaseResult {
    let (slot, ..) = s.rng_slot()?;
    if let Err(e) = s.bus.unbind(slot) {
        fail!("unbind({slot}) failed: {e:?}");
    }
    // The driver is more important than this task: it has handled the
    // remove bit by the time we run again.
    let (_, state, driver) = s.rng_slot()?;
    check!(
        SlotState::from_u32(state) == SlotState::Unbound && driver == NO_DRIVER,
        "after unbind: slot {slot} state {state}, driver {driver}"
    );
    let mut buf = [0u8; 16];
    match s.rng.fill(&mut buf) {
        Err(RequestError::Server(EntropyError::NoDevice)) => Ok(()),
        r => fail!("fill without a device gave {r:?}, expected NoDevice"),
    }
}

fn bind_gives_it_back(s: &mut Suite) -> CaseResult {
    let (slot, ..) = s.rng_slot()?;
    if let Err(e) = s.bus.bind(slot) {
        fail!("bind({slot}) failed: {e:?}");
    }
    bound_to_rng0(s)?;
    s.fill_checked(100)
}

fn restart_after_fault(s: &mut Suite) -> CaseResult {
    let before = task_status(tasks::RNG0)?;
    if let Err(e) = test_harness::supervisor().fault_task(tasks::RNG0.index() as u32) {
        fail!("fault_task(rng0) failed: {e:?}");
    }
    s.fill_checked(600)?;
    let after = task_status(tasks::RNG0)?;
    check!(
        after.generation != before.generation && after.fault_count == before.fault_count + 1,
        "rng0 generation {} -> {}, faults {} -> {}",
        before.generation,
        after.generation,
        before.fault_count,
        after.fault_count
    );
    bound_to_rng0(s)
}

const CASES: &[Case<Suite>] = &[
    ("rng_bound_to_rng0", bound_to_rng0),
    ("rng_fill_lengths", lengths),
    ("rng_fills_differ", fills_differ),
    ("rng_unbind_gives_no_device", unbind_gives_no_device),
    ("rng_bind_gives_it_back", bind_gives_it_back),
    ("rng_restart_after_fault", restart_after_fault),
];

#[export_name = "main"]
fn main() -> ! {
    let mut s = Suite {
        rng: EntropyClient::new(UserlibIpc, tasks::RNG0),
        bus: VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR),
        // SAFETY: the only reference ever made to BUF.
        buf: unsafe { &mut *core::ptr::addr_of_mut!(BUF) },
    };
    test_harness::run_suite(&mut s, CASES)
}
