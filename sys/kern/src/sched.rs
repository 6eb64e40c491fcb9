//! Choosing the next task: strict priority, round-robin among equals.

use crate::task::Task;

/// Picks the most important runnable task. Among equally important ones the
/// current task keeps the CPU if it can run; otherwise the first runnable
/// one after it in table order. `None` if nothing can run (the idle task
/// died): the arch layer then waits for an interrupt.
pub fn select(tasks: &[Task], current: usize) -> Option<usize> {
    // This runs on every trap, so it is kept to one cheap pass: starting at
    // `current` (so that on a tie it wins), then round the table.
    let n = tasks.len();
    let start = current.min(n);
    let mut best: Option<usize> = None;
    for i in (start..n).chain(0..start) {
        let t = &tasks[i];
        if !t.is_runnable() {
            continue;
        }
        match best {
            Some(b) if !t.is_more_important_than(&tasks[b]) => {}
            _ => best = Some(i),
        }
    }
    best
}
