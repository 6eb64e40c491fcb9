//! Host tests of the encodings.

use super::*;

#[test]
fn nul_padded_text_stops_at_the_first_nul_and_refuses_bad_utf8() {
    assert_eq!(nul_padded_str(b"blk0\0\0\0\0"), "blk0");
    assert_eq!(nul_padded_str(b"full"), "full");
    assert_eq!(nul_padded_str(b"a\0b"), "a");
    assert_eq!(nul_padded_str(&[0xff, b'x', 0]), "?");
    assert_eq!(nul_padded_str(b""), "");
    let mut st = TaskStatus::default();
    st.name[..5].copy_from_slice(b"shell");
    assert_eq!(st.name_str(), "shell");
}

#[test]
fn task_id_round_trips_index_and_generation() {
    let id = TaskId::new(5, Generation(3));
    assert_eq!(id.index(), 5);
    assert_eq!(id.generation(), Generation(3));
    assert_ne!(id, TaskId::new(5, Generation(4)));
}

#[test]
fn generations_count_the_incarnations_between_them() {
    assert_eq!(Generation(7).since(Generation(7)), 0);
    assert_eq!(Generation(8).since(Generation(7)), 1);
    assert_eq!(Generation(1).since(Generation(Generation::MASK)), 2);
}

#[test]
fn generation_wraps_only_after_65536_incarnations() {
    assert_eq!(Generation(Generation::MASK).next(), Generation(0));
    assert_eq!(Generation(1).next(), Generation(2));
    // 64 restarts (where a 6-bit generation wrapped) give a new id.
    let mut g = Generation(0);
    for _ in 0..64 {
        g = g.next();
    }
    assert_ne!(TaskId::new(3, g), TaskId::new(3, Generation(0)));
    assert_eq!(g, Generation(64));
}

#[test]
fn task_ids_stay_below_kernel_codes_and_round_trip_registers() {
    let top = TaskId::new(TaskId::INDEX_MASK as u16, Generation(Generation::MASK));
    assert_eq!(top, TaskId::KERNEL);
    const {
        assert!(TaskId::KERNEL.0 < KERNEL_CODE_BASE);
        assert!(TaskId::KERNEL.0 != RECV_OPEN);
    }
    let id = TaskId::new(7, Generation(40_000));
    assert_eq!(TaskId::from_register(id.0), id);
    assert_eq!(TaskId::from_register(u32::MAX), TaskId::KERNEL);
    assert_eq!(id.generation(), Generation(40_000));
}

#[test]
fn op_and_lease_count_share_a6() {
    let a6 = send_op_leases(0xBEEF, 3);
    assert_eq!(split_op_leases(a6), (0xBEEF, 3));
    assert_eq!(split_op_leases(send_op_leases(1, 0)), (1, 0));
}

#[test]
fn dead_code_carries_generation_and_is_not_confused_with_others() {
    let code = dead_code(Generation(17));
    assert!(code >= KERNEL_CODE_BASE);
    assert_eq!(dead_generation(code), Some(Generation(17)));
    let wide = dead_code(Generation(0xABCD));
    assert_eq!(dead_generation(wide), Some(Generation(0xABCD)));
    assert!(wide >= KERNEL_CODE_BASE);
    assert_eq!(dead_generation(REFUSED_NOT_IN_SLOTS), None);
    assert_eq!(dead_generation(SUCCESS), None);
    assert_eq!(dead_generation(REFUSED_PRIORITY), None);
    assert_eq!(dead_generation(BORROW_OUT_OF_RANGE), None);
}

#[test]
fn rejected_code_carries_the_reason_and_is_not_confused_with_others() {
    for n in 0..5 {
        let reason = ReplyFaultReason::from_u32(n).unwrap();
        let code = rejected_code(reason);
        assert!(code >= KERNEL_CODE_BASE, "servers cannot forge it");
        assert_eq!(rejected_reason(code), Some(reason));
        assert_eq!(dead_generation(code), None);
    }
    assert_eq!(
        rejected_reason(REJECTED_PREFIX | 0x77),
        Some(ReplyFaultReason::BadMessageContents)
    );
    for other in [
        SUCCESS,
        1,
        REFUSED_PRIORITY,
        BORROW_NOT_LENT,
        dead_code(Generation(3)),
    ] {
        assert_eq!(rejected_reason(other), None, "{other:#x}");
    }
}

