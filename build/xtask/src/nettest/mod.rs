//! Host-side tests of an image's network services (`[test] kind = "net"`):
//! boot the image with its forwards on 127.0.0.1, wait until the console
//! shows every `expect` line, then run the named checks (`[test] net`)
//! from the host, each one case, while the console is recorded for
//! evidence (fault lines, restarts, panics).
//!
//! Every check talks to 127.0.0.1 only, is bounded in bytes and time, and
//! fails with what it saw.
//!
//! The checks' random data (echo payloads, `wire-garbage`'s frames, the
//! segments and pings on the wire) comes from streams each check starts
//! at a constant of its own, xor the run's seed (`cargo xtask test
//! --net-seed S`, [`DEFAULT_SEED`] by default: the streams the committed
//! runs send). A failure names the seed, so it can be replayed.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use sha2::{Digest, Sha256};

use crate::config::{App, TestSpec};
use crate::console::{self, Line};
use crate::net::{host_port, LOOPBACK};
use crate::testing::Case;

mod echo;
mod fragments;
mod garbage;
mod hog;
mod http;
mod nic;
mod tcp_checks;
mod tcp_peer;
mod wire;

pub use echo::bench_transfer;
use echo::{
    echo_through, open_echo, sha256, tcp_bulk_pages, tcp_echo, tcp_echo_non_readers,
    tcp_echo_talkers, tcp_echo_waiting, tcp_parallel, udp_burst, udp_echo, udp_flood, Rng,
};
use garbage::wire_garbage;
use http::{
    browser, connect, http, http_abuse, http_burst, http_crowded, http_lingering_clients,
    http_sequential, http_slow_clients, status_restarts,
};
use nic::{icmp_echo, nic_restart, static_fallback};
use tcp_checks::{
    closed_ports, tcp_backlog, tcp_close, tcp_duplicate_syn, tcp_half_open, tcp_silent_peer,
    tcp_unspecified_source, tcp_vanished_peer,
};
use wire::Wire;

/// Every check `[test] net` may name.
pub const CHECKS: [&str; 37] = [
    "http",
    "http-abuse",
    "http-slow-clients",
    "http-crowded",
    "http-lingering-clients",
    "http-burst",
    "http-sequential",
    "status-restarts",
    "udp-echo",
    "udp-burst",
    "udp-flood",
    "udp-flood-calls",
    "tcp-bulk-pages",
    "tcp-echo",
    "tcp-parallel",
    "tcp-echo-waiting",
    "tcp-echo-non-readers",
    "tcp-echo-talkers",
    "browser",
    "shell-net",
    "stack-restart",
    "stack-without-nic",
    "nic-restart",
    "faults",
    "static-fallback",
    "icmp-echo",
    "tcp-duplicate-syn",
    "tcp-half-open",
    "closed-ports",
    "tcp-backlog",
    "tcp-unspecified-source",
    "tcp-close",
    "tcp-vanished-peer",
    "tcp-silent-peer",
    "wire-garbage",
    "socket-hog",
    "udp-unresolved-peer",
];

/// The network checks' seed when `--net-seed` is not given: every check's
/// stream is its own constant, as before the seed existed.
pub const DEFAULT_SEED: u64 = 0;

/// How long the page server lets a silent connection live (task/http's
/// `IDLE_MS`), plus slack for a loaded machine.
const IDLE_LIMIT: Duration = Duration::from_secs(15);

/// The running image: QEMU, its console so far, its stdin, and the test's
/// end of its `wire` NIC if it has one.
struct Image {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// The counts [`Image::count`] keeps up to date as lines come.
    counts: Mutex<crate::testing::LineCounts>,
    app: App,
    root: std::path::PathBuf,
    wire: Option<Wire>,
    /// The run's seed (`--net-seed`).
    seed: u64,
}

