//! IPv4 fragments put back together before smoltcp sees them, and the
//! datagrams that could not be, counted.
//!
//! A UDP datagram longer than one frame (1,472 bytes of data on a
//! 1,500-byte MTU) reaches the stack as IPv4 fragments: QEMU's user network
//! cuts what a host sends, as any router may. Without reassembly every such
//! datagram vanished and nothing counted it. smoltcp's own reassembly
//! (`proto-ipv4-fragmentation`) tells nobody what it drops, and keeps a
//! datagram it cannot finish (one past its buffer, or with a fragment lost)
//! in its only buffer until its timeout, a minute by default, during which
//! every other fragmented datagram is dropped: one datagram too long
//! silenced the next ones. So the stack reassembles here, in the order the
//! fragments come, and hands smoltcp whole datagrams only.
//!
//! What it does, as Linux does where Linux has a rule:
//! - a datagram is known by its source, destination, protocol and
//!   identification (RFC 791); its IP header is the first fragment's;
//! - at most [`MAX_PAYLOAD`] bytes of IP payload: a fragment that reaches
//!   past it gives the datagram up at once (its slot is free again) and
//!   counts it `too_big`, once;
//! - [`SLOTS`] datagrams at a time, each for at most [`TIMEOUT_MS`]: one
//!   still incomplete then is given up; a new datagram finding every slot
//!   taken pushes out the oldest (a hostile peer's first fragments cannot
//!   keep the slots from the datagrams that do complete); both count as
//!   `dropped`;
//! - a fragment overlapping bytes already received, other than an exact
//!   repeat, gives the datagram up (`dropped`), as Linux does since
//!   4.19: overlaps only ever served to slip past filters. So does a
//!   second, different end, or a fragment other than the last whose length
//!   is not a multiple of eight (RFC 791);
//! - only UDP and ICMP are reassembled: TCP never needs fragments here
//!   (its segments fit the MTU), and a reassembled SYN would pass the SYN
//!   guard ([`crate::syn`]), which reads single frames. Their fragments
//!   are dropped (`dropped`, once a datagram).
//!
//! The fragments of a datagram given up are remembered for as long as a
//! datagram may take ([`TIMEOUT_MS`], the last [`GIVEN_UP`] of them): they
//! are dropped without a slot and without being counted again.
//!
//! It must never hand on bytes that did not arrive, nor a datagram longer
//! than [`MAX_PAYLOAD`], nor let a datagram it cannot finish hold a slot for
//! longer than [`TIMEOUT_MS`].

use core::ops::Range;

use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet};

/// The most IP payload a reassembled datagram may have: a UDP datagram of
/// 8,192 bytes of data (`net_api::MAX_DATAGRAM`) and its 8-byte header.
pub const MAX_PAYLOAD: usize = 8_200;
/// Datagrams being reassembled at once.
pub const SLOTS: usize = 2;
/// How long a datagram's fragments may take to arrive, from its first.
/// QEMU's user network hands on a host's fragments back to back; RFC 791
/// suggests 15 s and Linux takes 30 s, for real networks and the memory
/// of a big machine: here two slots are all there is.
pub const TIMEOUT_MS: u64 = 2_000;
/// Datagrams given up that are remembered, to drop the rest of their
/// fragments quietly.
pub const GIVEN_UP: usize = 4;

/// An Ethernet header's bytes.
const ETHERNET: usize = 14;
/// The longest IPv4 header (with options).
const MAX_IP_HEADER: usize = 60;
/// Where a slot's payload starts: room before it for the frame's Ethernet
/// and IP headers, written there by the datagram's first fragment.
const PAYLOAD_AT: usize = ETHERNET + MAX_IP_HEADER;
/// Bytes of one slot's buffer.
pub const SLOT_BYTES: usize = PAYLOAD_AT + MAX_PAYLOAD;
/// 8-byte blocks of payload (fragment offsets count in them).
const BLOCKS: usize = MAX_PAYLOAD.div_ceil(8);
/// Words of a slot's map of received blocks.
const MAP_WORDS: usize = BLOCKS.div_ceil(32);

/// What names a datagram (RFC 791: source, destination, protocol,
/// identification).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Key {
    src: [u8; 4],
    dst: [u8; 4],
    protocol: u8,
    ident: u16,
}

/// A datagram being put back together.
#[derive(Copy, Clone)]
struct Slot {
    key: Key,
    /// When its first fragment came (ms).
    since_ms: u64,
    /// The blocks received (bit b of word w: block 32·w + b).
    map: [u32; MAP_WORDS],
    /// Where its payload ends, once its last fragment came.
    end: Option<usize>,
    /// Its IP header's length, once its first fragment came: the frame's
    /// headers then sit just before [`PAYLOAD_AT`].
    header: Option<usize>,
}

