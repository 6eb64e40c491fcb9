//! The ports suite (`test/net-authority.toml`). The suite is a client of
//! the net stack that app.toml grants UDP port 9 and nothing else (the net
//! task's `ports`). It tries to take the ports of the page server and the
//! echo, and its own port with the other protocol; then it has the stack
//! restarted and tries their ports again in the moment when the new stack
//! has no sockets and their owners have not asked again. Each must be
//! refused with `NotAllowed`, and the owners must get their ports back.
//! Then it forges socket ids: every one must be `BadSocket`. Through it
//! all no task may fault. Last, it faults the page server, which app.toml
//! leaves stopped: its sockets must be freed though it never calls again.

#![no_std]
#![no_main]

use idol_runtime::{RequestError, UserlibIpc};
use net_api::{NetClient, NetError};
use supervisor_api::SupervisorClient;
use test_harness::{check, fail, task_status, Case, CaseResult};
use userlib::{sleep_ms, tasks};

/// Notification bit of the suite's timer (app.toml `notifications`).
const TIMER_BIT: u32 = 1 << 0;
/// The one port app.toml grants the suite (UDP).
const OWN_PORT: u16 = 9;

struct Suite {
    net: NetClient<UserlibIpc>,
    sup: SupervisorClient<UserlibIpc>,
}

/// `r` must be the stack's `NotAllowed`.
fn refused(r: Result<u32, RequestError<NetError>>, what: &str) -> CaseResult {
    match r {
        Err(RequestError::Server(NetError::NotAllowed)) => Ok(()),
        Ok(id) => fail!("{what}: granted (socket {id:#x})"),
        Err(e) => fail!("{what}: {e:?}, not NotAllowed"),
    }
}

/// `r` must be the stack's `BadSocket`.
fn bad_socket<T: core::fmt::Debug>(r: Result<T, RequestError<NetError>>, what: &str) -> CaseResult {
    match r {
        Err(RequestError::Server(NetError::BadSocket)) => Ok(()),
        other => fail!("{what}: {other:?}, not BadSocket"),
    }
}

impl Suite {
    /// The stack's count of open sockets.
    fn sockets(&mut self) -> Result<u32, test_harness::LineBuf> {
        match self.net.info() {
            Ok(i) => Ok(i.sockets),
            Err(e) => fail!("info: {e:?}"),
        }
    }

    /// Waits until the echo and the page server hold their sockets at
    /// start-up: the count stays the same for half a second.
    fn settled_sockets(&mut self) -> Result<u32, test_harness::LineBuf> {
        let mut last = self.sockets()?;
        let mut same = 0;
        for _ in 0..50 {
            sleep_ms(100, TIMER_BIT);
            let now = self.sockets()?;
            same = if now == last { same + 1 } else { 0 };
            if same == 5 && now > 0 {
                return Ok(now);
            }
            last = now;
        }
        fail!("the stack's socket count never settled (last {last})")
    }
}

fn ungranted_ports_are_refused(s: &mut Suite) -> CaseResult {
    s.settled_sockets()?;
    refused(s.net.tcp_listen(80, 1), "tcp_listen(80), the page server's")?;
    refused(s.net.tcp_listen(7, 8), "tcp_listen(7), the echo's")?;
    refused(s.net.udp_bind(7), "udp_bind(7), the echo's")?;
    refused(
        s.net.tcp_listen(8080, 1),
        "tcp_listen(8080), granted to nobody",
    )?;
    refused(s.net.udp_bind(53), "udp_bind(53), granted to nobody")?;
    refused(
        s.net.tcp_listen(OWN_PORT, 1),
        "tcp_listen(9): the suite's grant is UDP only",
    )?;
    // Its own grant works, and again once closed.
    for round in 0..2 {
        let id = match s.net.udp_bind(OWN_PORT) {
            Ok(id) => id,
            Err(e) => fail!("udp_bind(9), the suite's own port, round {round}: {e:?}"),
        };
        if let Err(e) = s.net.close(id) {
            fail!("close of its own socket: {e:?}");
        }
    }
    Ok(())
}

fn a_restarted_stacks_ports_stay_their_owners(s: &mut Suite) -> CaseResult {
    let sockets = s.settled_sockets()?;
    let before = task_status(tasks::NET)?;
    if let Err(e) = s.sup.restart_task(tasks::NET.index() as u32) {
        fail!("restart_task(net): {e:?}");
    }
    // The new stack has no sockets, and the suite outranks the echo and
    // the page server: it asks before either can listen again. Its first
    // call learns of the restart.
    match s.net.info() {
        Err(RequestError::ServerRestarted) | Ok(_) => {}
        Err(e) => fail!("info after the stack's restart: {e:?}"),
    }
    let st = task_status(tasks::NET)?;
    check!(
        st.generation == before.generation + 1,
        "the stack is on generation {} after its restart, expected {}",
        st.generation,
        before.generation + 1
    );
    for _ in 0..10 {
        refused(
            s.net.tcp_listen(80, 8),
            "tcp_listen(80) before the page server is back",
        )?;
        refused(
            s.net.tcp_listen(7, 8),
            "tcp_listen(7) before the echo is back",
        )?;
        refused(s.net.udp_bind(7), "udp_bind(7) before the echo is back")?;
    }
    // The services take their ports back (each notices the restart at
    // its next wake-up, within a second or so).
    let mut after = 0;
    for _ in 0..50 {
        sleep_ms(100, TIMER_BIT);
        after = s.sockets()?;
        if after == sockets {
            return Ok(());
        }
    }
    fail!("{sockets} sockets open before the stack's restart, {after} 5 s after")
}

