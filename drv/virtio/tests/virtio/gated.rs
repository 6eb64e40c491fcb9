//! A queue built through a [`DmaGate`], with the test playing the
//! kernel's part (`sys/kern/src/dma.rs`) against the device model: the gate
//! owns the ring memory, places the queue, checks every buffer against the
//! memory the "driver" may expose and writes descriptors and the available
//! ring itself. The queue logic must reach the device only through it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use virtio::queue::layout::{Descriptor, RingOffsets, VIRTQ_DESC_F_NEXT};
use virtio::queue::AvailField;
use virtio::transport::mmio::MmioTransport;
use virtio::{Buf, DmaGate, Error, Features, IndirectTables, QueueMemory, SplitQueue, Transport};

use crate::model::device::Regs;
use crate::model::{arena, Device, Setup, Token};

/// The refusal code of the model gate (the kernel's `abi::DMA_BAD_BUFFER`;
/// this crate does not depend on `abi`).
const REFUSED: u32 = 0xFFFF_FF01;

/// The kernel's part, played against the model.
struct ModelGate {
    dev: Rc<RefCell<Device>>,
    transport: RefCell<MmioTransport<Regs>>,
    ring: &'static mut QueueMemory<16>,
    size: Cell<u16>,
    /// The one range the driver may expose: `[base, base + len)`.
    allowed: (u64, u64),
    posts: Cell<u32>,
    /// Every `avail` call: (field, value).
    avails: RefCell<Vec<(AvailField, u16)>>,
}

impl ModelGate {
    fn ring_addr(&self) -> usize {
        std::ptr::from_ref(&*self.ring).addr()
    }

    fn write_u16(&self, offset: usize, value: u16) {
        let addr = self.ring_addr() + offset;
        self.dev
            .borrow()
            .mem
            .write(addr as u64, &value.to_le_bytes());
    }
}

impl DmaGate for ModelGate {
    fn driver_features(&self, features: Features) -> Result<Features, Error> {
        // As the kernel: only the bits whose rings it checks.
        let written = features & Features(userlib::abi::DMA_FEATURES_ALLOWED);
        self.transport.borrow_mut().write_driver_features(written);
        Ok(written)
    }

    fn setup(&self, queue: u16, max: u16) -> Result<(usize, u16), Error> {
        let mut t = self.transport.borrow_mut();
        let device_max = t.queue_max_size(queue);
        let limit = device_max.min(max).min(16);
        if limit == 0 {
            return Err(Error::QueueUnavailable { queue });
        }
        let size = 1 << (15 - limit.leading_zeros());
        let base = self.ring_addr();
        self.dev.borrow().mem.write(
            base as u64,
            &[0; 16 * 1024][..std::mem::size_of::<QueueMemory<16>>()],
        );
        let o = RingOffsets::new(size);
        t.attach_queue(&virtio::queue::QueueLayout {
            queue,
            size,
            desc: base as u64,
            driver: (base + o.avail()) as u64,
            device: (base + o.used()) as u64,
        })?;
        self.size.set(size);
        Ok((base, size))
    }

    fn post(
        &self,
        _queue: u16,
        chain: &[Descriptor],
        head: u16,
        _lender: Option<u32>,
        used_event: Option<u16>,
    ) -> Result<(), Error> {
        let size = self.size.get();
        let (lo, hi) = self.allowed;
        for d in chain {
            let (a, l) = (d.addr.get(), u64::from(d.len.get()));
            if a < lo || a + l > hi {
                return Err(Error::DmaRefused { code: REFUSED });
            }
        }
        let o = RingOffsets::new(size);
        let base = self.ring_addr() as u64;
        let mut index = head;
        for d in chain {
            let bytes = zerocopy::IntoBytes::as_bytes(d);
            self.dev
                .borrow()
                .mem
                .write(base + o.desc(index) as u64, bytes);
            if d.flags.get() & VIRTQ_DESC_F_NEXT != 0 {
                index = d.next.get();
            }
        }
        if let Some(e) = used_event {
            self.write_u16(o.used_event(), e);
        }
        let idx = self.dev.borrow().mem.read_u16(base + o.avail_idx() as u64);
        self.write_u16(o.avail_ring(idx & (size - 1)), head);
        self.write_u16(o.avail_idx(), idx.wrapping_add(1));
        self.posts.set(self.posts.get() + 1);
        Ok(())
    }

