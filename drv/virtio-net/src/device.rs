//! One network device, brought up and driven: the seed's `probe`, `remove`
//! and callback for virtio-net (§5.1).
//!
//! [`Net`] is generic over the register access so that the same code runs
//! on the target (volatile MMIO) and in the host tests (the virtio core's
//! software device). It never blocks: the task calls [`Net::interrupt`]
//! when the IRQ fires and [`Net::tick`] from its timer, and the client's
//! `send`/`recv` go straight to [`Net::send`] and [`Net::recv`].

use ethernet_api::{EthernetStatus, HEADER_LEN, MAX_RECV, MAX_SEND};
use virtio::config::{read_config_bytes, read_consistent};
use virtio::queue::SplitQueue;
use virtio::transport::mmio::MmioTransport;
use virtio::{DeviceStatus, Features, RegisterAccess, Transport};

pub use crate::error::{DeviceFault, ProbeError, RecvError, SendError};
use crate::header::header_len;
use crate::memory::{Buffers, NetMemory, QUEUE_SIZE, RX_SLOTS, TX_SLOTS};
use crate::ready::ReadyFrames;
use crate::{DEVICE_ID, RX_QUEUE, TX_DEADLINE_MS, TX_QUEUE};

/// `VIRTIO_NET_F_MAC` (bit 5): the device has a MAC address in its config
/// space (§5.1.3).
pub const VIRTIO_NET_F_MAC: Features = Features::bit(5);
/// `VIRTIO_NET_F_STATUS` (bit 16): the config `status` field is valid
/// (§5.1.3).
pub const VIRTIO_NET_F_STATUS: Features = Features::bit(16);

/// Config space offset of `mac` (§5.1.4, `struct virtio_net_config`).
const CONFIG_MAC: usize = 0;
/// Config space offset of `status` (§5.1.4), valid with
/// `VIRTIO_NET_F_STATUS`.
const CONFIG_STATUS: usize = 6;
/// `VIRTIO_NET_S_LINK_UP` in `status` (§5.1.4).
const VIRTIO_NET_S_LINK_UP: u16 = 1;
/// InterruptStatus bit 1: the configuration changed (§4.2.2).
const CONFIG_CHANGE: u32 = 1 << 1;

/// What an interrupt or tick found, for the task to tell its client.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Received frames are waiting for [`Net::recv`].
    pub rx_ready: bool,
    /// Transmit slots came back after a send was refused with `QueueFull`.
    pub tx_space: bool,
    /// The link went up or down.
    pub link_changed: bool,
    /// The device misbehaved and was reset.
    pub fault: Option<DeviceFault>,
}

impl Events {
    /// Whether the client should be told.
    pub fn notify(&self) -> bool {
        self.rx_ready || self.tx_space || self.link_changed || self.fault.is_some()
    }
}

/// A virtio network device in use: its transport, receiveq1 and
/// transmitq1, and the buffers of [`NetMemory`].
pub struct Net<'a, R: RegisterAccess> {
    transport: MmioTransport<R>,
    rx: SplitQueue<'a, u16, QUEUE_SIZE>,
    tx: SplitQueue<'a, u16, QUEUE_SIZE>,
    buffers: &'a Buffers,
    /// Negotiated features, to bring the device up again the same way.
    features: Features,
    header_len: usize,
    mac: [u8; 6],
    link_up: bool,
    /// False after a fault until the device is up again.
    live: bool,
    ready: ReadyFrames,
    /// Transmit slots the device does not own (bit i = slot i).
    tx_free: u32,
    /// The transmit slots in use: as many as the device's transmit queue
    /// holds (two descriptors each), up to [`TX_SLOTS`]. A device may
    /// allow fewer entries than [`QUEUE_SIZE`] (its QueueNumMax, §2.7);
    /// slots that do not fit were a ninth frame the ring refused, taken
    /// for a device fault and a reset.
    tx_all: u32,
    /// The receive slots in use, likewise (up to [`RX_SLOTS`]).
    rx_slots: usize,
    /// A send was refused since the last completion: tell the client when
    /// space comes back.
    tx_refused: bool,
    /// When transmit last made progress (a completion, or a send into an
    /// empty queue), in ms.
    tx_progress_ms: u64,
    /// How long a transmit may wait for progress ([`TX_DEADLINE_MS`]
    /// unless the task sets its app.toml `deadline-ms`).
    tx_deadline_ms: u64,
    stats: EthernetStatus,
    /// A fault found in a client's request (the device was reset in its
    /// path), which the request's answer (`DeviceDown`) cannot carry: kept
    /// for [`take_fault`](Self::take_fault), so the task judges it as it
    /// judges the faults its interrupt and timer find.
    unreported: Option<DeviceFault>,
    /// Requests that found a fault since the device last completed a
    /// transmit ([`REQUEST_FAULTS_IN_A_ROW`]).
    request_faults: u32,
    /// A ring corruption was injected: make one real request at the next
    /// tick (test images only).
    #[cfg(feature = "fault-injection")]
    probe_due: bool,
}

