//! A fault campaign's load (`test/campaign.toml` runs two): a client of
//! blk0 that writes or reads back one self-checking block of its own
//! sectors each time the campaign posts it "go", just before an
//! injection. It is more important than the campaign, so its request is on
//! the driver when the campaign injects: requests from several tasks are
//! outstanding then (the campaign counts them from the kernel's view of
//! who is calling whom). Between faults it waits, so it costs nothing: the
//! machine idles and, under `-icount sleep=off`, waits cost no host time.
//!
//! Every answer is checked against this incarnation's ledger: a read that
//! finds anything but the acknowledged version (or the version of a write
//! that failed, which may or may not have landed) is a wrong answer, and
//! is printed as a campaign `PROBLEM`. Errors and `ServerRestarted` are
//! allowed — the request is simply made again later. It must never be in
//! a real image.

#![no_std]
#![no_main]

use block_api::BlockClient;
use fault_workload::{make_block, Ledger, Verdict, BLOCK};
use idol_runtime::UserlibIpc;
use userlib::{sys_log, sys_recv_notification, tasks};

/// The campaign's "go" (app.toml `notifications = ["go"]`).
const GO_BIT: u32 = 1 << 0;

/// Sectors of this loader (the campaign's own are 64..80).
const SECTORS: usize = 8;
const BASE: u64 = if cfg!(feature = "second") { 192 } else { 128 };

#[export_name = "main"]
fn main() -> ! {
    let blk = BlockClient::new(UserlibIpc, tasks::BLK0);
    let mut ledger: Ledger<SECTORS> = Ledger::new(BASE);
    // Sectors with an acknowledged write in this incarnation: only those
    // are read back (an earlier incarnation's blocks are not in the ledger).
    let mut known = [false; SECTORS];
    let mut x: u32 = 0x9e37_79b9 ^ BASE as u32;
    let mut buf = [0u8; BLOCK];
    let mut wrong: u32 = 0;
    loop {
        sys_recv_notification(GO_BIT);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let i = (x as usize) % SECTORS;
        let sector = ledger.sector(i);
        if !known[i] || x & 0x300 == 0 {
            let v = ledger.next_version();
            match blk.write(sector, &make_block(sector, v)) {
                Ok(()) => {
                    ledger.acked(i, v);
                    known[i] = true;
                }
                Err(_) => ledger.failed(i, v),
            }
        } else if blk.read(sector, &mut buf).is_ok() {
            let verdict = ledger.check(i, &buf);
            if verdict != Verdict::Good {
                wrong += 1;
                sys_log!(
                    "[campaign] PROBLEM loader at sector {sector}: {verdict:?} (wrong answers so far: {wrong})"
                );
            }
        }
    }
}
