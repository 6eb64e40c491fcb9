//! What each task crate reads from its `config` table (`VIREO_CONFIG`,
//! `userlib::config::setting`): the keys it knows and how each value must
//! read. A task crate reads its settings at run time and falls back to a
//! default for a value it cannot parse, so a misspelled key or a bad value
//! (`liveness-ms = "abc"`, `seed = "0x1E240"`) ran with the default without
//! a word; here they are refused before anything is built.
//!
//! A crate missing from [`CRATES`] reads no config, and a `config` table
//! given to it is refused. The network stack checks its own (richer) rules
//! in its build script (`task/net/build.rs`), so it is listed as such.
//!
//! A crate that starts reading a key must add it here.

use super::Task;

/// How a value must read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// A duration in ms as `userlib::config::ms` reads it: 1 to 9 decimal
    /// digits, not 0.
    Ms,
    /// [`Kind::Ms`] no longer than this.
    MsUpTo(u64),
    /// A decimal `u64` (digits only: no sign, no `0x`), 0 allowed.
    U64,
    /// A decimal `u32` from 1 up.
    Count,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A name of letters, digits and '_' (it becomes part of a log line's
    /// figure name).
    Name,
}

/// Which keys a crate reads.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rules {
    /// These keys, each of a kind.
    Keys(&'static [(&'static str, Kind)]),
    /// The crate's build script checks its `config` and fails the build,
    /// naming the key (`task-net`).
    ItsBuild,
}

/// The longest watchdog period whose ticks fit the 32-bit `ran_ticks`.
pub(super) const MAX_LIVENESS_MS: u64 = u32::MAX as u64 / abi::TICKS_PER_MS;

/// Every crate that reads `VIREO_CONFIG`.
pub(super) const CRATES: &[(&str, Rules)] = &[
    // task/supervisor/src/main.rs: the watchdog's sampling period. It
    // compares a driver's `TaskStatus::ran_ticks` (a wrapping u32 of
    // `abi::TICKS_PER_MS` ticks a ms) between two samples with a twentieth
    // of the period: a longer period wrapped the count (a spinning driver
    // could look starved) and, from 8589935 ms, the twentieth itself.
    (
        "task-supervisor",
        Rules::Keys(&[("liveness-ms", Kind::MsUpTo(MAX_LIVENESS_MS))]),
    ),
    // test/fuzz/suite/src/main.rs: the base seed (decimal only), how many
    // rounds and how many calls in each.
    (
        "fuzz-test",
        Rules::Keys(&[
            ("seed", Kind::U64),
            ("rounds", Kind::Count),
            ("calls", Kind::Count),
        ]),
    ),
    // test/faults/suite/src/main.rs: the seed of its RAM bit flips
    // (decimal only; the campaign build takes `--seed` instead, and a
    // `config` seed given to it is refused: `is_campaign_seed`).
    ("fault-test", Rules::Keys(&[("seed", Kind::U64)])),
    // test/fuzz/attacker/src/main.rs: the hostile client's mode and seed.
    (
        "fuzz-test-attacker",
        Rules::Keys(&[("mode", Kind::OneOf(&["client"])), ("seed", Kind::U64)]),
    ),
    // task/echo/src/task.rs (feature `bench`): the names of its figures.
    (
        "task-echo",
        Rules::Keys(&[("bench", Kind::Name), ("baseline", Kind::Name)]),
    ),
    // task/net/build.rs.
    ("task-net", Rules::ItsBuild),
];

