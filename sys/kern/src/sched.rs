//! Choosing the next task: strict priority, round-robin among equals.

use crate::task::{SchedState, Task};

/// Picks the most important runnable task. Among equally important ones the
/// current task keeps the CPU if it can run; otherwise the first runnable
/// one after it in table order. `None` if nothing can run (the idle task
/// died): the arch layer then waits for an interrupt.
pub fn select(tasks: &[Task], current: usize) -> Option<usize> {
    let n = tasks.len();
    let mut best: Option<usize> = None;
    for k in 0..n {
        // Start at `current` so that on a tie it wins, then go round.
        let i = (current + k) % n;
        if !tasks[i].is(SchedState::Runnable) {
            continue;
        }
        match best {
            Some(b) if !tasks[i].is_more_important_than(&tasks[b]) => {}
            _ => best = Some(i),
        }
    }
    best
}
