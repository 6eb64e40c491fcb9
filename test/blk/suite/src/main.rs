//! The virtio-blk QEMU test suite (`test/blk-legacy.toml`,
//! `test/blk-modern.toml`: the same tasks on both virtio-mmio versions).
//!
//! Two driver tasks, `blk0` and `blk1` (the same crate), drive two disks;
//! the app file lists the drives so that `blk0`, which registers first,
//! gets the disk with serial `blk0`. Each case is reported as
//! `[test] case <name> ... ok` / `... FAIL: <reason>`, then `[test] done`,
//! then the supervisor stops the machine with the failure count.
//!
//! Cases: info (capacity and serial of both disks); write-then-read round
//! trips of 1 sector, 8 sectors and 64 KiB at sector 0, ending at the last
//! sector and across the middle; out-of-range and unaligned requests (1,
//! 100, 513, 4095 and 65,535 bytes; zero bytes at and past the end) and
//! leases longer than 64 KiB;
//! flush; two clients hammering one disk at once (with `blk_helper`); two
//! disks are independent; and removal: the operator unbinds `blk1`'s slot
//! (through `blk_helper`) while a request is in flight, which must fail
//! with `Removed`, and the disk works again after `bind`.
//!
//! A case must never pass by skipping: every path that does not reach its
//! checks reports a failure.
//!
//! Each disk's size is the app file's (`VIREO_DRIVES`, by serial), not
//! what the driver under test reports: the disks may be resized there (of
//! at least `MIN_SECTORS`, an odd count of sectors too), and
//! test/blk-modern.toml gives blk0 one sector more than 1 MiB.

#![no_std]
#![no_main]
// A case fails with its message formatted on the stack (no allocator).
#![allow(clippy::result_large_err)]

use abi::ReplyFaultReason;
use block_api::{BlockClient, BlockError, MAX_TRANSFER};
use idol_runtime::{ProtocolError, RequestError, UserlibIpc};
use test_harness::{check, fail, run_case, Case, CaseResult, LineBuf};
use userlib::{sleep_ms, sys_log, sys_post, tasks};

/// Notification bit for `sleep_ms` (app file: `notifications = ["timer"]`).
const TIMER_BIT: u32 = 1 << 0;
/// The helper's "go" bit.
const HELPER_GO: u32 = 1 << 0;
/// The suite's hammering region on blk0 (the helper's is at 1536; the
/// round trips use 0..128 and 128 sectors across the middle and at the end
/// of the disk, which may overlap them: they come first).
const SUITE_REGION: u64 = 512;
/// The helper's region, marker and final pattern (see test/blk/helper).
const HELPER_REGION: u64 = 1536;
const HELPER_SECTORS: u64 = 64;
const HELPER_MARKER: u64 = HELPER_REGION + HELPER_SECTORS;
const HELPER_SEED: u8 = 0xEE;
/// The smallest disk blk0 may be: the helper's marker is its last sector.
const MIN_SECTORS: u64 = HELPER_MARKER + 1;

/// The size in sectors the app file gives the disk with this serial
/// (`VIREO_DRIVES`: `serial:sectors,...`, set by `cargo xtask build`).
fn app_sectors(serial: &str) -> Option<u64> {
    option_env!("VIREO_DRIVES")?
        .split(',')
        .filter_map(|d| d.split_once(':'))
        .find(|&(name, _)| name == serial)?
        .1
        .parse()
        .ok()
}

type Blk = BlockClient<UserlibIpc>;

/// The test data: a byte per position on the disk and seed (the helper
/// computes the same).
fn pattern(seed: u8, sector: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let at = sector.wrapping_mul(512).wrapping_add(i as u64);
        *b = (at as u8).wrapping_mul(31) ^ seed ^ (at >> 9) as u8;
    }
}

/// The first offset where `buf` differs from the pattern.
fn mismatch(seed: u8, sector: u64, buf: &[u8]) -> Option<usize> {
    buf.iter().enumerate().position(|(i, b)| {
        let at = sector.wrapping_mul(512).wrapping_add(i as u64);
        *b != (at as u8).wrapping_mul(31) ^ seed ^ (at >> 9) as u8
    })
}

/// The one buffer (the suite's RAM is small): 64 KiB and a sector more,
/// for a lease longer than a request may be.
static mut BUF: [u8; MAX_TRANSFER + 512] = [0; MAX_TRANSFER + 512];

