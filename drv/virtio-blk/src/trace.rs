//! The driver's trace ring: what it last did with its device, kept in its
//! own RAM so that `cargo xtask dump` (and the shell's `ringbuf blk0`)
//! can show it after a fault or a hang, decoded by these types.

use ringbuf::ringbuf;

use crate::device::{Request, Slot};

/// One thing the driver did.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Trace {
    /// A slot never written.
    None,
    /// A device was brought up.
    Probed {
        /// Its bus slot.
        slot: u32,
        /// Capacity in sectors.
        capacity: u64,
        /// Transport version (1 legacy, 2 modern).
        version: u32,
    },
    /// A request was submitted to the device.
    Submit {
        /// The request slot it took.
        slot: Slot,
        /// What was asked.
        request: Request,
    },
    /// The device finished a request.
    Complete {
        /// The request slot.
        slot: Slot,
        /// Whether the device reported success.
        ok: bool,
    },
    /// The device broke the queue protocol; reset.
    DeviceFault,
    /// A request outlived its deadline; reset.
    Timeout,
    /// The bus took the device away with this many requests in flight.
    Removed(u32),
}

ringbuf!(TRACE, Trace, 32, Trace::None);

/// Records an entry of a request's path (`Submit`, `Complete`): inlined, so
/// that the entry is written straight into its slot (see
/// `Ringbuf::record_inline`) with no copy through a call.
#[inline(always)]
pub fn record(t: Trace) {
    TRACE.record_inline(t);
}

/// Records a rare entry (a probe, a fault, a removal): one copy of the
/// recording code for them all, off the request path.
#[inline(never)]
pub fn record_rare(t: Trace) {
    ringbuf::ringbuf_entry!(TRACE, t);
}