#[test]
fn enums_decode_what_they_encode() {
    // For every `code_enum!`: each variant decodes from its own number, and
    // `ALL` holds exactly the numbers that decode, in declaration order.
    macro_rules! round_trip {
        ($($name:ident),*) => {$({
            let decoded = (0..256).filter_map($name::from_u32);
            assert!(decoded.eq($name::ALL), stringify!($name));
            for v in $name::ALL {
                assert_eq!($name::from_u32(v as u32), Some(v));
            }
        })*};
    }
    round_trip!(
        Sysnum,
        FaultKind,
        Kipc,
        UsageError,
        ReplyFaultReason,
        TaskState,
        Injection,
        DmaOp,
        Probe
    );
    assert_eq!(Sysnum::from_u32(99), None);
    assert_eq!(FaultKind::ALL.len(), 13);
    assert_eq!(Sysnum::ALL[17], Sysnum::Dma);
}

#[test]
fn authority_names_device_ids_by_bit() {
    let a = Authority {
        operator: false,
        observer: false,
        device_ids: (1 << 2) | (1 << 4),
    };
    assert!(a.may_drive(2) && a.may_drive(4));
    assert!(!a.may_drive(1) && !a.may_drive(0) && !a.may_drive(64) && !a.may_drive(u32::MAX));
    assert!(!Authority::default().may_drive(2));
}

#[test]
fn wire_records_have_fixed_sizes() {
    assert_eq!(core::mem::size_of::<Lease>(), 12);
    assert_eq!(core::mem::size_of::<FaultRecord>(), 16);
    assert_eq!(core::mem::size_of::<TaskStatus>(), 144);
    assert_eq!(core::mem::size_of::<InjectEvidence>(), 12);
}

#[test]
fn a_described_lease_reads_back_or_says_ask() {
    for (attributes, len) in [
        (LEASE_READ, 0),
        (LEASE_WRITE, 4096),
        (LEASE_READ | LEASE_WRITE, (1 << 30) - 1),
    ] {
        assert_eq!(
            described_lease(describe_lease(attributes, len)),
            Some((attributes, len))
        );
    }
    // Too long to describe, or no attributes: ask `borrow_info`.
    assert_eq!(described_lease(describe_lease(LEASE_READ, 1 << 30)), None);
    assert_eq!(described_lease(describe_lease(0, 16)), None);
    let m = RecvMessage {
        sender: TaskId(1),
        operation: 0,
        message_len: 0,
        response_capacity: 0,
        lease_count: 1,
        first_lease: describe_lease(LEASE_WRITE, 512),
    };
    assert_eq!(m.described_lease(0), Some((LEASE_WRITE, 512)));
    assert_eq!(m.described_lease(1), None, "only the first");
    let none = RecvMessage {
        lease_count: 0,
        ..m
    };
    assert_eq!(none.described_lease(0), None, "no lease, nothing described");
}

#[test]
fn only_access_faults_name_an_address() {
    use crate::FaultKind::*;
    for k in [
        LoadAccess,
        StoreAccess,
        FetchAccess,
        StackOverflow,
        Misaligned,
    ] {
        assert!(k.names_address(), "{k:?}");
    }
    for k in [
        None,
        IllegalInstruction,
        SyscallUsage,
        Panic,
        FromServer,
        Injected,
        Breakpoint,
        BudgetExceeded,
    ] {
        assert!(!k.names_address(), "{k:?}");
    }
}

#[test]
fn a_task_id_shows_its_index_and_generation() {
    let id = TaskId::new(2, Generation(5));
    assert_eq!(std::format!("{id:?}"), "TaskId(index 2, gen 5)");
}

extern crate std;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

