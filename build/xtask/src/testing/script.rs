//! The console-script state machine of `kind = "console"` test images: a
//! person's session through the shell, typed on QEMU's stdin.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::image;
use super::lookout::Lookout;
use super::Case;
use crate::config::{Step, TestSpec, DEFAULT_STEP_TIMEOUT};
use crate::console::{self, Line};
use crate::qemu::{self, Capture, Interact};

/// A scripted console session: the state of a `kind = "console"` test as
/// output arrives (pure, so it can be tested with made-up transcripts).
///
/// For each step: if it has a line to send, wait for the prompt (after the
/// previous step's answer), then send the line and a newline; then wait
/// for the line's echo followed by a newline, and for `expect` after it.
/// Each step has its own deadline, counted from when the previous one
/// ended. The first step that fails ends the session; the steps after it
/// fail as not run.
///
/// The steps look at the shell's output only, the kernel's log lines taken
/// out ([`without_log_lines`]); but a step that only waits for `expect`
/// also finds it in a log line that came after the step began (from boot,
/// for a first step): a task's log line is what such a step often waits
/// for ([`Script::advance_console`]).
pub struct Script<'a> {
    steps: &'a [Step],
    prompt: &'a str,
    /// The step under way.
    step: usize,
    phase: Phase,
    /// Where in the shell's output the current phase looks, and how far
    /// what it waits for is known not to be.
    look: Lookout,
    /// When the current step started.
    started: Duration,
    /// Where in the console as it came (log lines included) the current
    /// step's `expect` is looked for: by a step without a line to send, to
    /// pass; by one with, to say so when it fails.
    raw_look: Lookout,
    /// How much of the console had come before the latest output.
    raw_before: usize,
    /// Where in the console as it came the text of the step that passed
    /// last ends: the next step's waiting starts after it, not only from
    /// the latest output (one line, come in one piece, passed two steps
    /// that waited for the same text).
    raw_taken: usize,
    /// When the last step passed (none yet, or a step failed).
    done_at: Option<Duration>,
    cases: Vec<Case>,
    /// The shell's output ([`without_log_lines`]) of the console up to
    /// `shell_upto`, the end of its last whole line: kept, not made anew
    /// from the whole console after every chunk (a chatty image's test
    /// fell minutes behind its console that way).
    shell: String,
    shell_upto: usize,
    /// The step (its index) that sends a line and whose `expect` has
    /// appeared, since the line was sent, in a task's log line: which it does not
    /// look at, so the failure must say where the text was (a user's step
    /// `{ send = "fault kv", expect = "kvc: loop" }` failed as "did not
    /// appear" with the line on the console in plain sight).
    expect_in_log: Option<usize>,
    /// Bytes the searches have looked at: in proportion to the console,
    /// not to its length times the chunks it came in (a test checks).
    examined: usize,
}

/// How long a session whose steps all passed waits for the console's
/// last line to end before it stops QEMU (a prompt ends it at once).
const LINE_GRACE: Duration = Duration::from_millis(500);

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the prompt before sending the step's line.
    Prompt,
    /// The line was sent: waiting for its echo.
    Echo,
    /// Waiting for the step's expectation.
    Expect,
    /// Every step has a verdict.
    Done,
}

impl<'a> Script<'a> {
    /// A session that runs `spec`'s steps.
    pub fn new(spec: &'a TestSpec) -> Self {
        let mut s = Script {
            steps: &spec.steps,
            prompt: &spec.prompt,
            step: 0,
            phase: Phase::Prompt,
            look: Lookout::at(0),
            started: Duration::ZERO,
            raw_look: Lookout::at(0),
            raw_before: 0,
            raw_taken: 0,
            done_at: None,
            cases: Vec::new(),
            shell: String::new(),
            shell_upto: 0,
            expect_in_log: None,
            examined: 0,
        };
        s.begin_step(0, Duration::ZERO);
        s
    }

    /// The case name of step `i`.
    pub fn step_name(step: &Step, i: usize) -> String {
        match (&step.send, &step.expect) {
            (Some(send), Some(expect)) => format!("step {}: `{send}` shows `{expect}`", i + 1),
            (Some(send), None) => format!("step {}: `{send}`", i + 1),
            (None, Some(expect)) => format!("step {}: `{expect}` appears", i + 1),
            (None, None) => format!("step {}", i + 1),
        }
    }

