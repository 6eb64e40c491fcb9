//! The supervisor's restart log read one record at a time while the
//! supervisor may add more: the shell's `restarts` and the status page
//! both read it this way.
//!
//! The supervisor answers `restart_record(back)` with the `back`-th latest
//! restart. It is more important than its clients, so it may make a
//! restart between two of their reads (a backoff running out, a driver
//! faulting), and that moves every record one place back: reading 0, 1,
//! 2, … met the same restart twice and showed it twice (the shell's
//! `restarts` did, and the status page did until it used this reader).
//! Each record carries its `seq` (restarts made before it since boot): the
//! log keeps only records older than the last one kept, so each restart is
//! shown once, in order.
//!
//! It must never show a restart twice, nor out of order.

use abi::{RestartRecord, RESTARTS_KEPT};
use idol_runtime::{Ipc, RequestError};

use crate::{SupervisorClient, SupervisorError};

/// The records read, oldest first.
pub struct RestartLog {
    records: [RestartRecord; RESTARTS_KEPT],
    len: usize,
}

impl RestartLog {
    /// The records, oldest first.
    pub fn records(&self) -> &[RestartRecord] {
        &self.records[..self.len]
    }
}

/// Whether `a` was made before `b`. `seq` wraps (after 2^32 restarts),
/// so this is the wrapping order, as the supervisor's log keeps it.
fn before(a: &RestartRecord, b: &RestartRecord) -> bool {
    (b.seq.wrapping_sub(a.seq) as i32) > 0
}

/// Reads the log through `read(back)`: `Ok(Some(record))`, `Ok(None)`
/// past the oldest record kept, or an error that ends the read.
pub fn read_log<E>(
    mut read: impl FnMut(u32) -> Result<Option<RestartRecord>, E>,
) -> Result<RestartLog, E> {
    let mut log = RestartLog {
        records: [RestartRecord::default(); RESTARTS_KEPT],
        len: 0,
    };
    for back in 0..RESTARTS_KEPT as u32 {
        let Some(record) = read(back)? else {
            break;
        };
        // Latest first: a record not older than the last one kept is that
        // one again, moved back by a restart made since (or a newer one).
        if let Some(last) = log.records[..log.len].last() {
            if !before(&record, last) {
                continue;
            }
        }
        log.records[log.len] = record;
        log.len += 1;
    }
    log.records[..log.len].reverse();
    Ok(log)
}

