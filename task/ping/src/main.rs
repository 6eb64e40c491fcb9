//! Client of the default image: once a second it calls the Ping server
//! (`task-ping-server`) through the `PingClient` generated from
//! `idl/ping.idol`, and logs the answer with the round trip in timer ticks.
//! When the server restarts the stub refreshes its id: `add` is idempotent
//! and is retried on the new incarnation, `status` reports
//! `ServerRestarted`, which is logged.
//!
//! It must never pack a message by hand: every call goes through the
//! generated client.

#![no_std]
#![no_main]

use idol_runtime::UserlibIpc;
use ping_api::{PingClient, PingStatus};
use userlib::{sleep_ms, sys_get_timer, sys_log, tasks};

const TIMER_BIT: u32 = 1 << 0;

#[export_name = "main"]
fn main() -> ! {
    let ping = PingClient::new(UserlibIpc, tasks::PING_SERVER);
    let mut round = 0u32;
    loop {
        round = round.wrapping_add(1);
        let t0 = sys_get_timer().now;
        let sum = ping.add(round, 1);
        let t1 = sys_get_timer().now;
        match (sum, ping.status()) {
            (Ok(sum), Ok(PingStatus::Served { requests })) => {
                if round <= 3 || round.is_multiple_of(10) {
                    sys_log!(
                        "round {round}: add({round}, 1) = {sum} in {} ticks; server has served {requests}",
                        t1 - t0
                    );
                }
            }
            // `add` is idempotent, so a restart shows up here, in `status`.
            (_, Err(e)) | (Err(e), _) => sys_log!(
                "round {round}: {e}; server now at generation {}",
                ping.task_id().generation().0
            ),
            (Ok(_), Ok(PingStatus::Idle)) => {
                sys_log!("round {round}: server idle right after an add")
            }
        }
        sleep_ms(1000, TIMER_BIT);
    }
}
