//! QEMU: finding (or installing) `qemu-system-riscv32`, building its command
//! line from the app file, and running an image either on the terminal or
//! headless with its console captured and a wall-clock timeout.
//!
//! Every run opens QEMU's gdbstub on a Unix socket, `target/<image>/gdb.sock`
//! (never a network port), for `cargo xtask dump` and `cargo xtask gdb`;
//! every runner watches the console for the kernel's last words and has a
//! post-mortem dump taken before the machine stops (`dump::postmortem`).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::config::App;
use crate::dump::{self, postmortem};

/// The emulator binary.
pub const QEMU: &str = "qemu-system-riscv32";

pub use crate::setup::on_path;

/// Returns the QEMU binary, installing Debian's `qemu-system-misc` first when
/// it is missing and we are root with apt; otherwise explains how to get it.
pub fn ensure_installed() -> Result<PathBuf> {
    let how = if on_path("apt-get").is_some() {
        "sudo apt-get update && sudo apt-get install -y qemu-system-misc"
    } else if on_path("dnf").is_some() {
        "sudo dnf install -y qemu-system-riscv"
    } else if on_path("pacman").is_some() {
        "sudo pacman -S qemu-system-riscv"
    } else if on_path("brew").is_some() {
        "brew install qemu"
    } else {
        "install QEMU 7.2 or newer with RISC-V system emulation (Debian: apt-get install qemu-system-misc)"
    };
    crate::setup::ensure_tool(QEMU, "qemu-system-misc", how)
}

/// Escapes a value for QEMU's comma-separated option syntax.
fn qemu_escape(s: &str) -> String {
    s.replace(',', ",,")
}

/// The QEMU arguments (without the program) to boot `image`. `out_dir` is
/// `target/<name>/`, which drive files are relative to. `icount` adds
/// `-icount shift=0` (one virtual nanosecond per instruction).
pub fn command_line(app: &App, image: &Path, out_dir: &Path, icount: bool) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-machine".into(),
        "virt".into(),
        "-bios".into(),
        "none".into(),
        "-nographic".into(),
        "-m".into(),
        format!("{}M", app.qemu.memory),
        "-kernel".into(),
        image.display().to_string(),
    ];
    args.extend(app.qemu.args.iter().cloned());
    // QEMU puts each -device in the next lower virtio-mmio slot, and the bus
    // binds a driver to the lowest free slot it matches, drivers in task
    // order: the drives go on in reverse so that the first drive has the
    // lowest of their slots, and blk0 finds the first drive, blk1 the second.
    for (n, d) in app.qemu.drives.iter().enumerate().rev() {
        args.push("-drive".into());
        let mut drive = format!(
            "file={},if=none,format=raw,id=drive{n}",
            qemu_escape(&out_dir.join(&d.file).display().to_string())
        );
        if let Some(options) = &d.options {
            drive.push(',');
            drive.push_str(options);
        }
        args.push(drive);
        args.push("-device".into());
        args.push(format!("{},drive=drive{n}", d.device));
    }
    args.extend(crate::net::qemu_args(app));
    if icount {
        args.push("-icount".into());
        args.push("shift=0".into());
    }
    // The gdbstub, on a socket only this user can reach; `wait=off` lets the
    // machine run until someone attaches.
    args.push("-chardev".into());
    args.push(format!(
        "socket,path={},server=on,wait=off,id={}",
        qemu_escape(&dump::socket_path(out_dir).display().to_string()),
        postmortem::CHARDEV_ID
    ));
    args.push("-gdb".into());
    args.push(format!("chardev:{}", postmortem::CHARDEV_ID));
    args
}

