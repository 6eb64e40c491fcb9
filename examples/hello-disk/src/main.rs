//! Example client task, the one README's "Writing a task" walks through:
//! it asks the entropy driver (`rng0`) for random bytes, writes them after
//! a greeting into one sector of the disk (`blk0`), reads the sector back
//! and says whether the two agree. Everything it does goes through the
//! clients `build/idol` generates from `idl/entropy.idol` and
//! `idl/block.idol`; the calls it may make are the `slots` of its
//! `[tasks.hello]` entry in `examples/hello-disk.toml`.
//!
//! What it must never do: trust the drivers. A driver may die in the
//! middle of a call, answer with an error or be unbound; each of those is
//! a value this task prints, never a panic (`cargo xtask test` also boots
//! this image, so the example cannot rot).

#![no_std]
#![no_main]

use block_api::{BlockClient, BlockError, SECTOR_SIZE};
use entropy_api::{EntropyClient, EntropyError};
use idol_runtime::{RequestError, UserlibIpc};
use userlib::{sys_log, sys_recv_notification, tasks};

/// The sector this example owns on the disk.
const SECTOR: u64 = 1;
/// What the sector starts with; the shell's `blk 0 read 1` shows it.
const GREETING: &[u8] = b"hello, disk: ";
/// Random bytes after the greeting.
const RANDOM: usize = 16;

#[export_name = "main"]
fn main() -> ! {
    // A client is a task id and a way to make calls; `tasks::RNG0` is the
    // id of the task app.toml calls `rng0`, generation included.
    let rng = EntropyClient::new(UserlibIpc, tasks::RNG0);
    let disk = BlockClient::new(UserlibIpc, tasks::BLK0);

    match run(&rng, &disk) {
        Ok(()) => sys_log!("sector {SECTOR} of blk0 reads back what was written"),
        Err(why) => sys_log!("failed: {why}"),
    }
    // Nothing more to do: wait for good, taking no CPU.
    loop {
        sys_recv_notification(0);
    }
}

/// What went wrong, for the console.
enum Failure {
    Entropy(RequestError<EntropyError>),
    Disk(RequestError<BlockError>),
    Mismatch(usize),
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            // `Server(e)` is the op's own error (the driver has no device,
            // the sector is out of range ...); the other two say the
            // server died (and a non-idempotent call was not retried) or
            // broke the protocol.
            Failure::Entropy(e) => write!(f, "rng0: {e:?}"),
            Failure::Disk(e) => write!(f, "blk0: {e:?}"),
            Failure::Mismatch(at) => write!(f, "byte {at} of the sector read back differs"),
        }
    }
}

fn run(rng: &EntropyClient<UserlibIpc>, disk: &BlockClient<UserlibIpc>) -> Result<(), Failure> {
    let mut sector = [0u8; SECTOR_SIZE];
    sector[..GREETING.len()].copy_from_slice(GREETING);
    let random = &mut sector[GREETING.len()..][..RANDOM];
    // `fill` lends `random` to rng0 for writing (a lease): the driver's
    // device writes straight into this task's stack, and nothing else of
    // this task's memory is reachable to it. `fill` is idempotent, so if
    // rng0 restarts during the call the stub sends it again by itself.
    rng.fill(random).map_err(Failure::Entropy)?;
    sys_log!(
        "{RANDOM} random bytes from rng0: {:02x?}",
        &sector[GREETING.len()..][..RANDOM]
    );

    // A write lends the sector for reading, a read lends it for writing.
    disk.write(SECTOR, &sector).map_err(Failure::Disk)?;
    let mut back = [0u8; SECTOR_SIZE];
    disk.read(SECTOR, &mut back).map_err(Failure::Disk)?;
    match sector.iter().zip(&back).position(|(a, b)| a != b) {
        Some(at) => Err(Failure::Mismatch(at)),
        None => Ok(()),
    }
}
