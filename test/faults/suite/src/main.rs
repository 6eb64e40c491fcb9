//! The fault-injection test suite (image `test/faults.toml`): one case per
//! fault kind, injected into the blk driver (and a few into the rng
//! driver). Each case checks the evidence that the fault happened — the
//! kernel's fault record (kind and address) and the new generation for the
//! faults a driver commits on itself, the driver's count of broken-queue
//! recoveries for a corrupted ring, the kernel's before/after word for a
//! bit flip (see `fault_inject::evidence`) — and then the system's
//! promise: the kernel survives, the next client request succeeds, and no
//! acknowledged write is lost.

#![no_std]
#![no_main]

use abi::{FaultKind, InjectEvidence, Injection};
use block_api::BlockClient;
use entropy_api::EntropyClient;
use fault_inject::evidence::{self, Around, CallEnd, Verdict};
use fault_inject::point::{kind_word, Point};
use fault_inject::DriverFault;
use fault_workload::{make_block, Ledger, Verdict as Block, BLOCK};
use idol_runtime::{TaskId, UserlibIpc};
use test_harness::{check, fail, task_status, Case, CaseResult, LineBuf};
use userlib::{sleep_ms, sys_get_timer, sys_log, tasks};

#[cfg(feature = "campaign")]
mod campaign;

use fault_inject::FaultInjectClient;

const TIMER_BIT: u32 = 1 << 0;
/// Sectors the suite writes (well inside any test disk).
const SECTORS: usize = 16;
/// Where faulting stores aim: the kernel's RAM (kernel text is 64 KiB at
/// 0x8000_0000 in test/faults.toml), the UART (granted to nobody here).
const KERNEL_RAM: u32 = 0x8001_0000;
/// Bytes of kernel RAM (test/faults.toml, test/campaign.toml `[kernel] ram`).
#[cfg_attr(not(feature = "campaign"), allow(dead_code))]
const KERNEL_RAM_SIZE: u32 = 32768;
const UART: u32 = 0x1000_0000;
/// How long a request may take to succeed again after a fault.
const RECOVERY_MS: u64 = 3000;

/// The seed of `blk_ram_bit_flips` when the suite's `config` names none:
/// the flips the suite always made.
const DEFAULT_SEED: u64 = 0x2545_f491;

