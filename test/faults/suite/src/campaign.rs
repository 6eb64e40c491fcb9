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
//! The campaign never calls a driver itself: a driver corrupted by an
//! injected fault may fault its caller, so every driver call goes through
//! the proxy task (`fault-test-proxy`), and the ledger of acknowledged
//! writes stays here, out of reach. A proxy killed mid-call is counted and
//! its call treated as failed (a write it carried is then "may or may not
//! have landed").

use abi::{InjectEvidence, Injection, TaskStatus};
use fault_inject::evidence::{self, Around, CallEnd, Unconfirmed, Verdict};
use fault_inject::plan::{self, Aims, Fault, Kind};
use fault_workload::{Ledger, Verdict as Block, BLOCK};
use idol_runtime::{RequestError, TaskId, UserlibIpc};
use supervisor_api::SupervisorClient;
use userlib::{sleep_ms, sys_get_timer, sys_log, tasks};

use crate::{SECTORS, TIMER_BIT};

#[allow(dead_code)] // generated accessors the campaign does not need
mod proxy {
    include!(concat!(env!("OUT_DIR"), "/campaign_proxy_client.rs"));
}

use proxy::{CampaignProxyClient, ProxyError};

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

/// The drivers under fire, in the proxy's target numbering, and their
/// share of the faults: roughly in proportion to the work the workload
/// gives them (every step goes to blk0, one in four also to net0, one in
/// eight to rng0).
const TARGETS: [(TaskId, &str); 3] = [
    (tasks::BLK0, "blk0"),
    (tasks::RNG0, "rng0"),
    (tasks::NET0, "net0"),
];
const WEIGHTS: [u32; 3] = [4, 1, 1];
/// The proxy's target number of net0.
const NET0: usize = 2;
/// The other clients of blk0 (`fault-test-loader`), which keep requests in
/// flight on it.
const LOADERS: [TaskId; 2] = [tasks::LOAD0, tasks::LOAD1];

/// The most faults one run takes (`cargo xtask campaign` splits bigger
/// campaigns into runs of this size).
const MAX_FAULTS: usize = 2000;
/// A request that has not succeeded this long after a fault counts as an
/// unrecovered driver (the campaign moves on).
const RECOVERY_LIMIT_US: u64 = 5_000_000;

fn now_us() -> u64 {
    sys_get_timer().now / (abi::TICKS_PER_MS / 1000)
}

/// The campaign's state: the proxy, the supervisor, and the ledger.
pub struct Campaign {
    proxy: CampaignProxyClient<UserlibIpc>,
    sup: SupervisorClient<UserlibIpc>,
    ledger: Ledger<SECTORS>,
    /// Calls during which the proxy was killed (by a corrupted driver).
    proxy_deaths: u32,
}

/// The campaign's counts.
struct Tally {
    injected: [u32; Kind::ALL.len()],
    confirmed: u32,
    latent: u32,
    unconfirmed: u32,
    /// Confirmed faults of kinds that must end the driver's incarnation.
    must_restart: u32,
    /// Incarnations begun, from the supervisor's generations.
    restarts: u32,
    /// Faults injected while another client had a request outstanding on
    /// the target.
    in_flight: u32,
    lost_or_corrupted: u32,
    unrecovered: u32,
    recovery: [u32; MAX_FAULTS],
    recovered: usize,
}

/// What one injection returned.
enum Injected {
    Driver(CallEnd),
    Flip(Result<InjectEvidence, ()>),
}

impl Campaign {
    /// A campaign against blk0, rng0 and net0 through the proxy.
    pub fn new() -> Self {
        Campaign {
            proxy: CampaignProxyClient::new(UserlibIpc, tasks::PROXY),
            sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
            ledger: Ledger::new(64),
            proxy_deaths: 0,
        }
    }

    fn status(&self, task: TaskId) -> TaskStatus {
        self.sup
            .task_status(task.index() as u32)
            .unwrap_or_default()
    }