    fn begin_step(&mut self, from: usize, now: Duration) {
        self.look = Lookout::at(from);
        self.started = now;
        self.raw_look = Lookout::at(self.raw_before.max(self.raw_taken));
        self.phase = match self.steps.get(self.step) {
            None => {
                self.done_at = Some(now);
                Phase::Done
            }
            Some(step) if step.send.is_some() => Phase::Prompt,
            Some(_) => Phase::Expect,
        };
    }

    fn timeout(&self) -> Duration {
        let step = &self.steps[self.step];
        Duration::from_secs(step.timeout.unwrap_or(DEFAULT_STEP_TIMEOUT))
    }

    /// Ends the current step with `error` (None: passed) and starts the
    /// next one at transcript offset `from`.
    fn finish_step(&mut self, error: Option<String>, from: usize, now: Duration) {
        let name = Self::step_name(&self.steps[self.step], self.step);
        let failed = error.is_some();
        self.cases.push(Case { name, error });
        self.step += 1;
        if failed {
            self.abandon("not run: an earlier step failed");
        } else {
            self.begin_step(from, now);
        }
    }

    /// Fails every step without a verdict yet.
    fn abandon(&mut self, why: &str) {
        while self.step < self.steps.len() {
            let name = Self::step_name(&self.steps[self.step], self.step);
            self.cases.push(Case::fail(name, why));
            self.step += 1;
        }
        self.phase = Phase::Done;
    }

    /// What to do, given the whole console so far as it came (`raw`) and
    /// the time since start: [`advance`](Self::advance) on the shell's
    /// output, after a step that only waits for `expect` has looked for it
    /// in `raw` too.
    ///
    /// Once every step has passed, it stops only at the end of a line (or
    /// at the prompt): a step that waits for the start of a line would
    /// otherwise stop QEMU with the line half printed, and the test's
    /// `expect` list, judged on the whole console afterwards, miss it.
    pub fn advance_console(&mut self, raw: &str, now: Duration) -> Interact {
        // Whole lines are filtered once; the unfinished last one each time
        // (a log line is taken out only once its newline came).
        if let Some(nl) = raw.get(self.shell_upto..).and_then(|r| r.rfind('\n')) {
            let upto = self.shell_upto + nl + 1;
            self.shell
                .push_str(&without_log_lines(&raw[self.shell_upto..upto]));
            self.shell_upto = upto;
        }
        let whole = self.shell.len();
        self.shell
            .push_str(&without_log_lines(raw.get(self.shell_upto..).unwrap_or("")));
        let shell = std::mem::take(&mut self.shell);
        let next = self.advance_shell(&shell, whole, raw, now);
        self.shell = shell;
        self.shell.truncate(whole);
        next
    }

    /// [`advance_console`](Self::advance_console) with the shell's output
    /// made; its first `settled` bytes are whole lines, which later output
    /// does not change.
    fn advance_shell(&mut self, shell: &str, settled: usize, raw: &str, now: Duration) -> Interact {
        self.note_expect_in_log(raw);
        loop {
            let next = self.advance_settled(shell, settled, raw, now);
            if next == Interact::Wait && self.waited_for_in(raw, now) {
                continue;
            }
            // A step begun in this call looked at this output too.
            self.raw_before = raw.len();
            if let Interact::Send(_) = next {
                // What a typed line causes comes after it.
                self.raw_look = Lookout::at(raw.len());
            }
            if next == Interact::Stop && !self.line_ended(raw, now) {
                return Interact::Wait;
            }
            return next;
        }
    }

    /// Whether the console as it came ends a line, or with the prompt, or
    /// the last step passed [`LINE_GRACE`] ago (a session that failed
    /// stops at once).
    fn line_ended(&self, raw: &str, now: Duration) -> bool {
        let Some(done) = self.done_at else {
            return true;
        };
        raw.is_empty()
            || raw.ends_with('\n')
            || raw.trim_end().ends_with(self.prompt.trim())
            || now.saturating_sub(done) >= LINE_GRACE
    }

