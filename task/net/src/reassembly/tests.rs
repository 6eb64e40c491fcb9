use super::*;

use smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Packet};

const PEER: [u8; 4] = [10, 0, 2, 2];
const US: [u8; 4] = [10, 0, 2, 15];

/// Bytes that differ from one position to the next (a lost or moved
/// block shows).
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// One frame: `part` of a datagram's payload at `offset`, `more`
/// fragments after it or not.
fn frame(ident: u16, protocol: IpProtocol, part: &[u8], offset: usize, more: bool) -> Vec<u8> {
    let mut f = vec![0u8; ETHERNET + 20 + part.len()];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_src_addr(EthernetAddress([0x52, 0x55, 10, 0, 2, 2]));
    eth.set_dst_addr(EthernetAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
    eth.set_ethertype(EthernetProtocol::Ipv4);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[ETHERNET..]);
    ip.set_version(4);
    ip.set_header_len(20);
    ip.set_total_len((20 + part.len()) as u16);
    ip.set_ident(ident);
    ip.clear_flags();
    ip.set_more_frags(more);
    ip.set_frag_offset(offset as u16);
    ip.set_hop_limit(64);
    ip.set_next_header(protocol);
    ip.set_src_addr(Ipv4Address::from(PEER));
    ip.set_dst_addr(Ipv4Address::from(US));
    ip.payload_mut().copy_from_slice(part);
    ip.fill_checksum();
    f
}

/// A datagram's payload cut as a 1,500-byte MTU cuts it (1,480 bytes a
/// fragment).
fn fragments(ident: u16, protocol: IpProtocol, data: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = data.chunks(1480).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(k, c)| frame(ident, protocol, c, k * 1480, k + 1 < chunks.len()))
        .collect()
}

fn bufs() -> &'static mut [[u8; SLOT_BYTES]; SLOTS] {
    Box::leak(Box::new([[0u8; SLOT_BYTES]; SLOTS]))
}

/// Feeds `frames` in order at `now_ms`; the whole datagrams that came out.
fn feed(r: &mut Reassembly<'_>, frames: &[Vec<u8>], now_ms: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in frames {
        match r.take(f, now_ms) {
            Fragment::Whole(w) => {
                let w = w.to_vec();
                assert_eq!(r.whole(), Some(&w[..]), "whole() tells the same");
                out.push(w);
            }
            Fragment::Taken => assert_eq!(r.whole(), None),
            Fragment::No => panic!("a fragment was not taken for one"),
        }
    }
    out
}

fn counts(reassembled: u32, too_big: u32, dropped: u32) -> Counts {
    Counts {
        reassembled,
        too_big,
        dropped,
    }
}

#[test]
fn a_frame_that_is_no_fragment_is_handed_on_as_it_is() {
    let mut r = Reassembly::new(bufs());
    let f = frame(1, IpProtocol::Udp, &payload(100, 1), 0, false);
    assert_eq!(r.take(&f, 0), Fragment::No);
    assert_eq!(r.take(&[0u8; 10], 0), Fragment::No, "a runt");
    let mut df = f.clone();
    Ipv4Packet::new_unchecked(&mut df[ETHERNET..]).set_dont_frag(true);
    assert!(!is_fragment(&df), "don't fragment is no fragment");
    assert!(is_fragment(&frame(1, IpProtocol::Udp, &[0; 8], 0, true)));
    assert!(is_fragment(&frame(1, IpProtocol::Udp, &[0; 8], 8, false)));
    assert_eq!(r.counts(), Counts::default());
}

#[test]
fn fragments_in_order_come_out_as_the_datagram_they_were_cut_from() {
    let mut r = Reassembly::new(bufs());
    for len in [1481, 2000, 2960, 2961, MAX_PAYLOAD] {
        let data = payload(len, len as u8);
        let out = feed(&mut r, &fragments(len as u16, IpProtocol::Udp, &data), 5);
        assert_eq!(out.len(), 1, "{len} bytes");
        assert_eq!(
            out[0],
            frame(len as u16, IpProtocol::Udp, &data, 0, false),
            "{len} bytes"
        );
    }
    assert_eq!(r.counts(), counts(5, 0, 0));
}

#[test]
fn fragments_out_of_order_and_repeated_come_out_once() {
    let mut r = Reassembly::new(bufs());
    let data = payload(6000, 7);
    let mut frames = fragments(9, IpProtocol::Icmp, &data);
    frames.reverse();
    let repeat = frames[1].clone();
    frames.insert(2, repeat);
    let out = feed(&mut r, &frames, 0);
    assert_eq!(out, vec![frame(9, IpProtocol::Icmp, &data, 0, false)]);
    assert_eq!(r.counts(), counts(1, 0, 0));
}

