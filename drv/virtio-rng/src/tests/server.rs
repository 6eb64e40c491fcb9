//! The entropy server through IPC: fills answered with the device's bytes,
//! every error a client can be given, and the driver's life with the bus
//! (register, remove, re-register), against the device model and the mock
//! kernel.

use std::cell::RefCell;
use std::rc::Rc;

use abi::{Generation, TaskId, LEASE_READ, LEASE_WRITE};
use entropy_api::{EntropyError, EntropyOp};
use idol_runtime::mock::{MockKernel, MockLease, Outcome};
use idol_runtime::ReplyFaultReason;
use virtio::queue::QueueMemory;
use virtio_bus_api::Probe;

use super::model::{self, arena, Device};
use super::{memory, rng_device, Act, ModelWait, B, N};
use crate::device::{DeviceFault, ProbeError};
use crate::server::{
    entropy_serve_once, EntropyDriver, Platform, ServerEvent, ENTROPY_BUFFER_SIZE, IRQ_BIT,
    PROBE_BIT, REMOVE_BIT,
};

const DRIVER: TaskId = TaskId::new(5, Generation(0));
const CLIENT: TaskId = TaskId::new(9, Generation(0));
const SLOT: u32 = 3;

/// The bus, the IRQ and the waits, as the driver sees them in a test.
struct FakeBus {
    dev: Rc<RefCell<Device>>,
    /// Whether `register` binds the device.
    available: bool,
    /// What the device does at each wait of the next fills.
    acts: Vec<Act>,
    registers: u32,
    removed: u32,
    irq_enables: u32,
    disarms: u32,
    events: Vec<ServerEvent>,
    failed: Vec<u32>,
}

impl Platform<N> for FakeBus {
    type Regs = model::Regs;
    type Wait = ModelWait;

    fn register(&mut self) -> Option<Probe> {
        self.registers += 1;
        self.available.then(|| Probe {
            slot: SLOT,
            ..Probe::default()
        })
    }

    fn regs(&mut self, slot: u32) -> model::Regs {
        assert_eq!(slot, SLOT, "only the bound slot's window");
        model::Regs(self.dev.clone())
    }

    fn ring(&mut self) -> &'static mut QueueMemory<N> {
        let ring: &'static mut QueueMemory<N> = arena::leak_zeroed();
        self.dev.borrow_mut().mem.register(
            std::ptr::from_ref(ring).addr() as u64,
            std::mem::size_of::<QueueMemory<N>>(),
        );
        ring
    }

    fn removed(&mut self) {
        self.removed += 1;
        self.available = false;
    }

    fn enable_irq(&mut self) {
        self.irq_enables += 1;
    }

    fn waiter(&mut self, _timeout_ms: u64) -> ModelWait {
        ModelWait::new(&self.dev, &self.acts)
    }

    fn disarm(&mut self) {
        self.disarms += 1;
    }

    fn event(&mut self, event: ServerEvent) {
        self.events.push(event);
    }

    fn device_failed(&mut self, slot: u32) {
        self.failed.push(slot);
    }
}

/// A driver on the model device and the mock kernel its client calls.
struct Rig {
    kernel: &'static MockKernel,
    dev: Rc<RefCell<Device>>,
    driver: EntropyDriver<FakeBus, N, B>,
    buffer: [u8; ENTROPY_BUFFER_SIZE],
}

impl Rig {
    fn new(version: u32, available: bool) -> Rig {
        let dev = rng_device(version);
        let (_, bounce) = memory(&dev);
        let kernel: &'static MockKernel = Box::leak(Box::new(MockKernel::new(DRIVER)));
        let bus = FakeBus {
            dev: dev.clone(),
            available,
            acts: vec![Act::Serve],
            registers: 0,
            removed: 0,
            irq_enables: 0,
            disarms: 0,
            events: Vec::new(),
            failed: Vec::new(),
        };
        let mut driver = EntropyDriver::new(bus, bounce, 1000);
        driver.register();
        Rig {
            kernel,
            dev,
            driver,
            buffer: [0; ENTROPY_BUFFER_SIZE],
        }
    }

    fn bus(&mut self) -> &mut FakeBus {
        self.driver.platform()
    }

    /// One turn of the driver's loop.
    fn turn(&mut self) {
        entropy_serve_once(&mut self.driver, self.kernel, &mut self.buffer);
    }

