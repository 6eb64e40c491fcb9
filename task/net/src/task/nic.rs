//! The NIC as smoltcp's device: frames go to and come from the driver over
//! `idl/ethernet.idol`, several per call. Received frames arrive in batches
//! ([`RxBatch`]), fetched only while the driver says frames wait (its
//! notification, or the last batch's `waiting`); frames smoltcp produces
//! gather in a transmit batch sent at the end of the round (or when full),
//! and what the driver refuses waits there for room. Every received frame
//! passes the [`task_net::reassembly`] of IPv4 fragments and the
//! [`task_net::syn`] guard first, and while smoltcp cuts a datagram into
//! fragments, only they go ([`task_net::fragmenter`]).

use ethernet_api::{frame_stride, Batch, RECV_BATCH_BYTES, SEND_BATCH_BYTES};
use task_net::reassembly::Fragment;
use task_net::syn::{Turn, Verdict};

use super::*;

impl NicCore {
    /// The driver answered DEAD: it died, or died and came back.
    pub(super) fn lost_driver(&mut self) {
        #[cfg(not(feature = "linked-nic"))]
        self.count_restarts();
        #[cfg(feature = "linked-nic")]
        {
            self.restarts = self.restarts.wrapping_add(1);
        }
        self.resubscribe = true;
        #[cfg(not(feature = "linked-nic"))]
        self.incarnations.lost();
        // Whatever it held is gone; whatever its new incarnation receives
        // it announces once subscribed. Ask once anyway.
        self.rx_waiting = true;
    }

    /// Brings `restarts` up to the driver's generation (the last DEAD
    /// code's, kept by the client): the incarnations that ended since the
    /// last look, not the calls that failed. While a faulted driver waits
    /// out its restart backoff every call fails, and counted so, one fault
    /// under traffic counted 31.
    ///
    /// Only restarts this incarnation of the stack saw count: the first
    /// generation it learns is where it starts (a restarted stack counted
    /// every restart of the driver since boot).
    #[cfg(not(feature = "linked-nic"))]
    pub(super) fn count_restarts(&mut self) {
        let now = self.eth.task_id().generation().0;
        let ended = self.incarnations.count(now);
        self.restarts = self.restarts.wrapping_add(u32::from(ended));
    }

    /// A call since the last round may have reached a new incarnation of
    /// the driver without failing: an idempotent op's stub sends it again
    /// by itself (`status`, for the shell's `net`) and says nothing. That
    /// incarnation has no subscriber: treat it as a lost driver, or the
    /// stack hears of frames only on its timer (`task_net::incarnation`).
    #[cfg(not(feature = "linked-nic"))]
    pub(super) fn check_incarnation(&mut self) {
        let now = self.eth.task_id().generation().0;
        if !self.resubscribe && self.incarnations.must_subscribe(now) {
            self.lost_driver();
        }
    }

    pub(super) fn subscribe(&mut self) {
        if self.eth.subscribe(NIC_BIT).is_ok() {
            self.resubscribe = false;
            // The driver the stack first reached: restarts count from it.
            #[cfg(not(feature = "linked-nic"))]
            self.incarnations
                .subscribed(self.eth.task_id().generation().0);
        }
    }

    /// Room in the transmit batch for one more frame.
    fn tx_room(&self) -> bool {
        self.tx_batch.has_room(MAX_SEND, SEND_BATCH_BYTES)
    }

    /// Sends the transmit batch; true if it is empty after (sent, or
    /// dropped for good). What the driver refuses with `QueueFull` stays,
    /// to go when it says there is room; a frame refused for any other
    /// reason is dropped.
    pub(super) fn flush(&mut self) -> bool {
        if self.tx_batch.count == 0 {
            return true;
        }
        let used = self.tx_batch.used();
        let sent = match self.eth.send_batch(self.tx_batch, &self.tx[..used]) {
            Ok(n) => {
                let n = n.min(self.tx_batch.count);
                self.tx_frames = self.tx_frames.wrapping_add(n);
                n as usize
            }
            Err(RequestError::Server(EthernetError::QueueFull)) => 0,
            Err(e) => {
                if let RequestError::ServerRestarted | RequestError::ServerStopped = e {
                    self.lost_driver();
                }
                1
            }
        };
        let gone = self.tx_batch.drop_front(sent);
        self.tx.copy_within(gone..used, 0);
        self.tx_batch.count == 0
    }
}

/// Received frames fetched from the driver and not yet handed to smoltcp.
pub(super) struct RxBatch {
    buf: &'static mut [u8; RECV_BATCH_BYTES],
    /// The rest of the last batch, as ranges of `buf`.
    frames: ethernet_api::Frames,
    /// The frame looked at and not yet handed on or dropped.
    current: Option<core::ops::Range<usize>>,
}

