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
//! A socket its owner closed stays in use until the close finishes, and a
//! peer decides when that is: one that reads the page and then neither
//! closes its side nor reads on holds the socket for as long as it likes
//! (twelve such clients left the page server without a socket for
//! minutes). So a close the owner abandoned may be cut short with a reset
//! when a task needs the socket ([`reclaimable`]), once nothing is lost by
//! it or the peer has had [`ABANDONED_CLOSE_MS`] to take the rest.
//!
//! It must never let one task's holding keep another task with a TCP
//! grant from its reserve. (It holds only while the sockets number at
//! least `RESERVE` per such task; the build checks that.) It must never
//! reset a connection its owner still holds.

use crate::ports::{Grant, Proto};

/// The stack's TCP sockets (connections, and listeners' pools).
pub const SOCKETS: usize = 20;

/// The stack's UDP sockets. One per granted UDP port (a port is bound
/// once), and the build refuses more UDP grants than sockets: so every
/// grant can always be bound, whatever the other tasks hold.
pub const UDP_SOCKETS: usize = 4;

/// Sockets each task with a TCP port grant can always get.
pub const RESERVE: usize = 2;

/// TCP ports app.toml may grant, to all tasks together. Each is a
/// listener while its task listens on it, and a listener is an entry of
/// the socket table even when its pool is empty (its sockets taken by
/// connections, which have entries of their own): the table holds every
/// socket and this many listeners besides. With more, a task granted many
/// ports, listening on each and accepting a connection on each from a
/// peer outside, filled the table, and every other task's `tcp_accept`
/// and `udp_bind` failed with `NoSockets` whatever its share.
pub const TCP_PORTS: usize = crate::table::SLOTS - SOCKETS - UDP_SOCKETS;

/// What app.toml's `ports` grant beyond what the stack can always keep.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Overgrant {
    /// This many UDP ports, more than [`UDP_SOCKETS`]: a grant it could
    /// not bind would be no grant.
    UdpPorts(usize),
    /// This many tasks with TCP ports, more than the sockets can keep a
    /// [`RESERVE`] for.
    TcpTasks(usize),
    /// This many TCP ports, more than [`TCP_PORTS`].
    TcpPorts(usize),
}

/// Checks `grants` against the stack's sockets and table (the build
/// refuses an image whose grants fail).
pub fn check_grants(grants: &[Grant]) -> Result<(), Overgrant> {
    let count = |proto| grants.iter().filter(|g| g.proto == proto).count();
    let udp_ports = count(Proto::Udp);
    if udp_ports > UDP_SOCKETS {
        return Err(Overgrant::UdpPorts(udp_ports));
    }
    let tcp_tasks = tcp_tasks(grants).count();
    if tcp_tasks * RESERVE > SOCKETS {
        return Err(Overgrant::TcpTasks(tcp_tasks));
    }
    let tcp_ports = count(Proto::Tcp);
    if tcp_ports > TCP_PORTS {
        return Err(Overgrant::TcpPorts(tcp_ports));
    }
    Ok(())
}

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

/// How long a closed connection whose FIN the peer has not acknowledged
/// (it still has bytes to take, and takes none: its window stays shut)
/// keeps its socket against a task that needs one. A close whose FIN was
/// acknowledged (FIN-WAIT-2: every byte arrived, the peer's own FIN is
/// all that is missing) is cut short at once: the reset loses nothing.
pub const ABANDONED_CLOSE_MS: u64 = 2_000;

/// A TCP socket whose owner closed it and whose close has not finished.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Closing {
    /// The socket's index.
    pub socket: usize,
    /// The task it is charged to (see [`may_take`]).
    pub owner: u16,
    /// When its owner closed it (ms).
    pub since_ms: u64,
    /// A reset loses nothing: the peer has acknowledged every byte
    /// (`close::loses_nothing`).
    pub fin_acked: bool,
}

/// Which of the `closing` sockets to reset so that `task`, which may not
/// take a free socket now (see [`may_take`]), gets one; `None` if none
/// may go.
///
/// A close may be cut short once nothing is lost by it (`fin_acked`) or
/// [`ABANDONED_CLOSE_MS`] after it began. `task` takes its own first; one
/// charged to another task only while that task holds more than its
/// reserve, since otherwise the socket freed is owed back to it and
/// `task` gains nothing. Then those that lose nothing, then the oldest.
pub fn reclaimable(
    task: u16,
    now_ms: u64,
    closing: impl IntoIterator<Item = Closing>,
    held: impl Fn(u16) -> usize,
) -> Option<usize> {
    closing
        .into_iter()
        .filter(|c| c.fin_acked || now_ms.saturating_sub(c.since_ms) >= ABANDONED_CLOSE_MS)
        .filter(|c| c.owner == task || held(c.owner) > RESERVE)
        .min_by_key(|c| (c.owner != task, !c.fin_acked, c.since_ms))
        .map(|c| c.socket)
}

