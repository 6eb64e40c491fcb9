//! The task table as the kernel indexes it.
//!
//! `sys.tasks[i]` on a plain slice would, for an index out of range, call
//! `core`'s bounds-check panic, which formats both numbers: that pulls
//! `core::fmt`'s integer printing (over a kilobyte) into a kernel that
//! otherwise prints without it (`console::Line`). [`TaskTable`] is the
//! same slice with an indexing operator that stops the kernel with a plain
//! message instead. Only a kernel bug gets there: every index a task names
//! is checked against the table (`ipc`, `kipc`, `notify`) before use.
//!
//! What it must never do: give a task's request a way to reach
//! [`out_of_range`] (check indices from tasks with `get` or against
//! `len()` first, and answer them with an error), or hand out anything
//! but the slice it wraps.

use core::ops::{Deref, DerefMut, Index, IndexMut};

use ref_cast::RefCast;

use crate::task::Task;

/// Every task, indexed by task index: a `[Task]` whose indexing stops the
/// kernel with a plain message, without `core::fmt`, when out of range.
/// Everything else (`len`, `iter`, `get`, ranges) is the slice's.
#[derive(RefCast)]
#[repr(transparent)]
pub struct TaskTable([Task]);

impl TaskTable {
    /// The table over `tasks`.
    pub fn new(tasks: &mut [Task]) -> &mut TaskTable {
        TaskTable::ref_cast_mut(tasks)
    }

    /// The table over `tasks`, read-only: for code handed a plain slice
    /// (the scheduler's functions, which host tests call with one).
    #[inline(always)]
    pub fn of(tasks: &[Task]) -> &TaskTable {
        TaskTable::ref_cast(tasks)
    }
}

impl Deref for TaskTable {
    type Target = [Task];
    #[inline(always)]
    fn deref(&self) -> &[Task] {
        &self.0
    }
}

impl DerefMut for TaskTable {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [Task] {
        &mut self.0
    }
}

impl Index<usize> for TaskTable {
    type Output = Task;
    #[inline(always)]
    fn index(&self, i: usize) -> &Task {
        match self.0.get(i) {
            Some(t) => t,
            None => out_of_range(),
        }
    }
}

impl IndexMut<usize> for TaskTable {
    #[inline(always)]
    fn index_mut(&mut self, i: usize) -> &mut Task {
        match self.0.get_mut(i) {
            Some(t) => t,
            None => out_of_range(),
        }
    }
}

/// A task index past the table: a kernel bug (see the module comment).
/// One shared stop, with a message that needs no formatting.
#[cold]
#[inline(never)]
pub fn out_of_range() -> ! {
    panic!("task index out of range")
}