struct Suite {
    blk0: Blk,
    blk1: Blk,
    buf: &'static mut [u8; MAX_TRANSFER + 512],
    /// blk0's size in sectors, as the app file gives it.
    sectors: u64,
}

impl Suite {
    /// Writes `sectors` of pattern `seed` at `sector` on `disk`, reads them
    /// back into a cleared buffer and compares.
    fn round_trip(&mut self, disk: u8, sector: u64, sectors: u64, seed: u8) -> CaseResult {
        let blk = if disk == 0 { &self.blk0 } else { &self.blk1 };
        let data = &mut self.buf[..(sectors * 512) as usize];
        pattern(seed, sector, data);
        if let Err(e) = blk.write(sector, data) {
            fail!("write of {sectors} sectors at {sector}: {e:?}");
        }
        data.fill(0);
        if let Err(e) = blk.read(sector, data) {
            fail!("read of {sectors} sectors at {sector}: {e:?}");
        }
        if let Some(at) = mismatch(seed, sector, data) {
            fail!(
                "{sectors} sectors at {sector}: byte {at} reads {:#04x}",
                data[at]
            );
        }
        Ok(())
    }
}

fn serial(s: &[u8; 20]) -> &str {
    abi::nul_padded_str(s)
}

fn info_of_both_disks(s: &mut Suite) -> CaseResult {
    for (name, blk) in [("blk0", &s.blk0), ("blk1", &s.blk1)] {
        let info = match blk.info() {
            Ok(i) => i,
            Err(e) => fail!("{name}: info: {e:?}"),
        };
        let Some(expected) = app_sectors(name) else {
            fail!("the app file has no drive with serial={name}")
        };
        check!(
            info.capacity_sectors == expected,
            "{name}: capacity {} sectors, the app file gives {expected}",
            info.capacity_sectors
        );
        check!(info.read_only == 0, "{name}: read-only");
        check!(
            info.block_size >= 512,
            "{name}: block size {}",
            info.block_size
        );
        check!(
            serial(&info.serial) == name,
            "{name}: serial '{}', expected '{name}' (disk assignment)",
            serial(&info.serial)
        );
    }
    Ok(())
}

fn errors(s: &mut Suite) -> CaseResult {
    let cases: [(&str, Result<(), RequestError<BlockError>>, BlockError); 10] = [
        (
            "read past the end",
            s.blk0.read(s.sectors, &mut s.buf[..512]),
            BlockError::OutOfRange,
        ),
        (
            "read across the end",
            s.blk0.read(s.sectors - 1, &mut s.buf[..1024]),
            BlockError::OutOfRange,
        ),
        (
            "64 KiB read across the end",
            s.blk0.read(s.sectors - 127, &mut s.buf[..MAX_TRANSFER]),
            BlockError::OutOfRange,
        ),
        (
            "write at u64::MAX",
            s.blk0.write(u64::MAX, &s.buf[..512]),
            BlockError::OutOfRange,
        ),
        (
            "zero-length read past the end",
            s.blk0.read(s.sectors + 1, &mut s.buf[..0]),
            BlockError::OutOfRange,
        ),
        (
            "read of 1 byte",
            s.blk0.read(0, &mut s.buf[..1]),
            BlockError::UnalignedLength,
        ),
        (
            "read of 100 bytes",
            s.blk0.read(0, &mut s.buf[..100]),
            BlockError::UnalignedLength,
        ),
        (
            "read of 4095 bytes",
            s.blk0.read(0, &mut s.buf[..4095]),
            BlockError::UnalignedLength,
        ),
        (
            "write of 513 bytes",
            s.blk0.write(0, &s.buf[..513]),
            BlockError::UnalignedLength,
        ),
        (
            "write of 64 KiB - 1",
            s.blk0.write(0, &s.buf[..MAX_TRANSFER - 1]),
            BlockError::UnalignedLength,
        ),
    ];
    for (what, got, want) in cases {
        check!(
            got == Err(RequestError::Server(want)),
            "{what}: {got:?}, expected {want:?}"
        );
    }
    // Zero bytes at the end: nothing to do, and done.
    let got = s.blk0.read(s.sectors, &mut s.buf[..0]);
    check!(got == Ok(()), "zero-length read at the end: {got:?}");
    // A lease longer than a request may be is refused at the driver's
    // dispatch (an untrusted server's reply_fault reaches us as an error).
    let rejected = Err(RequestError::Protocol(ProtocolError::Rejected(
        ReplyFaultReason::BadLeases,
    )));
    for len in [MAX_TRANSFER + 1, MAX_TRANSFER + 512] {
        let got = s.blk0.read(0, &mut s.buf[..len]);
        check!(got == rejected, "read of {len} bytes: {got:?}");
        let got = s.blk0.write(0, &s.buf[..len]);
        check!(got == rejected, "write of {len} bytes: {got:?}");
    }
    Ok(())
}

