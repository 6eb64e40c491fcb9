//! The IRQ-to-task benchmark, in two tasks built from this crate:
//!
//! - the *sink* (default): owns the UART's interrupt (PLIC source 10, its
//!   first notification bit) and waits in `recv` for it, as a driver waits
//!   for its device; when the notification arrives it reads the
//!   retired-instruction counter at once. A call from the trigger collects
//!   that reading and unmasks the interrupt for the next round, as a driver
//!   does with `irq_control` after each one. A call with no interrupt since
//!   the last one gets code 1, never a stale reading.
//! - the *trigger* (feature `trigger`): holds the UART window, and for each
//!   round reads the counter, enables the transmitter-empty interrupt (the
//!   transmit register is empty, so the UART raises its interrupt at once),
//!   disables it again, and collects the sink's reading. It prints
//!   `irq_to_task` (averaged over the rounds) and then waits for good. It
//!   is more important than `kernel-bench`, so it runs first, and it keeps
//!   the UART window out of the bench task's regions (whose PMP entries
//!   the IPC figures would otherwise pay for).
//!
//! It must never print a figure it did not measure: a missing interrupt or
//! a stale reading panics (and the run then fails).

#![no_std]
#![no_main]

/// The `uart` notification of the sink: bit 0.
#[cfg(not(feature = "trigger"))]
const UART_IRQ: u32 = 1 << 0;

#[cfg(not(feature = "trigger"))]
#[export_name = "main"]
fn main() -> ! {
    use userlib::{instret, sys_irq_control, sys_recv, sys_reply};
    sys_irq_control(UART_IRQ, true);
    let mut taken: Option<u64> = None;
    let mut buf = [0u8; 1];
    loop {
        let msg = sys_recv(&mut buf, UART_IRQ, None);
        if msg.is_notification() {
            let now = instret();
            if msg.operation & UART_IRQ != 0 {
                taken = Some(now);
            }
            continue;
        }
        match taken.take() {
            Some(t) => {
                sys_irq_control(UART_IRQ, true);
                sys_reply(msg.sender, 0, &t.to_le_bytes());
            }
            None => sys_reply(msg.sender, 1, &[]),
        }
    }
}

/// The UART's interrupt enable register (16550 `IER`, DLAB clear), in the
/// window app.toml gives the trigger.
#[cfg(feature = "trigger")]
const UART_IER: usize = 0x1000_0001;
/// `IER` bit 1: interrupt while the transmit holding register is empty.
#[cfg(feature = "trigger")]
const IER_THRE: u8 = 1 << 1;
/// Rounds averaged.
#[cfg(feature = "trigger")]
const ROUNDS: u64 = 1000;

#[cfg(feature = "trigger")]
#[export_name = "main"]
fn main() -> ! {
    use userlib::{instret, sys_log, sys_recv_notification, sys_send, tasks};
    let mut total = 0;
    for round in 0..ROUNDS {
        let t0 = instret();
        // SAFETY: UART_IER is a register of the UART window this task is
        // granted; the interrupt it raises goes to the sink, which runs
        // before the next store (it is more important than this task).
        unsafe {
            core::ptr::write_volatile(UART_IER as *mut u8, IER_THRE);
            core::ptr::write_volatile(UART_IER as *mut u8, 0);
        }
        let mut reply = [0u8; 8];
        let (code, _) = sys_send(tasks::BENCH_IRQ, 0, &[], &mut reply, &[]);
        assert_eq!(
            code, 0,
            "round {round}: the interrupt never reached the sink"
        );
        let t1 = u64::from_le_bytes(reply);
        assert!(t1 > t0, "round {round}: stale reading");
        total += t1 - t0;
    }
    let irq = total / ROUNDS;
    // The scale images name their figures after their task count and set
    // them against the 8-task image's.
    let n = tasks::RESTART.len();
    if cfg!(feature = "scale") {
        let base = if n == 8 {
            ""
        } else {
            " baseline=irq_to_task_8_tasks"
        };
        sys_log!("[bench] irq_to_task_{n}_tasks {irq} instructions{base}");
    } else {
        sys_log!("[bench] irq_to_task {irq} instructions baseline=ipc_null_round_trip");
    }
    loop {
        sys_recv_notification(0);
    }
}
