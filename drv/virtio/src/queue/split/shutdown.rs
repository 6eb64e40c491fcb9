//! Taking every buffer back from a reset device ([`SplitQueue::shutdown`]).

use super::SplitQueue;

/// The tokens [`SplitQueue::shutdown`] takes back; see there.
pub struct Shutdown<'q, 'a, T: Copy, const N: usize> {
    pub(super) queue: &'q mut SplitQueue<'a, T, N>,
    pub(super) next: usize,
}

impl<T: Copy, const N: usize> Iterator for Shutdown<'_, '_, T, N> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        while self.next < N {
            let i = self.next;
            self.next += 1;
            if let Some(chain) = self.queue.heads[i].take() {
                return Some(chain.token);
            }
        }
        None
    }
}

impl<T: Copy, const N: usize> Drop for Shutdown<'_, '_, T, N> {
    fn drop(&mut self) {
        self.queue.reinit();
    }
}