    /// A fill of `len` bytes into a lease with `attributes`: the outcome,
    /// and the lease as the driver left it.
    fn fill_with(&mut self, len: usize, attributes: u32) -> (Option<Outcome>, Vec<u8>) {
        self.kernel.queue_message(
            CLIENT,
            EntropyOp::Fill as u32,
            &[],
            0,
            vec![MockLease {
                attributes,
                data: vec![0; len],
            }],
        );
        self.turn();
        let d = self
            .kernel
            .take_answer(CLIENT)
            .expect("the client is answered");
        (d.outcome, d.leases[0].data.clone())
    }

    /// A fill of `len` bytes: the bytes, or the error.
    fn fill(&mut self, len: usize) -> Result<Vec<u8>, EntropyError> {
        match self.fill_with(len, LEASE_WRITE) {
            (Some(Outcome::Reply { code: 0, .. }), bytes) => Ok(bytes),
            (Some(Outcome::Reply { code, .. }), _) => Err([
                EntropyError::DeviceError,
                EntropyError::TimedOut,
                EntropyError::Removed,
                EntropyError::NoDevice,
            ]
            .into_iter()
            .find(|e| *e as u32 == code)
            .unwrap_or_else(|| panic!("unknown code {code}"))),
            (other, _) => panic!("not a reply: {other:?}"),
        }
    }

    /// Delivers notification bits.
    fn notify(&mut self, bits: u32) {
        self.kernel.post(bits);
        self.turn();
    }
}

#[test]
fn fills_of_every_length_arrive_in_the_clients_lease_on_both_transports() {
    for version in [1, 2] {
        let mut rig = Rig::new(version, true);
        assert!(rig.driver.is_up());
        assert_eq!(rig.bus().events, [ServerEvent::Up { slot: SLOT }]);
        let mut previous = Vec::new();
        for len in [1usize, 16, B - 1, B, B + 1, 3 * B + 5] {
            let bytes = rig.fill(len).expect("fill");
            assert_eq!(bytes.len(), len);
            if len >= 16 {
                assert!(bytes.iter().any(|&b| b != 0), "{len}: the device's bytes");
                assert_ne!(bytes[..16], previous[..previous.len().min(16)]);
            }
            previous = bytes;
        }
        // Every fill disarmed its deadline afterwards.
        assert_eq!(rig.bus().disarms, 6);
    }
}

#[test]
fn without_a_device_fills_get_no_device_until_a_probe_bit_brings_one() {
    let mut rig = Rig::new(2, false);
    assert_eq!(rig.driver.slot(), None);
    assert_eq!(rig.fill(8), Err(EntropyError::NoDevice));
    // A device is free: the probe bit makes the driver register again.
    rig.bus().available = true;
    rig.notify(PROBE_BIT);
    assert_eq!(rig.bus().registers, 2);
    assert_eq!(rig.driver.slot(), Some(SLOT));
    assert_eq!(rig.fill(8).map(|b| b.len()), Ok(8));
    // Bound already: another probe bit does not register twice.
    rig.notify(PROBE_BIT);
    assert_eq!(rig.bus().registers, 2);
}

#[test]
fn a_remove_resets_the_device_tells_the_bus_and_fills_get_no_device() {
    let mut rig = Rig::new(2, true);
    rig.notify(REMOVE_BIT);
    assert_eq!(rig.bus().removed, 1);
    assert_eq!(rig.driver.slot(), None);
    assert_eq!(rig.dev.borrow().status(), 0, "device reset");
    assert_eq!(rig.fill(8), Err(EntropyError::NoDevice));
    // A second remove with nothing bound tells the bus nothing.
    rig.notify(REMOVE_BIT);
    assert_eq!(rig.bus().removed, 1);
}

#[test]
fn a_remove_during_a_fill_answers_removed_and_lets_the_device_go() {
    let mut rig = Rig::new(2, true);
    rig.bus().acts = vec![Act::Remove];
    assert_eq!(rig.fill(64), Err(EntropyError::Removed));
    assert_eq!(rig.bus().removed, 1);
    assert_eq!(rig.driver.slot(), None);
    assert_eq!(rig.dev.borrow().status(), 0);
}

