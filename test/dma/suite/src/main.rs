//! The DMA confinement suite (`test/dma.toml`). A compromised virtio-blk
//! driver (`dma-test-attacker`, bound to the disk like any driver)
//! tries, on command, to aim its device at memory that is not its own; the
//! suite checks every attempt is refused with evidence:
//!
//! - through the kernel's gate, the exact `DMA_*` code and an available
//!   index that did not move (nothing was made available);
//! - around it, a fault of the driver recorded by the kernel with the kind
//!   (store access) and the exact address (its descriptor table, QueueSel,
//!   QueueDescLow, DriverFeatures), and no report of a device that read
//!   kernel text;
//! - memory the suite exposed (its RAM, a read-only lease, a lease of a
//!   call already answered) unchanged, no fault anywhere else, and the
//!   driver, restarted, still able to move a sector through the gate;
//! - the reset ordering (issue 9): the real driver `blk0` faulted with a
//!   64 KiB zero-copy read on its device; after DEAD, neither the client's
//!   buffer nor the restarted, idle `blk0`'s RAM and ring region (hashed by
//!   the kernel, `Injection::Fingerprint`: not a checksum the driver could
//!   fake) change for 0.8 s.

#![no_std]
#![no_main]

use abi::{
    dead_generation, FaultKind, Lease, DMA_BAD_BUFFER, DMA_BAD_FLAGS, DMA_BAD_LEASE, DMA_BAD_QUEUE,
    DMA_PINNED, LEASE_READ, LEASE_WRITE,
};
use idol_runtime::UserlibIpc;
use supervisor_api::SupervisorClient;
use test_harness::{check, fail, Case, CaseResult};
use userlib::{sleep_ms, sys_refresh_task_id, sys_send, tasks};
use virtio_bus_api::{slot_base, VirtioBusClient};
use zerocopy::{FromBytes, IntoBytes};

mod zero_copy;
use zero_copy::{
    a_driver_dying_with_a_zero_copy_read_leaves_the_client_alone,
    zero_copy_reads_and_writes_reach_the_client,
};

const BLOCK: u32 = 2;
/// The attack driver's "did not get that far".
const NOT_RUN: u32 = u32::MAX;
/// The suite's timer bit (app.toml `notifications = ["timer"]`).
const TIMER_BIT: u32 = 1;

/// Memory of the suite's that the rogue is pointed at (another task's
/// RAM, a read-only lease, a lease of an answered call): it must never
/// change.
static mut EXPOSED: [u8; 512] = [0xC3; 512];

fn exposed() -> &'static mut [u8; 512] {
    // SAFETY: the suite is single-threaded and only this function makes
    // references to it, one at a time (each use ends before the next).
    unsafe { &mut *core::ptr::addr_of_mut!(EXPOSED) }
}

/// The helper's notification bit (app.toml `helper.notifications`).
const ARM_BIT: u32 = 1;

fn exposed_intact() -> CaseResult {
    let e = exposed();
    if let Some(i) = e.iter().position(|&b| b != 0xC3) {
        fail!(
            "the suite's exposed buffer changed at byte {i} ({:#04x})",
            e[i]
        );
    }
    Ok(())
}

/// How one request to the rogue ended.
enum Outcome {
    /// It answered with its eight step codes.
    Replied([u32; 8]),
    /// It died during the call (DEAD code).
    Died,
}

struct Suite {
    sup: SupervisorClient<UserlibIpc>,
    /// The disk's window (the rogue's grant).
    window: u32,
    /// The rogue's ring region, from its setup.
    ring: u32,
    /// Faults of the rogue seen so far.
    rogue_faults: u32,
}

fn rogue_index() -> u32 {
    tasks::ROGUE.index() as u32
}

/// Has the rogue run attack `n` with `args`, lending `leases`.
fn ask(n: u16, args: [u32; 4], leases: &[Lease]) -> Result<Outcome, test_harness::LineBuf> {
    let mut reply = [0u8; 32];
    let rogue = sys_refresh_task_id(tasks::ROGUE);
    let (code, len) = sys_send(rogue, n, args.as_bytes(), &mut reply, leases);
    if dead_generation(code).is_some() {
        return Ok(Outcome::Died);
    }
    check!(
        code == 0 && len == 32,
        "attack {n}: the driver answered {code:#x}, {len} bytes"
    );
    match <[u32; 8]>::read_from_bytes(&reply) {
        Ok(r) => Ok(Outcome::Replied(r)),
        Err(_) => fail!("attack {n}: unreadable reply"),
    }
}

