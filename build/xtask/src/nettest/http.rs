//! The status page's checks: HTTP answers, abuse that must not hurt it,
//! and the page as a real browser renders it.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

pub(super) fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    Ok(s)
}

/// Sends `request` and reads until the server closes: (status, body).
pub(super) fn http_exchange(addr: SocketAddr, request: &[u8]) -> Result<(u16, String)> {
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

pub(super) fn get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    http_exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// GET / shows the task table with every task; /api/status is JSON with
/// every task of the image, in order.
pub(super) fn http(image: &Image) -> Result<()> {
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
pub(super) fn http_abuse(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 80)?;
    let (status, _) = http_exchange(addr, b"GARBAGE\r\n\r\n")?;
    ensure!(status == 400, "a malformed request got {status}, not 400");
    let (status, _) = http_exchange(addr, b"GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n")?;
    ensure!(
        status == 400,
        "a header without a colon got {status}, not 400"
    );
    let mut big = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
    big.resize(6000, b'a');
    big.extend_from_slice(b"\r\n\r\n");
    let (status, _) = http_exchange(addr, &big)?;
    ensure!(
        status == 431,
        "an oversized request head got {status}, not 431"
    );
    let mut long_url = b"GET /".to_vec();
    long_url.resize(3000, b'a');
    long_url.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
    let (status, _) = http_exchange(addr, &long_url)?;
    ensure!(status == 414, "a 3,000-byte URL got {status}, not 414");
    let (status, _) = get(addr, "/nowhere")?;
    ensure!(status == 404, "an unknown path got {status}, not 404");
    let (status, _) = http_exchange(addr, b"DELETE / HTTP/1.1\r\nHost: h\r\n\r\n")?;
    ensure!(status == 405, "DELETE got {status}, not 405");
    // RFC 9112 §3.2: an HTTP/1.1 request without a Host field, or with
    // two, must get 400; HTTP/1.0 has none.
    for (head, want) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\n\r\n", 200),
        // §2.2: empty lines before the request line are ignored.
        (b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 200),
        // RFC 9110 §15.6.6: another major version is refused as such.
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        // §15.6.2: a method the server does not know is 501, not 405
        // (methods are case-sensitive: `get` is one it does not know).
        (b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"get / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        // RFC 9112 §3.2: a request target has no fragment.
        (b"GET /api/status#top HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        // RFC 3986 §2.3: an encoded unreserved character is itself (an
        // encoded `/` is not); a `%` without two hex digits is malformed.
        (b"GET /%61pi/st%61tus HTTP/1.1\r\nHost: h\r\n\r\n", 200),
        (b"GET /api%2Fstatus HTTP/1.1\r\nHost: h\r\n\r\n", 404),
        (b"GET /api/status%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ] {
        let (status, _) = http_exchange(addr, head)?;
        ensure!(
            status == want,
            "{:?} got {status}, not {want}",
            String::from_utf8_lossy(head)
        );
    }
    // RFC 9110 §15.5.6: a 405 must say which methods the target allows.
    let mut s = connect(addr)?;
    s.write_all(b"POST /api/status HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply);
    let head = reply.split("\r\n\r\n").next().unwrap_or("");
    ensure!(
        head.starts_with("HTTP/1.1 405 ") && head.contains("\r\nAllow: GET, HEAD"),
        "a POST's 405 must carry `Allow: GET, HEAD`: {head:?}"
    );
    // The absolute form, as a client sends it through a proxy (RFC 9112
    // §3.2.2: a server must accept it).
    let (status, body) = http_exchange(
        addr,
        format!("GET http://{addr}/api/status HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )?;
    ensure!(
        status == 200 && body.starts_with('{'),
        "GET http://{addr}/api/status got {status}: {body}"
    );
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

/// Parallel clients in one burst, more than the page server's slots and
/// the stack's backlog together.
const BURST: usize = 100;

/// A burst of [`BURST`] GETs of /api/status at once through the forward:
/// every one must be answered 200. The image holds what it cannot take
/// yet (the stack keeps SYNs over a full backlog, QEMU's user network
/// sends the others again); the relay in front of QEMU's forward
/// (`relay.rs`) keeps the host's kernel from dropping them first.
pub(super) fn http_burst(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 80)?;
    let start = Instant::now();
    let clients: Vec<_> = (0..BURST)
        .map(|_| std::thread::spawn(move || get(addr, "/api/status")))
        .collect();
    let mut failed = Vec::new();
    for (k, c) in clients.into_iter().enumerate() {
        match c.join() {
            Ok(Ok((200, _))) => {}
            Ok(Ok((status, _))) => failed.push(format!("{k}: {status}")),
            Ok(Err(e)) => failed.push(format!("{k}: {e:#}")),
            Err(_) => failed.push(format!("{k}: its thread panicked")),
        }
    }
    ensure!(
        failed.is_empty(),
        "{} of {BURST} parallel GETs failed (first: {})",
        failed.len(),
        failed[0]
    );
    println!(
        "    {BURST} parallel GETs answered in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// GET `path`, read the head and the Content-Length body, and close at
/// once (not waiting for the server's close); the status must be 200.
fn get_and_close(addr: SocketAddr, path: &str) -> Result<()> {
    let mut s = connect(addr)?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).context("reading the response")?;
        ensure!(n > 0, "the server closed before a whole response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        ensure!(head.starts_with("HTTP/1.1 200 "), "answered {head:?}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|l| l.trim().parse().ok())
            .with_context(|| format!("no Content-Length in {head:?}"))?;
        if body.len() >= len {
            return Ok(());
        }
    }
}

/// Requests one after another, as a page reloading does.
const SEQUENTIAL: usize = 300;

/// [`SEQUENTIAL`] GETs one after another must never find the page server
/// without a listening socket: the stack's count of SYNs over a full
/// backlog must not move. Each closed connection must give its socket
/// back at once; sockets held in CLOSING for a second (QEMU's ACK of the
/// server's FIN lost on a duplicate of its own FIN) ran the pool dry,
/// and 12 of 300 requests waited 250 ms for the server's next accept.
///
/// The requests close as `curl` and browsers do: as soon as the body that
/// Content-Length announced is in, without waiting for the server's FIN,
/// so that the two sides' closes cross.
pub(super) fn http_sequential(image: &mut Image) -> Result<()> {
    let addr = image.port("tcp", 80)?;
    let before = image.net_figure(super::POSTPONED_SYNS)?;
    for k in 0..SEQUENTIAL {
        get_and_close(addr, "/api/status").with_context(|| format!("request {k}"))?;
    }
    let after = image.net_figure(super::POSTPONED_SYNS)?;
    ensure!(
        after == before,
        "{} of {SEQUENTIAL} sequential requests found the page server's backlog full \
         (SYNs over a full backlog: {before} before, {after} after)",
        after - before
    );
    Ok(())
}

/// GET /api/status as JSON.
fn status_json(addr: SocketAddr) -> Result<serde_json::Value> {
    let (status, body) = get(addr, "/api/status")?;
    ensure!(status == 200, "GET /api/status answered {status}");
    serde_json::from_str(&body).with_context(|| format!("/api/status is not JSON: {body}"))
}

/// The restart rows of `task` in a status.
fn restart_rows<'a>(v: &'a serde_json::Value, task: &str) -> Vec<&'a serde_json::Value> {
    v["restarts"]
        .as_array()
        .map(|r| r.iter().filter(|r| r["task"] == task).collect())
        .unwrap_or_default()
}

/// When the console says the supervisor restarted `task` as `generation`
/// (ms since boot, from the line's timestamp).
fn console_restart_ms(image: &Image, task: &str, generation: u64) -> Result<u64> {
    let text = format!("supervisor: task {task} restarted as generation {generation}");
    let line = image
        .lines()
        .into_iter()
        .find(|l| l.contains(&text))
        .with_context(|| format!("no `{text}` on the console"))?;
    let secs: f64 = line
        .trim_start()
        .strip_prefix('[')
        .and_then(|l| l.split(']').next())
        .and_then(|t| t.trim().parse().ok())
        .with_context(|| format!("no timestamp on `{line}`"))?;
    Ok((secs * 1000.0) as u64)
}

/// The page's restart log is the supervisor's: two `restart echo`s at the
/// shell, one right after the other, show up as two rows, each with the
/// echo's generation, the time the console gave the restart (to the
/// millisecond) and the cause; after `restart http` the page server still
/// shows both, unchanged, and its own restart. (The page server used to
/// sample generations once a second: it merged restarts that close
/// together, logged them up to a second late, and after its own restart
/// knew only that they came "before".)
pub(super) fn status_restarts(image: &mut Image) -> Result<()> {
    let addr = image.port("tcp", 80)?;
    let generation = |v: &serde_json::Value, task: &str| {
        v["tasks"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == task))
            .and_then(|t| t["generation"].as_u64())
            .with_context(|| format!("no task {task} in {v}"))
    };
    let v0 = status_json(addr)?;
    let echo0 = generation(&v0, "echo")?;
    for n in 1..=2 {
        let listening = image.count("echo: listening");
        image.type_line("restart echo")?;
        image.wait_for("echo: listening", listening + 1, Duration::from_secs(10))?;
        image.wait_for(
            &format!(
                "supervisor: task echo restarted as generation {}",
                echo0 + n
            ),
            1,
            Duration::from_secs(5),
        )?;
    }
    let check_echo_rows = |image: &Image, v: &serde_json::Value| -> Result<Vec<u64>> {
        let rows = restart_rows(v, "echo");
        let mut times = Vec::new();
        for n in 1..=2 {
            let g = echo0 + n;
            let row = rows
                .iter()
                .find(|r| r["generation"] == g)
                .with_context(|| {
                    format!(
                        "echo's restart to generation {g} not in the page's log: {}",
                        v["restarts"]
                    )
                })?;
            let at = row["at_ms"]
                .as_u64()
                .with_context(|| format!("echo's restart has no time: {row}"))?;
            let said = console_restart_ms(image, "echo", g)?;
            ensure!(
                at.abs_diff(said) <= 2,
                "echo's restart to generation {g} logged at {at} ms; the console said {said} ms"
            );
            ensure!(
                row["cause"] == "operator",
                "echo's restart to generation {g}: cause {}",
                row["cause"]
            );
            times.push(at);
        }
        Ok(times)
    };
    let v1 = status_json(addr)?;
    let times = check_echo_rows(image, &v1)?;
    let http0 = generation(&v0, "http")?;
    let served = image.count("http: listening");
    image.type_line("restart http")?;
    image.wait_for("http: listening", served + 1, Duration::from_secs(10))?;
    let v2 = status_json(addr)?;
    ensure!(
        check_echo_rows(image, &v2)? == times,
        "echo's restarts changed after the page server's own: {}",
        v2["restarts"]
    );
    let own = restart_rows(&v2, "http");
    let own = own
        .iter()
        .find(|r| r["generation"] == http0 + 1)
        .with_context(|| {
            format!(
                "the page server's own restart to generation {} is not in its log: {}",
                http0 + 1,
                v2["restarts"]
            )
        })?;
    let said = console_restart_ms(image, "http", http0 + 1)?;
    ensure!(
        own["at_ms"]
            .as_u64()
            .is_some_and(|at| at.abs_diff(said) <= 2),
        "the page server's restart logged as {own}; the console said {said} ms"
    );
    Ok(())
}

/// The page server's slots (task/http's `CONNS`) and how long it keeps a
/// connection in all (`task_http::conn::LIFETIME_MS`).
const HTTP_SLOTS: usize = 4;
const HTTP_LIFETIME: Duration = Duration::from_secs(10);

/// What one slowloris client saw until it was told to stop.
#[derive(Default)]
struct SlowClient {
    /// Connections the server closed on it.
    closed: usize,
    /// Of those, the ones told why first (a 408 before the close).
    told: usize,
    /// How long the shortest of them lived.
    shortest: Option<Duration>,
}

/// One slowloris client: it connects, trickles a request head a byte a
/// second and never finishes it; when the server closes the connection it
/// connects again at once, until `stop`. It fails if it is ever answered
/// (half a request has no answer) or kept past the server's lifetime.
fn slow_client(addr: SocketAddr, k: usize, stop: Arc<AtomicBool>) -> Result<SlowClient> {
    let mut seen = SlowClient::default();
    while !stop.load(Ordering::Relaxed) {
        let mut s = connect(addr)?;
        s.write_all(b"GET / HTTP/1.1\r\nX-Slow: ")?;
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        let opened = Instant::now();
        let mut next_byte = opened + Duration::from_secs(1);
        let mut buf = [0u8; 256];
        let mut answer = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let closed = match s.read(&mut buf) {
                Ok(0) => true,
                // Only a 408, telling it that it gave its place up.
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    ensure!(
                        answer.len() <= 256
                            && b"HTTP/1.1 408 ".starts_with(&answer[..answer.len().min(13)]),
                        "slow client {k} got an answer to half a request other than a 408: {:?}",
                        String::from_utf8_lossy(&answer)
                    );
                    false
                }
                Err(e) => !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            };
            let lived = opened.elapsed();
            if closed || (Instant::now() >= next_byte && s.write_all(b"a").is_err()) {
                seen.closed += 1;
                seen.told += usize::from(answer.starts_with(b"HTTP/1.1 408 "));
                seen.shortest = Some(seen.shortest.map_or(lived, |d| d.min(lived)));
                break;
            }
            if Instant::now() >= next_byte {
                next_byte += Duration::from_secs(1);
            }
            if lived > HTTP_LIFETIME + Duration::from_secs(6) {
                bail!(
                    "slow client {k} still open {:.1} s after it connected",
                    lived.as_secs_f64()
                );
            }
        }
    }
    Ok(seen)
}

/// Slowloris, kept up: three clients per slot trickle half request heads
/// and connect again whenever they are closed, so that every slot is
/// always taken by one of them and more wait behind. Real requests made
/// all the while must each get the page within a few seconds. The
/// lifetime rule alone (the server before `task_http::conn::victim`) made
/// each wait 10 s or more; now a half head yields its slot after a short
/// grace to a connection that waits, so the slow clients must also show
/// connections closed long before their lifetime.
pub(super) fn http_slow_clients(image: &Image) -> Result<()> {
    const CLIENTS: usize = 3 * HTTP_SLOTS;
    const PAGE_WITHIN: Duration = Duration::from_secs(4);
    let addr = image.port("tcp", 80)?;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|k| {
            let stop = stop.clone();
            std::thread::spawn(move || slow_client(addr, k, stop))
        })
        .collect();
    // Let them take every slot and fill the backlog first.
    std::thread::sleep(Duration::from_secs(1));
    let mut pages = Vec::new();
    let attack = Instant::now();
    let served = (|| -> Result<()> {
        while attack.elapsed() < HTTP_LIFETIME + Duration::from_secs(2) {
            let asked = Instant::now();
            let (status, _) = get(addr, "/")
                .with_context(|| format!("page {} behind {CLIENTS} slow clients", pages.len()))?;
            let waited = asked.elapsed();
            ensure!(
                status == 200,
                "page {} behind {CLIENTS} slow clients: {status}",
                pages.len()
            );
            ensure!(
                waited < PAGE_WITHIN,
                "page {} behind {CLIENTS} slow clients took {:.1} s",
                pages.len(),
                waited.as_secs_f64()
            );
            pages.push(waited);
            std::thread::sleep(Duration::from_millis(300));
        }
        Ok(())
    })();
    stop.store(true, Ordering::Relaxed);
    let (mut closed, mut told) = (0, 0);
    let mut shortest = HTTP_LIFETIME;
    for (k, c) in clients.into_iter().enumerate() {
        let seen = c
            .join()
            .map_err(|_| anyhow::anyhow!("slow client {k}'s thread panicked"))??;
        closed += seen.closed;
        told += seen.told;
        shortest = seen.shortest.map_or(shortest, |d| d.min(shortest));
    }
    served?;
    ensure!(
        shortest < HTTP_LIFETIME / 2,
        "no slow client was closed before {:.1} s: the server waited out their lifetime",
        shortest.as_secs_f64()
    );
    // A connection that gave its place up was told so (the idle and
    // lifetime limits close without a word, as before).
    ensure!(
        told > 0,
        "none of the {closed} slow connections closed was told why (a 408 first)"
    );
    pages.sort();
    println!(
        "    {} pages behind {CLIENTS} slow clients, median {} ms, slowest {} ms; {closed} slow \
         connections closed ({told} told why, 408), the shortest after {} ms",
        pages.len(),
        pages[pages.len() / 2].as_millis(),
        pages[pages.len() - 1].as_millis(),
        shortest.as_millis()
    );
    Ok(())
}

