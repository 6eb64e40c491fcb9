//! Leases: borrow_read, borrow_write, borrow_info and every way they fail.

use abi::{
    Lease, Sysnum, TaskId, UsageError, BORROW_NOT_LENT, BORROW_NO_SUCH_LEASE, BORROW_OUT_OF_RANGE,
    BORROW_WRONG_ATTRIBUTES, LEASE_READ, LEASE_WRITE, MAX_LEASES, SUCCESS,
};

use super::harness::*;
use crate::task::SchedState;

const LENT: &[u8; 16] = b"0123456789abcdef";

/// The client calls the server with leases `(attributes, offset, length)`
/// of `LENT` (at the client's `DATA`), and the server receives the call.
fn call_with(leases: &[(u32, usize, u32)]) -> Harness {
    let mut h = Harness::three();
    h.write(CLI, DATA, LENT);
    h.recv(SRV, 16, 0);
    let srv = h.id(SRV);
    let l: Vec<Lease> = leases
        .iter()
        .map(|&(attributes, off, len)| h.client_lease(attributes, off, len))
        .collect();
    h.send(CLI, srv, 1, b"", 0, &l);
    assert_eq!(h.sched(CLI), SchedState::InReply(srv));
    assert_eq!(h.received(SRV).leases, l.len());
    h
}

fn call_rw() -> Harness {
    call_with(&[(LEASE_READ | LEASE_WRITE, 0, 16)])
}

#[test]
fn borrow_read_copies_the_lent_bytes_at_an_offset() {
    let mut h = call_rw();
    let cli = h.id(CLI);
    assert_eq!(h.borrow_read(SRV, cli, 0, 4, 0, 6), (SUCCESS, 6));
    assert_eq!(h.read(SRV, DATA, 7), b"456789\0");
    // The whole lease, and exactly up to its end.
    assert_eq!(h.borrow_read(SRV, cli, 0, 0, 0x100, 16), (SUCCESS, 16));
    assert_eq!(h.read(SRV, DATA + 0x100, 16), LENT);
    assert_eq!(h.borrow_read(SRV, cli, 0, 10, 0x200, 6), (SUCCESS, 6));
    assert_eq!(h.read(SRV, DATA + 0x200, 6), b"abcdef");
    // The lender is still waiting.
    assert_eq!(h.sched(CLI), SchedState::InReply(h.id(SRV)));
}

#[test]
fn borrow_write_copies_into_the_lent_memory_at_an_offset() {
    let mut h = call_rw();
    let cli = h.id(CLI);
    h.write(SRV, DATA, b"XYZ");
    assert_eq!(h.borrow_write(SRV, cli, 0, 10, 0, 3), (SUCCESS, 3));
    assert_eq!(h.read(CLI, DATA, 17), b"0123456789XYZdef\0");
}

#[test]
fn borrow_past_the_end_of_the_lease_is_out_of_range() {
    let mut h = call_rw();
    let cli = h.id(CLI);
    h.write(SRV, DATA, &[0xEE; 8]);
    assert_eq!(h.borrow_read(SRV, cli, 0, 11, 0, 6).0, BORROW_OUT_OF_RANGE);
    assert_eq!(h.borrow_write(SRV, cli, 0, 11, 0, 6).0, BORROW_OUT_OF_RANGE);
    assert_eq!(h.borrow_read(SRV, cli, 0, 17, 0, 0).0, BORROW_OUT_OF_RANGE);
    assert_eq!(
        h.borrow_read(SRV, cli, 0, usize::MAX, 0, 1).0,
        BORROW_OUT_OF_RANGE
    );
    assert_eq!(h.borrow_read(SRV, cli, 0, 0, 0, 17).0, BORROW_OUT_OF_RANGE);
    // Nothing moved either way, and the server is not punished.
    assert_eq!(h.read(SRV, DATA, 8), [0xEE; 8]);
    assert_eq!(h.read(CLI, DATA, 16), LENT);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.ret(SRV, 1), 0);
}

#[test]
fn borrow_of_a_lease_index_that_does_not_exist() {
    let mut h = call_rw();
    let cli = h.id(CLI);
    assert_eq!(h.borrow_read(SRV, cli, 1, 0, 0, 1).0, BORROW_NO_SUCH_LEASE);
    assert_eq!(h.borrow_write(SRV, cli, 8, 0, 0, 1).0, BORROW_NO_SUCH_LEASE);
    assert_eq!(
        h.borrow_read(SRV, cli, usize::MAX, 0, 0, 1).0,
        BORROW_NO_SUCH_LEASE
    );
    assert_eq!(h.borrow_info(SRV, cli, 1).0, BORROW_NO_SUCH_LEASE);
}

