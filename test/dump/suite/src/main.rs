//! The task behind the `cargo xtask dump` test images. It leaves things
//! for a dump to show, then says so on the console and waits:
//!
//! - `test/dump.toml`: disk traffic through blk0, a store to kernel RAM
//!   injected into blk0 (a real access fault at a known address), the
//!   restarted driver serving again, then `[test] dump now`; xtask takes a
//!   live dump and checks the fault, the new generation and blk0's trace.
//! - `test/panic.toml` (feature `kernel-panic`): disk traffic, then the
//!   kernel is made to panic (a `test-panic` kernel); xtask must leave a
//!   post-mortem dump that `cargo xtask dump --file` reads back.
//! - `test/supervisor-fault.toml` (feature `supervisor-fault`): disk
//!   traffic, then the supervisor (built with `test-control`) is made to
//!   fault itself; the kernel reboots the machine after xtask has left a
//!   post-mortem dump.

#![no_std]
#![no_main]

use block_api::BlockClient;
use idol_runtime::UserlibIpc;
use test_harness::{check, fail, Case, CaseResult};
use userlib::tasks;

struct Suite {
    blk: BlockClient<UserlibIpc>,
}

/// Writes a recognisable block at `sector` and reads it back.
fn traffic(s: &mut Suite, sector: u64) -> CaseResult {
    let mut block = [0u8; 512];
    block[..8].copy_from_slice(&sector.to_le_bytes());
    if let Err(e) = s.blk.write(sector, &block) {
        fail!("write of sector {sector} failed: {e:?}");
    }
    let mut back = [0u8; 512];
    if let Err(e) = s.blk.read(sector, &mut back) {
        fail!("read of sector {sector} failed: {e:?}");
    }
    check!(back == block, "sector {sector} read back different bytes");
    Ok(())
}

fn disk_traffic(s: &mut Suite) -> CaseResult {
    traffic(s, 3)
}

/// `test/dump.toml`'s own case: a driver fault for the live dump to show,
/// and what only it needs.
#[cfg(not(any(feature = "kernel-panic", feature = "supervisor-fault")))]
mod live {
    use super::{traffic, Suite};
    use fault_inject::{DriverFault, FaultInjectClient};
    use idol_runtime::UserlibIpc;
    use test_harness::{check, CaseResult};
    use userlib::{sleep_ms, sys_get_timer, sys_log, tasks};

    const TIMER_BIT: u32 = 1 << 0;
    /// Where the injected store aims: the kernel's RAM (test images put the
    /// kernel's 64 KiB of text at 0x8000_0000, its RAM right after).
    const KERNEL_RAM: u32 = 0x8001_0000;
    /// How long the driver may take to serve again after its fault.
    const RECOVERY_MS: u64 = 3000;
    /// How long to wait for xtask's dump after asking for it (virtual time,
    /// which stands still while the gdbstub holds the machine).
    const DUMP_WAIT_MS: u64 = 4000;

    fn now_ms() -> u64 {
        sys_get_timer().now / abi::TICKS_PER_MS
    }

    pub(crate) fn blk0_store_to_kernel_ram(s: &mut Suite) -> CaseResult {
        let before = test_harness::task_status(tasks::BLK0)?.generation;
        let inject = FaultInjectClient::new(UserlibIpc, tasks::BLK0);
        let _ = inject.inject(DriverFault::StoreKernelRam as u32, KERNEL_RAM);
        // The restarted driver must serve again; its trace then holds this.
        let t0 = now_ms();
        while traffic(s, 5).is_err() {
            check!(
                now_ms() - t0 < RECOVERY_MS,
                "blk0 did not serve again {RECOVERY_MS} ms after its fault"
            );
            sleep_ms(10, TIMER_BIT);
        }
        let after = test_harness::task_status(tasks::BLK0)?.generation;
        check!(
            after != before,
            "blk0 was not restarted (generation {before})"
        );
        sys_log!("[test] dump now: blk0 generation {before} -> {after}");
        sleep_ms(DUMP_WAIT_MS, TIMER_BIT);
        Ok(())
    }
}

#[cfg(feature = "kernel-panic")]
fn kernel_panic(_: &mut Suite) -> CaseResult {
    let r = test_harness::supervisor().inject(
        tasks::BLK0.index() as u32,
        abi::Injection::KernelPanic as u32,
        0,
    );
    fail!("the kernel did not panic when asked ({r:?}): is it built with test-panic?")
}

#[cfg(feature = "supervisor-fault")]
fn supervisor_fault(_: &mut Suite) -> CaseResult {
    let me = tasks::SUPERVISOR.index() as u32;
    let r = test_harness::supervisor().inject(me, abi::Injection::SupervisorFault as u32, 0);
    fail!("the supervisor did not fault when asked ({r:?}): is it built with test-control?")
}

#[export_name = "main"]
fn main() -> ! {
    let mut s = Suite {
        blk: BlockClient::new(UserlibIpc, tasks::BLK0),
    };
    test_harness::run_suite(&mut s, CASES)
}

#[cfg(not(any(feature = "kernel-panic", feature = "supervisor-fault")))]
const CASES: &[Case<Suite>] = &[
    ("disk_traffic", disk_traffic),
    ("blk0_store_to_kernel_ram", live::blk0_store_to_kernel_ram),
];

#[cfg(feature = "kernel-panic")]
const CASES: &[Case<Suite>] = &[
    ("disk_traffic", disk_traffic),
    ("kernel_panic", kernel_panic),
];

#[cfg(feature = "supervisor-fault")]
const CASES: &[Case<Suite>] = &[
    ("disk_traffic", disk_traffic),
    ("supervisor_fault", supervisor_fault),
];