    /// Whether a proxied call succeeded; counts a killed proxy.
    fn ok<T, E>(&mut self, r: Result<T, RequestError<E>>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(RequestError::ServerRestarted) => {
                self.proxy_deaths += 1;
                None
            }
            Err(RequestError::Server(_) | RequestError::Protocol(_)) => None,
        }
    }

    /// A few workload steps: writes (acknowledged or failed) and verified
    /// reads; returns how many reads found a lost or corrupted block.
    fn workload(&mut self, f: &mut Fault, seed: u64) -> u32 {
        let mut bad = 0;
        let mut buf = [0u8; BLOCK];
        for _ in 0..f.steps {
            let i = f.rng.below(SECTORS as u64) as usize;
            let sector = self.ledger.sector(i);
            if f.rng.below(2) == 0 {
                let v = self.ledger.next_version();
                let r = self.proxy.write(sector, v);
                if self.ok(r).is_some() {
                    self.ledger.acked(i, v);
                } else {
                    self.ledger.failed(i, v);
                }
            } else {
                let r = self.proxy.read(sector, &mut buf);
                if self.ok(r).is_some() {
                    let v = self.ledger.check(i, &buf);
                    if v != Block::Good {
                        bad += 1;
                        sys_log!(
                            "[campaign] PROBLEM fault {} seed {seed}: workload read sector {sector}: {v:?}",
                            f.index
                        );
                    }
                }
            }
            if f.rng.below(8) == 0 {
                let r = self.proxy.fill(32);
                self.ok(r);
            }
            if f.rng.below(4) == 0 {
                let r = self.proxy.frame();
                self.ok(r);
            }
        }
        bad
    }

    fn recoveries(&mut self, target: usize) -> u32 {
        let r = self.proxy.recoveries(target as u32);
        self.ok(r).unwrap_or(0)
    }

    /// Injects `f`.
    fn inject(&mut self, f: &Fault) -> Injected {
        let (task, _) = TARGETS[f.target];
        match f.kind {
            Kind::Driver(d) => {
                let r = self.proxy.inject(f.target as u32, d as u32, f.arg);
                Injected::Driver(match r {
                    Ok(0) => CallEnd::Replied,
                    Ok(code) => CallEnd::Refused(code),
                    Err(RequestError::Server(ProxyError::DriverRestarted)) => CallEnd::Died,
                    Err(RequestError::Server(_) | RequestError::Protocol(_)) => CallEnd::Refused(0),
                    // The driver killed the proxy (reply_fault): it did not
                    // reply, and it may be alive or dead; the kernel's
                    // records decide.
                    Err(RequestError::ServerRestarted) => {
                        self.proxy_deaths += 1;
                        CallEnd::Died
                    }
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

    /// Time until the first successful request to the faulted driver.
    fn recover(&mut self, target: usize, t0: u64) -> Option<u64> {
        let mut buf = [0u8; BLOCK];
        loop {
            let ok = match target {
                0 => {
                    let r = self.proxy.read(self.ledger.sector(0), &mut buf);
                    self.ok(r).is_some()
                }
                NET0 => {
                    let r = self.proxy.frame();
                    self.ok(r).is_some()
                }
                _ => {
                    let r = self.proxy.fill(16);
                    self.ok(r).is_some()
                }
            };
            let dt = now_us() - t0;
            if ok {
                return Some(dt);
            }
            if dt > RECOVERY_LIMIT_US {
                return None;
            }
            sleep_ms(2, TIMER_BIT);
        }
    }

    /// One fault: workload, injection, recovery, judgement.
    fn one(&mut self, mut f: Fault, seed: u64, t: &mut Tally) {
        t.lost_or_corrupted += self.workload(&mut f, seed);
        let (task, name) = TARGETS[f.target];
        let queue = matches!(f.kind, Kind::Driver(d) if d.is_queue_corruption());
        let before = self.status(task);
        let r0 = if queue { self.recoveries(f.target) } else { 0 };
        // Requests outstanding on the target right now, as the kernel sees
        // them: the loaders blocked calling it.
        let in_flight = LOADERS
            .iter()
            .filter(|l| self.status(**l).calling == task.index() as u32)
            .count();
        if in_flight > 0 {
            t.in_flight += 1;
        }
        // Printed before the injection, so a hang names the fault it
        // happened in.
        sys_log!(
            "[campaign] fault {} kind {} target {name} arg {:#010x} seed {seed} in_flight {in_flight}",
            f.index,
            f.kind.name(),
            f.arg
        );
        let t0 = now_us();
        let injected = self.inject(&f);
        t.injected[f.kind.index()] += 1;
        let recovered = self.recover(f.target, t0);
        let after = self.status(task);
        let r1 = if queue { self.recoveries(f.target) } else { 0 };
        let around = Around { before, after };
        t.restarts += around.restarts();
        // A line has at most 160 bytes: the fault's identity on one, what
        // went wrong on the next.
        let problem = |what: &dyn core::fmt::Debug| {
            sys_log!(
                "[campaign] PROBLEM fault {} kind {} target {name} arg {:#010x} seed {seed}",
                f.index,
                f.kind.name(),
                f.arg
            );
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
                let v = evidence::driver_fault(d, f.arg, call, &around, rec);
                if v == Ok(Verdict::Confirmed) && d.must_restart() {
                    t.must_restart += 1;
                }
                v
            }
            (_, Injected::Flip(Ok(ev))) => evidence::bit_flip(f.arg & 31, &ev, &around),
            (_, Injected::Flip(Err(()))) => Err(Unconfirmed::Refused(u32::MAX)),
            _ => Err(Unconfirmed::Refused(0)),
        };
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
    let mut t = Tally {
        injected: [0; Kind::ALL.len()],
        confirmed: 0,
        latent: 0,
        unconfirmed: 0,
        must_restart: 0,
        restarts: 0,
        in_flight: 0,
        lost_or_corrupted: 0,
        unrecovered: 0,
        recovery: [0; MAX_FAULTS],
        recovered: 0,
    };
    for index in range {
        let f = plan::fault(seed, index, &WEIGHTS, &aims);
        s.one(f, seed, &mut t);
    }
    // The final audit: every sector must hold what the ledger allows.
    let mut buf = [0u8; BLOCK];
    for i in 0..SECTORS {
        let sector = s.ledger.sector(i);
        let r = s.proxy.read(sector, &mut buf);
        let ok = s.ok(r).is_some() && s.ledger.check(i, &buf) == Block::Good;
        if !ok {
            t.lost_or_corrupted += 1;
            sys_log!("[campaign] PROBLEM final audit seed {seed}: sector {sector} bad");
        }
    }

    for (k, n) in t.injected.iter().enumerate() {
        sys_log!("[campaign] injected {n} {}", Kind::ALL[k].name());
    }
    sys_log!("[campaign] confirmed {}", t.confirmed);
    sys_log!("[campaign] latent {}", t.latent);
    sys_log!("[campaign] unconfirmed {}", t.unconfirmed);
    sys_log!("[campaign] must_restart {}", t.must_restart);
    sys_log!("[campaign] restarts {}", t.restarts);
    sys_log!("[campaign] in_flight {}", t.in_flight);
    sys_log!("[campaign] lost_or_corrupted {}", t.lost_or_corrupted);
    sys_log!("[campaign] unrecovered {}", t.unrecovered);
    sys_log!("[campaign] proxy_deaths {}", s.proxy_deaths);
    let times = &mut t.recovery[..t.recovered];
    times.sort_unstable();
    if let (Some(min), Some(max)) = (times.first(), times.last()) {
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
        sys_log!(
            "[campaign] recovery_us min {min} median {} p99 {p99} max {max}",
            times[times.len() / 2]
        );
    }

    let injected: u32 = t.injected.iter().sum();
    let mut failed = 0;
    let mut case = |name: &str, ok: bool, detail: u32| {
        if ok {
            sys_log!("[test] case {name} ... ok");
        } else {
            failed += 1;
            sys_log!("[test] case {name} ... FAIL: {detail}");
        }
    };
    case(
        "campaign_no_lost_or_corrupted_acknowledged_writes",
        t.lost_or_corrupted == 0,
        t.lost_or_corrupted,
    );
    case(
        "campaign_every_fault_recovered",
        t.unrecovered == 0,
        t.unrecovered,
    );
    // Judged per fault from the kernel's records and the drivers' counters,
    // not from the loop that injected them.
    case(
        "campaign_every_fault_confirmed_or_latent",
        t.unconfirmed == 0 && t.confirmed + t.latent == injected,
        t.unconfirmed,
    );
    // Replaying one fault proves nothing about the mix.
    case(
        "campaign_at_least_half_the_faults_hit_requests_in_flight",
        only.is_some() || t.in_flight * 2 >= injected,
        t.in_flight,
    );
    case(
        "campaign_restarts_cover_the_faults_that_must_restart",
        t.restarts >= t.must_restart,
        t.must_restart - t.restarts.min(t.must_restart),
    );
    failed
}