/// The seed of `blk_ram_bit_flips`: the suite's `config` `seed` (decimal:
/// xtask refuses another, `build/xtask/src/config/task_config.rs`), or
/// [`DEFAULT_SEED`]. The campaign takes its own from `--seed`.
fn seed() -> u64 {
    userlib::config::setting(option_env!("VIREO_CONFIG"), "seed")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

/// Memory of the suite's own, a target for "store to another task's RAM".
static mut VICTIM: [u32; 4] = [0; 4];

struct Suite {
    blk: BlockClient<UserlibIpc>,
    rng: EntropyClient<UserlibIpc>,
    blk_inject: FaultInjectClient<UserlibIpc>,
    rng_inject: FaultInjectClient<UserlibIpc>,
    ledger: Ledger<SECTORS>,
    next_slot: usize,
}

fn now_ms() -> u64 {
    sys_get_timer().now / abi::TICKS_PER_MS
}

impl Suite {
    /// The suite's clients of blk0 and rng0, and an empty ledger.
    #[cfg_attr(feature = "campaign", allow(dead_code))]
    fn new() -> Self {
        Suite {
            blk: BlockClient::new(UserlibIpc, tasks::BLK0),
            rng: EntropyClient::new(UserlibIpc, tasks::RNG0),
            blk_inject: FaultInjectClient::new(UserlibIpc, tasks::BLK0),
            rng_inject: FaultInjectClient::new(UserlibIpc, tasks::RNG0),
            ledger: Ledger::new(64),
            next_slot: 0,
        }
    }

    /// One acknowledged write, recorded in the ledger.
    fn write_acked(&mut self) -> CaseResult {
        let i = self.next_slot;
        self.next_slot = (self.next_slot + 1) % SECTORS;
        let v = self.ledger.next_version();
        let sector = self.ledger.sector(i);
        match self.blk.write(sector, &make_block(sector, v)) {
            Ok(()) => self.ledger.acked(i, v),
            Err(e) => fail!("write before the fault failed: {e:?}"),
        }
        Ok(())
    }

    /// Retries the first request after a fault until it succeeds.
    fn first_read_after(&mut self) -> Result<u64, LineBuf> {
        let t0 = now_ms();
        let mut buf = [0u8; BLOCK];
        loop {
            match self.blk.read(self.ledger.sector(0), &mut buf) {
                Ok(()) => return Ok(now_ms() - t0),
                Err(e) if now_ms() - t0 > RECOVERY_MS => {
                    fail!("no successful read {RECOVERY_MS} ms after the fault: {e:?}")
                }
                Err(_) => sleep_ms(10, TIMER_BIT),
            }
        }
    }

    /// Reads every sector written so far and checks it against the ledger.
    fn verify_all(&mut self) -> CaseResult {
        let mut buf = [0u8; BLOCK];
        for i in 0..SECTORS {
            let sector = self.ledger.sector(i);
            if let Err(e) = self.blk.read(sector, &mut buf) {
                fail!("read of sector {sector} failed: {e:?}");
            }
            match self.ledger.check(i, &buf) {
                Block::Good => {}
                v => fail!("sector {sector}: {v:?} (an acknowledged write was lost or corrupted)"),
            }
        }
        Ok(())
    }

    /// One injection into the blk driver: blk0's status before it and once
    /// a read succeeds again, then the data check. Returns what `inject`
    /// returned and the statuses.
    fn around_blk<T>(
        &mut self,
        inject: impl FnOnce(&mut Suite) -> T,
    ) -> Result<(T, Around), LineBuf> {
        self.write_acked()?;
        let before = task_status(tasks::BLK0)?;
        let out = inject(self);
        let took = self.first_read_after()?;
        let after = task_status(tasks::BLK0)?;
        self.verify_all()?;
        self.write_acked()?;
        sys_log!(
            "  blk0 generation {} -> {}, faults {} -> {}, first request ok after {took} ms",
            before.generation,
            after.generation,
            before.fault_count,
            after.fault_count
        );
        Ok((out, Around { before, after }))
    }

    fn recoveries(&self, client: &FaultInjectClient<UserlibIpc>) -> Result<u32, LineBuf> {
        match client.recoveries() {
            Ok(n) => Ok(n),
            Err(e) => fail!("recoveries() failed: {e:?}"),
        }
    }

    /// A driver-side fault into blk0, confirmed by its evidence.
    fn blk_driver_fault(&mut self, kind: DriverFault, arg: u32) -> CaseResult {
        let r0 = self.recoveries(&self.blk_inject)?;
        let (call, around) =
            self.around_blk(|s| CallEnd::of(s.blk_inject.inject(kind as u32, arg)))?;
        let r1 = self.recoveries(&self.blk_inject)?;
        confirm(kind, arg, call, &around, (r0, r1))?;
        // Here a corrupted ring must be recovered from by a device reset,
        // not by the driver dying.
        check!(
            !kind.is_queue_corruption() || around.restarts() == 0,
            "{}: blk0 was restarted instead of resetting its device",
            kind.describe()
        );
        Ok(())
    }

    /// A store to kernel RAM armed for point `at` of blk0's request path,
    /// fired by the write that follows: arming answers `Ok`; the driver
    /// dies during the write (one restart while it was in flight: the
    /// client stub retries an idempotent write once, on the new
    /// incarnation); the kernel records the store at the point's own
    /// address; and no acknowledged write is lost.
    fn blk_armed_fault(&mut self, at: Point) -> CaseResult {
        let kind = DriverFault::StoreKernelRam;
        // Distinct per point, so one's record cannot pass for the other's.
        let arg = KERNEL_RAM + 0x40 * at as u32;
        self.write_acked()?;
        // Learn blk0's current generation first: a DEAD answer to the
        // arming call must mean it died there, not earlier.
        let _ = self.blk_inject.recoveries();
        let before = task_status(tasks::BLK0)?;
        let call = CallEnd::of(self.blk_inject.inject(kind_word(kind, at), arg));
        check!(
            call == CallEnd::Replied,
            "arming{} answered {call:?}, not Ok",
            at.describe()
        );
        let armed = task_status(tasks::BLK0)?;
        check!(
            armed.generation == before.generation,
            "blk0 restarted while being armed"
        );
        // The write that passes the point.
        self.write_acked()?;
        let during = task_status(tasks::BLK0)?;
        let took = self.first_read_after()?;
        let after = task_status(tasks::BLK0)?;
        let around = Around { before, after };
        match evidence::driver_fault(kind, at, arg, call, &around, None) {
            Ok(Verdict::Confirmed) => {}
            v => fail!("store{} not confirmed: {v:?}", at.describe()),
        }
        check!(
            Around {
                before: armed,
                after: during
            }
            .restarts()
                == 1,
            "the store{} did not end blk0 during the write that passed the point (generation {} -> {})",
            at.describe(),
            armed.generation,
            during.generation
        );
        self.verify_all()?;
        let f = after.last_fault;
        sys_log!(
            "  confirmed{}: {} at {:#010x} during the write, generation {} -> {}, first request ok after {took} ms",
            at.describe(),
            f.kind().describe(),
            f.address,
            before.generation,
            after.generation
        );
        Ok(())
    }

    /// A kernel bit flip into blk0; returns the kernel's evidence.
    fn flip(&self, task: TaskId, kind: Injection, arg: u32) -> Result<InjectEvidence, LineBuf> {
        match test_harness::supervisor().inject(task.index() as u32, kind as u32, arg) {
            Ok(ev) => Ok(ev),
            Err(e) => fail!("inject {kind:?} {arg:#x} refused: {e:?}"),
        }
    }
}

/// Checks a driver-side injection's evidence and says what it was.
fn confirm(
    kind: DriverFault,
    arg: u32,
    call: CallEnd,
    around: &Around,
    recoveries: (u32, u32),
) -> CaseResult {
    let rec = kind.is_queue_corruption().then_some(recoveries);
    match evidence::driver_fault(kind, Point::Now, arg, call, around, rec) {
        Ok(Verdict::Confirmed) => {
            let f = around.after.last_fault;
            sys_log!(
                "  confirmed: {} ({call:?}): last fault {} at {:#010x}, recoveries {} -> {}",
                kind.describe(),
                f.kind().describe(),
                f.address,
                recoveries.0,
                recoveries.1
            );
            Ok(())
        }
        Ok(Verdict::Latent) => fail!("{}: no observable effect", kind.describe()),
        Err(why) => fail!("{} ({arg:#x}) not confirmed: {why:?}", kind.describe()),
    }
}

fn victim_address() -> u32 {
    core::ptr::addr_of!(VICTIM) as usize as u32
}

macro_rules! driver_case {
    ($name:ident, $kind:expr, $arg:expr) => {
        fn $name(s: &mut Suite) -> CaseResult {
            s.blk_driver_fault($kind, $arg)
        }
    };
}

driver_case!(panic, DriverFault::Panic, 0);
driver_case!(store_to_kernel_ram, DriverFault::StoreKernelRam, KERNEL_RAM);
driver_case!(
    store_to_ungranted_device,
    DriverFault::StoreUngrantedDevice,
    UART
);
driver_case!(wild_jump, DriverFault::WildJump, 0x10);
driver_case!(illegal_instruction, DriverFault::IllegalInstruction, 0);
driver_case!(stack_overflow, DriverFault::StackOverflow, 0);
driver_case!(infinite_loop, DriverFault::InfiniteLoop, 0);
// A corrupted ring is the device's view of a driver bug: the driver
// recovers by resetting its device rather than by dying.
driver_case!(
    wild_descriptor_addresses,
    DriverFault::CorruptDescriptors,
    0xdead_0000
);
driver_case!(bogus_avail_index, DriverFault::BogusAvailIndex, 0x1234);

/// A driver whose dispatch a flipped bit corrupted refuses calls that fit
/// its interface. Nothing faults, and the watchdog sees it answer; the
/// supervisor must restart it (device reset first) at the first such call
/// it refuses, by the kernel's record of the call. Evidence: the refused
/// read's record in the suite's own status, the new generation with no
/// fault, the restart log's cause; then the next read succeeds.
fn blk_refusing_good_calls(s: &mut Suite) -> CaseResult {
    use idol_runtime::{ProtocolError, RequestError};
    s.write_acked()?;
    // Learn blk0's current generation first.
    let _ = s.blk_inject.recoveries();
    let before = task_status(tasks::BLK0)?;
    let record0 = task_status(tasks::SUITE)?.rejected_call;
    if let Err(e) = s.blk_inject.refuse(1000, 0) {
        fail!("refuse(1000, 0) failed: {e:?}");
    }
    let mut buf = [0u8; BLOCK];
    let sector = s.ledger.sector(0);
    let r = s.blk.read(sector, &mut buf);
    check!(
        matches!(r, Err(RequestError::Protocol(ProtocolError::Rejected(_)))),
        "the read blk0 was told to refuse ended {r:?}"
    );
    let record = task_status(tasks::SUITE)?.rejected_call;
    check!(
        record.count == record0.count.wrapping_add(1)
            && record.server
                == TaskId::new(
                    tasks::BLK0.index() as u16,
                    abi::Generation(before.generation as u16)
                )
                .0
            && (
                record.operation,
                record.message_len,
                record.lease_count,
                record.lease_vouched
            ) == (2, 8, 1, 1)
            && record.first_lease == abi::describe_lease(abi::LEASE_WRITE, BLOCK as u32),
        "the refused read was recorded as {record:?}"
    );
    // The supervisor is more important than the suite: it has judged the
    // refusal already.
    let after = task_status(tasks::BLK0)?;
    let cause = test_harness::latest_restart_cause(tasks::BLK0)?;
    check!(
        after.generation == before.generation + 1
            && after.fault_count == before.fault_count
            && cause == Some(abi::RestartCause::Rejecting),
        "blk0 went from generation {} to {} ({} -> {} faults), last restarted for {cause:?}",
        before.generation,
        after.generation,
        before.fault_count,
        after.fault_count
    );
    let took = s.first_read_after()?;
    s.verify_all()?;
    sys_log!("  blk0 restarted for refusing a well-formed read; next read ok after {took} ms");
    Ok(())
}

fn store_to_another_tasks_ram(s: &mut Suite) -> CaseResult {
    s.blk_driver_fault(DriverFault::StoreOtherTaskRam, victim_address())?;
    // SAFETY: reading our own static; nothing else writes it (that is
    // what the case checks).
    let v = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(VICTIM)) };
    check!(
        v == [0; 4],
        "the driver's store reached the suite's memory: {v:?}"
    );
    Ok(())
}

