//! Whether an injection took effect, judged from evidence rather than from
//! the system merely looking fine afterwards.
//!
//! A test reads the target's [`TaskStatus`] before the injection and again
//! once the target serves requests again, and keeps what the injection call
//! itself returned. From that, [`driver_fault`] and [`bit_flip`] decide:
//!
//! - a fault the driver commits on itself is **confirmed** when the kernel
//!   recorded exactly the fault it must cause (kind, and address for the
//!   stores and the jump), the call ended with the driver's death and the
//!   driver came back with a new generation; an endless loop is confirmed
//!   by the death and the restart alone (no instruction faults);
//! - a queue corruption is confirmed when the driver's count of
//!   broken-queue recoveries advanced (or, if the driver faulted over its
//!   broken ring instead, by that fault);
//! - a bit flip is confirmed when the kernel's before/after words differ in
//!   exactly the flipped bit *and* the target faulted or was restarted
//!   afterwards; a flip that changed the word but nothing observable is
//!   **latent**.
//!
//! Anything else is [`Unconfirmed`], with the reason: an injection made a
//! no-op must fail the test that exercised it.

use abi::{FaultKind, FaultRecord, Generation, InjectEvidence, TaskState, TaskStatus};

use crate::point::Point;
use crate::DriverFault;

/// How the driver's `inject` call ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CallEnd {
    /// The driver replied `Ok` (a queue corruption applied).
    Replied,
    /// The driver replied with an error (`InjectError` code).
    Refused(u32),
    /// The driver died during the call (DEAD: the client saw
    /// `ServerRestarted`).
    Died,
}

impl CallEnd {
    /// How a generated client's `inject` call ended.
    pub fn of(r: Result<(), idol_runtime::RequestError<crate::InjectError>>) -> Self {
        match r {
            Ok(()) => Self::Replied,
            Err(idol_runtime::RequestError::Server(e)) => Self::Refused(e as u32),
            Err(
                idol_runtime::RequestError::ServerRestarted
                | idol_runtime::RequestError::ServerStopped,
            ) => Self::Died,
            // An answer outside the protocol (an untrusted driver's
            // rejection, an unknown code, a garbled reply): the driver did
            // not commit the fault, it answered.
            Err(idol_runtime::RequestError::Protocol(_)) => Self::Refused(u32::MAX),
        }
    }
}

/// The target's status around one injection: `before` it, and `after` the
/// first successful request that followed.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Around {
    /// Status read just before the injection.
    pub before: TaskStatus,
    /// Status read once the target served a request again.
    pub after: TaskStatus,
}

impl Around {
    /// Incarnations that began in between (generations wrap at
    /// [`Generation::MASK`]: exact for fewer restarts than that).
    pub fn restarts(&self) -> u32 {
        let mask = u32::from(Generation::MASK);
        self.after.generation.wrapping_sub(self.before.generation) & mask
    }

    /// Whether the kernel recorded a new fault of the target in between.
    pub fn faulted(&self) -> bool {
        self.after.fault_count != self.before.fault_count
    }

    /// Whether the target is alive again (not left faulted or stopped).
    pub fn alive(&self) -> bool {
        !matches!(
            TaskState::from_u32(self.after.state),
            Some(TaskState::Faulted | TaskState::Stopped) | None
        )
    }
}

/// An injection that took effect.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It caused what it must (or, for a bit flip, a fault or a restart).
    Confirmed,
    /// A bit flip that changed memory or a register but nothing observable.
    Latent,
}