    /// Notes whether the current step, one that sends a line, has its
    /// `expect` in `raw` since the line was sent (then in a log line, or
    /// it would have passed): its failure says so.
    fn note_expect_in_log(&mut self, raw: &str) {
        if let Some(Step {
            send: Some(_),
            expect: Some(expect),
            ..
        }) = self.steps.get(self.step)
        {
            if self.phase != Phase::Prompt
                && self.expect_in_log != Some(self.step)
                && self
                    .raw_look
                    .find(raw, raw.len(), expect, &mut self.examined)
                    .is_some()
            {
                self.expect_in_log = Some(self.step);
            }
        }
    }

    /// Whether the current step only waits for `expect` and it is in `raw`
    /// (then the step has passed).
    fn waited_for_in(&mut self, raw: &str, now: Duration) -> bool {
        let Some(Step {
            send: None,
            expect: Some(expect),
            ..
        }) = self.steps.get(self.step)
        else {
            return false;
        };
        if self.phase != Phase::Expect {
            return false;
        }
        match self
            .raw_look
            .find(raw, raw.len(), expect, &mut self.examined)
        {
            Some(at) => {
                self.raw_taken = at + expect.len();
                let from = self.look.from();
                self.finish_step(None, from, now);
                true
            }
            None => false,
        }
    }

    /// What to do, given the whole output so far (which only grows) and
    /// the time since start: [`advance_console`](Self::advance_console)
    /// on a console with no log lines, for tests.
    #[cfg(test)]
    pub fn advance(&mut self, transcript: &str, now: Duration) -> Interact {
        self.advance_settled(transcript, transcript.len(), transcript, now)
    }

    /// [`advance`](Self::advance) on a transcript whose first `settled`
    /// bytes later calls' transcripts start with; what follows may change.
    /// `raw`: the console as it came, where a step's text is taken too.
    fn advance_settled(
        &mut self,
        transcript: &str,
        settled: usize,
        raw: &str,
        now: Duration,
    ) -> Interact {
        loop {
            if self.phase == Phase::Done {
                return Interact::Stop;
            }
            let step = &self.steps[self.step];
            match self.phase {
                Phase::Prompt => {
                    if let Some(at) =
                        self.look
                            .find(transcript, settled, self.prompt, &mut self.examined)
                    {
                        self.look = Lookout::at(at + self.prompt.len());
                        self.phase = Phase::Echo;
                        let line = step.send.clone().unwrap_or_default();
                        return Interact::Send(format!("{line}\n"));
                    }
                }
                Phase::Echo => {
                    let line = step
                        .echo
                        .as_deref()
                        .or(step.send.as_deref())
                        .unwrap_or_default();
                    if let Some(at) = self
                        .look
                        .find(transcript, settled, line, &mut self.examined)
                    {
                        // The rest of an unfinished line: no newline
                        // follows the echo yet, or it would be past it.
                        let after = &transcript[at + line.len()..];
                        let nl = after.find('\n');
                        self.examined += nl.map_or(after.len(), |nl| nl + 1);
                        if let Some(nl) = nl {
                            self.look = Lookout::at(at + line.len() + nl + 1);
                            self.phase = Phase::Expect;
                            continue;
                        }
                    }
                }
                Phase::Expect => match &step.expect {
                    Some(expect) => {
                        if let Some(at) =
                            self.look
                                .find(transcript, settled, expect, &mut self.examined)
                        {
                            // Its first coming in the console as it came
                            // is taken too (this, or the same text in a
                            // log line before it).
                            if let Some(taken) =
                                self.raw_look
                                    .find(raw, raw.len(), expect, &mut self.examined)
                            {
                                self.raw_taken = taken + expect.len();
                            }
                            self.finish_step(None, at + expect.len(), now);
                            continue;
                        }
                    }
                    // Nothing to look for: done once the line was taken.
                    None => {
                        let from = self.look.from();
                        self.finish_step(None, from, now);
                        continue;
                    }
                },
                Phase::Done => unreachable!("handled above"),
            }
            if now.saturating_sub(self.started) >= self.timeout() {
                let waited = match self.phase {
                    Phase::Prompt => format!("the prompt {:?} did not appear", self.prompt),
                    Phase::Echo => "the line was not echoed".to_string(),
                    _ => format!("{:?} did not appear", step.expect.as_deref().unwrap_or("")),
                };
                let in_log = match (&step.send, &step.expect) {
                    (Some(send), Some(expect)) if self.expect_in_log == Some(self.step) => format!(
                        "; {expect:?} came in a task's log line, and a step that sends a line looks only at the shell's answer to it: wait for the log line in a step of its own after `{send}`, `{{ expect = {expect:?} }}`"
                    ),
                    _ => String::new(),
                };
                let secs = self.timeout().as_secs();
                let from = self.look.from();
                let output = tail(transcript.get(from..).unwrap_or(""));
                self.finish_step(
                    Some(format!(
                        "{waited} within {secs} s; output since: {output}{in_log}"
                    )),
                    from,
                    now,
                );
                continue;
            }
            return Interact::Wait;
        }
    }