fn register_bit_flip(s: &mut Suite) -> CaseResult {
    // Bit 30 of sp: the stack pointer leaves every region the driver owns,
    // so its next stack access faults there.
    let (ev, around) =
        s.around_blk(|s| s.flip(tasks::BLK0, Injection::FlipRegisterBit, (2 << 5) | 30))?;
    let ev = ev?;
    check!(
        ev.location == 2,
        "the kernel flipped register {}, not sp",
        ev.location
    );
    match evidence::bit_flip(30, &ev, &around) {
        Ok(Verdict::Confirmed) => {}
        Ok(Verdict::Latent) => fail!(
            "sp {:#010x} -> {:#010x} and blk0 did not fault",
            ev.before,
            ev.after
        ),
        Err(why) => fail!("register flip not confirmed: {why:?}"),
    }
    let f = around.after.last_fault;
    check!(
        matches!(f.kind(), FaultKind::LoadAccess | FaultKind::StoreAccess),
        "blk0's fault after the sp flip was {}, not a stack access",
        f.kind().describe()
    );
    // The faulting access is a stack slot near the flipped sp.
    check!(
        f.address.abs_diff(ev.after) < 0x1_0000,
        "blk0 faulted at {:#010x}, far from the flipped sp {:#010x}",
        f.address,
        ev.after
    );
    sys_log!(
        "  confirmed: sp {:#010x} -> {:#010x}, load/store fault at {:#010x}",
        ev.before,
        ev.after,
        f.address
    );
    Ok(())
}