impl<I: Ipc> SupervisorClient<I> {
    /// The supervisor's restart log, oldest first, each restart once
    /// (see [`read_log`]). An error of any call but the one past the
    /// oldest record (`NoSuchRecord`) ends the read.
    pub fn restarts(&self) -> Result<RestartLog, RequestError<SupervisorError>> {
        read_log(|back| match self.restart_record(back) {
            Ok(r) => Ok(Some(r)),
            Err(RequestError::Server(SupervisorError::NoSuchRecord)) => Ok(None),
            Err(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{read_log, RestartLog};
    use crate::{SupervisorClient, SupervisorError};
    use abi::{Generation, RestartRecord, TaskId, RESTARTS_KEPT};
    use idol_runtime::mock::MockKernel;
    use idol_runtime::{Ipc, RequestError};
    use std::cell::RefCell;
    use zerocopy::IntoBytes;

    /// The supervisor's log: `made` restarts so far, the last 16 kept.
    struct Supervisor {
        made: u32,
    }

    impl Supervisor {
        fn restart(&mut self) {
            self.made = self.made.wrapping_add(1);
        }

        fn record(&self, back: u32) -> Option<RestartRecord> {
            (back < self.made.min(RESTARTS_KEPT as u32)).then(|| {
                let seq = self.made.wrapping_sub(1).wrapping_sub(back);
                RestartRecord {
                    seq,
                    task: 1,
                    generation: seq.wrapping_add(1),
                    cause: 0,
                    at_ms: u64::from(seq) * 10,
                }
            })
        }
    }

    fn seqs(log: &RestartLog) -> Vec<u32> {
        log.records().iter().map(|r| r.seq).collect()
    }

    #[test]
    fn a_quiet_log_is_read_oldest_first() {
        let sup = Supervisor { made: 3 };
        let log = read_log(|back| Ok::<_, ()>(sup.record(back))).unwrap();
        assert_eq!(seqs(&log), [0, 1, 2]);
        let sup = Supervisor { made: 40 };
        let log = read_log(|back| Ok::<_, ()>(sup.record(back))).unwrap();
        assert_eq!(seqs(&log), (24..40).collect::<Vec<_>>());
        let sup = Supervisor { made: 0 };
        let log = read_log(|back| Ok::<_, ()>(sup.record(back))).unwrap();
        assert!(log.records().is_empty());
    }

    #[test]
    fn a_restart_made_during_the_read_is_not_shown_twice() {
        // The supervisor restarts something after the shell's first and
        // fifth reads: each moves the rest of the log one place back. The
        // log read is the restarts made before the read began, each once,
        // oldest first, less those that fell off the end meanwhile.
        for (made, oldest_shown) in [(5, 0), (16, 2), (30, 16)] {
            let mut sup = Supervisor { made };
            let log = read_log(|back| {
                let r = sup.record(back);
                if back == 0 || back == 4 {
                    sup.restart();
                }
                Ok::<_, ()>(r)
            })
            .unwrap();
            assert_eq!(
                seqs(&log),
                (oldest_shown..made).collect::<Vec<_>>(),
                "{made} restarts before the read"
            );
        }
    }

    #[test]
    fn seq_wraps() {
        let sup = Supervisor { made: 2 };
        let log = read_log(|back| {
            Ok::<_, ()>(sup.record(back).map(|mut r| {
                r.seq = r.seq.wrapping_sub(1);
                r
            }))
        })
        .unwrap();
        assert_eq!(seqs(&log), [u32::MAX, 0]);
    }

    /// A client of `sup` served by an in-memory kernel; `restart_after`
    /// lists the `back`s after whose answer the supervisor restarts
    /// something, and `refuse` the one it answers with that error code.
    fn client_of(
        sup: Supervisor,
        restart_after: &'static [u32],
        refuse: Option<(u32, u32)>,
    ) -> SupervisorClient<&'static MockKernel> {
        let server = TaskId::new(0, Generation(0));
        // Leaked: a test's few bytes, for a client that borrows its kernel.
        let kernel: &'static MockKernel = Box::leak(Box::new(MockKernel::new(server)));
        let sup = RefCell::new(sup);
        kernel.serve_with(4, move |k, buffer, msg| {
            let back = u32::from_le_bytes(buffer[..4].try_into().unwrap());
            if let Some((at, code)) = refuse {
                if back == at {
                    return k.reply(msg.sender, code, &[]);
                }
            }
            let record = sup.borrow().record(back);
            if restart_after.contains(&back) {
                sup.borrow_mut().restart();
            }
            match record {
                Some(r) => k.reply(msg.sender, 0, r.as_bytes()),
                None => k.reply(msg.sender, SupervisorError::NoSuchRecord as u32, &[]),
            }
        });
        SupervisorClient::new(kernel, server)
    }

    #[test]
    fn the_client_reads_each_restart_once_and_stops_at_no_such_record() {
        let client = client_of(Supervisor { made: 5 }, &[0, 4], None);
        let log = client.restarts().unwrap();
        assert_eq!(seqs(&log), [0, 1, 2, 3, 4]);
        let client = client_of(Supervisor { made: 0 }, &[], None);
        assert!(client.restarts().unwrap().records().is_empty());
    }

    #[test]
    fn the_client_passes_other_errors_on() {
        let not_observer = SupervisorError::NotObserver as u32;
        let client = client_of(Supervisor { made: 5 }, &[], Some((2, not_observer)));
        assert!(matches!(
            client.restarts(),
            Err(RequestError::Server(SupervisorError::NotObserver))
        ));
    }

    #[test]
    fn an_error_ends_the_read() {
        let sup = Supervisor { made: 5 };
        let r = read_log(|back| {
            if back == 2 {
                Err("gone")
            } else {
                Ok(sup.record(back))
            }
        });
        assert!(matches!(r, Err("gone")));
    }
}
