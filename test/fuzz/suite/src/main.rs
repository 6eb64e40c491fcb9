//! The syscall fuzz suite (`test/fuzz.toml`). A compromised disk driver
//! (`fuzz-test-attacker`, task `fuzzer`) makes seeded random syscalls,
//! DMA posts and raw accesses, in rounds the suite asks for while lending
//! it a read-only and a writable buffer. The fuzzer dies often (that is
//! the point) and the supervisor restarts it; the suite then judges the
//! kernel by evidence the fuzzer cannot fake:
//!
//! - each death's fault record (read through the supervisor): only the
//!   kinds a task earns by trying what it may not (an access where it has
//!   no right, a misused syscall, a rejection by a trusted server, its own
//!   panic), and never an access fault inside the fuzzer's own RAM;
//! - the suite's memory (a canary the fuzzer is told the address of, and
//!   the read-only lease) byte for byte after every round;
//! - every other task without a fault; the drivers the fuzzer also sends
//!   garbage (`blk0`, `rng0`, `net0`) never restarted for it, `blk0` still
//!   moving a sector, its honest client (`fuzz-test-worker`, busy all through the
//!   fuzz) without one failed or wrong request, and the restarted fuzzer
//!   still answering;
//! - the fuzz reached what it aims at: deaths of each expected kind,
//!   chains both accepted and refused by the DMA gate, and chains the
//!   device actually used.
//!
//! Seed, rounds and calls per round come from app.toml (`config`), so a
//! failure reproduces and other seeds can be run: each round's seed is
//! printed with any violation.

#![no_std]
#![no_main]

use core::fmt::Write;

use abi::{dead_generation, FaultKind, RestartCause, UsageError};
use block_api::BlockClient;
use fuzz_test_api::{Report, Round, Work, ROUND, WORK};
use idol_runtime::UserlibIpc;
use test_harness::{
    check, fail, finish, latest_restart_cause, run_case, task_status, CaseResult, LineBuf,
};
use userlib::{lease_read, lease_write, sys_log, sys_refresh_task_id, sys_send, tasks};
use zerocopy::{FromBytes, IntoBytes};

/// Memory of the suite's that is not lent: the fuzzer is told where it is.
static mut CANARY: [u8; 4096] = [0; 4096];
/// Lent read-only on every round: neither the fuzzer nor its device may
/// change it.
static mut READ_ONLY: [u8; 512] = [0; 512];
/// Lent writable on every round.
static mut WRITABLE: [u8; 4096] = [0; 4096];

fn pattern(i: usize, salt: u8) -> u8 {
    (i as u8).wrapping_mul(29) ^ (i >> 8) as u8 ^ salt
}

/// The suite's statics. The suite is single-threaded and each use of a
/// reference ends before the next call of this function.
fn memory() -> (
    &'static mut [u8; 4096],
    &'static mut [u8; 512],
    &'static mut [u8; 4096],
) {
    // SAFETY: see above; the three statics are distinct.
    unsafe {
        (
            &mut *core::ptr::addr_of_mut!(CANARY),
            &mut *core::ptr::addr_of_mut!(READ_ONLY),
            &mut *core::ptr::addr_of_mut!(WRITABLE),
        )
    }
}