#[test]
fn a_datagram_past_the_limit_is_counted_once_and_holds_no_slot() {
    let mut r = Reassembly::new(bufs());
    // One byte too many, then one of 20,000 bytes (eight fragments past
    // the limit): each counted once.
    let big = fragments(1, IpProtocol::Udp, &payload(MAX_PAYLOAD + 1, 1));
    assert!(feed(&mut r, &big, 0).is_empty());
    let huge = fragments(2, IpProtocol::Udp, &payload(20_000, 2));
    assert!(feed(&mut r, &huge, 0).is_empty());
    assert_eq!(r.counts(), counts(0, 2, 0));
    // Every slot is free at once: the next datagrams, interleaved, come
    // out whole (a minute of smoltcp's timeout dropped them).
    let a = fragments(3, IpProtocol::Udp, &payload(3000, 3));
    let b = fragments(4, IpProtocol::Udp, &payload(3000, 4));
    let mixed: Vec<Vec<u8>> = a
        .iter()
        .zip(&b)
        .flat_map(|(x, y)| [x.clone(), y.clone()])
        .collect();
    assert_eq!(feed(&mut r, &mixed, 1).len(), 2);
    assert_eq!(r.counts(), counts(2, 2, 0));
}

#[test]
fn a_datagram_still_incomplete_after_its_time_is_counted_and_its_rest_dropped() {
    let mut r = Reassembly::new(bufs());
    let frames = fragments(5, IpProtocol::Udp, &payload(4000, 5));
    assert!(feed(&mut r, &frames[..2], 100).is_empty());
    r.expire(100 + TIMEOUT_MS - 1);
    assert_eq!(r.counts(), counts(0, 0, 0), "not yet");
    r.expire(100 + TIMEOUT_MS);
    assert_eq!(r.counts(), counts(0, 0, 1));
    // Its last fragment, late: dropped, not counted again, no datagram.
    assert!(feed(&mut r, &frames[2..], 100 + TIMEOUT_MS).is_empty());
    assert_eq!(r.counts(), counts(0, 0, 1));
}

#[test]
fn a_new_datagram_pushes_out_the_oldest_when_every_slot_is_taken() {
    let mut r = Reassembly::new(bufs());
    let firsts: Vec<Vec<Vec<u8>>> = (0..=SLOTS as u16)
        .map(|k| fragments(10 + k, IpProtocol::Udp, &payload(3000, k as u8)))
        .collect();
    for (k, f) in firsts.iter().enumerate() {
        assert!(feed(&mut r, &f[..1], k as u64).is_empty());
    }
    assert_eq!(r.counts(), counts(0, 0, 1), "the oldest pushed out");
    // The newest ones complete; the oldest's rest is dropped.
    for f in &firsts[1..] {
        assert_eq!(feed(&mut r, &f[1..], 10).len(), 1);
    }
    assert!(feed(&mut r, &firsts[0][1..], 10).is_empty());
    assert_eq!(r.counts(), counts(SLOTS as u32, 0, 1));
}

#[test]
fn overlapping_or_inconsistent_fragments_give_the_datagram_up() {
    let data = payload(3000, 3);
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "an overlap",
            vec![
                frame(1, IpProtocol::Udp, &data[..1480], 0, true),
                frame(1, IpProtocol::Udp, &data[1472..], 1472, false),
            ],
        ),
        (
            "two ends",
            vec![
                frame(1, IpProtocol::Udp, &data[1480..], 1480, false),
                frame(1, IpProtocol::Udp, &data[1480..2000], 1480, false),
            ],
        ),
        (
            "a middle fragment of an odd length",
            vec![
                frame(1, IpProtocol::Udp, &data[..1479], 0, true),
                frame(1, IpProtocol::Udp, &data[1480..], 1480, false),
            ],
        ),
        (
            "bytes past the end",
            vec![
                frame(1, IpProtocol::Udp, &data[1480..2960], 2960, true),
                frame(1, IpProtocol::Udp, &data[1480..2280], 1480, false),
            ],
        ),
    ];
    for (what, frames) in cases {
        let mut r = Reassembly::new(bufs());
        assert!(feed(&mut r, &frames, 0).is_empty(), "{what}");
        // The rest of it changes nothing.
        assert!(
            feed(&mut r, &fragments(1, IpProtocol::Udp, &data), 0).is_empty(),
            "{what}"
        );
        assert_eq!(r.counts(), counts(0, 0, 1), "{what}");
    }
}

#[test]
fn tcp_fragments_are_never_handed_on() {
    let mut r = Reassembly::new(bufs());
    let frames = fragments(1, IpProtocol::Tcp, &payload(3000, 1));
    assert!(feed(&mut r, &frames, 0).is_empty());
    assert_eq!(r.counts(), counts(0, 0, 1));
}

#[test]
fn a_fragment_with_a_bad_checksum_is_left_to_smoltcp() {
    let mut r = Reassembly::new(bufs());
    let mut f = fragments(1, IpProtocol::Udp, &payload(3000, 1)).remove(0);
    f[ETHERNET + 10] ^= 1;
    assert_eq!(r.take(&f, 0), Fragment::No);
}

/// `f` with 4 bytes of IPv4 options (three NOPs and an end of list).
fn with_options(f: &[u8]) -> Vec<u8> {
    let mut g = f[..ETHERNET + 20].to_vec();
    g.extend_from_slice(&[1, 1, 1, 0]);
    g.extend_from_slice(&f[ETHERNET + 20..]);
    let mut ip = Ipv4Packet::new_unchecked(&mut g[ETHERNET..]);
    ip.set_header_len(24);
    let total = ip.total_len() + 4;
    ip.set_total_len(total);
    ip.fill_checksum();
    g
}

