//! `cargo xtask`: builds, boots, tests and measures Vireo system images.
//!
//! An image is described by an app file (`app.toml` by default, test images
//! in `test/*.toml`): xtask validates it, allocates every region, links the
//! kernel and each task at its own addresses, packs one ELF and runs it in
//! `qemu-system-riscv32 -machine virt`. See each module for one step.

mod bench;
mod campaign;
mod campaign_runs;
mod config;
mod console;
mod dump;
mod elf;
mod gdb;
mod image;
mod kconfig;
mod layout;
mod link;
mod machine;
mod map;
mod mutants;
mod net;
mod nettest;
mod pack;
mod process;
mod progress;
mod qemu;
mod relay;
mod setup;
mod testing;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, run, test and benchmark Vireo images"
)]
struct Cli {
    /// Show cargo's and QEMU's output as it comes instead of only on failure.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build an image: target/<name>/dist/image.elf.
    Build {
        /// App file (default: app.toml at the workspace root).
        app: Option<PathBuf>,
    },
    /// Build an image and boot it in QEMU with the console on this terminal
    /// (quit with Ctrl-A X).
    Run {
        /// App file (default: app.toml at the workspace root).
        app: Option<PathBuf>,
    },
    /// Run the host tests, a boot test of app.toml and every test/*.toml
    /// and examples/*.toml image; or only the images named; or, with
    /// --faults, the fault campaign alone.
    Test {
        /// Test app files to run (default: host tests, boot test, every
        /// test/*.toml and examples/*.toml).
        images: Vec<PathBuf>,
        /// Run only the fault campaign, with this many random injections
        /// (no images with it: the campaign is its own image).
        #[arg(long, conflicts_with = "images")]
        faults: Option<u32>,
        /// The campaign's seed (with --faults; default 1).
        #[arg(long, requires = "faults")]
        seed: Option<u64>,
        /// Replay only fault K of that campaign (with --faults; K as the
        /// campaign's problem lines print it).
        #[arg(long, requires = "faults")]
        only: Option<u32>,
        /// The network checks' seed (`[test] net`: echo data,
        /// `wire-garbage`'s frames...; decimal). Each check's data is its
        /// own constant xor this; the default, 0, is the committed runs'.
        /// A failed check names it.
        #[arg(long, conflicts_with = "faults", default_value_t = nettest::DEFAULT_SEED)]
        net_seed: u64,
    },
    /// Run a long fault campaign: split into QEMU runs of at most 2000
    /// faults with derived seeds, under icount, J at once;
    /// prints the summed report and writes target/campaign/report.json.
    Campaign {
        /// Faults to inject in all.
        #[arg(long)]
        faults: u32,
        /// The campaign's seed (run 0 uses it; later runs derive theirs).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// QEMU runs at once.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// Run bench images under -icount shift=0 and print their figures.
    Bench {
        /// Bench app files, run in the order given, each compared with the
        /// earlier ones' figures (default: every bench/*.toml, then the
        /// fault campaign). E.g. the TCP echo ratio alone:
        /// `cargo xtask bench bench/net-1-linked.toml bench/net-2-isolated.toml`.
        apps: Vec<PathBuf>,
    },
    /// Mutation-test the host-testable crates with cargo-mutants (installed
    /// when missing) and print each file's score; results and surviving
    /// mutants go to target/mutants/. Slow: not part of `test`.
    Mutants {
        /// Crates to mutate (default: every host-testable crate).
        crates: Vec<String>,
        /// Build/test jobs cargo-mutants runs at once.
        #[arg(short, long)]
        jobs: Option<usize>,
        /// Only mutate files matching this glob (repeatable).
        #[arg(short, long = "file")]
        files: Vec<String>,
    },
    /// Show inside a running image (through its gdbstub) or a dump file:
    /// task table, faults, stack high-water marks, ringbufs, bus table.
    Dump {
        /// The image: an app file or an image name (default: app.toml's).
        image: Option<PathBuf>,
        /// Read this dump file (target/<image>/dumps/*.dump) instead.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Only this task: its row, its stack and its ringbufs.
        #[arg(long)]
        task: Option<String>,
        /// Only the ringbufs whose name contains this.
        #[arg(long)]
        ringbuf: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Attach gdb-multiarch to a running image with every program's symbols.
    Gdb {
        /// The image: an app file or an image name (default: app.toml's).
        image: Option<PathBuf>,
        /// Run these gdb commands, then detach (instead of an interactive session).
        #[arg(long = "ex")]
        commands: Vec<String>,
    },
}

/// `target/<name>/` of the image named on the command line: an app file
/// (its `name`), or an image name.
fn image_dir(root: &Path, arg: Option<&Path>) -> Result<PathBuf> {
    let name = match arg {
        Some(p) if p.extension().is_none() && !p.exists() => p.display().to_string(),
        _ => {
            let app = image::resolve_app(root, arg);
            image::load_app(root, &app)?.name
        }
    };
    let dir = root.join("target").join(&name);
    // An image never built is not one that is not running: say which.
    if !dir.join("dist").is_dir() {
        let built: Vec<String> = std::fs::read_dir(root.join("target"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("dist").is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        anyhow::bail!(
            "no image `{name}` has been built here (no {}); build it with `cargo xtask run \
             <app file>`{}",
            dir.join("dist").display(),
            if built.is_empty() {
                String::new()
            } else {
                format!("; the images built are: {}", built.join(", "))
            }
        );
    }
    Ok(dir)
}

/// The workspace root: two levels above this crate.
fn workspace_root() -> Result<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.join("../..")
        .canonicalize()
        .context("cannot find the workspace root")
}

fn run(cli: Cli) -> Result<bool> {
    let root = workspace_root()?;
    match cli.command {
        Cmd::Build { app } => {
            let app_path = image::resolve_app(&root, app.as_deref());
            // Not under a running image: its dist/ is what `dump` and `gdb`
            // decode the machine with (an app file of the same name, built
            // over it, made `dump` show every task shifted by one).
            let name = image::load_app(&root, &app_path)?.name;
            let _lock = qemu::lock_image(&root.join("target").join(&name), &name)?;
            image::build(&root, &app_path, cli.verbose)?;
            Ok(true)
        }
        Cmd::Run { app } => {
            let app_path = image::resolve_app(&root, app.as_deref());
            // Before building: a second run must not rebuild the image of
            // one already running.
            let name = image::load_app(&root, &app_path)?.name;
            let _lock = qemu::lock_image(&root.join("target").join(&name), &name)?;
            let mut built = image::build(&root, &app_path, cli.verbose)?;
            let qemu_bin = qemu::ensure_installed()?;
            qemu::prepare_drives(&built.app, &built.out_dir, false)?;
            let _relays = net::resolve_ports(&mut built.app)?;
            let args = qemu::command_line(&built.app, &built.image, &built.out_dir, false);
            eprintln!(
                "booting: {} {} (quit: Ctrl-A X)",
                qemu::QEMU,
                args.join(" ")
            );
            eprintln!(
                "gdbstub: {} (cargo xtask dump / cargo xtask gdb)",
                dump::socket_path(&built.out_dir).display()
            );
            // Printed once the shell's first prompt shows the image is up.
            let banner = net::summary(&built.app);
            let status = qemu::run_interactive(&qemu_bin, &args, "vireo> ", &banner)?;
            Ok(status.success())
        }
        Cmd::Test {
            images,
            faults,
            seed,
            only,
            net_seed,
        } => match faults {
            Some(faults) => {
                campaign::check_single_run(faults, only)?;
                let seed = seed.unwrap_or(campaign::DEFAULT_SEED);
                let params = campaign::Params { faults, seed, only };
                testing::run_campaign(&root, &params, cli.verbose)
            }
            None if images.is_empty() => testing::run(&root, net_seed, cli.verbose),
            None => testing::run_images(&root, &images, net_seed, cli.verbose),
        },
        Cmd::Campaign { faults, seed, jobs } => {
            if jobs == 0 {
                anyhow::bail!("--jobs must be at least 1 (QEMU runs at once)");
            }
            campaign_runs::run(&root, faults, seed, jobs, cli.verbose)
        }
        Cmd::Bench { apps } => bench::run(&root, &apps, cli.verbose),
        Cmd::Mutants {
            crates,
            jobs,
            files,
        } => mutants::run(
            &root,
            &mutants::Options {
                crates,
                jobs,
                files,
                verbose: cli.verbose,
            },
        ),
        Cmd::Dump {
            image,
            file,
            task,
            ringbuf,
            json,
        } => {
            let out_dir = if file.is_some() {
                PathBuf::new()
            } else {
                image_dir(&root, image.as_deref())?
            };
            dump::run(
                &root,
                &dump::Options {
                    out_dir,
                    file,
                    filter: dump::report::Filter { task, ringbuf },
                    json,
                },
            )?;
            Ok(true)
        }
        Cmd::Gdb { image, commands } => gdb::run(&image_dir(&root, image.as_deref())?, &commands),
    }
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Output piped into a reader that stops early (`cargo xtask test | head`)
/// ends xtask quietly, as the shell's tools end, not with a panic message
/// and a backtrace: Rust's `println!` panics once stdout's reader is gone.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            // 128 + SIGPIPE, the status a shell reports for it. (Panics
            // abort in this workspace: nothing is dropped either way.)
            std::process::exit(141);
        }
        default(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::{Cli, Cmd};
    use clap::Parser;

    /// `cargo xtask test ...`'s `--net-seed`, or clap's error message.
    fn net_seed(args: &[&str]) -> Result<u64, String> {
        let all = ["cargo xtask", "test"].iter().chain(args);
        match Cli::try_parse_from(all).map_err(|e| e.to_string())?.command {
            Cmd::Test { net_seed, .. } => Ok(net_seed),
            _ => unreachable!("parsed `test` as another command"),
        }
    }

    #[test]
    fn the_net_seed_defaults_to_the_committed_streams_and_takes_a_decimal() {
        assert_eq!(
            net_seed(&["test/net-wire.toml"]),
            Ok(crate::nettest::DEFAULT_SEED)
        );
        assert_eq!(crate::nettest::DEFAULT_SEED, 0);
        assert_eq!(net_seed(&["--net-seed", "42"]), Ok(42));
        assert_eq!(
            net_seed(&["test/net.toml", "--net-seed", "18446744073709551615"]),
            Ok(u64::MAX)
        );
    }

    /// A value that is no decimal u64 is refused with the flag's name, not
    /// run with the default seed.
    #[test]
    fn a_bad_net_seed_is_refused_naming_the_flag() {
        for bad in ["0x6a7b", "-1", "abc", "", "18446744073709551616"] {
            let e = net_seed(&[&format!("--net-seed={bad}")]).expect_err(bad);
            assert!(e.contains("--net-seed"), "{bad:?}: {e}");
        }
        // It seeds the network checks, not a campaign.
        let e = net_seed(&["--faults", "10", "--net-seed", "3"]).unwrap_err();
        assert!(e.contains("--net-seed") && e.contains("--faults"), "{e}");
    }
}
