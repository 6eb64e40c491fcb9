//! The Block server's requests: each takes a slot and goes on the queue
//! (`start_request`, the [`BlockServer`] methods), and is answered when the
//! device completes it ([`complete`]).

use block_api::{BlockError, BlockInfo, SECTOR_SIZE};
use idol_runtime::{
    Deferred, Detached, Ipc, LeaseError, Leased, Read, Served, ServerError, TaskId, Write,
};
use virtio::RegisterAccess;

use super::{
    block_reply_flush, block_reply_info, block_reply_read, block_reply_write, Binding, BlockDriver,
    BlockServer, Event, Pending, Platform,
};
use crate::device::{BlkDevice, Completion, Request};
use crate::protocol::VIRTIO_BLK_ID_BYTES;
use crate::trace::{self, Trace};

/// What a read, write or flush answers: nothing yet (the reply goes out
/// when the device completes it), or at once for a transfer of no sectors.
type Transfer = Served<Deferred<()>, BlockError>;

impl<I: Ipc + Copy, P: Platform> BlockDriver<'_, I, P> {
    /// Takes a slot, lets `fill` prepare its buffer, submits and kicks.
    /// The reply then waits for the device: `Ok(Deferred::Later)`.
    ///
    /// `lent`: the request's data is lease `index` of `lender`'s call, to
    /// be posted to the device as it is (zero-copy); `fill` is then not
    /// called.
    fn start_request<T>(
        &mut self,
        request: Request,
        fill: impl FnOnce(&mut [u8]) -> Result<(), LeaseError>,
        pending: Pending,
        lent: Option<(u8, TaskId)>,
    ) -> Served<Deferred<T>, BlockError> {
        let checked = match &self.binding {
            Binding::Bound { device, .. } => device.check(&request),
            _ => return Err(self.unbound_error().into()),
        };
        if checked == Err(BlockError::OutOfRange) {
            // Before refusing a sector, read the capacity again: the disk
            // may have grown with its configuration-change interrupt not
            // yet taken, or our copy of the capacity may have gone bad (a
            // corrupted copy refused every request for good). Off the
            // common path: a correct request never gets here.
            self.config_changed();
        } else {
            checked?;
        }
        let error = self.unbound_error();
        let Binding::Bound { device, .. } = &mut self.binding else {
            return Err(error.into());
        };
        if checked.is_err() {
            device.check(&request)?;
        }
        // The loop only receives while a slot is free; if none is (a
        // notification-only receive was skipped), the client is answered,
        // not left waiting.
        let Some(slot) = device.reserve() else {
            self.refused();
            return Err(BlockError::DeviceError.into());
        };
        // Alone on the queue: it is polled for right after the kick
        // (`poll_first`).
        let alone = device.in_flight() == 0;
        let data = match (lent, request) {
            (Some((index, lender)), Request::Read { len, .. } | Request::Write { len, .. }) => {
                // len <= MAX_TRANSFER (checked above).
                Some((virtio::Buf::lease(index, 0, len as u32), Some(lender.0)))
            }
            _ => None,
        };
        if data.is_some() {
            // The device moves the client's bytes itself.
        } else if let Request::Write { len, .. } = request {
            let filled = match device.buffer(slot).and_then(|b| b.get_mut(..len)) {
                Some(buf) => fill(buf).map_err(ServerError::from),
                None => Err(BlockError::TooLarge.into()),
            };
            if let Err(e) = filled {
                device.release(slot);
                return Err(e);
            }
        }
        // The device's interrupt stays asked for, as in the in-task path
        // (`transfer_blocking`): a request is polled for once right after
        // the kick (`poll_first`) and else waits for it. Asking for no
        // interrupt first would cost a second gate call (`restart`) on
        // every request the device is not done with by then — almost all,
        // even on QEMU's file-backed disk — to save an interrupt on the
        // few it is.
        // `check`ed above.
        if let Err(e) = device.submit_checked(slot, request, data) {
            device.release(slot);
            if device.out_of_step() {
                // The device holds what the queue thinks free: reset it,
                // or every request after this one is refused as well.
                self.platform.event(Event::OutOfStep);
                self.restart_device();
            } else if !device.lease_refused() {
                self.refused();
            }
            return Err(e.into());
        }
        self.refused_in_a_row = 0;
        // Test images: a fault armed for this point fires with the
        // request's descriptors published and the device not yet told.
        #[cfg(feature = "fault-injection")]
        if let Some((how, arg)) = fault_inject::point::fire(fault_inject::point::Point::BeforeKick)
        {
            device.corrupt_queue(how, arg);
        }
        device.kick();
        trace::record(Trace::Submit { slot, request });
        // The first request in flight starts the deadline's clock; one
        // that joins others leaves it where the oldest (or the last
        // completion since) put it (see `clock_from`).
        if !self.any_pending() {
            self.clock_from = self.platform.now();
        }
        self.pending[slot.index()] = Some(pending);
        if alone {
            self.poll_first();
        }
        self.rearm_deadline(false);
        Ok(Deferred::Later)
    }
}

