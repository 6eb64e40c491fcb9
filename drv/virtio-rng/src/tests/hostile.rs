//! Hostile-device tests: a seeded random entropy device that
//! mixes honest service with short, empty, overlong and forged completions,
//! used-index jumps, silence, needs-reset and removal, plus features and
//! queue sizes that change across resets. What must hold: no panic; a
//! fill either delivers exactly the bytes asked, in order, or fails with a
//! clear error with the device reset; after the device behaves again the
//! next fill works.

use super::*;
use fault_inject::plan::Rng as Draws;

/// A device that does a random thing each time the driver waits.
struct Chaos {
    dev: Rc<RefCell<Device>>,
    rng: Draws,
}

impl Wait for Chaos {
    fn begin(&mut self) {}
    fn wait(&mut self) -> Event {
        let mut d = self.dev.borrow_mut();
        let up = d.status() & 4 != 0 && d.rings(0).is_some();
        match self.rng.below(12) {
            0..=3 if up => {
                d.service(0);
                Event::Interrupt
            }
            4 | 5 if up => {
                d.fetch(0);
                let len = match self.rng.below(3) {
                    0 => 0,
                    1 => self.rng.below(B as u64 + 2) as u32,
                    _ => self.rng.next_u64() as u32,
                };
                d.hostile = true;
                if !d.pending(0).is_empty() {
                    d.complete_with_len(0, 0, len);
                }
                Event::Interrupt
            }
            6 if up => {
                let id = match self.rng.below(2) {
                    0 => self.rng.below(2 * N as u64) as u32,
                    _ => self.rng.next_u64() as u32,
                };
                d.hostile = true;
                d.forge_used(0, id, self.rng.below(B as u64 + 2) as u32);
                Event::Interrupt
            }
            7 if up => {
                d.hostile = true;
                let v = self.rng.next_u64() as u16;
                d.set_used_idx(0, v);
                Event::Interrupt
            }
            8 => {
                d.need_reset();
                Event::Interrupt
            }
            9 => Event::Remove,
            10 => Event::Interrupt, // spurious
            _ => Event::Timeout,
        }
    }
    fn interrupt_done(&mut self) {}
}

#[test]
fn seeded_hostile_entropy_device() {
    for seed in 1..=200u64 {
        for version in [1, 2] {
            let (dev, mut rng) = probe(version);
            let mut chaos = Chaos {
                dev: dev.clone(),
                rng: Draws::new(seed, version.into()),
            };
            for _ in 0..30 {
                let len = chaos.rng.below(3 * B as u64) as usize;
                let mut out = vec![0u8; len];
                let mut next = 0;
                let r = rng.fill(len, &mut chaos, |offset, bytes| {
                    assert_eq!(offset, next, "seed {seed}: pieces in order");
                    assert!(offset + bytes.len() <= len, "seed {seed}: past the end");
                    out[offset..offset + bytes.len()].copy_from_slice(bytes);
                    next = offset + bytes.len();
                    Ok::<(), ()>(())
                });
                match r {
                    Ok(()) => assert_eq!(next, len, "seed {seed}: Ok but short"),
                    Err(FillError::Device(_)) => {
                        assert!(!rng.is_live(), "seed {seed}: fault left device live");
                    }
                    Err(FillError::Removed) => {}
                    Err(FillError::Sink(())) => unreachable!(),
                }
                assert!(!rng.is_dead(), "seed {seed}: the model always resets");
            }
            // Honest from here on.
            dev.borrow_mut().hostile = false;
            let mut wait = ModelWait::new(&dev, &[Act::Serve]);
            let bytes = fill(&mut rng, 100, &mut wait)
                .unwrap_or_else(|e| panic!("seed {seed} v{version}: no recovery: {e:?}"));
            assert_eq!(bytes.len(), 100);
        }
    }
}

/// VERSION_1 withdrawn by a v2 device after a fault: the next fill is a
/// clear probe error; offered again, the fill after works.
#[test]
fn features_withdrawn_across_a_reset() {
    let (dev, mut rng) = probe(2);
    let mut wait = ModelWait::new(&dev, &[Act::Silent]);
    assert!(fill(&mut rng, 8, &mut wait).is_err());
    let offered = dev.borrow().offered;
    dev.borrow_mut().offered = offered & !(1 << 32);
    let mut wait = ModelWait::new(&dev, &[Act::Serve]);
    assert_eq!(
        fill(&mut rng, 8, &mut wait).err(),
        Some(FillError::Device(DeviceFault::Probe(ProbeError::Virtio(
            virtio::Error::Version1NotOffered
        ))))
    );
    dev.borrow_mut().offered = offered | 1 << 30;
    assert!(
        fill(&mut rng, 8, &mut wait).is_ok(),
        "extra feature offered: still fine"
    );
}

/// QueueNumMax shrinking below the size set up at probe after a reset: a
/// clear error, then back to normal when it grows again.
#[test]
fn queue_max_shrinks_across_a_reset() {
    let (dev, mut rng) = probe(1);
    let mut wait = ModelWait::new(&dev, &[Act::Silent]);
    assert!(fill(&mut rng, 8, &mut wait).is_err());
    for max in [0u32, 1, 2, 3] {
        dev.borrow_mut().set_queue_max(0, max);
        let mut wait = ModelWait::new(&dev, &[Act::Serve]);
        let r = fill(&mut rng, 8, &mut wait);
        assert!(
            matches!(r, Err(FillError::Device(DeviceFault::Probe(_)))),
            "max {max}: {r:?}"
        );
        let s = dev.borrow().status();
        assert!(s == 0 || s & 0x80 != 0, "max {max}: status {s:#x}");
    }
    dev.borrow_mut().set_queue_max(0, 256);
    let mut wait = ModelWait::new(&dev, &[Act::Serve]);
    assert_eq!(fill(&mut rng, 8, &mut wait).unwrap().len(), 8);
}

/// Odd QueueNumMax at probe: 0 is refused, anything else probes a working
/// device (the driver takes the largest power of two).
#[test]
fn odd_queue_sizes_at_probe() {
    for max in [0u32, 1, 3, 5, 7, 100, 65535, u32::MAX] {
        let dev = rng_device(2);
        dev.borrow_mut().set_queue_max(0, max);
        let (ring, bounce) = memory(&dev);
        match Rng::probe(Regs(dev.clone()), ring, bounce, None) {
            Ok(mut rng) => {
                let mut wait = ModelWait::new(&dev, &[Act::Serve]);
                assert_eq!(
                    fill(&mut rng, 600, &mut wait).unwrap().len(),
                    600,
                    "max {max}"
                );
            }
            Err(e) => {
                assert_eq!(max, 0, "max {max}: {e:?}");
                let s = dev.borrow().status();
                assert!(s == 0 || s & 0x80 != 0, "max {max}: status {s:#x}");
            }
        }
    }
}