/// Requests that find a fault with no transmit completed between (see
/// [`Net::is_own_state_suspect`]): a device that breaks its queue now and
/// then is reset and sends again; eight resets in a row that cure
/// nothing mean a reset is not the cure.
pub const REQUEST_FAULTS_IN_A_ROW: u32 = 8;

/// Descriptors of one frame's buffer: the virtio-net header, the frame.
const DESCS_PER_FRAME: u16 = 2;

/// How many of `max` slots a queue of `size` entries holds.
fn slots_in(size: u16, max: usize) -> usize {
    usize::from(size / DESCS_PER_FRAME).min(max)
}

/// The bits of slots `0..n` (`n` <= 32).
fn slot_mask(n: usize) -> u32 {
    u32::MAX.checked_shr(32 - n as u32).unwrap_or(0)
}

impl<'a, R: RegisterAccess> Net<'a, R> {
    /// The seed's `probe`: brings up the device behind `regs` (§3.1.1,
    /// §5.1.5): reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, both
    /// queues in `memory`, every receive buffer posted, DRIVER_OK.
    /// `fallback_mac` is used if the device offers no `VIRTIO_NET_F_MAC`.
    ///
    /// On failure the device is left with FAILED set (or reset) and does no
    /// DMA.
    ///
    /// With a `gate` (the kernel, in a task) both queues are placed and
    /// written by it, in ring memory this driver may only read; without
    /// one they live in `memory`.
    pub fn probe(
        regs: R,
        memory: &'a mut NetMemory,
        fallback_mac: [u8; 6],
        gate: Option<&'a dyn virtio::DmaGate>,
    ) -> Result<Self, ProbeError> {
        let mut transport = MmioTransport::of_type(regs, DEVICE_ID)?;
        let features = transport.negotiate_through(VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS, gate)?;
        let (rx_ring, tx_ring, buffers) = memory.split();
        let queues = match gate {
            Some(gate) => SplitQueue::gated(RX_QUEUE, gate, features)
                .and_then(|rx| Ok((rx, SplitQueue::gated(TX_QUEUE, gate, features)?))),
            None => transport
                .setup_queue::<u16, QUEUE_SIZE>(RX_QUEUE, rx_ring, features)
                .and_then(|rx| {
                    let tx =
                        transport.setup_queue::<u16, QUEUE_SIZE>(TX_QUEUE, tx_ring, features)?;
                    Ok((rx, tx))
                }),
        };
        let (rx, tx) = match queues {
            Ok(q) => q,
            Err(e) => {
                transport.fail();
                return Err(e.into());
            }
        };
        let (rx_slots, tx_slots) = (slots_in(rx.size(), RX_SLOTS), slots_in(tx.size(), TX_SLOTS));
        if rx_slots == 0 || tx_slots == 0 {
            let (queue, size) = if rx_slots == 0 {
                (RX_QUEUE, rx.size())
            } else {
                (TX_QUEUE, tx.size())
            };
            transport.fail();
            return Err(ProbeError::QueueTooSmall {
                queue,
                size,
                needed: DESCS_PER_FRAME,
            });
        }
        let mut mac = fallback_mac;
        if features.contains(VIRTIO_NET_F_MAC) {
            if let Err(e) = read_config_bytes(&transport, CONFIG_MAC, &mut mac) {
                // The queues are set up: the device must not be left
                // half brought up (the promise above).
                transport.fail();
                return Err(e.into());
            }
        }
        let header_len = header_len(transport.is_legacy());
        let mut net = Net {
            transport,
            rx,
            tx,
            buffers,
            features,
            header_len,
            mac,
            link_up: true,
            live: false,
            ready: ReadyFrames::new(),
            tx_free: slot_mask(tx_slots),
            tx_all: slot_mask(tx_slots),
            rx_slots,
            tx_refused: false,
            tx_progress_ms: 0,
            tx_deadline_ms: TX_DEADLINE_MS,
            stats: EthernetStatus::default(),
            unreported: None,
            request_faults: 0,
            #[cfg(feature = "fault-injection")]
            probe_due: false,
        };
        match net.read_link() {
            Ok(up) => net.link_up = up,
            Err(e) => {
                net.transport.fail();
                return Err(e.into());
            }
        }
        net.post_rx_and_go().map_err(ProbeError::Virtio)?;
        Ok(net)
    }