/// A decimal setting of the suite's `config` (`seed`, `rounds`, `calls`),
/// or `default` if absent (xtask refuses one that does not parse:
/// `build/xtask/src/config/task_config.rs`).
fn config(key: &str, default: u64) -> u64 {
    userlib::config::setting(option_env!("VIREO_CONFIG"), key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Everything seen over the rounds.
#[derive(Default)]
struct Tally {
    rounds: u32,
    answered: u32,
    /// Answers that were not a report (the fuzzer replied with garbage or
    /// rejected the call: an untrusted server may).
    odd: u32,
    deaths: u32,
    /// Deaths with no new fault: the supervisor restarted the fuzzer (for
    /// releasing its device unasked, say).
    restarts: u32,
    report: Report,
    /// Deaths by `FaultKind`.
    kinds: [u32; 13],
    /// `SyscallUsage` deaths by `UsageError`.
    usage: [u32; 8],
    /// The fuzzer's RAM, from its first report.
    ram: Option<(u32, u32)>,
    faults_seen: u32,
    /// The fuzzer's `ran_ticks` at the last death judged.
    ran_seen: u32,
}

impl Tally {
    fn add(&mut self, r: &Report) {
        let t = &mut self.report;
        t.calls += r.calls;
        t.refused += r.refused;
        t.sends_answered += r.sends_answered;
        t.dma_posted += r.dma_posted;
        t.dma_refused += r.dma_refused;
        t.dma_used += r.dma_used;
        t.peer_calls += r.peer_calls;
        self.ram.get_or_insert((r.ram_lo, r.ram_hi));
    }

    /// Judges the fuzzer's latest death from its fault record.
    fn death(&mut self, round: u32, seed: u64) -> CaseResult {
        self.deaths += 1;
        let st = task_status(tasks::FUZZER)?;
        if st.fault_count == self.faults_seen {
            // Restarted by the supervisor, not for a fault: for releasing
            // its device unasked (it may call the bus's `removed`), or for
            // holding `hostile`'s call while it answers the suite; never
            // as hung (its every wait is bounded), and never for refusing
            // calls (it serves no interface the supervisor judges by).
            self.restarts += 1;
            let cause = latest_restart_cause(tasks::FUZZER)?;
            check!(
                matches!(
                    cause,
                    Some(
                        RestartCause::UnaskedRelease | RestartCause::HeldCaller
                    )
                ),
                "round {round} seed {seed:#x}: the fuzzer was restarted without a fault, cause {cause:?}"
            );
            return Ok(());
        }
        self.faults_seen = st.fault_count;
        let ran = st
            .ran_ticks
            .wrapping_sub(core::mem::replace(&mut self.ran_seen, st.ran_ticks));
        let f = st.last_fault;
        let kind = f.kind();
        if let Some(n) = self.kinds.get_mut(kind as usize) {
            *n += 1;
        }
        let earned = match kind {
            FaultKind::LoadAccess | FaultKind::StoreAccess => {
                let own = self
                    .ram
                    .is_some_and(|(lo, hi)| (lo..hi).contains(&f.address));
                !own
            }
            FaultKind::SyscallUsage => {
                if let Some(n) = self.usage.get_mut(f.detail as usize) {
                    *n += 1;
                }
                true
            }
            FaultKind::Panic | FaultKind::FromServer => true,
            // Random `set_timer`s and posts can leave a notification
            // pending for good: then every `recv` returns at once, which
            // is not waiting for work, and the fuzzer runs past its budget
            // (seed 1, round 947, under a load of 4.7). Earned if the
            // kernel's own count says it ran that long since the last
            // death (its charge starts afresh at each restart).
            FaultKind::BudgetExceeded => u64::from(ran) >= u64::from(f.detail) * abi::TICKS_PER_MS,
            _ => false,
        };
        check!(
            earned,
            "round {round} seed {seed:#x}: unearned {kind:?} at {:#x} pc {:#x} detail {:#x}",
            f.address,
            f.pc,
            f.detail
        );
        Ok(())
    }
}

/// The suite's own memory is as it was set.
fn intact(when: &dyn core::fmt::Display) -> CaseResult {
    let (canary, read_only, _) = memory();
    if let Some(i) = (0..canary.len()).find(|&i| canary[i] != pattern(i, 0xA5)) {
        fail!(
            "{when}: the suite's canary changed at byte {i} ({:#04x})",
            canary[i]
        );
    }
    if let Some(i) = (0..read_only.len()).find(|&i| read_only[i] != pattern(i, 0x3C)) {
        fail!(
            "{when}: the read-only lease changed at byte {i} ({:#04x})",
            read_only[i]
        );
    }
    Ok(())
}

/// Asks the fuzzer for one round: its report, or `None` if it died.
fn round(seed: u64, calls: u32) -> (u32, Option<Report>, usize) {
    let (canary, read_only, writable) = memory();
    let request = Round {
        seed,
        calls,
        canary: canary.as_ptr() as u32,
    };
    let leases = [lease_read(&read_only[..]), lease_write(&mut writable[..])];
    let mut reply = [0u8; core::mem::size_of::<Report>()];
    let fuzzer = sys_refresh_task_id(tasks::FUZZER);
    let (code, len) = sys_send(fuzzer, ROUND, request.as_bytes(), &mut reply, &leases);
    let report = (code == 0 && len == reply.len())
        .then(|| Report::read_from_bytes(&reply).ok())
        .flatten();
    (code, report, len)
}

/// A round as failure messages name it: its number and its seed, which
/// replays it.
struct RoundName {
    index: u32,
    seed: u64,
}

impl core::fmt::Display for RoundName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "round {} (seed {:#x})", self.index, self.seed)
    }
}