#[test]
fn borrow_in_a_direction_the_lease_does_not_grant() {
    let mut h = call_with(&[(LEASE_READ, 0, 8), (LEASE_WRITE, 8, 8)]);
    let cli = h.id(CLI);
    h.write(SRV, DATA, b"!!!!");
    assert_eq!(
        h.borrow_write(SRV, cli, 0, 0, 0, 4).0,
        BORROW_WRONG_ATTRIBUTES
    );
    assert_eq!(
        h.borrow_read(SRV, cli, 1, 0, 0x100, 4).0,
        BORROW_WRONG_ATTRIBUTES
    );
    assert_eq!(h.read(CLI, DATA, 16), LENT);
    assert_eq!(h.read(SRV, DATA + 0x100, 4), [0; 4]);
    // The granted directions work, each on its own lease.
    assert_eq!(h.borrow_read(SRV, cli, 0, 0, 0x100, 4), (SUCCESS, 4));
    assert_eq!(h.read(SRV, DATA + 0x100, 4), b"0123");
    assert_eq!(h.borrow_write(SRV, cli, 1, 0, 0, 4), (SUCCESS, 4));
    assert_eq!(h.read(CLI, DATA, 16), b"01234567!!!!cdef");
}

#[test]
fn borrow_from_a_task_not_waiting_on_us_is_not_lent() {
    let mut h = Harness::new(&[("sup", 0), ("srv", 1), ("cli", 2), ("other", 3)]);
    h.write(CLI, DATA, LENT);
    let srv = h.id(SRV);
    let l = [h.client_lease(LEASE_READ | LEASE_WRITE, 0, 16)];
    // Sent but not yet received: not lent yet.
    h.send(CLI, srv, 1, b"", 0, &l);
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
    let cli = h.id(CLI);
    assert_eq!(h.borrow_read(SRV, cli, 0, 0, 0, 4).0, BORROW_NOT_LENT);
    // A task that lent nothing, and no task at all.
    let other = h.id(3);
    assert_eq!(h.borrow_read(SRV, other, 0, 0, 0, 4).0, BORROW_NOT_LENT);
    assert_eq!(
        h.borrow_read(SRV, TaskId::KERNEL, 0, 0, 0, 4).0,
        BORROW_NOT_LENT
    );
    // Received: lent to the server, but not to anyone else.
    h.recv(SRV, 16, 0);
    assert_eq!(h.borrow_read(SRV, cli, 0, 0, 0, 4), (SUCCESS, 4));
    h.write(3, DATA, b"evil");
    assert_eq!(h.borrow_read(3, cli, 0, 0, 0, 4).0, BORROW_NOT_LENT);
    assert_eq!(h.borrow_write(3, cli, 0, 0, 0, 4).0, BORROW_NOT_LENT);
    assert_eq!(h.read(CLI, DATA, 4), b"0123");
    // A stale id for the lender.
    let stale = TaskId::new(CLI as u16, abi::Generation(5));
    assert_eq!(h.borrow_read(SRV, stale, 0, 0, 0, 4).0, BORROW_NOT_LENT);
    // Replied: the lease ended.
    h.reply(SRV, cli, 0, b"");
    assert_eq!(h.borrow_read(SRV, cli, 0, 0, 0, 4).0, BORROW_NOT_LENT);
    assert_eq!(h.borrow_info(SRV, cli, 0).0, BORROW_NOT_LENT);
}

#[test]
fn borrow_info_reports_attributes_and_length() {
    let mut h = call_with(&[
        (LEASE_READ, 0, 16),
        (LEASE_READ | LEASE_WRITE, 4, 3),
        (LEASE_WRITE, 16, 0),
    ]);
    let cli = h.id(CLI);
    for (i, (attributes, len)) in [
        (LEASE_READ, 16),
        (LEASE_READ | LEASE_WRITE, 3),
        (LEASE_WRITE, 0),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            h.borrow_info(SRV, cli, i),
            (SUCCESS, attributes, len),
            "lease {i}"
        );
    }
}

