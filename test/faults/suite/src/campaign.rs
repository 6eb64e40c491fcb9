//! The fault campaign: N random injections into the blk, rng and net
//! drivers, each drawn from the seed and its own index
//! (`fault_inject::plan`), while the workload writes, reads and verifies
//! self-checking blocks and keeps Ethernet frames going through net0 (ARP
//! to QEMU's user-network gateway, which answers).
//!
//! Every fault is judged on its evidence (`fault_inject::evidence`):
//! confirmed (the kernel recorded the fault it must cause, the ring
//! recovery counter advanced, the flipped word changed and the driver
//! faulted or restarted), latent (a bit flip with no observable effect),
//! or unconfirmed — a failure. Every problem prints the fault's index,
//! kind, target, argument and the seed, so `--only K` replays it. The
//! campaign ends with a summary that `cargo xtask test --faults N --seed S`
//! prints.
//!
//! The campaign calls the drivers under fire itself, as any client does.
//! Drivers are untrusted servers (app.toml `drives`): whatever a corrupted
//! one answers — a `reply_fault`, an unknown code, a reply that does not
//! decode, its death — reaches this task as a typed error
//! (`RequestError::Protocol`, `ServerRestarted`), never as a fault of its
//! own, so the ledger of acknowledged writes is safe here. A write whose
//! call failed is "may or may not have landed".

use abi::{InjectEvidence, Injection, TaskStatus};
use block_api::BlockClient;
use entropy_api::EntropyClient;
use ethernet_api::{EthernetClient, EthernetError};
use fault_inject::evidence::{self, Around, CallEnd, Unconfirmed, Verdict};
use fault_inject::plan::{self, Aims, Fault, Kind};
use fault_inject::point::{self, Point};
use fault_inject::FaultInjectClient;
use fault_workload::{make_block, Ledger, Verdict as Block, BLOCK};
use idol_runtime::{RequestError, TaskId, UserlibIpc};
use supervisor_api::SupervisorClient;
use userlib::{sleep_ms, sys_get_timer, sys_log, sys_post, sys_refresh_task_id, tasks};

use crate::{SECTORS, TIMER_BIT};

mod tally;
use tally::Tally;

mod params {
    include!(concat!(env!("OUT_DIR"), "/campaign.rs"));
}

/// The campaign's parameters as the image carries them: two magic words,
/// the number of faults, the seed (low and high word), and the one fault
/// to replay (`u32::MAX`: all). `cargo xtask test --faults N --seed S`
/// builds them in; `cargo xtask campaign` finds the magic words in the
/// packed image and patches a copy per run, so one build serves every run
/// of a split campaign.
#[used]
#[no_mangle]
static VIREO_CAMPAIGN_PARAMS: [u32; 6] = [
    0x4552_4956, // "VIRE"
    0x5043_4d43, // "CMCP"
    params::FAULTS,
    params::SEED as u32,
    (params::SEED >> 32) as u32,
    match params::ONLY {
        Some(k) => k,
        None => u32::MAX,
    },
];

/// Faults, seed and the fault to replay alone, as patched into the image.
fn parameters() -> (u32, u64, Option<u32>) {
    // SAFETY: a static of our own, read through a pointer so the values
    // patched into the image after the build are the ones seen.
    let p = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(VIREO_CAMPAIGN_PARAMS)) };
    let seed = u64::from(p[3]) | (u64::from(p[4]) << 32);
    (p[2], seed, (p[5] != u32::MAX).then_some(p[5]))
}

