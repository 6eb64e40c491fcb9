//! Host-side tests of an image's network services (`[test] kind = "net"`):
//! boot the image with its forwards on 127.0.0.1, wait until the console
//! shows every `expect` line, then run the named checks (`[test] net`)
//! from the host, each one case, while the console is recorded for
//! evidence (fault lines, restarts, panics).
//!
//! Every check talks to 127.0.0.1 only, is bounded in bytes and time, and
//! fails with what it saw.

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

/// Every check `[test] net` may name.
pub const CHECKS: [&str; 9] = [
    "http",
    "http-abuse",
    "udp-echo",
    "tcp-echo",
    "tcp-parallel",
    "browser",
    "shell-net",
    "stack-restart",
    "faults",
];

/// How long the page server lets a silent connection live (task/http's
/// `IDLE_MS`), plus slack for a loaded machine.
const IDLE_LIMIT: Duration = Duration::from_secs(15);

/// The running image: QEMU, its console so far, and its stdin.
struct Image {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    app: App,
    root: std::path::PathBuf,
}

impl Image {
    fn boot(qemu: &Path, args: &[String], app: &App, root: &Path, verbose: bool) -> Result<Self> {
        let mut child = Command::new(qemu)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", qemu.display()))?;
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
            app: app.clone(),
            root: root.to_path_buf(),
        })
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many console lines contain `text`.
    fn count(&self, text: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(text)).count()
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

/// Boots the image and runs its checks; one case per check, then one for
/// "no kernel panic".
pub fn run(
    qemu: &Path,
    args: &[String],
    app: &App,
    spec: &TestSpec,
    root: &Path,
    verbose: bool,
) -> Result<Vec<Case>> {
    let mut image = Image::boot(qemu, args, app, root, verbose)?;
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
    let mut cases = vec![Case::ok("services up")];
    let started = Instant::now();
    for name in &spec.net {
        let t = Instant::now();
        let result = match name.as_str() {
            "http" => http(&image),
            "http-abuse" => http_abuse(&image),
            "udp-echo" => udp_echo(&image),
            "tcp-echo" => tcp_echo(&image),
            "tcp-parallel" => tcp_parallel(&image),
            "browser" => browser(&image),
            "shell-net" => shell_net(&mut image),
            "stack-restart" => stack_restart(&mut image),
            "faults" => faults(&image),
            other => Err(anyhow::anyhow!("no such check `{other}`")),
        };
        if verbose {
            println!("net check {name}: {:.1} s", t.elapsed().as_secs_f64());
        }
        cases.push(match result {
            Ok(()) => Case::ok(name.clone()),
            Err(e) => Case::fail(name.clone(), format!("{e:#}")),
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

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    Ok(s)
}

/// Sends `request` and reads until the server closes: (status, body).
fn http_exchange(addr: SocketAddr, request: &[u8]) -> Result<(u16, String)> {
    let mut s = connect(addr)?;
    s.write_all(request)?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)
        .context("reading the response (the server should close the connection)")?;
    let text = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("no header end in {text:?}"))?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|l| l.trim().parse::<usize>().ok())
    {
        ensure!(
            len == body.len(),
            "Content-Length {len} but {} body bytes",
            body.len()
        );
    }
    Ok((status, body.to_string()))
}

fn get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    http_exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// GET / shows the task table with every task; /api/status is JSON with
/// every task of the image, in order.
fn http(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 80)?;
    let (status, page) = get(addr, "/")?;
    ensure!(status == 200, "GET / answered {status}");
    ensure!(
        page.contains("<table id=\"tasks\">"),
        "no task table in the page"
    );
    for t in &image.app.tasks {
        ensure!(
            page.contains(&format!("<td>{}</td>", t.name)),
            "task `{}` missing from the page",
            t.name
        );
    }
    ensure!(page.contains("<td>network</td>"), "no network device row");
    let (status, body) = get(addr, "/api/status")?;
    ensure!(status == 200, "GET /api/status answered {status}");
    let v: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("not JSON: {body}"))?;
    let names: Vec<&str> = v["tasks"]
        .as_array()
        .context("no tasks array")?
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let want: Vec<&str> = image.app.tasks.iter().map(|t| t.name.as_str()).collect();
    ensure!(names == want, "tasks in JSON {names:?}, image has {want:?}");
    ensure!(v["uptime_ms"].as_u64().is_some(), "no uptime");
    ensure!(
        v["devices"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["class"] == "network")),
        "no network device in {body}"
    );
    Ok(())
}