/// Answers a finished request: copies a read's data into the client's
/// lease, takes a GET_ID serial, replies, frees the slot. `pending` (the
/// slot's deferred call, if any) is left `None`.
pub(super) fn complete<I: Ipc, R: RegisterAccess>(
    ipc: I,
    device: &mut BlkDevice<'_, R>,
    serial: &mut Option<[u8; VIRTIO_BLK_ID_BYTES]>,
    done: Completion,
    pending: &mut Option<Pending>,
) {
    trace::record(Trace::Complete {
        slot: done.slot,
        ok: done.result.is_ok(),
    });
    let result = done.result.map_err(ServerError::from);
    // The common answers are read out of `pending` in place and it is
    // cleared, rather than the whole call moved out first (a `memcpy` of
    // the largest variant, the bounce path's lease, in a size-optimised
    // build).
    match *pending {
        None => {}
        Some(Pending::Read {
            caller,
            lease: None,
            ..
        }) => {
            *pending = None;
            block_reply_read(&ipc, caller, result);
        }
        Some(Pending::Write { caller }) => {
            *pending = None;
            block_reply_write(&ipc, caller, result);
        }
        Some(Pending::Flush { caller }) => {
            *pending = None;
            block_reply_flush(&ipc, caller, result);
        }
        Some(Pending::Read { lease: Some(_), .. } | Pending::Info { .. }) => {
            if let Some(p) = pending.take() {
                complete_copy(&ipc, device, serial, done, p);
            }
        }
    }
    device.release(done.slot);
}

/// The answers of [`complete`] that copy out of the slot's bounce buffer:
/// a read without zero-copy, and GET_ID.
fn complete_copy<R: RegisterAccess>(
    ipc: &dyn Ipc,
    device: &mut BlkDevice<'_, R>,
    serial: &mut Option<[u8; VIRTIO_BLK_ID_BYTES]>,
    done: Completion,
    pending: Pending,
) {
    match pending {
        Pending::Read {
            caller,
            lease: Some(lease),
            len,
        } => {
            let result = match (done.result, device.buffer(done.slot)) {
                (Ok(()), Some(buf)) => copy_out(ipc, lease, &buf[..len.min(buf.len())]),
                (Ok(()), None) => Err(BlockError::DeviceError.into()),
                (Err(e), _) => Err(e.into()),
            };
            block_reply_read(ipc, caller, result);
        }
        Pending::Info { caller } => {
            let id = match (done.result, device.buffer(done.slot)) {
                (Ok(()), Some(buf)) => {
                    let mut id = [0u8; VIRTIO_BLK_ID_BYTES];
                    id.copy_from_slice(&buf[..VIRTIO_BLK_ID_BYTES]);
                    Some(id)
                }
                // A device without GET_ID has no serial: report zeros.
                (Err(BlockError::Unsupported), _) => Some([0; VIRTIO_BLK_ID_BYTES]),
                _ => None,
            };
            let result = match id {
                Some(id) => {
                    *serial = Some(id);
                    let g = device.geometry();
                    Ok(BlockInfo {
                        capacity_sectors: g.capacity,
                        block_size: g.block_size,
                        read_only: u32::from(g.read_only),
                        serial: id,
                        reserved: [0; 4],
                    })
                }
                None => Err(done.result.err().unwrap_or(BlockError::DeviceError).into()),
            };
            block_reply_info(ipc, caller, result);
        }
        // Not called for the others (see `complete`): answered all the same.
        other => answer(ipc, other, done.result.map_err(ServerError::from)),
    }
}

/// Copies a completed read into the client's lease.
fn copy_out(ipc: &dyn Ipc, lease: Detached<Write, u8>, data: &[u8]) -> Served<(), BlockError> {
    lease.attach(ipc).write_range(0, data)?;
    Ok(())
}

