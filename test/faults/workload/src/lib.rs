//! The fault-injection workload's data: self-checking blocks, and the
//! ledger that says what a read-back must find.
//!
//! Every block the workload writes names itself — magic, sector, version —
//! and carries a CRC-32 of its payload, so a read-back can tell a good
//! block from a torn, misplaced or corrupted one. The [`Ledger`] remembers,
//! per sector, the version whose write was *acknowledged* and the newest
//! version of the writes that failed since (any of which may or may not
//! have landed). A read that
//! finds anything else is a lost or corrupted acknowledged write: the one
//! result the system promises never to produce.
//!
//! Pure logic, no syscalls: tested on the host.

#![no_std]

/// Bytes in a block (one sector).
pub const BLOCK: usize = 512;
/// "VIRE" little-endian: marks a workload block.
const MAGIC: u32 = 0x4552_4956;
const HEADER: usize = 16;

/// Builds the block for `sector` at `version` (version 0 is never written).
pub fn make_block(sector: u64, version: u32) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    // Payload: a xorshift stream seeded by sector and version.
    let mut x = (sector ^ ((version as u64) << 32)) | 1;
    for chunk in b[HEADER..].chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = chunk.len();
        chunk.copy_from_slice(&x.to_le_bytes()[..n]);
    }
    let crc = crc32fast::hash(&b[HEADER..]);
    b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    b[4..8].copy_from_slice(&(sector as u32).to_le_bytes());
    b[8..12].copy_from_slice(&version.to_le_bytes());
    b[12..16].copy_from_slice(&crc.to_le_bytes());
    b
}

/// What a read-back found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// What the ledger allows: the acknowledged version, the version of a
    /// failed write, or (never written) zeroes.
    Good,
    /// A well-formed block of an older version than the acknowledged one:
    /// an acknowledged write was lost.
    Lost,
    /// A block that is not one the workload wrote there (bad magic, CRC,
    /// sector, or an unknown version).
    Corrupt,
}