/// The drivers under fire, and their share of the faults: in proportion
/// to the work their devices do per fault, in buffers through the
/// virtqueues. A fault's workload has 3.5 steps on average; each is one
/// blk0 request, one frame round trip in four (a transmit and a receive
/// buffer) and one rng0 fill in eight; before the injection each loader
/// sends blk0 one more. So blk0 moves 3.5 + 2 = 5.5 buffers, net0 1.75,
/// rng0 0.44: about 12 : 4 : 1.
const TARGETS: [(TaskId, &str); 3] = [
    (tasks::BLK0, "blk0"),
    (tasks::RNG0, "rng0"),
    (tasks::NET0, "net0"),
];
const WEIGHTS: [u32; 3] = [12, 1, 4];
/// The target numbers.
const BLK0: usize = 0;
const RNG0: usize = 1;
// net0 is target 2.
/// The other clients of blk0 (`fault-test-loader`), which put a request
/// of their own on it at each "go" the campaign posts.
const LOADERS: [TaskId; 2] = [tasks::LOAD0, tasks::LOAD1];
/// The loaders' "go" (their app.toml `notifications`).
const LOADER_GO_BIT: u32 = 1 << 0;

/// The most faults one run takes (`cargo xtask campaign` splits bigger
/// campaigns into runs of this size).
const MAX_FAULTS: usize = 2000;
/// A request that has not succeeded this long after a fault counts as an
/// unrecovered driver (the campaign moves on).
const RECOVERY_LIMIT_US: u64 = 5_000_000;
/// How long after a fault the campaign, as an operator would, asks for the
/// restart of a driver that serves no request (see `Campaign::recover`):
/// well past the driver's own request deadline (10 ms) and the
/// supervisor's watchdog (60 ms in this image).
const ESCALATE_AFTER_US: u64 = 100_000;

fn now_us() -> u64 {
    sys_get_timer().now / (abi::TICKS_PER_MS / 1000)
}

/// The campaign's state: its clients of the drivers and the supervisor,
/// and the ledger.
pub struct Campaign {
    blk: BlockClient<UserlibIpc>,
    rng: EntropyClient<UserlibIpc>,
    net: EthernetClient<UserlibIpc>,
    /// Fault injection into each target, by target number.
    inject: [FaultInjectClient<UserlibIpc>; 3],
    sup: SupervisorClient<UserlibIpc>,
    ledger: Ledger<SECTORS>,
}

/// What one injection returned.
enum Injected {
    Driver(CallEnd),
    Flip(Result<InjectEvidence, ()>),
}

/// How long a frame round trip waits for the gateway's answer (QEMU's
/// gateway answers as soon as it has the request; a NIC that lost the
/// request is reset by its transmit deadline well within this).
const REPLY_WAIT_MS: u32 = 20;
/// QEMU's user-network gateway, which answers ARP.
const GATEWAY: [u8; 4] = [10, 0, 2, 2];
/// The address the ARP request says it comes from (QEMU's DHCP would give
/// the NIC this one).
const SELF_IP: [u8; 4] = [10, 0, 2, 15];

/// An ARP request (RFC 826) from `mac` for the gateway, broadcast.
fn arp_request(mac: [u8; 6]) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes()); // EtherType ARP
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&SELF_IP);
    f[38..42].copy_from_slice(&GATEWAY);
    f
}

/// How a call to a driver ended, as far as the campaign cares.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Call {
    Ok,
    /// The driver restarted since our last call (or during this one).
    Restarted,
    /// An error code, a rejection or a reply that does not decode.
    Failed,
}

fn call<T, E>(r: &Result<T, RequestError<E>>) -> Call {
    match r {
        Ok(_) => Call::Ok,
        // Gone either way: the recovery escalates to an operator restart.
        Err(RequestError::ServerRestarted | RequestError::ServerStopped) => Call::Restarted,
        Err(RequestError::Server(_) | RequestError::Protocol(_)) => Call::Failed,
    }
}

/// A fault as each of its campaign lines names it: enough to replay it
/// with `--only` (its index and the seed) and to read what it was.
struct Named<'a> {
    fault: &'a Fault,
    target: &'a str,
    seed: u64,
}