/// Holds `<out_dir>/run.lock` for as long as the returned file lives, so
/// that one QEMU at a time runs an image: a second `cargo xtask run` of the
/// same app file rebuilt the image under the first and then failed on
/// QEMU's lock of the disk ("Failed to get \"write\" lock").
pub fn lock_image(out_dir: &Path, name: &str) -> Result<std::fs::File> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let path = out_dir.join("run.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "image `{name}` is already running (another xtask holds {}): quit it first \
             (Ctrl-A X in its terminal), or run another app file",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Creates every drive's backing file (zero-filled, `size` bytes) that does
/// not exist yet; existing files are left alone so their contents persist,
/// except that one smaller than `size` (app.toml's size was raised) grows
/// to it with zeroes, its contents kept. One larger is kept as it is, with
/// a note: shrinking would throw away what was written past the new end.
pub fn prepare_drives(app: &App, out_dir: &Path, fresh: bool) -> Result<()> {
    for d in &app.qemu.drives {
        let path = out_dir.join(&d.file);
        if path.exists() && !fresh {
            let len = std::fs::metadata(&path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .len();
            if len < d.size {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(d.size))
                    .with_context(|| format!("cannot grow {}", path.display()))?;
                eprintln!(
                    "disk: {} grown from {len} to {} bytes (app.toml's size), its contents kept",
                    path.display(),
                    d.size
                );
            } else if len > d.size {
                eprintln!(
                    "disk: {} is {len} bytes, app.toml says {}: kept as it is (delete the file to start again at {})",
                    path.display(),
                    d.size,
                    d.size
                );
            }
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let f = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.set_len(d.size)
            .with_context(|| format!("cannot size {}", path.display()))?;
    }
    Ok(())
}

/// Runs QEMU with the console on the terminal until it exits. Its output
/// passes through xtask (so that a kernel panic gets its post-mortem dump,
/// and `banner` is printed once a line shows `trigger`, the image being
/// up); its input is the terminal itself.
pub fn run_interactive(
    qemu: &Path,
    args: &[String],
    trigger: &str,
    banner: &[String],
) -> Result<ExitStatus> {
    use std::io::{Read as _, Write as _};
    let mut child = Command::new(qemu)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", qemu.display()))?;
    let mut stdout = child.stdout.take().context("no stdout pipe")?;
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    let mut announced = banner.is_empty();
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut out = std::io::stdout();
        let _ = out.write_all(&buf[..n]);
        for &b in &buf[..n] {
            if !announced && b != b'\n' && line.len() < 4096 {
                line.push(b);
                if line.ends_with(trigger.as_bytes()) {
                    announced = true;
                    // The terminal is in raw mode: end lines with CR LF.
                    for l in banner {
                        let _ = write!(out, "\r\n{l}");
                    }
                    let _ = out.write_all(b"\r\n");
                }
                continue;
            }
            if b == b'\n' {
                postmortem::on_trigger(args, &String::from_utf8_lossy(&line));
                line.clear();
            } else if line.len() < 4096 {
                line.push(b);
            }
        }
        let _ = out.flush();
    }
    child
        .wait()
        .with_context(|| format!("cannot wait for {}", qemu.display()))
}

/// How a captured run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The stop condition was met and QEMU was killed (or had exited).
    Stopped,
    /// QEMU exited by itself with this status code (None: killed by a signal).
    Exited(Option<i32>),
    /// The wall-clock timeout passed and QEMU was killed.
    TimedOut,
}

/// A headless run's console and ending.
#[derive(Clone, Debug)]
pub struct Capture {
    /// Console lines, without line endings.
    pub lines: Vec<String>,
    /// How it ended.
    pub end: End,
    /// QEMU's own stderr (errors about its arguments, and so on).
    pub stderr: String,
}

/// What the console watcher wants after a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Keep reading.
    Continue,
    /// Stop QEMU now.
    Stop,
    /// Keep reading for this long (to catch a panic message), then stop.
    StopAfter(Duration),
}

/// Starts QEMU with `args`, its console (stdout) piped to us and its stdin
/// and stderr as the caller wants them.
pub fn spawn(qemu: &Path, args: &[String], stdin: Stdio, stderr: Stdio) -> Result<Child> {
    Command::new(qemu)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("cannot start {}", qemu.display()))
}

