//! The kernel stack guard test (`test/kstack.toml`). It asks the
//! supervisor to inject `KernelStackOverflow` (a test kernel recurses until
//! its stack overflows). The image passes only if the kernel then stops
//! with "kernel stack overflow" (`test.kernel-panic`): no task runs again,
//! and kernel text is never overwritten. If the injection returns at all,
//! the guard failed and the case says so.

#![no_std]
#![no_main]

use idol_runtime::UserlibIpc;
use supervisor_api::SupervisorClient;
use userlib::{sys_log, tasks};

#[export_name = "main"]
fn main() -> ! {
    let sup = SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR);
    sys_log!("overflowing the kernel stack; the kernel must stop with `kernel stack overflow`");
    let r = sup.inject(
        tasks::SUITE.index() as u32,
        abi::Injection::KernelStackOverflow as u32,
        0,
    );
    sys_log!("[test] case kernel_stack_guard_stops_the_machine ... FAIL: the kernel survived its own stack overflow (inject gave {r:?})");
    test_harness::finish(1)
}
