//! Tests of app file parsing and validation; `BASE` and the parsers are
//! shared with the other modules' tests.

mod authority;
mod checks;
mod fuzz;
mod task_config;

use super::{App, RestartPolicy, TestKind};
use std::path::Path;

/// The default image shipped at the workspace root.
pub(crate) fn default_app() -> App {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../app.toml");
    let text = std::fs::read_to_string(path).expect("the workspace has an app.toml");
    App::parse(&text, Path::new("app.toml")).expect("the workspace app.toml is valid")
}

/// A frozen four-task app (the first default image) for snapshot tests
/// of layout and kconfig, which must not move when app.toml changes.
pub(crate) fn fixture_app() -> App {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/layout-fixture.toml");
    let text = std::fs::read_to_string(path).expect("the layout fixture exists");
    App::parse(&text, Path::new("layout-fixture.toml")).expect("the layout fixture is valid")
}

/// A small valid app to mutate in tests.
pub(crate) const BASE: &str = r#"
name = "t"
[kernel]
text = 65536
ram = 32768
stack = 4096

[tasks.super]
crate = "task-supervisor"
priority = 0
supervisor = true
text = 16384
ram = 4096
stack = 2048
notifications = ["fault"]

[tasks.pong]
crate = "pong"
priority = 1
text = 8192
ram = 2048
stack = 1024
slots = ["super"]

[tasks.ping]
crate = "task-ping"
priority = 2
text = 8192
ram = 2048
stack = 1024
slots = ["pong"]

[tasks.idle]
crate = "task-idle"
priority = 255
text = 4096
ram = 1024
stack = 512
"#;

pub(crate) fn parse(text: &str) -> anyhow::Result<App> {
    App::parse(text, Path::new("test.toml"))
}

/// BASE with the supervisor and the ping task both claiming IRQ 10.
pub(super) fn irq_10_claimed_twice() -> String {
    BASE.replace(
        "notifications = [\"fault\"]",
        "notifications = [\"fault\", \"uart\"]\ninterrupts = { uart = 10 }",
    )
    .replace(
        "slots = [\"pong\"]",
        "notifications = [\"rx\"]\ninterrupts = { rx = 10 }",
    )
}

/// Parses, expecting failure, and returns the whole message.
pub(super) fn error(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => format!("{e:#}"),
    }
}

pub(super) fn assert_error(text: &str, needles: &[&str]) {
    let msg = error(text);
    for n in needles {
        assert!(msg.contains(n), "message lacks {n:?}:\n{msg}");
    }
    assert!(
        msg.starts_with("test.toml:"),
        "message does not name the file:\n{msg}"
    );
}

#[test]
fn parses_the_default_app() {
    // The real app.toml changes as the system grows: check only what
    // must always hold of it.
    let app = default_app();
    assert_eq!(app.name, "default");
    assert_eq!(app.supervisor(), 0);
    assert!(app.test.is_none());
}

#[test]
fn parses_the_fixture_app() {
    let app = fixture_app();
    let names: Vec<_> = app.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["supervisor", "pong", "ping", "idle"]);
    assert_eq!(app.supervisor(), 0);
    assert_eq!(app.tasks[1].restart.policy, RestartPolicy::Immediate);
    assert_eq!(app.tasks[2].slots, ["pong"]);
    assert!(app.tasks.iter().all(|t| t.start));
    assert_eq!(app.qemu.memory, 128);
}

#[test]
fn parses_optional_sections() {
    let text = BASE.replace(
        "slots = [\"pong\"]",
        r#"slots = ["pong"]
features = ["fast"]
uses = ["uart"]
notifications = ["timer", "rx"]
interrupts = { rx = 10 }
start = false
restart = { policy = "backoff", backoff-ms = 10, limit = 3, window-ms = 1000 }"#,
    ) + r#"
[qemu]
memory = 64
args = ["-global", "virtio-mmio.force-legacy=false"]
[[qemu.drives]]
file = "disk.img"
size = 1048576
device = "virtio-blk-device"
[test]
timeout = 5
expect = ["hello"]
kind = "bench"
"#;
    let app = parse(&text).unwrap();
    let ping = &app.tasks[2];
    assert_eq!(ping.uses, ["uart"]);
    assert_eq!(ping.interrupts["rx"], 10);
    assert!(!ping.start);
    assert_eq!(ping.restart.policy, RestartPolicy::Backoff);
    assert_eq!(ping.restart.window_ms, Some(1000));
    assert_eq!(app.qemu.drives[0].size, 1 << 20);
    assert_eq!(app.test.as_ref().unwrap().kind, TestKind::Bench);
    assert!(app.is_bench());
}

