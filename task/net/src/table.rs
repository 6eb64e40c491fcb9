//! Socket ids and their owners.
//!
//! An id is `slot | tag << 8`: the slot indexes this table, the tag is the
//! slot's allocation count plus a number the stack picks at start-up, so
//! an id outlives neither its socket nor the stack's incarnation. Every
//! lookup checks the tag and that the caller is the task (index and
//! generation) that opened the socket; anything else is `None`, which the
//! stack answers with `BadSocket`.

/// A task as the kernel names it: (index, generation).
pub type Owner = (u16, u16);

/// Slots in the table.
pub const SLOTS: usize = 32;

/// One entry: what the slot holds (`S`, the stack's socket record), its
/// owner and its tag.
#[derive(Copy, Clone, Debug)]
struct Entry<S> {
    socket: Option<S>,
    owner: Owner,
    tag: u32,
}

/// The table of open sockets.
pub struct Table<S: Copy> {
    entries: [Entry<S>; SLOTS],
}

const TAG_MASK: u32 = 0x00ff_ffff;

impl<S: Copy> Table<S> {
    /// An empty table; `nonce` (anything that differs between incarnations
    /// of the stack, such as the time at start-up) seeds the tags.
    pub fn new(nonce: u32) -> Self {
        Table {
            entries: core::array::from_fn(|i| Entry {
                socket: None,
                owner: (0, 0),
                tag: nonce.wrapping_add(i as u32 * 0x9e37) & TAG_MASK,
            }),
        }
    }

    /// Stores `socket` for `owner`; returns its id, or `None` when the
    /// table is full.
    pub fn insert(&mut self, owner: Owner, socket: S) -> Option<u32> {
        let (slot, e) = self
            .entries
            .iter_mut()
            .enumerate()
            .find(|(_, e)| e.socket.is_none())?;
        e.tag = e.tag.wrapping_add(1) & TAG_MASK;
        e.socket = Some(socket);
        e.owner = owner;
        Some(slot as u32 | e.tag << 8)
    }

    fn slot(&self, id: u32, owner: Owner) -> Option<usize> {
        let slot = (id & 0xff) as usize;
        let e = self.entries.get(slot)?;
        (e.socket.is_some() && e.tag == id >> 8 && e.owner == owner).then_some(slot)
    }

    /// The socket `id` if `owner` opened it.
    pub fn get(&self, id: u32, owner: Owner) -> Option<S> {
        self.slot(id, owner).and_then(|s| self.entries[s].socket)
    }

    /// Replaces the record of `id` (same owner check).
    pub fn set(&mut self, id: u32, owner: Owner, socket: S) -> bool {
        match self.slot(id, owner) {
            Some(s) => {
                self.entries[s].socket = Some(socket);
                true
            }
            None => false,
        }
    }

    /// Takes `id` out of the table.
    pub fn remove(&mut self, id: u32, owner: Owner) -> Option<S> {
        let s = self.slot(id, owner)?;
        self.entries[s].socket.take()
    }

    /// Takes out every socket of a task whose index is `owner.0` but whose
    /// generation is another: it restarted, and its sockets are orphans.
    /// Calls `drop` on each.
    pub fn reap_orphans(&mut self, owner: Owner, mut drop: impl FnMut(S)) {
        for e in &mut self.entries {
            if e.owner.0 == owner.0 && e.owner.1 != owner.1 {
                if let Some(s) = e.socket.take() {
                    drop(s);
                }
            }
        }
    }

    /// Takes out every socket whose owner's incarnation ended, however no
    /// call of the task's next incarnation has said so (`reap_orphans`):
    /// `current` tells the generation task index `i` is on now (the
    /// kernel's `refresh_task_id`, open to any task). A task faulted or
    /// restarted has moved on, whether the supervisor left it stopped or
    /// not. Calls `drop` on each.
    pub fn reap_ended(&mut self, mut current: impl FnMut(u16) -> u16, mut drop: impl FnMut(S)) {
        for e in &mut self.entries {
            if e.socket.is_some() && current(e.owner.0) != e.owner.1 {
                if let Some(s) = e.socket.take() {
                    drop(s);
                }
            }
        }
    }

