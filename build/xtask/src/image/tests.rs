//! Tests of the image build's pure parts: the environment each task is
//! built with, app file resolution, the memory map.

use super::{
    authority, check_segments, drives, judge_task, kernel_features, measure_regions, resolve_app,
    task_env, Measured,
};
use crate::config::tests::{parse, BASE};
use crate::layout::Region;
use crate::pack::OutSegment;
use std::path::Path;

#[test]
fn authority_and_test_kernel_features() {
    let text = BASE
        .replace(
            "priority = 1\n",
            "priority = 1\ndrives = [\"block\", \"4\"]\n",
        )
        .replace("slots = [\"pong\"]", "slots = [\"pong\"]\noperator = true");
    let app = parse(&text).unwrap();
    let served = ["".to_string(), "block".into(), "".into(), "".into()];
    assert_eq!(authority(&app, &served), "0:0::,0:0:2+4:block,1:0::,0:0::");
    assert_eq!(kernel_features(&app), ["image"]);
    let test = parse(&format!("{text}\n[test]\ntimeout = 5\n")).unwrap();
    assert_eq!(kernel_features(&test), ["image", "test-control"]);
}

/// The build environment of task `i` of `app` (tasks "a,b", default
/// campaign parameters).
fn env_of(app: &crate::config::App, i: usize) -> Vec<(String, String)> {
    env_with(app, i, &crate::campaign::Params::default())
}

/// [`env_of`] with the campaign parameters `p`.
fn env_with(
    app: &crate::config::App,
    i: usize,
    p: &crate::campaign::Params,
) -> Vec<(String, String)> {
    task_env(
        &app.tasks[i],
        std::path::Path::new("t.toml"),
        "a,b",
        "x",
        "y",
        "d",
        p,
    )
}

#[test]
fn the_disks_sizes_reach_every_tasks_build() {
    let app = parse(&format!(
        "{BASE}\n[[qemu.drives]]\nfile = \"a.img\"\nsize = 1049088\ndevice = \"virtio-blk-device,serial=blk0\"\n\
         [[qemu.drives]]\nfile = \"b.img\"\nsize = 512\ndevice = \"virtio-blk-device\"\noptions = \"throttling.iops-total=20\"\n"
    ))
    .unwrap();
    assert_eq!(drives(&app), "blk0:2049,:1");
    assert_eq!(drives(&parse(BASE).unwrap()), "");
    assert!(env_of(&app, 1).contains(&("VIREO_DRIVES".into(), "d".into())));
}

#[test]
fn a_drivers_deadline_reaches_its_build_and_only_its() {
    let app = parse(&BASE.replace(
        "priority = 1",
        "priority = 1\ndrives = [\"block\"]\ndeadline-ms = 250",
    ))
    .unwrap();
    let env = env_of(&app, 1);
    assert!(
        env.contains(&("VIREO_DEADLINE_MS".into(), "250".into())),
        "{env:?}"
    );
    assert!(env.contains(&("VIREO_TASKS".into(), "a,b".into())));
    let env = env_of(&app, 2);
    assert!(env.iter().all(|(k, _)| k != "VIREO_DEADLINE_MS"), "{env:?}");
}

#[test]
fn the_campaign_parameters_reach_the_build() {
    let app = parse(BASE).unwrap();
    let p = crate::campaign::Params {
        faults: 7,
        seed: 9,
        only: Some(3),
    };
    let env = env_with(&app, 1, &p);
    assert!(
        env.contains(&("VIREO_CAMPAIGN".into(), "7:9:3".into())),
        "{env:?}"
    );
    let env = env_of(&app, 1);
    assert!(
        env.contains(&("VIREO_CAMPAIGN".into(), "200:1".into())),
        "{env:?}"
    );
}

#[test]
fn app_paths() {
    let root = Path::new("/nonexistent-root");
    assert_eq!(resolve_app(root, None), root.join("app.toml"));
    assert_eq!(
        resolve_app(root, Some(Path::new("test/kernel.toml"))),
        root.join("test/kernel.toml")
    );
    assert_eq!(
        resolve_app(root, Some(Path::new("/abs/x.toml"))),
        Path::new("/abs/x.toml")
    );
}

