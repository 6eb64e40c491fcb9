//! Each task crate's `config` keys and values (`config::task_config`), and
//! every app file of the workspace passing validation.

use std::path::Path;

use super::{assert_error, parse, BASE};
use crate::config::App;

/// BASE with the supervisor given `config`.
fn supervisor_config(config: &str) -> String {
    BASE.replace(
        "notifications = [\"fault\"]",
        &format!("notifications = [\"fault\"]\nconfig = {{ {config} }}"),
    )
}

/// BASE with the pong task as the fuzz suite (`crate`), given `config`.
fn pong_config(krate: &str, config: &str) -> String {
    BASE.replace(
        "crate = \"pong\"",
        &format!("crate = \"{krate}\"\nconfig = {{ {config} }}"),
    )
}

#[test]
fn known_config_values_pass() {
    parse(&supervisor_config("liveness-ms = \"4\"")).unwrap();
    parse(&pong_config(
        "fuzz-test",
        "seed = \"123456\", rounds = \"1000\", calls = \"64\"",
    ))
    .unwrap();
    parse(&pong_config(
        "fuzz-test-attacker",
        "mode = \"client\", seed = \"0\"",
    ))
    .unwrap();
    parse(&pong_config("fault-test", "seed = \"625341585\"")).unwrap();
    parse(&pong_config(
        "task-echo",
        "bench = \"tcp_echo\", baseline = \"x_1\"",
    ))
    .unwrap();
    // The stack checks its own in its build.
    parse(&pong_config("task-net", "anything = \"goes here\"")).unwrap();
}

#[test]
fn an_unknown_config_key_is_refused() {
    assert_error(
        &supervisor_config("livenes-ms = \"4\""),
        &[
            "test.toml:",
            "`tasks.super.config.livenes-ms`",
            "crate 'task-supervisor' (task 'super') reads no key 'livenes-ms'",
            "its keys are: liveness-ms",
        ],
    );
    assert_error(
        &pong_config("fuzz-test", "sed = \"1\""),
        &["reads no key 'sed'", "seed, rounds, calls"],
    );
}

#[test]
fn the_line_of_a_bad_config_is_named() {
    let text = supervisor_config("liveness-ms = \"abc\"");
    let line = text
        .lines()
        .position(|l| l.starts_with("config ="))
        .unwrap()
        + 1;
    assert_error(
        &text,
        &[&format!(
            "test.toml:{line}: `tasks.super.config.liveness-ms`"
        )],
    );
}

#[test]
fn a_bad_number_is_refused() {
    // The watchdog's period must keep its ticks within the 32-bit
    // `ran_ticks`: 429496 ms (999999999 made a twentieth of the period
    // that did not fit a u32, and ran_ticks wrapped within one period).
    for bad in [
        "abc",
        "12a",
        "-5",
        " 5",
        "",
        "1234567890",
        "429497",
        "999999999",
    ] {
        assert_error(
            &supervisor_config(&format!("liveness-ms = {bad:?}")),
            &[
                "`tasks.super.config.liveness-ms`",
                "takes a whole number of ms from 1 to 429496",
            ],
        );
    }
    parse(&supervisor_config("liveness-ms = \"429496\"")).unwrap();
    assert_error(
        &pong_config("fuzz-test", "rounds = \"many\""),
        &["`tasks.pong.config.rounds` = \"many\"", "crate 'fuzz-test'"],
    );
    assert_error(
        &pong_config("fuzz-test", "calls = \"4294967296\""),
        &["`tasks.pong.config.calls`"],
    );
    assert_error(
        &pong_config("fuzz-test-attacker", "mode = \"server\""),
        &["`tasks.pong.config.mode` = \"server\"", "one of \"client\""],
    );
    assert_error(
        &pong_config("task-echo", "bench = \"a b\""),
        &["`tasks.pong.config.bench`"],
    );
}

