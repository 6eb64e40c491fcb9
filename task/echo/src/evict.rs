//! Which TCP connection gives up its place to a client that waits.
//!
//! The echo serves a fixed number of connections. Eight clients that
//! connect and say nothing, or that send and never read their echo (once
//! their window is shut no byte moves either way), would otherwise hold
//! the service for good. So when every place is taken and a client waits,
//! the connection in which no byte has moved for longest goes, once that is
//! [`IDLE_EVICT_MS`] or more. Bytes it holds for a peer that stopped
//! reading do not keep it: they are not moving either.
//!
//! Nor can clients that keep talking hold it for good: eight that each
//! send a byte every few seconds kept every place, and a ninth waited for
//! as long as they liked. So when no connection is still enough, the one
//! accepted first goes once it has held its place for [`HOLD_EVICT_MS`]: a
//! waiting client is served within that, and a connection that talks
//! keeps its place for as long as nobody waits.
//!
//! It must never take the place of a connection whose bytes moved within
//! [`IDLE_EVICT_MS`] and that was accepted within [`HOLD_EVICT_MS`].

/// How long no byte may have moved in a connection before a waiting client
/// may take its place.
pub const IDLE_EVICT_MS: u64 = 5000;

/// How long a connection keeps its place, however much it talks, once a
/// client waits.
pub const HOLD_EVICT_MS: u64 = 20_000;

/// One taken place, as [`to_free`] weighs it.
#[derive(Copy, Clone, Debug)]
pub struct Place {
    /// Its index among the echo's places.
    pub index: usize,
    /// When a byte last moved in its connection (ms since boot).
    pub active_ms: u64,
    /// When its connection was accepted (ms since boot).
    pub accepted_ms: u64,
}

/// The place to free for a waiting client, of the taken `places`: the one
/// in which no byte has moved for longest, once that is [`IDLE_EVICT_MS`];
/// else the one accepted first, once that is [`HOLD_EVICT_MS`] ago; `None`
/// if neither is due at `now_ms`.
pub fn to_free(now_ms: u64, places: impl IntoIterator<Item = Place> + Clone) -> Option<usize> {
    let since = |t: u64| now_ms.saturating_sub(t);
    let stalest = places
        .clone()
        .into_iter()
        .filter(|p| since(p.active_ms) >= IDLE_EVICT_MS)
        .min_by_key(|p| p.active_ms);
    let oldest = || {
        places
            .into_iter()
            .filter(|p| since(p.accepted_ms) >= HOLD_EVICT_MS)
            .min_by_key(|p| p.accepted_ms)
    };
    stalest.or_else(oldest).map(|p| p.index)
}

#[cfg(test)]
mod tests {
    use super::{to_free, Place, HOLD_EVICT_MS, IDLE_EVICT_MS};

    const NOW: u64 = 100_000;

    /// A place at `index` last active `active` ms ago, accepted `held` ms ago.
    fn place(index: usize, active: u64, held: u64) -> Place {
        Place {
            index,
            active_ms: NOW - active,
            accepted_ms: NOW - held,
        }
    }

    #[test]
    fn the_longest_still_connection_goes_once_it_is_still_long_enough() {
        let places = [
            place(0, 10, 1000),
            place(1, IDLE_EVICT_MS + 3, IDLE_EVICT_MS + 3),
            place(2, IDLE_EVICT_MS, IDLE_EVICT_MS),
        ];
        assert_eq!(to_free(NOW, places), Some(1));
        assert_eq!(to_free(NOW, [places[0], places[2]]), Some(2));
        assert_eq!(
            to_free(NOW, [places[0], place(2, IDLE_EVICT_MS - 1, 9000)]),
            None
        );
        assert_eq!(to_free(NOW, []), None);
    }

    #[test]
    fn a_still_connection_goes_before_an_older_talking_one() {
        let places = [
            place(0, 10, HOLD_EVICT_MS + 5000),
            place(1, IDLE_EVICT_MS, IDLE_EVICT_MS),
        ];
        assert_eq!(to_free(NOW, places), Some(1));
    }

    #[test]
    fn a_talking_connection_goes_once_it_has_held_its_place_long_enough() {
        let places = [
            place(0, 10, HOLD_EVICT_MS - 1),
            place(1, 20, HOLD_EVICT_MS + 7),
            place(2, 30, HOLD_EVICT_MS),
        ];
        assert_eq!(to_free(NOW, places), Some(1));
        assert_eq!(to_free(NOW, [places[0], places[2]]), Some(2));
        assert_eq!(to_free(NOW, [places[0]]), None);
    }

    #[test]
    fn a_clock_behind_a_connection_takes_nothing() {
        // A connection stamped after `now` (a later read in the same
        // round) is neither still nor old.
        let later = Place {
            index: 0,
            active_ms: 9,
            accepted_ms: 9,
        };
        assert_eq!(to_free(5, [later]), None);
    }
}
