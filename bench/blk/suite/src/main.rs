//! The virtio-blk benchmark (`bench/blk.toml`): 4 KiB and 64 KiB
//! sequential reads
//!
//! * through IPC: `BlockClient::read` to the `blk0` driver task (one call
//!   per request: send with the buffer lent, the driver's dispatch, the
//!   lease posted to the device (zero-copy, pinned), the completion polled
//!   for or its interrupt, the reply), and
//! * without IPC: this task registers with the bus for the second disk
//!   itself and runs the same driver library (`virtio_blk::BlkDevice`)
//!   in-process on the same kernel-validated path (`transfer_blocking`:
//!   its own buffer posted to the device, the completion polled for or its
//!   interrupt),
//!
//! in the same run, as retired instructions per request (`instret` counts
//! every instruction of every task and the kernel, so it is the system's
//! cost of a request; the kernel stops it while the machine sleeps), each
//! IPC figure with its direct one as baseline, so `cargo xtask bench`
//! prints the ratio.
//!
//! No MB/s: the disks answer after a fixed delay of host time
//! (`bench/blk.toml`), which would be most of any throughput figure.
//! It must never write to either disk.

#![no_std]
#![no_main]

use block_api::BlockClient;
use idol_runtime::{RequestError, UserlibIpc};
use userlib::{instret, sys_irq_control, sys_log, sys_recv_notification, tasks};
use virtio::regs::Mmio;
use virtio_blk::{BlkDevice, DmaMemory, Request, ID_TABLE, IRQ_BIT, PROBE_BIT, REMOVE_BIT};
use virtio_bus_api::{slot_base, VirtioBusClient};

/// Requests per figure (for 64 KiB reads, the whole disk four times).
const ROUNDS: u64 = 256;
/// Sectors on each bench disk (4 MiB).
const DISK_SECTORS: u64 = 8192;

static mut DMA: DmaMemory = DmaMemory::new();
static mut BUF: [u8; 65536] = [0; 65536];

/// Runs `ROUNDS` sequential reads of `len` bytes with `read(sector, buf)`;
/// the median request's instructions.
fn measure(
    len: usize,
    buf: &mut [u8],
    mut read: impl FnMut(u64, &mut [u8]) -> bool,
) -> Option<u64> {
    let sectors = (len / 512) as u64;
    // Warm up (and check the path works at all).
    if !read(0, &mut buf[..len]) {
        return None;
    }
    // Each request's instructions; the median leaves out the few requests
    // the supervisor's watchdog samples land on.
    let mut costs = [0u64; ROUNDS as usize];
    for (r, cost) in costs.iter_mut().enumerate() {
        let sector = (r as u64 * sectors) % DISK_SECTORS;
        let i0 = instret();
        if !read(sector, &mut buf[..len]) {
            return None;
        }
        *cost = instret() - i0;
    }
    costs.sort_unstable();
    Some(costs[costs.len() / 2])
}

fn finish(code: u32) -> ! {
    test_harness::finish(code)
}

#[export_name = "main"]
fn main() -> ! {
    // SAFETY: the only references ever made to DMA and BUF.
    let (dma, buf) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(DMA),
            &mut *core::ptr::addr_of_mut!(BUF),
        )
    };

    // The second disk, driven in-process: the bus binds it to us like to
    // any driver.
    let bus = VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR);
    let probe = match bus.register(ID_TABLE, IRQ_BIT, REMOVE_BIT, PROBE_BIT) {
        Ok(p) => p,
        Err(e) => {
            sys_log!("blk_bench: no disk for the direct figures: {e:?}");
            finish(1);
        }
    };
    // SAFETY: the bus granted us this slot's window with `register`.
    let regs = unsafe { Mmio::new(slot_base(probe.slot)) };
    // The same validated path as the driver task: the kernel places the
    // queue and checks every descriptor.
    let mut dev = match BlkDevice::probe(regs, dma, Some(&virtio::KernelGate)) {
        Ok(d) => d,
        Err(e) => {
            sys_log!("blk_bench: probe failed: {e:?}");
            finish(1);
        }
    };
    let wait = |d: &mut BlkDevice<'_, Mmio>| {
        sys_recv_notification(IRQ_BIT);
        d.take_interrupt();
        sys_irq_control(IRQ_BIT, true);
    };
    let blk = BlockClient::new(UserlibIpc, tasks::BLK0);
    let mut failed = 0;
    for (len, label) in [(4096usize, "4k"), (65536, "64k")] {
        let direct = measure(len, buf, |sector, b| {
            dev.transfer_blocking(
                Request::Read {
                    sector,
                    len: b.len(),
                },
                b,
                wait,
            )
            .is_ok()
        });
        let ipc = measure(len, buf, |sector, b| {
            !matches!(
                blk.read(sector, b),
                Err(RequestError::Server(_)
                    | RequestError::ServerRestarted
                    | RequestError::ServerStopped
                    | RequestError::Protocol(_))
            )
        });
        let mut direct_name = userlib::log::LineBuf::new();
        let _ =
            core::fmt::Write::write_fmt(&mut direct_name, format_args!("blk_read_{label}_direct"));
        let direct_name = core::str::from_utf8(direct_name.as_bytes()).unwrap_or("?");
        let mut ipc_name = userlib::log::LineBuf::new();
        let _ = core::fmt::Write::write_fmt(&mut ipc_name, format_args!("blk_read_{label}_ipc"));
        let ipc_name = core::str::from_utf8(ipc_name.as_bytes()).unwrap_or("?");
        match (direct, ipc) {
            (Some(d), Some(i)) => {
                sys_log!("[bench] {direct_name}_instructions {d} instructions");
                sys_log!(
                    "[bench] {ipc_name}_instructions {i} instructions baseline={direct_name}_instructions"
                );
            }
            _ => {
                sys_log!("blk_bench: {label} reads failed");
                failed += 1;
            }
        }
    }
    finish(failed)
}