fn word(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Per sector: what the disk may hold.
#[derive(Debug)]
pub struct Ledger<const N: usize> {
    base: u64,
    acked: [u32; N],
    /// The newest version whose write failed since the last acknowledged
    /// one: every version in `acked + 1 ..= failed` written here may be on
    /// the disk.
    failed: [Option<u32>; N],
    next_version: u32,
}

impl<const N: usize> Ledger<N> {
    /// A ledger for sectors `base .. base + N`, none written yet.
    pub const fn new(base: u64) -> Self {
        Ledger {
            base,
            acked: [0; N],
            failed: [None; N],
            next_version: 1,
        }
    }

    /// The sector of slot `i`.
    pub fn sector(&self, i: usize) -> u64 {
        self.base + (i % N) as u64
    }

    /// Picks the version for a new write.
    pub fn next_version(&mut self) -> u32 {
        let v = self.next_version;
        self.next_version = self.next_version.wrapping_add(1).max(1);
        v
    }

    /// A write of `version` to slot `i` was acknowledged.
    pub fn acked(&mut self, i: usize, version: u32) {
        self.acked[i % N] = version;
        self.failed[i % N] = None;
    }

    /// A write of `version` to slot `i` failed: it may or may not be there
    /// (and neither may the earlier failed ones).
    pub fn failed(&mut self, i: usize, version: u32) {
        // Versions only grow: the newest failed one bounds them all.
        self.failed[i % N] = Some(version);
    }

    /// Judges what a read of slot `i` returned.
    pub fn check(&mut self, i: usize, data: &[u8; BLOCK]) -> Verdict {
        let i = i % N;
        let acked = self.acked[i];
        // Never acknowledged: the zeroes the disk started with, whether or
        // not failed writes were tried (they may never have landed).
        if acked == 0 && data.iter().all(|&b| b == 0) {
            return Verdict::Good;
        }
        let sector = self.sector(i);
        let well_formed = word(data, 0) == MAGIC
            && word(data, 4) == sector as u32
            && word(data, 12) == crc32fast::hash(&data[HEADER..]);
        if !well_formed {
            return Verdict::Corrupt;
        }
        let version = word(data, 8);
        if version == acked {
            return Verdict::Good;
        }
        if *data != make_block(sector, version) {
            return Verdict::Corrupt;
        }
        if version > acked && self.failed[i].is_some_and(|f| version <= f) {
            // A failed write landed after all: a well-formed block of this
            // sector newer than the acknowledged one can only come from one
            // of them. It is what the disk holds now, so it is what later
            // reads must find.
            self.acked[i] = version;
            self.failed[i] = None;
            return Verdict::Good;
        }
        if version < acked {
            Verdict::Lost
        } else {
            Verdict::Corrupt
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh ledger (sectors from 100) and its next two versions, none
    /// written yet.
    fn two_versions() -> (Ledger<4>, u32, u32) {
        let mut l = Ledger::new(100);
        let (v1, v2) = (l.next_version(), l.next_version());
        (l, v1, v2)
    }

    /// A fresh ledger (sectors from 100) with one acknowledged write at
    /// `sector`, and that write's version.
    fn acked_once(sector: usize) -> (Ledger<4>, u32) {
        let mut l = Ledger::new(100);
        let v = l.next_version();
        l.acked(sector, v);
        (l, v)
    }

    #[test]
    fn a_written_block_reads_back_good() {
        let mut l: Ledger<4> = Ledger::new(100);
        assert_eq!(
            l.check(0, &[0; BLOCK]),
            Verdict::Good,
            "never written: zeroes"
        );
        let v = l.next_version();
        l.acked(0, v);
        assert_eq!(l.check(0, &make_block(100, v)), Verdict::Good);
    }

    #[test]
    fn an_older_version_is_a_lost_write() {
        let (mut l, v1, v2) = two_versions();
        l.acked(1, v1);
        l.acked(1, v2);
        assert_eq!(l.check(1, &make_block(101, v1)), Verdict::Lost);
    }

    #[test]
    fn zeroes_after_an_acknowledged_write_are_corrupt() {
        let (mut l, _) = acked_once(2);
        assert_eq!(l.check(2, &[0; BLOCK]), Verdict::Corrupt);
    }

    #[test]
    fn flipped_bits_and_misplaced_blocks_are_corrupt() {
        let (mut l, v) = acked_once(3);
        let mut b = make_block(103, v);
        b[300] ^= 4;
        assert_eq!(l.check(3, &b), Verdict::Corrupt);
        assert_eq!(
            l.check(3, &make_block(102, v)),
            Verdict::Corrupt,
            "another sector's block"
        );
    }

    #[test]
    fn a_failed_write_may_or_may_not_have_landed() {
        let (mut l, v1, v2) = two_versions();
        l.acked(0, v1);
        l.failed(0, v2);
        assert_eq!(
            l.check(0, &make_block(100, v1)),
            Verdict::Good,
            "it did not land"
        );
        assert_eq!(l.check(0, &make_block(100, v2)), Verdict::Good, "it landed");
        // Having seen it land, the old version is now a lost write.
        assert_eq!(l.check(0, &make_block(100, v1)), Verdict::Lost);
    }

    #[test]
    fn a_failed_first_write_that_never_landed_reads_back_as_zeroes() {
        let mut l: Ledger<4> = Ledger::new(100);
        let v = l.next_version();
        l.failed(1, v);
        assert_eq!(l.check(1, &[0; BLOCK]), Verdict::Good, "it did not land");
        assert_eq!(l.check(1, &make_block(101, v)), Verdict::Good, "it did");
        assert_eq!(
            l.check(1, &[0; BLOCK]),
            Verdict::Corrupt,
            "and then vanished"
        );
    }

    #[test]
    fn any_of_several_failed_writes_may_have_landed() {
        let mut l: Ledger<4> = Ledger::new(100);
        let (v1, v2, v3, v4) = (
            l.next_version(),
            l.next_version(),
            l.next_version(),
            l.next_version(),
        );
        l.acked(2, v1);
        l.failed(2, v2);
        l.failed(2, v3);
        // v2 landed, v3 did not.
        assert_eq!(l.check(2, &make_block(102, v2)), Verdict::Good);
        assert_eq!(l.check(2, &make_block(102, v1)), Verdict::Lost);
        // Nothing newer than the newest failed write is possible.
        l.failed(2, v3);
        assert_eq!(l.check(2, &make_block(102, v4)), Verdict::Corrupt);
    }

    #[test]
    fn a_version_never_written_is_corrupt() {
        let (mut l, v) = acked_once(0);
        assert_eq!(l.check(0, &make_block(100, v + 7)), Verdict::Corrupt);
    }

    #[test]
    fn blocks_differ_by_sector_and_version() {
        assert_ne!(make_block(1, 1), make_block(1, 2));
        assert_ne!(make_block(1, 1), make_block(2, 1));
    }
}