impl Slot {
    /// Marks `blocks`: `Err` if some of them were received already, `Ok`
    /// true if all of them were (an exact repeat), `Ok` false if none.
    fn mark(&mut self, blocks: Range<usize>) -> Result<bool, ()> {
        let had = blocks.clone().filter(|&b| self.has(b)).count();
        if had == blocks.len() {
            return Ok(true);
        }
        if had != 0 {
            return Err(());
        }
        for b in blocks {
            self.map[b / 32] |= 1 << (b % 32);
        }
        Ok(false)
    }

    fn has(&self, block: usize) -> bool {
        self.map[block / 32] & (1 << (block % 32)) != 0
    }

    /// Every block up to its end received, and its first fragment.
    fn complete(&self) -> Option<usize> {
        let end = self.end?;
        self.header?;
        (0..end.div_ceil(8)).all(|b| self.has(b)).then_some(end)
    }

    /// A block received at or past `end`.
    fn has_past(&self, end: usize) -> bool {
        (end.div_ceil(8)..BLOCKS).any(|b| self.has(b))
    }
}

/// What became of a received frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Fragment<'a> {
    /// Not an IPv4 fragment: to hand on as it is.
    No,
    /// A fragment, kept or dropped: nothing to hand on.
    Taken,
    /// The fragment that completed its datagram: the datagram, as one
    /// Ethernet frame, to hand on instead.
    Whole(&'a [u8]),
}

/// Datagrams reassembled and given up, since the stack started.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Datagrams put back together and handed on.
    pub reassembled: u32,
    /// Datagrams given up because they reach past [`MAX_PAYLOAD`].
    pub too_big: u32,
    /// Datagrams given up otherwise: incomplete after [`TIMEOUT_MS`],
    /// pushed out of a full set of slots, malformed, or neither UDP nor
    /// ICMP.
    pub dropped: u32,
}

/// The datagrams being reassembled, in buffers the caller provides.
pub struct Reassembly<'b> {
    bufs: &'b mut [[u8; SLOT_BYTES]; SLOTS],
    slots: [Option<Slot>; SLOTS],
    /// Datagrams given up, and when: their other fragments are dropped
    /// quietly for [`TIMEOUT_MS`]. The oldest goes when a new one comes.
    given_up: [Option<(Key, u64)>; GIVEN_UP],
    counts: Counts,
    /// The datagram the last [`Reassembly::take`] completed: its slot
    /// and where its frame lies in that slot's buffer.
    whole: Option<(usize, Range<usize>)>,
}

impl<'b> Reassembly<'b> {
    /// No datagram in progress, nothing counted.
    pub fn new(bufs: &'b mut [[u8; SLOT_BYTES]; SLOTS]) -> Self {
        Reassembly {
            bufs,
            slots: [None; SLOTS],
            given_up: [None; GIVEN_UP],
            counts: Counts::default(),
            whole: None,
        }
    }

    /// What was reassembled and given up so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Gives up the datagrams whose time is over (a look at each slot).
    pub fn expire(&mut self, now_ms: u64) {
        for i in 0..SLOTS {
            if let Some(s) = self.slots[i] {
                if now_ms.saturating_sub(s.since_ms) >= TIMEOUT_MS {
                    self.slots[i] = None;
                    self.give_up(s.key, now_ms, false);
                }
            }
        }
    }

    /// The datagram the last [`Reassembly::take`] completed, as one
    /// frame (what its [`Fragment::Whole`] held).
    pub fn whole(&self) -> Option<&[u8]> {
        let (i, range) = self.whole.clone()?;
        self.bufs[i].get(range)
    }

