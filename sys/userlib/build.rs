//! Generates `userlib::tasks`: one `TaskId` constant per task of the image
//! being built, from `VIREO_TASKS` (task names in index order, set by
//! `cargo xtask build`). Without it (host builds) the module is empty.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=VIREO_TASKS");
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
    fs::write(&out, text).expect("write tasks.rs");
}