/// The suite hammers its region while the helper hammers its own; then
/// the helper's marker and final pattern are checked.
fn two_clients_hammer(s: &mut Suite) -> CaseResult {
    for round in 0..40u64 {
        let sector = SUITE_REGION + (round * 16) % 64;
        s.round_trip(0, sector, 16, round as u8 ^ 0x55)?;
    }
    let mut marker = [0u8; 512];
    let mut waited = 0;
    loop {
        if let Err(e) = s.blk0.read(HELPER_MARKER, &mut marker) {
            fail!("marker read: {e:?}");
        }
        if marker.starts_with(b"HAMMER") {
            break;
        }
        check!(waited < 5000, "the helper did not finish within 5 s");
        sleep_ms(10, TIMER_BIT);
        waited += 10;
    }
    check!(
        marker.starts_with(b"HAMMER OK"),
        "the helper saw wrong data in round {}",
        u32::from_le_bytes([marker[12], marker[13], marker[14], marker[15]])
    );
    let region = &mut s.buf[..(HELPER_SECTORS * 512) as usize];
    if let Err(e) = s.blk0.read(HELPER_REGION, region) {
        fail!("helper region read: {e:?}");
    }
    if let Some(at) = mismatch(HELPER_SEED, HELPER_REGION, region) {
        fail!("helper region: byte {at} is wrong");
    }
    Ok(())
}

fn two_disks_are_independent(s: &mut Suite) -> CaseResult {
    let sector = 5;
    let (a, b) = s.buf.split_at_mut(512);
    let b = &mut b[..512];
    pattern(0xA0, sector, a);
    pattern(0xB1, sector, b);
    if let Err(e) = s.blk0.write(sector, a) {
        fail!("blk0 write: {e:?}");
    }
    if let Err(e) = s.blk1.write(sector, b) {
        fail!("blk1 write: {e:?}");
    }
    a.fill(0);
    b.fill(0);
    if let (Err(e), _) | (_, Err(e)) = (s.blk0.read(sector, a), s.blk1.read(sector, b)) {
        fail!("read back: {e:?}");
    }
    check!(
        mismatch(0xA0, sector, a).is_none(),
        "blk0 holds the wrong data"
    );
    check!(
        mismatch(0xB1, sector, b).is_none(),
        "blk1 holds the wrong data"
    );
    Ok(())
}

/// Waits until blk1 answers `info` again (re-probed after `bind`).
fn wait_for_blk1(s: &Suite) -> CaseResult {
    for _ in 0..200 {
        match s.blk1.info() {
            Ok(_) => return Ok(()),
            Err(RequestError::Server(BlockError::Removed | BlockError::NoDevice)) => {
                sleep_ms(5, TIMER_BIT)
            }
            Err(e) => fail!("blk1 after bind: {e:?}"),
        }
    }
    fail!("blk1 was not probed again within 1 s of bind")
}

