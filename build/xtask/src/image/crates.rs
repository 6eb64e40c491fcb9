//! Whether each task's `crate` names a package of the workspace, asked
//! before anything is built: a misspelt crate otherwise failed deep in the
//! build, under the whole cargo command line. And the interface each
//! package serves to its clients (`[package.metadata.vireo] serves`), by
//! which the supervisor judges a driver that refuses calls.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

use crate::config::{device_id, App};
use crate::process;

/// A workspace package: its name, and whether it has a binary target (a
/// task crate is one).
#[derive(Clone)]
pub(super) struct Package {
    pub name: String,
    pub bin: bool,
    /// The IDL interface it serves (`serves = "block"` under
    /// `[package.metadata.vireo]`: `idl/block.idol`).
    pub serves: Option<String>,
    /// Its cargo features (`[features]`).
    pub features: Vec<String>,
    /// The device classes it can drive (`drives = ["block"]` under
    /// `[package.metadata.vireo]`), if it says.
    pub drives: Option<Vec<String>>,
}

/// The workspace's packages, from `cargo metadata` (no dependency
/// resolution: it reads the manifests only).
fn workspace_packages(root: &Path) -> Result<Vec<Package>> {
    let out = Command::new(process::cargo())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata: unreadable output")?;
    let packages = meta["packages"]
        .as_array()
        .context("cargo metadata: no packages")?;
    Ok(packages
        .iter()
        .filter_map(|p| {
            let bin = p["targets"].as_array().is_some_and(|ts| {
                ts.iter().any(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bin"))
                })
            });
            Some(Package {
                name: p["name"].as_str()?.to_string(),
                bin,
                serves: p["metadata"]["vireo"]["serves"]
                    .as_str()
                    .map(str::to_string),
                features: p["features"]
                    .as_object()
                    .map(|f| f.keys().cloned().collect())
                    .unwrap_or_default(),
                drives: p["metadata"]["vireo"]["drives"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect()
                }),
            })
        })
        .collect())
}

/// A problem for each task whose `crate` is not a package of the
/// workspace, naming the task crates there are.
pub(super) fn unknown_crates(app: &App, packages: &[Package]) -> Vec<String> {
    // The kernel and xtask are binaries too, but no task's.
    let is_task = |p: &Package| p.bin && p.name != "kern" && p.name != "xtask";
    let tasks: Vec<&str> = packages
        .iter()
        .filter(|p| is_task(p))
        .map(|p| p.name.as_str())
        .collect();
    app.tasks
        .iter()
        .filter_map(|t| {
            let why = match packages.iter().find(|p| p.name == t.krate) {
                Some(p) if is_task(p) => return None,
                // A library (userlib) or a host program (xtask) failed
                // deep in cargo, naming neither the file nor the key.
                Some(_) => {
                    "a package of the workspace, but not a task's (a task crate is a \
                            binary built for the target: not a library, the kernel or xtask)"
                }
                None => {
                    "no package of that name in the workspace (a new crate must be one of \
                         its members, see Cargo.toml)"
                }
            };
            Some(format!(
                "`tasks.{}.crate` = {:?}: {why}; the task crates are: {}",
                t.name,
                t.krate,
                tasks.join(", ")
            ))
        })
        .collect()
}