fn ram_bit_flips(s: &mut Suite) -> CaseResult {
    // 64 random bits of the driver's RAM, drawn from the suite's seed.
    // Whether that kills it is chance; each flip must show in the
    // kernel's before/after words, and the outcome is reported: a fault
    // or restart (confirmed), or latent. (xorshift32: both halves of the
    // seed count, and a zero state, which stays zero, is taken as 1.)
    let seed = seed();
    let mut x = ((seed ^ (seed >> 32)) as u32).max(1);
    let mut flips = [(0u32, InjectEvidence::default()); 64];
    let (r, around) = s.around_blk(|s| -> CaseResult {
        for f in flips.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *f = (x & 31, s.flip(tasks::BLK0, Injection::FlipRamBit, x)?);
        }
        Ok(())
    })?;
    r?;
    let mut verdict = Verdict::Latent;
    for (bit, ev) in flips.iter() {
        match evidence::bit_flip(*bit, ev, &around) {
            Ok(v) => verdict = v,
            Err(why) => fail!("RAM flip of bit {bit} not there: {why:?}"),
        }
    }
    let (first, last) = (flips[0].1, flips[63].1);
    sys_log!(
        "  64 flips of seed {seed}, e.g. [{:#010x}] {:#010x} -> {:#010x} ... [{:#010x}] {:#010x} -> {:#010x}: {}",
        first.location,
        first.before,
        first.after,
        last.location,
        last.before,
        last.after,
        match verdict {
            Verdict::Confirmed => "blk0 faulted or restarted (confirmed)",
            Verdict::Latent => "latent (no observable effect)",
        }
    );
    Ok(())
}

