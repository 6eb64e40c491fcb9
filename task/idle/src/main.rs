//! The idle task: runs, at the lowest priority, whenever no other task can.
//!
//! It must never block or make a syscall: the scheduler relies on there
//! always being one runnable task.

#![no_std]
#![no_main]

use userlib as _;

#[export_name = "main"]
fn main() -> ! {
    loop {
        // U-mode may not `wfi` on a machine with S-mode, so idle spins.
        core::hint::spin_loop();
    }
}
