//! Shares of the stack's TCP sockets between the tasks that may hold them.
//!
//! The stack has a fixed set of TCP sockets for every listener's pool and
//! every connection. Whoever asked first used to get a free one: a task
//! that accepts every connection and closes none (with a peer outside
//! opening them) took each socket another task's close freed, until the
//! other listeners had none left and their clients were not served. So
//! each task granted a TCP port in app.toml keeps a reserve of
//! [`RESERVE`] sockets it can always get — one listening, one
//! connection — and another task takes a free socket only if enough stay
//! free for every task still short of its reserve.
//!
//! It must never let one task's holding keep another task with a TCP
//! grant from its reserve. (It holds only while the sockets number at
//! least `RESERVE` per such task; the build checks that.)

use crate::ports::{Grant, Proto};

/// The stack's TCP sockets (connections, and listeners' pools).
pub const SOCKETS: usize = 20;

/// The stack's UDP sockets. One per granted UDP port (a port is bound
/// once), and the build refuses more UDP grants than sockets: so every
/// grant can always be bound, whatever the other tasks hold.
pub const UDP_SOCKETS: usize = 4;

/// Sockets each task with a TCP port grant can always get.
pub const RESERVE: usize = 2;

/// The tasks with at least one TCP port in `grants`, each once.
pub fn tcp_tasks(grants: &[Grant]) -> impl Iterator<Item = u16> + '_ {
    grants.iter().enumerate().filter_map(move |(n, g)| {
        let first = !grants[..n]
            .iter()
            .any(|e| e.task == g.task && e.proto == Proto::Tcp);
        (g.proto == Proto::Tcp && first).then_some(g.task)
    })
}

/// Whether `task` may take one more of the `free` TCP sockets, when each
/// task `t` holds `held(t)` (listening, connected or closing) and
/// `granted` are the tasks with a TCP grant.
pub fn may_take(
    task: u16,
    free: usize,
    granted: impl IntoIterator<Item = u16>,
    held: impl Fn(u16) -> usize,
) -> bool {
    if free == 0 {
        return false;
    }
    if held(task) < RESERVE {
        return true;
    }
    let owed: usize = granted
        .into_iter()
        .filter(|&t| t != task)
        .map(|t| RESERVE.saturating_sub(held(t)))
        .sum();
    free > owed
}

#[cfg(test)]
mod tests {
    use super::{may_take, tcp_tasks, RESERVE, SOCKETS};
    use crate::ports::{Grant, Proto};

    /// Takes sockets for `task` while it may, up to `want`; returns how
    /// many it got.
    fn take(holding: &mut [usize; 8], task: u16, want: usize, granted: &[u16]) -> usize {
        let mut got = 0;
        while got < want {
            let free = SOCKETS - holding.iter().sum::<usize>();
            if !may_take(task, free, granted.iter().copied(), |t| {
                holding[usize::from(t)]
            }) {
                break;
            }
            holding[usize::from(task)] += 1;
            got += 1;
        }
        got
    }

    #[test]
    fn a_hoarder_leaves_every_other_grantee_its_reserve() {
        // Tasks 1 and 2 (echo, http) and 3 (a hoarder) hold TCP grants.
        let granted = [1, 2, 3];
        let mut holding = [0; 8];
        assert_eq!(take(&mut holding, 3, 100, &granted), SOCKETS - 2 * RESERVE);
        assert_eq!(take(&mut holding, 1, 100, &granted), RESERVE);
        assert_eq!(take(&mut holding, 2, 100, &granted), RESERVE);
        assert_eq!(holding.iter().sum::<usize>(), SOCKETS);
        // Whatever the order: the others first, then the hoarder.
        let mut holding = [0; 8];
        assert_eq!(take(&mut holding, 1, 8, &granted), 8);
        assert_eq!(take(&mut holding, 2, 4, &granted), 4);
        assert_eq!(take(&mut holding, 3, 100, &granted), SOCKETS - 12);
        // echo lets seven go: the hoarder takes all but the one echo is
        // now owed, which echo still gets.
        holding[1] -= 7;
        assert_eq!(take(&mut holding, 3, 100, &granted), 7 - 1);
        assert_eq!(take(&mut holding, 1, 100, &granted), 1);
        assert_eq!(holding[1], RESERVE);
    }

    #[test]
    fn without_rivals_a_task_takes_everything() {
        let mut holding = [0; 8];
        assert_eq!(take(&mut holding, 1, 100, &[1]), SOCKETS);
        assert!(!may_take(1, 0, [1], |_| 0));
    }

    #[test]
    fn tasks_with_tcp_grants_are_listed_once() {
        let g = |task, proto, port| Grant { task, proto, port };
        let grants = [
            g(5, Proto::Tcp, 7),
            g(5, Proto::Udp, 7),
            g(6, Proto::Tcp, 80),
            g(5, Proto::Tcp, 8),
            g(7, Proto::Udp, 9),
        ];
        assert_eq!(tcp_tasks(&grants).collect::<Vec<_>>(), [5, 6]);
    }
}
