//! Whether a refused call convicts the server that refused it.
//!
//! Generated dispatch refuses a call (`reply_fault`) only when it breaks
//! the interface, in the order of [`crate::server`]'s steps. So a call the
//! kernel recorded as refused ([`abi::RejectedCall`]) can be held against
//! the interface: if it passes every step, a correct server would have
//! taken it, and the server that refused it is broken; if it fails one,
//! the refusal was right, whoever the client was. Each interface's client
//! file has a generated `<name>_judge_call` that calls [`judge_op`] with
//! its ops' rules; the supervisor asks it about every refusal by a driver.
//!
//! The record holds the call's shape and, when the kernel vouches for them,
//! its message bytes (at most [`abi::REJECTED_MESSAGE_BYTES`]). An op whose
//! message may have a right length and still not decode (hubpack, or
//! zerocopy arguments with invalid bit patterns) is decoded from those
//! bytes by the generated dispatch's own decoding; without them it is
//! [`Verdict::Undecided`] at that length, as is a lease the kernel does not
//! vouch for. Undecided convicts nobody.
//!
//! Never panics: the record is whatever the kernel saw a client send.

pub use abi::RejectedCall;
use abi::{LEASE_READ, LEASE_WRITE};

/// What a refused call says of the server that refused it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The call fits the interface: the refusal was wrong, the server is
    /// broken.
    WellFormed,
    /// The call breaks the interface: the refusal was right.
    Malformed,
    /// The record cannot tell (see the module docs).
    Undecided,
}

/// Whether a message of the right length decodes as the op's request: the
/// generated dispatch's own decoding (`wire::decode_zerocopy`,
/// `wire::decode_hubpack`) of its request type.
pub type Decodes = fn(&[u8]) -> bool;

/// What an op's message must be.
#[derive(Copy, Clone, Debug)]
pub enum MessageRule {
    /// No arguments: an empty message.
    Empty,
    /// Zerocopy arguments every bit pattern of which is valid: a message
    /// of exactly this many bytes.
    Exact(usize),
    /// Zerocopy arguments with invalid bit patterns: exactly this many
    /// bytes, which must decode.
    ExactThenDecodes(usize, Decodes),
    /// Hubpack arguments: at most this many bytes, which must decode.
    AtMostThenDecodes(usize, Decodes),
}

/// What one of an op's leases must be.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LeaseRule {
    /// The attributes it must grant (`LEASE_READ`, `LEASE_WRITE`).
    pub attributes: u32,
    /// The size of one element in bytes: the length must be a whole number
    /// of them.
    pub elem_size: usize,
    /// Most elements the server takes.
    pub max_len: Option<usize>,
}

impl LeaseRule {
    /// The rule of a lease the server may read (`read`), write (`write`),
    /// as the generated server claims it: a lease declared neither is
    /// claimed writable.
    pub const fn new(read: bool, write: bool, elem_size: usize, max_len: Option<usize>) -> Self {
        let attributes = match (read, write) {
            (true, false) => LEASE_READ,
            (false, _) => LEASE_WRITE,
            (true, true) => LEASE_READ | LEASE_WRITE,
        };
        LeaseRule {
            attributes,
            elem_size,
            max_len,
        }
    }
}

/// Judges `call` against one op: its message rule, its leases and the
/// size of its reply — the checks of generated dispatch, steps 2 to 5.
pub fn judge_op(
    call: &RejectedCall,
    message: MessageRule,
    leases: &[LeaseRule],
    reply_size: usize,
) -> Verdict {
    let len = call.message_len as usize;
    let mut verdict = match message {
        MessageRule::Empty if len == 0 => Verdict::WellFormed,
        MessageRule::Exact(n) if len == n => Verdict::WellFormed,
        MessageRule::ExactThenDecodes(n, decodes) if len == n => contents(call, decodes),
        MessageRule::AtMostThenDecodes(n, decodes) if len <= n => contents(call, decodes),
        _ => return Verdict::Malformed,
    };
    if verdict == Verdict::Malformed {
        return verdict;
    }
    if call.lease_count as usize != leases.len() {
        return Verdict::Malformed;
    }
    // Only the first lease is recorded.
    let described = abi::described_lease(call.first_lease);
    for (i, rule) in leases.iter().enumerate() {
        match (i, call.lease_vouched != 0, described) {
            (0, true, Some((attributes, len))) => {
                if !lease_fits(rule, attributes, len as usize) {
                    return Verdict::Malformed;
                }
            }
            _ => verdict = Verdict::Undecided,
        }
    }
    if (call.response_capacity as usize) < reply_size {
        return Verdict::Malformed;
    }
    verdict
}