    fn avail(&self, _queue: u16, field: AvailField, value: u16) {
        self.avails.borrow_mut().push((field, value));
        let o = RingOffsets::new(self.size.get());
        let offset = match field {
            AvailField::Flags => o.avail_flags(),
            AvailField::UsedEvent => o.used_event(),
        };
        self.write_u16(offset, value);
    }
}

struct GatedRig {
    dev: Rc<RefCell<Device>>,
    transport: MmioTransport<Regs>,
    gate: &'static ModelGate,
    queue: SplitQueue<'static, Token, 16>,
}

fn bring_up(version: u32, event_idx: bool) -> GatedRig {
    let setup = Setup {
        version,
        event_idx,
        ..Setup::default()
    };
    let dev = setup.device().shared();
    let mut transport = MmioTransport::new(Regs(dev.clone())).expect("identify");
    let ring: &'static mut QueueMemory<16> = arena::leak_zeroed();
    dev.borrow_mut().mem.register(
        std::ptr::from_ref(&*ring).addr() as u64,
        std::mem::size_of::<QueueMemory<16>>(),
    );
    // The driver's own RAM: one block the model allocates buffers from.
    let lo = dev.borrow_mut().mem.alloc(4096);
    let gate: &'static ModelGate = Box::leak(Box::new(ModelGate {
        dev: dev.clone(),
        transport: RefCell::new(MmioTransport::new(Regs(dev.clone())).expect("identify")),
        ring,
        size: Cell::new(0),
        allowed: (lo, lo + 4096),
        posts: Cell::new(0),
        avails: RefCell::new(Vec::new()),
    }));
    // The features through the gate too, as a Vireo task writes them.
    let features = transport
        .negotiate_through(setup.understood(), Some(gate))
        .expect("negotiate");
    let queue = SplitQueue::gated(0, gate, features).expect("gated setup");
    transport.driver_ok().expect("driver ok");
    GatedRig {
        dev,
        transport,
        gate,
        queue,
    }
}

impl GatedRig {
    fn own(&self, offset: u64, len: u32) -> Buf {
        Buf::new(self.gate.allowed.0 + offset, len)
    }

    fn add(&mut self, out: &[Buf], in_: &[Buf], token: Token) -> Result<(), Error> {
        // SAFETY: the buffers are model guest memory that outlives the
        // model; the test reads them only through the model.
        unsafe { self.queue.add_buf(out, in_, token) }
    }
}

#[test]
fn a_gated_queue_round_trips_through_the_gate_only() {
    for version in [1, 2] {
        for event_idx in [false, true] {
            let mut rig = bring_up(version, event_idx);
            assert_eq!(rig.queue.size(), 16);
            for n in 1..=4u32 {
                let bufs: Vec<Buf> = (0..n).map(|i| rig.own(u64::from(i) * 64, 32)).collect();
                rig.add(&[], &bufs, n).unwrap();
                rig.queue.kick(&mut rig.transport);
                assert_eq!(rig.dev.borrow_mut().service(0), 1, "v{version} n={n}");
                let done = rig.queue.get_buf().unwrap();
                assert_eq!(done, Some((n, n * 32)));
                assert!(rig.queue.restart());
            }
            assert_eq!(rig.gate.posts.get(), 4, "every chain went through the gate");
        }
    }
}

