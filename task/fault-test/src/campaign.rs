//! The fault campaign: N random injections, kinds and instants drawn from
//! a seed, into the blk and rng drivers, while the workload writes, reads
//! and verifies self-checking blocks. It ends with a summary that
//! `cargo xtask test --faults N --seed S` prints.
//!
//! The campaign never calls a driver itself: a driver corrupted by an
//! injected fault may fault its caller, so every driver call goes through
//! the proxy task (`task-campaign-proxy`), and the ledger of acknowledged
//! writes stays here, out of reach. A proxy killed mid-call is counted and
//! its call treated as failed (a write it carried is then "may or may not
//! have landed").

use abi::Injection;
use fault_inject::DriverFault;
use fault_workload::{Ledger, Verdict, BLOCK};
use idol_runtime::{RequestError, TaskId, UserlibIpc};
use supervisor_api::SupervisorClient;
use userlib::{sleep_ms, sys_get_timer, sys_log, tasks};

use crate::{SECTORS, TIMER_BIT};

#[allow(dead_code)] // generated accessors the campaign does not need
mod proxy {
    include!(concat!(env!("OUT_DIR"), "/campaign_proxy_client.rs"));
}

use proxy::CampaignProxyClient;

/// The campaign's state: the proxy, the supervisor, and the ledger.
pub struct Campaign {
    proxy: CampaignProxyClient<UserlibIpc>,
    sup: SupervisorClient<UserlibIpc>,
    ledger: Ledger<SECTORS>,
    /// Calls during which the proxy was killed (by a corrupted driver).
    proxy_deaths: u32,
}

impl Campaign {
    /// A campaign against blk0 and rng0 through the proxy.
    pub fn new() -> Self {
        Campaign {
            proxy: CampaignProxyClient::new(UserlibIpc, tasks::PROXY),
            sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
            ledger: Ledger::new(64),
            proxy_deaths: 0,
        }
    }

    fn generation(&self, task: TaskId) -> Option<u32> {
        self.sup
            .task_status(task.index() as u32)
            .ok()
            .map(|s| s.generation)
    }

    /// Whether a proxied call succeeded; counts a killed proxy.
    fn ok<E>(&mut self, r: Result<(), RequestError<E>>) -> bool {
        match r {
            Ok(()) => true,
            Err(RequestError::ServerRestarted) => {
                self.proxy_deaths += 1;
                false
            }
            Err(RequestError::Server(_)) => false,
        }
    }
}

mod params {
    include!(concat!(env!("OUT_DIR"), "/campaign.rs"));
}

/// The most faults whose recovery times are kept for the median.
const MAX_FAULTS: usize = 2000;
/// A request that has not succeeded this long after a fault counts as an
/// unrecovered driver (the campaign moves on).
const RECOVERY_LIMIT_US: u64 = 5_000_000;

/// Kinds the campaign draws from: every driver-side fault, then the
/// kernel-side register and RAM bit flips.
const KINDS: usize = DriverFault::ALL.len() + 2;