/// Attack `n` must be answered (a refusal is an answer).
fn answered(n: u16, args: [u32; 4], leases: &[Lease]) -> Result<[u32; 8], test_harness::LineBuf> {
    match ask(n, args, leases)? {
        Outcome::Replied(r) => Ok(r),
        Outcome::Died => fail!("attack {n}: the driver died instead of being refused"),
    }
}

/// Attack `n` (no arguments, no leases) makes two gated attempts, at
/// `r[0..]` and `r[3..]`: each must be refused with its code.
fn both_refused(n: u16, first: (u32, &str), second: (u32, &str)) -> CaseResult {
    let r = answered(n, [0; 4], &[])?;
    refused(&r, 0, first.0, first.1)?;
    refused(&r, 3, second.0, second.1)
}

/// A gated attempt `what` ([code, avail before, avail after] at `r[at..]`)
/// must be refused with `expected` and make nothing available.
fn refused(r: &[u32; 8], at: usize, expected: u32, what: &str) -> CaseResult {
    let (code, before, after) = (r[at], r[at + 1], r[at + 2]);
    check!(
        code == expected,
        "{what}: the kernel answered {code:#x}, expected {expected:#x}"
    );
    check!(
        before != NOT_RUN && before == after,
        "{what}: the available index moved from {before} to {after}"
    );
    Ok(())
}

impl Suite {
    /// Brings the rogue's device up through the kernel.
    fn setup(&mut self) -> CaseResult {
        let r = answered(1, [0; 4], &[])?;
        check!(r[0] == 0, "queue setup through the kernel gave {:#x}", r[0]);
        check!(
            r[1].is_power_of_two() && r[1] <= 16,
            "the kernel chose queue size {}",
            r[1]
        );
        check!(
            r[2] != 0 && r[2] % 4096 == 0,
            "ring at {:#x} is not page aligned",
            r[2]
        );
        self.ring = r[2];
        Ok(())
    }

    /// The rogue must have died during attack `n` of a store access fault
    /// at exactly `address`, recorded by the kernel, and come back.
    fn faulted_at(&mut self, n: u16, address: u32, what: &str) -> CaseResult {
        match ask(n, [0; 4], &[])? {
            Outcome::Died => {}
            Outcome::Replied(r) => {
                fail!("{what}: the driver was not stopped; it reports {:#x?}", r)
            }
        }
        let st = match self.sup.task_status(rogue_index()) {
            Ok(s) => s,
            Err(e) => fail!("task_status(rogue): {e:?}"),
        };
        check!(
            st.fault_count == self.rogue_faults + 1,
            "{what}: the rogue has {} faults, expected {}",
            st.fault_count,
            self.rogue_faults + 1
        );
        self.rogue_faults = st.fault_count;
        let f = st.last_fault;
        check!(
            f.kind == FaultKind::StoreAccess as u32 && f.address == address,
            "{what}: fault kind {} at {:#x}, expected a store access fault at {address:#x}",
            f.kind,
            f.address
        );
        self.queue_back(what)
    }

    /// The supervisor resets the device and restarts the rogue; it
    /// registers again and gets the disk back (`what` names the fault).
    fn queue_back(&mut self, what: &str) -> CaseResult {
        for _ in 0..50 {
            sleep_ms(20, TIMER_BIT);
            if let Ok(Outcome::Replied(r)) = ask(1, [0; 4], &[]) {
                if r[0] == 0 {
                    self.ring = r[2];
                    return Ok(());
                }
            }
        }
        fail!("{what}: the restarted driver did not get its queue back within 1 s")
    }

    /// The rogue still moves a sector through the gate.
    fn control(&mut self, round: u32) -> CaseResult {
        let r = answered(12, [round, 0, 0, 0], &[])?;
        check!(
            r[0] == 0,
            "control write: the kernel refused it ({:#x})",
            r[0]
        );
        check!(r[3] == 1, "control write: the device never used the chain");
        check!(
            r[4] == 0,
            "control read: the kernel refused it ({:#x})",
            r[4]
        );
        check!(r[5] == 1, "control read: the device never used the chain");
        check!(r[6] == 1, "control: sector 1 read back differently");
        Ok(())
    }
}

fn gate_sets_up_the_queue_and_moves_a_sector(s: &mut Suite) -> CaseResult {
    s.setup()?;
    s.control(1)
}