    /// Every open socket with its owner.
    pub fn iter(&self) -> impl Iterator<Item = (Owner, S)> + '_ {
        self.entries
            .iter()
            .filter_map(|e| e.socket.map(|s| (e.owner, s)))
    }

    /// Open sockets.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no socket is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::{Table, SLOTS};

    const A: (u16, u16) = (5, 1);
    const B: (u16, u16) = (6, 1);

    #[test]
    fn only_the_owner_reaches_its_socket() {
        let mut t = Table::new(77);
        let id = t.insert(A, 'x').unwrap();
        assert_eq!(t.get(id, A), Some('x'));
        assert_eq!(t.get(id, B), None, "another task");
        assert_eq!(t.get(id, (5, 2)), None, "a later incarnation of the owner");
        assert_eq!(t.get(id ^ 0x100, A), None, "a forged tag");
        assert_eq!(t.get(0xff, A), None, "a slot past the table");
        assert_eq!(t.remove(id, B), None);
        assert_eq!(t.remove(id, A), Some('x'));
        assert_eq!(t.get(id, A), None, "closed");
    }

    #[test]
    fn ids_are_not_reused_and_differ_between_incarnations() {
        let mut t = Table::new(1);
        let first = t.insert(A, 1).unwrap();
        t.remove(first, A);
        let second = t.insert(A, 2).unwrap();
        assert_ne!(first, second, "same slot, new tag");
        assert_eq!(t.get(first, A), None);
        let mut restarted = Table::new(5000);
        let third = restarted.insert(A, 3).unwrap();
        assert_ne!(third, first);
        assert_eq!(restarted.get(first, A), None, "an id of the old stack");
    }

    #[test]
    fn a_slot_never_hands_out_an_id_it_gave_before() {
        let mut t = Table::new(9);
        assert!(t.is_empty());
        let mut seen = Vec::new();
        for i in 0..8 {
            let id = t.insert(A, i).unwrap();
            assert!(!t.is_empty());
            assert_eq!(id & 0xff, 0, "the one free slot");
            assert!(!seen.contains(&id), "id {id:#x} again after {seen:x?}");
            seen.push(id);
            t.remove(id, A);
            assert!(t.is_empty());
        }
    }

    #[test]
    fn only_the_owner_replaces_its_record() {
        let mut t = Table::new(3);
        let id = t.insert(A, 'x').unwrap();
        assert!(!t.set(id, B, 'y'), "another task");
        assert_eq!(t.get(id, A), Some('x'));
        assert!(t.set(id, A, 'z'));
        assert_eq!(t.get(id, A), Some('z'));
        t.remove(id, A);
        assert!(!t.set(id, A, 'w'), "closed");
        assert_eq!(t.get(id, A), None);
    }

    #[test]
    fn full_table_and_orphans() {
        let mut t = Table::new(0);
        for i in 0..SLOTS {
            t.insert(if i % 2 == 0 { A } else { B }, i).unwrap();
        }
        assert_eq!(t.insert(A, 99), None);
        let mut dropped = Vec::new();
        t.reap_orphans((5, 2), |s| dropped.push(s));
        assert_eq!(dropped.len(), SLOTS / 2, "A restarted: its sockets go");
        assert_eq!(t.len(), SLOTS / 2);
        assert!(t.iter().all(|(o, _)| o == B));
    }

    #[test]
    fn an_ended_owners_sockets_go_though_it_never_calls_again() {
        let mut t = Table::new(0);
        let a = t.insert(A, 'a').unwrap();
        t.insert(A, 'b').unwrap();
        let b = t.insert(B, 'c').unwrap();
        // A faulted (its generation moved on) and was left stopped; B
        // lives on, at the generation that opened its socket.
        let mut dropped = Vec::new();
        t.reap_ended(
            |i| if i == A.0 { A.1 + 1 } else { B.1 },
            |s| dropped.push(s),
        );
        dropped.sort();
        assert_eq!(dropped, ['a', 'b']);
        assert_eq!(t.get(a, A), None);
        assert_eq!(t.get(b, B), Some('c'));
        let mut again = Vec::new();
        t.reap_ended(|i| if i == A.0 { A.1 + 1 } else { B.1 }, |s| again.push(s));
        assert!(again.is_empty(), "nothing is dropped twice");
        assert_eq!(t.len(), 1);
    }
}