/// Headless Chromium renders the page: the rendered text has the task
/// names and the device rows; a screenshot lands in
/// `target/net-status.png`.
pub(super) fn browser(image: &Image) -> Result<()> {
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

pub(super) fn tempdir(root: &Path, name: &str) -> Result<std::path::PathBuf> {
    let dir = root
        .join("target")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Clients that read the page to its end and then keep their side of the
/// connection open, more of them than the stack has sockets: each is
/// answered, and so are the pages after them. Their sockets wait in
/// FIN-WAIT-2 for a FIN that never comes; the stack resets such a close
/// when a socket is needed (`task_net::share::reclaimable`), and the relay
/// does not count a connection the image ended. Without either, the
/// thirteenth (seventeenth) client got no answer.
pub(super) fn http_lingering_clients(image: &Image) -> Result<()> {
    const LINGERING: usize = 30;
    let addr = image.port("tcp", 80)?;
    let mut kept = Vec::new();
    for k in 0..LINGERING {
        let mut s = connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).with_context(|| {
            format!("lingering client {k}: no page (the {k} before it keep their sides open)")
        })?;
        ensure!(
            reply.starts_with(b"HTTP/1.1 200 "),
            "lingering client {k}: {:?}",
            String::from_utf8_lossy(&reply[..reply.len().min(40)])
        );
        kept.push(s);
    }
    for k in 0..5 {
        let t = Instant::now();
        let (status, _) = get(addr, "/").with_context(|| format!("page {k} after them"))?;
        ensure!(status == 200, "page {k} after them: {status}");
        ensure!(
            t.elapsed() < Duration::from_secs(2),
            "page {k} after them took {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    drop(kept);
    Ok(())
}

/// Idle clients at the echo and at the page server, more than the page
/// server has sockets for: the page still comes in seconds. Eight silent
/// connections accepted by the echo and its listening pool of eight hold
/// sixteen of the stack's twenty sockets, so the page server keeps four,
/// and four silent clients of its own made every one a connection. None
/// listened, so no accept could succeed and make room by the server's
/// grace rule: each silent client held its place for the whole idle limit
/// (5 s), and the page waited behind all of them (20 s for twenty, 72 s
/// for sixty). The stack now answers such an accept `Crowded` (a client
/// waits, nothing of the caller's listens), and the server gives back a
/// place as it would for an accepted client.
pub(super) fn http_crowded(image: &Image) -> Result<()> {
    const AT_ECHO: usize = 8;
    const AT_PAGE: usize = 20;
    const LIMIT: Duration = Duration::from_secs(8);
    let echo = image.port("tcp", 7)?;
    let page = image.port("tcp", 80)?;
    let mut held = Vec::new();
    for _ in 0..AT_ECHO {
        held.push(connect(echo)?);
    }
    std::thread::sleep(Duration::from_millis(1500));
    for _ in 0..AT_PAGE {
        held.push(connect(page)?);
    }
    let t = Instant::now();
    let (status, _) = get(page, "/api/status").with_context(|| {
        format!("the page behind {AT_PAGE} silent clients ({AT_ECHO} more at the echo)")
    })?;
    let took = t.elapsed();
    ensure!(status == 200, "the page behind silent clients: {status}");
    ensure!(
        took < LIMIT,
        "the page took {:.1} s behind {AT_PAGE} silent clients ({AT_ECHO} more at the echo)",
        took.as_secs_f64()
    );
    drop(held);
    Ok(())
}