fn fuzz(t: &mut Tally) -> CaseResult {
    let base = config("seed", 1);
    let rounds = config("rounds", 300) as u32;
    let calls = config("calls", 64) as u32;
    sys_log!("fuzz: seed {base}, {rounds} rounds of {calls} calls");
    for index in 0..rounds {
        let seed = base
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(index));
        t.rounds += 1;
        let (code, report, _) = round(seed, calls);
        match report {
            // The fuzzer is untrusted: a report of another round's size is
            // an early answer (a random reply), not a round.
            Some(r) if r.calls == calls => {
                t.answered += 1;
                t.add(&r);
            }
            _ if dead_generation(code).is_some() => t.death(index, seed)?,
            _ => t.odd += 1,
        }
        intact(&RoundName { index, seed })?;
    }
    let r = &t.report;
    sys_log!(
        "fuzz: {} rounds: {} answered, {} odd answers, {} deaths ({} restarts without a fault)",
        t.rounds,
        t.answered,
        t.odd,
        t.deaths,
        t.restarts
    );
    sys_log!(
        "fuzz: answered rounds: {} calls, {} refused by the kernel, {} sends came back, {} calls of the hostile client taken",
        r.calls,
        r.refused,
        r.sends_answered,
        r.peer_calls
    );
    sys_log!(
        "fuzz: DMA gate: {} chains accepted, {} refused; {} used by the device",
        r.dma_posted,
        r.dma_refused,
        r.dma_used
    );
    log_counts("deaths by kind", &t.kinds, FaultKind::from_u32);
    log_counts("syscall misuse by kind", &t.usage, UsageError::from_u32);

    // The fuzz must have reached what it aims at, or it proved nothing.
    let k = |kind: FaultKind| t.kinds[kind as usize];
    check!(t.answered > 0, "no round was ever answered");
    check!(
        k(FaultKind::LoadAccess) > 0 && k(FaultKind::StoreAccess) > 0,
        "no load or no store access fault in {} deaths",
        t.deaths
    );
    check!(
        k(FaultKind::SyscallUsage) > 0,
        "no syscall misuse fault in {} deaths",
        t.deaths
    );
    check!(
        r.peer_calls > 0,
        "the fuzzer never took a call of the hostile client in an answered round"
    );
    check!(
        r.dma_posted > 0 && r.dma_refused > 0 && r.dma_used > 0,
        "the DMA gate was not exercised: {} accepted, {} refused, {} used",
        r.dma_posted,
        r.dma_refused,
        r.dma_used
    );
    Ok(())
}