#[test]
fn a_refused_chain_changes_nothing_on_either_side() {
    let mut rig = bring_up(1, false);
    let good = rig.own(0, 16);
    let outside = Buf::new(rig.gate.allowed.1, 16);
    let before = rig.queue.num_free();
    assert_eq!(
        rig.add(&[good], &[outside], 7),
        Err(Error::DmaRefused { code: REFUSED })
    );
    assert_eq!(rig.queue.num_free(), before, "no descriptor taken");
    assert_eq!(rig.queue.in_flight(), 0);
    assert_eq!(rig.dev.borrow().avail_idx(0), 0, "nothing made available");
    // The queue still works, and the device sees exactly one chain.
    rig.add(&[], &[good], 8).unwrap();
    rig.queue.kick(&mut rig.transport);
    assert_eq!(rig.dev.borrow_mut().service(0), 1);
    assert_eq!(rig.queue.get_buf().unwrap(), Some((8, 16)));
    assert_eq!(
        Error::DmaRefused { code: REFUSED }.blame(),
        virtio::Blame::Driver
    );
}

#[test]
fn a_gated_queue_takes_no_indirect_tables_and_bounds_its_chains() {
    let mut rig = bring_up(2, false);
    let tables: &'static mut IndirectTables<16, 8> = arena::leak_zeroed();
    let queue = std::mem::replace(&mut rig.queue, placeholder_queue());
    rig.queue = queue.with_indirect(tables);
    let bufs: Vec<Buf> = (0..3).map(|i| rig.own(i * 64, 8)).collect();
    rig.add(&[], &bufs, 1).unwrap();
    assert_eq!(rig.queue.num_free(), 13, "three ring descriptors, no table");
    let many: Vec<Buf> = (0..9).map(|i| rig.own(i * 8, 8)).collect();
    assert_eq!(rig.add(&[], &many, 2), Err(Error::ChainTooLong));
}

/// A queue of its own memory, standing in while `mem::replace` moves the
/// rig's queue; never used.
fn placeholder_queue() -> SplitQueue<'static, Token, 16> {
    let mem: &'static mut QueueMemory<16> = arena::leak_zeroed();
    SplitQueue::new(0, 16, mem, Features::NONE).unwrap()
}

#[test]
fn reattach_after_a_reset_goes_through_the_gate() {
    let mut rig = bring_up(1, false);
    let b = rig.own(0, 16);
    rig.add(&[], &[b], 3).unwrap();
    rig.transport.reset().unwrap();
    let back: Vec<Token> = rig.queue.shutdown().collect();
    assert_eq!(back, vec![3]);
    rig.transport.negotiate(Features::bit(5)).unwrap();
    rig.queue.reattach(&mut rig.transport).unwrap();
    rig.transport.driver_ok().unwrap();
    rig.add(&[], &[b], 4).unwrap();
    rig.queue.kick(&mut rig.transport);
    assert_eq!(rig.dev.borrow_mut().service(0), 1);
    assert_eq!(rig.queue.get_buf().unwrap(), Some((4, 16)));
}

#[test]
fn one_request_at_a_time_reenables_interrupts_with_its_post() {
    let mut rig = bring_up(2, true);
    let used_event = |rig: &GatedRig| {
        let at = std::ptr::from_ref(&*rig.gate.ring).addr() + RingOffsets::new(16).used_event();
        rig.dev.borrow().mem.read_u16(at as u64)
    };
    let b = rig.own(0, 16);
    for n in 1..=4u16 {
        rig.gate.avails.borrow_mut().clear();
        let before = rig.dev.borrow().interrupts;
        rig.add(&[], &[b], u32::from(n)).unwrap();
        // The `used_event` the last completion asked for came with the
        // chain: the device interrupts for this one.
        assert_eq!(used_event(&rig), n - 1, "request {n}");
        rig.queue.kick(&mut rig.transport);
        assert_eq!(rig.dev.borrow_mut().service(0), 1);
        assert_eq!(rig.dev.borrow().interrupts, before + 1, "request {n}");
        assert!(rig.queue.get_buf().unwrap().is_some());
        assert!(rig.queue.get_buf().unwrap().is_none());
        assert!(rig.queue.restart());
        // Nothing in flight: no call of its own to re-enable interrupts.
        assert!(rig.gate.avails.borrow().is_empty(), "request {n}");
    }
    // With chains in flight the field is written at once.
    rig.add(&[], &[b], 5).unwrap();
    assert_eq!(used_event(&rig), 4);
    rig.queue.disable_callbacks();
    assert_eq!(*rig.gate.avails.borrow(), vec![(AvailField::UsedEvent, 3)]);
    assert!(rig.queue.restart());
    assert_eq!(used_event(&rig), 4);
    rig.queue.kick(&mut rig.transport);
    let before = rig.dev.borrow().interrupts;
    assert_eq!(rig.dev.borrow_mut().service(0), 1);
    assert_eq!(rig.dev.borrow().interrupts, before + 1);
    assert_eq!(rig.queue.get_buf().unwrap(), Some((5, 16)));
}