fn kind_name(k: usize) -> &'static str {
    match DriverFault::ALL.get(k) {
        Some(d) => d.name(),
        None if k == DriverFault::ALL.len() => "register bit flip",
        None => "RAM bit flip",
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn now_us() -> u64 {
    sys_get_timer().now / (abi::TICKS_PER_MS / 1000)
}

struct Tally {
    injected: [u32; KINDS],
    restarts: u32,
    lost_or_corrupted: u32,
    unrecovered: u32,
    recovery: [u32; MAX_FAULTS],
    recovered: usize,
}

impl Campaign {
    /// A few workload steps: writes (acknowledged or failed) and verified reads.
    fn workload(&mut self, rng: &mut Rng, steps: u64, t: &mut Tally) {
        let mut buf = [0u8; BLOCK];
        for _ in 0..steps {
            let i = rng.below(SECTORS as u64) as usize;
            let sector = self.ledger.sector(i);
            if rng.below(2) == 0 {
                let v = self.ledger.next_version();
                let r = self.proxy.write(sector, v);
                if self.ok(r) {
                    self.ledger.acked(i, v);
                } else {
                    self.ledger.failed(i, v);
                }
            } else {
                let r = self.proxy.read(sector, &mut buf);
                if self.ok(r) && self.ledger.check(i, &buf) != Verdict::Good {
                    t.lost_or_corrupted += 1;
                    sys_log!(
                        "[campaign] sector {sector}: {:?}",
                        self.ledger.check(i, &buf)
                    );
                }
            }
            if rng.below(8) == 0 {
                let r = self.proxy.fill(32);
                self.ok(r);
            }
        }
    }

    /// Injects fault kind `k` into blk0 (`blk`) or rng0.
    fn inject(&mut self, rng: &mut Rng, k: usize, blk: bool) {
        let target = if blk { tasks::BLK0 } else { tasks::RNG0 };
        match DriverFault::ALL.get(k) {
            Some(&d) => {
                let arg = match d {
                    DriverFault::StoreKernelRam => crate::KERNEL_RAM,
                    DriverFault::StoreOtherTaskRam => crate::victim_address(),
                    DriverFault::StoreUngrantedDevice => crate::UART,
                    DriverFault::WildJump => rng.next() as u32 & !3,
                    _ => rng.next() as u32,
                };
                let r = self.proxy.inject(u32::from(!blk), d as u32, arg);
                self.ok(r);
            }
            None => {
                let kind = if k == DriverFault::ALL.len() {
                    Injection::FlipRegisterBit
                } else {
                    Injection::FlipRamBit
                };
                let _ = self
                    .sup
                    .inject(target.index() as u32, kind as u32, rng.next() as u32);
            }
        }
    }

    /// Time until the first successful request to the faulted driver.
    fn recover(&mut self, blk: bool, t0: u64) -> Option<u64> {
        let mut buf = [0u8; BLOCK];
        loop {
            let ok = if blk {
                let r = self.proxy.read(self.ledger.sector(0), &mut buf);
                self.ok(r)
            } else {
                let r = self.proxy.fill(16);
                self.ok(r)
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
}

/// Runs the campaign and prints its summary; returns the number of failed
/// checks (as cases).
pub fn run(s: &mut Campaign) -> u32 {
    let faults = (params::FAULTS as usize).min(MAX_FAULTS);
    sys_log!("[campaign] faults {faults} seed {}", params::SEED);
    let mut rng = Rng(params::SEED.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut t = Tally {
        injected: [0; KINDS],
        restarts: 0,
        lost_or_corrupted: 0,
        unrecovered: 0,
        recovery: [0; MAX_FAULTS],
        recovered: 0,
    };
    for _ in 0..faults {
        let steps = 1 + rng.below(6);
        s.workload(&mut rng, steps, &mut t);
        let k = rng.below(KINDS as u64) as usize;
        let blk = rng.below(5) != 0;
        let target = if blk { tasks::BLK0 } else { tasks::RNG0 };
        let gen0 = s.generation(target).unwrap_or(0);
        let t0 = now_us();
        s.inject(&mut rng, k, blk);
        t.injected[k] += 1;
        match s.recover(blk, t0) {
            Some(dt) => {
                t.recovery[t.recovered] = dt.min(u32::MAX as u64) as u32;
                t.recovered += 1;
            }
            None => t.unrecovered += 1,
        }
        let gen1 = s.generation(target).unwrap_or(gen0);
        t.restarts += gen1.wrapping_sub(gen0) & abi::Generation::MASK as u32;
    }
    // The final audit: every sector must hold what the ledger allows.
    let mut buf = [0u8; BLOCK];
    for i in 0..SECTORS {
        let sector = s.ledger.sector(i);
        let r = s.proxy.read(sector, &mut buf);
        let ok = s.ok(r) && s.ledger.check(i, &buf) == Verdict::Good;
        if !ok {
            t.lost_or_corrupted += 1;
            sys_log!("[campaign] final audit: sector {sector} bad");
        }
    }

    for (k, n) in t.injected.iter().enumerate() {
        sys_log!("[campaign] injected {n} {}", kind_name(k));
    }
    sys_log!("[campaign] restarts {}", t.restarts);
    sys_log!("[campaign] lost_or_corrupted {}", t.lost_or_corrupted);
    sys_log!("[campaign] unrecovered {}", t.unrecovered);
    sys_log!("[campaign] proxy_deaths {}", s.proxy_deaths);
    let times = &mut t.recovery[..t.recovered];
    times.sort_unstable();
    if let (Some(min), Some(max)) = (times.first(), times.last()) {
        sys_log!(
            "[campaign] recovery_us min {min} median {} max {max}",
            times[times.len() / 2]
        );
    }

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
    case(
        "campaign_injected_every_fault",
        faults as u32 == t.injected.iter().sum::<u32>(),
        faults as u32,
    );
    failed
}
