//! Host tests of the driver against the virtio core's software device
//! (`drv/virtio/tests/virtio/model`, included by path as the core's fuzz
//! target does): bring-up on both transports, fills of every size, short
//! and empty completions, and a hostile or silent device.
//!
//! The model only lets the device reach memory the test registered — the
//! ring and the bounce buffer — so a driver that handed the device any other
//! address (such as the destination of a fill) fails here.

// The model is the virtio core's test code, held to that crate's lints.
#[allow(clippy::undocumented_unsafe_blocks)]
#[path = "../../virtio/tests/virtio/model/mod.rs"]
mod model;

mod hostile;
mod server;

use std::cell::RefCell;
use std::rc::Rc;

use virtio::queue::QueueMemory;

use crate::device::{DeviceFault, Event, FillError, ProbeError, Rng, Wait};
use crate::fill::{FillFault, EMPTY_LIMIT};
use crate::BounceBuffer;
use model::{arena, Device, Kind, Regs};

const N: usize = 4;
const B: usize = 512;

type TestRng = Rng<'static, Regs, N, B>;

/// What the model device does each time the driver waits.
#[derive(Copy, Clone, Debug)]
enum Act {
    /// Completes everything, writing every byte.
    Serve,
    /// Completes everything, claiming this many bytes written.
    ServeLen(u32),
    /// Does nothing; the deadline passes.
    Silent,
    /// Publishes a used entry for descriptor `id` with `len`.
    Forge(u32, u32),
    /// The bus asks for the device back.
    Remove,
    /// The device sets DEVICE_NEEDS_RESET and raises a configuration change.
    NeedsReset,
}

struct ModelWait {
    dev: Rc<RefCell<Device>>,
    acts: Vec<Act>,
    /// Device requests made.
    requests: usize,
    waits: usize,
    unmasks: usize,
    /// Model time: one tick per wait. With `Some(n)`, a wait more than
    /// `n` ticks after the deadline was started times out.
    deadline_ticks: Option<usize>,
    deadline: usize,
}

impl ModelWait {
    fn new(dev: &Rc<RefCell<Device>>, acts: &[Act]) -> Self {
        ModelWait {
            dev: dev.clone(),
            acts: acts.to_vec(),
            requests: 0,
            waits: 0,
            unmasks: 0,
            deadline_ticks: None,
            deadline: 0,
        }
    }
}

impl Wait for ModelWait {
    fn begin(&mut self) {
        self.deadline = self.waits + self.deadline_ticks.unwrap_or(0);
    }

    fn requested(&mut self) {
        self.requests += 1;
    }

    fn wait(&mut self) -> Event {
        if self
            .deadline_ticks
            .is_some_and(|_| self.waits + 1 > self.deadline)
        {
            self.waits += 1;
            return Event::Timeout;
        }
        // The last act repeats.
        let act = self.acts[self.waits.min(self.acts.len() - 1)];
        self.waits += 1;
        let mut d = self.dev.borrow_mut();
        match act {
            Act::Serve => {
                d.service(0);
                Event::Interrupt
            }
            Act::ServeLen(len) => {
                d.fetch(0);
                while !d.pending(0).is_empty() {
                    d.complete_with_len(0, 0, len);
                }
                Event::Interrupt
            }
            Act::Silent => Event::Timeout,
            Act::Forge(id, len) => {
                d.forge_used(0, id, len);
                Event::Interrupt
            }
            Act::Remove => Event::Remove,
            Act::NeedsReset => {
                d.need_reset();
                Event::Interrupt
            }
        }
    }

    fn interrupt_done(&mut self) {
        self.unmasks += 1;
    }
}

fn rng_device(version: u32) -> Rc<RefCell<Device>> {
    let mut offered = 1 << 28 | 1 << 29;
    if version == 2 {
        offered |= 1 << 32;
    }
    Device::new(
        version,
        Kind::Rng {
            state: 0x2545_f491_4f6c_dd1d,
        },
        offered,
        &[256],
    )
    .shared()
}

