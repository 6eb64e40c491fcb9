//! The fault-injection test suite (image `test/faults.toml`): one case per
//! fault kind, injected into the blk driver (and a few into the rng
//! driver). Each case checks the system's promise: the kernel survives,
//! the driver restarts with a new generation (or, for a corrupted ring,
//! recovers its device), the next client request succeeds, and no
//! acknowledged write is lost.

#![no_std]
#![no_main]

use block_api::BlockClient;
use entropy_api::EntropyClient;
use fault_inject::DriverFault;
use fault_workload::{make_block, Ledger, Verdict, BLOCK};
use idol_runtime::{TaskId, UserlibIpc};
use supervisor_api::SupervisorClient;
use test_harness::{check, fail, Case, CaseResult, LineBuf};
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
const UART: u32 = 0x1000_0000;
/// How long a request may take to succeed again after a fault.
const RECOVERY_MS: u64 = 3000;

/// Memory of the suite's own, a target for "store to another task's RAM".
static mut VICTIM: [u32; 4] = [0; 4];

struct Suite {
    sup: SupervisorClient<UserlibIpc>,
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
    fn generation(&self, task: TaskId) -> Result<u32, LineBuf> {
        match self.sup.task_status(task.index() as u32) {
            Ok(s) => Ok(s.generation),
            Err(e) => fail!("task_status failed: {e:?}"),
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
                Verdict::Good => {}
                v => fail!("sector {sector}: {v:?} (an acknowledged write was lost or corrupted)"),
            }
        }
        Ok(())
    }

    /// The whole check around one injection into the blk driver.
    fn blk_fault(&mut self, inject: impl FnOnce(&mut Suite), must_restart: bool) -> CaseResult {
        self.write_acked()?;
        let gen0 = self.generation(tasks::BLK0)?;
        inject(self);
        let took = self.first_read_after()?;
        let gen1 = self.generation(tasks::BLK0)?;
        if must_restart {
            check!(gen1 != gen0, "blk0 was not restarted (generation {gen0})");
        }
        self.verify_all()?;
        self.write_acked()?;
        sys_log!("  blk0 generation {gen0} -> {gen1}, first request ok after {took} ms");
        Ok(())
    }

    fn blk_driver_fault(&mut self, kind: DriverFault, arg: u32, must_restart: bool) -> CaseResult {
        self.blk_fault(
            |s| {
                let _ = s.blk_inject.inject(kind as u32, arg);
            },
            must_restart,
        )
    }
}

fn victim_address() -> u32 {
    core::ptr::addr_of!(VICTIM) as usize as u32
}

macro_rules! driver_case {
    ($name:ident, $kind:expr, $arg:expr, $restart:expr) => {
        fn $name(s: &mut Suite) -> CaseResult {
            s.blk_driver_fault($kind, $arg, $restart)
        }
    };
}

driver_case!(panic, DriverFault::Panic, 0, true);
driver_case!(
    store_to_kernel_ram,
    DriverFault::StoreKernelRam,
    KERNEL_RAM,
    true
);
driver_case!(
    store_to_ungranted_device,
    DriverFault::StoreUngrantedDevice,
    UART,
    true
);
driver_case!(wild_jump, DriverFault::WildJump, 0x10, true);
driver_case!(
    illegal_instruction,
    DriverFault::IllegalInstruction,
    0,
    true
);
driver_case!(stack_overflow, DriverFault::StackOverflow, 0, true);
driver_case!(infinite_loop, DriverFault::InfiniteLoop, 0, true);
// A corrupted ring is the device's view of a driver bug: the driver may
// recover by resetting its device rather than by dying.
driver_case!(
    wild_descriptor_addresses,
    DriverFault::CorruptDescriptors,
    0xdead_0000,
    false
);
driver_case!(
    bogus_avail_index,
    DriverFault::BogusAvailIndex,
    0x1234,
    false
);

fn store_to_another_tasks_ram(s: &mut Suite) -> CaseResult {
    s.blk_driver_fault(DriverFault::StoreOtherTaskRam, victim_address(), true)?;
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
    // so its next stack access faults.
    s.blk_fault(
        |s| {
            let _ = s.sup.inject(
                tasks::BLK0.index() as u32,
                abi::Injection::FlipRegisterBit as u32,
                (2 << 5) | 30,
            );
        },
        true,
    )
}

fn ram_bit_flips(s: &mut Suite) -> CaseResult {
    // 64 random bits of the driver's RAM. Whether that kills it is chance;
    // what must hold either way is survival, service and the data.
    let mut x: u32 = 0x2545_f491;
    s.blk_fault(
        |s| {
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let _ = s.sup.inject(
                    tasks::BLK0.index() as u32,
                    abi::Injection::FlipRamBit as u32,
                    x,
                );
            }
        },
        false,
    )
}

fn rng_driver_recovers_from_a_panic_and_a_hang(s: &mut Suite) -> CaseResult {
    for kind in [DriverFault::Panic, DriverFault::InfiniteLoop] {
        let gen0 = s.generation(tasks::RNG0)?;
        let _ = s.rng_inject.inject(kind as u32, 0);
        let t0 = now_ms();
        let mut buf = [0u8; 64];
        loop {
            match s.rng.fill(&mut buf) {
                Ok(()) => break,
                Err(e) if now_ms() - t0 > RECOVERY_MS => {
                    fail!("{}: no fill {RECOVERY_MS} ms later: {e:?}", kind.name())
                }
                Err(_) => sleep_ms(10, TIMER_BIT),
            }
        }
        check!(
            buf.iter().any(|&b| b != 0),
            "{}: fill returned zeroes",
            kind.name()
        );
        check!(
            s.generation(tasks::RNG0)? != gen0,
            "{}: rng0 was not restarted",
            kind.name()
        );
    }
    Ok(())
}

#[export_name = "main"]
fn main() -> ! {
    let mut s = Suite {
        sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
        blk: BlockClient::new(UserlibIpc, tasks::BLK0),
        rng: EntropyClient::new(UserlibIpc, tasks::RNG0),
        blk_inject: FaultInjectClient::new(UserlibIpc, tasks::BLK0),
        rng_inject: FaultInjectClient::new(UserlibIpc, tasks::RNG0),
        ledger: Ledger::new(64),
        next_slot: 0,
    };
    #[cfg(feature = "campaign")]
    let failed = campaign::run(&mut campaign::Campaign::new());
    #[cfg(not(feature = "campaign"))]
    let failed = test_harness::run_cases(&mut s, CASES);
    test_harness::finish(failed, tasks::SUPERVISOR)
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
    (
        "rng_driver_recovers_from_a_panic_and_a_hang",
        rng_driver_recovers_from_a_panic_and_a_hang,
    ),
];