/// A problem for each `features` entry (a task's, or the kernel's) its
/// crate does not have: cargo said so only after building the tasks before
/// it, naming no key of the app file.
pub(super) fn unknown_features(app: &App, packages: &[Package]) -> Vec<String> {
    let owners = app
        .tasks
        .iter()
        .map(|t| (format!("tasks.{}", t.name), t.krate.as_str(), &t.features))
        .chain([("kernel".to_string(), "kern", &app.kernel.features)]);
    let mut problems = Vec::new();
    for (key, krate, features) in owners {
        // (A crate that is not there is `unknown_crates`' to name.)
        let Some(p) = packages.iter().find(|p| p.name == krate) else {
            continue;
        };
        for f in features.iter().filter(|f| !p.features.contains(f)) {
            let mut known = p.features.clone();
            known.sort();
            problems.push(format!(
                "`{key}.features`: {krate} has no feature {f:?}; its features are: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
    }
    problems
}

/// A problem for each task whose `drives` names a class its crate cannot
/// drive (by the crate's `[package.metadata.vireo] drives`): it builds and
/// boots, and its driver never finds a device (`virtio-rng` given `drives =
/// ["gpu"]` answered every `rng` with "the driver has no device", a
/// tester found). Classes compare by device id, names or numbers alike.
pub(super) fn undrivable_classes(app: &App, packages: &[Package]) -> Vec<String> {
    let mut problems = Vec::new();
    for t in &app.tasks {
        let Some(can) = packages
            .iter()
            .find(|p| p.name == t.krate)
            .and_then(|p| p.drives.as_ref())
        else {
            continue;
        };
        let ids: Vec<u32> = can.iter().filter_map(|c| device_id(c)).collect();
        for class in t.drives.iter().flatten() {
            // (An unknown class is the config check's to name.)
            if device_id(class).is_some_and(|id| !ids.contains(&id)) {
                problems.push(format!(
                    "`tasks.{}.drives`: {} drives {} only (its `[package.metadata.vireo] drives`), not {class:?}: the task would never find a device",
                    t.name,
                    t.krate,
                    can.join(", ")
                ));
            }
        }
    }
    problems
}

/// Fails, naming each, if a task's crate is not in the workspace. If cargo
/// cannot say, the build goes on and cargo reports what it finds.
/// Returns what each task serves (see [`served`]).
pub(super) fn check(root: &Path, app: &App, app_path: &Path) -> Result<Vec<String>> {
    // Asked once per run: `cargo xtask test` builds some thirty images
    // from the one workspace.
    static PACKAGES: OnceLock<Option<Vec<Package>>> = OnceLock::new();
    let Some(packages) = PACKAGES.get_or_init(|| workspace_packages(root).ok()) else {
        return Ok(vec![String::new(); app.tasks.len()]);
    };
    let mut problems = unknown_crates(app, packages);
    problems.extend(unknown_features(app, packages));
    problems.extend(undrivable_classes(app, packages));
    if problems.is_empty() {
        return Ok(served(app, packages));
    }
    bail!(
        "{}: {} problem(s):\n  - {}",
        app_path.display(),
        problems.len(),
        problems.join("\n  - ")
    )
}

/// The interface each task's crate serves, in task order (empty for
/// none).
pub(super) fn served(app: &App, packages: &[Package]) -> Vec<String> {
    app.tasks
        .iter()
        .map(|t| {
            packages
                .iter()
                .find(|p| p.name == t.krate)
                .and_then(|p| p.serves.clone())
                .unwrap_or_default()
        })
        .collect()
}

/// The interfaces whose refused calls the supervisor judges
/// (`well_formed` in `task/supervisor/src/main.rs`, which must list the
/// same).
pub(super) const JUDGED: [&str; 3] = ["block", "entropy", "ethernet"];

/// A note for each untrusted task serving an interface the supervisor
/// cannot judge: such a server's refusals of well-formed calls restart
/// nothing, and nothing else would say so.
pub(super) fn unjudged(app: &App, served: &[String]) -> Vec<String> {
    app.tasks
        .iter()
        .zip(served)
        .filter(|(t, s)| !s.is_empty() && !t.is_trusted() && !JUDGED.contains(&s.as_str()))
        .map(|(t, s)| {
            format!(
                "note: task `{}` is untrusted and serves `{s}`, whose calls the supervisor \
                 cannot judge (it judges {}): its clients get `Protocol(Rejected(_))` for calls \
                 it refuses, but a refusal of a well-formed call restarts nothing",
                t.name,
                JUDGED.join(", ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{served, undrivable_classes, unjudged, unknown_crates, unknown_features, Package};
    use crate::config::tests::BASE;
    use crate::config::App;

    fn package(name: &str, bin: bool) -> Package {
        Package {
            name: name.into(),
            bin,
            serves: None,
            features: Vec::new(),
            drives: None,
        }
    }

    /// A driver given a class its crate cannot drive is refused by name;
    /// one given its own class (by name or id) is not, nor a crate that
    /// declares nothing.
    #[test]
    fn a_class_the_crate_cannot_drive_is_refused() {
        let rng = |drives: &str, krate: &str| {
            App::parse(
                &format!(
                    "{BASE}\n[tasks.rng0]\ncrate = \"{krate}\"\npriority = 1\ntext = 4096\nram = 4096\nstack = 1024\ndrives = [{drives}]\nslots = [\"super\"]\n"
                ),
                "x.toml".as_ref(),
            )
            .unwrap()
        };
        let packages = vec![
            Package {
                drives: Some(vec!["entropy".into()]),
                ..package("virtio-rng", true)
            },
            package("other", true),
        ];
        let problems = undrivable_classes(&rng("\"gpu\"", "virtio-rng"), &packages);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("tasks.rng0.drives") && problems[0].contains("\"gpu\""),
            "{}",
            problems[0]
        );
        assert!(undrivable_classes(&rng("\"entropy\"", "virtio-rng"), &packages).is_empty());
        assert!(undrivable_classes(&rng("\"4\"", "virtio-rng"), &packages).is_empty());
        assert!(undrivable_classes(&rng("\"gpu\"", "other"), &packages).is_empty());
    }

    /// A feature the crate does not have was cargo's error, after the
    /// tasks before it were built, naming no key.
    #[test]
    fn a_feature_the_crate_lacks_is_named_with_its_key() {
        let mut app: App = crate::config::tests::parse(BASE).unwrap();
        app.tasks[2].features = vec!["fast".into(), "bogus".into()];
        app.kernel.features = vec!["nonexistent-feature".into()];
        let mut ping = package("task-ping", true);
        ping.features = vec!["fast".into(), "default".into()];
        let kern = package("kern", true);
        let problems = unknown_features(&app, &[ping, kern]);
        assert_eq!(
            problems,
            [
                "`tasks.ping.features`: task-ping has no feature \"bogus\"; its features are: default, fast",
                "`kernel.features`: kern has no feature \"nonexistent-feature\"; its features are: none",
            ]
        );
    }

    #[test]
    fn a_task_crate_outside_the_workspace_is_named() {
        let app: App = crate::config::tests::parse(BASE).unwrap();
        let all = [
            package("task-supervisor", true),
            package("pong", true),
            package("task-ping", true),
            package("task-idle", true),
            package("abi", false),
        ];
        assert!(unknown_crates(&app, &all).is_empty());
        let without_ping = [&all[..2], &all[3..]].concat();
        let problems = unknown_crates(&app, &without_ping);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("`tasks.ping.crate` = \"task-ping\": no package")
                && problems[0].ends_with("the task crates are: task-supervisor, pong, task-idle"),
            "{}",
            problems[0]
        );
    }

    /// A library or a host program as a task's crate failed deep in cargo
    /// (35,528 lines of errors for `xtask`).
    #[test]
    fn a_package_that_is_no_task_crate_is_named() {
        let app: App = crate::config::tests::parse(BASE).unwrap();
        for (name, bin) in [("userlib", false), ("xtask", true), ("kern", true)] {
            let all = [
                package("task-supervisor", true),
                package("pong", true),
                package(name, bin),
                package("task-idle", true),
            ];
            let app = App {
                tasks: app
                    .tasks
                    .iter()
                    .cloned()
                    .map(|mut t| {
                        if t.name == "ping" {
                            t.krate = name.into();
                        }
                        t
                    })
                    .collect(),
                ..app.clone()
            };
            let problems = unknown_crates(&app, &all);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].contains(&format!(
                    "`tasks.ping.crate` = \"{name}\": a package of the workspace, but not a task's"
                )) && problems[0]
                    .ends_with("the task crates are: task-supervisor, pong, task-idle"),
                "{}",
                problems[0]
            );
        }
    }

    #[test]
    fn each_task_serves_what_its_crate_declares() {
        let app: App = crate::config::tests::parse(BASE).unwrap();
        let mut all = vec![
            package("task-supervisor", true),
            package("pong", true),
            package("task-ping", true),
            package("task-idle", true),
        ];
        all[1].serves = Some("ping".into());
        let names: Vec<&str> = app.tasks.iter().map(|t| t.krate.as_str()).collect();
        let want: Vec<&str> = names
            .iter()
            .map(|&n| if n == "pong" { "ping" } else { "" })
            .collect();
        assert_eq!(served(&app, &all), want);
    }

    #[test]
    fn an_untrusted_server_the_supervisor_cannot_judge_is_noted() {
        let app: App = crate::config::tests::parse(
            &BASE.replace("priority = 1", "priority = 1\ntrusted = false"),
        )
        .unwrap();
        let served = [String::new(), "kv".into(), "block".into(), String::new()];
        let notes = unjudged(&app, &served);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("task `pong` is untrusted and serves `kv`"),
            "{}",
            notes[0]
        );
        let judged = [String::new(), "block".into(), "kv".into(), String::new()];
        assert!(
            unjudged(&app, &judged).is_empty(),
            "a trusted kv server is not noted"
        );
    }
}