/// Bad, oversized and idle requests get their answers (or are closed) and
/// the server still serves the page afterwards.
fn http_abuse(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 80)?;
    let (status, _) = http_exchange(addr, b"GARBAGE\r\n\r\n")?;
    ensure!(status == 400, "a malformed request got {status}, not 400");
    let (status, _) = http_exchange(addr, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")?;
    ensure!(
        status == 400,
        "a header without a colon got {status}, not 400"
    );
    let mut big = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
    big.resize(6000, b'a');
    big.extend_from_slice(b"\r\n\r\n");
    let (status, _) = http_exchange(addr, &big)?;
    ensure!(status == 413, "an oversized request got {status}, not 413");
    let (status, _) = get(addr, "/nowhere")?;
    ensure!(status == 404, "an unknown path got {status}, not 404");
    let (status, _) = http_exchange(addr, b"DELETE / HTTP/1.1\r\n\r\n")?;
    ensure!(status == 405, "DELETE got {status}, not 405");
    // An idle connection is closed by the server, not kept for ever.
    let mut idle = connect(addr)?;
    idle.set_read_timeout(Some(IDLE_LIMIT))?;
    let t = Instant::now();
    let mut buf = [0u8; 64];
    match idle.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => bail!("an idle connection got {n} bytes instead of being closed"),
        Err(e) if t.elapsed() >= IDLE_LIMIT => {
            bail!(
                "an idle connection was still open after {} s ({e})",
                IDLE_LIMIT.as_secs()
            )
        }
        Err(_) => {} // reset: closed too
    }
    // A half-sent request, then silence: closed too, and meanwhile others
    // are served.
    let mut half = connect(addr)?;
    half.write_all(b"GET / HT")?;
    let (status, _) = get(addr, "/")?;
    ensure!(status == 200, "the page during a stalled request: {status}");
    half.set_read_timeout(Some(IDLE_LIMIT))?;
    let _ = half.read(&mut buf);
    let (status, _) = get(addr, "/api/status")?;
    ensure!(
        status == 200,
        "after the abuse GET /api/status answered {status}"
    );
    Ok(())
}

/// Datagrams of many sizes come back exactly.
fn udp_echo(image: &Image) -> Result<()> {
    let addr = image.port("udp", 7)?;
    let sock = UdpSocket::bind((LOOPBACK, 0))?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for (i, len) in [1usize, 7, 64, 512, 1000, 1472, 300, 1471]
        .iter()
        .enumerate()
    {
        let data = rng.bytes(*len);
        let mut ok = false;
        for _try in 0..3 {
            sock.send_to(&data, addr)?;
            let mut buf = [0u8; 2048];
            match sock.recv_from(&mut buf) {
                Ok((n, _)) if buf[..n] == data[..] => {
                    ok = true;
                    break;
                }
                Ok((n, _)) => bail!("datagram {i} ({len} bytes) came back as {n} other bytes"),
                Err(_) => continue, // lost: UDP may; try again
            }
        }
        ensure!(ok, "datagram {i} ({len} bytes) never came back");
    }
    Ok(())
}

/// A little xorshift generator: test data that differs in every byte.
struct Rng(u64);