impl Image {
    fn boot(
        qemu: &Path,
        args: &[String],
        app: &App,
        root: &Path,
        seed: u64,
        verbose: bool,
    ) -> Result<Self> {
        // The wire's end is held before QEMU starts, so no frame is lost.
        let wire = match app.qemu.nics.iter().find_map(|n| n.wire_ports) {
            Some((qemu_end, test_end)) => Some(Wire::bind(test_end, qemu_end)?),
            None => None,
        };
        let mut child = crate::qemu::spawn(qemu, args, Stdio::piped(), Stdio::null())?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::new(stdout);
            let mut buf = Vec::new();
            while let Ok(n) = std::io::BufRead::read_until(&mut r, b'\n', &mut buf) {
                if n == 0 {
                    break;
                }
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if verbose {
                    println!("{line}");
                }
                sink.lock().map(|mut l| l.push(line)).ok();
                buf.clear();
            }
        });
        Ok(Image {
            child,
            lines,
            counts: Mutex::default(),
            app: app.clone(),
            root: root.to_path_buf(),
            wire,
            seed,
        })
    }

    /// The data stream of a check whose own constant is `base`, under the
    /// run's seed ([`Rng::seeded`]).
    fn rng(&self, base: u64) -> Rng {
        Rng::seeded(base, self.seed)
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many console lines contain `text`
    /// ([`crate::testing::lines_containing`]).
    fn count(&self, text: &str) -> usize {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.count(&lines, text)
    }

    /// Waits until `text` has appeared `n` times.
    fn wait_for(&self, text: &str, n: usize, limit: Duration) -> Result<()> {
        let start = Instant::now();
        while self.count(text) < n {
            ensure!(
                start.elapsed() < limit,
                "`{text}` not seen {n} time(s) on the console within {} s",
                limit.as_secs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Types `line` on the console.
    fn type_line(&mut self, line: &str) -> Result<()> {
        let stdin = self.child.stdin.as_mut().context("no stdin pipe")?;
        for b in line.bytes().chain(std::iter::once(b'\r')) {
            stdin.write_all(&[b])?;
            stdin.flush()?;
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// The figure the shell's `net` prints after `label` (such as
    /// `"NIC restarts seen: "`), asked for now.
    fn net_figure(&mut self, label: &str) -> Result<u64> {
        let before = self.count(label);
        self.type_line("net")?;
        self.wait_for(label, before + 1, Duration::from_secs(10))?;
        let lines = self.lines();
        let line = lines
            .iter()
            .rev()
            .find(|l| l.contains(label))
            .context("no `net` line")?;
        let n = line[line.find(label).unwrap_or(0) + label.len()..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("");
        n.parse()
            .with_context(|| format!("no figure after {label:?} in {line:?}"))
    }

    fn port(&self, proto: &str, guest: u16) -> Result<SocketAddr> {
        let port = host_port(&self.app, proto, guest)
            .with_context(|| format!("the image forwards no {proto} port {guest}"))?;
        Ok(SocketAddr::from((LOOPBACK, port)))
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Boots the image and runs its checks with their data drawn under `seed`
/// (`--net-seed`); one case per check, then one for "no kernel panic".
pub fn run(
    qemu: &Path,
    args: &[String],
    app: &App,
    spec: &TestSpec,
    root: &Path,
    seed: u64,
    verbose: bool,
) -> Result<Vec<Case>> {
    let mut image = Image::boot(qemu, args, app, root, seed, verbose)?;
    let deadline = Duration::from_secs(spec.timeout.min(120));
    for e in &spec.expect {
        if let Err(err) = image.wait_for(e, 1, deadline) {
            let tail = image.lines();
            let tail = tail[tail.len().saturating_sub(15)..].join("\n");
            return Ok(vec![Case::fail(
                "services up",
                format!("{err:#}; console:\n{tail}"),
            )]);
        }
    }
    if seed != DEFAULT_SEED {
        println!("    the checks' data is drawn under net seed {seed}");
    }
    let mut cases = vec![Case::ok("services up")];
    let started = Instant::now();
    for name in &spec.net {
        let t = Instant::now();
        let result = match name.as_str() {
            "http" => http(&image),
            "http-abuse" => http_abuse(&image),
            "http-slow-clients" => http_slow_clients(&image),
            "http-crowded" => http_crowded(&image),
            "http-lingering-clients" => http_lingering_clients(&image),
            "http-burst" => http_burst(&image),
            "http-sequential" => http_sequential(&mut image),
            "status-restarts" => status_restarts(&mut image),
            "udp-echo" => udp_echo(&mut image),
            "udp-burst" => udp_burst(&image),
            "udp-flood" => udp_flood(&image),
            "udp-flood-calls" => udp_flood_calls(&mut image),
            "tcp-bulk-pages" => tcp_bulk_pages(&image),
            "tcp-echo" => tcp_echo(&image),
            "tcp-parallel" => tcp_parallel(&image),
            "tcp-echo-waiting" => tcp_echo_waiting(&image),
            "tcp-echo-non-readers" => tcp_echo_non_readers(&image),
            "tcp-echo-talkers" => tcp_echo_talkers(&image),
            "browser" => browser(&image),
            "shell-net" => shell_net(&mut image),
            "stack-restart" => stack_restart(&mut image),
            "stack-without-nic" => stack_without_nic(&mut image),
            "nic-restart" => nic_restart(&mut image),
            "static-fallback" => static_fallback(&mut image),
            "icmp-echo" => icmp_echo(&mut image),
            "tcp-duplicate-syn" => tcp_duplicate_syn(&mut image),
            "tcp-half-open" => tcp_half_open(&mut image),
            "closed-ports" => closed_ports(&mut image),
            "tcp-backlog" => tcp_backlog(&mut image),
            "tcp-unspecified-source" => tcp_unspecified_source(&mut image),
            "tcp-close" => tcp_close(&mut image),
            "tcp-vanished-peer" => tcp_vanished_peer(&mut image),
            "tcp-silent-peer" => tcp_silent_peer(&mut image),
            "socket-hog" => hog::socket_hog(&image),
            "udp-unresolved-peer" => nic::udp_unresolved_peer(&mut image),
            "wire-garbage" => wire_garbage(&mut image),
            "faults" => faults(&image),
            other => Err(anyhow::anyhow!("no such check `{other}`")),
        };
        if verbose {
            println!("net check {name}: {:.1} s", t.elapsed().as_secs_f64());
        }
        cases.push(match result {
            Ok(()) => Case::ok(name.clone()),
            Err(e) => Case::fail(name.clone(), failure(&e, seed)),
        });
        if started.elapsed() > Duration::from_secs(spec.timeout) {
            cases.push(Case::fail("within the timeout", "the checks ran too long"));
            break;
        }
    }
    let panics: Vec<String> = image
        .lines()
        .into_iter()
        .filter(|l| console::parse(l) == Line::Panic)
        .collect();
    cases.push(if panics.is_empty() {
        Case::ok("no kernel panic")
    } else {
        Case::fail("no kernel panic", panics.join("\n"))
    });
    if !verbose && cases.iter().any(|c| c.error.is_some()) {
        let lines = image.lines();
        for l in &lines[lines.len().saturating_sub(40)..] {
            println!("    | {l}");
        }
    }
    Ok(cases)
}

/// A check's failure message, naming the seed its data was drawn under
/// and how to run them again.
fn failure(e: &anyhow::Error, seed: u64) -> String {
    format!("{e:#} (net seed {seed}: `cargo xtask test <this image> --net-seed {seed}` replays it)")
}

/// The shell's `net` shows the address, the MAC and the link.
fn shell_net(image: &mut Image) -> Result<()> {
    let before = image.count("net0: MAC");
    image.type_line("net")?;
    image.wait_for("net0: MAC", before + 1, Duration::from_secs(10))?;
    image.wait_for("net: 10.0.2.15/", 1, Duration::from_secs(10))?;
    let lines = image.lines();
    let nic = lines
        .iter()
        .rev()
        .find(|l| l.contains("net0: MAC"))
        .context("no NIC line")?;
    ensure!(
        nic.contains("52:54:00:12:34:56") && nic.contains("link up"),
        "NIC line: {nic}"
    );
    // Reported, not judged: how often the stack dropped or kept SYNs
    // during the checks before (`task_net::syn`).
    let repeated = image.net_figure(REPEATED_SYNS)?;
    let dropped = image.net_figure(DROPPED_SYNS)?;
    let postponed = image.net_figure(POSTPONED_SYNS)?;
    println!(
        "    SYNs dropped by the stack so far: {repeated} repeated, {dropped} over a full \
         backlog; {postponed} held back for one"
    );
    Ok(())
}

/// What the shell's `net` prints before the stack's count of repeated
/// SYNs dropped (`task_net::syn`)...
const REPEATED_SYNS: &str = "SYNs dropped: ";
/// ...before its count of SYNs dropped over a full backlog (no room to
/// keep them, or kept and forgotten unanswered)...
const DROPPED_SYNS: &str = " repeated, ";
/// ...and before its count of SYNs held back over a full backlog, kept
/// ones (answered once the listener has room) included.
const POSTPONED_SYNS: &str = "held back for a full backlog: ";

/// A host flooding the UDP echo with 1,472-byte datagrams as fast as it
/// can must not hold the stack's callers off: the kernel's `recv` hands
/// the stack the driver's "frames waiting" before any call, and the driver
/// posted it during every round, so the shell's `net` (a call to the
/// stack) waited until the flood ended (6.4 s after it was typed in a
/// 10 s flood). Now a round takes 32 frames at most and then lets the
/// calls in (task/net's `RX_ROUND_FRAMES`): answered in 0.1 to 0.6 s.
/// Needs the answer within 3 s of a 5 s flood of at least 10,000
/// datagrams a second (typed 1 s in: an answer only once the flood ends
/// fails).
fn udp_flood_calls(image: &mut Image) -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    const NET: &str = "net: 10.0.2.15/";
    let udp = image.port("udp", 7)?;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || -> Result<u64> {
                let sock = UdpSocket::bind((LOOPBACK, 0))?;
                sock.set_nonblocking(true)?;
                let datagram = [0xa5u8; 1472];
                let mut buf = [0u8; 2048];
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..50 {
                        if sock.send_to(&datagram, udp).is_ok() {
                            sent += 1;
                        }
                    }
                    while sock.recv_from(&mut buf).is_ok() {}
                    std::thread::sleep(Duration::from_micros(500));
                }
                Ok(sent)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let before = image.count(NET);
    let typed = Instant::now();
    let typing = image.type_line("net");
    let answered = typing.and_then(|()| image.wait_for(NET, before + 1, Duration::from_secs(3)));
    let took = typed.elapsed();
    // The flood goes on for 5 s whatever the answer, so that a stack that
    // answers only once it ends cannot pass.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(start.elapsed()));
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for f in flooders {
        sent += f
            .join()
            .map_err(|_| anyhow::anyhow!("a flooder panicked"))??;
    }
    let rate = sent as f64 / start.elapsed().as_secs_f64();
    println!(
        "    the shell's `net` answered in {:.2} s under a flood of {rate:.0} datagrams a second",
        took.as_secs_f64()
    );
    ensure!(
        rate >= 10_000.0,
        "the flood sent {rate:.0} datagrams a second: too few to matter"
    );
    answered.context("the shell's `net` during the flood")?;
    ensure!(
        took < Duration::from_secs(3),
        "the shell's `net` answered {:.2} s after it was typed during the flood",
        took.as_secs_f64()
    );
    Ok(())
}

/// Faulting the stack closes an open connection; a new one then works.
fn stack_restart(image: &mut Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    let mut s = open_echo(addr)?;
    let listening = image.count("listening on TCP and UDP port 7");
    let seen_before = nic::nic_restarts_seen(image)?;
    image.type_line("fault net")?;
    image.wait_for("task net faulted", 1, Duration::from_secs(10))?;
    // The old connection is gone: the new stack answers it with a reset,
    // or it reads end-of-stream.
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let _ = s.write_all(b"after");
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Ok(0) | Err(_) => {}
        Ok(n) => bail!("the connection survived the stack's restart ({n} bytes came back)"),
    }
    image.wait_for(
        "listening on TCP and UDP port 7",
        listening + 1,
        Duration::from_secs(30),
    )?;
    let data = image.rng(77).bytes(64 * 1024);
    let got = echo_through(addr, &data, None)?;
    ensure!(got == data, "echo after the restart differs");
    // The new stack counts the NIC restarts it saw, none yet (it counted
    // every one since boot: a user saw 6 on a stack just restarted).
    let seen = nic::nic_restarts_seen(image)?;
    println!("    NIC restarts seen: {seen_before} by the old stack, {seen} by the new");
    ensure!(
        seen == 0,
        "the restarted stack says it saw {seen} NIC restart(s) (the old one saw {seen_before})"
    );
    Ok(())
}

/// A stack restarted while its NIC's slot is unbound serves its clients
/// without the NIC, and takes the NIC (and DHCP) back when the slot is
/// bound again. It waited for the driver's MAC before serving anyone:
/// after `unbind 5` and `restart net`, the shell's next `net` hung in its
/// call, and with it the only way back (`bind 5`), a user found.
fn stack_without_nic(image: &mut Image) -> Result<()> {
    let before = image.count("network  ");
    image.type_line("devices")?;
    image.wait_for("network  ", before + 1, Duration::from_secs(10))?;
    let lines = image.lines();
    let row = lines
        .iter()
        .rev()
        .find(|l| l.contains("network  ") && l.contains("net0"))
        .context("no `devices` row for net0")?;
    let slot: u32 = row
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .with_context(|| format!("no slot in `{row}`"))?;
    let unbound = image.count(&format!("slot {slot} unbound"));
    image.type_line(&format!("unbind {slot}"))?;
    image.wait_for(
        &format!("slot {slot} unbound"),
        unbound + 1,
        Duration::from_secs(10),
    )?;
    let restarted = image.count("task net restarted");
    image.type_line("restart net")?;
    image.wait_for("task net restarted", restarted + 1, Duration::from_secs(10))?;
    // The shell's `net` is answered: the stack serves without its NIC.
    let answered = image.count("net: ");
    image.type_line("net")?;
    image
        .wait_for("net: ", answered + 1, Duration::from_secs(15))
        .context("the stack restarted without its NIC does not answer the shell's `net`")?;
    // And the shell is not stuck: the slot is bound again...
    let bound = image.count("available to drivers again");
    image.type_line(&format!("bind {slot}"))?;
    image.wait_for(
        "available to drivers again",
        bound + 1,
        Duration::from_secs(10),
    )?;
    // ...and the stack takes the NIC and its address back.
    let t = Instant::now();
    loop {
        let leased = image.count("net: 10.0.2.15/");
        image.type_line("net")?;
        if image
            .wait_for("net: 10.0.2.15/", leased + 1, Duration::from_secs(3))
            .is_ok()
        {
            break;
        }
        ensure!(
            t.elapsed() < Duration::from_secs(30),
            "the stack has no address 30 s after its NIC's slot was bound again"
        );
    }
    let addr = image.port("tcp", 7)?;
    let data = image.rng(78).bytes(16 * 1024);
    let got = echo_through(addr, &data, None)?;
    ensure!(got == data, "echo after the NIC came back differs");
    println!(
        "    NIC back: the stack had its address {:.1} s after `bind {slot}`",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// 8 MiB through the echo, paced over 18 s, while the image injects
/// faults into net0: byte-exact, and every injection on the console.
fn faults(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    let data = image.rng(0xdead_beef_f00d_1234).bytes(8 << 20);
    let t = Instant::now();
    let got = echo_through(addr, &data, Some(Duration::from_secs(18)))?;
    let (want, have) = (sha256(&data), sha256(&got));
    ensure!(
        want == have,
        "sent sha256 {want}, got back {have} ({} bytes)",
        got.len()
    );
    // net0 refusing the stack's well-formed `send_batch` calls was
    // restarted for it (the faulter checks the evidence and says so).
    let refusal = image
        .lines()
        .iter()
        .find(|l| l.contains("refusal: "))
        .cloned()
        .unwrap_or_else(|| "no refusal line".into());
    ensure!(
        refusal.contains("refusal: ok:"),
        "net0 refusing send_batch: {refusal}"
    );
    // Only injections that happened: the driver died of it, or its queue
    // was corrupted.
    let injected = image.count("driver died") + image.count("queue corrupted");
    ensure!(
        injected >= 20,
        "only {injected} faults were injected during the transfer (want 20 or more)"
    );
    for kind in [
        "panic",
        "store to kernel RAM",
        "store to another task's RAM",
        "store to an ungranted device",
        "wild jump",
        "illegal instruction",
        "stack overflow",
        "infinite loop",
        "wild descriptor addresses",
        "bogus avail index",
    ] {
        let done = image
            .lines()
            .iter()
            .filter(|l| l.contains(&format!("injected {kind} (")))
            .filter(|l| l.contains("driver died") || l.contains("queue corrupted"))
            .count();
        ensure!(done > 0, "no `{kind}` injected during the transfer");
    }
    let restarts = image.count("task net0 restarted");
    ensure!(
        restarts >= 20,
        "net0 restarted only {restarts} times for {injected} injections"
    );
    println!(
        "    8 MiB byte-exact through a refusing net0 and {injected} faults in it ({restarts} restarts) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testing::lines_containing;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn a_prompt_split_by_a_log_line_is_still_seen() {
        // As a CI run printed it: the stack's log line between the
        // prompt's first letter and the rest.
        let console = lines(
            "Vireo shell. Type `help` for the commands; Ctrl-A X quits QEMU.\n\
             v[   0.031406] net: address 10.0.2.15/24 (DHCP)\n\
             ireo> [   0.031856] kernel: task echo started\n\
             [   0.034691] echo: listening on TCP and UDP port 7",
        );
        assert_eq!(lines_containing(&console, "vireo> "), 1);
        // Log lines are still counted as they came.
        assert_eq!(lines_containing(&console, "net: address 10.0.2.15/"), 1);
        assert_eq!(
            lines_containing(&console, "listening on TCP and UDP port 7"),
            1
        );
        assert_eq!(lines_containing(&console, "task echo started"), 1);
    }

    /// A failed check says which seed drew its data and how to run it
    /// again under that seed.
    #[test]
    fn a_failure_names_its_seed() {
        let why = super::failure(&anyhow::anyhow!("echo differs"), 8080);
        assert!(why.starts_with("echo differs"), "{why}");
        assert!(
            why.contains("net seed 8080") && why.contains("--net-seed 8080"),
            "{why}"
        );
    }

    #[test]
    fn nothing_is_counted_twice_or_made_up() {
        let console = lines("vireo> help\nvireo> \n[   1.000000] net0: MAC 52:54:00:12:34:56");
        assert_eq!(lines_containing(&console, "vireo> "), 2);
        assert_eq!(lines_containing(&console, "net0: MAC"), 1);
        assert_eq!(lines_containing(&console, "vireo> net0"), 0);
        assert_eq!(lines_containing(&[], "vireo> "), 0);
    }
}
