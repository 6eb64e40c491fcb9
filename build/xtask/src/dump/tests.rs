//! Host tests of the decoder against real DWARF: this test binary's own.
//! rustc describes a `Ringbuf<T, N>` of a Rust enum here exactly as it
//! does in a task ELF (variant parts, niches, tuple and struct variants),
//! so decoding this binary's ring from a copy of its bytes is the same
//! work as decoding a task's ring from a dump — only the pointer width
//! differs, and the decoder takes every size from DWARF.

use std::num::NonZeroU16;
use std::sync::OnceLock;

use ringbuf::{ringbuf, ringbuf_entry};

use super::dwarf::DebugInfo;
use super::programs::TaskLayout;
use super::report::{ring_entries, stack_use};
use super::snapshot::{Header, Snapshot, Span};
use super::value::{Decoder, Value};

/// An entry type with every shape a trace uses.
#[derive(Copy, Clone, PartialEq, Debug)]
enum Probe {
    Idle,
    Kick(u16),
    Write { sector: u64, len: u32 },
    Flag(bool),
    Tagged(Option<u8>),
    Niche(Option<NonZeroU16>),
    Signed(i16),
}

ringbuf!(HOST_TRACE, Probe, 6, Probe::Idle);

/// A struct with a nested enum, for the task-table style of decoding.
#[derive(Copy, Clone, Debug)]
#[allow(dead_code)] // read through DWARF, not by Rust code
struct Record {
    id: u32,
    state: Probe,
    history: [u8; 3],
}

#[used]
#[no_mangle]
static VIREO_TEST_RECORD: Record = Record {
    id: 0xdead_beef,
    state: Probe::Write {
        sector: 9,
        len: 4096,
    },
    history: [1, 2, 3],
};

fn debug_info() -> &'static DebugInfo {
    static INFO: OnceLock<DebugInfo> = OnceLock::new();
    INFO.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        DebugInfo::parse(&std::fs::read(exe).expect("read the test binary"))
            .expect("the test binary has DWARF")
    })
}

/// A snapshot holding a copy of a static's bytes at its DWARF address (a
/// PIE test binary runs elsewhere than it was linked, like no task does).
fn snapshot_of<T>(name: &str, value: &T) -> (Snapshot, u64, usize) {
    let var = debug_info()
        .variable(name)
        .unwrap_or_else(|| panic!("{name} is not in the test binary's DWARF"));
    let size = std::mem::size_of_val(value);
    // SAFETY: `value` is a live reference to `size` bytes; they are only
    // copied, while nothing writes them (the tests record before reading).
    let bytes = unsafe { std::slice::from_raw_parts(value as *const T as *const u8, size) };
    let snap = Snapshot {
        header: Header::default(),
        spans: vec![Span {
            base: var.address,
            data: bytes.to_vec(),
        }],
    };
    (snap, var.address, var.ty)
}

#[test]
fn a_ring_decodes_oldest_first_with_counts_and_every_variant_shape() {
    for p in [
        Probe::Kick(3),
        Probe::Write {
            sector: 7,
            len: 512,
        },
        Probe::Write {
            sector: 7,
            len: 512,
        },
        Probe::Flag(true),
        Probe::Tagged(Some(9)),
        Probe::Niche(None),
        Probe::Niche(NonZeroU16::new(5)),
        Probe::Signed(-2),
    ] {
        ringbuf_entry!(HOST_TRACE, p);
    }
    let name = "__RINGBUF_xtask::dump::tests::HOST_TRACE";
    let (snap, addr, ty) = snapshot_of(name, &HOST_TRACE);
    let debug = debug_info();
    let ring = Decoder {
        debug,
        memory: &snap,
    }
    .decode(ty, addr);
    let (slots, entries) = ring_entries(&ring).expect("a ring");
    assert_eq!(slots, 6);
    let got: Vec<(u64, String)> = entries.iter().map(|e| (e.count, e.text.clone())).collect();
    // Eight entries, one a repeat, in six slots: the Kick fell out.
    assert_eq!(
        got,
        vec![
            (2, "Write { sector: 7, len: 512 }".to_string()),
            (1, "Flag(true)".to_string()),
            (1, "Tagged(Some(9))".to_string()),
            (1, "Niche(None)".to_string()),
            (1, "Niche(Some(5))".to_string()),
            (1, "Signed(-2)".to_string()),
        ]
    );
    assert_eq!(
        entries[0].payload,
        serde_json::json!({"Write": {"sector": 7, "len": 512}})
    );
    assert_eq!(entries[3].payload, serde_json::json!({"Niche": "None"}));
}

#[test]
fn a_struct_decodes_by_field_and_missing_bytes_say_so() {
    let (snap, addr, ty) = snapshot_of("VIREO_TEST_RECORD", &VIREO_TEST_RECORD);
    let d = Decoder {
        debug: debug_info(),
        memory: &snap,
    };
    let v = d.decode(ty, addr);
    assert_eq!(v.field("id").and_then(Value::as_u64), Some(0xdead_beef));
    assert_eq!(v.path("state.sector").and_then(Value::as_u64), Some(9));
    assert_eq!(v.field("state").and_then(Value::variant), Some("Write"));
    assert_eq!(
        v.field("history").map(ToString::to_string).as_deref(),
        Some("[1, 2, 3]")
    );
    // The same type read where the dump has no bytes: unreadable, with the
    // address, rather than a guess.
    let elsewhere = d.decode(ty, addr + 0x10_0000);
    assert!(
        matches!(elsewhere.field("id"), Some(Value::Unreadable(why)) if why.contains("not in the dump")),
        "{elsewhere}"
    );
}

#[test]
fn the_stack_high_water_mark_is_the_lowest_unpainted_word() {
    let paint = abi::STACK_PAINT.to_le_bytes();
    let mut stack: Vec<u8> = paint.repeat(64); // 256 bytes at 0x1000
    stack[200..204].copy_from_slice(&[1, 2, 3, 4]); // deepest use: 0x10c8
    stack[240..244].copy_from_slice(&[0; 4]);
    let layout = TaskLayout {
        name: "t".into(),
        priority: 1,
        initial_sp: 0x1100,
        stack_base: 0x1000,
        ram: vec![(0x1000, 0x100)],
    };
    let snap = |data: Vec<u8>| Snapshot {
        header: Header::default(),
        spans: vec![Span { base: 0x1000, data }],
    };
    let s = stack_use(&layout, &snap(stack));
    assert_eq!((s.used, s.budget), (0x1100 - 0x10c8, 0x100));
    // Never painted (or overflowed to the bottom): all of it counts.
    let s = stack_use(&layout, &snap(vec![0; 256]));
    assert_eq!(s.used, 0x100);
    // Untouched: nothing used.
    let s = stack_use(&layout, &snap(paint.repeat(64)));
    assert_eq!(s.used, 0);
}