fn kernel_text_is_refused(_: &mut Suite) -> CaseResult {
    let r = answered(2, [0; 4], &[])?;
    refused(&r, 0, DMA_BAD_BUFFER, "kernel text as a disk write's data")
}

fn kernel_ram_is_refused_whole_and_split(_: &mut Suite) -> CaseResult {
    both_refused(
        3,
        (DMA_BAD_BUFFER, "a sector read into kernel RAM"),
        (
            DMA_BAD_BUFFER,
            "a read split 500 + 12 bytes into kernel RAM",
        ),
    )
}

fn another_tasks_ram_is_refused(_: &mut Suite) -> CaseResult {
    let addr = exposed().as_ptr() as u32;
    let r = answered(4, [addr, 0, 0, 0], &[])?;
    refused(&r, 0, DMA_BAD_BUFFER, "a sector read into the suite's RAM")?;
    exposed_intact()
}

fn device_windows_are_refused(_: &mut Suite) -> CaseResult {
    both_refused(
        5,
        (DMA_BAD_BUFFER, "its own device window"),
        (DMA_BAD_BUFFER, "the PLIC"),
    )
}

fn own_descriptor_table_and_text_are_refused(_: &mut Suite) -> CaseResult {
    both_refused(
        6,
        (DMA_BAD_BUFFER, "a sector read into its descriptor table"),
        (DMA_BAD_BUFFER, "its own text as a disk write's data"),
    )
}

fn read_only_and_answered_leases_are_refused(_: &mut Suite) -> CaseResult {
    let e = exposed();
    let addr = e.as_ptr() as u32;
    let lease = Lease {
        attributes: LEASE_READ,
        base: addr,
        len: 512,
    };
    let r = answered(8, [addr, 0, 0, 0], &[lease])?;
    refused(
        &r,
        0,
        DMA_BAD_BUFFER,
        "a read-only lease's address as a device write",
    )?;
    refused(&r, 3, DMA_BAD_LEASE, "a read-only lease as a device write")?;
    // The call above was answered: its lease is stale. Offer a writable
    // one meanwhile to another call, to be sure the kernel looks at the
    // call in progress and not at what was ever lent.
    let writable = Lease {
        attributes: LEASE_READ | LEASE_WRITE,
        base: addr + 256,
        len: 256,
    };
    let r = answered(9, [0; 4], &[writable])?;
    refused(
        &r,
        0,
        DMA_BAD_BUFFER,
        "the address of a call already answered",
    )?;
    refused(
        &r,
        3,
        DMA_BAD_LEASE,
        "512 bytes of a lease the current call lends 256 of",
    )?;
    exposed_intact()
}

/// The client's buffer for ops 16 to 20: the device reads sector 1 into
/// it.
static mut LENT: [u8; 512] = [0xEE; 512];

/// Gives sector 1 round `round`'s pattern, fills [`LENT`] with 0xEE and
/// has the rogue run attack `n` with a writable lease of it; the attack's
/// first post (`first`) must have been made available. The buffer and the
/// rogue's step codes.
fn lend_for_attack(
    s: &mut Suite,
    n: u16,
    round: u32,
    first: &str,
) -> Result<(&'static mut [u8; 512], [u32; 8]), test_harness::LineBuf> {
    s.control(round)?;
    // SAFETY: the suite is single-threaded and runs one attack at a time;
    // each attack takes this reference once and drops it before the next,
    // and the call below is the only lending of LENT.
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(LENT) };
    buf.fill(0xEE);
    let lease = Lease {
        attributes: LEASE_READ | LEASE_WRITE,
        base: buf.as_ptr() as u32,
        len: 512,
    };
    let r = answered(n, [0; 4], &[lease])?;
    check!(
        r[0] == 0 && r[2] == r[1].wrapping_add(1),
        "attack {n}, {first}: the kernel answered {:#x}, available index {} -> {}",
        r[0],
        r[1],
        r[2]
    );
    Ok((buf, r))
}

/// Has the rogue run attack `n`, which reads sector 1 into a writable
/// lease of [`LENT`] (its first step), after giving sector 1 round
/// `round`'s pattern; checks that read was made available and that the
/// buffer holds sector 1 once the call is answered. The rogue's step
/// codes, for the attack's own checks.
fn read_sector_1_into_a_lease(
    s: &mut Suite,
    n: u16,
    round: u32,
) -> Result<[u32; 8], test_harness::LineBuf> {
    let (buf, r) = lend_for_attack(s, n, round, "the lease read")?;
    let expected = |i: usize| (i as u8) ^ (round as u8);
    if let Some(i) = (0..512).find(|&i| buf[i] != expected(i)) {
        fail!(
            "attack {n}: byte {i} of the lent buffer is {:#04x}, sector 1 has {:#04x}",
            buf[i],
            expected(i)
        );
    }
    Ok(r)
}