    /// Bytes the session's searches have looked at so far.
    #[cfg(test)]
    pub fn examined(&self) -> usize {
        self.examined
    }

    /// The verdicts, once the session is over: steps still without one fail
    /// with how the run ended; a kernel panic anywhere is a failed case.
    pub fn finish(mut self, cap: &Capture, timeout_s: u64) -> Vec<Case> {
        self.abandon(&format!(
            "not reached: {}{}",
            image::how_it_ended(cap, timeout_s),
            image::qemu_said(cap)
        ));
        for line in &cap.lines {
            if console::parse(line) == Line::Panic {
                self.cases.push(Case::fail(
                    "kernel",
                    format!("kernel panic: {}", line.trim()),
                ));
            }
        }
        self.cases
    }
}

/// The end of `text` on one line, for a failure message.
fn tail(text: &str) -> String {
    const MAX: usize = 200;
    let t = text.trim();
    let start = t.char_indices().rev().nth(MAX - 1).map_or(0, |(i, _)| i);
    let t = &t[start..];
    if t.is_empty() {
        "(nothing)".to_string()
    } else {
        format!("{:?}", t.replace('\r', ""))
    }
}

/// Runs a `kind = "console"` test image: its script typed on QEMU's
/// stdin, its expects looked for on the whole console.
pub fn console_test(
    qemu_bin: &Path,
    args: &[String],
    spec: &TestSpec,
    verbose: bool,
) -> Result<Vec<Case>> {
    let mut script = Script::new(spec);
    let cap = qemu::run_console(
        qemu_bin,
        args,
        Duration::from_secs(spec.timeout),
        verbose,
        |transcript, now| script.advance_console(transcript, now),
    )?;
    let mut cases = script.finish(&cap, spec.timeout);
    cases.extend(image::expect_cases(&cap.lines, &spec.expect));
    if !verbose && cases.iter().any(|c| c.error.is_some()) {
        image::print_console(&cap);
    }
    Ok(cases)
}