#[test]
fn stray_segments_are_refused() {
    let m = Measured {
        entry: 0,
        text_used: 0,
        ram_used: 0,
        segments: vec![OutSegment {
            paddr: 0x8002_0000,
            flags: 6,
            data: vec![0; 4],
            origin: "ping".into(),
        }],
    };
    let text = Region::new(0x8001_0000, 0x1000);
    let msg = check_segments("task 'ping'", &m, &[("text", text)], "fix it")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("task 'ping' has loadable bytes at [0x80020000, 0x80020004) outside its text [0x80010000, 0x80011000); fix it"), "{msg}");
    check_segments(
        "k",
        &m,
        &[("text", text), ("ram", Region::new(0x8002_0000, 8))],
        "",
    )
    .unwrap();
}

#[test]
fn measured_spans_stop_at_the_other_region() {
    let text = Region::new(0x8001_0000, 0x1000);
    let ram = Region::new(0x8002_0000, 0x800);
    let (t, r) = measure_regions(text, ram);
    assert_eq!(t, Region::new(0x8001_0000, 0x1_0000));
    assert_eq!(r, Region::new(0x8002_0000, 0x100_0000));
    let (t, r) = measure_regions(ram, text);
    assert_eq!((t.size, r.size), (0x100_0000, 0x1_0000));
}

/// A task whose code outgrew `text` ran into its RAM: its initialised
/// data landed past the text region. The build must say which key to
/// raise, not that the linker script misplaced the data (it first failed
/// in lld with "section .text … overlaps with .stack", then with that).
#[test]
fn a_program_over_budget_is_reported_as_such() {
    let app = parse(BASE).unwrap();
    let task = &app.tasks[0];
    let (text, ram) = (
        Region::new(0x8001_0000, 0x1000),
        Region::new(0x8001_1000, 0x1000),
    );
    let segment = |paddr: u64, len: usize| OutSegment {
        paddr,
        flags: 5,
        data: vec![0; len],
        origin: task.name.clone(),
    };
    let over = Measured {
        entry: 0x8001_0000,
        text_used: 0x18ec + 0x40,
        ram_used: 0x400,
        segments: vec![segment(0x8001_0000, 0x18e9), segment(0x8001_18ec, 0x40)],
    };
    let problems = judge_task(Path::new("app.toml"), task, text, ram, &over, "t").unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(&format!("raise `tasks.{}.text` to 8192", task.name)),
        "{problems:?}"
    );
    // The same misplacement in a program that fits is the script's fault.
    let misplaced = Measured {
        text_used: 0x100,
        segments: vec![segment(0x8001_0000, 0x100), segment(0x8001_1800, 0x40)],
        ..over
    };
    let msg = judge_task(Path::new("app.toml"), task, text, ram, &misplaced, "t")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("outside its text"), "{msg}");
    let fits = Measured {
        segments: vec![segment(0x8001_0000, 0x100)],
        ..misplaced
    };
    assert_eq!(
        judge_task(Path::new("app.toml"), task, text, ram, &fits, "t").unwrap(),
        Vec::<String>::new()
    );
}

/// The net task's build refuses a bad `config` naming `VIREO_APP`: that is
/// the file and the line of the key (its messages had no line, unlike
/// xtask's own), in either way of writing the table.
#[test]
fn a_build_script_is_told_the_line_of_its_tasks_config() {
    let net = "\n[tasks.net]\ncrate = \"task-net\"\npriority = 3\ntext = 8192\nram = 2048\nstack = 1024\n";
    let app_path = Path::new("test/x.toml");
    for (text, key) in [
        (
            format!("{BASE}{net}config = {{ gateway = \"1\" }}\n"),
            "config =",
        ),
        (
            format!("{BASE}{net}\n[tasks.net.config]\ngateway = \"1\"\n"),
            "[tasks.net]",
        ),
    ] {
        let app = parse(&text).unwrap();
        let i = app.task_index("net").unwrap();
        let line = text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
        let env = task_env(&app.tasks[i], app_path, "", "", "", "", &Default::default());
        assert!(
            env.contains(&("VIREO_APP".into(), format!("test/x.toml:{line}"))),
            "{env:?}"
        );
    }
    // A task without a config gets the file alone.
    let app = parse(BASE).unwrap();
    let env = task_env(&app.tasks[0], app_path, "", "", "", "", &Default::default());
    assert!(
        env.contains(&("VIREO_APP".into(), "test/x.toml".into())),
        "{env:?}"
    );
}
