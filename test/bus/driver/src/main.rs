//! A fake virtio driver for the bus tests. It follows the driver side of the
//! bus protocol exactly as a real driver does — register, wait for the
//! probe bit when no device is free, answer a remove request with
//! `removed` — but drives nothing: it only counts what happened, for the
//! bus test suite to check. It must never be part of a real image.

#![no_std]
#![no_main]

use idol_runtime::{Deferred, NotificationHandler, RequestError, Served, TaskId, UserlibIpc};
use userlib::{sys_log, tasks};
use virtio_bus_api::{slot_base, VirtioBusClient};

// `bus_test_driver_reply_hold` is never called: `hold` is never answered,
// by design.
#[allow(dead_code)]
mod server {
    include!(concat!(env!("OUT_DIR"), "/bus_test_driver_server.rs"));
}

use server::BusTestDriverServer;

/// The virtio entropy device id: what the fake driver claims to drive.
const ENTROPY: u32 = 4;
const IRQ_BIT: u32 = 1 << 0;
const REMOVE_BIT: u32 = 1 << 1;
const PROBE_BIT: u32 = 1 << 2;

struct Driver {
    bus: VirtioBusClient<UserlibIpc>,
    slot: Option<u32>,
    last_slot: Option<u32>,
    probes: u32,
    removals: u32,
    /// Set by `flood`: after answering, call the bus for good.
    flooding: bool,
}

impl Driver {
    /// The seed's `register_virtio_driver`, and the probe when it matches.
    fn register(&mut self) {
        match self
            .bus
            .probe([ENTROPY, 0, 0, 0], IRQ_BIT, REMOVE_BIT, PROBE_BIT)
        {
            Ok(Some(probe)) => {
                self.slot = Some(probe.slot);
                self.last_slot = Some(probe.slot);
                self.probes += 1;
                sys_log!("probed: slot {} (device {})", probe.slot, probe.device_id);
            }
            Ok(None) => sys_log!("no free device; waiting"),
            Err(e) => sys_log!("register failed: {e:?}"),
        }
    }
}

impl NotificationHandler for Driver {
    fn notification_mask(&self) -> u32 {
        REMOVE_BIT | PROBE_BIT | IRQ_BIT
    }

    fn handle_notification(&mut self, bits: u32) {
        if bits & REMOVE_BIT != 0 && self.slot.is_some() {
            // A real driver fails in-flight requests and resets its device
            // here; the fake one has neither.
            match self.bus.removed() {
                Ok(()) => {
                    self.slot = None;
                    self.removals += 1;
                }
                Err(e) => sys_log!("removed failed: {e:?}"),
            }
        }
        if bits & PROBE_BIT != 0 && self.slot.is_none() {
            self.register();
        }
    }
}

impl BusTestDriverServer for Driver {
    fn slot(&mut self, _: TaskId) -> Served<u32> {
        Ok(self.slot.unwrap_or(u32::MAX))
    }

    fn probes(&mut self, _: TaskId) -> Served<u32> {
        Ok(self.probes)
    }

    fn removals(&mut self, _: TaskId) -> Served<u32> {
        Ok(self.removals)
    }

    fn release(&mut self, _: TaskId) -> Served<u32> {
        Ok(match self.bus.removed() {
            Ok(()) => 0,
            Err(RequestError::Server(e)) => e as u32,
            Err(_) => u32::MAX,
        })
    }

    fn hold(&mut self, caller: TaskId) -> Served<Deferred<()>> {
        sys_log!("holding the call of task {}", caller.index());
        Ok(Deferred::Later)
    }

    fn flood(&mut self, _: TaskId) -> Served<()> {
        self.flooding = true;
        Ok(())
    }

    fn touch(&mut self, _: TaskId) -> Served<u32> {
        let Some(slot) = self.last_slot else {
            return Ok(0);
        };
        // SAFETY: a 32-bit read of the MagicValue register of the slot's
        // window. If the bus revoked the window the PMP refuses the load and
        // the kernel faults this task: that is what the test checks.
        Ok(unsafe { core::ptr::read_volatile(slot_base(slot) as *const u32) })
    }
}

#[export_name = "main"]
fn main() -> ! {
    let mut d = Driver {
        bus: VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR),
        slot: None,
        last_slot: None,
        probes: 0,
        removals: 0,
        flooding: false,
    };
    d.register();
    let mut buffer = [0u8; server::BUS_TEST_DRIVER_BUFFER_SIZE];
    loop {
        server::bus_test_driver_serve_once(&mut d, &UserlibIpc, &mut buffer);
        if d.flooding {
            sys_log!("flooding the bus");
            loop {
                let _ = d.bus.devices();
            }
        }
    }
}
