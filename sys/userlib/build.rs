//! Generates `userlib::tasks`: one `TaskId` constant per task of the image
//! being built, from `VIREO_TASKS` (task names in index order, set by
//! `cargo xtask build`). Without it (host builds) the module is empty.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=VIREO_TASKS");
    println!("cargo:rerun-if-env-changed=VIREO_RESTART");
    println!("cargo:rerun-if-env-changed=VIREO_AUTHORITY");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("tasks.rs");
    let names = env::var("VIREO_TASKS").unwrap_or_default();
    let mut text = String::new();
    for (i, name) in names.split(',').filter(|n| !n.is_empty()).enumerate() {
        let ident: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        text.push_str(&format!(
            "/// Task `{name}` (index {i}), at its first generation; refresh after a DEAD code.\n\
             pub const {ident}: TaskId = TaskId::new({i}, Generation(0));\n"
        ));
    }
    text.push_str(&restart_table(
        &env::var("VIREO_RESTART").unwrap_or_default(),
    ));
    text.push_str(&authority_table(
        &env::var("VIREO_AUTHORITY").unwrap_or_default(),
    ));
    fs::write(&out, text).expect("write tasks.rs");
}

/// `RESTART`: each task's restart policy, from `VIREO_RESTART`
/// (`policy:backoff-ms:limit:window-ms`, comma-separated, in task order).
fn restart_table(spec: &str) -> String {
    let entries: Vec<String> = spec
        .split(',')
        .filter(|e| !e.is_empty())
        .map(|e| {
            let f: Vec<&str> = e.split(':').collect();
            let kind = match f.first().copied() {
                Some("backoff") => "Backoff",
                Some("never") => "Never",
                _ => "Immediate",
            };
            let n = |i: usize| f.get(i).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
            format!(
                "    RestartPolicy {{ kind: RestartKind::{kind}, backoff_ms: {}, limit: {}, window_ms: {} }},\n",
                n(1),
                n(2),
                n(3)
            )
        })
        .collect();
    format!(
        "/// Each task's restart policy from app.toml, by task index.\n\
         pub const RESTART: [RestartPolicy; {}] = [\n{}];\n",
        entries.len(),
        entries.concat()
    )
}

/// `AUTHORITY`: what each task may ask of the supervisor, and `SERVES`:
/// the interface each serves, from `VIREO_AUTHORITY`
/// (`operator:observer:id+id+...:interface`, comma-separated, in task
/// order).
fn authority_table(spec: &str) -> String {
    let (entries, served): (Vec<String>, Vec<String>) = spec
        .split(',')
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut fields = e.splitn(4, ':');
            let op = fields.next().unwrap_or("");
            let obs = fields.next().unwrap_or("");
            let ids = fields.next().unwrap_or("");
            let serves = fields.next().unwrap_or("");
            let mask = ids
                .split('+')
                .filter_map(|i| i.parse::<u32>().ok())
                .filter(|&i| i < 64)
                .fold(0u64, |m, i| m | 1 << i);
            (
                format!(
                    "    Authority {{ operator: {}, observer: {}, device_ids: {mask:#x} }},\n",
                    op == "1",
                    obs == "1"
                ),
                format!("    {serves:?},\n"),
            )
        })
        .unzip();
    format!(
        "/// What each task may ask of the supervisor (app.toml `operator`,\n\
         /// `observer`, `drives`), by task index.\n\
         pub const AUTHORITY: [Authority; {}] = [\n{}];\n\
         /// The IDL interface each task's crate serves (`[package.metadata.vireo]\n\
         /// serves`; \"\" for none), by task index.\n\
         pub const SERVES: [&str; {}] = [\n{}];\n",
        entries.len(),
        entries.concat(),
        served.len(),
        served.concat()
    )
}