/// Ring and bounce memory the model device may reach.
fn memory(dev: &Rc<RefCell<Device>>) -> (&'static mut QueueMemory<N>, &'static BounceBuffer<B>) {
    let ring: &'static mut QueueMemory<N> = arena::leak_zeroed();
    let bounce: &'static mut BounceBuffer<B> = arena::leak_zeroed();
    let mut d = dev.borrow_mut();
    d.mem.register(
        std::ptr::from_ref(ring).addr() as u64,
        std::mem::size_of::<QueueMemory<N>>(),
    );
    d.mem.register(std::ptr::from_ref(bounce).addr() as u64, B);
    (ring, bounce)
}

fn probe(version: u32) -> (Rc<RefCell<Device>>, TestRng) {
    let dev = rng_device(version);
    let (ring, bounce) = memory(&dev);
    let rng = Rng::probe(Regs(dev.clone()), ring, bounce, None).expect("probe");
    (dev, rng)
}

/// Fills `len` bytes into a vector (memory the device cannot reach).
fn fill(rng: &mut TestRng, len: usize, wait: &mut ModelWait) -> Result<Vec<u8>, FillError<()>> {
    let mut out = vec![0u8; len];
    let mut next = 0;
    rng.fill(len, wait, |offset, bytes| {
        assert_eq!(offset, next, "pieces arrive in order");
        out[offset..offset + bytes.len()].copy_from_slice(bytes);
        next = offset + bytes.len();
        Ok(())
    })?;
    assert_eq!(next, len);
    Ok(out)
}

#[test]
fn probe_walks_the_status_sequence_on_both_transports() {
    for (version, expected) in [(1, &[0u8, 1, 3, 7][..]), (2, &[0u8, 1, 3, 11, 15][..])] {
        let (dev, rng) = probe(version);
        assert_eq!(dev.borrow().status_writes, expected, "version {version}");
        assert!(rng.is_live());
        // No feature of ours: only VERSION_1 on a modern device.
        let want = if version == 2 { 1 << 32 } else { 0 };
        assert_eq!(dev.borrow().driver_features, want);
    }
}

#[test]
fn probe_refuses_another_device_type() {
    let dev = Device::new(2, Kind::Blk { disk: vec![0; 512] }, 1 << 32, &[256]).shared();
    let (ring, bounce) = memory(&dev);
    assert_eq!(
        Rng::probe(Regs(dev), ring, bounce, None).err(),
        Some(ProbeError::WrongDevice { device_id: 2 })
    );
}

#[test]
fn probe_reports_a_device_that_needs_reset() {
    let dev = rng_device(2);
    dev.borrow_mut().needs_reset_on_driver_ok = true;
    let (ring, bounce) = memory(&dev);
    assert_eq!(
        Rng::probe(Regs(dev.clone()), ring, bounce, None).err(),
        Some(ProbeError::Virtio(virtio::Error::DeviceNeedsReset))
    );
    assert_ne!(dev.borrow().status() & 128, 0, "FAILED is set");
}

#[test]
fn fills_of_every_length_in_bounce_sized_requests() {
    for version in [1, 2] {
        let (dev, mut rng) = probe(version);
        for len in [0usize, 1, 7, 64, 511, 512, 513, 4096, 5000] {
            let mut wait = ModelWait::new(&dev, &[Act::Serve]);
            let bytes = fill(&mut rng, len, &mut wait).expect("fill");
            assert_eq!(bytes.len(), len);
            assert_eq!(wait.requests, len.div_ceil(B), "requests for {len}");
            assert_eq!(
                wait.unmasks, wait.waits,
                "every interrupt is unmasked again"
            );
            if len >= 64 {
                assert!(bytes.iter().any(|&b| b != 0), "{len} bytes all zero");
            }
        }
    }
}