impl Kind {
    /// What a value of this kind is, for messages.
    fn expected(self) -> String {
        match self {
            Kind::Ms => {
                "a whole number of ms from 1 to 999999999, in decimal (e.g. \"100\")".into()
            }
            Kind::MsUpTo(max) => {
                format!("a whole number of ms from 1 to {max}, in decimal (e.g. \"100\")")
            }
            Kind::U64 => format!(
                "a whole number from 0 to {}, in decimal digits only (no sign, no 0x)",
                u64::MAX
            ),
            Kind::Count => format!(
                "a whole number from 1 to {}, in decimal digits only",
                u32::MAX
            ),
            Kind::OneOf(words) => format!(
                "one of {}",
                words
                    .iter()
                    .map(|w| format!("\"{w}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Kind::Name => "a name of letters, digits and '_'".into(),
        }
    }

    fn accepts(self, v: &str) -> bool {
        let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        match self {
            Kind::Ms => digits && v.len() <= 9 && v.bytes().any(|b| b != b'0'),
            Kind::MsUpTo(max) => Kind::Ms.accepts(v) && v.parse::<u64>().is_ok_and(|n| n <= max),
            Kind::U64 => digits && v.parse::<u64>().is_ok(),
            Kind::Count => digits && v.parse::<u32>().is_ok_and(|n| n > 0),
            Kind::OneOf(words) => words.contains(&v),
            Kind::Name => {
                !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }
        }
    }
}

/// The problems with `task`'s `config` table under its crate's rules.
pub(super) fn check(task: &Task, p: &mut Vec<String>) {
    if task.config.is_empty() {
        return;
    }
    let key = format!("tasks.{}.config", task.name);
    let rules = CRATES
        .iter()
        .find(|(c, _)| *c == task.krate)
        .map(|(_, r)| *r);
    let keys = match rules {
        Some(Rules::Keys(keys)) => keys,
        Some(Rules::ItsBuild) => return,
        None => {
            p.push(format!(
                "`{key}`: crate '{}' (task '{}') reads no config; remove the table (the crates that read one: {})",
                task.krate,
                task.name,
                CRATES.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
            ));
            return;
        }
    };
    let names = || keys.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ");
    for (k, v) in &task.config {
        if is_campaign_seed(task, k) {
            p.push(format!(
                "`{key}.{k}`: task '{}' is the fault campaign (crate 'fault-test', feature \
                 `campaign`), which ignores a `config` seed: the campaign's seed is `--seed` \
                 (`cargo xtask test --faults N --seed S`, `cargo xtask campaign --faults N --seed S`); \
                 remove the key",
                task.name
            ));
            continue;
        }
        match keys.iter().find(|(name, _)| name == k) {
            None => p.push(format!(
                "`{key}.{k}`: crate '{}' (task '{}') reads no key '{k}'; its keys are: {}",
                task.krate,
                task.name,
                names()
            )),
            Some((_, kind)) if !kind.accepts(v) => p.push(format!(
                "`{key}.{k}` = {v:?}: crate '{}' (task '{}') takes {}{}",
                task.krate,
                task.name,
                kind.expected(),
                in_decimal(v).map_or(String::new(), |n| format!("; write {v} as \"{n}\""))
            )),
            Some(_) => {}
        }
    }
}

/// Whether `key` of `task`'s `config` is a seed given to the fault
/// campaign: its build of `fault-test` takes the seed xtask passes from
/// `--seed` (`VIREO_CAMPAIGN`) and never reads `config`, so a seed there
/// was accepted and silently not used.
fn is_campaign_seed(task: &Task, key: &str) -> bool {
    task.krate == "fault-test" && key == "seed" && task.features.iter().any(|f| f == "campaign")
}

/// A hex value (`0x1E240`) in decimal, to suggest.
fn in_decimal(v: &str) -> Option<u64> {
    let hex = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X"))?;
    u64::from_str_radix(hex, 16).ok()
}

/// The stack's `ports` grant each service its ports, and the stack posts
/// a service that subscribes its sockets' readiness: a service the stack
/// may not post to (not in its `posts`) had the first such post refused,
/// the stack dropped its subscription without a word, and the service
/// woke only on its own timer (the echo: once a second). A granted task
/// that declares `postable` notifications is one waiting to be posted; one
/// without polls (`test/net-authority.toml`'s suite). Unknown task names
/// and malformed entries are the stack's build's to refuse.
pub(super) fn check_port_grants(app: &super::App, p: &mut Vec<String>) {
    for net in app.tasks.iter().filter(|t| t.krate == "task-net") {
        let Some(ports) = net.config.get("ports") else {
            continue;
        };
        let mut named: Vec<&str> = Vec::new();
        for entry in ports.split(|c: char| c == ',' || c.is_whitespace()) {
            let Some((name, _)) = entry.split_once(':') else {
                continue;
            };
            if named.contains(&name) {
                continue;
            }
            named.push(name);
            let Some(task) = app.tasks.iter().find(|t| t.name == name) else {
                continue;
            };
            let may_post = net.posts.contains(&task.name) || net.slots.contains(&task.name);
            if !task.postable.is_empty() && !may_post {
                p.push(format!(
                    "`tasks.{}.posts`: `config.ports` grants '{name}' a port and '{name}' is `postable`, but the stack may not post to it: add '{name}' to `posts` (its readiness posts were refused, the stack dropped its subscription and it woke only on its own timer)",
                    net.name
                ));
            }
        }
    }
}