impl core::fmt::Display for Named<'_> {
    fn fmt(&self, out: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let f = self.fault;
        write!(
            out,
            "{} kind {}{} target {} arg {:#010x} seed {}",
            f.index,
            f.kind.describe(),
            f.point.describe(),
            self.target,
            f.arg,
            self.seed
        )
    }
}

impl Campaign {
    /// A campaign against blk0, rng0 and net0.
    pub fn new() -> Self {
        Campaign {
            blk: BlockClient::new(UserlibIpc, tasks::BLK0),
            rng: EntropyClient::new(UserlibIpc, tasks::RNG0),
            net: EthernetClient::new(UserlibIpc, tasks::NET0),
            inject: [
                FaultInjectClient::new(UserlibIpc, tasks::BLK0),
                FaultInjectClient::new(UserlibIpc, tasks::RNG0),
                FaultInjectClient::new(UserlibIpc, tasks::NET0),
            ],
            sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
            ledger: Ledger::new(64),
        }
    }

    fn status(&self, task: TaskId) -> TaskStatus {
        self.sup
            .task_status(task.index() as u32)
            .unwrap_or_default()
    }

    /// One frame round trip through net0: an ARP request to the gateway
    /// and a frame back. A queued send proves nothing (a broken ring takes
    /// it too): only a frame that came in after this request's own counts,
    /// so what was waiting is taken first.
    fn frame(&mut self) -> Call {
        let mut frame = [0u8; 1536];
        loop {
            match self.net.recv(&mut frame) {
                Ok(_) => {}
                Err(RequestError::Server(EthernetError::Empty)) => break,
                r => return call(&r),
            }
        }
        let mac = match self.net.mac() {
            Ok(mac) => mac,
            r => return call(&r),
        };
        let r = self.net.send(&arp_request(mac));
        if r.is_err() {
            return call(&r);
        }
        // QEMU's gateway answers at once; a NIC whose ring is broken sends
        // nothing, and its driver's transmit deadline resets it.
        for _ in 0..REPLY_WAIT_MS {
            match self.net.recv(&mut frame) {
                Ok(_) => return Call::Ok,
                Err(RequestError::Server(EthernetError::Empty)) => sleep_ms(1, TIMER_BIT),
                r => return call(&r),
            }
        }
        Call::Failed
    }

    fn read(&mut self, sector: u64, buf: &mut [u8; BLOCK]) -> Call {
        call(&self.blk.read(sector, buf))
    }

    fn fill(&mut self, len: usize) -> Call {
        let mut buf = [0u8; 64];
        call(&self.rng.fill(&mut buf[..len.min(64)]))
    }

    /// Reads `sector` into `buf` until a read succeeds (the driver may be
    /// recovering) or [`RECOVERY_LIMIT_US`] passes; whether one did.
    fn read_again(&mut self, sector: u64, buf: &mut [u8; BLOCK]) -> bool {
        let t0 = now_us();
        loop {
            if self.read(sector, buf) == Call::Ok {
                return true;
            }
            if now_us() - t0 >= RECOVERY_LIMIT_US {
                return false;
            }
            sleep_ms(1, TIMER_BIT);
        }
    }

