//! What the answer to `ringbuf <task>` means.
//!
//! The shell sends [`abi::RINGBUF_OP`] with a lease for the text. The
//! task's userlib answers inside its `recv` (`userlib::traces`): the
//! text's length, or a refusal. The kernel answers instead for a task that
//! cannot: one not in the shell's slots, one restarting (DEAD), one left
//! stopped ([`abi::SERVER_STOPPED`]). Each answer has its own words; a task
//! left stopped at its restart limit was once shown as `rng0 answered code
//! 0xfffffe07`, a number where the way back belongs.
//!
//! It must never take a length longer than the lease the shell lent.

/// What the answer to a trace read says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceAnswer {
    /// The task wrote this many bytes of text into the lease (at most its
    /// length: a longer claim is cut to it).
    Text {
        /// Bytes of text at the lease's start.
        len: usize,
    },
    /// The task shows its traces to operators only.
    Refused,
    /// The kernel refused the call: the task is not in the shell's slots,
    /// or not more important than it.
    NotCallable,
    /// The task restarted since the shell looked it up, or is faulted and
    /// waits for its restart: trying again helps.
    Restarting,
    /// The task is stopped (left at its restart limit, or not started):
    /// only an operator's `restart` brings it back.
    Stopped,
    /// Any other code, shown as it is.
    Other(u32),
}

/// The meaning of `code` and `reply` (the reply bytes received) for a read
/// into a lease of `lease_len` bytes.
pub fn trace_answer(code: u32, reply: &[u8], lease_len: usize) -> TraceAnswer {
    match code {
        abi::SUCCESS => match <[u8; 4]>::try_from(reply) {
            Ok(len) => TraceAnswer::Text {
                len: (u32::from_le_bytes(len) as usize).min(lease_len),
            },
            Err(_) => TraceAnswer::Other(code),
        },
        abi::TRACE_REFUSED => TraceAnswer::Refused,
        abi::REFUSED_NOT_IN_SLOTS | abi::REFUSED_PRIORITY => TraceAnswer::NotCallable,
        abi::SERVER_STOPPED => TraceAnswer::Stopped,
        c if abi::dead_generation(c).is_some() => TraceAnswer::Restarting,
        c => TraceAnswer::Other(c),
    }
}

#[cfg(test)]
mod tests {
    use super::{trace_answer, TraceAnswer};

    #[test]
    fn a_stopped_task_is_said_to_be_stopped() {
        // `ringbuf rng0` with rng0 left at its restart limit printed
        // `rng0 answered code 0xfffffe07`.
        assert_eq!(
            trace_answer(abi::SERVER_STOPPED, &[], 3072),
            TraceAnswer::Stopped
        );
    }

    #[test]
    fn each_answer_has_its_meaning() {
        assert_eq!(
            trace_answer(abi::SUCCESS, &10u32.to_le_bytes(), 3072),
            TraceAnswer::Text { len: 10 }
        );
        assert_eq!(
            trace_answer(abi::TRACE_REFUSED, &[], 3072),
            TraceAnswer::Refused
        );
        for code in [abi::REFUSED_NOT_IN_SLOTS, abi::REFUSED_PRIORITY] {
            assert_eq!(trace_answer(code, &[], 3072), TraceAnswer::NotCallable);
        }
        let dead = abi::dead_code(abi::Generation(3));
        assert_eq!(trace_answer(dead, &[], 3072), TraceAnswer::Restarting);
        assert_eq!(
            trace_answer(abi::TRACE_NO_ROOM, &[], 3072),
            TraceAnswer::Other(abi::TRACE_NO_ROOM)
        );
    }

    #[test]
    fn a_length_is_never_past_the_lease() {
        assert_eq!(
            trace_answer(abi::SUCCESS, &u32::MAX.to_le_bytes(), 3072),
            TraceAnswer::Text { len: 3072 }
        );
        // A success without its 4-byte length is no text at all.
        for reply in [&[][..], &[1, 0], &[1, 0, 0, 0, 0]] {
            assert_eq!(
                trace_answer(abi::SUCCESS, reply, 3072),
                TraceAnswer::Other(abi::SUCCESS)
            );
        }
    }
}