/// Logs the non-zero `counts`, each under the name of its index's code.
fn log_counts<E: core::fmt::Debug>(what: &str, counts: &[u32], code: fn(u32) -> Option<E>) {
    let mut line = LineBuf::new();
    for (i, &n) in counts.iter().enumerate().filter(|(_, &n)| n > 0) {
        match code(i as u32) {
            Some(c) => write!(line, " {c:?} {n}"),
            None => write!(line, " ? {n}"),
        }
        .ok();
    }
    let text = core::str::from_utf8(line.as_bytes()).unwrap_or("?");
    sys_log!("fuzz: {what}:{text}");
}

fn nobody_else_faulted() -> CaseResult {
    let count = match test_harness::supervisor().task_count() {
        Ok(n) => n as usize,
        Err(e) => fail!("task_count: {e:?}"),
    };
    check!(count >= 4, "only {count} tasks");
    for index in 0..count {
        if index == tasks::FUZZER.index() || index == tasks::HOSTILE.index() {
            continue;
        }
        let id = sys_refresh_task_id(abi::TaskId::new(index as u16, abi::Generation(0)));
        let st = task_status(id)?;
        check!(
            st.fault_count == 0,
            "task {index} ({}) faulted {} times, last {:?} at {:#x}",
            core::str::from_utf8(&st.name)
                .unwrap_or("?")
                .trim_end_matches('\0'),
            st.fault_count,
            st.last_fault.kind(),
            st.last_fault.address
        );
    }
    Ok(())
}

/// The drivers the fuzzer sends garbage to, besides the supervisor.
const DRIVERS: [(userlib::TaskId, &str); 3] = [
    (tasks::BLK0, "blk0"),
    (tasks::RNG0, "rng0"),
    (tasks::NET0, "net0"),
];

/// Each driver turned the garbage of two clients away — the fuzzer's and
/// the hostile client's (its rejections are the evidence) — and was not
/// restarted for it: a refused call that breaks the interface convicts
/// nobody, however many clients send such calls. The kernel recorded the
/// refusals in each sender's own record, and none in the honest worker's.
fn garbage_from_two_clients_restarts_no_driver(generations: &[u32; 3]) -> CaseResult {
    for ((task, name), &before) in DRIVERS.iter().zip(generations) {
        let st = task_status(*task)?;
        sys_log!(
            "fuzz: {name}: generation {before} -> {}; {} calls rejected",
            st.generation,
            st.rejections
        );
        check!(
            st.generation == before,
            "{name} was restarted (generation {before} -> {}) by garbage",
            st.generation
        );
        check!(
            st.rejections >= 2,
            "{name} rejected only {} calls of the fuzzer: the attack did not happen",
            st.rejections
        );
    }
    let fuzzer = task_status(tasks::FUZZER)?.rejected_call;
    let hostile = task_status(tasks::HOSTILE)?.rejected_call;
    let worker = task_status(tasks::WORKER)?.rejected_call;
    sys_log!(
        "fuzz: refused calls recorded: fuzzer {}, hostile {}, worker {}",
        fuzzer.count,
        hostile.count,
        worker.count
    );
    check!(
        fuzzer.count >= 2 && hostile.count >= 2,
        "the kernel recorded only {} refused calls of the fuzzer and {} of the hostile client",
        fuzzer.count,
        hostile.count
    );
    check!(
        worker.count == 0,
        "the honest worker had {} calls refused (the last: {worker:?})",
        worker.count
    );
    Ok(())
}

