//! A whole request cycle in one call, for a caller without IPC (a
//! benchmark, a boot loader): reserve, submit, kick, wait, copy, release.

use block_api::BlockError;
use virtio::{Buf, RegisterAccess};

use super::{BlkDevice, Request};
use crate::protocol::VIRTIO_BLK_ID_BYTES;

impl<R: RegisterAccess> BlkDevice<'_, R> {
    /// Submits `request` and waits for it: the whole cycle for a caller
    /// without IPC (a benchmark, a boot loader). `data` is copied into the
    /// bounce buffer before a write and out of it after a read or GET_ID;
    /// `wait` is called whenever nothing is pending and must return once the
    /// device interrupted (acknowledging it with
    /// [`take_interrupt`](Self::take_interrupt)). Completions of other
    /// requests are dropped, so use it with nothing else in flight.
    pub fn transfer_blocking(
        &mut self,
        request: Request,
        data: &mut [u8],
        mut wait: impl FnMut(&mut Self),
    ) -> Result<(), BlockError> {
        self.check(&request)?;
        let slot = self.reserve().ok_or(BlockError::DeviceError)?;
        // With the gate, a read or write moves `data` itself: no copy.
        let direct = match request {
            Request::Read { len, .. } | Request::Write { len, .. } if self.zero_copy => {
                data.get(..len).and_then(Buf::from_slice)
            }
            _ => None,
        };
        if let Some(buf) = direct {
            // `check`ed above.
            if let Err(e) = self.submit_checked(slot, request, Some((buf, None))) {
                self.release(slot);
                return Err(e);
            }
        } else if let (Request::Write { len, .. }, Some(buf)) = (request, self.buffer(slot)) {
            match (buf.get_mut(..len), data.get(..len)) {
                (Some(dst), Some(src)) => dst.copy_from_slice(src),
                _ => {
                    self.release(slot);
                    return Err(BlockError::TooLarge);
                }
            }
        }
        if direct.is_none() {
            if let Err(e) = self.submit(slot, request) {
                self.release(slot);
                return Err(e);
            }
        }
        self.kick();
        loop {
            match self.poll() {
                Ok(Some(c)) if c.slot == slot => {
                    let copy = match request {
                        Request::Read { len, .. } => len,
                        Request::GetId => VIRTIO_BLK_ID_BYTES,
                        _ => 0,
                    };
                    if c.result.is_ok() && copy > 0 && direct.is_none() {
                        if let Some(buf) = self.buffer(slot) {
                            let n = copy.min(data.len());
                            data[..n].copy_from_slice(&buf[..n]);
                        }
                    }
                    self.release(slot);
                    return c.result;
                }
                Ok(Some(other)) => self.release(other.slot),
                Ok(None) => {
                    if self.restart() {
                        wait(self);
                    }
                }
                Err(_) => {
                    // After a failed reset nothing is released: the device
                    // may still write those buffers.
                    if let Ok(taken) = self.reset() {
                        for s in taken.iter() {
                            self.release(s);
                        }
                    }
                    return Err(BlockError::DeviceError);
                }
            }
        }
    }
}