#[test]
fn short_completions_are_asked_again() {
    let (dev, mut rng) = probe(2);
    let mut wait = ModelWait::new(&dev, &[Act::ServeLen(100)]);
    let bytes = fill(&mut rng, 1000, &mut wait).expect("fill");
    assert_eq!(wait.requests, 10);
    assert!(bytes.iter().any(|&b| b != 0));
}

#[test]
fn a_device_that_returns_nothing_is_given_up_and_reset() {
    let (dev, mut rng) = probe(2);
    let mut wait = ModelWait::new(&dev, &[Act::ServeLen(0)]);
    assert_eq!(
        fill(&mut rng, 10, &mut wait).err(),
        Some(FillError::Device(DeviceFault::Fill(FillFault::NoProgress)))
    );
    assert_eq!(wait.requests as u32, EMPTY_LIMIT);
    assert_eq!(dev.borrow().status(), 0, "device reset");
    assert!(!rng.is_live());
}

#[test]
fn a_hostile_used_ring_fails_the_fill_resets_and_recovers() {
    for (act, what) in [
        (Act::Forge(9, 1), "id out of range"),
        (Act::Forge(2, 1), "id not in flight"),
        (Act::ServeLen(B as u32 + 1), "length too large"),
    ] {
        let (dev, mut rng) = probe(2);
        let mut wait = ModelWait::new(&dev, &[act]);
        match fill(&mut rng, B, &mut wait) {
            Err(FillError::Device(DeviceFault::Queue(e))) => {
                assert_eq!(e.blame(), virtio::Blame::Device, "{what}: {e:?}")
            }
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(dev.borrow().status(), 0, "{what}: device reset");
        // The next request brings the device up again and works.
        let mut wait = ModelWait::new(&dev, &[Act::Serve]);
        let bytes = fill(&mut rng, 64, &mut wait).expect("fill after recovery");
        assert!(bytes.iter().any(|&b| b != 0));
        assert!(rng.is_live());
    }
}

#[test]
fn a_silent_device_times_out_and_is_reset() {
    let (dev, mut rng) = probe(1);
    let mut wait = ModelWait::new(&dev, &[Act::Silent]);
    assert_eq!(
        fill(&mut rng, 32, &mut wait).err(),
        Some(FillError::Device(DeviceFault::Timeout))
    );
    assert_eq!(dev.borrow().status(), 0);
    let mut wait = ModelWait::new(&dev, &[Act::Serve]);
    assert_eq!(fill(&mut rng, 32, &mut wait).map(|b| b.len()), Ok(32));
}

/// The deadline bounds a whole fill, not each device request: QEMU's rng
/// with `max-bytes=1,period=200` served `rng 16` a byte every 200 ms, each
/// request well inside its 1 s deadline, and the shell waited 3.2 s with no
/// reply; the supervisor's watchdog (callers waiting 1.5 s without a reply)
/// took rng0 for hung and restarted it ("rng0 restarted during the call").
#[test]
fn a_slow_source_times_out_the_fill_not_each_request() {
    let (dev, mut rng) = probe(2);
    let mut wait = ModelWait::new(&dev, &[Act::Serve]);
    // Each request is served at the next tick; the fill needs four.
    wait.deadline_ticks = Some(2);
    assert_eq!(
        fill(&mut rng, 4 * B, &mut wait).err(),
        Some(FillError::Device(DeviceFault::Timeout))
    );
    assert_eq!(wait.requests, 3, "the third request was in flight");
    assert_eq!(dev.borrow().status(), 0, "reset");
    // A fill inside the deadline is served.
    let mut wait = ModelWait::new(&dev, &[Act::Serve]);
    wait.deadline_ticks = Some(2);
    assert_eq!(fill(&mut rng, 2 * B, &mut wait).map(|b| b.len()), Ok(2 * B));
}

#[test]
fn a_remove_during_a_fill_resets_the_device() {
    let (dev, mut rng) = probe(2);
    let mut wait = ModelWait::new(&dev, &[Act::Serve, Act::Remove]);
    assert_eq!(
        fill(&mut rng, 2000, &mut wait).err(),
        Some(FillError::Removed)
    );
    assert_eq!(wait.requests, 2, "the second request was in flight");
    assert_eq!(dev.borrow().status(), 0);
    let regs = rng.remove();
    assert!(Rc::ptr_eq(&regs.0, &dev));
    assert_eq!(dev.borrow().status(), 0);
}

#[test]
fn a_refusing_sink_ends_the_fill_with_nothing_in_flight() {
    let (dev, mut rng) = probe(2);
    let mut wait = ModelWait::new(&dev, &[Act::Serve]);
    let mut calls = 0;
    let r = rng.fill(2000, &mut wait, |_, _| {
        calls += 1;
        if calls == 2 {
            Err("lease gone")
        } else {
            Ok(())
        }
    });
    assert_eq!(r, Err(FillError::Sink("lease gone")));
    assert_eq!(wait.requests, 2);
    // The device is still up and the queue empty: the next fill works.
    assert!(rng.is_live());
    let mut wait = ModelWait::new(&dev, &[Act::Serve]);
    assert_eq!(fill(&mut rng, 600, &mut wait).map(|b| b.len()), Ok(600));
}

#[test]
fn an_unasked_completion_is_a_fault() {
    let (dev, mut rng) = probe(2);
    // Nothing in flight, yet the device publishes a used entry.
    dev.borrow_mut().forge_used(0, 0, 0);
    assert!(matches!(rng.interrupt(), Err(DeviceFault::Queue(_))));
    assert_eq!(dev.borrow().status(), 0);
    assert!(!rng.is_live());
    // A quiet interrupt is fine.
    let (_dev, mut rng) = probe(2);
    assert_eq!(rng.interrupt(), Ok(()));
}

#[test]
fn device_needs_reset_fails_the_fill_resets_and_recovers() {
    for version in [1, 2] {
        let (dev, mut rng) = probe(version);
        // Without a look at the status the driver would wait on and time out.
        let mut wait = ModelWait::new(&dev, &[Act::NeedsReset, Act::Silent]);
        assert_eq!(
            fill(&mut rng, 64, &mut wait),
            Err(FillError::Device(DeviceFault::NeedsReset))
        );
        assert!(!rng.is_live());
        assert_eq!(dev.borrow().status(), 0, "reset");
        let mut wait = ModelWait::new(&dev, &[Act::Serve]);
        assert_eq!(fill(&mut rng, 64, &mut wait).map(|b| b.len()), Ok(64));
        assert_eq!(dev.borrow().status() & 0x44, 4, "DRIVER_OK, no NEEDS_RESET");
    }
}

#[test]
fn a_device_that_does_not_finish_its_reset_is_given_up() {
    let (dev, mut rng) = probe(2);
    dev.borrow_mut().reset_delay = u32::MAX;
    let mut wait = ModelWait::new(&dev, &[Act::Silent]);
    assert_eq!(
        fill(&mut rng, 64, &mut wait),
        Err(FillError::Device(DeviceFault::ResetFailed))
    );
    assert!(rng.is_dead());
    // Never touched again: no bring-up (no status writes), no request.
    let (writes, kicks) = {
        let d = dev.borrow();
        (d.status_writes.len(), d.notifications.len())
    };
    let mut wait = ModelWait::new(&dev, &[Act::Serve]);
    assert_eq!(
        fill(&mut rng, 64, &mut wait),
        Err(FillError::Device(DeviceFault::ResetFailed))
    );
    assert_eq!(dev.borrow().status_writes.len(), writes);
    assert_eq!(dev.borrow().notifications.len(), kicks);
    assert_eq!(wait.requests, 0);
}