fn a_reply_while_the_lease_is_on_the_device_is_refused(s: &mut Suite) -> CaseResult {
    let r = read_sector_1_into_a_lease(s, 16, 3)?;
    check!(
        r[3] == DMA_PINNED,
        "reply_recv with our lease posted: the driver saw {:#x}, not DMA_PINNED",
        r[3]
    );
    check!(r[4] == 1, "the device never used the lease read");
    Ok(())
}

fn a_lease_given_to_the_device_twice_is_refused(s: &mut Suite) -> CaseResult {
    let r = read_sector_1_into_a_lease(s, 17, 4)?;
    refused(
        &r,
        3,
        DMA_PINNED,
        "the lease's bytes given to the device again",
    )?;
    check!(r[6] == 1, "the device never used the first read");
    Ok(())
}

fn a_lease_chain_visiting_a_descriptor_twice_is_refused(s: &mut Suite) -> CaseResult {
    let r = read_sector_1_into_a_lease(s, 18, 5)?;
    check!(r[6] == 1, "the device never used the lease read");
    refused(
        &r,
        3,
        DMA_BAD_QUEUE,
        "a chain holding the lease whose links come back to a descriptor it holds",
    )
}

/// Has the rogue run attack `n`: a read of sector 1 into its own RAM
/// posted, then the same read into a writable lease of [`LENT`] over
/// descriptors the device holds for the first (after giving sector 1 round
/// `round`'s pattern). The first must be made available, the second
/// refused with DMA_PINNED and nothing more made available, the device
/// must have used the first; and the lent buffer must never change: not
/// before the answer, nor in the 300 ms after it (the device would write
/// it again there if the lease had reached it twice).
fn lease_chain_over_held_descriptors(s: &mut Suite, n: u16, round: u32, what: &str) -> CaseResult {
    let (buf, r) = lend_for_attack(s, n, round, "the read into its own RAM")?;
    refused(&r, 3, DMA_PINNED, what)?;
    check!(
        r[6] == 1,
        "attack {n}: the device never used the first read"
    );
    for step in 0..15 {
        if let Some(i) = buf.iter().position(|&b| b != 0xEE) {
            fail!(
                "attack {n}: byte {i} of the lent buffer became {:#04x}, {} ms after the answer",
                buf[i],
                20 * step
            );
        }
        sleep_ms(20, TIMER_BIT);
    }
    Ok(())
}

fn one_head_made_available_twice_is_refused(s: &mut Suite) -> CaseResult {
    lease_chain_over_held_descriptors(
        s,
        19,
        6,
        "a lease chain at a head the device holds for a chain of the driver's own",
    )
}

fn a_lease_chain_over_a_held_chains_tail_is_refused(s: &mut Suite) -> CaseResult {
    lease_chain_over_held_descriptors(
        s,
        20,
        7,
        "a lease chain over the tail of a chain the device holds",
    )
}

fn indirect_tables_and_lying_links_are_refused(_: &mut Suite) -> CaseResult {
    both_refused(
        10,
        (DMA_BAD_FLAGS, "an indirect table naming kernel RAM"),
        (DMA_BAD_QUEUE, "a chain whose next leaves the table"),
    )
}

fn store_into_the_descriptor_table_faults(s: &mut Suite) -> CaseResult {
    let ring = s.ring;
    s.faulted_at(13, ring, "a store into its descriptor table")
}

fn queue_registers_written_by_hand_fault(s: &mut Suite) -> CaseResult {
    // The attack: on a kernel without confinement the driver
    // reaches DRIVER_OK with its own ring and the device copies kernel
    // text to sector 0; here the first queue register stops it.
    match ask(14, [0; 4], &[])? {
        Outcome::Died => {}
        Outcome::Replied(r) => fail!(
            "own ring set up; sector 0 read back {:#010x} (marker kept: {}) after kernel text was written (used: {}, {})",
            r[3],
            r[4],
            r[1],
            r[2]
        ),
    }
    // `faulted_at` asks again; the rogue is already dead, so account here.
    let st = match s.sup.task_status(rogue_index()) {
        Ok(st) => st,
        Err(e) => fail!("task_status(rogue): {e:?}"),
    };
    let f = st.last_fault;
    check!(
        st.fault_count == s.rogue_faults + 1
            && f.kind == FaultKind::StoreAccess as u32
            && f.address == s.window + 0x030,
        "fault {} of kind {} at {:#x}, expected fault {} of a store access at QueueSel {:#x}",
        st.fault_count,
        f.kind,
        f.address,
        s.rogue_faults + 1,
        s.window + 0x030
    );
    s.rogue_faults = st.fault_count;
    s.queue_back("a store to QueueSel")
}