/// Step 2's decoding, of the message bytes the kernel vouched for;
/// `Undecided` without them.
fn contents(call: &RejectedCall, decodes: Decodes) -> Verdict {
    match call.message.get(..call.message_len as usize) {
        Some(bytes) if call.message_vouched != 0 => {
            if decodes(bytes) {
                Verdict::WellFormed
            } else {
                Verdict::Malformed
            }
        }
        _ => Verdict::Undecided,
    }
}

/// Step 4 for one lease: attributes, then a whole number of elements within
/// the op's maximum.
fn lease_fits(rule: &LeaseRule, attributes: u32, len: usize) -> bool {
    attributes & rule.attributes == rule.attributes
        && rule.elem_size != 0
        && len.is_multiple_of(rule.elem_size)
        && rule.max_len.is_none_or(|max| len / rule.elem_size <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Block.read`-like call: 8-byte message, one writable lease of
    /// `len` bytes, no reply bytes.
    fn read_call(len: u32) -> RejectedCall {
        RejectedCall {
            count: 1,
            operation: 2,
            message_len: 8,
            lease_count: 1,
            first_lease: abi::describe_lease(LEASE_WRITE, len),
            lease_vouched: 1,
            ..RejectedCall::default()
        }
    }

    const READ_LEASE: [LeaseRule; 1] = [LeaseRule::new(false, true, 1, Some(65536))];

    fn judge_read(call: &RejectedCall) -> Verdict {
        judge_op(call, MessageRule::Exact(8), &READ_LEASE, 0)
    }

    #[test]
    fn a_call_that_fits_convicts_the_server() {
        assert_eq!(judge_read(&read_call(4096)), Verdict::WellFormed);
        assert_eq!(judge_read(&read_call(65536)), Verdict::WellFormed);
        let info = RejectedCall {
            response_capacity: 48,
            ..RejectedCall::default()
        };
        assert_eq!(
            judge_op(&info, MessageRule::Empty, &[], 48),
            Verdict::WellFormed
        );
        // A lease granting more than the op needs.
        let both = RejectedCall {
            first_lease: abi::describe_lease(LEASE_READ | LEASE_WRITE, 512),
            ..read_call(512)
        };
        assert_eq!(judge_read(&both), Verdict::WellFormed);
        // `max_len` counts elements, not bytes: two four-byte words.
        let words = [LeaseRule::new(true, false, 4, Some(2))];
        let call = RejectedCall {
            first_lease: abi::describe_lease(LEASE_READ, 8),
            ..read_call(0)
        };
        assert_eq!(
            judge_op(&call, MessageRule::Exact(8), &words, 0),
            Verdict::WellFormed
        );
    }

    #[test]
    fn each_step_of_dispatch_can_acquit_it() {
        let bad = [
            RejectedCall {
                message_len: 7,
                ..read_call(512)
            },
            RejectedCall {
                lease_count: 0,
                ..read_call(512)
            },
            RejectedCall {
                lease_count: 2,
                ..read_call(512)
            },
            // Read-only where the op writes.
            RejectedCall {
                first_lease: abi::describe_lease(LEASE_READ, 512),
                ..read_call(512)
            },
            read_call(65537),
        ];
        for call in bad {
            assert_eq!(judge_read(&call), Verdict::Malformed, "{call:?}");
        }
        // Elements of four bytes: a length that is no whole number of them.
        let words = [LeaseRule::new(true, false, 4, None)];
        let call = RejectedCall {
            first_lease: abi::describe_lease(LEASE_READ, 6),
            ..read_call(0)
        };
        assert_eq!(
            judge_op(&call, MessageRule::Exact(8), &words, 0),
            Verdict::Malformed
        );
        // A reply buffer too small.
        let info = RejectedCall {
            response_capacity: 47,
            ..RejectedCall::default()
        };
        assert_eq!(
            judge_op(&info, MessageRule::Empty, &[], 48),
            Verdict::Malformed
        );
        assert_eq!(
            judge_op(&read_call(512), MessageRule::Empty, &READ_LEASE, 0),
            Verdict::Malformed,
            "a message where none is due"
        );
    }

    #[test]
    fn what_the_record_cannot_show_convicts_nobody() {
        let unvouched = RejectedCall {
            lease_vouched: 0,
            ..read_call(512)
        };
        assert_eq!(judge_read(&unvouched), Verdict::Undecided);
        let undescribed = RejectedCall {
            first_lease: 0,
            ..read_call(512)
        };
        assert_eq!(judge_read(&undescribed), Verdict::Undecided);
        // Contents the record does not hold: not vouched for, or longer
        // than it keeps.
        for rule in [
            MessageRule::ExactThenDecodes(8, any),
            MessageRule::AtMostThenDecodes(8, any),
        ] {
            assert_eq!(
                judge_op(&read_call(512), rule, &READ_LEASE, 0),
                Verdict::Undecided
            );
        }
        let long = RejectedCall {
            message_len: abi::REJECTED_MESSAGE_BYTES as u32 + 1,
            message_vouched: 1,
            ..read_call(512)
        };
        assert_eq!(
            judge_op(
                &long,
                MessageRule::AtMostThenDecodes(64, any),
                &READ_LEASE,
                0
            ),
            Verdict::Undecided
        );
        // A second lease is never recorded.
        let two = [READ_LEASE[0], READ_LEASE[0]];
        let call = RejectedCall {
            lease_count: 2,
            ..read_call(512)
        };
        assert_eq!(
            judge_op(&call, MessageRule::Exact(8), &two, 0),
            Verdict::Undecided
        );
        // But a shape that is wrong anyway is wrong.
        let long = RejectedCall {
            message_len: 9,
            ..unvouched
        };
        assert_eq!(
            judge_op(&long, MessageRule::ExactThenDecodes(8, any), &READ_LEASE, 0),
            Verdict::Malformed
        );
        assert_eq!(
            judge_op(
                &long,
                MessageRule::AtMostThenDecodes(8, any),
                &READ_LEASE,
                0
            ),
            Verdict::Malformed
        );
    }

    /// Decodes anything.
    fn any(_: &[u8]) -> bool {
        true
    }

    /// Decodes a message whose first byte is a `bool`.
    fn flag(m: &[u8]) -> bool {
        m.first().is_some_and(|&b| b <= 1)
    }

    /// A read-like call whose vouched message is `bytes`.
    fn with_message(bytes: &[u8]) -> RejectedCall {
        let mut call = RejectedCall {
            message_len: bytes.len() as u32,
            message_vouched: 1,
            ..read_call(512)
        };
        call.message[..bytes.len()].copy_from_slice(bytes);
        call
    }

    #[test]
    fn vouched_bytes_decide_what_must_decode() {
        let exact = MessageRule::ExactThenDecodes(8, flag);
        let at_most = MessageRule::AtMostThenDecodes(8, flag);
        for rule in [exact, at_most] {
            assert_eq!(
                judge_op(&with_message(&[1; 8]), rule, &READ_LEASE, 0),
                Verdict::WellFormed
            );
            assert_eq!(
                judge_op(&with_message(&[2; 8]), rule, &READ_LEASE, 0),
                Verdict::Malformed
            );
        }
        // Hubpack: shorter is fine if it decodes.
        assert_eq!(
            judge_op(&with_message(&[0; 3]), at_most, &READ_LEASE, 0),
            Verdict::WellFormed
        );
        assert_eq!(
            judge_op(&with_message(&[0; 3]), exact, &READ_LEASE, 0),
            Verdict::Malformed
        );
        // Decoding is dispatch's step 2: bytes that do not decode acquit
        // the server whatever the leases (here none where one is due).
        let no_lease = RejectedCall {
            lease_count: 0,
            ..with_message(&[2; 8])
        };
        assert_eq!(
            judge_op(&no_lease, exact, &READ_LEASE, 0),
            Verdict::Malformed
        );
        // Bytes that decode still leave the later steps to decide.
        let unvouched_lease = RejectedCall {
            lease_vouched: 0,
            ..with_message(&[1; 8])
        };
        assert_eq!(
            judge_op(&unvouched_lease, exact, &READ_LEASE, 0),
            Verdict::Undecided
        );
        let small_reply = with_message(&[1; 8]);
        assert_eq!(
            judge_op(&small_reply, exact, &READ_LEASE, 4),
            Verdict::Malformed
        );
        // The decoder sees exactly the message, not the record's padding.
        let seen = |m: &[u8]| m.len() == 5;
        assert_eq!(
            judge_op(
                &with_message(&[0; 5]),
                MessageRule::AtMostThenDecodes(8, seen),
                &READ_LEASE,
                0
            ),
            Verdict::WellFormed
        );
    }
}