/// Why an injection is not confirmed: it did not happen, or did not do
/// what it must.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Unconfirmed {
    /// The driver answered the injection with this error code (for a fault
    /// kind, `NotCommitted`: the fault did not happen).
    Refused(u32),
    /// The driver replied `Ok` to a fault that must end it.
    Survived,
    /// The driver died in the `inject` call instead of replying: a queue
    /// corruption, or an injection armed for a point of the request path
    /// (it must fire there, not in the handler).
    Died,
    /// No fault was recorded, though the kind must fault.
    NoFault,
    /// The kernel recorded a different fault than the kind must cause.
    WrongFault {
        /// The kind the injection must cause.
        expected: FaultKind,
        /// What the kernel recorded.
        got: FaultRecord,
    },
    /// The right kind of fault, at the wrong address.
    WrongAddress {
        /// The address the injection aimed at.
        expected: u32,
        /// What the kernel recorded.
        got: FaultRecord,
    },
    /// The target did not come back with a new generation.
    NotRestarted,
    /// The target was left faulted or stopped.
    NotAlive,
    /// The driver's broken-queue recoveries did not advance.
    NoRecovery {
        /// Count before the corruption.
        before: u32,
        /// Count once the driver served again.
        after: u32,
    },
    /// The kernel's before/after words do not differ in exactly the bit.
    NoFlip(InjectEvidence),
}

impl DriverFault {
    /// The fault the kernel must record when this kind is committed with
    /// `arg`: its kind, and the address for the kinds that aim at one.
    /// `None` for the kinds that do not fault an instruction (the endless
    /// loop, the queue corruptions).
    pub fn expected_fault(self, arg: u32) -> Option<(FaultKind, Option<u32>)> {
        Some(match self {
            Self::Panic => (FaultKind::Panic, None),
            Self::StoreKernelRam | Self::StoreOtherTaskRam | Self::StoreUngrantedDevice => {
                (FaultKind::StoreAccess, Some(arg))
            }
            Self::WildJump => (FaultKind::FetchAccess, Some(arg)),
            Self::IllegalInstruction => (FaultKind::IllegalInstruction, None),
            Self::StackOverflow => (FaultKind::StackOverflow, None),
            Self::InfiniteLoop | Self::CorruptDescriptors | Self::BogusAvailIndex => return None,
        })
    }

    /// Whether the kind must end the incarnation (so a restart must follow).
    pub const fn must_restart(self) -> bool {
        !self.is_queue_corruption()
    }
}

/// Judges a driver-side injection of `kind` with `arg`, committed `at` a
/// point of the request path ([`crate::point`]). `recoveries` is the
/// driver's broken-queue recovery count before and after (queue kinds
/// only).
///
/// An injection armed for a later point must have answered `Ok` (it only
/// armed the fault; a death there means it fired in the handler); what the
/// fault must then cause, when a request passed the point, is judged as for
/// the fault committed at once ([`Point::Now`]).
pub fn driver_fault(
    kind: DriverFault,
    at: Point,
    arg: u32,
    call: CallEnd,
    around: &Around,
    recoveries: Option<(u32, u32)>,
) -> Result<Verdict, Unconfirmed> {
    let call = match (at, call) {
        (Point::Now, call) => call,
        (_, CallEnd::Died) => return Err(Unconfirmed::Died),
        // As the fault ended the call had it been committed at once.
        (_, CallEnd::Replied) if !kind.is_queue_corruption() => CallEnd::Died,
        (_, call) => call,
    };
    if let CallEnd::Refused(code) = call {
        return Err(Unconfirmed::Refused(code));
    }
    if !around.alive() {
        return Err(Unconfirmed::NotAlive);
    }
    if kind.is_queue_corruption() {
        if call == CallEnd::Died {
            return Err(Unconfirmed::Died);
        }
        let (before, after) = recoveries.unwrap_or((0, 0));
        // The count is this incarnation's: a restart in between resets it.
        // A driver that died or was restarted over its broken ring (rather
        // than resetting its device) shows the effect too.
        let recovered = around.restarts() == 0 && after > before;
        let died = around.restarts() != 0;
        if !(recovered || died) {
            return Err(Unconfirmed::NoRecovery { before, after });
        }
        return Ok(Verdict::Confirmed);
    }
    if call == CallEnd::Replied {
        return Err(Unconfirmed::Survived);
    }
    if around.restarts() == 0 {
        return Err(Unconfirmed::NotRestarted);
    }
    if let Some((expected, address)) = kind.expected_fault(arg) {
        if !around.faulted() {
            return Err(Unconfirmed::NoFault);
        }
        let got = around.after.last_fault;
        if got.kind() != expected {
            return Err(Unconfirmed::WrongFault { expected, got });
        }
        if let Some(a) = address {
            if got.address != a {
                return Err(Unconfirmed::WrongAddress { expected: a, got });
            }
        }
    }
    Ok(Verdict::Confirmed)
}

