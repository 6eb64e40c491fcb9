//! The virtio-blk driver task: one instance per disk (`blk0`, `blk1`, …
//! in app.toml, all this crate), each serving `idl/block.idol` for the
//! device the bus supervisor binds to it.
//!
//! Everything but the syscalls is the `virtio_blk` library; this file
//! connects it to the kernel: the bus client, the device window, the IRQ
//! and log lines. It must never touch a device window it was not granted
//! (it only does so between a successful `register` and `removed`), and
//! never DMA into a client's memory (the library's bounce buffers).
//!
//! app.toml: `notifications = ["irq", "remove", "probe"]` (bits 0, 1, 2),
//! `slots = ["supervisor"]`, more important than its clients.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod task {
    use idol_runtime::{RequestError, UserlibIpc};
    use userlib::{sys_irq_control, sys_log, tasks};
    use virtio::regs::Mmio;
    use virtio_blk::{
        BlockDriver, DmaMemory, Event, Platform, BLOCK_BUFFER_SIZE, ID_TABLE, IRQ_BIT, PROBE_BIT,
        REMOVE_BIT,
    };
    use virtio_bus_api::{slot_base, BusError, Probe, VirtioBusClient};

    /// The device may DMA here, and nowhere else.
    static mut DMA: DmaMemory = DmaMemory::new();

    /// The bus supervisor, the granted window and the IRQ.
    struct Task {
        bus: VirtioBusClient<UserlibIpc>,
    }

    impl Platform for Task {
        type Regs = Mmio;

        fn register(&mut self) -> Option<Probe> {
            match self.bus.register(ID_TABLE, IRQ_BIT, REMOVE_BIT, PROBE_BIT) {
                Ok(probe) => Some(probe),
                Err(RequestError::Server(BusError::NoDevice)) => None,
                Err(e) => {
                    sys_log!("blk: register refused: {e:?}");
                    None
                }
            }
        }

        fn regs(&mut self, probe: &Probe) -> Mmio {
            // SAFETY: the bus granted this task the window of `probe.slot`
            // (its `register` succeeded) and keeps it ours until we call
            // `removed`; the driver makes one `Mmio` per probe and drops it
            // with the device.
            unsafe { Mmio::new(slot_base(probe.slot)) }
        }

        fn removed(&mut self) {
            if let Err(e) = self.bus.removed() {
                sys_log!("blk: removed refused: {e:?}");
            }
        }

        fn enable_irq(&mut self) {
            sys_irq_control(IRQ_BIT, true);
        }

        fn event(&mut self, event: Event) {
            match event {
                Event::Probed {
                    slot,
                    capacity,
                    version,
                } => sys_log!("blk: slot {slot}: {capacity} sectors, transport v{version}"),
                Event::ProbeFailed(e) => sys_log!("blk: probe failed: {e:?}"),
                Event::DeviceFault(e) => {
                    sys_log!("blk: device broke the queue protocol ({e}); reset and re-init")
                }
                Event::Removed { in_flight } => {
                    sys_log!("blk: removed; {in_flight} request(s) failed with Removed")
                }
            }
        }
    }

    #[export_name = "main"]
    fn main() -> ! {
        // SAFETY: the only reference ever made to DMA, taken once here.
        let memory = unsafe { &mut *core::ptr::addr_of_mut!(DMA) };
        let bus = VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR);
        let mut driver = BlockDriver::new(UserlibIpc, Task { bus }, memory);
        driver.start();
        let mut buffer = [0u8; BLOCK_BUFFER_SIZE];
        loop {
            driver.serve_once(&mut buffer);
        }
    }
}

/// On the host this crate is its library; the task only runs on Vireo.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("virtio-blk is a Vireo task: build it into an image with `cargo xtask build`");
}
