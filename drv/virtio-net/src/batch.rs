//! Several frames per call: the data path of `idl/ethernet.idol`'s
//! `send_batch` and `recv_batch`, in the frame layout of
//! [`ethernet_api::Batch`]. A call into the driver task costs a round trip
//! and two context switches whatever it carries, so the stack moves up to
//! [`BATCH_FRAMES`] frames per call, and learns in the same reply whether
//! more wait (so it does not call just to hear `Empty`).
//!
//! The lease is reached through the caller's closures (`sink`, `source`:
//! lease copies in the task, plain copies in the host tests and in the
//! bench's linked build), one per frame, at the frame's offset.

use ethernet_api::{Batch, BATCH_FRAMES, MAX_RECV, MAX_SEND};
use virtio::RegisterAccess;

use crate::device::{Net, RecvError, SendError};

impl<R: RegisterAccess> Net<'_, R> {
    /// Moves received frames, oldest first, into a batch lease of `room`
    /// bytes through `sink(offset, frame)`, until [`BATCH_FRAMES`] moved,
    /// none waits, or the next does not fit (it stays queued). The batch
    /// says where each went, and how many still wait.
    ///
    /// `Empty` if none waited, `TooSmall` if the first did not fit; a
    /// `sink` error ends the call with that error (the frame is dropped,
    /// as by [`Net::recv`]).
    pub fn recv_batch<E>(
        &mut self,
        room: usize,
        mut sink: impl FnMut(usize, &[u8]) -> Result<(), E>,
    ) -> Result<Batch, RecvError<E>> {
        let mut batch = Batch::default();
        let mut at = 0;
        while (batch.count as usize) < BATCH_FRAMES {
            let max = room.saturating_sub(at).min(MAX_RECV);
            match self.recv(max, |frame| sink(at, frame)) {
                Ok(len) => match batch.push(len, room) {
                    Some(_) => at = batch.used(),
                    // Cannot happen: `recv` honoured `max`, which fits.
                    None => break,
                },
                Err(RecvError::Empty | RecvError::TooSmall { .. }) if batch.count > 0 => break,
                Err(e) => return Err(e),
            }
        }
        batch.waiting = self.frames_waiting() as u32;
        Ok(batch)
    }

    /// Queues the frames `batch` lays out in a lease of `room` bytes, read
    /// through `source(offset, buffer)`, in order, until one is refused;
    /// returns how many were queued.
    ///
    /// The first frame's refusal is the error, as for [`Net::send`] (a
    /// batch whose first frame has no valid length or lies outside the
    /// lease is `BadFrame`); a later one's ends the batch early, and the
    /// caller, sending the rest again, hears why.
    pub fn send_batch<E>(
        &mut self,
        batch: &Batch,
        room: usize,
        now_ms: u64,
        mut source: impl FnMut(usize, &mut [u8]) -> Result<(), E>,
    ) -> Result<u32, SendError<E>> {
        let mut sent = 0;
        for frame in batch.frames(room, MAX_SEND) {
            let at = frame.start;
            match self.send(frame.len(), now_ms, |buf| source(at, buf)) {
                Ok(()) => sent += 1,
                Err(e) if sent == 0 => return Err(e),
                Err(_) => return Ok(sent),
            }
        }
        if sent == 0 && batch.count > 0 {
            return Err(SendError::BadFrame);
        }
        Ok(sent)
    }
}

// The stack lets TCP peers send bursts of BATCH_FRAMES segments: the
// driver must be able to hold one while the stack is busy.
const _: () = assert!(BATCH_FRAMES <= crate::memory::RX_SLOTS);