/// The console without the kernel's log lines (`[   1.234567] source:
/// text` up to its newline). Tasks log through the kernel at any moment —
/// a task starting, a fault — and such a line can land in the middle of the
/// shell echoing what was typed; the script must see only the shell.
pub fn without_log_lines(transcript: &str) -> String {
    let mut out = String::with_capacity(transcript.len());
    let mut rest = transcript;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let is_log = after.split_once(']').is_some_and(|(stamp, tail)| {
            let stamp = stamp.trim();
            stamp.contains('.')
                && stamp.chars().all(|c| c.is_ascii_digit() || c == '.')
                && tail.starts_with(' ')
                && tail
                    .split('\n')
                    .next()
                    .and_then(|line| line.find(':'))
                    .is_some_and(|c| c > 1 && !tail[1..c].contains(' '))
        });
        match (is_log, after.find('\n')) {
            (true, Some(nl)) => {
                out.push_str(&rest[..open]);
                rest = &after[nl + 1..];
            }
            // An unfinished log line is hidden until its newline arrives
            // (and then removed whole): shown now and removed later, it
            // would let a step match text inside it ("task blk0 restarted"
            // in the supervisor's "task blk0 restarted as generation 2")
            // and then shift everything after it.
            (true, None) => {
                out.push_str(&rest[..open]);
                rest = "";
                break;
            }
            (false, None) if could_be_log(after) => {
                out.push_str(&rest[..open]);
                rest = "";
                break;
            }
            (false, _) => {
                out.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// How many of the console `lines` contain `text`: the lines as they came
/// (the kernel's log lines are whole: it writes each in one go), or the
/// lines of what the shell wrote, with the log lines taken out — a task's
/// log line can land in the middle of the shell's prompt
/// (`v[   0.031406] net: address 10.0.2.15/24 (DHCP)` then `ireo> `),
/// and the prompt was printed all the same.
pub fn lines_containing(lines: &[String], text: &str) -> usize {
    let as_came = lines.iter().filter(|l| l.contains(text)).count();
    let mut console = lines.join("\n");
    console.push('\n');
    let shell = without_log_lines(&console)
        .lines()
        .filter(|l| l.contains(text))
        .count();
    as_came.max(shell)
}

/// [`lines_containing`] for a console that grows while it is asked about
/// (a net test's `wait_for`, every 50 ms): each line is filtered once,
/// and each text counted over what came since it was last asked for.
/// Made anew from the whole console at every poll, a count cost 0.2 s at
/// 100,000 lines, and a wait on a chatty image kept a core busy (of the
/// two that CI has, QEMU using the other) longer the longer it ran.
#[derive(Debug, Default)]
pub struct LineCounts {
    /// Console lines taken so far.
    taken: usize,
    /// The shell's output of the lines taken ([`without_log_lines`]).
    shell: String,
    counts: std::collections::HashMap<String, Count>,
    /// Bytes looked at, for a test: in proportion to the console.
    examined: usize,
}

/// One text's count so far.
#[derive(Debug, Default)]
struct Count {
    /// Console lines counted.
    lines: usize,
    /// How many of them contain the text.
    as_came: usize,
    /// The shell's output counted: its whole lines.
    shell_upto: usize,
    /// How many of them contain the text.
    shell: usize,
}

impl LineCounts {
    /// [`lines_containing`]`(lines, text)`; `lines` is the console so
    /// far, the lines of every earlier call and more after them.
    pub fn count(&mut self, lines: &[String], text: &str) -> usize {
        for line in lines.get(self.taken..).unwrap_or_default() {
            self.examined += line.len();
            // A log line ends at its newline: filtering line by line
            // takes out what filtering the whole console would.
            self.shell
                .push_str(&without_log_lines(&format!("{line}\n")));
        }
        self.taken = self.taken.max(lines.len());
        let c = self.counts.entry(text.to_string()).or_default();
        for line in lines.get(c.lines..).unwrap_or_default() {
            self.examined += line.len();
            c.as_came += usize::from(line.contains(text));
        }
        c.lines = c.lines.max(lines.len());
        let whole = self.shell.rfind('\n').map_or(0, |nl| nl + 1);
        if let Some(new) = self.shell.get(c.shell_upto..whole) {
            self.examined += new.len();
            c.shell += new.lines().filter(|l| l.contains(text)).count();
            c.shell_upto = whole;
        }
        // The shell's unfinished last line (a log line took its newline).
        let last = &self.shell[whole..];
        self.examined += last.len();
        let shell = c.shell + usize::from(!last.is_empty() && last.contains(text));
        c.as_came.max(shell)
    }

    /// Bytes looked at so far.
    #[cfg(test)]
    pub fn examined(&self) -> usize {
        self.examined
    }
}

/// Whether an unfinished line after `[` may still turn out to be a log
/// line (`[   1.234567] source: text`): a timestamp so far, then perhaps
/// the start of one word.
fn could_be_log(after: &str) -> bool {
    let (stamp, tail) = after.split_once(']').unwrap_or((after, ""));
    let stamp_ok = stamp
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == ' ');
    let tail_ok = tail.is_empty()
        || (tail.starts_with(' ') && !tail[1..].split(':').next().unwrap_or("").contains(' '));
    stamp_ok && tail_ok
}