/// Every code the kernel or `userlib` answers with, by name. A new named
/// code belongs here.
const NAMED_CODES: [(&str, u32); 19] = [
    ("SUCCESS", SUCCESS),
    ("TRACE_REFUSED", TRACE_REFUSED),
    ("TRACE_NO_ROOM", TRACE_NO_ROOM),
    ("REFUSED_NOT_IN_SLOTS", REFUSED_NOT_IN_SLOTS),
    ("REFUSED_PRIORITY", REFUSED_PRIORITY),
    ("REFUSED_NO_SUCH_TASK", REFUSED_NO_SUCH_TASK),
    ("REFUSED_NOT_SUPERVISOR", REFUSED_NOT_SUPERVISOR),
    ("REFUSED_POST_TARGET", REFUSED_POST_TARGET),
    ("REFUSED_POST_BITS", REFUSED_POST_BITS),
    ("SERVER_STOPPED", SERVER_STOPPED),
    ("REFUSED_CLOSED_RECV", REFUSED_CLOSED_RECV),
    ("BORROW_NOT_LENT", BORROW_NOT_LENT),
    ("BORROW_NO_SUCH_LEASE", BORROW_NO_SUCH_LEASE),
    ("BORROW_OUT_OF_RANGE", BORROW_OUT_OF_RANGE),
    ("BORROW_WRONG_ATTRIBUTES", BORROW_WRONG_ATTRIBUTES),
    ("DMA_BAD_BUFFER", DMA_BAD_BUFFER),
    ("DMA_BAD_FLAGS", DMA_BAD_FLAGS),
    ("DMA_BAD_QUEUE", DMA_BAD_QUEUE),
    ("DMA_NO_DEVICE", DMA_NO_DEVICE),
];

/// The rest of the named codes (the array above is split only to keep
/// its length readable).
const MORE_NAMED_CODES: [(&str, u32); 3] = [
    ("DMA_QUEUE_BUSY", DMA_QUEUE_BUSY),
    ("DMA_BAD_LEASE", DMA_BAD_LEASE),
    ("DMA_PINNED", DMA_PINNED),
];

/// Every meaning `code` has: each named constant it equals, a DEAD code,
/// a REJECTED code.
fn meanings(code: u32) -> Vec<String> {
    let mut m: Vec<String> = NAMED_CODES
        .iter()
        .chain(MORE_NAMED_CODES.iter())
        .filter(|(_, c)| *c == code)
        .map(|(n, _)| n.to_string())
        .collect();
    if let Some(g) = dead_generation(code) {
        m.push(format!("DEAD (generation {})", g.0));
    }
    if let Some(r) = rejected_reason(code) {
        m.push(format!("REJECTED ({r:?})"));
    }
    m
}

#[test]
fn every_named_code_means_exactly_one_thing() {
    // A caller decodes a code by asking each reading in turn (idol-runtime's
    // `response` asks `rejected_reason` before the refusals): a code two
    // readings accept is read as whichever is asked first.
    for (name, code) in NAMED_CODES.iter().chain(MORE_NAMED_CODES.iter()) {
        assert_eq!(meanings(*code), [name.to_string()], "{name} = {code:#x}");
    }
    // The generated codes too: every reason, and generations across the
    // range, each read as itself alone.
    for reason in ReplyFaultReason::ALL {
        let code = rejected_code(reason);
        assert_eq!(
            meanings(code),
            [format!("REJECTED ({reason:?})")],
            "{code:#x}"
        );
    }
    for g in [0, 1, 0x00FF, 0xFC01, 0xFE01, 0xFFFF] {
        let code = dead_code(Generation(g));
        assert_eq!(
            meanings(code),
            [format!("DEAD (generation {g})")],
            "{code:#x}"
        );
    }
    // Every kernel refusal is one no server can forge.
    for (name, code) in NAMED_CODES.iter().chain(MORE_NAMED_CODES.iter()).skip(3) {
        assert!(*code >= KERNEL_CODE_BASE, "{name} = {code:#x}");
    }
}
