//! Client of the default image: sends "ping" to pong once a second and logs
//! what came back with the round trip in timer ticks. A DEAD reply (pong
//! restarted) is logged and the task id refreshed.

#![no_std]
#![no_main]

use userlib::{sleep_ms, sys_get_timer, sys_log, sys_send, tasks};

const TIMER_BIT: u32 = 1 << 0;

#[export_name = "main"]
fn main() -> ! {
    let mut pong = tasks::PONG;
    let mut reply = [0u8; 8];
    for round in 1u32.. {
        let t0 = sys_get_timer().now;
        let (code, len) = sys_send(pong, 0, b"ping", &mut reply, &[]);
        let t1 = sys_get_timer().now;
        if let Some(g) = abi::dead_generation(code) {
            sys_log!("pong restarted (generation {})", g.0);
            pong = abi::TaskId::new(pong.index() as u16, g);
        } else if round <= 3 || round % 10 == 0 {
            let text = core::str::from_utf8(&reply[..len]).unwrap_or("?");
            sys_log!("round {round}: pong said '{text}' in {} ticks", t1 - t0);
        }
        sleep_ms(1000, TIMER_BIT);
    }
    loop {}
}
