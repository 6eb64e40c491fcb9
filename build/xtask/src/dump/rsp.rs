//! A client of QEMU's gdbstub (the GDB remote serial protocol) over the
//! Unix socket every Vireo run opens: just enough to stop the machine, read
//! its registers and memory, write a word, and let it go again.
//!
//! QEMU stops the machine when a debugger connects and resumes it on
//! detach (`D`), so a dump is one connection: read, then detach. Packets are
//! `$data#checksum`, acknowledged with `+` (GDB's "Remote Protocol"
//! documentation, "Overview" and "Packets").

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Bytes asked for in one `m` packet: QEMU answers in hex and refuses
/// (E22) more than half its 4 KiB packet buffer. (1 KiB packets kept the
/// machine stopped 0.6 s longer for the default image's RAM.)
const READ_CHUNK: usize = 2048;
/// How long to wait for the stop packet QEMU sends on connecting.
const ANNOUNCE_WAIT: Duration = Duration::from_millis(300);
/// How long one answer may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to a gdbstub.
pub struct Gdb {
    stream: UnixStream,
    pending: Vec<u8>,
}

impl Gdb {
    /// Connects and waits for the machine to be stopped (QEMU stops it as
    /// the connection opens; `?` asks why, which also confirms the stop).
    pub fn connect(socket: &Path) -> Result<Gdb> {
        let stream = UnixStream::connect(socket).with_context(|| {
            format!(
                "cannot connect to the gdbstub at {} (is the image running, and no debugger attached already?)",
                socket.display()
            )
        })?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let mut gdb = Gdb {
            stream,
            pending: Vec::new(),
        };
        // QEMU announces the stop it made on connecting with a stop packet
        // of its own; take it (if it comes in time) before asking anything.
        // One that comes later is skipped by `command`.
        gdb.stream.set_read_timeout(Some(ANNOUNCE_WAIT))?;
        let _ = gdb.receive();
        gdb.stream.set_read_timeout(Some(TIMEOUT))?;
        let why = gdb.command("?")?;
        if !(why.starts_with('S') || why.starts_with('T')) {
            bail!("gdbstub did not report a stopped machine (answered {why:?})");
        }
        Ok(gdb)
    }

    fn send(&mut self, data: &str) -> Result<()> {
        let sum = data.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        let packet = format!("${data}#{sum:02x}");
        for _ in 0..3 {
            self.stream
                .write_all(packet.as_bytes())
                .context("gdbstub connection lost")?;
            match self.byte()? {
                b'+' => return Ok(()),
                b'-' => continue,
                // An answer started without an ack (no-ack mode): keep it.
                b => {
                    self.pending.insert(0, b);
                    return Ok(());
                }
            }
        }
        bail!("gdbstub refused the packet {data:?} three times")
    }

    fn byte(&mut self) -> Result<u8> {
        if !self.pending.is_empty() {
            return Ok(self.pending.remove(0));
        }
        let mut b = [0u8; 1];
        self.stream
            .read_exact(&mut b)
            .context("no answer from the gdbstub")?;
        Ok(b[0])
    }

    fn receive(&mut self) -> Result<String> {
        self.receive_acked(true)
    }

    /// Reads one packet and acknowledges it. `ack_needed`: whether a failed
    /// acknowledgement is an error; after the answer to a detach the machine
    /// runs again and may stop at once (a post-mortem's kernel stops it the
    /// moment its dump is taken), so QEMU may be gone before the `+`.
    fn receive_acked(&mut self, ack_needed: bool) -> Result<String> {
        loop {
            while self.byte()? != b'$' {}
            let mut data = Vec::new();
            loop {
                match self.byte()? {
                    b'#' => break,
                    b => data.push(b),
                }
            }
            let hi = self.byte()?;
            let lo = self.byte()?;
            let sum = data.iter().fold(0u8, |a, b| a.wrapping_add(*b));
            let want = u8::from_str_radix(&String::from_utf8_lossy(&[hi, lo]), 16).ok();
            if want == Some(sum) {
                let acked = self.stream.write_all(b"+");
                if ack_needed {
                    acked.context("gdbstub connection lost")?;
                }
                return Ok(String::from_utf8_lossy(&data).into_owned());
            }
            self.stream.write_all(b"-")?;
        }
    }

    /// Sends one packet and returns the answer.
    ///
    /// A stop packet (`S`/`T`) can only answer `?`: one that comes for
    /// anything else is QEMU's announcement of the stop it made on
    /// connecting, arriving after `connect` stopped waiting for it (a loaded
    /// host), or the answer to a `?` that took that announcement instead.
    /// It is skipped, so every answer stays paired with its own question.
    pub fn command(&mut self, data: &str) -> Result<String> {
        self.send(data)?;
        loop {
            let answer = self.receive()?;
            if data != "?" && is_stop_packet(&answer) {
                continue;
            }
            return Ok(answer);
        }
    }

