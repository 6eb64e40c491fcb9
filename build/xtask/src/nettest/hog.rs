//! The socket hog's check (`test/net-hog.toml`): a hostile client of the
//! stack that accepts every connection and closes none must not keep the
//! echo and the page from being served.

use super::http::{connect, get};
use super::*;

/// Connections the test opens to the hog (the relay passes 16 at once).
const HOG_CONNECTIONS: usize = 24;
/// Pages and echoes asked for while the hog holds its connections.
const ROUNDS: usize = 20;

/// The most connections the hog said it held.
fn hog_holding(image: &Image) -> usize {
    image
        .lines()
        .iter()
        .filter_map(|l| l.split("hog: holding ").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// One short round trip through the echo on a new connection, which is
/// then closed; at most 10 s.
fn echo_once(addr: SocketAddr, data: &[u8]) -> Result<Vec<u8>> {
    let mut s = connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(data)?;
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back).context("no answer within 10 s")?;
    Ok(back)
}

/// Opens [`HOG_CONNECTIONS`] to the hog and keeps them; then the page and
/// the echo must answer [`ROUNDS`] times each, one connection after the
/// other (each close frees a socket, which the hog asks for at once).
pub(super) fn socket_hog(image: &Image) -> Result<()> {
    let hog = image.port("tcp", 9)?;
    let page = image.port("tcp", 80)?;
    let echo = image.port("tcp", 7)?;
    let mut held = Vec::new();
    for _ in 0..HOG_CONNECTIONS {
        held.push(connect(hog)?);
    }
    let start = Instant::now();
    while hog_holding(image) < 8 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let holding = hog_holding(image);
    ensure!(
        holding >= 8,
        "the hog holds {holding} connection(s) after 10 s: the attack did not happen"
    );
    for round in 0..ROUNDS {
        let (status, _) = get(page, "/api/status")
            .with_context(|| format!("round {round}: the page, with the hog holding sockets"))?;
        ensure!(status == 200, "round {round}: the page answered {status}");
        let data = format!("round {round} of the echo under the hog");
        let back = echo_once(echo, data.as_bytes())
            .with_context(|| format!("round {round}: the echo, with the hog holding sockets"))?;
        ensure!(
            back == data.as_bytes(),
            "round {round}: the echo sent back {back:?}"
        );
    }
    println!(
        "    the hog held {} connection(s); {ROUNDS} pages and echoes served",
        hog_holding(image)
    );
    drop(held);
    Ok(())
}