/// Runs QEMU headless (stdin null), feeding each console line to `watch`,
/// until `watch` says stop, QEMU exits, or `timeout` passes. With `echo`
/// every line is printed as it arrives.
pub fn run_capture(
    qemu: &Path,
    args: &[String],
    timeout: Duration,
    echo: bool,
    mut watch: impl FnMut(&str) -> Watch,
) -> Result<Capture> {
    let mut child = spawn(qemu, args, Stdio::null(), Stdio::piped())?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut stderr = child.stderr.take().context("no stderr pipe")?;

    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });

    let start = Instant::now();
    let mut deadline = start + timeout;
    let mut stopping = false;
    let mut lines = Vec::new();
    let end = loop {
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            break if stopping {
                End::Stopped
            } else {
                End::TimedOut
            };
        }
        match rx.recv_timeout(deadline - now) {
            Ok(line) => {
                if echo {
                    println!("{line}");
                }
                postmortem::on_trigger(args, &line);
                let w = if stopping {
                    Watch::Continue
                } else {
                    watch(&line)
                };
                lines.push(line);
                match w {
                    Watch::Continue => {}
                    Watch::Stop => {
                        let _ = child.kill();
                        break End::Stopped;
                    }
                    Watch::StopAfter(grace) => {
                        stopping = true;
                        deadline = deadline.min(Instant::now() + grace);
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().context("cannot wait for QEMU")?;
                break if stopping {
                    End::Stopped
                } else {
                    End::Exited(status.code())
                };
            }
        }
    };
    let _ = child.wait();
    // The reader ends at EOF now that QEMU is gone; collect what is left.
    let _ = reader.join();
    while let Ok(line) = rx.try_recv() {
        if end != End::Stopped {
            lines.push(line);
        }
    }
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Capture { lines, end, stderr })
}

/// What a console script wants after new output (or a quiet tick).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interact {
    /// Keep reading.
    Wait,
    /// Write these bytes to QEMU's stdin (the guest's UART receive side).
    Send(String),
    /// Stop QEMU now.
    Stop,
}

/// How often a console script is asked even when QEMU is quiet, so that it
/// can keep its own deadlines.
const CONSOLE_TICK: Duration = Duration::from_millis(50);

/// Runs QEMU headless with its stdin piped, for a scripted console session.
/// `drive` sees the whole console output so far (partial last line
/// included: a prompt has no newline) and the time since start, after each
/// batch of output (all that has come: no chunk waits behind a look) and
/// at least every 50 ms, and answers what to do. Ends when `drive` says
/// stop, QEMU exits, or `timeout` passes; the capture's lines are the
/// whole transcript.
pub fn run_console(
    qemu: &Path,
    args: &[String],
    timeout: Duration,
    echo: bool,
    mut drive: impl FnMut(&str, Duration) -> Interact,
) -> Result<Capture> {
    use std::io::{Read as _, Write as _};

    let mut child = spawn(qemu, args, Stdio::piped(), Stdio::piped())?;
    let mut stdin = child.stdin.take().context("no stdin pipe")?;
    let mut stdout = child.stdout.take().context("no stdout pipe")?;
    let mut stderr = child.stderr.take().context("no stderr pipe")?;

    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let start = Instant::now();
    let deadline = start + timeout;
    let mut bytes = Vec::new();
    // Where the console's next unexamined line starts (post-mortem triggers).
    let mut scanned = 0;
    // The console as text, decoded as it comes (a character split between
    // two chunks waits for the rest): decoding all of it after every chunk
    // made a chatty image's test fall behind its console.
    let mut transcript = String::new();
    let mut decoded = 0;
    let end = loop {
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            break End::TimedOut;
        }
        match rx.recv_timeout((deadline - now).min(CONSOLE_TICK)) {
            Ok(chunk) => {
                // Everything that has come, not one chunk per look: QEMU
                // writes the console a byte at a time, and a script that
                // judged its deadline after each chunk could fail a step
                // whose text waited in the queue behind it.
                let mut out = echo.then(std::io::stdout);
                for chunk in std::iter::once(chunk).chain(rx.try_iter()) {
                    if let Some(out) = &mut out {
                        let _ = out.write_all(&chunk);
                    }
                    bytes.extend_from_slice(&chunk);
                }
                if let Some(out) = &mut out {
                    let _ = out.flush();
                }
                while let Some(nl) = bytes[scanned..].iter().position(|&b| b == b'\n') {
                    postmortem::on_trigger(
                        args,
                        &String::from_utf8_lossy(&bytes[scanned..scanned + nl]),
                    );
                    scanned += nl + 1;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().context("cannot wait for QEMU")?;
                break End::Exited(status.code());
            }
        }
        decoded += decode_into(&mut transcript, &bytes[decoded..]);
        match drive(&transcript, start.elapsed()) {
            Interact::Wait => {}
            Interact::Send(text) => {
                // QEMU may have exited meanwhile; the next read says so.
                let _ = stdin.write_all(text.as_bytes());
                let _ = stdin.flush();
            }
            Interact::Stop => {
                let _ = child.kill();
                break End::Stopped;
            }
        }
    };
    drop(stdin);
    let _ = child.wait();
    let _ = reader.join();
    while let Ok(chunk) = rx.try_recv() {
        if end != End::Stopped {
            bytes.extend_from_slice(&chunk);
        }
    }
    let stderr = err_reader.join().unwrap_or_default();
    let lines = String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    Ok(Capture { lines, end, stderr })
}