#[test]
fn the_gate_zeroing_the_ring_at_a_reattach_is_not_forgotten() {
    let mut rig = bring_up(1, false);
    let flags = |rig: &GatedRig| {
        let at = std::ptr::from_ref(&*rig.gate.ring).addr() + RingOffsets::new(16).avail_flags();
        rig.dev.borrow().mem.read_u16(at as u64)
    };
    rig.queue.disable_callbacks();
    assert_eq!(flags(&rig), 1, "VIRTQ_AVAIL_F_NO_INTERRUPT");
    rig.transport.reset().unwrap();
    let _ = rig.queue.shutdown().count();
    rig.transport.negotiate(Features::bit(5)).unwrap();
    rig.queue.reattach(&mut rig.transport).unwrap();
    assert_eq!(flags(&rig), 0, "zeroed by the gate's setup");
    // The same value as before the reset, but the ring no longer holds it.
    rig.queue.disable_callbacks();
    assert_eq!(flags(&rig), 1);
}

/// A gate that places the queue at `addr` with whatever size it is told
/// to report: the queue must not trust it.
struct SizeGate {
    addr: Cell<usize>,
    size: Cell<u16>,
}

impl DmaGate for SizeGate {
    fn driver_features(&self, features: Features) -> Result<Features, Error> {
        Ok(features)
    }

    fn setup(&self, _queue: u16, _max: u16) -> Result<(usize, u16), Error> {
        Ok((self.addr.get(), self.size.get()))
    }

    fn post(
        &self,
        _queue: u16,
        _chain: &[Descriptor],
        _head: u16,
        _lender: Option<u32>,
        _used_event: Option<u16>,
    ) -> Result<(), Error> {
        unreachable!("nothing is posted in this test")
    }

    fn avail(&self, _queue: u16, _field: AvailField, _value: u16) {}
}

/// A gate's queue size is checked like a device's: zero, not a power of
/// two, or more than the queue's memory holds is refused; sizes that fit
/// are taken.
#[test]
fn a_gated_queue_refuses_a_size_its_memory_cannot_hold() {
    let mem: &'static mut QueueMemory<16> = arena::leak_zeroed();
    let addr = std::ptr::from_mut(mem).addr();
    for (size, ok) in [
        (0, false),
        (3, false),
        (12, false),
        (32, false),
        (8, true),
        (16, true),
    ] {
        let gate: &'static SizeGate = Box::leak(Box::new(SizeGate {
            addr: Cell::new(addr),
            size: Cell::new(size),
        }));
        let q = SplitQueue::<Token, 16>::gated(2, gate, Features::NONE);
        match q {
            Ok(q) => {
                assert!(ok, "size {size} taken");
                assert_eq!(q.num_free(), size, "size {size}");
            }
            Err(e) => {
                assert!(!ok, "size {size} refused: {e:?}");
                assert_eq!(e, Error::QueueUnavailable { queue: 2 });
            }
        }
    }
}

