//! Host tests of the decoder against real DWARF.
//!
//! - A built image: `test/dump.toml`'s, built by these tests through the
//!   same code as `cargo xtask build` (incremental, so it costs nothing
//!   when `cargo xtask test` or a person built it already, and it is never
//!   skipped): its task layout read from the kernel's `TASK_DESCS`, its
//!   task table decoded by the riscv32 kernel's own types, and every
//!   task's rings found with their entry types.
//! - This test binary's own DWARF: rustc describes a `Ringbuf<T, N>` of a
//!   Rust enum here exactly as it does in a task ELF (variant parts,
//!   niches, tuple and struct variants), so values of every shape can be
//!   recorded by Rust code and decoded from a copy of their bytes — only
//!   the pointer width differs, and the decoder takes every size from
//!   DWARF.

use std::num::NonZeroU16;
use std::path::Path;
use std::sync::OnceLock;

use ringbuf::{ringbuf, ringbuf_entry};

use super::dwarf::DebugInfo;
use super::dwarf::Type;
use super::programs::{Image, TaskLayout};
use super::report::{ring_entries, stack_use, Filter, Report};
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

/// `test/dump.toml`'s image, built (or found up to date) by the code
/// behind `cargo xtask build`, and loaded as `cargo xtask dump` loads it.
fn built_image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .expect("the workspace root");
        let built = crate::image::build(&root, &root.join("test/dump.toml"), false)
            .expect("building test/dump.toml's image");
        Image::load(&built.out_dir, &built.app.name).expect("loading the built image")
    })
}

/// A snapshot of every RAM region of `image`, zero-filled, with `edit`
/// applied: the state a test writes its known values into.
fn zeroed_ram(image: &Image, edit: impl FnOnce(&mut Snapshot)) -> Snapshot {
    let mut snap = Snapshot {
        header: Header::default(),
        spans: image
            .ram_regions()
            .into_iter()
            .map(|(base, size)| Span {
                base,
                data: vec![0; size as usize],
            })
            .collect(),
    };
    edit(&mut snap);
    snap
}

/// Writes `value` little-endian over the `size` bytes at `addr`.
fn poke(snap: &mut Snapshot, addr: u64, size: u64, value: u64) {
    let span = snap
        .spans
        .iter_mut()
        .find(|s| s.base <= addr && addr + size <= s.base + s.data.len() as u64)
        .unwrap_or_else(|| panic!("{addr:#x} is in no RAM region"));
    let at = (addr - span.base) as usize;
    span.data[at..at + size as usize].copy_from_slice(&value.to_le_bytes()[..size as usize]);
}

#[test]
fn a_built_images_task_layout_comes_from_its_kernel() {
    let image = built_image();
    let rows: Vec<(&str, u64, u64)> = image
        .tasks
        .iter()
        .map(|(l, _)| (l.name.as_str(), l.priority, l.initial_sp - l.stack_base))
        .collect();
    // test/dump.toml: names, priorities and stack budgets.
    assert_eq!(
        rows,
        vec![
            ("supervisor", 0, 16384),
            ("blk0", 1, 8192),
            ("suite", 3, 8192),
            ("idle", 255, 512)
        ]
    );
    assert!(
        image.tasks[1]
            .0
            .ram
            .iter()
            .any(|&(_, size)| size == 524_288),
        "blk0's RAM: {:?}",
        image.tasks[1].0.ram
    );
}

#[test]
fn a_built_kernels_task_table_decodes_by_its_own_types() {
    let image = built_image();
    let debug = &image.kernel.debug;
    let table = debug
        .variable("TASK_TABLE")
        .expect("the kernel's TASK_TABLE");
    let Some(Type::Array { elem, count }) = debug.ty(table.ty) else {
        panic!("TASK_TABLE is not an array in the kernel's DWARF");
    };
    assert_eq!(*count, 4, "one entry per task of test/dump.toml");
    let stride = debug.size_of(*elem);
    // riscv32: a task's saved registers are 32 four-byte words at least.
    let (regs, regs_ty) = debug.member_path(*elem, "save.regs").expect("save.regs");
    assert!(debug.size_of(regs_ty) >= 32 * 4);
    let field = |path: &str| {
        let (offset, ty) = debug
            .member_path(*elem, path)
            .unwrap_or_else(|| panic!("no {path} in the kernel's Task"));
        (table.address + stride + offset, debug.size_of(ty))
    };
    // Task 1 (blk0): known values where the kernel's types put them.
    let snap = zeroed_ram(image, |snap| {
        for (path, value) in [
            ("generation", 3),
            ("fault_count", 2),
            ("last_fault.kind", abi::FaultKind::StoreAccess as u64),
            ("last_fault.address", 0x8001_0000),
            ("last_fault.pc", 0x8011_0040),
        ] {
            let (addr, size) = field(path);
            poke(snap, addr, size, value);
        }
        poke(snap, table.address + stride + regs, 4, 0x8011_0044);
    });
    let report = Report::build(image, &snap, &Filter::default());
    let names: Vec<&str> = report.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["supervisor", "blk0", "suite", "idle"]);
    let blk0 = &report.tasks[1];
    assert_eq!((blk0.generation, blk0.faults, blk0.pc), (3, 2, 0x8011_0044));
    let fault = blk0.last_fault.as_ref().expect("blk0's last fault");
    assert_eq!(
        (fault.kind.as_str(), fault.address, fault.pc),
        ("store access fault", 0x8001_0000, 0x8011_0040)
    );
    // Nothing leaked into the neighbours.
    assert_eq!((report.tasks[0].generation, report.tasks[2].faults), (0, 0));
    assert!(report.tasks[0].last_fault.is_none());
}