/// The helper unbinds blk1's slot while the suite's request is in flight:
/// it fails with `Removed` — or, if the device was faster than the unbind,
/// completes normally (then try again). Even attempts use a flush (the
/// host's fdatasync keeps it on the device for a while), odd ones a 64 KiB
/// read whose data must be right if it completes.
fn removal_fails_in_flight_requests(s: &mut Suite) -> CaseResult {
    pattern(0x3C, 0, &mut s.buf[..MAX_TRANSFER]);
    if let Err(e) = s.blk1.write(0, &s.buf[..MAX_TRANSFER]) {
        fail!("blk1 write: {e:?}");
    }
    const ATTEMPTS: u32 = 16;
    for attempt in 0..ATTEMPTS {
        s.buf.fill(0);
        // The helper is less important: it runs once we are blocked in
        // the call below, with the request on the virtqueue.
        let _ = sys_post(tasks::BLK_HELPER, HELPER_GO);
        let flush = attempt % 2 == 0;
        let got = if flush {
            s.blk1.flush()
        } else {
            s.blk1.read(0, &mut s.buf[..MAX_TRANSFER])
        };
        sleep_ms(20, TIMER_BIT);
        // Unbound now: requests are answered at once.
        let after = s.blk1.read(0, &mut s.buf[..512]);
        check!(
            after == Err(RequestError::Server(BlockError::Removed)),
            "a read while unbound: {after:?}, expected Removed"
        );
        let _ = sys_post(tasks::BLK_HELPER, HELPER_GO);
        wait_for_blk1(s)?;
        match got {
            Err(RequestError::Server(BlockError::Removed)) => {
                sys_log!(
                    "[test] (in-flight {} removed on attempt {attempt})",
                    if flush { "flush" } else { "read" }
                );
                let mut check = [0u8; 512];
                if let Err(e) = s.blk1.read(0, &mut check) {
                    fail!("blk1 read after bind: {e:?}");
                }
                check!(
                    mismatch(0x3C, 0, &check).is_none(),
                    "blk1 lost its data over the unbind"
                );
                return Ok(());
            }
            Ok(()) => {
                check!(
                    flush || mismatch(0x3C, 0, &s.buf[..MAX_TRANSFER]).is_none(),
                    "a read that beat the unbind returned wrong data"
                );
            }
            Err(e) => fail!("in-flight request: {e:?}, expected Removed"),
        }
    }
    fail!("the device completed every request before the unbind ({ATTEMPTS} attempts)")
}

fn flush(s: &mut Suite) -> CaseResult {
    match s.blk0.flush() {
        Ok(()) => Ok(()),
        Err(e) => fail!("{e:?}"),
    }
}

/// The cases after the round trips, in order.
const AFTER_ROUND_TRIPS: &[Case<Suite>] = &[
    (
        "out_of_range_and_unaligned_requests_get_their_errors",
        errors,
    ),
    ("flush", flush),
    (
        "two_clients_hammer_one_disk_concurrently",
        two_clients_hammer,
    ),
    ("two_disks_are_independent", two_disks_are_independent),
    (
        "unbind_fails_in_flight_requests_with_removed",
        removal_fails_in_flight_requests,
    ),
];

#[export_name = "main"]
fn main() -> ! {
    // SAFETY: the only reference ever made to BUF.
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(BUF) };
    let sectors = match app_sectors("blk0") {
        Some(n) if n >= MIN_SECTORS => n,
        got => {
            // Not the driver's fault: say so rather than fail its cases.
            let failed = run_case(&mut (), "blk0s_disk_fits_the_suite", |_| {
                fail!("the app file gives the disk with serial=blk0 {got:?} sectors; the suite needs at least {MIN_SECTORS}")
            });
            test_harness::finish(failed)
        }
    };
    let mut s = Suite {
        blk0: BlockClient::new(UserlibIpc, tasks::BLK0),
        blk1: BlockClient::new(UserlibIpc, tasks::BLK1),
        buf,
        sectors,
    };
    let mut failed = 0;
    let last = s.sectors;
    let middle = last / 2;
    failed += run_case(
        &mut s,
        "info_capacity_and_serial_of_both_disks",
        info_of_both_disks,
    );
    for (sectors, label) in [(1u64, "1_sector"), (8, "8_sectors"), (128, "64k")] {
        for (sector, at) in [
            (0, "at_0"),
            (last - sectors, "ending_at_last"),
            (middle - sectors / 2, "across_middle"),
        ] {
            let mut name = LineBuf::new();
            let _ = core::fmt::Write::write_fmt(&mut name, format_args!("round_trip_{label}_{at}"));
            let name = core::str::from_utf8(name.as_bytes()).unwrap_or("round_trip");
            let seed = (sectors as u8).wrapping_add(sector as u8);
            failed += run_case(&mut s, name, |s| s.round_trip(0, sector, sectors, seed));
        }
    }
    failed += test_harness::run_cases(&mut s, AFTER_ROUND_TRIPS);
    test_harness::finish(failed)
}
