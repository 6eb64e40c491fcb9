//! Kernel and IPC benchmarks, in retired instructions (`minstret`, exact
//! under QEMU's `-icount`), each set against its baseline measured in the
//! same run:
//!
//! * `null_syscall`; `ipc_null_round_trip` (raw send to `pong`, no payload).
//! * typed IPC, through code generated from `idl/ping.idol`:
//!   `idol_add_round_trip` (two `u32` arguments, `u32` reply) against the
//!   raw null round trip, and `idol_checksum_8b_4k_round_trip` (a `u64`
//!   argument and a 4 KiB read lease that the server reads whole, `u64`
//!   reply) against `raw_send_8b_4k_lease`, a raw send of the same 8 bytes
//!   and 4 KiB lease to `pong` (which echoes the 8 bytes and never reads
//!   the lease). The difference is the stubs, the dispatch checks, reading
//!   the lease and the fold itself; `checksum_fold_4k_local` is the fold
//!   alone, computed in this task, so the three can be told apart.
//!
//! `pong` stays a raw echo server so that the raw figures measure the kernel
//! alone. Prints `[bench] <name> <value> <unit> [baseline=<other>]` lines
//! for `cargo xtask bench`, then stops the machine.

#![no_std]
#![no_main]

use idol_runtime::UserlibIpc;
use ping_api::PingClient;
use supervisor_api::SupervisorClient;
use userlib::{lease_read, sys_log, sys_recv_notification, sys_refresh_task_id, sys_send, tasks};

const ROUNDS: u32 = 1000;

/// Reads the 64-bit retired-instruction counter (the kernel lets U-mode
/// read it through `mcounteren`/`scounteren`).
fn instret() -> u64 {
    loop {
        let (hi, lo, hi2): (u32, u32, u32);
        // SAFETY: reading the user-level counter CSRs has no side effects.
        unsafe {
            core::arch::asm!("csrr {0}, instreth", "csrr {1}, instret", "csrr {2}, instreth",
                out(reg) hi, out(reg) lo, out(reg) hi2);
        }
        if hi == hi2 {
            return ((hi as u64) << 32) | lo as u64;
        }
    }
}

/// Instructions per iteration of `f`, minus the cost of an empty loop.
fn measure(mut f: impl FnMut()) -> u64 {
    let empty = {
        let t0 = instret();
        for i in 0..ROUNDS {
            core::hint::black_box(i);
        }
        instret() - t0
    };
    let t0 = instret();
    for i in 0..ROUNDS {
        core::hint::black_box(i);
        f();
    }
    ((instret() - t0).saturating_sub(empty)) / ROUNDS as u64
}

#[export_name = "main"]
fn main() -> ! {
    let null_syscall = measure(|| {
        core::hint::black_box(sys_refresh_task_id(tasks::PONG));
    });
    sys_log!("[bench] null_syscall {null_syscall} instructions");
    let round_trip = measure(|| {
        let (code, _) = sys_send(tasks::PONG, 0, &[], &mut [], &[]);
        core::hint::black_box(code);
    });
    sys_log!("[bench] ipc_null_round_trip {round_trip} instructions baseline=null_syscall");

    let ping = PingClient::new(UserlibIpc, tasks::PING_SERVER);
    assert_eq!(ping.add(2, 3), Ok(5));
    let idol_add = measure(|| {
        core::hint::black_box(ping.add(core::hint::black_box(2), 3).ok());
    });
    sys_log!("[bench] idol_add_round_trip {idol_add} instructions baseline=ipc_null_round_trip");

    let mut data = [0u8; 4096];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i * 13) as u8;
    }
    let data = &data;
    let seed = 0x5eed_u64;
    let raw_lease = measure(|| {
        let mut reply = [0u8; 8];
        let (code, _) = sys_send(
            tasks::PONG,
            0,
            &seed.to_le_bytes(),
            &mut reply,
            &[lease_read(data)],
        );
        core::hint::black_box((code, reply));
    });
    sys_log!("[bench] raw_send_8b_4k_lease {raw_lease} instructions baseline=ipc_null_round_trip");

    let local = measure(|| {
        core::hint::black_box(ping_api::checksum_update(
            core::hint::black_box(seed),
            core::hint::black_box(data),
        ));
    });
    sys_log!("[bench] checksum_fold_4k_local {local} instructions");

    // The figure is only worth printing if the server computed the right
    // thing: a wrong answer panics, and the missing `[test] done` fails the
    // run.
    assert_eq!(
        ping.checksum(seed, data),
        Ok(ping_api::checksum_update(seed, data))
    );
    let idol_checksum = measure(|| {
        core::hint::black_box(ping.checksum(core::hint::black_box(seed), data).ok());
    });
    sys_log!(
        "[bench] idol_checksum_8b_4k_round_trip {idol_checksum} instructions baseline=raw_send_8b_4k_lease"
    );

    sys_log!("[test] done");
    let _ = SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR).shutdown(0);
    loop {
        sys_recv_notification(0);
    }
}