    /// Looks at a received frame: an IPv4 fragment is taken, and when it
    /// completes its datagram, the datagram comes back as one frame.
    pub fn take(&mut self, frame: &[u8], now_ms: u64) -> Fragment<'_> {
        self.whole = None;
        if !is_fragment(frame) {
            return Fragment::No;
        }
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return Fragment::No;
        };
        if eth.ethertype() != EthernetProtocol::Ipv4 {
            return Fragment::No;
        }
        // A packet that does not parse, or whose checksum is wrong, is
        // smoltcp's to drop.
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            return Fragment::No;
        };
        if ip.version() != 4 || !ip.verify_checksum() {
            return Fragment::No;
        }
        let offset = usize::from(ip.frag_offset());
        let more = ip.more_frags();
        if !more && offset == 0 {
            return Fragment::No;
        }
        self.expire(now_ms);
        let key = Key {
            src: ip.src_addr().octets(),
            dst: ip.dst_addr().octets(),
            protocol: ip.next_header().into(),
            ident: ip.ident(),
        };
        if self.was_given_up(key, now_ms) {
            return Fragment::Taken;
        }
        if !matches!(ip.next_header(), IpProtocol::Udp | IpProtocol::Icmp) {
            self.give_up(key, now_ms, false);
            return Fragment::Taken;
        }
        let payload = ip.payload();
        let end = offset + payload.len();
        if end > MAX_PAYLOAD {
            if let Some(i) = self.find(key) {
                self.slots[i] = None;
            }
            self.give_up(key, now_ms, true);
            return Fragment::Taken;
        }
        let i = match self.find(key) {
            Some(i) => i,
            None => self.open(key, now_ms),
        };
        let Some(slot) = self.slots[i].as_mut() else {
            return Fragment::Taken;
        };
        let consistent = if more {
            // RFC 791: every fragment but the last carries a multiple
            // of eight bytes, and none reaches past the end.
            !payload.is_empty() && payload.len() % 8 == 0 && slot.end.is_none_or(|e| end <= e)
        } else {
            slot.end.is_none_or(|e| e == end) && !slot.has_past(end)
        };
        let marked = if consistent {
            slot.mark(offset / 8..end.div_ceil(8))
        } else {
            Err(())
        };
        let repeat = match marked {
            Ok(repeat) => repeat,
            Err(()) => {
                self.slots[i] = None;
                self.give_up(key, now_ms, false);
                return Fragment::Taken;
            }
        };
        if repeat {
            return Fragment::Taken;
        }
        if !more {
            slot.end = Some(end);
        }
        let buf = &mut self.bufs[i];
        buf[PAYLOAD_AT + offset..PAYLOAD_AT + end].copy_from_slice(payload);
        if offset == 0 {
            // The datagram's headers are its first fragment's.
            let header = usize::from(ip.header_len());
            let at = PAYLOAD_AT - header - ETHERNET;
            buf[at..PAYLOAD_AT].copy_from_slice(&frame[..ETHERNET + header]);
            slot.header = Some(header);
        }
        let Some(end) = slot.complete() else {
            return Fragment::Taken;
        };
        let header = slot.header.unwrap_or(MAX_IP_HEADER);
        self.slots[i] = None;
        self.counts.reassembled = self.counts.reassembled.wrapping_add(1);
        let at = PAYLOAD_AT - header - ETHERNET;
        let frame = &mut self.bufs[i][at..PAYLOAD_AT + end];
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETHERNET..]);
        // At most 60 + 8,200 bytes: fits the field.
        ip.set_total_len((header + end) as u16);
        ip.set_more_frags(false);
        ip.set_frag_offset(0);
        ip.fill_checksum();
        self.whole = Some((i, at..PAYLOAD_AT + end));
        Fragment::Whole(frame)
    }

    fn find(&self, key: Key) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.is_some_and(|s| s.key == key))
    }

    /// A slot for a new datagram: a free one, or the oldest's, which is
    /// given up.
    fn open(&mut self, key: Key, now_ms: u64) -> usize {
        let i = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                let i = (0..SLOTS)
                    .min_by_key(|&i| self.slots[i].map_or(0, |s| s.since_ms))
                    .unwrap_or(0);
                if let Some(old) = self.slots[i].take() {
                    self.give_up(old.key, now_ms, false);
                }
                i
            }
        };
        self.slots[i] = Some(Slot {
            key,
            since_ms: now_ms,
            map: [0; MAP_WORDS],
            end: None,
            header: None,
        });
        i
    }

    /// Counts a datagram given up and remembers it.
    fn give_up(&mut self, key: Key, now_ms: u64, too_big: bool) {
        if too_big {
            self.counts.too_big = self.counts.too_big.wrapping_add(1);
        } else {
            self.counts.dropped = self.counts.dropped.wrapping_add(1);
        }
        let i = self
            .given_up
            .iter()
            .position(Option::is_none)
            .unwrap_or_else(|| {
                (0..GIVEN_UP)
                    .min_by_key(|&i| self.given_up[i].map_or(0, |(_, t)| t))
                    .unwrap_or(0)
            });
        self.given_up[i] = Some((key, now_ms));
    }

    fn was_given_up(&mut self, key: Key, now_ms: u64) -> bool {
        for g in &mut self.given_up {
            if let Some((k, t)) = *g {
                if now_ms.saturating_sub(t) >= TIMEOUT_MS {
                    *g = None;
                } else if k == key {
                    return true;
                }
            }
        }
        false
    }
}

/// Whether `frame` looks like an IPv4 fragment (more fragments after it,
/// or an offset), from its bytes alone: every frame received and sent
/// comes here, and the parse and the header checksum are only for
/// fragments (looking at every frame in full cost a bulk TCP transfer
/// about 4% more instructions a KiB).
pub fn is_fragment(frame: &[u8]) -> bool {
    // Ethernet: type at 12..14 (IPv4: 0x0800); IPv4: flags and offset at
    // 6..8 (MF: 0x20 of the first byte, the offset its low 5 bits and
    // the next byte).
    match frame.get(12..ETHERNET + 8) {
        Some([0x08, 0x00, _, _, _, _, _, _, flags, offset]) => flags & 0x3f != 0 || *offset != 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
