//! Progress while building: a spinner with `[3/7] building task ping` on a
//! terminal, plain lines of the same text otherwise (CI logs).

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Steps of one build.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
}

impl Progress {
    /// A progress display for `total` steps. `quiet` (cargo's output is
    /// being passed through) forces plain lines.
    pub fn new(total: usize, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
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
            None => eprintln!("[{}/{}] {what}", self.done, self.total),
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