    /// A few workload steps: writes (acknowledged or failed) and verified
    /// reads; adds to `t` the reads that found a lost or corrupted block,
    /// and those that were answered with other data while the sector was
    /// sound (a wrong answer: read again, the sector holds what the
    /// ledger allows).
    fn workload(&mut self, f: &mut Fault, seed: u64, t: &mut Tally) {
        let mut buf = [0u8; BLOCK];
        for _ in 0..f.steps {
            let i = f.rng.below(SECTORS as u64) as usize;
            let sector = self.ledger.sector(i);
            if f.rng.below(2) == 0 {
                let v = self.ledger.next_version();
                if self.blk.write(sector, &make_block(sector, v)).is_ok() {
                    self.ledger.acked(i, v);
                } else {
                    self.ledger.failed(i, v);
                }
            } else if self.read(sector, &mut buf) == Call::Ok {
                let v = self.ledger.check(i, &buf);
                if v != Block::Good {
                    // Lost write or wrong answer? The sector itself says.
                    let sound = self.read_again(sector, &mut buf)
                        && self.ledger.check(i, &buf) == Block::Good;
                    if sound {
                        t.wrong_answers += 1;
                    } else {
                        t.lost_or_corrupted += 1;
                    }
                    sys_log!(
                        "[campaign] PROBLEM fault {} seed {seed}: workload read sector {sector}: {v:?}{}",
                        f.index,
                        if sound {
                            " (a wrong answer: the sector was sound when read again)"
                        } else {
                            ""
                        }
                    );
                }
            }
            if f.rng.below(8) == 0 {
                self.fill(32);
            }
            if f.rng.below(4) == 0 {
                self.frame();
            }
        }
    }

    /// Has each loader send blk0 one request now: they are more important
    /// than the campaign, so when this returns each has its request on the
    /// driver (or already answered).
    fn cue_loaders(&self) {
        for l in LOADERS {
            let _ = sys_post(sys_refresh_task_id(l), LOADER_GO_BIT);
        }
    }

    fn recoveries(&mut self, target: usize) -> u32 {
        let client = &self.inject[target];
        // The first call after a restart only learns the new generation.
        client
            .recoveries()
            .or_else(|_| client.recoveries())
            .unwrap_or(0)
    }

    /// Injects `f`.
    fn inject(&mut self, f: &Fault) -> Injected {
        let (task, _) = TARGETS[f.target];
        match f.kind {
            Kind::Driver(d) => {
                // Most injections end the driver during the call: the
                // evidence is judged from the kernel's records, given how
                // the call ended. An idempotent call first learns the
                // driver's current generation, so a DEAD below means the
                // driver died during the injection, not that an earlier
                // incarnation is gone (`inject` is not retried).
                let client = &self.inject[f.target];
                let _ = client.recoveries();
                let word = point::kind_word(d, f.point);
                Injected::Driver(match client.inject(word, f.arg) {
                    Ok(()) => CallEnd::Replied,
                    Err(RequestError::Server(e)) => CallEnd::Refused(e as u32),
                    Err(RequestError::ServerRestarted | RequestError::ServerStopped) => {
                        CallEnd::Died
                    }
                    // An untrusted driver's rejection or garbled answer: it
                    // replied.
                    Err(RequestError::Protocol(_)) => CallEnd::Refused(u32::MAX),
                })
            }
            Kind::FlipRegisterBit | Kind::FlipRamBit => {
                let how = if f.kind == Kind::FlipRegisterBit {
                    Injection::FlipRegisterBit
                } else {
                    Injection::FlipRamBit
                };
                let r = self.sup.inject(task.index() as u32, how as u32, f.arg);
                Injected::Flip(r.map_err(|_| ()))
            }
        }
    }

    /// Time until the first successful request to the faulted driver, and
    /// whether the campaign had to ask for the driver's restart.
    ///
    /// A call that finds the driver restarted is made again at once: the
    /// new incarnation is more important than the campaign, so it has
    /// brought its device up by the time the campaign runs again. Any
    /// other failure waits a millisecond (a device being reset).
    ///
    /// A driver that still answers nothing but errors [`ESCALATE_AFTER_US`]
    /// after the fault is alive with corrupted state (a flipped register
    /// can leave it sure it has no device, say): nothing in it is wrong
    /// enough for the kernel or the watchdog, which see it reply. The
    /// campaign then does what an operator does, once: asks the supervisor
    /// to restart it (device reset first).
    fn recover(&mut self, target: usize, t0: u64) -> (Option<u64>, bool) {
        let mut buf = [0u8; BLOCK];
        let mut escalated = false;
        loop {
            let end = match target {
                BLK0 => self.read(self.ledger.sector(0), &mut buf),
                RNG0 => self.fill(16),
                // net0, the only other target.
                _ => self.frame(),
            };
            let dt = now_us() - t0;
            if end == Call::Ok {
                return (Some(dt), escalated);
            }
            if dt > RECOVERY_LIMIT_US {
                return (None, escalated);
            }
            if dt > ESCALATE_AFTER_US && !escalated {
                escalated = true;
                let _ = self.sup.restart_task(TARGETS[target].0.index() as u32);
                continue;
            }
            if end != Call::Restarted {
                sleep_ms(1, TIMER_BIT);
            }
        }
    }

