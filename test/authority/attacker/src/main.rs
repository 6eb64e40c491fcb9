//! A compromised entropy driver, for the least-authority test image
//! (`test/authority.toml`). It registers for the entropy device as a real
//! driver would, then, each time the suite asks (raw IPC: the operation is
//! the attack number, the reply the outcome of every step as `u32` codes),
//! tries one of the attacks of issue 10 on the disk driver `blk0`:
//!
//! 1. take the disk: unbind its own slot, report `removed()`, ask the
//!    supervisor to fault blk0, and register for block devices;
//! 2. operator ops: unbind and bind blk0's slot, fault and restart blk0,
//!    read its status, stop the machine;
//! 3. spoofed notifications: post blk0's remove and IRQ bits, the
//!    supervisor's fault bit, and a bit of the (unrelated) suite;
//! 4. a stale id: send to the blk0 id it saved at boot, after the suite has
//!    restarted blk0 many times;
//! 5. garbage: calls to blk0 that break `idl/block.idol` (see
//!    [`garbage`]), which blk0 refuses, and which must not get it
//!    restarted, though the suite sends garbage too.
//!
//! It must never be part of a real image: it exists to be refused.

#![no_std]
#![no_main]

use abi::{dead_generation, TaskId};
use idol_runtime::{ErrorCode, RequestError, UserlibIpc};
use supervisor_api::SupervisorClient;
use userlib::{sys_log, sys_post, sys_recv, sys_reply, sys_send, tasks};
use virtio_bus_api::VirtioBusClient;
use zerocopy::IntoBytes;

const ENTROPY: u32 = 4;
const BLOCK: u32 = 2;
const IRQ_BIT: u32 = 1 << 0;
const REMOVE_BIT: u32 = 1 << 1;
const PROBE_BIT: u32 = 1 << 2;
/// blk0's notification bits (app.toml: irq, remove, probe, timer).
const BLK_IRQ_BIT: u32 = 1 << 0;
const BLK_REMOVE_BIT: u32 = 1 << 1;
/// The code a step reports when it succeeded.
pub const OK: u32 = 0;
/// The code a step reports when the server restarted under it.
pub const RESTARTED: u32 = u32::MAX;
/// The code a step reports when the server answered outside the protocol.
pub const PROTOCOL: u32 = u32::MAX - 1;
/// Most steps one attack reports.
pub const STEPS: usize = 8;

/// A request's outcome as one code: 0, the server's error code, or
/// [`RESTARTED`].
fn code<T, E: ErrorCode>(r: Result<T, RequestError<E>>) -> u32 {
    match r {
        Ok(_) => OK,
        Err(RequestError::Server(e)) => e.code(),
        Err(RequestError::ServerRestarted | RequestError::ServerStopped) => RESTARTED,
        Err(RequestError::Protocol(_)) => PROTOCOL,
    }
}

struct Attacker {
    bus: VirtioBusClient<UserlibIpc>,
    sup: SupervisorClient<UserlibIpc>,
    slot: Option<u32>,
    /// blk0 as it was at boot: the id a stale client would hold.
    blk0_at_boot: TaskId,
}

impl Attacker {
    fn register(&mut self) {
        match self
            .bus
            .probe([ENTROPY, 0, 0, 0], IRQ_BIT, REMOVE_BIT, PROBE_BIT)
        {
            Ok(probe) => self.slot = probe.map(|p| p.slot),
            Err(e) => sys_log!("register (entropy) failed: {e:?}"),
        }
    }