    /// The seed's `remove`: resets the device (no more DMA, §2.4) and takes
    /// every buffer back. Gives back the register access; the memory's
    /// borrow ends here.
    pub fn remove(mut self) -> R {
        self.quiesce();
        self.transport.into_regs()
    }

    /// Sets the transmit deadline (the task's app.toml `deadline-ms`).
    pub fn set_tx_deadline(&mut self, ms: u64) {
        self.tx_deadline_ms = ms.max(1);
    }

    /// The MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Whether the link is up (always, without `VIRTIO_NET_F_STATUS`).
    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Whether the device is up (false after a fault until it is brought up
    /// again).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The negotiated features.
    pub fn features(&self) -> Features {
        self.features
    }

    /// Bytes of the virtio-net header on this transport (§5.1.6).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Link state and counters.
    pub fn status(&self) -> EthernetStatus {
        EthernetStatus {
            link_up: self.link_up as u32,
            device_up: self.live as u32,
            ..self.stats
        }
    }

    /// Tests only: the counters, to set as long traffic would leave them.
    #[cfg(test)]
    pub(crate) fn stats_mut(&mut self) -> &mut EthernetStatus {
        &mut self.stats
    }

    /// Frames waiting for [`recv`](Self::recv).
    pub fn frames_waiting(&self) -> usize {
        self.ready.len()
    }

    /// The device's interrupt: acknowledges it, re-reads the link status on
    /// a configuration change, reclaims finished transmits and collects
    /// received frames. The caller unmasks the interrupt afterwards.
    pub fn interrupt(&mut self, now_ms: u64) -> Events {
        let mut events = Events::default();
        if !self.live {
            return events;
        }
        let cause = self.transport.take_interrupt();
        if cause.0 & CONFIG_CHANGE != 0 {
            match self.read_link() {
                Ok(up) => {
                    if up != self.link_up {
                        self.link_up = up;
                        self.stats.link_changes = self.stats.link_changes.wrapping_add(1);
                        events.link_changed = true;
                    }
                }
                Err(e) => return self.fault_events(DeviceFault::Queue(e), now_ms),
            }
        }
        if let Err(fault) = self.reap(now_ms, &mut events) {
            return self.fault_events(fault, now_ms);
        }
        events
    }

    /// The timer: resets a device that holds a transmit past its deadline
    /// or asks to be reset, and brings a device that is down up again.
    pub fn tick(&mut self, now_ms: u64) -> Events {
        if !self.live {
            let mut events = Events::default();
            if let Err(fault) = self.bring_up_again() {
                events.fault = Some(fault);
            } else {
                events.rx_ready = self.ready.len() > 0;
                events.tx_space = true;
            }
            return events;
        }
        if self
            .transport
            .status()
            .contains(DeviceStatus::DEVICE_NEEDS_RESET)
        {
            return self.fault_events(DeviceFault::NeedsReset, now_ms);
        }
        #[cfg(feature = "fault-injection")]
        self.probe_frame(now_ms);
        // Completions that raced the interrupt count as progress.
        let mut events = Events::default();
        if let Err(fault) = self.reap(now_ms, &mut events) {
            return self.fault_events(fault, now_ms);
        }
        if self.tx.in_flight() > 0
            && now_ms.saturating_sub(self.tx_progress_ms) > self.tx_deadline_ms
        {
            return self.fault_events(DeviceFault::TxTimeout, now_ms);
        }
        events
    }

    /// Queues a frame of `len` bytes, which `source` writes into the
    /// transmit buffer it is handed (exactly `len` bytes long).
    pub fn send<E>(
        &mut self,
        len: usize,
        now_ms: u64,
        source: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), SendError<E>> {
        if !(HEADER_LEN..=MAX_SEND).contains(&len) {
            return Err(SendError::BadFrame);
        }
        if !self.live {
            return Err(SendError::DeviceDown);
        }
        if !self.link_up {
            return Err(SendError::LinkDown);
        }
        if self.tx_free == 0 {
            let mut events = Events::default();
            if let Err(fault) = self.reap(now_ms, &mut events) {
                self.request_fault(fault, now_ms);
                return Err(SendError::DeviceDown);
            }
        }
        if self.tx_free == 0 {
            self.tx_refused = true;
            self.stats.tx_full = self.stats.tx_full.wrapping_add(1);
            return Err(SendError::QueueFull);
        }
        let slot = self.tx_free.trailing_zeros() as usize;
        {
            // SAFETY: `slot` is in `tx_free`, so the device does not own it
            // (it was never queued, came back from `get_buf`, or the queue
            // was shut down after a reset); these are the only references to
            // it and they end in this block.
            let (header, frame) = unsafe { self.buffers.tx_slot(slot) };
            header.fill(0);
            source(&mut frame[..len]).map_err(SendError::Source)?;
        }
        let bufs = self.buffers.tx_bufs(slot, self.header_len, len);
        // SAFETY: the slot's buffers are in `NetMemory`, borrowed for 'a, so
        // they stay put while the device may read them; nothing writes them
        // until the token comes back from `get_buf` or `shutdown` (after a
        // reset): `tx_free` loses the slot here and only regains it then.
        if let Err(e) = unsafe { self.tx.add_buf(&bufs, &[], slot as u16) } {
            self.request_fault(DeviceFault::Queue(e), now_ms);
            return Err(SendError::DeviceDown);
        }
        if self.tx.in_flight() == 1 {
            self.tx_progress_ms = now_ms;
        }
        self.tx_free &= !(1 << slot);
        // Test images: a fault armed for this point fires with the frame
        // published and the device not yet told.
        #[cfg(all(feature = "fault-injection", target_os = "none"))]
        if let Some((how, arg)) = fault_inject::point::fire(fault_inject::point::Point::BeforeKick)
        {
            self.tx.corrupt(how, arg);
        }
        self.tx.kick(&mut self.transport);
        self.stats.tx_frames = self.stats.tx_frames.wrapping_add(1);
        self.stats.tx_bytes = self.stats.tx_bytes.wrapping_add(len as u64);
        Ok(())
    }

    /// Hands the oldest received frame to `sink` (if it fits in `max`
    /// bytes) and posts its buffer again. Returns its length.
    pub fn recv<E>(
        &mut self,
        max: usize,
        sink: impl FnOnce(&[u8]) -> Result<(), E>,
    ) -> Result<usize, RecvError<E>> {
        let Some((slot, len)) = self.ready.peek() else {
            return Err(RecvError::Empty);
        };
        if len > max {
            return Err(RecvError::TooSmall { len });
        }
        self.ready.pop();
        let result = {
            // SAFETY: the slot was in the ready list: the device gave it
            // back and it is not posted again until below, after the slice
            // is gone.
            let frame = unsafe { self.buffers.rx_frame(slot, len) };
            sink(frame)
        };
        if self.live {
            if let Err(e) = self.post_rx(slot) {
                self.request_fault(DeviceFault::Queue(e), 0);
            } else {
                self.rx.kick(&mut self.transport);
            }
        }
        // Test images: a fault armed for this point fires with a frame the
        // device completed and the client not yet answered (a ring
        // corruption goes where `corrupt_queue` puts it: the transmit ring,
        // which the next tick's probe frame shows broken).
        #[cfg(all(feature = "fault-injection", target_os = "none"))]
        if let Some((how, arg)) = fault_inject::point::fire(fault_inject::point::Point::BeforeReply)
        {
            self.corrupt_queue(how, arg);
        }
        match result {
            Ok(()) => {
                self.stats.rx_frames = self.stats.rx_frames.wrapping_add(1);
                self.stats.rx_bytes = self.stats.rx_bytes.wrapping_add(len as u64);
                Ok(len)
            }
            Err(e) => {
                self.stats.rx_dropped = self.stats.rx_dropped.wrapping_add(1);
                Err(RecvError::Sink(e))
            }
        }
    }

    /// Fault injection (test images only): breaks the transmit ring as a
    /// memory-corrupting bug would, and tells the device to look at it.
    ///
    /// A legacy device that gives up on a broken ring says nothing (it has
    /// no DEVICE_NEEDS_RESET) and then receives nothing either, so with no
    /// transmit in flight the deadline would never catch it. As blk and
    /// rng do after a corruption, the next tick makes one real request: a
    /// probe frame to the NIC's own address (IEEE 802 local experimental
    /// EtherType 0x88B5), which a healthy device completes and a broken one
    /// leaves to the transmit deadline.
    #[cfg(feature = "fault-injection")]
    pub fn corrupt_queue(&mut self, how: virtio::queue::Corruption, value: u32) -> bool {
        if !self.live {
            return false;
        }
        self.tx.corrupt(how, value);
        self.transport.notify(TX_QUEUE);
        self.probe_due = true;
        true
    }

    /// Sends the probe frame of [`corrupt_queue`](Self::corrupt_queue).
    #[cfg(feature = "fault-injection")]
    fn probe_frame(&mut self, now_ms: u64) {
        if !core::mem::take(&mut self.probe_due) {
            return;
        }
        let mac = self.mac;
        let _ = self.send(60, now_ms, |f| {
            f.fill(0);
            f[..6].copy_from_slice(&mac);
            f[6..12].copy_from_slice(&mac);
            f[12..14].copy_from_slice(&[0x88, 0xb5]);
            Ok::<(), ()>(())
        });
    }

    /// Reads `VIRTIO_NET_S_LINK_UP` (§5.1.4); up if the device does not
    /// report link status.
    fn read_link(&self) -> Result<bool, virtio::Error> {
        if !self.features.contains(VIRTIO_NET_F_STATUS) {
            return Ok(true);
        }
        let status = read_consistent(&self.transport, |t| t.read_config16(CONFIG_STATUS))?;
        Ok(status & VIRTIO_NET_S_LINK_UP != 0)
    }

    /// The IRQ path of the seed for both queues: `get_buf` until it says
    /// none, then `restart`, and again if `restart` says a completion raced
    /// in.
    fn reap(&mut self, now_ms: u64, events: &mut Events) -> Result<(), DeviceFault> {
        loop {
            while let Some((slot, _len)) = self.tx.get_buf().map_err(DeviceFault::Queue)? {
                // The queue only returns tokens it handed out, once each.
                self.tx_free |= 1 << (usize::from(slot) % TX_SLOTS);
                self.tx_progress_ms = now_ms;
                self.request_faults = 0;
                if self.tx_refused {
                    self.tx_refused = false;
                    events.tx_space = true;
                }
            }
            let mut reposted = false;
            while let Some((slot, len)) = self.rx.get_buf().map_err(DeviceFault::Queue)? {
                let slot = usize::from(slot) % RX_SLOTS;
                let len = len as usize;
                // The queue checked `len` against the chain's writable bytes
                // (header + MAX_RECV); a frame shorter than an Ethernet
                // header is junk.
                match len.checked_sub(self.header_len) {
                    Some(frame) if (HEADER_LEN..=MAX_RECV).contains(&frame) => {
                        self.ready.push(slot, frame);
                        events.rx_ready = true;
                    }
                    _ => {
                        self.stats.rx_dropped = self.stats.rx_dropped.wrapping_add(1);
                        self.post_rx(slot).map_err(DeviceFault::Queue)?;
                        reposted = true;
                    }
                }
            }
            if reposted {
                self.rx.kick(&mut self.transport);
            }
            let tx_done = self.tx.restart();
            let rx_done = self.rx.restart();
            if tx_done && rx_done {
                return Ok(());
            }
            for q in [&self.tx, &self.rx] {
                if q.is_broken() {
                    return Err(DeviceFault::Queue(virtio::Error::QueueBroken));
                }
            }
        }
    }

    /// Posts receive slot `slot` (without a kick).
    fn post_rx(&mut self, slot: usize) -> Result<(), virtio::Error> {
        let bufs = self.buffers.rx_bufs(slot, self.header_len);
        // SAFETY: the slot's buffers are in `NetMemory`, borrowed for 'a, so
        // they stay put while the device may write them; the driver reads
        // the frame only after the token comes back from `get_buf` (it is
        // then in the ready list, and posted again only once the client
        // took the frame), or not at all after a reset (`shutdown`).
        unsafe { self.rx.add_buf(&[], &bufs, slot as u16) }
    }

    /// Posts every receive slot not holding a waiting frame, sets
    /// DRIVER_OK, then kicks (a driver must not notify before DRIVER_OK,
    /// §3.1.1).
    fn post_rx_and_go(&mut self) -> Result<(), virtio::Error> {
        for slot in 0..self.rx_slots {
            if !self.ready.holds(slot) {
                if let Err(e) = self.post_rx(slot) {
                    self.transport.fail();
                    return Err(e);
                }
            }
        }
        self.transport.driver_ok()?;
        self.rx.kick(&mut self.transport);
        self.live = true;
        Ok(())
    }

    /// Resets the device and takes every buffer back; frames already
    /// received stay in the ready list.
    fn quiesce(&mut self) {
        // A device that does not finish its reset is not listening any more
        // either way; the queues are taken back regardless (the supervisor
        // resets the slot again when it revokes the window).
        let _ = self.transport.reset();
        for _slot in self.rx.shutdown() {}
        for _slot in self.tx.shutdown() {}
        self.tx_free = self.tx_all;
        self.live = false;
    }

    /// [`fault_events`](Self::fault_events) for a fault found in a
    /// client's request: its events have no one to go to but
    /// [`take_fault`](Self::take_fault).
    fn request_fault(&mut self, fault: DeviceFault, now_ms: u64) {
        self.unreported = self.fault_events(fault, now_ms).fault;
        self.request_faults = self.request_faults.saturating_add(1);
    }

    /// Whether [`REQUEST_FAULTS_IN_A_ROW`] requests found a fault, each
    /// resetting the device, with no transmit completed since the first:
    /// resets do not cure what goes wrong, which is likely the driver's
    /// own state (a flipped register in `net0` made every send find a
    /// "fault" in a healthy queue, and the driver answered `DeviceError`
    /// for good). The task should stop and be restarted from its image
    /// (the supervisor resets the device first).
    pub fn is_own_state_suspect(&self) -> bool {
        self.request_faults >= REQUEST_FAULTS_IN_A_ROW
    }

    /// The fault a [`send`](Self::send) or [`recv`](Self::recv) (or a
    /// batch of them) found and reset the device for, once. The client
    /// heard only `DeviceDown` (or nothing, for a receive buffer posted
    /// again); the task must judge the fault itself: a refusal of the
    /// driver's own buffer
    /// ([`is_own_buffer_refused`](DeviceFault::is_own_buffer_refused))
    /// means its state is corrupt, and a reset cures nothing.
    pub fn take_fault(&mut self) -> Option<DeviceFault> {
        self.unreported.take()
    }

    /// Handles a device fault: reset, buffers back, up again; the events
    /// tell the client to look (waiting frames, transmit space).
    fn fault_events(&mut self, fault: DeviceFault, now_ms: u64) -> Events {
        self.quiesce();
        self.stats.resets = self.stats.resets.wrapping_add(1);
        let fault = match self.bring_up_again() {
            Ok(()) => fault,
            Err(again) => again,
        };
        self.tx_progress_ms = now_ms;
        self.tx_refused = false;
        Events {
            rx_ready: self.ready.len() > 0,
            tx_space: true,
            link_changed: false,
            fault: Some(fault),
        }
    }

    /// Brings the device up again after a fault, with the same features and
    /// the same (reinitialised) queues.
    fn bring_up_again(&mut self) -> Result<(), DeviceFault> {
        // A half-finished earlier attempt may have posted buffers: reset and
        // take them back before posting again.
        self.quiesce();
        let result = (|| {
            let gate = self.rx.gate();
            let features = self
                .transport
                .negotiate_through(VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS, gate)?;
            if features != self.features {
                self.transport.fail();
                return Err(virtio::Error::FeaturesRejected);
            }
            for queue in [&mut self.rx, &mut self.tx] {
                if let Err(e) = queue.reattach(&mut self.transport) {
                    self.transport.fail();
                    return Err(e);
                }
            }
            self.link_up = self.read_link()?;
            self.post_rx_and_go()
        })();
        result.map_err(|e| DeviceFault::Probe(ProbeError::Virtio(e)))
    }
}
