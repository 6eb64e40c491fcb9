//! `[test]`: what a test or bench image's run must show, and how to drive
//! it (console steps, dump checks, host-side network checks).

use serde::Deserialize;

/// `[test]`. A missing key takes its value from [`TestSpec::default`], the
/// one place the defaults are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestSpec {
    /// Wall-clock seconds before the image is killed and failed.
    pub timeout: u64,
    /// Substrings that must each appear on the console.
    pub expect: Vec<String>,
    /// A test image or a benchmark image.
    pub kind: TestKind,
    /// Console tests: what the shell prints when it is ready for a line.
    pub prompt: String,
    /// Console tests: the lines to type and what must answer each.
    pub steps: Vec<Step>,
    /// Images that test one of the kernel's own last-resort checks (the
    /// kernel stack guard): the image must end in a kernel panic whose line
    /// contains this text. That panic is then a passing case, and the image
    /// is not expected to reach `[test] done`; any other panic still fails.
    #[serde(rename = "kernel-panic")]
    pub kernel_panic: Option<String>,
    /// Images that test the kernel's answer to a fault of the supervisor
    /// (a reboot, after its post-mortem dump): the image must end in the
    /// kernel's "supervisor ... faulted (...): nobody can recover it;
    /// rebooting" line, containing this text. It is then a passing case,
    /// the run stops there (the rebooted image would start over), and
    /// `[test] done` is not expected.
    #[serde(rename = "supervisor-fault")]
    pub supervisor_fault: Option<String>,
    /// What `cargo xtask dump` must show of this image (`[test.dump]`).
    pub dump: Option<DumpCheck>,
    /// Net tests: the host-side checks to run, in order (see
    /// `nettest::CHECKS`).
    pub net: Vec<String>,
}

/// `[test.dump]`: checks of what `cargo xtask dump` shows, on the live
/// image when `when` appears on the console, or (`post-mortem = true`) on
/// the dump file left by a kernel panic the image commits on purpose.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct DumpCheck {
    /// Console text after which the live image is dumped.
    pub when: Option<String>,
    /// Check the post-mortem dump the image leaves (with `kernel-panic`,
    /// for a kernel that panics on purpose).
    pub post_mortem: bool,
    /// Substrings of the text report, each one case.
    pub text: Vec<String>,
    /// JSON pointers into the `--json` report and the value each must
    /// hold, each one case.
    pub json: std::collections::BTreeMap<String, toml::Value>,
    /// Live images: substrings that `cargo xtask gdb --ex bt` must print,
    /// in this order (one case).
    pub gdb_bt: Vec<String>,
}

impl Default for TestSpec {
    fn default() -> TestSpec {
        TestSpec {
            timeout: 60,
            expect: Vec::new(),
            kind: TestKind::default(),
            prompt: "vireo> ".to_string(),
            steps: Vec::new(),
            kernel_panic: None,
            supervisor_fault: None,
            dump: None,
            net: Vec::new(),
        }
    }
}

/// `test.kind`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestKind {
    /// Cases reported on the console, checked by `cargo xtask test`.
    #[default]
    Qemu,
    /// Figures reported on the console, tabulated by `cargo xtask bench`.
    Bench,
    /// A person's session, scripted: `cargo xtask test` types each step's
    /// line on QEMU's stdin and checks what the console answers.
    Console,
    /// Network services driven from the host through the forwards: once
    /// every `expect` line is on the console, `cargo xtask test` runs the
    /// checks named in `net`, one case each.
    Net,
}

/// `[[test.steps]]`: one line typed at the console, and its answer. Each
/// step is one case of the test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The line to type (without the newline). Sent once the prompt has
    /// appeared after the previous step's answer. Without it the step only
    /// waits for `expect`.
    pub send: Option<String>,
    /// What the console echoes of `send`, when that is not the line
    /// itself: a line longer than the shell keeps, escape sequences it
    /// swallows. The answer is looked for after this.
    #[serde(default)]
    pub echo: Option<String>,
    /// Text that must appear on the console after the line (and after its
    /// echo, so the typed line itself never matches).
    pub expect: Option<String>,
    /// Seconds the step may take, the prompt included (default 10).
    pub timeout: Option<u64>,
}

/// Seconds a console step may take when it does not say.
pub const DEFAULT_STEP_TIMEOUT: u64 = 10;