#[cfg(test)]
mod tests {
    use super::{
        check_grants, may_take, reclaimable, tcp_tasks, Closing, Overgrant, ABANDONED_CLOSE_MS,
        RESERVE, SOCKETS, TCP_PORTS, UDP_SOCKETS,
    };
    use crate::ports::{Grant, Proto};
    use crate::table::Table;

    /// Every TCP port granted is listened on and has accepted a
    /// connection on each socket it could take, every UDP port is bound:
    /// the table still has an entry for each, and one more connection
    /// would have had its socket first.
    #[test]
    fn the_table_holds_every_socket_and_a_listener_on_every_port_granted() {
        let grants: Vec<Grant> = (0..TCP_PORTS as u16)
            .map(|p| Grant {
                task: 3,
                proto: Proto::Tcp,
                port: 100 + p,
            })
            .chain((0..UDP_SOCKETS as u16).map(|p| Grant {
                task: 4,
                proto: Proto::Udp,
                port: 100 + p,
            }))
            .collect();
        assert_eq!(check_grants(&grants), Ok(()));
        let mut t = Table::new(1);
        for n in 0..TCP_PORTS + SOCKETS + UDP_SOCKETS {
            assert!(t.insert((3, 0), n).is_some(), "entry {n}");
        }
        let one_more = |proto| Grant {
            task: 5,
            proto,
            port: 9,
        };
        let mut more = grants.clone();
        more.push(one_more(Proto::Tcp));
        assert_eq!(check_grants(&more), Err(Overgrant::TcpPorts(TCP_PORTS + 1)));
        let mut more = grants.clone();
        more.push(one_more(Proto::Udp));
        assert_eq!(
            check_grants(&more),
            Err(Overgrant::UdpPorts(UDP_SOCKETS + 1))
        );
        let crowd: Vec<Grant> = (0..=(SOCKETS / RESERVE) as u16)
            .map(|task| Grant {
                task,
                proto: Proto::Tcp,
                port: 1 + task,
            })
            .collect();
        assert_eq!(
            check_grants(&crowd),
            Err(Overgrant::TcpTasks(SOCKETS / RESERVE + 1))
        );
    }

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

    fn closing(socket: usize, owner: u16, since_ms: u64, fin_acked: bool) -> Closing {
        Closing {
            socket,
            owner,
            since_ms,
            fin_acked,
        }
    }

    #[test]
    fn a_close_the_peer_acknowledged_goes_at_once_one_with_bytes_left_waits() {
        let now = 10_000;
        let acked = [closing(3, 1, now, true)];
        assert_eq!(reclaimable(1, now, acked, |_| 5), Some(3));
        let stuck = [closing(4, 1, now - ABANDONED_CLOSE_MS + 1, false)];
        assert_eq!(reclaimable(1, now, stuck, |_| 5), None);
        let stuck = [closing(4, 1, now - ABANDONED_CLOSE_MS, false)];
        assert_eq!(reclaimable(1, now, stuck, |_| 5), Some(4));
    }

    #[test]
    fn a_task_takes_its_own_closes_first_then_the_safest_then_the_oldest() {
        let now = 60_000;
        let old = now - 2 * ABANDONED_CLOSE_MS;
        let all = [
            closing(0, 2, old - 5, true),
            closing(1, 1, old, false),
            closing(2, 1, old - 1, false),
            closing(3, 1, old + 7, true),
        ];
        assert_eq!(reclaimable(1, now, all, |_| 10), Some(3));
        assert_eq!(
            reclaimable(1, now, all[..3].iter().copied(), |_| 10),
            Some(2)
        );
        assert_eq!(reclaimable(3, now, all, |_| 10), Some(0));
        assert_eq!(
            reclaimable(3, now, all[1..].iter().copied(), |_| 10),
            Some(3)
        );
    }

    #[test]
    fn another_tasks_close_is_left_to_it_while_it_is_within_its_reserve() {
        let all = [closing(7, 2, 0, true)];
        assert_eq!(reclaimable(1, 1, all, |_| RESERVE), None);
        assert_eq!(reclaimable(1, 1, all, |_| RESERVE + 1), Some(7));
        // Its own are always its to cut short.
        assert_eq!(reclaimable(2, 1, all, |_| 1), Some(7));
        assert_eq!(reclaimable(1, 1, [], |_| 9), None);
    }
}