/// After a reset the gate must put the queue back where it was, at the
/// size it had: a different size or a different place is refused, either
/// alone.
#[test]
fn a_gated_reattach_needs_the_same_size_and_place() {
    let mem: &'static mut QueueMemory<16> = arena::leak_zeroed();
    let addr = std::ptr::from_mut(mem).addr();
    let elsewhere: &'static mut QueueMemory<16> = arena::leak_zeroed();
    let gate: &'static SizeGate = Box::leak(Box::new(SizeGate {
        addr: Cell::new(addr),
        size: Cell::new(8),
    }));
    let mut q = SplitQueue::<Token, 16>::gated(2, gate, Features::NONE).unwrap();
    let mut transport = bring_up(1, false).transport;
    assert_eq!(q.reattach(&mut transport), Ok(()));
    gate.size.set(16);
    assert_eq!(
        q.reattach(&mut transport),
        Err(Error::QueueUnavailable { queue: 2 }),
        "another size"
    );
    gate.size.set(8);
    gate.addr.set(std::ptr::from_mut(elsewhere).addr());
    assert_eq!(
        q.reattach(&mut transport),
        Err(Error::QueueUnavailable { queue: 2 }),
        "another place"
    );
}

/// A gate that writes only the features in `keep`, or refuses.
struct FeatureGate {
    transport: RefCell<MmioTransport<Regs>>,
    keep: Option<Features>,
}

impl DmaGate for FeatureGate {
    fn driver_features(&self, features: Features) -> Result<Features, Error> {
        let keep = self.keep.ok_or(Error::DmaRefused { code: 0xFFFF_FF04 })?;
        self.transport
            .borrow_mut()
            .write_driver_features(features & keep);
        Ok(features & keep)
    }

    fn setup(&self, _queue: u16, _max: u16) -> Result<(usize, u16), Error> {
        unreachable!("no queue in this test")
    }

    fn post(
        &self,
        _queue: u16,
        _chain: &[Descriptor],
        _head: u16,
        _lender: Option<u32>,
        _used_event: Option<u16>,
    ) -> Result<(), Error> {
        unreachable!("no queue in this test")
    }

    fn avail(&self, _queue: u16, _field: AvailField, _value: u16) {}
}

/// Through a gate, the features accepted are the ones the gate wrote (the
/// kernel keeps back what its checks do not cover), never what the driver
/// asked for; a gate's refusal fails the negotiation with the device left
/// FAILED.
#[test]
fn negotiating_through_a_gate_accepts_what_it_wrote() {
    let setup = Setup {
        event_idx: true,
        ..Setup::default()
    };
    let dev = setup.device().shared();
    let gate = FeatureGate {
        transport: RefCell::new(MmioTransport::new(Regs(dev.clone())).expect("identify")),
        keep: Some(Features::bit(5) | Features::VIRTIO_F_VERSION_1),
    };
    let mut t = MmioTransport::new(Regs(dev.clone())).expect("identify");
    let accepted = t
        .negotiate_through(setup.understood(), Some(&gate))
        .expect("negotiate");
    assert_eq!(accepted, Features::bit(5) | Features::VIRTIO_F_VERSION_1);
    assert_eq!(
        dev.borrow().driver_features,
        accepted.0,
        "what the device holds"
    );

    let refusing = FeatureGate {
        transport: RefCell::new(MmioTransport::new(Regs(dev.clone())).expect("identify")),
        keep: None,
    };
    assert_eq!(
        t.negotiate_through(setup.understood(), Some(&refusing)),
        Err(Error::DmaRefused { code: 0xFFFF_FF04 })
    );
    assert!(t.status().contains(virtio::DeviceStatus::FAILED));
}