#[test]
fn a_silent_device_fails_the_fill_is_reset_and_serves_the_next() {
    let mut rig = Rig::new(1, true);
    rig.bus().acts = vec![Act::Silent];
    // A slow source is no broken one: QEMU's rng with `max-bytes=16,
    // period=3000` gave `rng 64` 16 bytes and then nothing for 3 s, and the
    // shell said "the device misbehaved and was reset". The client is told
    // the deadline passed.
    assert_eq!(rig.fill(64), Err(EntropyError::TimedOut));
    assert_eq!(rig.driver.recoveries(), 1);
    assert_eq!(
        rig.bus().events.last(),
        Some(&ServerEvent::DeviceFault {
            slot: SLOT,
            fault: DeviceFault::Timeout
        })
    );
    assert_eq!(rig.dev.borrow().status(), 0, "reset");
    rig.bus().acts = vec![Act::Serve];
    assert_eq!(rig.fill(64).map(|b| b.len()), Ok(64));
    assert!(rig.bus().failed.is_empty());
}

#[test]
fn a_device_that_does_not_finish_its_reset_is_given_up() {
    let mut rig = Rig::new(2, true);
    rig.dev.borrow_mut().reset_delay = u32::MAX;
    rig.bus().acts = vec![Act::Silent];
    assert_eq!(rig.fill(64), Err(EntropyError::DeviceError));
    assert_eq!(rig.bus().failed, [SLOT], "the task is told to stop");
}

#[test]
fn a_lease_the_driver_may_not_write_faults_the_client_and_spares_the_device() {
    let mut rig = Rig::new(2, true);
    let (outcome, _) = rig.fill_with(8, LEASE_READ);
    assert_eq!(
        outcome,
        Some(Outcome::Fault(ReplyFaultReason::BadLeaseAttributes))
    );
    assert!(rig.dev.borrow().notifications.is_empty(), "no request");
}

/// A fill is at most 8 KiB (`idl/entropy.idol`): one call could keep the
/// driver busy past the watchdog on a slow device, and get it restarted
/// under its other clients (a red team's 256 KiB fill, on a device
/// limited to 32 KiB/s, restarted rng0 twice). Refused, the device never
/// sees it; 8 KiB is served.
#[test]
fn a_fill_over_8_kib_is_refused_and_spares_the_device() {
    let mut rig = Rig::new(2, true);
    let (outcome, _) = rig.fill_with(8193, LEASE_WRITE);
    assert_eq!(outcome, Some(Outcome::Fault(ReplyFaultReason::BadLeases)));
    assert!(rig.dev.borrow().notifications.is_empty(), "no request");
    assert_eq!(rig.fill(8192).map(|b| b.len()), Ok(8192));
}

#[test]
fn interrupts_are_unmasked_and_an_unasked_completion_is_a_fault() {
    let mut rig = Rig::new(2, true);
    rig.notify(IRQ_BIT);
    assert_eq!(rig.bus().irq_enables, 1);
    assert_eq!(rig.driver.recoveries(), 0);
    rig.dev.borrow_mut().forge_used(0, 0, 0);
    rig.notify(IRQ_BIT);
    assert_eq!(rig.bus().irq_enables, 2);
    assert_eq!(rig.driver.recoveries(), 1);
    assert!(matches!(
        rig.bus().events.last(),
        Some(ServerEvent::DeviceFault {
            fault: DeviceFault::Queue(_),
            ..
        })
    ));
}

#[test]
fn a_failed_probe_is_reported_and_retried_at_the_next_fill() {
    let mut rig = Rig::new(2, false);
    rig.dev.borrow_mut().needs_reset_on_driver_ok = true;
    rig.bus().available = true;
    rig.notify(PROBE_BIT);
    assert_eq!(rig.driver.slot(), Some(SLOT));
    assert!(!rig.driver.is_up());
    assert_eq!(
        rig.bus().events,
        [ServerEvent::ProbeFailed {
            slot: SLOT,
            error: ProbeError::Virtio(virtio::Error::DeviceNeedsReset)
        }]
    );
    assert_eq!(rig.fill(8), Err(EntropyError::DeviceError));
    rig.dev.borrow_mut().needs_reset_on_driver_ok = false;
    assert_eq!(rig.fill(8).map(|b| b.len()), Ok(8));
    assert!(rig.driver.is_up());
}