fn version_2_queue_address_register_faults(s: &mut Suite) -> CaseResult {
    let at = s.window + 0x080;
    s.faulted_at(15, at, "a store to QueueDescLow")
}

/// The feature registers are the kernel's too (a packed ring, accepted
/// by hand, made one checked descriptor an indirect table: red team).
fn driver_features_register_faults(s: &mut Suite) -> CaseResult {
    let at = s.window + 0x020;
    s.faulted_at(21, at, "a store to DriverFeatures")
}

fn kernel_and_other_tasks_are_intact(s: &mut Suite) -> CaseResult {
    exposed_intact()?;
    for (name, task) in [("supervisor", tasks::SUPERVISOR), ("suite", tasks::SUITE)] {
        let st = match s.sup.task_status(task.index() as u32) {
            Ok(st) => st,
            Err(e) => fail!("task_status({name}): {e:?}"),
        };
        check!(
            st.fault_count == 0,
            "{name} has faulted {} times",
            st.fault_count
        );
    }
    s.control(7)
}

#[export_name = "main"]
fn main() -> ! {
    let bus = VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR);
    let window = match bus.devices() {
        Ok(t) => t
            .slots
            .iter()
            .position(|e| e.device_id == BLOCK && e.driver == rogue_index())
            .map(|slot| slot_base(slot as u32) as u32)
            .unwrap_or(0),
        Err(_) => 0,
    };
    let mut s = Suite {
        sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
        window,
        ring: 0,
        rogue_faults: 0,
    };
    let cases: &[Case<Suite>] = &[
        (
            "gate_sets_up_the_queue_and_moves_a_sector",
            gate_sets_up_the_queue_and_moves_a_sector,
        ),
        ("kernel_text_is_refused", kernel_text_is_refused),
        (
            "kernel_ram_is_refused_whole_and_split",
            kernel_ram_is_refused_whole_and_split,
        ),
        ("another_tasks_ram_is_refused", another_tasks_ram_is_refused),
        ("device_windows_are_refused", device_windows_are_refused),
        (
            "own_descriptor_table_and_text_are_refused",
            own_descriptor_table_and_text_are_refused,
        ),
        (
            "read_only_and_answered_leases_are_refused",
            read_only_and_answered_leases_are_refused,
        ),
        (
            "a_reply_while_the_lease_is_on_the_device_is_refused",
            a_reply_while_the_lease_is_on_the_device_is_refused,
        ),
        (
            "a_lease_given_to_the_device_twice_is_refused",
            a_lease_given_to_the_device_twice_is_refused,
        ),
        (
            "a_lease_chain_visiting_a_descriptor_twice_is_refused",
            a_lease_chain_visiting_a_descriptor_twice_is_refused,
        ),
        (
            "one_head_made_available_twice_is_refused",
            one_head_made_available_twice_is_refused,
        ),
        (
            "a_lease_chain_over_a_held_chains_tail_is_refused",
            a_lease_chain_over_a_held_chains_tail_is_refused,
        ),
        (
            "indirect_tables_and_lying_links_are_refused",
            indirect_tables_and_lying_links_are_refused,
        ),
        (
            "store_into_the_descriptor_table_faults",
            store_into_the_descriptor_table_faults,
        ),
        (
            "queue_registers_written_by_hand_fault",
            queue_registers_written_by_hand_fault,
        ),
        (
            "version_2_queue_address_register_faults",
            version_2_queue_address_register_faults,
        ),
        (
            "driver_features_register_faults",
            driver_features_register_faults,
        ),
        (
            "zero_copy_reads_and_writes_reach_the_client",
            zero_copy_reads_and_writes_reach_the_client,
        ),
        (
            "a_driver_dying_with_a_zero_copy_read_leaves_the_client_alone",
            a_driver_dying_with_a_zero_copy_read_leaves_the_client_alone,
        ),
        (
            "kernel_and_other_tasks_are_intact",
            kernel_and_other_tasks_are_intact,
        ),
    ];
    test_harness::run_suite(&mut s, cases)
}
