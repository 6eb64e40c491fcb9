//! The idle task: the least important task, whose only job is to get out
//! of the way.
//!
//! It blocks for good in a receive that nothing can satisfy (no sender, an
//! empty notification mask). With every task blocked the kernel waits for
//! the next interrupt with `wfi` in M-mode — which a U-mode task may not
//! execute on this machine — so an idle system burns no host CPU and
//! retired-instruction counts measure work, not waiting.

#![no_std]
#![no_main]

#[export_name = "main"]
fn main() -> ! {
    loop {
        userlib::sys_recv_notification(0);
    }
}