/// Appends what of `new` is text to `out`: every whole character, a byte
/// that can never be one as U+FFFD, and nothing of a character whose last
/// bytes have not come yet. Returns how many bytes of `new` it took.
fn decode_into(out: &mut String, new: &[u8]) -> usize {
    let mut taken = 0;
    loop {
        match std::str::from_utf8(&new[taken..]) {
            Ok(text) => {
                out.push_str(text);
                return new.len();
            }
            Err(e) => {
                let good = taken + e.valid_up_to();
                out.push_str(std::str::from_utf8(&new[taken..good]).unwrap_or(""));
                match e.error_len() {
                    Some(bad) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        taken = good + bad;
                    }
                    None => return good,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{command_line, decode_into, prepare_drives};

    #[test]
    fn console_text_is_decoded_as_it_comes() {
        let all = "vireo> é€ ok\n".as_bytes();
        let mut out = String::new();
        let mut taken = 0;
        // Byte by byte: a character split between chunks waits for the rest.
        for end in 1..=all.len() {
            taken += decode_into(&mut out, &all[taken..end]);
        }
        assert_eq!(out, "vireo> é€ ok\n");
        let mut out = String::new();
        assert_eq!(decode_into(&mut out, b"a\xffb\xe2\x82"), 3);
        assert_eq!(out, "a\u{fffd}b");
    }
    use crate::config::tests::{parse, BASE};
    use std::path::Path;

    /// A script slow to look (a loaded machine) is handed all the output
    /// that came meanwhile at its next look, not one chunk per look: it
    /// would fall behind a console that writes faster than it looks, and
    /// judge its deadlines on output older and older (4,000 lines at
    /// 2 ms a look took 8 s).
    #[test]
    fn a_slow_script_is_handed_all_that_came() {
        let fake = "i=0; while [ $i -lt 4000 ]; do echo \"[  0.000001] storm: faulted $i\"; \
                    i=$((i+1)); done; echo answer; exec sleep 20";
        let mut looks = 0;
        let cap = super::run_console(
            Path::new("sh"),
            &["-c".to_string(), fake.to_string()],
            std::time::Duration::from_secs(60),
            false,
            |console, _| {
                looks += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
                if console.ends_with("answer\n") {
                    super::Interact::Stop
                } else {
                    super::Interact::Wait
                }
            },
        )
        .unwrap();
        assert_eq!(cap.end, super::End::Stopped, "{:?}", cap.lines.last());
        assert!(looks < 1000, "{looks} looks at 4,001 lines");
    }

    #[test]
    fn basic_command_line() {
        let app = parse(BASE).unwrap();
        let args = command_line(
            &app,
            Path::new("/w/target/t/dist/image.elf"),
            Path::new("/w/target/t"),
            false,
        );
        assert_eq!(
            args.join(" "),
            "-machine virt -bios none -nographic -m 128M -kernel /w/target/t/dist/image.elf \
             -chardev socket,path=/w/target/t/gdb.sock,server=on,wait=off,id=vireo-gdb -gdb chardev:vireo-gdb"
        );
    }

    #[test]
    fn args_drives_and_icount() {
        let text = format!(
            "{BASE}\n[qemu]\nmemory = 64\nargs = [\"-global\", \"virtio-mmio.force-legacy=false\"]\n\
             [[qemu.drives]]\nfile = \"disk,1.img\"\nsize = 4096\ndevice = \"virtio-blk-device\"\n"
        );
        let app = parse(&text).unwrap();
        let args = command_line(&app, Path::new("/i.elf"), Path::new("/w/target/t"), true);
        assert_eq!(
            args.join(" "),
            "-machine virt -bios none -nographic -m 64M -kernel /i.elf -global virtio-mmio.force-legacy=false \
             -drive file=/w/target/t/disk,,1.img,if=none,format=raw,id=drive0 -device virtio-blk-device,drive=drive0 \
             -icount shift=0 -chardev socket,path=/w/target/t/gdb.sock,server=on,wait=off,id=vireo-gdb \
             -gdb chardev:vireo-gdb"
        );
    }

    #[test]
    fn the_first_drive_gets_the_lowest_slot() {
        let text = format!(
            "{BASE}\n[[qemu.drives]]\nfile = \"d0.img\"\nsize = 512\ndevice = \"virtio-blk-device\"\n\
             [[qemu.drives]]\nfile = \"d1.img\"\nsize = 512\ndevice = \"virtio-blk-device\"\n"
        );
        let app = parse(&text).unwrap();
        let args = command_line(&app, Path::new("/i.elf"), Path::new("/w"), false).join(" ");
        // The later -device is in the lower slot.
        let (d1, d0) = (args.find("d1.img").unwrap(), args.find("d0.img").unwrap());
        assert!(d1 < d0, "{args}");
        assert!(
            args.contains("file=/w/d0.img,if=none,format=raw,id=drive0"),
            "{args}"
        );
    }

    #[test]
    fn one_run_of_an_image_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::lock_image(dir.path(), "t").unwrap();
        let second = super::lock_image(dir.path(), "t").unwrap_err().to_string();
        assert!(second.contains("image `t` is already running"), "{second}");
        drop(first);
        assert!(super::lock_image(dir.path(), "t").is_ok());
    }

    #[test]
    fn drives_are_created_zero_filled_and_kept_unless_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{BASE}\n[[qemu.drives]]\nfile = \"d/disk.img\"\nsize = 4096\ndevice = \"virtio-blk-device\"\n");
        let app = parse(&text).unwrap();
        prepare_drives(&app, dir.path(), false).unwrap();
        let path = dir.path().join("d/disk.img");
        assert_eq!(std::fs::read(&path).unwrap(), vec![0; 4096]);
        std::fs::write(&path, [7; 4096]).unwrap();
        prepare_drives(&app, dir.path(), false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![7; 4096]);
        // A disk smaller than app.toml's size (the size was raised) grows,
        // its contents kept; a larger one is not cut.
        std::fs::write(&path, b"keep").unwrap();
        prepare_drives(&app, dir.path(), false).unwrap();
        let mut grown = b"keep".to_vec();
        grown.resize(4096, 0);
        assert_eq!(std::fs::read(&path).unwrap(), grown);
        std::fs::write(&path, [9; 8192]).unwrap();
        prepare_drives(&app, dir.path(), false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![9; 8192]);
        // Test runs start from a zeroed disk every time.
        prepare_drives(&app, dir.path(), true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![0; 4096]);
    }
}