#[test]
fn zero_liveness_is_refused() {
    for zero in ["0", "000"] {
        assert_error(
            &supervisor_config(&format!("liveness-ms = {zero:?}")),
            &["`tasks.super.config.liveness-ms`", "from 1 to 429496"],
        );
    }
}

/// The fuzz and fault-injection seeds are decimal only (the suites and
/// the attacker parse them with `str::parse::<u64>`): a hex seed is
/// refused, not run as the default seed.
#[test]
fn a_hex_seed_is_refused() {
    for krate in ["fuzz-test", "fuzz-test-attacker", "fault-test"] {
        assert_error(
            &pong_config(krate, "seed = \"0x1E240\""),
            &[
                "`tasks.pong.config.seed` = \"0x1E240\"",
                "decimal digits only",
                "write 0x1E240 as \"123456\"",
            ],
        );
    }
    for krate in ["fuzz-test", "fault-test"] {
        assert_error(
            &pong_config(krate, "seed = \"+1\""),
            &["`tasks.pong.config.seed`"],
        );
    }
    // The fault-injection suite reads its seed and nothing else.
    assert_error(
        &pong_config("fault-test", "rounds = \"10\""),
        &["reads no key 'rounds'", "its keys are: seed"],
    );
}

#[test]
fn a_crate_that_reads_no_config_is_given_none() {
    assert_error(
        &pong_config("pong", "seed = \"1\""),
        &["`tasks.pong.config`: crate 'pong' (task 'pong') reads no config"],
    );
    // An empty table is no config.
    parse(&pong_config("pong", "")).unwrap();
}

/// app.toml and every test, bench and example image validate.
#[test]
fn every_app_file_of_the_workspace_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("app.toml")];
    for dir in ["test", "bench", "examples"] {
        let found = crate::testing::app_files(&root.join(dir)).expect("the folder lists");
        assert!(!found.is_empty(), "no app files in {dir}/");
        files.extend(found);
    }
    for f in &files {
        let text = std::fs::read_to_string(f).expect("an app file reads");
        if let Err(e) = App::parse(&text, f) {
            panic!("{} does not validate:\n{e:#}", f.display());
        }
    }
    assert!(files.len() > 20, "only {} app files found", files.len());
}

/// A service granted a port that the stack may not post to lost its
/// readiness at the first post (the stack dropped the subscription); one
/// that is not `postable` polls, and may.
#[test]
fn a_postable_service_granted_a_port_must_be_posted_to() {
    let app_toml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../app.toml"))
            .unwrap();
    let without = app_toml.replace("posts = [\"echo\", \"http\"]", "posts = [\"echo\"]");
    assert_ne!(without, app_toml, "app.toml's net posts changed");
    let e = format!(
        "{:#}",
        App::parse(&without, Path::new("app.toml")).unwrap_err()
    );
    assert!(
        e.contains("app.toml:")
            && e.contains("`tasks.net.posts`: `config.ports` grants 'http' a port and 'http' is `postable`, but the stack may not post to it"),
        "{e}"
    );
    assert!(!e.contains("'echo'"), "{e}");
    // http without `postable` polls: no problem.
    let polling = without.replacen(
        "postable = [\"net\"]\nslots = [\"net\", \"supervisor\"]",
        "slots = [\"net\", \"supervisor\"]",
        1,
    );
    assert_ne!(polling, without, "app.toml's http changed");
    App::parse(&polling, Path::new("app.toml")).unwrap();
}

/// The campaign build of the fault suite (feature `campaign`) takes its
/// seed from `--seed`; a `config` seed there was accepted and ignored.
#[test]
fn a_config_seed_of_the_campaign_is_refused() {
    let campaign = pong_config("fault-test", "seed = \"5\"").replace(
        "crate = \"fault-test\"",
        "crate = \"fault-test\"\nfeatures = [\"campaign\"]",
    );
    assert_error(
        &campaign,
        &[
            "`tasks.pong.config.seed`",
            "the campaign's seed is `--seed`",
            "cargo xtask campaign --faults N --seed S",
        ],
    );
}
