//! Fault injection (test images only): breaking the ring as a buggy driver
//! would.

use core::sync::atomic::{fence, Ordering};

use zerocopy::little_endian::{U16, U32, U64};

use super::SplitQueue;
use crate::queue::layout::{Descriptor, VIRTQ_DESC_F_WRITE};

/// Ways [`SplitQueue::corrupt`] can break a ring, as a buggy driver would.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// Point every descriptor at a wild address, device-writable (so
    /// every device, including one that only writes, must touch it), and
    /// offer descriptor 0.
    WildDescriptorAddresses,
    /// Move `avail.idx` far past the chains actually offered.
    BogusAvailIndex,
}

impl<T: Copy, const N: usize> SplitQueue<'_, T, N> {
    /// Fault injection, for test images only: scribbles over the
    /// device-visible ring (§2.7.5, §2.7.6) without telling this queue's own
    /// bookkeeping, the way a memory-corrupting bug in a driver would. The
    /// caller kicks the device afterwards. What happens next — the device
    /// refusing the ring, completions this queue rejects as hostile, a
    /// request timing out — is what the fault-injection tests check the
    /// driver recovers from.
    ///
    /// Through a [`DmaGate`] the ring cannot be scribbled over: the wild
    /// chain is offered to the gate, which refuses it, and the queue then
    /// offers the device a chain its bookkeeping does not know (a
    /// device-readable descriptor over the queue's own private links, at
    /// a free index), for either kind: the device completes or rejects
    /// something the queue never added, which is what the driver must
    /// recover from. Returns whether the gate refused the wild chain
    /// (always `false` without a gate).
    pub fn corrupt(&mut self, how: Corruption, value: u32) -> bool {
        if let Some(gate) = self.gate {
            let wild = Descriptor {
                addr: U64::new(u64::from(value)),
                len: U32::new(4096),
                flags: U16::new(VIRTQ_DESC_F_WRITE),
                next: U16::new(0),
            };
            let refused = gate
                .post(self.queue, &[wild], self.free_head, None, None)
                .is_err();
            let links = Descriptor {
                addr: U64::new(self.next.as_ptr().expose_provenance() as u64),
                len: U32::new(16.min(2 * N as u32)),
                flags: U16::new(0),
                next: U16::new(0),
            };
            let _ = how;
            let _ = gate.post(self.queue, &[links], self.free_head, None, None);
            return refused;
        }
        match how {
            Corruption::WildDescriptorAddresses => {
                for i in 0..self.size {
                    let wild = Descriptor {
                        addr: U64::new(u64::from(value) | (u64::from(i) << 12)),
                        len: U32::new(4096),
                        flags: U16::new(VIRTQ_DESC_F_WRITE),
                        next: U16::new(0),
                    };
                    self.write_desc(i, wild);
                }
                let slot = self.avail_idx & (self.size - 1);
                self.write_u16(self.offsets.avail_ring(slot), 0);
                fence(Ordering::SeqCst);
                self.write_u16(self.offsets.avail_idx(), self.avail_idx.wrapping_add(1));
            }
            Corruption::BogusAvailIndex => {
                let jump = self.size.wrapping_add(value as u16 | 1);
                self.write_u16(self.offsets.avail_idx(), self.avail_idx.wrapping_add(jump));
            }
        }
        false
    }
}
