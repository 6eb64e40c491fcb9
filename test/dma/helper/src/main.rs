//! The DMA suite's accomplice (`test/dma.toml`): armed by a post from the
//! suite, it watches the suite through the supervisor and, the moment the
//! kernel shows it blocked calling the disk driver `blk0` (a zero-copy read
//! of 64 KiB in flight), faults `blk0` — the driver dies with the client's
//! lease on its device. What the suite then sees (DEAD only after the
//! device is quiet, a buffer that never changes afterwards) is the test.
//!
//! It must never be part of a real image: it faults drivers on purpose.

#![no_std]
#![no_main]

use abi::TaskState;
use idol_runtime::UserlibIpc;
use supervisor_api::SupervisorClient;
use userlib::{sys_log, sys_recv_notification, tasks};

/// Posted by the suite: watch for the next call.
const ARM_BIT: u32 = 1 << 0;

#[export_name = "main"]
fn main() -> ! {
    let sup = SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR);
    let suite = tasks::SUITE.index() as u32;
    let blk0 = tasks::BLK0.index() as u32;
    loop {
        sys_recv_notification(ARM_BIT);
        // The suite posts, then sends its read: wait until the kernel shows
        // it blocked calling blk0 (the read is on the device then, or about
        // to be), for at most ~100k polls.
        let mut struck = false;
        for _ in 0..100_000 {
            match sup.task_status(suite) {
                Ok(st)
                    if st.calling == blk0
                        && matches!(
                            TaskState::from_u32(st.state),
                            Some(TaskState::InSend | TaskState::InReply)
                        ) =>
                {
                    if let Err(e) = sup.fault_task(blk0) {
                        sys_log!("dma helper: fault_task(blk0) refused: {e:?}");
                    }
                    struck = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    sys_log!("dma helper: task_status failed: {e:?}");
                    break;
                }
            }
        }
        if !struck {
            sys_log!("dma helper: the suite never blocked on blk0");
        }
    }
}
