//! A task that faults as it starts, every time it is started: a bug that
//! no restart cures. `test/restart.toml` starts it (it is `start = false`)
//! to check that the supervisor slows its restarts instead of spending the
//! machine on them.

#![no_std]
#![no_main]

#[export_name = "main"]
fn main() -> ! {
    userlib::sys_panic(b"faulting as it starts")
}
