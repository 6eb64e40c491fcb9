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

mod params {
    include!(concat!(env!("OUT_DIR"), "/campaign.rs"));
}

/// The campaign's seed as the image carries it: two magic words ("VIRE",
/// "LOAD") and the seed's low and high word. `cargo xtask test --seed S`
/// builds it in; `cargo xtask campaign` patches each run's seed over it
/// in the packed image (`build/xtask/src/campaign_runs.rs`), as over the
/// campaign task's parameters, so the loaders follow every run's seed.
#[used]
#[no_mangle]
static VIREO_CAMPAIGN_LOADER: [u32; 4] = [
    0x4552_4956, // "VIRE"
    0x4441_4f4c, // "LOAD"
    params::SEED as u32,
    (params::SEED >> 32) as u32,
];

/// The seed of this loader's sector choices: a splitmix64 of the
/// campaign's seed and the loader's first sector, so each seed and each
/// loader choose their own (before, every campaign's loaders chose the
/// same sectors, from a fixed `0x9e37_79b9 ^ BASE`). Never 0, which would
/// stall the xorshift.
fn seed() -> u32 {
    // SAFETY: a static of our own, read through a pointer so the seed
    // patched into the image after the build is the one seen.
    let p = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(VIREO_CAMPAIGN_LOADER)) };
    let campaign = u64::from(p[2]) | (u64::from(p[3]) << 32);
    let mut z = campaign ^ BASE.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    match (z ^ (z >> 31)) as u32 {
        0 => 1,
        x => x,
    }
}

#[export_name = "main"]
fn main() -> ! {
    let blk = BlockClient::new(UserlibIpc, tasks::BLK0);
    let mut ledger: Ledger<SECTORS> = Ledger::new(BASE);
    // Sectors with an acknowledged write in this incarnation: only those
    // are read back (an earlier incarnation's blocks are not in the ledger).
    let mut known = [false; SECTORS];
    let mut x = seed();
    // The campaign's report names each loader's seed (`cargo xtask
    // campaign` per run), so a loader's problem can be replayed.
    sys_log!(
        "[campaign] loader sectors {BASE}..{} seed {x:#010x}",
        BASE + SECTORS as u64
    );
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
