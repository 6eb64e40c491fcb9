//! Faults that fire inside the request path: an injection *armed* for a
//! [`Point`] is committed by the driver itself when its next request
//! passes that point, so the request (and whatever else the driver has
//! outstanding) is in flight when the fault hits.
//!
//! `inject`'s kind word carries the point in its second byte
//! ([`kind_word`]); [`Point::Now`] (0) is the plain injection, committed
//! inside the `inject` handler. An armed injection answers `Ok` at once,
//! and the driver calls `fire` (feature `queue`) at each point of its
//! request path:
//!
//! - [`Point::BeforeKick`]: the request's descriptors are written and
//!   published, the device has not been told (a write there never reaches
//!   the disk);
//! - [`Point::BeforeReply`]: the device completed the request, the client
//!   has no answer yet (a write there is on the disk, unacknowledged).
//!
//! Test images only, like the rest of the crate. An armed fault that did
//! not fire leaves no record, and the evidence then says so.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::DriverFault;

abi::code_enum! {
    /// Where an injection is committed.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    #[repr(u32)]
    pub enum Point {
        /// In the `inject` handler, at once.
        Now = 0,
        /// In the next request's path, after its descriptors are written and
        /// before the device is notified.
        BeforeKick = 1,
        /// In the next completed request's path, after the device completed
        /// it and before the client is answered.
        BeforeReply = 2,
    }
}

impl Point {
    /// A suffix for a report line (nothing for an injection at once).
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Now => "",
            Self::BeforeKick => " before the kick",
            Self::BeforeReply => " between completion and reply",
        }
    }
}

/// `inject`'s kind word for `kind` committed at `point`.
pub const fn kind_word(kind: DriverFault, point: Point) -> u32 {
    kind as u32 | (point as u32) << 8
}

/// Splits a kind word; `None` for an unknown kind or point.
pub fn decode(word: u32) -> Option<(DriverFault, Point)> {
    if word >> 16 != 0 {
        return None;
    }
    Some((
        DriverFault::from_u32(word & 0xff)?,
        Point::from_u32(word >> 8)?,
    ))
}

/// The armed injection: its kind word (0: none) and argument. One driver
/// task, one thread: the atomics are only a safe way to have a static.
static ARMED: AtomicU32 = AtomicU32::new(0);
static ARMED_ARG: AtomicU32 = AtomicU32::new(0);

/// Arms `kind` with `arg` for `point` (not [`Point::Now`]); replaces an
/// earlier armed injection that has not fired.
pub fn arm(kind: DriverFault, point: Point, arg: u32) {
    ARMED_ARG.store(arg, Ordering::Relaxed);
    ARMED.store(kind_word(kind, point), Ordering::Relaxed);
}

/// What [`take`] hands the driver at a point.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Armed {
    /// The fault to commit.
    pub kind: DriverFault,
    /// Its argument.
    pub arg: u32,
}

/// Disarms and returns the injection armed for `point`, if one is.
pub fn take(point: Point) -> Option<Armed> {
    let word = ARMED.load(Ordering::Relaxed);
    match decode(word) {
        Some((kind, p)) if p == point && point != Point::Now => {
            ARMED.store(0, Ordering::Relaxed);
            Some(Armed {
                kind,
                arg: ARMED_ARG.load(Ordering::Relaxed),
            })
        }
        _ => None,
    }
}

/// The driver's hook at `point`: commits the injection armed for it (a
/// fault that ends the incarnation does not return), and returns the queue
/// corruption, with its argument, that the driver must apply to its ring
/// right here.
#[cfg(all(feature = "queue", target_os = "none"))]
pub fn fire(point: Point) -> Option<(virtio::queue::Corruption, u32)> {
    use virtio::queue::Corruption;
    let Armed { kind, arg } = take(point)?;
    match kind {
        DriverFault::CorruptDescriptors => Some((Corruption::WildDescriptorAddresses, arg)),
        DriverFault::BogusAvailIndex => Some((Corruption::BogusAvailIndex, arg)),
        _ => {
            crate::commit(kind, arg);
            // A fault that did not happen (a kernel bug): nothing to do;
            // the evidence finds no fault record and says so.
            None
        }
    }
}

/// The host build of the hook: driver libraries call it in their request
/// paths, and host tests never arm anything.
#[cfg(all(feature = "queue", not(target_os = "none")))]
pub fn fire(point: Point) -> Option<(virtio::queue::Corruption, u32)> {
    let _ = take(point);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_words_round_trip_and_refuse_unknowns() {
        for k in DriverFault::ALL {
            for p in Point::ALL {
                assert_eq!(decode(kind_word(k, p)), Some((k, p)));
            }
        }
        // The plain kinds are their own words.
        assert_eq!(
            decode(DriverFault::Panic as u32),
            Some((DriverFault::Panic, Point::Now))
        );
        assert_eq!(decode(3 << 8 | 1), None, "unknown point");
        assert_eq!(decode(0xff), None, "unknown kind");
        assert_eq!(decode(1 << 16 | 1), None);
    }

    #[test]
    fn an_armed_fault_is_taken_once_and_only_at_its_point() {
        arm(DriverFault::WildJump, Point::BeforeReply, 0x40);
        assert_eq!(take(Point::BeforeKick), None);
        assert_eq!(take(Point::Now), None);
        assert_eq!(
            take(Point::BeforeReply),
            Some(Armed {
                kind: DriverFault::WildJump,
                arg: 0x40
            })
        );
        assert_eq!(take(Point::BeforeReply), None, "disarmed");
    }
}