    /// One fault: workload, injection, recovery, judgement.
    fn one(&mut self, mut f: Fault, seed: u64, t: &mut Tally) {
        self.workload(&mut f, seed, t);
        let (task, name) = TARGETS[f.target];
        let queue = matches!(f.kind, Kind::Driver(d) if d.is_queue_corruption());
        let before = self.status(task);
        let r0 = if queue { self.recoveries(f.target) } else { 0 };
        // Printed before the injection, so a hang names the fault it
        // happened in.
        let named = Named {
            fault: &f,
            target: name,
            seed,
        };
        sys_log!("[campaign] fault {named}");
        let armed = f.point != Point::Now;
        let t0 = now_us();
        let (injected, in_flight) = if armed {
            // Armed: it fires in the path of the next request that passes
            // its point — on blk0 a loader's, cued now (both loaders'
            // requests are on the driver when a completion passes "before
            // the reply"), on rng0 and net0 the campaign's own first
            // request below. Whatever it hits is in flight by construction;
            // the evidence (`driver_fault`) shows that it fired.
            let injected = self.inject(&f);
            self.cue_loaders();
            (injected, 0)
        } else {
            // The loaders' requests go to blk0 now and the injection
            // follows at once: what is outstanding on the target then, as
            // the kernel sees it (the loaders blocked calling it), is in
            // flight when the fault hits (if the device has not answered
            // already).
            self.cue_loaders();
            let in_flight = LOADERS
                .iter()
                .filter(|l| self.status(**l).calling == task.index() as u32)
                .count();
            (self.inject(&f), in_flight)
        };
        t.injected[f.kind.index()] += 1;
        // The kernel's record of the injected fault, before anything else
        // the new incarnation may go through can overwrite it.
        let mid = self.status(task);
        let (recovered, escalated) = self.recover(f.target, t0);
        if escalated {
            t.operator_restarts += 1;
            // Name the fault that needed the operator (otherwise only
            // counted in the report).
            sys_log!("[campaign] escalated: fault {named}");
        }
        let mut after = self.status(task);
        let mut r1 = if queue { self.recoveries(f.target) } else { 0 };
        if queue && armed && r1 == r0 && after.generation == before.generation {
            // A ring corruption armed for "before the reply" fired in the
            // path of the request that recovered, after its completion:
            // the driver finds the broken ring at the next request.
            let _ = self.recover(f.target, now_us());
            after = self.status(task);
            r1 = self.recoveries(f.target);
        }
        let mut judged = after;
        if mid.fault_count != before.fault_count {
            judged.last_fault = mid.last_fault;
        }
        let around = Around {
            before,
            after: judged,
        };
        t.restarts += around.restarts();
        // A line has at most 160 bytes: the fault's identity on one, what
        // went wrong on the next.
        let problem = |what: &dyn core::fmt::Debug| {
            sys_log!("[campaign] PROBLEM fault {named}");
            sys_log!("[campaign]   {what:?}");
        };
        sys_log!(
            "[campaign] done {} us {}",
            f.index,
            recovered.map_or(-1, |dt| dt as i64)
        );
        match recovered {
            Some(dt) => {
                if t.recovered < MAX_FAULTS {
                    t.recovery[t.recovered] = dt.min(u32::MAX as u64) as u32;
                    t.recovered += 1;
                }
            }
            None => {
                t.unrecovered += 1;
                problem(&"no successful request within 5 s (unrecovered)");
            }
        }
        let verdict = match (f.kind, injected) {
            (Kind::Driver(d), Injected::Driver(call)) => {
                let rec = queue.then_some((r0, r1));
                let v = evidence::driver_fault(d, f.point, f.arg, call, &around, rec);
                if v == Ok(Verdict::Confirmed) && d.must_restart() {
                    t.must_restart += 1;
                }
                v
            }
            (_, Injected::Flip(Ok(ev))) => evidence::bit_flip(f.arg & 31, &ev, &around),
            (_, Injected::Flip(Err(()))) => Err(Unconfirmed::Refused(u32::MAX)),
            _ => Err(Unconfirmed::Refused(0)),
        };
        // An armed fault that fired hit the request whose path it fired in.
        if in_flight > 0 || (armed && verdict == Ok(Verdict::Confirmed)) {
            t.in_flight += 1;
        }
        if armed {
            t.armed[f.point as usize] += 1;
        }
        match verdict {
            Ok(Verdict::Confirmed) => t.confirmed += 1,
            Ok(Verdict::Latent) => {
                t.latent += 1;
                // Nothing observed the flip, but it may still sit in the
                // target (a register or word read only by a later request,
                // such as the next injection's). A fresh incarnation keeps it
                // out of the next faults' evidence; the restart is outside
                // this fault's before/after window, so it is not counted.
                if self.sup.restart_task(task.index() as u32).is_ok() {
                    let _ = self.recover(f.target, now_us());
                }
            }
            Err(why) => {
                t.unconfirmed += 1;
                problem(&why);
                sys_log!(
                    "[campaign]   generation {} -> {}, faults {} -> {}, last fault {} at {:#010x}",
                    before.generation,
                    after.generation,
                    before.fault_count,
                    after.fault_count,
                    after.last_fault.kind().describe(),
                    after.last_fault.address
                );
            }
        }
    }
}

