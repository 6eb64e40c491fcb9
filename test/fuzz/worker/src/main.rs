//! An honest client of the disk driver `blk0` in the syscall fuzz image
//! (`test/fuzz.toml`): while the fuzzer sends `blk0` garbage (and does
//! everything else it does), the worker writes a sector, reads it back and
//! checks every byte, over and over, on sectors of its own. Between two
//! requests it waits up to a millisecond for the suite's call
//! ([`fuzz_test_api::WORK`]), which it answers with its
//! [`fuzz_test_api::Work`] tally, and goes on.
//!
//! What it shows: an attacker that shares a driver with honest clients
//! cannot make their requests fail or return wrong data, not even by
//! getting the driver restarted under them.

#![no_std]
#![no_main]

use block_api::BlockClient;
use fuzz_test_api::{Work, WORK};
use idol_runtime::{RequestError, UserlibIpc};
use userlib::{sys_get_timer, sys_recv, sys_refresh_task_id, sys_reply, sys_set_timer, tasks};
use zerocopy::IntoBytes;

/// The worker's timer bit (app.toml `notifications = ["timer"]`).
const TIMER_BIT: u32 = 1;
/// The sectors it cycles through (blk0's disk; nobody else writes them).
const FIRST_SECTOR: u64 = 1024;
const SECTORS: u64 = 16;

fn byte(round: u32, i: usize) -> u8 {
    (round as u8).wrapping_mul(13) ^ (i as u8).wrapping_mul(7) ^ (i >> 8) as u8
}

/// One write and read-back, counted into `w`.
fn one(blk: &BlockClient<UserlibIpc>, w: &mut Work, data: &mut [u8; 512]) {
    let round = w.requests;
    let sector = FIRST_SECTOR + u64::from(round) % SECTORS;
    for (i, b) in data.iter_mut().enumerate() {
        *b = byte(round, i);
    }
    w.requests += 1;
    let result = blk.write(sector, &data[..]).and_then(|()| {
        data.fill(0);
        blk.read(sector, &mut data[..])
    });
    match result {
        Ok(()) if (0..512).all(|i| data[i] == byte(round, i)) => w.ok += 1,
        Ok(()) => w.wrong_data += 1,
        Err(RequestError::ServerRestarted) => w.restarted += 1,
        Err(_) => w.failed += 1,
    }
}

#[export_name = "main"]
fn main() -> ! {
    let blk = BlockClient::new(UserlibIpc, tasks::BLK0);
    let mut work = Work::default();
    let mut data = [0u8; 512];
    let mut buf = [0u8; 4];
    loop {
        one(&blk, &mut work, &mut data);
        // A closed receive from the suite, or the timer: the suite's call
        // is taken when it is there, else the work goes on in a ms.
        let suite = sys_refresh_task_id(tasks::SUITE);
        sys_set_timer(Some(sys_get_timer().now + abi::TICKS_PER_MS), TIMER_BIT);
        let m = sys_recv(&mut buf, TIMER_BIT, Some(suite));
        if m.sender == suite && m.operation == u32::from(WORK) {
            sys_reply(m.sender, 0, work.as_bytes());
        } else if m.sender == suite {
            sys_reply(m.sender, 1, &[]);
        }
    }
}
