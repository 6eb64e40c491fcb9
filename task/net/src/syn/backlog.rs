//! SYNs kept while their listener has no socket in LISTEN, to be handed to
//! smoltcp as soon as it has one: the stack's listen queue.
//!
//! Without it, a SYN over a full backlog is dropped and waits for its peer
//! to send it again, which QEMU's user network does after 6 s, then 12 s
//! more: a burst of twenty requests to the page server (backlog 4) took
//! 18 s. Kept here, each SYN goes in the moment the server accepts and
//! its pool is refilled.
//!
//! A kept SYN is a copy of the frame as it came: the guard judged it a
//! well-formed SYN, and smoltcp checks it again when it gets it. The
//! queue must never hold more than [`KEPT`] frames, nor one for longer
//! than [`KEEP_MS`] (by then its peer sent it again, or gave up), nor two
//! for one connection.

use super::Endpoints;

/// SYNs kept at once; a SYN beyond them is dropped (its peer sends it
/// again).
pub const KEPT: usize = 16;
/// The longest SYN frame kept: Ethernet (14 bytes), IPv4 and TCP headers
/// with the most options (60 each). A longer one carries data in its SYN
/// and is only dropped.
pub const MAX_SYN_FRAME: usize = 14 + 60 + 60;
/// How long a SYN is kept.
pub const KEEP_MS: u64 = 30_000;

/// One kept SYN.
#[derive(Copy, Clone)]
pub(super) struct Kept {
    pub(super) syn: Endpoints,
    /// When it first came (its peer's later copies replace the frame, not
    /// its place in the queue).
    pub(super) since_ms: u64,
    len: u8,
    frame: [u8; MAX_SYN_FRAME],
}

impl Kept {
    pub(super) fn frame(&self) -> &[u8] {
        self.frame.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

/// The kept SYNs.
pub(super) struct Backlog {
    kept: [Option<Kept>; KEPT],
    count: usize,
}

impl Backlog {
    pub(super) const fn new() -> Self {
        Backlog {
            kept: [None; KEPT],
            count: 0,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Keeps `frame`, the SYN of `syn`; false if there is no room or it is
    /// too long. A SYN of a connection already kept replaces its frame.
    pub(super) fn keep(&mut self, syn: Endpoints, frame: &[u8], now_ms: u64) -> bool {
        let Ok(len) = u8::try_from(frame.len()) else {
            return false;
        };
        if frame.len() > MAX_SYN_FRAME {
            return false;
        }
        let since_ms = match self.kept.iter().flatten().find(|k| k.syn == syn) {
            Some(k) => k.since_ms,
            None => now_ms,
        };
        let slot = self
            .kept
            .iter()
            .position(|k| matches!(k, Some(k) if k.syn == syn))
            .or_else(|| self.kept.iter().position(Option::is_none));
        let Some(slot) = slot else {
            return false;
        };
        let mut k = Kept {
            syn,
            since_ms,
            len,
            frame: [0; MAX_SYN_FRAME],
        };
        k.frame[..frame.len()].copy_from_slice(frame);
        if self.kept[slot].replace(k).is_none() {
            self.count += 1;
        }
        true
    }

    /// Forgets the SYNs kept for [`KEEP_MS`]; how many it forgot.
    pub(super) fn expire(&mut self, now_ms: u64) -> u32 {
        let mut forgotten = 0;
        for k in self.kept.iter_mut() {
            if matches!(k, Some(kept) if now_ms.saturating_sub(kept.since_ms) >= KEEP_MS) {
                *k = None;
                self.count -= 1;
                forgotten += 1;
            }
        }
        forgotten
    }

    /// The kept SYNs, with their places.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &Kept)> {
        self.kept
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((i, k.as_ref()?)))
    }

    pub(super) fn get(&self, at: usize) -> Option<&Kept> {
        self.kept.get(at)?.as_ref()
    }

    pub(super) fn remove(&mut self, at: usize) {
        if let Some(k) = self.kept.get_mut(at) {
            if k.take().is_some() {
                self.count -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(port: u16) -> Endpoints {
        Endpoints {
            remote: ([10, 0, 2, 2], port),
            local: ([10, 0, 2, 15], 80),
        }
    }

    #[test]
    fn a_connection_is_kept_once_in_its_first_place() {
        let mut b = Backlog::new();
        assert!(b.is_empty());
        assert!(b.keep(conn(1), &[1; 60], 100));
        assert!(b.keep(conn(2), &[2; 60], 200));
        // Its peer's second copy: the new frame, the old time.
        assert!(b.keep(conn(1), &[3; 58], 300));
        let kept: Vec<_> = b
            .iter()
            .map(|(_, k)| (k.syn, k.since_ms, k.frame().to_vec()))
            .collect();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0], (conn(1), 100, vec![3; 58]));
        assert_eq!(kept[1], (conn(2), 200, vec![2; 60]));
    }

    #[test]
    fn room_length_and_age_are_bounded() {
        let mut b = Backlog::new();
        for p in 0..KEPT as u16 {
            assert!(b.keep(conn(p), &[0; 54], u64::from(p)));
        }
        assert!(!b.keep(conn(999), &[0; 54], 0), "no room");
        assert!(
            b.keep(conn(0), &[1; 54], 50),
            "a kept one is still replaced"
        );
        let mut c = Backlog::new();
        assert!(!c.keep(conn(1), &[0; MAX_SYN_FRAME + 1], 0), "too long");
        assert!(!c.keep(conn(1), &[0; 300], 0), "longer than a u8 says");
        assert!(c.keep(conn(1), &[0; MAX_SYN_FRAME], 0));
        // Expiry: the first SYNs go, the later ones stay.
        b.expire(KEEP_MS + 1);
        assert_eq!(b.iter().count(), KEPT - 2);
        assert!(b.iter().all(|(_, k)| k.since_ms >= 2));
        let first = b.iter().next().map(|(i, _)| i).unwrap();
        b.remove(first);
        assert_eq!(b.iter().count(), KEPT - 3);
        b.expire(u64::MAX);
        assert!(b.is_empty());
    }
}