#[test]
fn borrow_into_a_server_buffer_it_does_not_own_faults_the_server() {
    let mut h = call_rw();
    let cli = h.id(CLI);
    // Reading into the client's own memory, as if it were the server's.
    let target = h.addr(CLI, 0x100);
    h.syscall(SRV, Sysnum::BorrowRead, &[cli.0 as usize, 0, 0, target, 4]);
    h.assert_usage_fault(SRV, UsageError::InvalidSlice);
    // The client learns the server died.
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.ret(CLI, 0) as u32, abi::dead_code(abi::Generation(1)));
}

#[test]
fn lease_of_memory_the_sender_does_not_own_faults_the_sender() {
    let other = foreign(0x100);
    let (mut h, srv) = Harness::three_receiving(16);
    let pc = h.mem[CLI].text + 0x10;
    h.set_pc(CLI, pc);
    let good = h.client_lease(LEASE_READ, 0, 16);
    let bad = lease(LEASE_READ, other, 16);
    h.send(CLI, srv, 1, b"msg", 0, &[good, bad]);
    h.assert_usage_fault(CLI, UsageError::LeaseOutOfBounds);
    assert_eq!(h.fault(CLI).pc as usize, pc);
    assert_eq!(h.task(SUP).notifications(), abi::SUPERVISOR_FAULT_BIT);
    // The receiver is untouched: still waiting, nothing delivered.
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
    assert_eq!(h.read(SRV, RECV_BUF, 3), [0; 3]);
    assert!(h.task(SRV).last_fault() == abi::FaultRecord::default());
}

#[test]
fn lease_straddling_the_end_of_the_senders_ram_faults_it() {
    let (mut h, srv) = Harness::three_and_server();
    let end = h.mem[CLI].ram + RAM_SIZE;
    let l = lease(LEASE_READ, end - 8, 9);
    h.send(CLI, srv, 1, b"", 0, &[l]);
    h.assert_usage_fault(CLI, UsageError::LeaseOutOfBounds);
}

#[test]
fn writable_lease_of_read_only_memory_faults_the_sender() {
    let (mut h, srv) = Harness::three_and_server();
    let text = h.mem[CLI].text;
    // Lending text for reading is fine...
    let ro = lease(LEASE_READ, text, 16);
    h.send(CLI, srv, 1, b"", 0, &[ro]);
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
    // ...for writing it is not.
    h.restart(CLI);
    let rw = lease(LEASE_READ | LEASE_WRITE, text, 16);
    h.send(CLI, srv, 1, b"", 0, &[rw]);
    h.assert_usage_fault(CLI, UsageError::LeaseOutOfBounds);
}

#[test]
fn lease_of_a_device_window_faults_the_sender() {
    let mut h = Builder::three().device().build();
    let srv = h.id(SRV);
    let l = lease(LEASE_READ, h.mem[CLI].device.unwrap(), 4);
    h.send(CLI, srv, 1, b"", 0, &[l]);
    h.assert_usage_fault(CLI, UsageError::LeaseOutOfBounds);
}

#[test]
fn too_many_leases_or_an_unreadable_lease_table_faults_the_sender() {
    let (mut h, srv) = Harness::three_and_server();
    let target = srv.0 as usize; // operation 0, no leases (a6 = 0)
    let table = h.addr(CLI, LEASE_TABLE);
    h.syscall(
        CLI,
        Sysnum::Send,
        &[target, 0, 0, 0, 0, table, MAX_LEASES + 1],
    );
    h.assert_usage_fault(CLI, UsageError::TooManyLeases);

    h.restart(CLI);
    let other = foreign(0x100);
    h.syscall(CLI, Sysnum::Send, &[target, 0, 0, 0, 0, other, 1]);
    h.assert_usage_fault(CLI, UsageError::InvalidSlice);

    // MAX_LEASES empty leases are fine.
    h.restart(CLI);
    let empty = vec![h.client_lease(LEASE_READ, 0, 0); MAX_LEASES];
    h.send(CLI, srv, 1, b"", 0, &empty);
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
}