impl Rng {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

/// Pushes `data` through the echo at `addr` and returns what came back;
/// `pace` spreads the sending over at least that long.
fn echo_through(addr: SocketAddr, data: &[u8], pace: Option<Duration>) -> Result<Vec<u8>> {
    let s = connect(addr)?;
    // Generous: every driver restart loses frames, and QEMU's user-network
    // TCP (the image's peer) backs its retransmissions off exponentially,
    // up to a minute or so after a burst of faults.
    s.set_read_timeout(Some(Duration::from_secs(150)))?;
    s.set_write_timeout(Some(Duration::from_secs(150)))?;
    let mut reader = s.try_clone()?;
    let n = data.len();
    let back = std::thread::spawn(move || -> Result<Vec<u8>> {
        let mut got = Vec::with_capacity(n);
        let mut buf = vec![0u8; 65536];
        while got.len() < n {
            let k = reader
                .read(&mut buf)
                .with_context(|| format!("after {} of {n} bytes came back", got.len()))?;
            ensure!(
                k > 0,
                "the connection closed after {} of {n} bytes",
                got.len()
            );
            got.extend_from_slice(&buf[..k]);
        }
        Ok(got)
    });
    let mut w = s;
    let start = Instant::now();
    for (i, chunk) in data.chunks(16 * 1024).enumerate() {
        w.write_all(chunk).context("sending")?;
        if let Some(pace) = pace {
            let due = pace.mul_f64((i + 1) as f64 * chunk.len() as f64 / n as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let got = back
        .join()
        .map_err(|_| anyhow::anyhow!("the reader panicked"))??;
    let _ = w.shutdown(Shutdown::Both);
    Ok(got)
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// 4 MiB of random bytes through the TCP echo, compared by SHA-256.
fn tcp_echo(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    let data = Rng(0xfeed_5eed_0bad_cafe).bytes(4 << 20);
    let t = Instant::now();
    let got = echo_through(addr, &data, None)?;
    let (want, have) = (sha256(&data), sha256(&got));
    ensure!(want == have, "sent sha256 {want}, got back {have}");
    println!(
        "    4 MiB TCP echo in {:.1} s of wall time",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Eight connections at once, each byte-exact.
fn tcp_parallel(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    let workers: Vec<_> = (0..8u64)
        .map(|i| {
            std::thread::spawn(move || -> Result<()> {
                let data = Rng(0x9e37_79b9_7f4a_7c15 ^ (i + 1)).bytes(192 * 1024);
                let got = echo_through(addr, &data, None)?;
                ensure!(
                    sha256(&got) == sha256(&data),
                    "connection {i}: echo differs"
                );
                Ok(())
            })
        })
        .collect();
    for (i, w) in workers.into_iter().enumerate() {
        w.join()
            .map_err(|_| anyhow::anyhow!("connection {i}: thread panicked"))?
            .with_context(|| format!("connection {i}"))?;
    }
    Ok(())
}

/// Headless Chromium renders the page: the rendered text has the task
/// names and the device rows; a screenshot lands in
/// `target/net-status.png`.
fn browser(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 80)?;
    let chromium = crate::qemu::on_path("chromium")
        .or_else(|| crate::qemu::on_path("chromium-browser"))
        .context(
            "headless Chromium is not installed: `apt-get install -y chromium` (.ci/run does)",
        )?;
    let url = format!("http://{addr}/");
    let profile = tempdir(&image.root, "chromium-profile")?;
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
    ];
    // `timeout`: a browser that hangs fails the case instead of the run.
    let out = Command::new("timeout")
        .arg("60")
        .arg(&chromium)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .stderr(Stdio::null())
        .output()
        .context("running chromium --dump-dom")?;
    let dom = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "chromium --dump-dom failed: {}",
        out.status
    );
    for t in &image.app.tasks {
        ensure!(
            dom.contains(&format!("<td>{}</td>", t.name)),
            "the rendered page lacks task `{}`",
            t.name
        );
    }
    ensure!(
        dom.contains("<td>network</td>") && dom.contains("<td>bound</td>"),
        "the rendered page lacks the NIC's device row"
    );
    let shot = image.root.join("target/net-status.png");
    let out = Command::new("timeout")
        .arg("60")
        .arg(&chromium)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1000,900")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .stderr(Stdio::null())
        .output()
        .context("running chromium --screenshot")?;
    ensure!(
        out.status.success(),
        "chromium --screenshot failed: {}",
        out.status
    );
    let png =
        std::fs::read(&shot).with_context(|| format!("no screenshot at {}", shot.display()))?;
    ensure!(
        png.starts_with(b"\x89PNG") && png.len() > 4096,
        "{} is not a real PNG ({} bytes)",
        shot.display(),
        png.len()
    );
    let _ = std::fs::remove_dir_all(&profile);
    println!("    screenshot: {}", shot.display());
    Ok(())
}

fn tempdir(root: &Path, name: &str) -> Result<std::path::PathBuf> {
    let dir = root
        .join("target")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
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
    Ok(())
}

/// Faulting the stack closes an open connection; a new one then works.
fn stack_restart(image: &mut Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    let mut s = connect(addr)?;
    s.write_all(b"before")?;
    let mut buf = [0u8; 6];
    s.read_exact(&mut buf)?;
    ensure!(&buf == b"before", "echo before the fault: {buf:?}");
    let listening = image.count("listening on TCP and UDP port 7");
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
    let data = Rng(77).bytes(64 * 1024);
    let got = echo_through(addr, &data, None)?;
    ensure!(got == data, "echo after the restart differs");
    Ok(())
}

/// 8 MiB through the echo, paced over 18 s, while the image injects
/// faults into net0: byte-exact, and every injection on the console.
fn faults(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    let data = Rng(0xdead_beef_f00d_1234).bytes(8 << 20);
    let t = Instant::now();
    let got = echo_through(addr, &data, Some(Duration::from_secs(18)))?;
    let (want, have) = (sha256(&data), sha256(&got));
    ensure!(
        want == have,
        "sent sha256 {want}, got back {have} ({} bytes)",
        got.len()
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
        "    8 MiB byte-exact through {injected} faults in net0 ({restarts} restarts) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