#[test]
fn a_built_tasks_rings_are_found_with_their_entry_types() {
    let image = built_image();
    let (_, blk0) = &image.tasks[1];
    let ring = blk0
        .debug
        .variables_with_prefix("__RINGBUF_")
        .find(|v| v.linkage.ends_with("::TRACE"))
        .expect("blk0's TRACE ring");
    // `Ringbuf<Trace, 32>` (drv/virtio-blk/src/trace.rs): the entries'
    // payload is the driver's trace enum, variants by name.
    let (_, mut entries) = blk0.debug.member_path(ring.ty, "entries").expect("entries");
    // Through a one-field wrapper (a cell), as `ring_entries` reads it.
    if let Some(Type::Struct { members, .. }) = blk0.debug.ty(entries) {
        if let [only] = members.as_slice() {
            entries = only.ty;
        }
    }
    let Some(Type::Array { elem, count }) = blk0.debug.ty(entries) else {
        panic!("the ring's entries are not an array");
    };
    assert_eq!(*count, 32);
    let (_, payload) = blk0.debug.member_path(*elem, "payload").expect("payload");
    let Some(Type::Struct {
        name,
        variants: Some((_, variants)),
        ..
    }) = blk0.debug.ty(payload)
    else {
        panic!("the payload is not a Rust enum with data");
    };
    assert_eq!(name, "Trace");
    let names: Vec<&str> = variants.iter().map(|v| v.member.name.as_str()).collect();
    for want in ["None", "Probed", "Submit", "Complete"] {
        assert!(names.contains(&want), "{want} not among {names:?}");
    }
    // In the report: every task's rings, each with its slot count; a
    // ring nothing was written to (all zero) shows no entries.
    let report = Report::build(image, &zeroed_ram(image, |_| {}), &Filter::default());
    let row = report
        .ringbufs
        .iter()
        .find(|r| r.task == "blk0" && r.name.ends_with("::TRACE"))
        .expect("blk0's ring in the report");
    assert_eq!((row.slots, row.entries.len()), (32, 0));
}

/// The supervisor's restart log as its state holds it: a ring of 4 that
/// has taken 6 records, so records 2 to 5 sit in slots 2, 3, 0 and 1.
#[test]
fn the_restart_log_comes_out_oldest_first_from_its_ring() {
    let record = |seq: u64, task: u64, cause: u64| {
        Value::Struct(
            "RestartRecord".into(),
            vec![
                ("seq".into(), Value::Unsigned(seq)),
                ("task".into(), Value::Unsigned(task)),
                ("generation".into(), Value::Unsigned(seq + 1)),
                ("cause".into(), Value::Unsigned(cause)),
                ("at_ms".into(), Value::Unsigned(seq * 100)),
            ],
        )
    };
    let state = |count: u64, kept: u64| {
        Value::Struct(
            "Supervisor".into(),
            vec![(
                "log".into(),
                Value::Struct(
                    "RestartLog".into(),
                    vec![
                        (
                            "records".into(),
                            Value::Array(vec![
                                record(4, 1, 1),
                                record(5, 2, 2),
                                record(2, 1, 3),
                                record(3, 3, 99),
                            ]),
                        ),
                        ("count".into(), Value::Unsigned(count)),
                        ("kept".into(), Value::Unsigned(kept)),
                    ],
                ),
            )],
        )
    };
    let names = |i: usize| ["supervisor", "blk0", "net0", "echo"][i].to_string();
    let mut problems = Vec::new();
    let rows = super::report::restart_log(&names, &state(6, 4), &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.seq,
                r.task.as_str(),
                r.generation,
                r.at_ms,
                r.cause.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (2, "blk0", 3, 200, "stopped answering"),
            (3, "echo", 4, 300, "cause 99"),
            (4, "blk0", 5, 400, "fault"),
            (5, "net0", 6, 500, "operator"),
        ]
    );
    // Fewer kept than the ring holds: only the newest.
    let rows = super::report::restart_log(&names, &state(6, 2), &mut problems);
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5]);
    // No log at all: said, not guessed.
    let rows = super::report::restart_log(&names, &Value::Unit, &mut problems);
    assert!(rows.is_empty());
    assert_eq!(problems.len(), 1, "{problems:?}");
}
