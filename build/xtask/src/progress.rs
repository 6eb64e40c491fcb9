//! Progress while building: a spinner with `[3/7] building task ping` on a
//! terminal, plain lines of the same text otherwise (CI logs). Builds that
//! run side by side (`cargo xtask test`'s build lanes) print plain lines
//! naming their image, `[net.toml 3/7] building task echo`, since two
//! spinners on one terminal would overwrite each other.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Steps of one build.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    /// The image, when builds run side by side.
    label: Option<String>,
}

impl Progress {
    /// A progress display for `total` steps. `quiet` (cargo's output is
    /// being passed through) forces plain lines, and so does a `label`
    /// (the image, when builds run side by side), which they name.
    pub fn new(total: usize, quiet: bool, label: Option<&str>) -> Progress {
        let bar = (!quiet && label.is_none() && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total as u64);
            let style =
                ProgressStyle::with_template("{spinner:.green} [{pos}/{len}] {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            total,
            done: 0,
            label: label.map(str::to_string),
        }
    }

    /// Starts the next step.
    pub fn step(&mut self, what: &str) {
        self.done += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done as u64);
                bar.set_message(what.to_string());
            }
            None => match &self.label {
                Some(label) => eprintln!("[{label} {}/{}] {what}", self.done, self.total),
                None => eprintln!("[{}/{}] {what}", self.done, self.total),
            },
        }
    }

    /// Removes the spinner (before printing results or errors).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