/// Runs the campaign and prints its summary; returns the number of failed
/// checks (as cases).
pub fn run(s: &mut Campaign) -> u32 {
    let (faults, seed, only) = parameters();
    let faults = faults.min(MAX_FAULTS as u32);
    let aims = Aims {
        kernel_ram: (crate::KERNEL_RAM, crate::KERNEL_RAM_SIZE),
        other_task: crate::victim_address(),
        ungranted_device: crate::UART,
    };
    let range = match only {
        Some(k) => k..k.saturating_add(1),
        None => 0..faults,
    };
    sys_log!(
        "[campaign] faults {faults} seed {seed} only {}",
        only.map_or(-1, i64::from)
    );
    let mut t = Tally::new();
    for index in range {
        let f = plan::fault(seed, index, &WEIGHTS, &aims);
        s.one(f, seed, &mut t);
    }
    // The final audit: every sector must hold what the ledger allows.
    let mut buf = [0u8; BLOCK];
    for i in 0..SECTORS {
        let sector = s.ledger.sector(i);
        // A read that fails (a device reset under way) is made again: only
        // what a read returns can show a lost or corrupted write.
        let t0 = now_us();
        let mut end = s.read(sector, &mut buf);
        while end != Call::Ok && now_us() - t0 < RECOVERY_LIMIT_US {
            sleep_ms(1, TIMER_BIT);
            end = s.read(sector, &mut buf);
        }
        if end != Call::Ok {
            t.unrecovered += 1;
            sys_log!(
                "[campaign] PROBLEM final audit seed {seed}: sector {sector} unreadable for 5 s"
            );
            continue;
        }
        let v = s.ledger.check(i, &buf);
        if v != Block::Good {
            t.lost_or_corrupted += 1;
            sys_log!("[campaign] PROBLEM final audit seed {seed}: sector {sector}: {v:?}");
        }
    }

    t.report(only.is_some())
}