#[test]
fn the_first_fragments_header_and_options_head_the_datagram() {
    let mut r = Reassembly::new(bufs());
    let data = payload(3000, 9);
    let mut frames = fragments(3, IpProtocol::Udp, &data);
    frames[0] = with_options(&frames[0]);
    // The first fragment last: its header goes before what came already.
    frames.rotate_left(1);
    let out = feed(&mut r, &frames, 0);
    assert_eq!(
        out,
        vec![with_options(&frame(3, IpProtocol::Udp, &data, 0, false))]
    );
}

#[test]
fn a_datagram_given_up_is_forgotten_after_its_time() {
    let mut r = Reassembly::new(bufs());
    let big = fragments(1, IpProtocol::Udp, &payload(MAX_PAYLOAD + 100, 1));
    assert!(feed(&mut r, &big, 0).is_empty());
    // The same identification, a datagram later (identifications wrap):
    // while the first is remembered, dropped; after, reassembled.
    let again = fragments(1, IpProtocol::Udp, &payload(2000, 2));
    assert!(feed(&mut r, &again, TIMEOUT_MS - 1).is_empty());
    assert_eq!(feed(&mut r, &again, TIMEOUT_MS).len(), 1);
    assert_eq!(r.counts(), counts(1, 1, 0));
}

mod props {
    //! Whatever frames arrive (from the NIC driver, which is not trusted,
    //! and from any peer), reassembly answers without a panic and hands on
    //! only datagrams within the limit; and a datagram's fragments in any
    //! order, repeated or not, come out as that datagram, once.

    use super::*;
    use proptest::prelude::*;

    /// A fragment of a datagram with its bytes changed here and there
    /// (header fields included), or bytes of no shape at all.
    fn hostile_frame() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            (
                any::<u16>(),
                0usize..9000,
                0usize..1480,
                any::<bool>(),
                prop::collection::vec((0usize..1600, any::<u8>()), 0..4),
                any::<bool>(),
            )
                .prop_map(|(ident, offset, len, more, flips, icmp)| {
                    let protocol = if icmp {
                        IpProtocol::Icmp
                    } else {
                        IpProtocol::Udp
                    };
                    let mut f = frame(
                        ident % 4,
                        protocol,
                        &payload(len, ident as u8),
                        offset & !7,
                        more,
                    );
                    let n = f.len();
                    for (at, b) in flips {
                        f[at % n] = b;
                    }
                    // Most flips break the checksum; some frames keep it
                    // right, as a peer that means harm would.
                    if ident % 2 == 0 && n >= ETHERNET + 20 {
                        if let Ok(mut ip) = Ipv4Packet::new_checked(&mut f[ETHERNET..]) {
                            ip.fill_checksum();
                        }
                    }
                    f
                }),
        ]
    }

    proptest! {
        #[test]
        fn any_frames_are_taken_without_a_panic_and_nothing_over_the_limit_comes_out(
            frames in prop::collection::vec(hostile_frame(), 1..60),
            step_ms in 0u64..700,
        ) {
            let mut r = Reassembly::new(bufs());
            for (k, f) in frames.iter().enumerate() {
                if let Fragment::Whole(w) = r.take(f, k as u64 * step_ms) {
                    let ip = Ipv4Packet::new_checked(&w[ETHERNET..]).expect("a whole datagram parses");
                    prop_assert!(ip.verify_checksum());
                    prop_assert!(!ip.more_frags() && ip.frag_offset() == 0);
                    prop_assert!(ip.payload().len() <= MAX_PAYLOAD);
                }
            }
        }

        #[test]
        fn a_datagrams_fragments_in_any_order_come_out_as_it_once(
            len in 9usize..=MAX_PAYLOAD,
            blocks in 1usize..=185,
            order in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
            repeats in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let data = payload(len, len as u8);
            let size = 8 * blocks;
            let chunks: Vec<&[u8]> = data.chunks(size).collect();
            let mut frames: Vec<Vec<u8>> = chunks
                .iter()
                .enumerate()
                .map(|(k, c)| frame(7, IpProtocol::Udp, c, k * size, k + 1 < chunks.len()))
                .collect();
            if frames.len() == 1 {
                // A datagram that fits one frame is no fragment.
                return Ok(());
            }
            for (k, i) in order.iter().enumerate() {
                let j = i.index(frames.len());
                let n = frames.len();
                frames.swap(k % n, j);
            }
            for i in &repeats {
                let f = frames[i.index(frames.len())].clone();
                let at = i.index(frames.len());
                frames.insert(at, f);
            }
            let mut r = Reassembly::new(bufs());
            let mut out = Vec::new();
            for f in &frames {
                if let Fragment::Whole(w) = r.take(f, 0) {
                    out.push(w.to_vec());
                }
            }
            prop_assert_eq!(out, vec![frame(7, IpProtocol::Udp, &data, 0, false)]);
            prop_assert_eq!(r.counts(), counts(1, 0, 0));
        }
    }
}