fn forged_socket_ids_are_bad_sockets(s: &mut Suite) -> CaseResult {
    let sockets = s.sockets()?;
    let id = match s.net.udp_bind(OWN_PORT) {
        Ok(id) => id,
        Err(e) => fail!("udp_bind(9): {e:?}"),
    };
    let slot = id & 0xff;
    let tag = id & !0xff;
    // Its own slot with other tags; every other slot with its tag (the
    // echo's and the page server's sockets among them); ids out of range.
    let mut forged = [0u32; 40];
    forged[0] = slot | (tag ^ (1 << 8));
    forged[1] = slot | tag.wrapping_add(1 << 8);
    forged[2] = slot | tag.wrapping_sub(1 << 8);
    forged[3] = u32::MAX;
    forged[4] = 0xff | tag;
    forged[5] = 32 | tag;
    let mut n = 6;
    for other in (0..32).filter(|&o| o != slot) {
        forged[n] = other | tag;
        n += 1;
    }
    for &f in &forged[..n] {
        bad_socket(
            s.net.udp_recv_from(f, &mut [0u8; 16]),
            "udp_recv_from(forged)",
        )?;
        bad_socket(s.net.tcp_recv(f, &mut [0u8; 16]), "tcp_recv(forged)")?;
        bad_socket(s.net.tcp_accept(f), "tcp_accept(forged)")?;
        bad_socket(s.net.close(f), "close(forged)")?;
        bad_socket(s.net.abort(f), "abort(forged)")?;
    }
    check!(
        s.sockets()? == sockets + 1,
        "forged closes changed the stack's sockets: {} open, expected {}",
        s.sockets()?,
        sockets + 1
    );
    if let Err(e) = s.net.close(id) {
        fail!("close of its own socket: {e:?}");
    }
    bad_socket(s.net.close(id), "close of its own socket, again")?;
    Ok(())
}

fn the_stack_and_services_are_unharmed(_s: &mut Suite) -> CaseResult {
    for (task, name, restarts) in [
        (tasks::NET, "net", 1),
        (tasks::ECHO, "echo", 0),
        (tasks::HTTP, "http", 0),
    ] {
        let st = task_status(task)?;
        check!(
            st.fault_count == 0 && st.generation == restarts,
            "{name}: {} faults, generation {} (expected none and {restarts})",
            st.fault_count,
            st.generation
        );
    }
    Ok(())
}

/// A client left stopped never calls the stack again: its sockets must go
/// all the same (the stack asks the kernel for its owners' generations
/// once a second), not stay held for good while its listener completes
/// handshakes nobody accepts. The page server is faulted; app.toml leaves
/// it stopped (`policy = "never"`). Runs last: the page server stays down.
fn a_stopped_clients_sockets_are_freed(s: &mut Suite) -> CaseResult {
    let before = s.sockets()?;
    if let Err(e) = s.sup.fault_task(tasks::HTTP.index() as u32) {
        fail!("fault_task(http): {e:?}");
    }
    let st = task_status(tasks::HTTP)?;
    check!(
        userlib::abi::TaskState::from_u32(st.state) == Some(userlib::abi::TaskState::Stopped),
        "http is in state {} after its fault, not left stopped",
        st.state
    );
    // The stack looks once a second; 2 s leaves room for a busy round.
    let mut now = before;
    for _ in 0..20 {
        sleep_ms(100, TIMER_BIT);
        now = s.sockets()?;
        if now < before {
            return Ok(());
        }
    }
    fail!("{before} sockets open before the page server stopped, {now} 2 s after")
}

#[export_name = "main"]
fn main() -> ! {
    let mut s = Suite {
        net: NetClient::new(UserlibIpc, tasks::NET),
        sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
    };
    let cases: &[Case<Suite>] = &[
        ("ungranted_ports_are_refused", ungranted_ports_are_refused),
        (
            "a_restarted_stacks_ports_stay_their_owners",
            a_restarted_stacks_ports_stay_their_owners,
        ),
        (
            "forged_socket_ids_are_bad_sockets",
            forged_socket_ids_are_bad_sockets,
        ),
        (
            "the_stack_and_services_are_unharmed",
            the_stack_and_services_are_unharmed,
        ),
        (
            "a_stopped_clients_sockets_are_freed",
            a_stopped_clients_sockets_are_freed,
        ),
    ];
    test_harness::run_suite(&mut s, cases)
}
