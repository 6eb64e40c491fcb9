//! Host tests of the driver against the virtio core's software device
//! (`drv/virtio/tests/virtio/model`, included by path as virtio-rng's tests
//! do): bring-up on both transports, receive buffers kept posted, transmit
//! reclaim, a hostile device's bad lengths and ids, link down and up, a
//! wedged transmit, remove.
//!
//! The model only lets the device reach memory the test registered — the
//! driver's [`NetMemory`] — so a driver that handed the device any other
//! address would fail here. It plays a network card by completing receive
//! chains with frames the test writes and reading transmit chains back.

// The model is the virtio core's test code, held to that crate's lints.
#[allow(clippy::undocumented_unsafe_blocks)]
#[path = "../../virtio/tests/virtio/model/mod.rs"]
mod model;

use std::cell::RefCell;
use std::rc::Rc;

use model::{arena, Device, Kind, Regs};

use ethernet_api::{
    frame_stride, Batch, BATCH_FRAMES, MAX_RECV, RECV_BATCH_BYTES, SEND_BATCH_BYTES,
};

use crate::device::{DeviceFault, Net, RecvError, SendError};
use crate::memory::{NetMemory, RX_SLOTS, TX_SLOTS};
use crate::{RX_QUEUE, TX_DEADLINE_MS, TX_QUEUE};

const RX: usize = RX_QUEUE as usize;
const TX: usize = TX_QUEUE as usize;
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const F_MAC: u64 = 1 << 5;
const F_STATUS: u64 = 1 << 16;

type TestNet = Net<'static, Regs>;

fn net_device(version: u32, offered: u64) -> Rc<RefCell<Device>> {
    let mut offered = offered | 1 << 28 | 1 << 29;
    if version == 2 {
        offered |= 1 << 32;
    }
    // The model's rng kind writes junk into every writable buffer on
    // completion; the tests then write the real frame over it.
    let mut d = Device::new(
        version,
        Kind::Rng { state: 0x9e37_79b9 },
        offered,
        &[256, 256],
    );
    d.device_id = 1;
    // struct virtio_net_config (§5.1.4): mac, status (link up), then
    // max_virtqueue_pairs and mtu, unused here.
    d.config = MAC.to_vec();
    d.config.extend_from_slice(&1u16.to_le_bytes());
    d.config.extend_from_slice(&[1, 0, 0xdc, 0x05]);
    d.shared()
}

fn memory(dev: &Rc<RefCell<Device>>) -> &'static mut NetMemory {
    let mem: &'static mut NetMemory = arena::leak_zeroed();
    dev.borrow_mut().mem.register(
        std::ptr::from_ref(mem).addr() as u64,
        std::mem::size_of::<NetMemory>(),
    );
    mem
}

fn probe(version: u32) -> (Rc<RefCell<Device>>, TestNet) {
    probe_with(version, F_MAC | F_STATUS)
}

fn probe_with(version: u32, offered: u64) -> (Rc<RefCell<Device>>, TestNet) {
    let dev = net_device(version, offered);
    let mem = memory(&dev);
    let net = Net::probe(Regs(dev.clone()), mem, [2, 0, 0, 0, 0, 9], None).expect("probe");
    (dev, net)
}

