//! `[test.dump]` in a test image: run `cargo xtask dump` — the very
//! command a person runs, as a child process of this xtask — on the live
//! image or on a post-mortem dump file, and judge what it printed.

use std::path::Path;
use std::process::Command;

use crate::config::DumpCheck;
use crate::testing::Case;

/// Runs `xtask dump ARGS` (text, then `--json`) and judges both outputs.
pub fn run(args: &[&str], check: &DumpCheck) -> Vec<Case> {
    let out = |json: bool| -> Result<String, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask itself: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("dump").args(args);
        if json {
            cmd.arg("--json");
        }
        let o = cmd
            .output()
            .map_err(|e| format!("cannot run xtask dump: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "`xtask dump {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    };
    match (out(false), out(true)) {
        (Ok(text), Ok(json)) => {
            let cases = evaluate(&text, &json, check);
            if cases.iter().any(|c| c.error.is_some()) {
                println!("  --- cargo xtask dump {} ---", args.join(" "));
                for l in text.lines() {
                    println!("  | {l}");
                }
            }
            cases
        }
        (Err(e), _) | (_, Err(e)) => vec![Case::fail("cargo xtask dump", e)],
    }
}

/// Runs `xtask gdb ARGS --ex bt` — gdb-multiarch attached the way a person
/// attaches it — and checks that its output has `expect`'s substrings in
/// order: one case.
pub fn run_gdb_bt(args: &[&str], expect: &[String]) -> Case {
    const NAME: &str = "cargo xtask gdb: bt";
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Case::fail(NAME, format!("cannot find xtask itself: {e}")),
    };
    let o = match Command::new(exe)
        .arg("gdb")
        .args(args)
        .args(["--ex", "bt"])
        .output()
    {
        Ok(o) => o,
        Err(e) => return Case::fail(NAME, format!("cannot run xtask gdb: {e}")),
    };
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let case = match (o.status.success(), in_order(&out, expect)) {
        (false, _) => Case::fail(NAME, format!("`xtask gdb` failed ({})", o.status)),
        (true, Err(missing)) => {
            Case::fail(NAME, format!("{missing:?} not in bt's output (in order)"))
        }
        (true, Ok(())) => Case::ok(NAME),
    };
    if case.error.is_some() {
        println!("  --- cargo xtask gdb {} --ex bt ---", args.join(" "));
        for l in out.lines().filter(|l| !l.starts_with("add symbol table")) {
            println!("  | {l}");
        }
    }
    case
}

/// Whether `text` holds every one of `parts`, each after the one before;
/// the first that does not follow.
fn in_order<'a>(text: &str, parts: &'a [String]) -> Result<(), &'a str> {
    let mut rest = text;
    for p in parts {
        match rest.find(p.as_str()) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return Err(p),
        }
    }
    Ok(())
}

/// Runs the checks on a post-mortem dump file.
pub fn run_file(file: &Path, check: &DumpCheck) -> Vec<Case> {
    let f = file.display().to_string();
    run(&["--file", &f], check)
}

/// Judges a dump's text and JSON output (pure, so it can be tested).
pub fn evaluate(text: &str, json: &str, check: &DumpCheck) -> Vec<Case> {
    let mut cases = Vec::new();
    for t in &check.text {
        let name = format!("dump shows: {t}");
        if text.contains(t.as_str()) {
            cases.push(Case::ok(name));
        } else {
            cases.push(Case::fail(name, "not in the report"));
        }
    }
    let parsed: Result<serde_json::Value, _> = serde_json::from_str(json);
    for (pointer, want) in &check.json {
        let name = format!("dump --json {pointer} = {want}");
        let got = match &parsed {
            Ok(v) => v.pointer(pointer).cloned(),
            Err(e) => {
                cases.push(Case::fail(name, format!("not JSON: {e}")));
                continue;
            }
        };
        let want_json = serde_json::to_value(want).unwrap_or(serde_json::Value::Null);
        match got {
            Some(g) if g == want_json => cases.push(Case::ok(name)),
            Some(g) => cases.push(Case::fail(name, format!("is {g}"))),
            None => cases.push(Case::fail(name, "no such field")),
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::{evaluate, in_order};

    #[test]
    fn backtrace_parts_must_come_in_order() {
        let bt = "#3 0x80000074 in vireo_trap_entry ()\n#4 userlib::syscalls::sys_recv\n#9 task_suite::main () at task/x.rs:1";
        let parts = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            in_order(
                bt,
                &parts(&["vireo_trap_entry", "userlib::", "::main () at "])
            ),
            Ok(())
        );
        // A task frame above the trap entry is not one unwound through it.
        assert_eq!(
            in_order(bt, &parts(&["userlib::", "vireo_trap_entry"])),
            Err("vireo_trap_entry")
        );
        assert_eq!(in_order(bt, &parts(&["absent"])), Err("absent"));
    }
    use crate::config::DumpCheck;

    #[test]
    fn text_and_json_expectations_pass_and_fail_on_their_own() {
        let mut check = DumpCheck {
            text: vec!["store access fault".into(), "absent".into()],
            ..DumpCheck::default()
        };
        check
            .json
            .insert("/tasks/1/generation".into(), toml::Value::Integer(1));
        check
            .json
            .insert("/tasks/1/name".into(), toml::Value::String("rng0".into()));
        check
            .json
            .insert("/tasks/9".into(), toml::Value::Integer(0));
        let json = r#"{"tasks": [{}, {"name": "blk0", "generation": 1}]}"#;
        let cases = evaluate("blk0 ... store access fault at 0x80010000", json, &check);
        let verdicts: Vec<(String, bool)> = cases
            .iter()
            .map(|c| (c.name.clone(), c.error.is_none()))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                ("dump shows: store access fault".to_string(), true),
                ("dump shows: absent".to_string(), false),
                ("dump --json /tasks/1/generation = 1".to_string(), true),
                ("dump --json /tasks/1/name = \"rng0\"".to_string(), false),
                ("dump --json /tasks/9 = 0".to_string(), false),
            ]
        );
    }
}
