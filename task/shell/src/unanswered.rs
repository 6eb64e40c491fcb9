//! What the shell says when a server did not answer a call: it died
//! before or during it (`ServerRestarted`), or it is stopped
//! (`ServerStopped`).
//!
//! `ServerRestarted` only says the server's incarnation the call was for
//! is gone. The server may have been restarted already, or be faulted and
//! waiting out its restart backoff (app.toml's `restart` policy): the
//! shell once said "rng0 restarted, try again" while `tasks` showed rng0
//! faulted and no restart had been made, and trying again at once met the
//! same. So the shell reads the server's state after such an answer and
//! says that.
//!
//! It must never say a server restarted when its state says it has not.

use core::fmt;

use abi::TaskState;

/// The server's state, read after the call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Now {
    /// Faulted: its restart is still to come (a backoff), or the
    /// supervisor has not taken the fault yet.
    Faulted,
    /// Stopped: not coming back until an operator restarts it.
    Stopped,
    /// Running again, as this generation.
    Running {
        /// The incarnation that runs now.
        generation: u32,
    },
    /// Its state could not be read (or it is no task, as the bus).
    Unknown,
}

impl Now {
    /// The server's state from its status (`None`: not read).
    pub fn from_status(state: Option<(u32, u32)>) -> Now {
        let Some((state, generation)) = state else {
            return Now::Unknown;
        };
        match TaskState::from_u32(state) {
            Some(TaskState::Faulted) => Now::Faulted,
            Some(TaskState::Stopped) => Now::Stopped,
            Some(_) => Now::Running { generation },
            None => Now::Unknown,
        }
    }
}

/// The error line for a call to `who` that met `ServerRestarted`, told
/// from what the server is now.
pub struct Restarted<'a> {
    /// The server's task name.
    pub who: &'a str,
    /// Its state read after the call.
    pub now: Now,
}

impl fmt::Display for Restarted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = self.who;
        match self.now {
            Now::Faulted => write!(
                f,
                "error: {who} faulted and has not been restarted yet (its restart is \
                 delayed: a backoff, or a row of faults as it started); try again shortly"
            ),
            Now::Stopped => Stopped(who).fmt(f),
            Now::Running { generation } => write!(
                f,
                "error: {who} restarted during the call (now generation {generation}); try again"
            ),
            Now::Unknown => write!(
                f,
                "error: {who} faulted or restarted during the call; try again (`tasks` shows which)"
            ),
        }
    }
}

/// The error line for a call to `who`, which is stopped: trying again
/// will not help, and the way back is named.
pub struct Stopped<'a>(pub &'a str);

impl fmt::Display for Stopped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = self.0;
        write!(
            f,
            "error: {who} is stopped (restart limit reached, or not started): `restart {who}` \
             brings it back (a driver whose device was marked failed: `bind` its slot first)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{Now, Restarted};
    use abi::TaskState;

    fn said(now: Now) -> String {
        Restarted { who: "rng0", now }.to_string()
    }

    #[test]
    fn a_server_waiting_out_its_backoff_is_not_called_restarted() {
        // `fault rng0` under a backoff policy, then `rng 4`: the shell said
        // "rng0 restarted, try again" while `tasks` showed rng0 faulted.
        let now = Now::from_status(Some((TaskState::Faulted as u32, 3)));
        assert_eq!(now, Now::Faulted);
        let s = said(now);
        assert!(!s.contains("restarted during"), "{s}");
        assert!(
            s.contains("rng0 faulted and has not been restarted yet"),
            "{s}"
        );
        assert!(s.contains("try again shortly"), "{s}");
        // A server with no backoff waits too once it has faulted as it
        // started 64 times in a row (`supervisor_core::STARTUP_MS`): the
        // line said "waits out a backoff" of a task that had none.
        assert!(
            s.contains("(its restart is delayed: a backoff, or a row of faults as it started)"),
            "{s}"
        );
    }

    #[test]
    fn a_server_left_stopped_is_told_how_to_bring_it_back() {
        let now = Now::from_status(Some((TaskState::Stopped as u32, 3)));
        assert_eq!(now, Now::Stopped);
        assert_eq!(
            said(now),
            "error: rng0 is stopped (restart limit reached, or not started): `restart rng0` \
             brings it back (a driver whose device was marked failed: `bind` its slot first)"
        );
    }

    #[test]
    fn a_server_running_again_restarted() {
        for state in [
            TaskState::Runnable,
            TaskState::InRecv,
            TaskState::InSend,
            TaskState::InReply,
            TaskState::Throttled,
        ] {
            let now = Now::from_status(Some((state as u32, 4)));
            assert_eq!(now, Now::Running { generation: 4 }, "{state:?}");
            assert_eq!(
                said(now),
                "error: rng0 restarted during the call (now generation 4); try again"
            );
        }
    }

    #[test]
    fn an_unread_state_claims_neither() {
        for now in [Now::from_status(None), Now::from_status(Some((99, 1)))] {
            assert_eq!(now, Now::Unknown);
            assert_eq!(
                said(now),
                "error: rng0 faulted or restarted during the call; try again (`tasks` shows which)"
            );
        }
    }
}