/// Answers a deferred call with a unit result (or an error for any kind).
pub(super) fn answer<I: Ipc>(ipc: I, pending: Pending, result: Served<(), BlockError>) {
    match pending {
        Pending::Read { caller, .. } => block_reply_read(&ipc, caller, result),
        Pending::Write { caller } => block_reply_write(&ipc, caller, result),
        Pending::Flush { caller } => block_reply_flush(&ipc, caller, result),
        Pending::Info { caller } => block_reply_info(
            &ipc,
            caller,
            match result {
                Ok(()) => Err(ServerError::Error(BlockError::DeviceError)),
                Err(e) => Err(e),
            },
        ),
    }
}

impl<I: Ipc + Copy, P: Platform> BlockServer for BlockDriver<'_, I, P> {
    fn info(&mut self, caller: TaskId) -> Served<Deferred<BlockInfo>, BlockError> {
        if let Some(info) = self.serial.and_then(|s| self.info_now(s)) {
            return Ok(Deferred::Now(info));
        }
        self.start_request(Request::GetId, |_| Ok(()), Pending::Info { caller }, None)
    }

    fn read(&mut self, caller: TaskId, sector: u64, data: Leased<'_, Write, u8>) -> Transfer {
        let len = data.len();
        let Some(lent) = self.transfer(caller, sector, len, data.index())? else {
            return Ok(Deferred::Now(()));
        };
        let pending = Pending::Read {
            caller,
            lease: lent.is_none().then(|| data.detach()),
            len,
        };
        self.start_request(Request::Read { sector, len }, |_| Ok(()), pending, lent)
    }

    fn write(&mut self, caller: TaskId, sector: u64, data: Leased<'_, Read, u8>) -> Transfer {
        let Some(lent) = self.transfer(caller, sector, data.len(), data.index())? else {
            return Ok(Deferred::Now(()));
        };
        self.start_request(
            Request::Write {
                sector,
                len: data.len(),
            },
            |buf| data.read_range(0, buf),
            Pending::Write { caller },
            lent,
        )
    }

    fn flush(&mut self, caller: TaskId) -> Transfer {
        if let Binding::Bound { device, .. } = &self.binding {
            if !device.geometry().flush {
                // No VIRTIO_BLK_F_FLUSH: the device has no write cache to
                // flush (§5.2.6.2), a completed write is on the disk.
                return Ok(Deferred::Now(()));
            }
        }
        self.start_request(Request::Flush, |_| Ok(()), Pending::Flush { caller }, None)
    }
}

impl<I: Ipc + Copy, P: Platform> BlockDriver<'_, I, P> {
    /// The lease to post to the device as the data of `caller`'s request
    /// (zero-copy), if the device takes leases (its queue goes through the
    /// kernel's gate).
    fn lendable(&self, caller: TaskId, index: usize) -> Option<(u8, TaskId)> {
        match &self.binding {
            Binding::Bound { device, .. } if device.zero_copy() => {
                Some((u8::try_from(index).ok()?, caller))
            }
            _ => None,
        }
    }

    /// Checks a read or write by `caller` of `len` bytes at `sector`, its
    /// data lease `index`: `None` when it has no sectors for the device to
    /// move (done at once), else `Some` of the lease to post to the device
    /// ([`Self::lendable`]).
    fn transfer(
        &self,
        caller: TaskId,
        sector: u64,
        len: usize,
        index: usize,
    ) -> Served<Option<Option<(u8, TaskId)>>, BlockError> {
        Ok(self
            .has_sectors(sector, len)?
            .then(|| self.lendable(caller, index)))
    }

    /// Whether a read or write of `len` bytes at `sector` has whole
    /// sectors for the device to move. `UnalignedLength` for a partial
    /// sector; `false` for none at all, once `sector` is checked against
    /// the disk (a zero-length transfer is then done).
    fn has_sectors(&self, sector: u64, len: usize) -> Served<bool, BlockError> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::UnalignedLength.into());
        }
        if len != 0 {
            return Ok(true);
        }
        match &self.binding {
            Binding::Bound { device, .. } if sector <= device.geometry().capacity => Ok(false),
            Binding::Bound { .. } => Err(BlockError::OutOfRange.into()),
            _ => Err(self.unbound_error().into()),
        }
    }
}