    fn attack(&mut self, n: u32) -> [u32; STEPS] {
        let mut out = [OK; STEPS];
        let blk0 = tasks::BLK0.index() as u32;
        match n {
            1 => {
                let own = self.slot.unwrap_or(u32::MAX);
                out[0] = code(self.bus.unbind(own));
                // The supervisor posted our remove bit; answer it.
                out[1] = code(self.bus.removed());
                self.slot = None;
                out[2] = code(self.sup.fault_task(blk0));
                out[3] = code(
                    self.bus
                        .register([BLOCK, 0, 0, 0], IRQ_BIT, REMOVE_BIT, PROBE_BIT),
                );
                out[4] =
                    code(
                        self.bus
                            .register([ENTROPY, BLOCK, 0, 0], IRQ_BIT, REMOVE_BIT, PROBE_BIT),
                    );
            }
            2 => {
                let slot = self
                    .bus
                    .devices()
                    .map(|t| t.slots.iter().position(|e| e.driver == blk0).unwrap_or(0) as u32);
                let slot = slot.unwrap_or(0);
                out[0] = code(self.bus.unbind(slot));
                out[1] = code(self.bus.bind(slot));
                // Ten faults within the restart window would exhaust
                // blk0's restart limit.
                for _ in 0..10 {
                    out[2] = out[2].max(code(self.sup.fault_task(blk0)));
                }
                out[3] = code(self.sup.restart_task(blk0));
                out[4] = code(self.sup.task_status(blk0));
                out[5] = code(self.sup.inject(blk0, 2, 0));
                out[6] = code(self.sup.shutdown(0));
                out[7] = code(self.sup.restart_record(0));
            }
            3 => {
                let blk = userlib::sys_refresh_task_id(tasks::BLK0);
                let sup = userlib::sys_refresh_task_id(tasks::SUPERVISOR);
                let suite = userlib::sys_refresh_task_id(tasks::SUITE);
                let post = |t, b| match sys_post(t, b) {
                    Ok(()) => OK,
                    Err(c) => c,
                };
                out[0] = post(blk, BLK_REMOVE_BIT);
                out[1] = post(blk, BLK_IRQ_BIT);
                out[2] = post(sup, abi::SUPERVISOR_FAULT_BIT);
                out[3] = post(suite, 1);
            }
            4 => {
                // Any operation: a stale id must not reach the server at all.
                let (c, _) = sys_send(self.blk0_at_boot, 0, &[], &mut [0u8; 16], &[]);
                out[0] = c;
                out[1] = dead_generation(c).map(|g| g.0 as u32).unwrap_or(RESTARTED);
            }
            5 => garbage(&mut out),
            _ => out[0] = RESTARTED,
        }
        out
    }
}

/// Attack 5: one call to blk0 for each step of the generated dispatch, each
/// breaking it there; `out` gets the code of each (a REJECTED code, or
/// [`PROTOCOL`] if blk0 took it).
fn garbage(out: &mut [u32; STEPS]) {
    use abi::{Lease, LEASE_READ, LEASE_WRITE};
    let blk = userlib::sys_refresh_task_id(tasks::BLK0);
    let mut data = [0u8; 512];
    let base = data.as_mut_ptr() as u32;
    let writable = [Lease {
        attributes: LEASE_WRITE,
        base,
        len: 512,
    }];
    let read_only = [Lease {
        attributes: LEASE_READ,
        base,
        len: 512,
    }];
    let sector = 0u64.to_le_bytes();
    let mut reply = [0u8; 64];
    let calls: [(u16, &[u8], usize, &[Lease]); 5] = [
        // An operation `Block` does not have.
        (0, &[], 64, &[]),
        // `read` with a 3-byte sector.
        (2, &sector[..3], 64, &writable),
        // `read` into a lease the driver may not write.
        (2, &sector, 64, &read_only),
        // `write` with no lease.
        (3, &sector, 64, &[]),
        // `info` with no room for its reply.
        (1, &[], 0, &[]),
    ];
    for (o, (op, message, room, leases)) in out.iter_mut().zip(calls) {
        let (c, _) = sys_send(blk, op, message, &mut reply[..room], leases);
        *o = if abi::rejected_reason(c).is_some() {
            c
        } else {
            PROTOCOL
        };
    }
}

#[export_name = "main"]
fn main() -> ! {
    let mut a = Attacker {
        bus: VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR),
        sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
        slot: None,
        blk0_at_boot: userlib::sys_refresh_task_id(tasks::BLK0),
    };
    a.register();
    let mut buf = [0u8; 4];
    loop {
        let m = sys_recv(&mut buf, REMOVE_BIT | PROBE_BIT, None);
        if m.is_notification() {
            if m.operation & REMOVE_BIT != 0 && a.slot.is_some() {
                let _ = a.bus.removed();
                a.slot = None;
            }
            if m.operation & PROBE_BIT != 0 && a.slot.is_none() {
                a.register();
            }
            continue;
        }
        let out = a.attack(m.operation);
        sys_reply(m.sender, 0, out.as_bytes());
    }
}
