//! The task table's indexing (`table::TaskTable`): the same tasks as the
//! slice it wraps, and a plain-message stop past the end.

use super::harness::*;
use crate::table::TaskTable;

#[test]
fn indexing_reaches_the_slice_elements() {
    let h = Harness::new(&[("sup", 0), ("a", 1), ("b", 2)]);
    let slice: &[crate::task::Task] = h.sys.tasks;
    assert_eq!(h.sys.tasks.len(), 3);
    for (i, t) in slice.iter().enumerate() {
        assert!(core::ptr::eq(&h.sys.tasks[i], t), "task {i}");
        assert!(core::ptr::eq(&TaskTable::of(slice)[i], t), "task {i}");
        assert_eq!(h.sys.tasks[i].desc().name, ["sup", "a", "b"][i]);
    }
}

#[test]
fn indexing_writes_the_slice_elements() {
    let h = Harness::new(&[("sup", 0), ("a", 1)]);
    h.sys.tasks[1].save_mut().set_ret(0, 0x1234);
    let slice: &[crate::task::Task] = h.sys.tasks;
    assert_eq!(slice[1].save().arg(0), 0x1234);
}

#[test]
#[should_panic(expected = "task index out of range")]
fn past_the_end_stops_with_a_plain_message() {
    let h = Harness::new(&[("sup", 0), ("a", 1)]);
    let _ = h.sys.tasks[2].desc();
}

#[test]
#[should_panic(expected = "task index out of range")]
fn past_the_end_of_a_borrowed_slice_stops_too() {
    let h = Harness::new(&[("sup", 0)]);
    let slice: &[crate::task::Task] = h.sys.tasks;
    let _ = TaskTable::of(slice)[usize::MAX].desc();
}
