//! The NIC driver's incarnations as the stack meets them: which one it is
//! subscribed to, and how many ended while it watched.
//!
//! A driver posts "frames waiting" to the subscriber its own incarnation
//! was told of; a restarted driver starts with none, so the stack must
//! subscribe to every new incarnation. It learns of one from the
//! generation its client addresses, which moves on whenever a call meets
//! the dead driver: the call fails (`ServerRestarted`), or, for an
//! idempotent op, the stub sends it again to the new incarnation by
//! itself and it succeeds, and the stack is told nothing. The stack used
//! to subscribe again only after a failed call; after `restart net0` the
//! shell's `net` (whose `info` asks the driver's `status`) was the first
//! call to reach the new driver, the stub's retry hid the restart, and
//! the stack took frames only on its 200 ms timer from then on: a UDP echo
//! took 250 ms and a TCP one 500 ms, until the driver next restarted.
//! Hence the rule here: the stack is subscribed to a generation, and any
//! other generation needs a subscription, however the stack came to it.

/// What the stack knows of the driver's incarnations. Generations are the
/// driver's `abi::Generation`, as its client's task id holds it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Incarnations {
    /// The generation the restart count was last brought up to; none
    /// before the stack first reached the driver.
    counted: Option<u16>,
    /// The generation whose incarnation took the stack's subscription;
    /// none before the first, or after a call failed.
    subscribed: Option<u16>,
}

impl Incarnations {
    /// Nothing met yet.
    pub const fn new() -> Self {
        Incarnations {
            counted: None,
            subscribed: None,
        }
    }

    /// How many incarnations ended from the generation last counted to
    /// `now`, the one the client addresses now (fewer than 65,536 are
    /// assumed, as `abi::Generation::since` does). The first generation
    /// counted is where counting starts: a restarted stack does not count
    /// the driver's restarts from before its time.
    pub fn count(&mut self, now: u16) -> u16 {
        let ended = self.counted.map_or(0, |before| now.wrapping_sub(before));
        self.counted = Some(now);
        ended
    }

    /// Generation `now` took the stack's subscription. The first
    /// generation the stack reaches is also where counting starts.
    pub fn subscribed(&mut self, now: u16) {
        self.subscribed = Some(now);
        if self.counted.is_none() {
            self.counted = Some(now);
        }
    }

    /// A call to the driver failed: its incarnation may be gone (or left
    /// stopped, with the same generation), so subscribe again.
    pub fn lost(&mut self) {
        self.subscribed = None;
    }

    /// Whether the stack must subscribe before it can count on the
    /// driver's notifications, the client addressing generation `now`.
    pub fn must_subscribe(&self, now: u16) -> bool {
        self.subscribed != Some(now)
    }
}

#[cfg(test)]
mod tests {
    use super::Incarnations;

    #[test]
    fn the_first_driver_is_subscribed_to_and_counts_no_restart() {
        let mut i = Incarnations::new();
        assert!(i.must_subscribe(0));
        i.subscribed(3);
        assert!(!i.must_subscribe(3));
        assert_eq!(i.count(3), 0);
    }

    #[test]
    fn a_restart_found_by_a_retried_idempotent_call_needs_a_subscription() {
        // The stub's retry moved the client to generation 1 without a
        // failed call: no `lost()`.
        let mut i = Incarnations::new();
        i.subscribed(0);
        assert!(
            i.must_subscribe(1),
            "the new incarnation has no subscriber, and nothing said so"
        );
        assert_eq!(i.count(1), 1);
        i.subscribed(1);
        assert!(!i.must_subscribe(1));
    }

    #[test]
    fn a_failed_call_needs_a_subscription_even_to_the_same_generation() {
        // A driver left stopped keeps its generation.
        let mut i = Incarnations::new();
        i.subscribed(4);
        i.lost();
        assert!(i.must_subscribe(4));
        assert_eq!(i.count(4), 0);
    }

    #[test]
    fn restarts_are_counted_by_generation_not_by_looks() {
        let mut i = Incarnations::new();
        i.subscribed(u16::MAX);
        assert_eq!(i.count(1), 2, "across the wrap");
        assert_eq!(i.count(1), 0, "a second look counts nothing more");
        assert_eq!(i.count(5), 4);
    }
}