/// Judges a kernel bit flip of bit `bit` (0..32) with the kernel's
/// `evidence`: the flip must show, then a fault or restart confirms it and
/// nothing observable makes it latent.
pub fn bit_flip(
    bit: u32,
    evidence: &InjectEvidence,
    around: &Around,
) -> Result<Verdict, Unconfirmed> {
    if evidence.before ^ evidence.after != 1 << (bit & 31) {
        return Err(Unconfirmed::NoFlip(*evidence));
    }
    if !around.alive() {
        return Err(Unconfirmed::NotAlive);
    }
    if around.faulted() || around.restarts() != 0 {
        Ok(Verdict::Confirmed)
    } else {
        Ok(Verdict::Latent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(generation: u32, fault_count: u32, kind: FaultKind, address: u32) -> TaskStatus {
        TaskStatus {
            state: TaskState::InRecv as u32,
            generation,
            fault_count,
            last_fault: FaultRecord {
                kind: kind as u32,
                address,
                pc: 0x1000,
                detail: 0,
            },
            ..TaskStatus::default()
        }
    }

    fn around(after: TaskStatus) -> Around {
        Around {
            before: status(3, 1, FaultKind::Panic, 0),
            after,
        }
    }

    #[test]
    fn a_store_is_confirmed_by_its_kind_address_and_restart() {
        let k = DriverFault::StoreKernelRam;
        // The store killed the driver; judged against what came after.
        let died = |after: &Around| judged(k, 0x8001_0000, CallEnd::Died, after);
        let good = around(status(4, 2, FaultKind::StoreAccess, 0x8001_0000));
        assert_eq!(died(&good), CONFIRMED);
        // The store made a no-op: the driver says so.
        assert_eq!(
            judged(k, 0x8001_0000, CallEnd::Refused(3), &good),
            Err(Unconfirmed::Refused(3))
        );
        // A watchdog restart with no fault record is not the store.
        let hung = around(status(4, 1, FaultKind::Panic, 0));
        assert_eq!(died(&hung), Err(Unconfirmed::NoFault));
        let elsewhere = around(status(4, 2, FaultKind::StoreAccess, 0x1000_0000));
        assert!(matches!(
            died(&elsewhere),
            Err(Unconfirmed::WrongAddress {
                expected: 0x8001_0000,
                ..
            })
        ));
        let other = around(status(4, 2, FaultKind::LoadAccess, 0x8001_0000));
        assert!(matches!(died(&other), Err(Unconfirmed::WrongFault { .. })));
        let same_gen = around(status(3, 2, FaultKind::StoreAccess, 0x8001_0000));
        assert_eq!(died(&same_gen), Err(Unconfirmed::NotRestarted));
    }

    #[test]
    fn generations_wrap() {
        let a = Around {
            before: status(u32::from(Generation::MASK), 0, FaultKind::None, 0),
            after: status(0, 1, FaultKind::Panic, 0),
        };
        assert_eq!(a.restarts(), 1);
        assert_eq!(judged(DriverFault::Panic, 0, CallEnd::Died, &a), CONFIRMED);
    }

    #[test]
    fn an_endless_loop_needs_the_death_and_a_restart_only() {
        let k = DriverFault::InfiniteLoop;
        let restarted = around(status(4, 1, FaultKind::Panic, 0));
        assert_eq!(judged(k, 0, CallEnd::Died, &restarted), CONFIRMED);
        assert_eq!(
            judged(k, 0, CallEnd::Replied, &restarted),
            Err(Unconfirmed::Survived)
        );
    }

    const CONFIRMED: Verdicts = Ok(Verdict::Confirmed);

    /// `driver_fault` of a kind the driver's ring counter says nothing of.
    fn judged(kind: DriverFault, arg: u32, call: CallEnd, around: &Around) -> Verdicts {
        driver_fault(kind, Point::Now, arg, call, around, None)
    }

    type Verdicts = Result<Verdict, Unconfirmed>;

    /// A ring corruption the same incarnation survived is judged by the
    /// driver's recovery counter: one more recovery confirms it, none
    /// does not.
    fn judged_by_its_recovery(at: Point) {
        let k = DriverFault::BogusAvailIndex;
        let same = around(status(3, 1, FaultKind::Panic, 0));
        let replied =
            |recoveries| driver_fault(k, at, 5, CallEnd::Replied, &same, Some(recoveries));
        assert_eq!(replied((2, 3)), CONFIRMED);
        let none = Unconfirmed::NoRecovery {
            before: 2,
            after: 2,
        };
        assert_eq!(replied((2, 2)), Err(none));
    }

    #[test]
    fn a_queue_corruption_needs_a_recovery_of_the_same_incarnation() {
        judged_by_its_recovery(Point::Now);
        let k = DriverFault::BogusAvailIndex;
        // The driver was restarted by the watchdog over its broken ring, or
        // faulted: observable, confirmed.
        let restarted = around(status(4, 1, FaultKind::Panic, 0));
        assert_eq!(
            driver_fault(k, Point::Now, 5, CallEnd::Replied, &restarted, Some((2, 0))),
            CONFIRMED
        );
        let faulted = around(status(4, 2, FaultKind::LoadAccess, 0));
        assert_eq!(
            driver_fault(k, Point::Now, 5, CallEnd::Replied, &faulted, Some((2, 0))),
            CONFIRMED
        );
    }

    #[test]
    fn a_bit_flip_is_confirmed_latent_or_not_there() {
        let ev = InjectEvidence {
            location: 0x8010_0000,
            before: 0x10,
            after: 0x18,
        };
        let quiet = around(status(3, 1, FaultKind::Panic, 0));
        assert_eq!(bit_flip(3, &ev, &quiet), Ok(Verdict::Latent));
        let died = around(status(4, 2, FaultKind::LoadAccess, 0));
        assert_eq!(bit_flip(3, &ev, &died), CONFIRMED);
        // The kernel's flip made a no-op: the words are equal.
        let noop = InjectEvidence { after: 0x10, ..ev };
        assert_eq!(bit_flip(3, &noop, &died), Err(Unconfirmed::NoFlip(noop)));
        assert_eq!(bit_flip(4, &ev, &died), Err(Unconfirmed::NoFlip(ev)));
    }

    #[test]
    fn a_target_left_faulted_is_not_a_recovery() {
        let mut after = status(4, 2, FaultKind::Panic, 0);
        after.state = TaskState::Faulted as u32;
        assert_eq!(
            judged(DriverFault::Panic, 0, CallEnd::Died, &around(after)),
            Err(Unconfirmed::NotAlive)
        );
    }

    #[test]
    fn an_armed_fault_answers_ok_and_then_leaves_its_record() {
        let k = DriverFault::StoreKernelRam;
        let armed = |call, around: &Around| {
            driver_fault(k, Point::BeforeKick, 0x8001_0040, call, around, None)
        };
        let fired = around(status(4, 2, FaultKind::StoreAccess, 0x8001_0040));
        assert_eq!(armed(CallEnd::Replied, &fired), CONFIRMED);
        // Armed, and then nothing: the hook made a no-op.
        let quiet = around(status(3, 1, FaultKind::Panic, 0));
        assert_eq!(
            armed(CallEnd::Replied, &quiet),
            Err(Unconfirmed::NotRestarted)
        );
        // Committed in the handler instead of the request path.
        assert_eq!(armed(CallEnd::Died, &fired), Err(Unconfirmed::Died));
        // An armed ring corruption is judged by the recoveries.
        judged_by_its_recovery(Point::BeforeKick);
        judged_by_its_recovery(Point::BeforeReply);
    }
}