/// Time until rng0 fills again, failing after [`RECOVERY_MS`].
fn rng_recovers(s: &mut Suite, what: &str) -> CaseResult {
    let t0 = now_ms();
    let mut buf = [0u8; 64];
    loop {
        match s.rng.fill(&mut buf) {
            Ok(()) => break,
            Err(e) if now_ms() - t0 > RECOVERY_MS => {
                fail!("{what}: no fill {RECOVERY_MS} ms later: {e:?}")
            }
            Err(_) => sleep_ms(10, TIMER_BIT),
        }
    }
    check!(buf.iter().any(|&b| b != 0), "{what}: fill returned zeroes");
    Ok(())
}

fn rng_driver_faults(s: &mut Suite) -> CaseResult {
    for (kind, at, arg) in [
        (DriverFault::Panic, Point::Now, 0),
        (DriverFault::InfiniteLoop, Point::Now, 0),
        (DriverFault::WildJump, Point::Now, 0x20),
        (DriverFault::BogusAvailIndex, Point::Now, 7),
        // Armed: fired by the next fill, inside its request path.
        (
            DriverFault::StoreKernelRam,
            Point::BeforeKick,
            KERNEL_RAM + 0x80,
        ),
        (DriverFault::WildJump, Point::BeforeReply, 0x24),
    ] {
        let before = task_status(tasks::RNG0)?;
        let r0 = s.recoveries(&s.rng_inject)?;
        let call = CallEnd::of(s.rng_inject.inject(kind_word(kind, at), arg));
        // A corrupted ring is found (and the device reset) by the first
        // fill after it, which fails; a retry then succeeds. An armed
        // fault ends the first fill with the driver's death.
        rng_recovers(s, kind.describe())?;
        let after = task_status(tasks::RNG0)?;
        let r1 = s.recoveries(&s.rng_inject)?;
        let around = Around { before, after };
        if at == Point::Now {
            confirm(kind, arg, call, &around, (r0, r1))?;
        } else {
            match evidence::driver_fault(kind, at, arg, call, &around, None) {
                Ok(Verdict::Confirmed) => sys_log!(
                    "  confirmed: rng0 {}{}: last fault {} at {:#010x}",
                    kind.describe(),
                    at.describe(),
                    after.last_fault.kind().describe(),
                    after.last_fault.address
                ),
                v => fail!(
                    "rng0 {}{} not confirmed: {v:?}",
                    kind.describe(),
                    at.describe()
                ),
            }
        }
    }
    Ok(())
}

fn blk_fault_before_kick(s: &mut Suite) -> CaseResult {
    s.blk_armed_fault(Point::BeforeKick)
}

fn blk_fault_before_reply(s: &mut Suite) -> CaseResult {
    s.blk_armed_fault(Point::BeforeReply)
}

#[export_name = "main"]
fn main() -> ! {
    #[cfg(feature = "campaign")]
    let failed = campaign::run(&mut campaign::Campaign::new());
    #[cfg(not(feature = "campaign"))]
    let failed = {
        sys_log!("faults: seed {} (config `seed`)", seed());
        test_harness::run_cases(&mut Suite::new(), CASES)
    };
    test_harness::finish(failed)
}

/// One case per fault kind.
#[cfg_attr(feature = "campaign", allow(dead_code))]
const CASES: &[Case<Suite>] = &[
    ("blk_panic", panic),
    ("blk_store_to_kernel_ram", store_to_kernel_ram),
    ("blk_store_to_another_tasks_ram", store_to_another_tasks_ram),
    ("blk_store_to_ungranted_device", store_to_ungranted_device),
    ("blk_wild_jump", wild_jump),
    ("blk_illegal_instruction", illegal_instruction),
    ("blk_stack_overflow", stack_overflow),
    ("blk_infinite_loop", infinite_loop),
    ("blk_wild_descriptor_addresses", wild_descriptor_addresses),
    ("blk_bogus_avail_index", bogus_avail_index),
    ("blk_register_bit_flip", register_bit_flip),
    ("blk_ram_bit_flips", ram_bit_flips),
    ("rng_driver_faults", rng_driver_faults),
    ("blk_fault_before_kick", blk_fault_before_kick),
    ("blk_fault_before_reply", blk_fault_before_reply),
    ("blk_refusing_good_calls", blk_refusing_good_calls),
];
