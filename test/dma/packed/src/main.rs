//! The packed-ring suite (`test/dma-packed.toml`). The disk is a modern
//! virtio-blk device that offers `VIRTIO_F_RING_PACKED` (QEMU's
//! `packed=on`). A compromised driver (`dma-test-attacker`) accepts every
//! feature it offers through the kernel, and tries the red team's escape:
//! one descriptor the kernel checks as a split ring's, whose unchecked
//! `next` a packed ring would read as AVAIL | INDIRECT, naming a table in
//! its own RAM that asks for kernel text on sector 0 and sector 2 in this
//! suite's canary, which nobody lent it. With the packed ring accepted the
//! device followed that table (kernel text read, the canary overwritten).
//!
//! The suite checks, with evidence: the device does offer packed rings
//! (else this image proves nothing); the kernel wrote the driver's
//! features without them (`abi::DMA_FEATURES_ALLOWED`) and the device
//! accepted the rest; sector 0 still holds the marker the driver wrote
//! before the escape, and the canary is unchanged; a store to
//! DriverFeatures by hand faults the driver at that register.

#![no_std]
#![no_main]

use abi::{dead_generation, FaultKind};
use idol_runtime::UserlibIpc;
use supervisor_api::SupervisorClient;
use test_harness::{check, fail, Case, CaseResult};
use userlib::{sys_refresh_task_id, sys_send, tasks};
use virtio_bus_api::{slot_base, VirtioBusClient};
use zerocopy::{FromBytes, IntoBytes};

const BLOCK: u32 = 2;
/// `VIRTIO_F_VERSION_1`, `VIRTIO_F_RING_PACKED`, `VIRTIO_F_IN_ORDER`:
/// bits 0, 2 and 3 of feature bank 1.
const VERSION_1: u32 = 1 << 0;
const RING_PACKED: u32 = 1 << 2;
const IN_ORDER: u32 = 1 << 3;
/// `FEATURES_OK` (§2.1).
const FEATURES_OK: u32 = 8;

/// Memory of the suite's that the escape aims at: it must never change.
static mut CANARY: [u8; 512] = [0x11; 512];

fn canary_intact() -> CaseResult {
    // SAFETY: the suite is single-threaded; a shared view, read only.
    let c = unsafe { &*core::ptr::addr_of!(CANARY) };
    if let Some(i) = c.iter().position(|&b| b != 0x11) {
        fail!("the suite's canary changed at byte {i} ({:#04x})", c[i]);
    }
    Ok(())
}

struct Suite {
    sup: SupervisorClient<UserlibIpc>,
    /// The disk's window (the rogue's grant).
    window: u32,
    /// Op 22's report, from the first case.
    up: [u32; 8],
}

/// Has the rogue run attack `n`; `None` if it died during the call.
fn ask(n: u16, args: [u32; 4]) -> Result<Option<[u32; 8]>, test_harness::LineBuf> {
    let mut reply = [0u8; 32];
    let rogue = sys_refresh_task_id(tasks::ROGUE);
    let (code, len) = sys_send(rogue, n, args.as_bytes(), &mut reply, &[]);
    if dead_generation(code).is_some() {
        return Ok(None);
    }
    check!(
        code == 0 && len == 32,
        "attack {n}: the driver answered {code:#x}, {len} bytes"
    );
    match <[u32; 8]>::read_from_bytes(&reply) {
        Ok(r) => Ok(Some(r)),
        Err(_) => fail!("attack {n}: unreadable reply"),
    }
}

fn the_device_offers_packed_rings(s: &mut Suite) -> CaseResult {
    check!(s.window != 0, "the rogue holds no disk");
    let Some(r) = ask(22, [0; 4])? else {
        fail!("bring-up: the driver died");
    };
    s.up = r;
    check!(
        r[0] & RING_PACKED != 0,
        "the device offers feature bank 1 {:#x}, without RING_PACKED: this image proves nothing",
        r[0]
    );
    Ok(())
}

fn the_kernel_keeps_packed_rings_back(s: &mut Suite) -> CaseResult {
    let r = s.up;
    check!(
        r[2] & (RING_PACKED | IN_ORDER) == 0,
        "the kernel wrote feature bank 1 {:#x} (offered {:#x}): a packed ring or in-order use got through",
        r[2],
        r[0]
    );
    check!(
        r[2] & VERSION_1 != 0,
        "the kernel kept VERSION_1 back ({:#x})",
        r[2]
    );
    check!(
        r[3] & FEATURES_OK != 0,
        "the device did not accept the features the kernel wrote (status {:#x})",
        r[3]
    );
    check!(
        r[4] == 0,
        "the kernel refused the queue setup ({:#x})",
        r[4]
    );
    Ok(())
}

fn the_packed_escape_reaches_nothing(_: &mut Suite) -> CaseResult {
    // Only the address is taken.
    let canary = core::ptr::addr_of!(CANARY) as u32;
    let Some(r) = ask(23, [canary, 0, 0, 0])? else {
        fail!("escape: the driver died");
    };
    check!(
        r[0] == 0 && r[1] == 1,
        "the marker write before the escape failed (post {:#x}, used {})",
        r[0],
        r[1]
    );
    check!(
        r[4] == 0 && r[5] == 1,
        "sector 0 could not be read back after the escape (post {:#x}, used {})",
        r[4],
        r[5]
    );
    check!(
        r[6] == 1,
        "sector 0 no longer holds the marker: the device wrote it from the escape's table (kernel text)"
    );
    canary_intact()
}

fn a_store_to_driver_features_faults(s: &mut Suite) -> CaseResult {
    if let Some(r) = ask(21, [0; 4])? {
        fail!("a store to DriverFeatures: the driver was not stopped; it reports {r:#x?}");
    }
    let st = match s.sup.task_status(tasks::ROGUE.index() as u32) {
        Ok(st) => st,
        Err(e) => fail!("task_status(rogue): {e:?}"),
    };
    let f = st.last_fault;
    let at = s.window + 0x020;
    check!(
        st.fault_count == 1 && f.kind == FaultKind::StoreAccess as u32 && f.address == at,
        "fault {} of kind {} at {:#x}, expected the first fault, a store access at DriverFeatures {at:#x}",
        st.fault_count,
        f.kind,
        f.address
    );
    canary_intact()
}

#[export_name = "main"]
fn main() -> ! {
    let bus = VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR);
    let window = match bus.devices() {
        Ok(t) => t
            .slots
            .iter()
            .position(|e| e.device_id == BLOCK && e.driver == tasks::ROGUE.index() as u32)
            .map(|slot| slot_base(slot as u32) as u32)
            .unwrap_or(0),
        Err(_) => 0,
    };
    let mut s = Suite {
        sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
        window,
        up: [0; 8],
    };
    let cases: &[Case<Suite>] = &[
        (
            "the_device_offers_packed_rings",
            the_device_offers_packed_rings,
        ),
        (
            "the_kernel_keeps_packed_rings_back",
            the_kernel_keeps_packed_rings_back,
        ),
        (
            "the_packed_escape_reaches_nothing",
            the_packed_escape_reaches_nothing,
        ),
        (
            "a_store_to_driver_features_faults",
            a_store_to_driver_features_faults,
        ),
    ];
    test_harness::run_suite(&mut s, cases)
}
