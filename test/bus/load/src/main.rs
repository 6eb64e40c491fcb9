//! A second client of the bus test's fake driver `drvb`: it asks for the
//! driver's probe count every millisecond, for ever. While the suite's own
//! call is held, the driver still answers these, so the watchdog's rule
//! for a driver that answers nobody cannot be what restarts it
//! (`an_answering_driver_that_holds_a_caller_is_restarted`). It must
//! never be part of a real image.

#![no_std]
#![no_main]

use idol_runtime::UserlibIpc;
use userlib::{sleep_ms, tasks};

// The load calls one op of the client.
#[allow(dead_code)]
mod driver {
    include!(concat!(env!("OUT_DIR"), "/bus_test_driver_client.rs"));
}

const TIMER_BIT: u32 = 1 << 0;

#[export_name = "main"]
fn main() -> ! {
    let drvb = driver::BusTestDriverClient::new(UserlibIpc, tasks::DRVB);
    loop {
        // A restart of drvb shows here as ServerRestarted: call again.
        let _ = drvb.probes();
        sleep_ms(1, TIMER_BIT);
    }
}