/// The honest client of blk0 wrote and read back sectors all through the
/// fuzz: every request must have succeeded with the right bytes.
fn the_honest_client_was_never_hurt() -> CaseResult {
    let mut reply = [0u8; core::mem::size_of::<Work>()];
    let worker = sys_refresh_task_id(tasks::WORKER);
    let (code, len) = sys_send(worker, WORK, &[], &mut reply, &[]);
    check!(
        code == 0 && len == reply.len(),
        "the worker answered {code:#x}, {len} bytes"
    );
    let Ok(w) = Work::read_from_bytes(&reply) else {
        fail!("unreadable tally");
    };
    sys_log!(
        "fuzz: the honest client: {} requests, {} right, {} wrong data, {} lost to restarts, {} other errors",
        w.requests,
        w.ok,
        w.wrong_data,
        w.restarted,
        w.failed
    );
    check!(
        w.requests >= 100,
        "the worker made only {} requests: it was starved, or the fuzz was short",
        w.requests
    );
    check!(
        w.wrong_data == 0 && w.restarted == 0 && w.failed == 0,
        "of {} requests, {} read back wrong, {} lost to restarts, {} failed",
        w.requests,
        w.wrong_data,
        w.restarted,
        w.failed
    );
    Ok(())
}

fn blk0_still_moves_a_sector() -> CaseResult {
    let blk = BlockClient::new(UserlibIpc, tasks::BLK0);
    let (_, _, writable) = memory();
    let sector = &mut writable[..512];
    for (i, b) in sector.iter_mut().enumerate() {
        *b = pattern(i, 0x77);
    }
    if let Err(e) = blk.write(9, &sector[..]) {
        fail!("write of sector 9 through blk0: {e:?}");
    }
    sector.fill(0);
    if let Err(e) = blk.read(9, &mut sector[..]) {
        fail!("read of sector 9 through blk0: {e:?}");
    }
    if let Some(i) = (0..512).find(|&i| sector[i] != pattern(i, 0x77)) {
        fail!("sector 9 read back differs at byte {i}");
    }
    Ok(())
}

/// The fuzzer, restarted hundreds of times, still runs a round. It answers
/// the hostile client's calls with random replies to random tasks, and
/// one may reach the suite while it waits (an odd answer, as in the fuzz
/// itself), or the fuzzer may die under the hostile client: a few tries,
/// and one must be a proper report.
fn the_fuzzer_still_answers() -> CaseResult {
    const TRIES: u32 = 8;
    let mut last = (0, 0);
    for _ in 0..TRIES {
        let (code, report, len) = round(0, 0);
        match report {
            Some(r) => {
                check!(r.calls == 0, "a round of no calls made {}", r.calls);
                return Ok(());
            }
            None => last = (code, len),
        }
    }
    fail!(
        "the fuzzer answered no empty round of {TRIES} properly; the last with {:#x}, {} bytes",
        last.0,
        last.1
    )
}

#[export_name = "main"]
fn main() -> ! {
    {
        let (canary, read_only, _) = memory();
        for (i, b) in canary.iter_mut().enumerate() {
            *b = pattern(i, 0xA5);
        }
        for (i, b) in read_only.iter_mut().enumerate() {
            *b = pattern(i, 0x3C);
        }
    }
    let generations =
        DRIVERS.map(|(task, _)| task_status(task).map_or(u32::MAX, |st| st.generation));
    let mut tally = Tally {
        ran_seen: task_status(tasks::FUZZER).map_or(0, |st| st.ran_ticks),
        ..Tally::default()
    };
    let mut failed = run_case(
        &mut tally,
        "random_syscalls_are_refused_or_fault_the_caller",
        fuzz,
    );
    failed += run_case(&mut (), "suite_memory_is_intact", |_| {
        intact(&"after the fuzz")
    });
    failed += run_case(&mut (), "no_other_task_faulted", |_| nobody_else_faulted());
    failed += run_case(
        &mut (),
        "garbage_from_two_clients_restarts_no_driver",
        |_| garbage_from_two_clients_restarts_no_driver(&generations),
    );
    failed += run_case(&mut (), "the_honest_client_was_never_hurt", |_| {
        the_honest_client_was_never_hurt()
    });
    failed += run_case(&mut (), "blk0_still_moves_a_sector", |_| {
        blk0_still_moves_a_sector()
    });
    failed += run_case(&mut (), "the_restarted_fuzzer_still_answers", |_| {
        the_fuzzer_still_answers()
    });
    finish(failed)
}