/// Random sequences against a gated queue, with a device that may forge
/// used entries (ids of chains in flight or not, any length) and move its
/// used index anywhere, and resets in between: every chain the gate
/// refuses (a buffer outside the driver's RAM) takes no descriptor and
/// puts nothing in flight; every token comes back once at most, with a
/// length within its writable buffers; an error leaves the queue broken;
/// a reset's shutdown returns exactly the tokens outstanding and every
/// descriptor, and the queue comes back through the gate. The ungated
/// queue has the same in `harness.rs`; the tasks use this path.
#[test]
fn random_sequences_through_the_gate_return_every_token_once() {
    use std::collections::BTreeMap;
    for seed in 1..=150u64 {
        // (No `arena::reset` between seeds: the tests run in parallel in one
        // process. 150 rigs take a few megabytes of the gigabyte.)
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let version = 1 + (next() % 2) as u32;
        let event_idx = next() % 2 == 0;
        let mut rig = bring_up(version, event_idx);
        // Token -> bytes of its chain the device may write.
        let mut outstanding: BTreeMap<Token, u64> = BTreeMap::new();
        let mut token = 0;
        for step in 0..400 {
            let at = format!("seed {seed} step {step}");
            match next() % 12 {
                0..=2 => {
                    let outs = next() % 3;
                    let ins = next() % 4;
                    let out: Vec<Buf> = (0..outs).map(|i| rig.own(i * 64, 32)).collect();
                    let mut in_: Vec<Buf> = (0..ins).map(|i| rig.own(2048 + i * 64, 48)).collect();
                    let outside = ins > 0 && next() % 8 == 0;
                    if outside {
                        in_[0] = Buf::new(rig.gate.allowed.1 - 8, 16);
                    }
                    let (free, flight) = (rig.queue.num_free(), rig.queue.in_flight());
                    match rig.add(&out, &in_, token) {
                        Ok(()) => {
                            assert!(!outside, "{at}: a buffer outside went through");
                            let w = in_.iter().map(|b| u64::from(b.len())).sum();
                            outstanding.insert(token, w);
                            token += 1;
                        }
                        Err(e) => {
                            assert_eq!(rig.queue.num_free(), free, "{at}: {e:?} took descriptors");
                            assert_eq!(rig.queue.in_flight(), flight, "{at}: {e:?}");
                        }
                    }
                }
                3 => {
                    rig.queue.kick(&mut rig.transport);
                }
                4 => {
                    rig.dev.borrow_mut().fetch(0);
                }
                5 => {
                    let mut d = rig.dev.borrow_mut();
                    let n = d.pending(0).len() as u64;
                    if n > 0 {
                        d.complete(0, (next() % n) as usize);
                    }
                }
                6 => {
                    let mut d = rig.dev.borrow_mut();
                    d.hostile = true;
                    d.forge_used(0, (next() % 20) as u32, (next() % 300) as u32);
                }
                7 => {
                    let mut d = rig.dev.borrow_mut();
                    d.hostile = true;
                    d.set_used_idx(0, next() as u16);
                }
                8 | 9 => match rig.queue.get_buf() {
                    Ok(Some((t, len))) => {
                        let w = outstanding
                            .remove(&t)
                            .unwrap_or_else(|| panic!("{at}: token {t} was not outstanding"));
                        assert!(u64::from(len) <= w, "{at}: length {len} past {w} bytes");
                    }
                    Ok(None) => {}
                    Err(e) => assert!(rig.queue.is_broken(), "{at}: {e:?}, queue not broken"),
                },
                10 => {
                    if next() % 2 == 0 {
                        rig.queue.disable_callbacks();
                    } else {
                        rig.queue.restart();
                    }
                }
                _ if next() % 3 == 0 => {
                    rig.transport.reset().unwrap();
                    let mut back: Vec<Token> = rig.queue.shutdown().collect();
                    back.sort();
                    let expected: Vec<Token> = outstanding.keys().copied().collect();
                    assert_eq!(back, expected, "{at}: shutdown");
                    outstanding.clear();
                    assert_eq!(
                        rig.queue.num_free(),
                        rig.queue.size(),
                        "{at}: a descriptor leaked"
                    );
                    rig.dev.borrow_mut().hostile = false;
                    rig.transport.negotiate(Features::bit(5)).unwrap();
                    rig.queue
                        .reattach(&mut rig.transport)
                        .unwrap_or_else(|e| panic!("{at}: reattach {e:?}"));
                    rig.transport.driver_ok().unwrap();
                }
                _ => {}
            }
        }
    }
}
