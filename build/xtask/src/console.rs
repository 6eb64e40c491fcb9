//! The console protocol test and bench images speak on the UART.
//!
//! Lines start with a virtual timestamp, `[  0.012345] `, then the task's
//! text. xtask looks for:
//!
//! - `[test] case <name> ... ok` and `[test] case <name> ... FAIL: <reason>`,
//! - `[test] done`: the image has finished reporting,
//! - `KERNEL PANIC`: the kernel itself gave up,
//! - `[bench] <name> <value> <unit>`, optionally ` baseline=<name>`.

/// What one console line means.
#[derive(Clone, Debug, PartialEq)]
pub enum Line<'a> {
    /// A test case passed.
    Pass(&'a str),
    /// A test case failed, with the reason the image gave.
    Fail(&'a str, &'a str),
    /// The image has reported everything.
    Done,
    /// The kernel panicked.
    Panic,
    /// A benchmark figure.
    Bench(Bench),
    /// Anything else.
    Other,
}

/// One `[bench]` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Bench {
    /// Figure name.
    pub name: String,
    /// The value as printed.
    pub value: f64,
    /// Its unit, e.g. "instructions".
    pub unit: String,
    /// The figure this one should be compared with.
    pub baseline: Option<String>,
}

const CASE: &str = "[test] case ";
const DONE: &str = "[test] done";
const PANIC: &str = "KERNEL PANIC";
const BENCH: &str = "[bench] ";

/// A console line split into the task that printed it and its text:
/// `[  0.1] suite: [test] done` is `(Some("suite"), "[test] done")`. A line
/// without the timestamp and task prefix is all text.
pub fn split(line: &str) -> (Option<&str>, &str) {
    let line = line.trim_start();
    let rest = match line.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((stamp, rest)) if stamp.trim().parse::<f64>().is_ok() => rest,
        _ => line,
    };
    match rest.split_once(": ") {
        Some((task, text)) if !task.is_empty() && !task.contains([' ', '[']) => (Some(task), text),
        _ => (None, rest),
    }
}

/// The task that printed a `[test]` line, if it is one.
pub fn reporter(line: &str) -> Option<&str> {
    match split(line) {
        (Some(task), text) if text.starts_with("[test]") => Some(task),
        _ => None,
    }
}

/// Classifies one console line. A protocol line is one whose text (after
/// the timestamp and the task's name) begins with its tag: a task that
/// logs someone else's text ("peer said: [test] done") or puts another
/// task's name before the tag says nothing to the judge.
pub fn parse(line: &str) -> Line<'_> {
    if line.contains(PANIC) {
        return Line::Panic;
    }
    let (_, text) = split(line);
    if let Some(rest) = text.strip_prefix(CASE) {
        if let Some((name, verdict)) = rest.split_once(" ... ") {
            let verdict = verdict.trim_end();
            if verdict == "ok" {
                return Line::Pass(name.trim());
            }
            if let Some(reason) = verdict.strip_prefix("FAIL") {
                let reason = reason.trim_start_matches(':').trim();
                return Line::Fail(name.trim(), reason);
            }
        }
        return Line::Other;
    }
    if text.trim_end() == DONE {
        return Line::Done;
    }
    if let Some(b) = text.strip_prefix(BENCH).and_then(parse_bench) {
        return Line::Bench(b);
    }
    Line::Other
}

fn parse_bench(rest: &str) -> Option<Bench> {
    let mut words = rest.split_whitespace();
    let name = words.next()?.to_string();
    let value: f64 = words.next()?.parse().ok()?;
    let unit = words.next()?.to_string();
    let mut baseline = None;
    for w in words {
        if let Some(b) = w.strip_prefix("baseline=") {
            baseline = Some(b.to_string());
        } else {
            return None;
        }
    }
    Some(Bench {
        name,
        value,
        unit,
        baseline,
    })
}

/// The virtual timestamp of a kernel line, in seconds:
/// `[  1.250000] ...` → 1.25. The first bracketed number in the line counts,
/// since the shell's prompt (written straight to the UART) may precede a
/// kernel line: `vireo> [  1.250000] kernel: ...`.
pub fn timestamp(line: &str) -> Option<f64> {
    line.match_indices('[').find_map(|(i, _)| {
        let (secs, _) = line[i + 1..].split_once(']')?;
        secs.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::{parse, reporter, timestamp, Bench, Line};

    #[test]
    fn only_a_tag_at_the_start_of_a_tasks_text_counts() {
        assert_eq!(
            parse("[  0.1] chatter: peer said: [test] done"),
            Line::Other
        );
        assert_eq!(
            parse("[  0.1] evil: suite: [test] case x ... ok"),
            Line::Other
        );
        assert_eq!(parse("[  0.1] suite: [test] done"), Line::Done);
        assert_eq!(parse("[  0.1] suite: [test] done\r"), Line::Done);
        assert_eq!(reporter("[  0.1] evil: suite: [test] case x ... ok"), None);
    }

    #[test]
    fn test_lines_name_their_task() {
        assert_eq!(
            reporter("[  0.012345] test-suite: [test] case ipc ... ok"),
            Some("test-suite")
        );
        assert_eq!(reporter("suite: [test] done"), Some("suite"));
        assert_eq!(reporter("[test] done"), None);
        assert_eq!(reporter("[  1.0] supervisor: task suite faulted"), None);
    }

    #[test]
    fn case_lines() {
        assert_eq!(
            parse("[  0.012345] test-suite: [test] case ipc_ping_pong ... ok"),
            Line::Pass("ipc_ping_pong")
        );
        assert_eq!(
            parse("[  0.012345] test-suite: [test] case ipc_ping_pong ... ok\r"),
            Line::Pass("ipc_ping_pong")
        );
        assert_eq!(
            parse("[  0.1] runner: [test] case leases ... FAIL: got 3, wanted 4"),
            Line::Fail("leases", "got 3, wanted 4")
        );
        assert_eq!(parse("[test] case x ... FAIL"), Line::Fail("x", ""));
        assert_eq!(parse("[test] case x is starting"), Line::Other);
    }

    #[test]
    fn done_and_panic() {
        assert_eq!(parse("[  3.000000] runner: [test] done"), Line::Done);
        assert_eq!(
            parse("[  0.5] KERNEL PANIC at src/task.rs:10: oops"),
            Line::Panic
        );
        assert_eq!(parse("[  0.5] kernel: task ping started"), Line::Other);
    }

    #[test]
    fn bench_lines() {
        assert_eq!(
            parse("[  0.2] bench: [bench] null_ipc 412 instructions baseline=null_syscall"),
            Line::Bench(Bench {
                name: "null_ipc".into(),
                value: 412.0,
                unit: "instructions".into(),
                baseline: Some("null_syscall".into())
            })
        );
        assert_eq!(
            parse("[bench] null_syscall 61.5 instructions"),
            Line::Bench(Bench {
                name: "null_syscall".into(),
                value: 61.5,
                unit: "instructions".into(),
                baseline: None
            })
        );
        assert_eq!(parse("[bench] broken line"), Line::Other);
        assert_eq!(parse("[bench] x 1 ns junk"), Line::Other);
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp("[  0.012345] kernel: hi"), Some(0.012345));
        assert_eq!(timestamp("[ 12.500000] x"), Some(12.5));
        assert_eq!(timestamp("no stamp"), None);
        assert_eq!(timestamp("[abc] x"), None);
        assert_eq!(
            timestamp("vireo> [  0.000823] kernel: task idle started"),
            Some(0.000823)
        );
    }
}
