//! Kernel benchmarks, in retired instructions (`minstret`, exact under QEMU's
//! `-icount`): the null syscall is the baseline every IPC figure is set
//! against, measured in the same run. Prints `[bench] <name> <value> <unit>`
//! lines for `cargo xtask bench`, then stops the machine.

#![no_std]
#![no_main]

use supervisor_api::Supervisor;
use userlib::{sys_log, sys_recv_notification, sys_refresh_task_id, sys_send, tasks};

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
    sys_log!("[test] done");
    let _ = Supervisor(tasks::SUPERVISOR).shutdown(0);
    loop {
        sys_recv_notification(0);
    }
}
