//! Kernel and IPC benchmarks, in retired instructions (`minstret`, exact
//! under QEMU's `-icount`), each set against its baseline measured in the
//! same run:
//!
//! * `null_syscall`; `ipc_null_round_trip` (raw send to `pong`, no payload).
//! * (`irq_to_task` comes from `kernel-bench-irq`, which runs before this
//!   task: from the store that makes the UART raise its interrupt to the
//!   first instruction of the task that owns it after its `recv` returns.)
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
//! With the `scale` feature (the `bench/scale-*.toml` images, which differ
//! only in how many idle tasks they hold) it measures just the null round
//! trip, named after the image's task count, the larger images against the
//! 8-task one: the kernel's cost must not grow with the number of tasks.
//!
//! With the `breakdown` feature (`bench/breakdown.toml`, whose kernel is
//! built with `bench-probes`) it also prints where the null round trip's
//! kernel instructions go, from the kernel's probe counters.
//!
//! `pong` stays a raw echo server so that the raw figures measure the kernel
//! alone. Prints `[bench] <name> <value> <unit> [baseline=<other>]` lines
//! for `cargo xtask bench`, then stops the machine.

#![no_std]
#![no_main]

use userlib::{instret, sys_log, sys_send, tasks};

const ROUNDS: u32 = 1000;

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

/// One null round trip to `pong`.
fn null_round_trip() {
    let (code, _) = sys_send(tasks::PONG, 0, &[], &mut [], &[]);
    core::hint::black_box(code);
}

#[cfg(feature = "scale")]
fn run() {
    let n = tasks::RESTART.len();
    let rt = measure(null_round_trip);
    let b = if n == 8 {
        ""
    } else {
        " baseline=ipc_null_round_trip_8_tasks"
    };
    sys_log!("[bench] ipc_null_round_trip_{n}_tasks {rt} instructions{b}");
}

#[cfg(not(feature = "scale"))]
fn run() {
    use idol_runtime::UserlibIpc;
    use ping_api::PingClient;
    use userlib::{lease_read, sys_refresh_task_id};

    let null_syscall = measure(|| {
        core::hint::black_box(sys_refresh_task_id(tasks::PONG));
    });
    sys_log!("[bench] null_syscall {null_syscall} instructions");
    let round_trip = measure(null_round_trip);
    sys_log!("[bench] ipc_null_round_trip {round_trip} instructions baseline=null_syscall");
    #[cfg(feature = "breakdown")]
    breakdown::run();

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
}

/// Where the null round trip's kernel instructions go, from the probes of
/// a `bench-probes` kernel: each phase per round trip, against the round
/// trip itself (measured in this image, so with the probes' own cost).
#[cfg(feature = "breakdown")]
mod breakdown {
    use abi::Probe;
    use userlib::{sys_bench_probes, sys_log};

    pub fn run() {
        sys_bench_probes(None);
        for _ in 0..super::ROUNDS {
            super::null_round_trip();
        }
        let mut c = [0u32; abi::PROBES];
        sys_bench_probes(Some(&mut c));
        let per = |p: Probe| c[p as usize] as u64 / super::ROUNDS as u64;
        // Two traps per round trip (send, reply_recv), plus the two probe
        // calls spread over the rounds.
        let traps = c[Probe::Traps as usize] / super::ROUNDS;
        sys_log!("[bench] rt_traps {traps} traps");
        for (name, p) in [
            ("rt_trap_entry_exit", Probe::EntryExit),
            ("rt_dispatch", Probe::Dispatch),
            ("rt_ipc_logic", Probe::Ipc),
            ("rt_message_copy", Probe::Copy),
            ("rt_scheduling", Probe::Schedule),
            ("rt_pmp", Probe::Pmp),
        ] {
            let v = per(p);
            sys_log!("[bench] {name} {v} instructions baseline=ipc_null_round_trip");
        }
        let kernel: u64 = [
            Probe::EntryExit,
            Probe::Dispatch,
            Probe::Ipc,
            Probe::Copy,
            Probe::Schedule,
            Probe::Pmp,
        ]
        .into_iter()
        .map(per)
        .sum();
        sys_log!("[bench] rt_kernel_total {kernel} instructions baseline=ipc_null_round_trip");
    }
}

#[export_name = "main"]
fn main() -> ! {
    run();
    test_harness::finish(0)
}
