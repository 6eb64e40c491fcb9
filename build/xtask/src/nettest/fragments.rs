//! IPv4 fragments on a `wire` NIC: the test cuts a frame too long for the
//! link as a router would, and puts the image's fragments back together,
//! so that it can ping with more than a frame holds (the stack
//! reassembles, task/net/src/reassembly.rs, and smoltcp cuts the reply).

use std::collections::BTreeMap;

use smoltcp::wire::{EthernetFrame, Ipv4Packet};

/// Ethernet header bytes.
const ETHERNET: usize = 14;
/// The longest frame on the link: a 1,500-byte MTU.
const MAX_FRAME: usize = ETHERNET + 1500;
/// Payload bytes of each fragment but the last (a multiple of eight).
const FRAGMENT: usize = 1480;

/// `frame` as the link carries it: itself if it fits, else its IPv4
/// packet cut into fragments of [`FRAGMENT`] bytes (a 20-byte header
/// without options is assumed: the test's own frames).
pub(super) fn cut(frame: &[u8]) -> Vec<Vec<u8>> {
    if frame.len() <= MAX_FRAME {
        return vec![frame.to_vec()];
    }
    let head = &frame[..ETHERNET + 20];
    let payload = &frame[ETHERNET + 20..];
    let chunks: Vec<&[u8]> = payload.chunks(FRAGMENT).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(k, chunk)| {
            let mut f = head.to_vec();
            f.extend_from_slice(chunk);
            let mut ip = Ipv4Packet::new_unchecked(&mut f[ETHERNET..]);
            ip.set_total_len((20 + chunk.len()) as u16);
            ip.set_more_frags(k + 1 < chunks.len());
            ip.set_frag_offset((k * FRAGMENT) as u16);
            ip.fill_checksum();
            f
        })
        .collect()
}

/// The image's fragments, by IPv4 identification, until each datagram is
/// whole.
#[derive(Default)]
pub(super) struct Pieces {
    datagrams: BTreeMap<u16, Datagram>,
}

/// One datagram's fragments so far.
#[derive(Default)]
struct Datagram {
    /// The first fragment's Ethernet and IPv4 headers.
    head: Option<Vec<u8>>,
    /// Payload pieces by offset.
    pieces: BTreeMap<usize, Vec<u8>>,
    /// Where the payload ends, once the last fragment came.
    end: Option<usize>,
}

impl Pieces {
    /// Takes `frame`: a whole frame comes back as it is, a fragment is
    /// kept, and the one that completes its datagram brings the datagram
    /// back as one frame.
    pub(super) fn take(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            return Some(frame.to_vec());
        };
        let offset = usize::from(ip.frag_offset());
        if !ip.more_frags() && offset == 0 {
            return Some(frame.to_vec());
        }
        let header = usize::from(ip.header_len());
        let entry = self.datagrams.entry(ip.ident()).or_default();
        if offset == 0 {
            entry.head = Some(frame[..ETHERNET + header].to_vec());
        }
        entry.pieces.insert(offset, ip.payload().to_vec());
        if !ip.more_frags() {
            entry.end = Some(offset + ip.payload().len());
        }
        let (Some(head), Some(end)) = (&entry.head, entry.end) else {
            return None;
        };
        let mut payload = Vec::new();
        for (&at, piece) in &entry.pieces {
            if at != payload.len() {
                return None;
            }
            payload.extend_from_slice(piece);
        }
        if payload.len() != end {
            return None;
        }
        let mut whole = head.clone();
        whole.extend_from_slice(&payload);
        let mut ip = Ipv4Packet::new_unchecked(&mut whole[ETHERNET..]);
        ip.set_total_len((head.len() - ETHERNET + end) as u16);
        ip.set_more_frags(false);
        ip.set_frag_offset(0);
        ip.fill_checksum();
        self.datagrams.remove(&ip.ident());
        Some(whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet frame with an IPv4 packet of `len` payload bytes.
    fn frame(len: usize) -> Vec<u8> {
        let mut f = vec![0u8; ETHERNET + 20 + len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[ETHERNET..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_total_len((20 + len) as u16);
        ip.set_ident(77);
        ip.set_hop_limit(64);
        for (i, b) in ip.payload_mut().iter_mut().enumerate() {
            *b = (i * 7) as u8;
        }
        ip.fill_checksum();
        f
    }

    #[test]
    fn a_frame_cut_and_put_back_together_is_itself() {
        for len in [0, 1480, 1481, 8200] {
            let f = frame(len);
            let parts = cut(&f);
            assert_eq!(parts.len(), len.div_ceil(FRAGMENT).max(1), "{len}");
            assert!(parts.iter().all(|p| p.len() <= MAX_FRAME));
            let mut pieces = Pieces::default();
            let mut out: Vec<Vec<u8>> = parts.iter().rev().filter_map(|p| pieces.take(p)).collect();
            assert_eq!(out.pop(), Some(f), "{len}");
            assert!(out.is_empty());
        }
    }
}