/// The kernel's copy (word-wise four at a time, then word by word, or byte
/// by byte when unaligned) moves exactly `min(from, to)` bytes, for every
/// length and alignment, and nothing past them.
#[test]
fn copy_moves_exactly_the_bytes_for_every_length_and_alignment() {
    use crate::umem;
    let src = arena::alloc(0x100);
    let dst = arena::alloc(0x100);
    for from_off in 0..4 {
        for to_off in 0..4 {
            for len in 0..70 {
                // SAFETY: both blocks are test memory of 0x100 bytes that
                // only this test uses; every access below stays inside.
                unsafe {
                    for i in 0..0x100 {
                        *((src + i) as *mut u8) = (i as u8).wrapping_mul(7).wrapping_add(1);
                        *((dst + i) as *mut u8) = 0xEE;
                    }
                    let from = std::slice::from_raw_parts((src + from_off) as *const u8, len);
                    let to = std::slice::from_raw_parts_mut((dst + to_off) as *mut u8, len + 3);
                    assert_eq!(umem::copy_bytes(from, to), len);
                    for i in 0..len {
                        let want = *((src + from_off + i) as *const u8);
                        assert_eq!(
                            *((dst + to_off + i) as *const u8),
                            want,
                            "{from_off} {to_off} {len} {i}"
                        );
                    }
                    assert_eq!(
                        *((dst + to_off + len) as *const u8),
                        0xEE,
                        "wrote past the end"
                    );
                    if to_off > 0 {
                        assert_eq!(
                            *((dst + to_off - 1) as *const u8),
                            0xEE,
                            "wrote before the start"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_lease_needs_only_the_access_it_lends() {
    use crate::descs::{RegionDesc, REGION_READ, REGION_WRITE};
    // Two extra regions of the client's: one it may only read, one it may
    // only write (the rule is per direction, whatever memory the machine
    // offers).
    let mut h = Harness::three();
    let (ro, wo) = (foreign(0x100), foreign(0x100));
    for (base, attributes) in [(ro, REGION_READ), (wo, REGION_WRITE)] {
        assert!(h.sys.tasks[CLI].add_region(RegionDesc {
            base,
            size: 0x100,
            attributes,
        }));
    }
    let lend = |base: usize, attributes: u32| lease(attributes, base, 0x10);
    let t = h.task(CLI);
    assert!(crate::ipc::lease_is_valid(t, &lend(ro, LEASE_READ)));
    assert!(!crate::ipc::lease_is_valid(t, &lend(ro, LEASE_WRITE)));
    assert!(crate::ipc::lease_is_valid(t, &lend(wo, LEASE_WRITE)));
    assert!(!crate::ipc::lease_is_valid(t, &lend(wo, LEASE_READ)));
    assert!(!crate::ipc::lease_is_valid(
        t,
        &lend(wo, LEASE_READ | LEASE_WRITE)
    ));
    // A send with the write-only lease goes through.
    h.recv(SRV, 16, 0);
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"", 0, &[lend(wo, LEASE_WRITE)]);
    assert_eq!(h.sched(CLI), SchedState::InReply(srv));
}

#[test]
fn recv_describes_the_first_lease_as_borrow_info_would() {
    // Delivered at once (the server waits), and delivered later (it did
    // not): the first lease comes described in a5 either way.
    for waiting in [true, false] {
        let mut h = Harness::three();
        if waiting {
            h.recv(SRV, 16, 0);
        }
        let srv = h.id(SRV);
        let l = [
            h.client_lease(LEASE_WRITE, 0, 12),
            h.client_lease(LEASE_READ, 0, 4),
        ];
        h.send(CLI, srv, 1, b"", 0, &l);
        if !waiting {
            h.recv(SRV, 16, 0);
        }
        assert_eq!(h.received(SRV).leases, 2);
        let word = h.ret(SRV, 5) as u32;
        assert_eq!(abi::described_lease(word), Some((LEASE_WRITE, 12)));
        let cli = h.id(CLI);
        h.syscall(SRV, Sysnum::BorrowInfo, &[cli.0 as usize, 0]);
        assert_eq!(
            (h.ret(SRV, 1) as u32, h.ret(SRV, 2) as u32),
            (LEASE_WRITE, 12)
        );
    }
    // A message without leases leaves a5 alone.
    let mut h = Harness::three();
    h.recv(SRV, 16, 0);
    let srv = h.id(SRV);
    h.sys.tasks[SRV].save_mut().set_ret(5, 0x5a5a);
    h.send(CLI, srv, 1, b"hi", 0, &[]);
    assert_eq!(h.received(SRV).leases, 0);
    assert_eq!(h.ret(SRV, 5), 0x5a5a);
}