#[test]
fn parses_a_console_test() {
    let text = format!(
        r#"{BASE}
[test]
kind = "console"
timeout = 30
steps = [
{{ send = "devices", expect = "entropy" }},
{{ send = "help" }},
{{ expect = "restarted", timeout = 3 }},
]
"#
    );
    let app = parse(&text).unwrap();
    let t = app.test.as_ref().unwrap();
    assert_eq!(t.kind, TestKind::Console);
    assert_eq!(t.prompt, "vireo> ");
    assert_eq!(t.steps.len(), 3);
    assert_eq!(t.steps[0].send.as_deref(), Some("devices"));
    assert_eq!(t.steps[0].expect.as_deref(), Some("entropy"));
    assert_eq!(t.steps[1].expect, None);
    assert_eq!(t.steps[2].send, None);
    assert_eq!(t.steps[2].timeout, Some(3));
    assert!(!app.is_bench());

    // The table-array form and a custom prompt.
    let text = format!(
        "{BASE}\n[test]\nkind = \"console\"\nprompt = \"$ \"\n[[test.steps]]\nsend = \"x\"\nexpect = \"y\"\n"
    );
    let t = parse(&text).unwrap().test.unwrap();
    assert_eq!(t.prompt, "$ ");
    assert_eq!(t.steps[0].send.as_deref(), Some("x"));
}

/// A misspelt key of `[test]` points to where its keys are told: app.toml,
/// which the message named for every key, has no `[test]` table.
#[test]
fn a_test_key_mistake_points_to_the_test_keys() {
    let console = |body: &str| format!("{BASE}\n[test]\nkind = \"console\"\n{body}");
    for body in [
        "timout = 30\nsteps = [{ send = \"a\" }]",
        "steps = [{ sned = \"a\" }]",
        "[[test.steps]]\nexpct = \"a\"",
    ] {
        let msg = error(&console(body));
        assert!(
            msg.contains("(see README, \"Writing a task\", step 5, for the [test] keys"),
            "{msg}"
        );
        assert!(!msg.contains("commented app.toml"), "{msg}");
    }
    // Elsewhere, app.toml it is.
    let msg = error(&BASE.replace("stack = 4096", "stak = 4096"));
    assert!(
        msg.contains("(see the commented app.toml at the workspace root for every key)"),
        "{msg}"
    );
}

#[test]
fn console_test_mistakes_are_named() {
    let console = |body: &str| format!("{BASE}\n[test]\nkind = \"console\"\n{body}");
    assert_error(&console(""), &["no steps", "[[test.steps]]"]);
    assert_error(
        &console("prompt = \"\"\nsteps = [{ send = \"a\" }]"),
        &["`test.prompt` is empty"],
    );
    assert_error(
        &console("steps = [{ timeout = 2 }]"),
        &["`test.steps[0]` has neither"],
    );
    assert_error(
        &console("steps = [{ send = \"a\\nb\" }]"),
        &["`test.steps[0]`.send contains a line break"],
    );
    assert_error(
        &console("steps = [{ send = \"a\" }, { expect = \"\" }]"),
        &["`test.steps[1]`.expect is empty"],
    );
    assert_error(
        &console("steps = [{ send = \"a\", timeout = 0 }]"),
        &["`test.steps[0]`.timeout is 0"],
    );
    assert_error(
        &console("steps = [{ echo = \"a\", expect = \"b\" }]"),
        &["`test.steps[0]` has `echo` but no `send`"],
    );
    assert_error(&console("steps = [{ sned = \"a\" }]"), &["sned"]);
    assert_error(
        &format!("{BASE}\n[test]\nsteps = [{{ send = \"a\" }}]\n"),
        &["only for console tests", "kind = \"console\""],
    );
}
