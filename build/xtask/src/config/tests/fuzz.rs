//! Broken app files, at random: every app file of the workspace with lines
//! deleted, repeated or swapped, numbers replaced by awkward ones and the
//! text cut short. Each must be refused with an error or built into a
//! layout and a kernel configuration; none may panic the image builder.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use crate::config::App;
use crate::{kconfig, layout};

/// Every app file: app.toml, the test, bench and example images.
fn app_files() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("app.toml")];
    for dir in ["test", "bench", "examples"] {
        files.extend(crate::testing::app_files(&root.join(dir)).expect("the folder lists"));
    }
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("an app file reads");
            (f, text)
        })
        .collect()
}

/// One way to break an app file.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize),
    Repeat(usize),
    Swap(usize, usize),
    /// Replace the `n`th number in the text.
    Number(usize, &'static str),
    /// Replace the `n`th quoted string in the text.
    Word(usize, &'static str),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let awkward = prop::sample::select(vec![
        "0",
        "1",
        "3",
        "-1",
        "255",
        "256",
        "4095",
        "4097",
        "65535",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "99999999999999999999",
        "0x80000000",
        "1e9",
        "\"7\"",
    ]);
    let word = prop::sample::select(vec![
        "",
        "supervisor",
        "blk0",
        "idle",
        "shell",
        "net",
        "fault",
        "irq",
        "timer",
        "block",
        "network",
        "uart",
        "virtio-bus",
        "task-idle",
        "no-such-crate",
        "é",
        "a b",
        "..",
        "/etc/passwd",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "tcp/7",
        "echo:tcp/99999",
    ]);
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Repeat),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<usize>(), awkward).prop_map(|(n, v)| Edit::Number(n, v)),
        (any::<usize>(), word).prop_map(|(n, v)| Edit::Word(n, v)),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    prop::collection::vec(edit, 1..4)
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        let n = lines.len().max(1);
        match *e {
            Edit::Delete(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Edit::Repeat(i) if !lines.is_empty() => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::Number(k, v) => {
                let numbers: Vec<(usize, usize, usize)> = lines
                    .iter()
                    .enumerate()
                    .flat_map(|(li, l)| {
                        let b = l.as_bytes();
                        let mut found = Vec::new();
                        let mut i = 0;
                        while i < b.len() {
                            if b[i].is_ascii_digit()
                                && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
                            {
                                let start = i;
                                while i < b.len() && b[i].is_ascii_alphanumeric() {
                                    i += 1;
                                }
                                found.push((li, start, i));
                            } else {
                                i += 1;
                            }
                        }
                        found
                    })
                    .collect();
                if let Some(&(li, s, end)) = numbers.get(k % numbers.len().max(1)) {
                    lines[li].replace_range(s..end, v);
                }
            }
            Edit::Word(k, v) => {
                let quoted: Vec<(usize, usize, usize)> = lines
                    .iter()
                    .enumerate()
                    .flat_map(|(li, l)| {
                        let starts: Vec<usize> = l.match_indices('"').map(|(i, _)| i).collect();
                        starts
                            .chunks_exact(2)
                            .map(|q| (li, q[0] + 1, q[1]))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                if let Some(&(li, s, end)) = quoted.get(k % quoted.len().max(1)) {
                    lines[li].replace_range(s..end, v);
                }
            }
            Edit::Truncate(i) => {
                let keep = i % n;
                lines.truncate(keep);
            }
            _ => {}
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn a_broken_app_file_is_refused_or_built_never_a_panic(
        pick in any::<usize>(),
        edits in edits(),
    ) {
        let files = app_files();
        let (path, text) = &files[pick % files.len()];
        let broken = apply(text, &edits);
        let Ok(app) = App::parse(&broken, path) else { return Ok(()) };
        let Ok(layout) = layout::allocate(&app) else { return Ok(()) };
        let entries = vec![0u64; app.tasks.len()];
        let _ = kconfig::generate(&app, &layout, &entries);
    }
}
