//! The virtio-blk driver task: one instance per disk (`blk0`, `blk1`, …
//! in app.toml, all this crate), each serving `idl/block.idol` for the
//! device the bus supervisor binds to it.
//!
//! Everything but the syscalls is the `virtio_blk` library; this file
//! connects it to the kernel: the bus client, the device window, the IRQ
//! and log lines. It must never touch a device window it was not granted
//! (it only does so between a successful `register` and `removed`), and
//! its device reaches a client's memory only through the kernel's gate
//! (`virtio::KernelGate`: a lease of the call being served, pinned).
//!
//! app.toml: `notifications = ["irq", "remove", "probe", "timer"]` (bits 0–3),
//! `slots = ["supervisor"]`, more important than its clients.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod task {
    use idol_runtime::{HeldReply, UserlibIpc};
    use userlib::{sys_irq_control, sys_log, sys_set_timer, tasks, timer_now};
    use virtio::regs::Mmio;
    use virtio_blk::{
        BlockDriver, DmaMemory, Event, LazyTimer, Platform, BLOCK_BUFFER_SIZE, ID_TABLE, IRQ_BIT,
        PROBE_BIT, REMOVE_BIT, REQUEST_DEADLINE_MS, TIMER_BIT,
    };
    use virtio_bus_api::{slot_base, Probe, VirtioBusClient};

    /// The request deadline from app.toml (`deadline-ms`).
    const DEADLINE_MS: u64 =
        userlib::config::ms(option_env!("VIREO_DEADLINE_MS"), REQUEST_DEADLINE_MS);

    /// The device may DMA here, and nowhere else.
    static mut DMA: DmaMemory = DmaMemory::new();

    /// The driver's IPC: a reply goes out with the next receive (one
    /// `reply_recv`), or first when the driver sends anything else.
    type Ipc<'a> = &'a HeldReply<UserlibIpc>;

    /// The bus supervisor, the granted window, the IRQ and the timer.
    struct Task<'a> {
        /// Through the driver's own `Ipc`, so that a send to the bus
        /// sends a held reply first.
        bus: VirtioBusClient<Ipc<'a>>,
        timer: LazyTimer,
    }

    impl Platform for Task<'_> {
        type Regs = Mmio;

        fn register(&mut self) -> Option<Probe> {
            let refused = |e| sys_log!("blk: register refused: {e:?}");
            self.bus
                .probe_or_wait(ID_TABLE, IRQ_BIT, REMOVE_BIT, PROBE_BIT, refused)
        }

        fn regs(&mut self, probe: &Probe) -> Mmio {
            // SAFETY: the bus granted this task the window of `probe.slot`
            // (its `register` succeeded) and keeps it ours until we call
            // `removed`; the driver makes one `Mmio` per probe and drops it
            // with the device.
            unsafe { Mmio::new(slot_base(probe.slot)) }
        }

        fn dma_gate(&self) -> Option<&'static dyn virtio::DmaGate> {
            Some(&virtio::KernelGate)
        }

        fn removed(&mut self) {
            if let Err(e) = self.bus.removed() {
                sys_log!("blk: removed refused: {e:?}");
            }
        }

        // Only test images stop here for now: with this panic in the
        // shell image, test/shell.toml's `restart blk0` step hangs the
        // machine one run in three though the panic never fires (reported
        // on issue 9; not understood yet), so images without fault
        // injection keep the old recovery (reset and carry on).
        #[cfg(feature = "fault-injection")]
        fn corrupt(&mut self, why: virtio_blk::Corrupt) {
            panic!("blk: {}", why.describe());
        }

        fn enable_irq(&mut self) {
            sys_irq_control(IRQ_BIT, true);
        }

        fn now(&mut self) -> u64 {
            // Read on every request: the counter, not a syscall, and no
            // conversion (the driver keeps its deadlines in ticks).
            timer_now()
        }

        fn ticks_per_ms(&self) -> u64 {
            userlib::abi::TICKS_PER_MS
        }

        fn request_deadline_ms(&self) -> u64 {
            DEADLINE_MS
        }

        fn set_timer(&mut self, deadline: Option<u64>) {
            // Most requests move the deadline without reprogramming.
            if let Some(at) = self.timer.want(deadline) {
                sys_set_timer(Some(at), TIMER_BIT);
            }
        }

        fn timer_fired(&mut self) {
            self.timer.fired();
        }

        fn device_failed(&mut self) {
            // Every caller has been answered. The device may still write
            // our memory: end this incarnation so that the supervisor takes
            // the device away (and, if it cannot reset it either, marks its
            // slot failed).
            panic!("blk: giving up a device that does not reset");
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
                Event::Timeout => sys_log!(
                    "blk: a request outlived its {DEADLINE_MS} ms deadline; reset and re-init"
                ),
                Event::NeedsReset => {
                    sys_log!("blk: device set DEVICE_NEEDS_RESET; reset and re-init")
                }
                Event::OutOfStep => sys_log!(
                    "blk: the device holds descriptors the queue counts as free (a chain refused: DMA_PINNED); reset and re-init"
                ),
                Event::Resized { capacity } => sys_log!("blk: disk resized to {capacity} sectors"),
                Event::ResetFailed => sys_log!("blk: device did not finish its reset"),
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
        let ipc = HeldReply::new(UserlibIpc);
        let ipc: Ipc = &ipc;
        let bus = VirtioBusClient::new(ipc, tasks::SUPERVISOR);
        let timer = LazyTimer::default();
        let mut driver = BlockDriver::new(ipc, Task { bus, timer }, memory);
        driver.start();
        let mut buffer = [0u8; RECV_BUFFER];
        loop {
            #[cfg(not(feature = "fault-injection"))]
            driver.serve_once(&mut buffer);
            #[cfg(feature = "fault-injection")]
            {
                // While the driver waits for its device it takes
                // notifications only (`accepts_requests`).
                let from = (!driver.accepts_requests()).then_some(idol_runtime::TaskId::KERNEL);
                let mask = driver.mask();
                fault_inject::serve::serve_once(
                    &mut driver,
                    ipc,
                    &mut buffer,
                    mask,
                    from,
                    |d, buffer, msg| d.handle(buffer, msg),
                );
            }
        }
    }

    /// The receive buffer: a request of `idl/block.idol`, or in a test
    /// image one of `idl/fault-inject.idol`.
    #[cfg(not(feature = "fault-injection"))]
    const RECV_BUFFER: usize = BLOCK_BUFFER_SIZE;
    #[cfg(feature = "fault-injection")]
    const RECV_BUFFER: usize = fault_inject::serve::buffer_size(BLOCK_BUFFER_SIZE);
}

userlib::task_crate!();
