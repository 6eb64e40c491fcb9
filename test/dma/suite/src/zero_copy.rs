//! Zero-copy DMA and the reset ordering (issue 9): a 64 KiB read lands in
//! the client's buffer straight from the device, and a driver that dies
//! with such a read on its device leaves the client's buffer and its own
//! restarted memory untouched.

use abi::{dead_generation, Injection};
use block_api::{BlockClient, BlockOp};
use idol_runtime::UserlibIpc;
use test_harness::{check, fail, task_status, CaseResult, LineBuf};
use userlib::{sleep_ms, sys_log, sys_post, sys_refresh_task_id, sys_send, tasks};

use super::{Suite, ARM_BIT, TIMER_BIT};

/// The client buffer of the zero-copy case: a 64 KiB read lands here
/// straight from the device.
static mut BIG: [u8; 65536] = [0; 65536];

fn big() -> &'static mut [u8; 65536] {
    // SAFETY: as for `exposed`: one reference at a time.
    unsafe { &mut *core::ptr::addr_of_mut!(BIG) }
}

/// blk0's RAM in `test/dma.toml`: all of it is fingerprinted.
const BLK0_RAM: u32 = 524288;

/// The disk pattern of sector `i`'s byte `j` (blk0's disk).
fn pattern(i: usize) -> u8 {
    (i as u8).wrapping_mul(31) ^ (i >> 9) as u8
}

pub(super) fn zero_copy_reads_and_writes_reach_the_client(_: &mut Suite) -> CaseResult {
    let blk = BlockClient::new(UserlibIpc, tasks::BLK0);
    let b = big();
    for (i, x) in b.iter_mut().enumerate() {
        *x = pattern(i);
    }
    if let Err(e) = blk.write(0, &b[..]) {
        fail!("64 KiB write through blk0: {e:?}");
    }
    b.fill(0);
    if let Err(e) = blk.read(0, &mut b[..]) {
        fail!("64 KiB read through blk0: {e:?}");
    }
    if let Some(i) = b.iter().enumerate().position(|(i, &x)| x != pattern(i)) {
        fail!("64 KiB read back differs at byte {i}");
    }
    Ok(())
}

pub(super) fn a_driver_dying_with_a_zero_copy_read_leaves_the_client_alone(
    _: &mut Suite,
) -> CaseResult {
    let blk0 = tasks::BLK0.index() as u32;
    let st = task_status(tasks::BLK0)?;
    let (before, gen) = (st.fault_count, st.generation);
    let helper = sys_refresh_task_id(tasks::HELPER);
    if let Err(c) = sys_post(helper, ARM_BIT) {
        fail!("arming the helper: {c:#x}");
    }
    let b = big();
    b.fill(0xA5);
    // A raw call (no retry): the helper faults blk0 while this read is on
    // its device, and the DEAD code is the moment to watch from.
    let (code, _) = sys_send(
        sys_refresh_task_id(tasks::BLK0),
        BlockOp::Read as u16,
        &0u64.to_le_bytes(),
        &mut [],
        &[userlib::lease_write(&mut b[..])],
    );
    check!(
        dead_generation(code).is_some(),
        "the read ended with {code:#x}, not DEAD: the helper did not strike in time"
    );
    // From here on nothing may write the buffer: overwrite it and watch.
    b.fill(0x3C);
    let after = task_status(tasks::BLK0)?.fault_count;
    check!(
        after == before + 1,
        "blk0 faulted {} times during the read",
        after - before
    );
    // Wait for the new incarnation to finish starting (blocked waiting for
    // work, its syscall count settled), with no request to it: from then on
    // nothing legitimate writes its RAM (stack, bounce buffers) or its ring
    // region. The kernel fingerprints both at once (the old device, had it
    // not been reset, would still be on its 64 KiB), the client's buffer is
    // watched, and both fingerprints must be the same 0.8 s later.
    let mut last = u32::MAX;
    let mut settled = false;
    for _ in 0..50 {
        sleep_ms(20, TIMER_BIT);
        if let Ok(st) = task_status(tasks::BLK0) {
            let waiting = abi::TaskState::from_u32(st.state) == Some(abi::TaskState::InRecv);
            if st.generation != gen && waiting && st.syscalls == last {
                settled = true;
                break;
            }
            last = st.syscalls;
        }
    }
    check!(settled, "blk0 was not restarted and idle within 1 s");
    let idle = restarted_idle(gen)?;
    let first = fingerprints(blk0)?;
    // The first change of the client's buffer, if any; judged with the
    // driver's memory below, so that a failure names everything written.
    let mut client = None;
    for _ in 0..40 {
        sleep_ms(20, TIMER_BIT);
        if client.is_none() {
            client = b.iter().position(|&x| x != 0x3C).map(|i| (i, b[i]));
        }
    }
    let second = fingerprints(blk0)?;
    let still = restarted_idle(gen)?;
    let ram = first[0] != second[0];
    let rings = first[1] != second[1];
    if ram || rings || client.is_some() {
        let (i, x) = client.unwrap_or((0, 0x3C));
        sys_log!(
            "dma suite: blk0 RAM {:#010x} -> {:#010x}, rings {:#010x} -> {:#010x}; client byte {i} = {x:#04x}",
            first[0].before,
            second[0].before,
            first[1].before,
            second[1].before
        );
        fail!(
            "late DMA after DEAD into: blk0 RAM {ram}, blk0 rings {rings}, client {}",
            client.is_some()
        );
    }
    check!(
        still.syscalls == idle.syscalls,
        "the restarted blk0 did not stay idle ({} syscalls): the check proves nothing",
        still.syscalls - idle.syscalls
    );
    // The restarted driver serves the same read right.
    let blk = BlockClient::new(UserlibIpc, sys_refresh_task_id(tasks::BLK0));
    let mut again = [0u8; 512];
    for _ in 0..50 {
        if blk.read(0, &mut again).is_ok() {
            check!(
                again.iter().enumerate().all(|(i, &x)| x == pattern(i)),
                "blk0 reads wrong data after its restart"
            );
            return Ok(());
        }
        sleep_ms(20, TIMER_BIT);
    }
    fail!("blk0 does not serve within 1 s of its restart")
}

/// blk0's status, which must show a new incarnation (not generation
/// `old`, no fault since) blocked waiting for work.
fn restarted_idle(old: u32) -> Result<abi::TaskStatus, LineBuf> {
    let st = task_status(tasks::BLK0)?;
    check!(
        st.generation != old,
        "blk0 still has generation {old}: it was not restarted"
    );
    check!(
        abi::TaskState::from_u32(st.state) == Some(abi::TaskState::InRecv),
        "the restarted blk0 is not idle (state {})",
        st.state
    );
    Ok(st)
}

/// The kernel's fingerprints of `task`'s RAM and ring region.
fn fingerprints(task: u32) -> Result<[abi::InjectEvidence; 2], LineBuf> {
    let mut out = [abi::InjectEvidence::default(); 2];
    for (region, f) in out.iter_mut().enumerate() {
        *f = match test_harness::supervisor().inject(
            task,
            Injection::Fingerprint as u32,
            region as u32,
        ) {
            Ok(ev) => ev,
            Err(e) => fail!("fingerprint of blk0's region {region}: {e:?}"),
        };
        check!(f.after != 0, "blk0's region {region} is empty");
    }
    // What was covered: all of the RAM app.toml gives blk0.
    check!(
        out[0].after == BLK0_RAM,
        "the fingerprint covered {} bytes of blk0's RAM, not {BLK0_RAM}",
        out[0].after
    );
    Ok(out)
}
