//! The virtio-blk test suite's second client (`test/blk-*.toml`).
//!
//! 1. From boot, it hammers its own region of `blk0` (write, read back,
//!    compare) while the suite hammers another region, so the driver has
//!    requests of two clients in flight at once. Then it fills its region
//!    with a final pattern and writes a marker sector saying `HAMMER OK` or
//!    where it first saw wrong data; the suite checks both.
//! 2. Then it waits for the suite's "go" notifications: the first unbinds
//!    `blk1`'s slot through the bus (while the suite has a request on
//!    `blk1` in flight, which must fail with `Removed`), the next binds it
//!    again, and so on.
//!
//! It is less important than the suite, so it runs exactly when the suite
//! is blocked waiting for the driver. It must never write outside its
//! region and marker of `blk0`.

#![no_std]
#![no_main]

use block_api::BlockClient;
use idol_runtime::UserlibIpc;
use userlib::{sys_log, sys_recv_notification, tasks};
use virtio_bus_api::VirtioBusClient;

/// Notification bit the suite posts (app file: `notifications = ["go"]`).
const GO_BIT: u32 = 1 << 0;

/// First sector of the helper's region of blk0 (the suite's is elsewhere).
pub const REGION: u64 = 1536;
/// Sectors in the region.
pub const REGION_SECTORS: u64 = 64;
/// The marker sector.
pub const MARKER: u64 = REGION + REGION_SECTORS;
/// Rounds of hammering.
const ROUNDS: u32 = 40;
/// Sectors per request.
const CHUNK: u64 = 16;
/// Seed of the final pattern of the region.
const FINAL_SEED: u8 = 0xEE;

/// The test data: a byte per position of the disk and seed (the suite
/// computes the same).
fn pattern(seed: u8, sector: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let at = sector.wrapping_mul(512).wrapping_add(i as u64);
        *b = (at as u8).wrapping_mul(31) ^ seed ^ (at >> 9) as u8;
    }
}

fn matches(seed: u8, sector: u64, buf: &[u8]) -> bool {
    buf.iter().enumerate().all(|(i, b)| {
        let at = sector.wrapping_mul(512).wrapping_add(i as u64);
        *b == (at as u8).wrapping_mul(31) ^ seed ^ (at >> 9) as u8
    })
}

static mut BUF: [u8; (REGION_SECTORS * 512) as usize] = [0; (REGION_SECTORS * 512) as usize];

#[export_name = "main"]
fn main() -> ! {
    // SAFETY: the only reference ever made to BUF.
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(BUF) };
    let blk = BlockClient::new(UserlibIpc, tasks::BLK0);
    // A marker from an earlier boot (the disk file persists) must not be
    // taken for this one's: clear it first. The suite only looks at it
    // after its own 40 rounds, long after this first request.
    let _ = blk.write(MARKER, &[0u8; 512]);
    let mut verdict: Option<u32> = None;
    for round in 0..ROUNDS {
        let sector = REGION + (u64::from(round) * CHUNK) % REGION_SECTORS;
        let chunk = &mut buf[..(CHUNK * 512) as usize];
        let seed = round as u8;
        pattern(seed, sector, chunk);
        let ok = match blk.write(sector, chunk) {
            Err(e) => {
                sys_log!("blk_helper: round {round}: write at {sector}: {e:?}");
                false
            }
            Ok(()) => {
                chunk.fill(0);
                match blk.read(sector, chunk) {
                    Err(e) => {
                        sys_log!("blk_helper: round {round}: read at {sector}: {e:?}");
                        false
                    }
                    Ok(()) => {
                        let good = matches(seed, sector, chunk);
                        if !good {
                            sys_log!("blk_helper: round {round}: wrong data at {sector}");
                        }
                        good
                    }
                }
            }
        };
        if !ok && verdict.is_none() {
            verdict = Some(round);
        }
    }
    pattern(FINAL_SEED, REGION, buf);
    if blk.write(REGION, buf).is_err() && verdict.is_none() {
        verdict = Some(ROUNDS);
    }
    let mut marker = [0u8; 512];
    match verdict {
        None => marker[..9].copy_from_slice(b"HAMMER OK"),
        Some(round) => {
            marker[..11].copy_from_slice(b"HAMMER FAIL");
            marker[12..16].copy_from_slice(&round.to_le_bytes());
        }
    }
    let _ = blk.write(MARKER, &marker);

    // Unbind and bind blk1's slot, alternately, when told.
    // The slot is looked up once, before the first "go": on "go" the
    // unbind must reach the bus as fast as possible, while the suite's
    // request is still on the device.
    let bus = VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR);
    let blk1 = tasks::BLK1.index() as u32;
    let slot = match bus.devices() {
        Ok(table) => table.slots.iter().position(|e| e.driver == blk1),
        Err(_) => None,
    };
    let Some(slot) = slot else {
        sys_log!("blk_helper: blk1 holds no slot; cannot unbind it");
        loop {
            sys_recv_notification(0);
        }
    };
    let mut bound = true;
    loop {
        sys_recv_notification(GO_BIT);
        let result = if bound {
            bus.unbind(slot as u32)
        } else {
            bus.bind(slot as u32)
        };
        match result {
            Ok(()) => bound = !bound,
            Err(e) => sys_log!("blk_helper: (un)bind of slot {slot}: {e:?}"),
        }
    }
}