impl RxBatch {
    pub(super) fn new(buf: &'static mut [u8; RECV_BATCH_BYTES]) -> Self {
        RxBatch {
            buf,
            frames: Batch::default().frames(0, 0),
            current: None,
        }
    }

    /// The next received frame, left in place until [`RxBatch::take`] or
    /// [`RxBatch::skip`]: from the batch in hand, else from a new one if
    /// the driver may hold any.
    fn peek(&mut self, core: &mut NicCore) -> Option<&[u8]> {
        if let Some(range) = self.current.clone() {
            return self.buf.get(range);
        }
        if core.rx_budget == 0 {
            // The round had its share of frames (`RX_ROUND_FRAMES`).
            core.rx_busy = true;
            return None;
        }
        let range = match self.frames.next() {
            Some(range) => range,
            None => {
                if !core.rx_waiting {
                    return None;
                }
                match core.eth.recv_batch(&mut self.buf[..]) {
                    Ok(batch) => {
                        core.rx_waiting = batch.waiting > 0;
                        // The driver is not trusted with the layout:
                        // frames end where its batch stops making sense.
                        self.frames = batch.frames(RECV_BATCH_BYTES, MAX_RECV);
                        self.frames.next()?
                    }
                    Err(e) => {
                        core.rx_waiting = false;
                        if let RequestError::ServerRestarted | RequestError::ServerStopped = e {
                            core.lost_driver();
                        }
                        return None;
                    }
                }
            }
        };
        core.rx_frames = core.rx_frames.wrapping_add(1);
        core.rx_budget -= 1;
        self.current = Some(range.clone());
        self.buf.get(range)
    }

    /// Hands on the frame [`RxBatch::peek`] showed.
    fn take(&mut self) -> Option<&[u8]> {
        let range = self.current.take()?;
        self.buf.get(range)
    }

    /// Drops the frame [`RxBatch::peek`] showed.
    fn skip(&mut self) {
        self.current = None;
    }
}

pub(super) struct NicRx<'a>(&'a [u8]);

pub(super) struct NicTx<'a>(&'a mut NicCore);

impl phy::RxToken for NicRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for NicTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let nic = self.0;
        let len = len.min(MAX_SEND);
        // Tokens are only handed out with room (`tx_room`), so this fits.
        let at = nic
            .tx_batch
            .push(len, SEND_BATCH_BYTES)
            .unwrap_or_else(|| unreachable!("a transmit token without room"));
        let r = f(&mut nic.tx[at..at + len]);
        nic.fragmenter.sent(&nic.tx[at..at + len]);
        if !nic.tx_room() {
            nic.flush();
        }
        r
    }
}

impl phy::Device for Nic {
    type RxToken<'a> = NicRx<'a>;
    type TxToken<'a> = NicTx<'a>;

    fn receive(&mut self, t: Instant) -> Option<(NicRx<'_>, NicTx<'_>)> {
        let Nic {
            core,
            rx,
            syn,
            fragments,
        } = self;
        if !core.tx_room() || !core.fragmenter.may_receive() {
            // Answering a frame needs room to transmit, and the
            // fragmenter free: leave it where it is until then.
            return None;
        }
        // SYNs kept over a full backlog go first, once there is room.
        match syn.next_kept() {
            Turn::Kept => return Some((NicRx(syn.handed_frame()), NicTx(core))),
            Turn::Wait => return None,
            Turn::None => {}
        }
        let whole = loop {
            let frame = rx.peek(core)?;
            match fragments.take(frame, t.total_millis() as u64) {
                Fragment::No => {}
                Fragment::Taken => {
                    rx.skip();
                    continue;
                }
                Fragment::Whole(_) => {
                    rx.skip();
                    break true;
                }
            }
            match syn.judge(rx.peek(core)?) {
                Verdict::Deliver => break false,
                Verdict::Repeated | Verdict::Postponed => rx.skip(),
                // The round ends here; the frame waits for the next.
                Verdict::Wait => return None,
            }
        };
        if whole {
            // A reassembled datagram: neither TCP nor ever a SYN, so the
            // guard has no say.
            return Some((NicRx(fragments.whole()?), NicTx(core)));
        }
        let frame = rx.take()?;
        Some((NicRx(frame), NicTx(core)))
    }

    fn transmit(&mut self, _: Instant) -> Option<NicTx<'_>> {
        (self.core.tx_room() && self.core.fragmenter.may_send()).then_some(NicTx(&mut self.core))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_SEND;
        // smoltcp caps the TCP window at this many segments: a burst the
        // driver can hold (16 receive buffers) and the stack takes in one
        // `recv_batch`. One segment (smoltcp's default) made the peer wait
        // for an ACK after every frame, a wake-up and a call per frame.
        caps.max_burst_size = Some(ethernet_api::BATCH_FRAMES);
        caps
    }
}

const _: () = assert!(frame_stride(MAX_SEND) <= SEND_BATCH_BYTES);
