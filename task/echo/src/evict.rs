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
//! It must never take the place of a connection whose bytes moved within
//! [`IDLE_EVICT_MS`].

/// How long no byte may have moved in a connection before a waiting client
/// may take its place.
pub const IDLE_EVICT_MS: u64 = 5000;

/// The place to free for a waiting client, of `places` given as (index,
/// when a byte last moved in its connection, ms); `None` if every
/// connection moved bytes within [`IDLE_EVICT_MS`] of `now_ms`.
pub fn stalest(now_ms: u64, places: impl IntoIterator<Item = (usize, u64)>) -> Option<usize> {
    places
        .into_iter()
        .filter(|&(_, active_ms)| now_ms.saturating_sub(active_ms) >= IDLE_EVICT_MS)
        .min_by_key(|&(_, active_ms)| active_ms)
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::{stalest, IDLE_EVICT_MS};

    #[test]
    fn the_longest_still_connection_goes_once_it_is_still_long_enough() {
        let now = 100_000;
        let places = [
            (0, now - 10),
            (1, now - IDLE_EVICT_MS - 3),
            (2, now - IDLE_EVICT_MS),
        ];
        assert_eq!(stalest(now, places), Some(1));
        assert_eq!(
            stalest(now, [(0, now - 10), (2, now - IDLE_EVICT_MS)]),
            Some(2)
        );
        assert_eq!(
            stalest(now, [(0, now - 10), (2, now - IDLE_EVICT_MS + 1)]),
            None
        );
        assert_eq!(stalest(now, []), None);
    }

    #[test]
    fn a_clock_behind_a_connection_takes_nothing() {
        // A connection stamped after `now` (a later read in the same
        // round) is not still.
        assert_eq!(stalest(5, [(0, 9)]), None);
    }
}