fn frame(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The device receives `frame` off the wire into its oldest posted buffer,
/// reporting `len` bytes written (header included). False if no buffer was
/// posted.
fn deliver_len(dev: &Rc<RefCell<Device>>, frame: &[u8], len: u32) -> bool {
    let mut d = dev.borrow_mut();
    d.fetch(RX);
    let Some(chain) = d.pending(RX).first().cloned() else {
        return false;
    };
    assert_eq!(
        chain.readable.len(),
        0,
        "receive chains are device-writable only"
    );
    assert_eq!(chain.writable.len(), 2, "header and frame buffers");
    d.complete_with_len(RX, 0, len);
    let (hdr, hdr_len) = chain.writable[0];
    d.mem.write(hdr, &vec![0; hdr_len as usize]);
    let (buf, buf_len) = chain.writable[1];
    let n = frame.len().min(buf_len as usize);
    d.mem.write(buf, &frame[..n]);
    true
}

fn deliver(dev: &Rc<RefCell<Device>>, frame: &[u8]) -> bool {
    let hdr = if dev.borrow().version == 1 { 10 } else { 12 };
    deliver_len(dev, frame, (hdr + frame.len()) as u32)
}

/// The device sends every queued frame; returns them (header checked and
/// stripped).
fn transmit_all(dev: &Rc<RefCell<Device>>) -> Vec<Vec<u8>> {
    let mut d = dev.borrow_mut();
    let hdr = if d.version == 1 { 10 } else { 12 };
    d.fetch(TX);
    let mut sent = Vec::new();
    while let Some(chain) = d.pending(TX).first().cloned() {
        assert!(
            chain.writable.is_empty(),
            "transmit chains are device-readable only"
        );
        let bytes: Vec<u8> = chain
            .readable
            .iter()
            .flat_map(|&(a, l)| d.mem.read(a, l as usize))
            .collect();
        assert!(
            bytes[..hdr].iter().all(|&b| b == 0),
            "no offloads: zero header"
        );
        sent.push(bytes[hdr..].to_vec());
        d.complete_with_len(TX, 0, 0);
    }
    sent
}

fn take(net: &mut TestNet) -> Result<Vec<u8>, RecvError<()>> {
    let mut out = Vec::new();
    net.recv(1536, |f| {
        out = f.to_vec();
        Ok::<(), ()>(())
    })?;
    Ok(out)
}

fn send(net: &mut TestNet, f: &[u8], now: u64) -> Result<(), SendError<()>> {
    net.send(f.len(), now, |buf| {
        buf.copy_from_slice(f);
        Ok(())
    })
}

#[test]
fn probe_reads_mac_and_link_and_posts_every_receive_buffer() {
    for version in [1, 2] {
        let (dev, net) = probe(version);
        assert_eq!(net.mac(), MAC);
        assert!(net.link_up());
        assert!(net.is_live());
        assert_eq!(net.header_len(), if version == 1 { 10 } else { 12 });
        let mut d = dev.borrow_mut();
        assert_eq!(
            d.fetch(RX),
            RX_SLOTS,
            "v{version}: every receive buffer posted"
        );
        for chain in d.pending(RX) {
            assert_eq!(chain.writable[0].1 as usize, net.header_len());
            assert_eq!(chain.writable[1].1, 1536);
        }
        assert_eq!(d.status() & 4, 4, "DRIVER_OK");
    }
}

#[test]
fn without_mac_feature_the_fallback_mac_is_used_and_link_is_up() {
    let (_dev, net) = probe_with(2, 0);
    assert_eq!(net.mac(), [2, 0, 0, 0, 0, 9]);
    assert!(net.link_up());
}

#[test]
fn received_frames_come_out_in_order_and_buffers_are_reposted() {
    for version in [1, 2] {
        let (dev, mut net) = probe(version);
        // Many more frames than buffers: each one consumed is posted again.
        for round in 0..5 * RX_SLOTS {
            let f = frame(60 + round * 13 % 1400, round as u8);
            assert!(deliver(&dev, &f), "round {round}: a buffer was posted");
            let ev = net.interrupt(0);
            assert!(ev.rx_ready && ev.fault.is_none(), "{ev:?}");
            assert_eq!(take(&mut net).unwrap(), f);
            assert_eq!(take(&mut net), Err(RecvError::Empty));
        }
        assert_eq!(net.status().rx_frames as usize, 5 * RX_SLOTS);
        // Fill every buffer without consuming: the device runs out, the
        // driver still holds every frame, in order.
        for i in 0..RX_SLOTS {
            assert!(deliver(&dev, &frame(100, i as u8)));
        }
        assert!(!deliver(&dev, &frame(100, 99)), "no buffer left to post");
        net.interrupt(0);
        assert_eq!(net.frames_waiting(), RX_SLOTS);
        for i in 0..RX_SLOTS {
            assert_eq!(take(&mut net).unwrap(), frame(100, i as u8));
        }
        assert!(
            deliver(&dev, &frame(100, 7)),
            "consumed buffers are posted again"
        );
    }
}

#[test]
fn a_frame_larger_than_the_sink_stays_queued() {
    let (dev, mut net) = probe(2);
    let f = frame(600, 1);
    deliver(&dev, &f);
    net.interrupt(0);
    assert_eq!(
        net.recv(100, |_| Ok::<(), ()>(())),
        Err(RecvError::TooSmall { len: 600 })
    );
    assert_eq!(take(&mut net).unwrap(), f);
}

#[test]
fn transmits_are_reclaimed_and_a_full_queue_says_so_then_notifies() {
    for version in [1, 2] {
        let (dev, mut net) = probe(version);
        for i in 0..TX_SLOTS {
            send(&mut net, &frame(64 + i, i as u8), 0).unwrap();
        }
        assert_eq!(send(&mut net, &frame(64, 0), 0), Err(SendError::QueueFull));
        assert_eq!(net.status().tx_full, 1);
        let sent = transmit_all(&dev);
        assert_eq!(sent.len(), TX_SLOTS);
        for (i, s) in sent.iter().enumerate() {
            assert_eq!(s, &frame(64 + i, i as u8), "frame {i} byte-exact");
        }
        let ev = net.interrupt(0);
        assert!(ev.tx_space, "the client is told space came back: {ev:?}");
        // Many rounds: slots are reused without leaking.
        for round in 0..10 {
            for i in 0..TX_SLOTS {
                send(&mut net, &frame(100, (round + i) as u8), 0).unwrap();
            }
            assert_eq!(transmit_all(&dev).len(), TX_SLOTS);
            net.interrupt(0);
        }
        assert_eq!(net.status().tx_frames as usize, 11 * TX_SLOTS);
    }
}

#[test]
fn bad_frames_to_send_are_refused() {
    let (_dev, mut net) = probe(2);
    assert_eq!(send(&mut net, &frame(13, 0), 0), Err(SendError::BadFrame));
    assert_eq!(send(&mut net, &frame(1515, 0), 0), Err(SendError::BadFrame));
    assert_eq!(
        net.send(64, 0, |_| Err::<(), u8>(7)),
        Err(SendError::Source(7))
    );
    // The refused sends leaked no slot.
    for i in 0..TX_SLOTS {
        send(&mut net, &frame(64, i as u8), 0).unwrap();
    }
}

#[test]
fn a_runt_frame_is_dropped_and_its_buffer_reposted() {
    for version in [1, 2] {
        let (dev, mut net) = probe(version);
        let hdr = net.header_len() as u32;
        // Shorter than the virtio header, and shorter than an Ethernet one.
        assert!(deliver_len(&dev, &[], hdr - 1));
        assert!(deliver_len(&dev, &frame(13, 0), hdr + 13));
        let ev = net.interrupt(0);
        assert!(!ev.rx_ready && ev.fault.is_none(), "{ev:?}");
        assert_eq!(net.status().rx_dropped, 2);
        assert_eq!(take(&mut net), Err(RecvError::Empty));
        assert_eq!(dev.borrow_mut().fetch(RX), 2, "both buffers posted again");
    }
}

#[test]
fn a_hostile_device_is_reset_and_brought_up_again() {
    // A used entry naming a descriptor not in flight, a length past the
    // chain's buffers, a used index running ahead.
    type Hostile = fn(&mut Device);
    let cases: [(&str, Hostile); 3] = [
        ("forged id", |d| d.forge_used(RX, 31, 20)),
        ("length past the buffers", |d| {
            d.fetch(RX);
            d.complete_with_len(RX, 0, 12 + 1536 + 1);
        }),
        ("used index jump", |d| {
            d.fetch(TX);
            d.set_used_idx(TX, 40)
        }),
    ];
    for version in [1, 2] {
        for (what, hostile) in cases {
            let (dev, mut net) = probe(version);
            // A frame waiting survives the reset.
            let f = frame(80, 3);
            deliver(&dev, &f);
            net.interrupt(0);
            send(&mut net, &frame(64, 1), 0).unwrap();
            {
                let mut d = dev.borrow_mut();
                d.hostile = true;
                hostile(&mut d);
            }
            let ev = net.interrupt(5);
            assert!(
                matches!(ev.fault, Some(DeviceFault::Queue(_))),
                "v{version} {what}: {ev:?}"
            );
            assert_eq!(net.status().resets, 1, "{what}");
            assert!(net.is_live(), "{what}: up again");
            assert!(ev.tx_space && ev.rx_ready, "{what}: client told to look");
            dev.borrow_mut().hostile = false;
            // Everything but the waiting frame's buffer is posted afresh.
            assert_eq!(dev.borrow_mut().fetch(RX), RX_SLOTS - 1, "{what}");
            assert_eq!(take(&mut net).unwrap(), f, "{what}: waiting frame kept");
            // Every transmit slot is free again and works.
            for i in 0..TX_SLOTS {
                send(&mut net, &frame(64, i as u8), 5).unwrap();
            }
            assert_eq!(transmit_all(&dev).len(), TX_SLOTS, "{what}");
        }
    }
}

/// A fault found in a client's send (the full transmit queue reaped, the
/// device's used ring forged) answers the send `DeviceDown`, and the fault
/// itself is kept, once, for the task to judge as it judges its
/// interrupt's: it was dropped, so a driver whose own buffers the kernel
/// refused in every send never stopped (`DeviceFault::is_own_buffer_refused`),
/// and answered every frame `DeviceError` for good.
#[test]
fn a_fault_found_in_a_send_is_kept_for_the_task() {
    for version in [1, 2] {
        let (dev, mut net) = probe(version);
        for i in 0..TX_SLOTS {
            send(&mut net, &frame(64, i as u8), 0).unwrap();
        }
        assert_eq!(net.take_fault(), None, "v{version}: nothing wrong yet");
        {
            let mut d = dev.borrow_mut();
            d.hostile = true;
            d.forge_used(TX, 31, 20);
        }
        assert_eq!(send(&mut net, &frame(64, 9), 5), Err(SendError::DeviceDown));
        assert!(
            matches!(net.take_fault(), Some(DeviceFault::Queue(_))),
            "v{version}: the send's fault is kept"
        );
        assert_eq!(net.take_fault(), None, "v{version}: and told once");
        assert_eq!(net.status().resets, 1);
        dev.borrow_mut().hostile = false;
        send(&mut net, &frame(64, 10), 5).unwrap();
        assert_eq!(net.take_fault(), None, "v{version}: a good send keeps none");
    }
}

/// Requests that each find a fault, with no transmit completed between,
/// make the driver's own state suspect once there are
/// `REQUEST_FAULTS_IN_A_ROW` of them (the task then stops); a completed
/// transmit starts the count again, so a fault now and then never gets
/// there.
#[test]
fn sends_that_keep_finding_faults_make_the_drivers_state_suspect() {
    for version in [1, 2] {
        let (dev, mut net) = probe(version);
        // Fills the transmit queue (the device takes the frames and
        // completes none) and forges a used entry: the next send reaps,
        // finds the forgery and resets the device.
        let fault_in_a_send = |net: &mut TestNet| {
            for i in 0..TX_SLOTS {
                send(net, &frame(64, i as u8), 0).unwrap();
            }
            dev.borrow_mut().hostile = true;
            dev.borrow_mut().forge_used(TX, 31, 20);
            assert_eq!(send(net, &frame(64, 9), 5), Err(SendError::DeviceDown));
            dev.borrow_mut().hostile = false;
            assert!(net.take_fault().is_some());
        };
        for round in 0..3 * crate::REQUEST_FAULTS_IN_A_ROW {
            fault_in_a_send(&mut net);
            assert!(!net.is_own_state_suspect(), "v{version} round {round}");
            // The device sends a frame between two faults.
            send(&mut net, &frame(64, 1), 5).unwrap();
            assert_eq!(transmit_all(&dev).len(), 1);
            net.interrupt(5);
        }
        for n in 1..=crate::REQUEST_FAULTS_IN_A_ROW {
            fault_in_a_send(&mut net);
            assert_eq!(
                net.is_own_state_suspect(),
                n == crate::REQUEST_FAULTS_IN_A_ROW,
                "v{version}: after {n} in a row"
            );
        }
    }
}

#[test]
fn link_down_and_up_are_reported_and_sends_refused_while_down() {
    for version in [1, 2] {
        let (dev, mut net) = probe(version);
        let set_link = |up: bool| {
            let mut d = dev.borrow_mut();
            d.config[6] = up as u8;
            d.raise_config_change();
        };
        set_link(false);
        let ev = net.interrupt(0);
        assert!(ev.link_changed && !net.link_up(), "{ev:?}");
        assert_eq!(send(&mut net, &frame(64, 0), 0), Err(SendError::LinkDown));
        set_link(true);
        let ev = net.interrupt(0);
        assert!(ev.link_changed && net.link_up(), "{ev:?}");
        send(&mut net, &frame(64, 0), 0).unwrap();
        assert_eq!(net.status().link_changes, 2);
        // A config interrupt without a change reports none.
        dev.borrow_mut().raise_config_change();
        assert!(!net.interrupt(0).link_changed);
    }
}

#[test]
fn a_wedged_transmit_is_reset_at_its_deadline() {
    let (dev, mut net) = probe(2);
    send(&mut net, &frame(64, 0), 1000).unwrap();
    assert_eq!(net.tick(1000 + TX_DEADLINE_MS).fault, None, "not yet");
    let ev = net.tick(1001 + TX_DEADLINE_MS);
    assert_eq!(ev.fault, Some(DeviceFault::TxTimeout));
    assert_eq!(net.status().resets, 1);
    assert!(net.is_live());
    // The device was reset (status went through 0) and is up again.
    assert!(dev.borrow().status_writes.contains(&0));
    assert_eq!(dev.borrow().status() & 4, 4);
    for i in 0..TX_SLOTS {
        send(&mut net, &frame(64, i as u8), 3000).unwrap();
    }
}

#[test]
fn a_device_asking_for_reset_gets_one() {
    let (dev, mut net) = probe(2);
    dev.borrow_mut().set_needs_reset();
    assert_eq!(net.tick(0).fault, Some(DeviceFault::NeedsReset));
    assert!(net.is_live());
}

#[test]
fn remove_resets_the_device() {
    let (dev, mut net) = probe(1);
    send(&mut net, &frame(64, 0), 0).unwrap();
    let _regs = net.remove();
    assert_eq!(dev.borrow().status(), 0);
}

/// A batch lease on the host: `recv_batch`'s frames, put where it says.
fn take_batch(net: &mut TestNet, room: usize) -> Result<(Batch, Vec<u8>), RecvError<()>> {
    let mut lease = vec![0xEE; room];
    let batch = net.recv_batch(room, |at, f| {
        lease[at..at + f.len()].copy_from_slice(f);
        Ok::<(), ()>(())
    })?;
    Ok((batch, lease))
}

#[test]
fn a_receive_batch_packs_waiting_frames_in_order_and_says_how_many_remain() {
    for version in [1, 2] {
        let (dev, mut net) = probe(version);
        assert_eq!(
            take_batch(&mut net, RECV_BATCH_BYTES).map(|(b, _)| b),
            Err(RecvError::Empty)
        );
        let frames: Vec<Vec<u8>> = (0..11).map(|i| frame(60 + i * 97, i as u8)).collect();
        for f in &frames {
            assert!(deliver(&dev, f));
        }
        net.interrupt(0);
        // At most BATCH_FRAMES per call, the rest counted as waiting.
        let (b, lease) = take_batch(&mut net, RECV_BATCH_BYTES).unwrap();
        assert_eq!((b.count as usize, b.waiting), (BATCH_FRAMES, 3));
        let got: Vec<&[u8]> = b
            .frames(RECV_BATCH_BYTES, MAX_RECV)
            .map(|r| {
                assert_eq!(r.start % 4, 0, "every frame starts word-aligned");
                &lease[r]
            })
            .collect();
        assert_eq!(got, frames[..BATCH_FRAMES]);
        // A lease too small for the next frame ends the batch before it.
        let room = frame_stride(frames[8].len()) + frames[9].len() - 1;
        let (b, lease) = take_batch(&mut net, room).unwrap();
        assert_eq!((b.count, b.waiting), (1, 2));
        assert_eq!(&lease[..frames[8].len()], &frames[8][..]);
        // ... and before the first: it stays queued.
        assert_eq!(
            take_batch(&mut net, 100).map(|(b, _)| b),
            Err(RecvError::TooSmall {
                len: frames[9].len()
            })
        );
        let (b, lease) = take_batch(&mut net, RECV_BATCH_BYTES).unwrap();
        assert_eq!((b.count, b.waiting), (2, 0));
        let got: Vec<&[u8]> = b
            .frames(RECV_BATCH_BYTES, MAX_RECV)
            .map(|r| &lease[r])
            .collect();
        assert_eq!(got, frames[9..]);
        assert_eq!(net.status().rx_frames, 11);
        // Every buffer went back to the device.
        for i in 0..RX_SLOTS {
            assert!(deliver(&dev, &frame(64, i as u8)), "buffer {i} reposted");
        }
    }
}

/// Lays `frames` out as a send batch: the batch and its lease.
fn send_lease(frames: &[Vec<u8>]) -> (Batch, Vec<u8>) {
    let mut batch = Batch::default();
    let mut lease = vec![0; SEND_BATCH_BYTES];
    for f in frames {
        let at = batch.push(f.len(), SEND_BATCH_BYTES).unwrap();
        lease[at..at + f.len()].copy_from_slice(f);
    }
    (batch, lease)
}

fn send_batch(net: &mut TestNet, batch: &Batch, lease: &[u8]) -> Result<u32, SendError<()>> {
    net.send_batch(batch, lease.len(), 0, |at, buf| {
        buf.copy_from_slice(&lease[at..at + buf.len()]);
        Ok(())
    })
}

/// The caller's retry of `batch` after its first `sent` frames went: the
/// rest of the batch, from the first unsent byte of the lease.
fn retry_after(
    net: &mut TestNet,
    mut batch: Batch,
    lease: &[u8],
    sent: usize,
) -> Result<u32, SendError<()>> {
    let moved = batch.drop_front(sent);
    send_batch(net, &batch, &lease[moved..])
}

#[test]
fn a_send_batch_queues_its_frames_in_order_until_the_queue_is_full() {
    for version in [1, 2] {
        let (dev, mut net) = probe(version);
        let frames: Vec<Vec<u8>> = (0..BATCH_FRAMES)
            .map(|i| frame(61 + i * 181, i as u8))
            .collect();
        let (batch, lease) = send_lease(&frames);
        assert_eq!(
            send_batch(&mut net, &batch, &lease),
            Ok(BATCH_FRAMES as u32)
        );
        assert_eq!(transmit_all(&dev), frames, "byte-exact, in order");
        net.interrupt(0);
        // Fill all but 3 transmit slots: the batch stops there, short.
        for i in 0..TX_SLOTS - 3 {
            send(&mut net, &frame(64, i as u8), 0).unwrap();
        }
        assert_eq!(send_batch(&mut net, &batch, &lease), Ok(3));
        // With none left, the first frame's refusal is the error.
        let retry = |net: &mut TestNet| retry_after(net, batch, &lease, 3);
        assert_eq!(retry(&mut net), Err(SendError::QueueFull));
        let sent = transmit_all(&dev);
        assert_eq!(sent[TX_SLOTS - 3..], frames[..3]);
        net.interrupt(0);
        assert_eq!(retry(&mut net), Ok(BATCH_FRAMES as u32 - 3));
        assert_eq!(transmit_all(&dev), frames[3..]);
    }
}

#[test]
fn a_send_batch_that_lies_about_its_frames_sends_up_to_the_lie() {
    let (dev, mut net) = probe(2);
    let frames = [frame(64, 1), frame(64, 2), frame(64, 3)];
    let (mut batch, lease) = send_lease(&frames);
    // The second frame is a runt: the first goes, then the caller's
    // retry from the runt is refused as a bad frame.
    batch.lens[1] = 13;
    assert_eq!(send_batch(&mut net, &batch, &lease), Ok(1));
    let retried = retry_after(&mut net, batch, &lease, 1);
    assert_eq!(retried, Err(SendError::BadFrame));
    // Frames past the lease, and a count past the array, send nothing
    // more than is there.
    let (mut batch, lease) = send_lease(&frames);
    assert_eq!(send_batch(&mut net, &batch, &lease[..130]), Ok(2));
    batch.count = 1000;
    assert_eq!(send_batch(&mut net, &batch, &lease), Ok(3));
    assert_eq!(
        transmit_all(&dev),
        [&frames[..1], &frames[..2], &frames[..]].concat()
    );
    // An empty batch sends nothing and is no error.
    assert_eq!(send_batch(&mut net, &Batch::default(), &lease), Ok(0));
}

#[test]
fn only_a_refused_own_buffer_is_the_drivers_own_fault() {
    use virtio::ProbeError;
    let refused = virtio::Error::DmaRefused { code: 7 };
    assert!(DeviceFault::Queue(refused).is_own_buffer_refused());
    assert!(DeviceFault::Probe(ProbeError::Virtio(refused)).is_own_buffer_refused());
    for device_did_it in [
        DeviceFault::Queue(virtio::Error::QueueBroken),
        DeviceFault::Probe(ProbeError::Virtio(virtio::Error::ResetTimeout)),
        DeviceFault::Probe(ProbeError::WrongDevice { device_id: 2 }),
        DeviceFault::TxTimeout,
        DeviceFault::NeedsReset,
    ] {
        assert!(!device_did_it.is_own_buffer_refused(), "{device_did_it:?}");
    }
}

mod hostile;

#[test]
fn byte_counts_go_past_4_gib() {
    let (dev, mut net) = probe(1);
    // As after 4 GiB of traffic, short of receiving it all here.
    net.stats_mut().rx_bytes = u64::from(u32::MAX) - 10;
    net.stats_mut().tx_bytes = u64::from(u32::MAX) - 10;
    let f = frame(1000, 3);
    assert!(deliver(&dev, &f));
    net.interrupt(0);
    assert_eq!(take(&mut net).unwrap(), f);
    send(&mut net, &f, 0).unwrap();
    assert_eq!(transmit_all(&dev), [f]);
    let past = u64::from(u32::MAX) - 10 + 1000;
    let s = net.status();
    assert_eq!(s.rx_bytes, past, "rx_bytes wrapped");
    assert_eq!(s.tx_bytes, past, "tx_bytes wrapped");
}