    /// Reads `len` bytes at `addr`.
    pub fn read_memory(&mut self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let at = addr + out.len() as u64;
            let n = (len - out.len()).min(READ_CHUNK);
            let answer = self.command(&format!("m{at:x},{n:x}"))?;
            let bytes = decode_hex(&answer).with_context(|| {
                format!("cannot read {n} bytes at {at:#x}: gdbstub said {answer:?}")
            })?;
            if bytes.is_empty() {
                bail!("gdbstub returned no bytes at {at:#x}");
            }
            out.extend_from_slice(&bytes);
        }
        out.truncate(len);
        Ok(out)
    }

    /// Writes bytes at `addr`.
    pub fn write_memory(&mut self, addr: u64, bytes: &[u8]) -> Result<()> {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let answer = self.command(&format!("M{addr:x},{:x}:{hex}", bytes.len()))?;
        if answer != "OK" {
            bail!("gdbstub refused to write at {addr:#x}: {answer:?}");
        }
        Ok(())
    }

    /// The hart's registers: x0..x31, then the pc.
    pub fn registers(&mut self) -> Result<Vec<u32>> {
        let answer = self.command("g")?;
        let bytes =
            decode_hex(&answer).with_context(|| format!("bad register answer {answer:?}"))?;
        Ok(bytes
            .chunks_exact(4)
            .take(33)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Detaches; QEMU lets the machine run on. The machine may stop (and
    /// QEMU exit) as soon as it runs: the answer is all that counts.
    pub fn detach(mut self) -> Result<()> {
        self.send("D")?;
        let mut answer = self.receive_acked(false)?;
        if answer.starts_with('E') {
            // Once a gdb has negotiated multiprocess mode, QEMU (7.2) keeps
            // it for later connections and wants the process id: `D;1`.
            self.send("D;1")?;
            answer = self.receive_acked(false)?;
        }
        if answer != "OK" {
            bail!("gdbstub did not detach: {answer:?}");
        }
        Ok(())
    }
}

/// Whether an answer is a stop packet (`S NN` or `T NN…`, "Stop Reply
/// Packets"): never a hex memory or register answer, `OK` or `E NN`.
fn is_stop_packet(answer: &str) -> bool {
    answer.starts_with('S') || answer.starts_with('T')
}

/// Decodes a hex answer; `E NN` error answers and odd lengths are errors.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.starts_with('E') || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{decode_hex, Gdb};
    use std::io::{Read as _, Write as _};
    use std::os::unix::net::UnixListener;

    #[test]
    fn hex_answers_decode_and_errors_do_not() {
        assert_eq!(decode_hex("00ff10"), Some(vec![0, 0xff, 0x10]));
        assert_eq!(decode_hex("E14"), None);
        assert_eq!(decode_hex("abc"), None);
    }

    /// A scripted stub: answers `?`, one `m` and `D` the way QEMU does.
    /// With `exit_on_detach` it hangs up right after answering `D`, as QEMU
    /// does when the machine it lets go stops at once (a post-mortem). With
    /// `late_announce` the stop packet QEMU sends on connecting comes only
    /// after the client's first question, as on a loaded host.
    fn stub(
        exit_on_detach: bool,
        late_announce: bool,
    ) -> (
        tempfile::TempDir,
        std::path::PathBuf,
        std::thread::JoinHandle<Vec<String>>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gdb.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let stub = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let answer = |s: &mut std::os::unix::net::UnixStream, data: &str| {
                let sum = data.bytes().fold(0u8, |a, b| a.wrapping_add(b));
                s.write_all(format!("+${data}#{sum:02x}").as_bytes())
                    .unwrap();
            };
            let mut buf = Vec::new();
            let mut b = [0u8; 1];
            // Until the client hangs up (it acks the last answer first).
            while s.read_exact(&mut b).is_ok() {
                buf.push(b[0]);
                if buf.len() >= 3 && buf[buf.len() - 3] == b'#' {
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let start = text.find('$').unwrap();
                    let packet = text[start + 1..text.len() - 3].to_string();
                    buf.clear();
                    match packet.as_str() {
                        "?" => {
                            if late_announce {
                                answer(&mut s, "T02thread:01;");
                            }
                            answer(&mut s, "T05thread:01;")
                        }
                        "m80000000,4" => answer(&mut s, "deadbeef"),
                        "D" if exit_on_detach => {
                            // Gone before the client's ack can arrive:
                            // reading is shut before the answer goes out,
                            // so the ack surely meets a closed socket.
                            s.shutdown(std::net::Shutdown::Read).unwrap();
                            answer(&mut s, "OK");
                            seen.push(packet);
                            break;
                        }
                        "D" => answer(&mut s, "OK"),
                        other => answer(&mut s, &format!("E{}", other.len())),
                    }
                    seen.push(packet);
                }
            }
            seen
        });
        (dir, path, stub)
    }

    /// Reads one word from a stub that behaves as told, then detaches: the
    /// word and the stub's packets must come out right either way.
    fn read_one_word_and_detach(exit_on_detach: bool, late_announce: bool) {
        let (_dir, path, stub) = stub(exit_on_detach, late_announce);
        let mut gdb = Gdb::connect(&path).unwrap();
        assert_eq!(
            gdb.read_memory(0x8000_0000, 4).unwrap(),
            vec![0xde, 0xad, 0xbe, 0xef]
        );
        gdb.detach().unwrap();
        assert_eq!(stub.join().unwrap(), vec!["?", "m80000000,4", "D"]);
    }

    #[test]
    fn reads_memory_from_a_stub_and_detaches() {
        read_one_word_and_detach(false, false);
    }

    #[test]
    fn a_detach_counts_even_when_qemu_exits_before_the_ack() {
        read_one_word_and_detach(true, false);
    }

    #[test]
    fn a_late_stop_announcement_does_not_put_answers_one_behind() {
        read_one_word_and_detach(false, true);
    }
}
