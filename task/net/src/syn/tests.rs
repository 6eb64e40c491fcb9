//! The guard's rules, on frames built with smoltcp's `wire`.

use super::*;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpProtocol,
    Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};

const PEER: [u8; 4] = [10, 0, 2, 2];
const US: [u8; 4] = [10, 0, 2, 15];

fn segment(from_port: u16, control: TcpControl, ack: bool) -> Vec<u8> {
    let caps = ChecksumCapabilities::default();
    let (src, dst) = (Ipv4Address::from(PEER), Ipv4Address::from(US));
    let tcp = TcpRepr {
        src_port: from_port,
        dst_port: 7,
        control,
        seq_number: TcpSeqNumber(1000),
        ack_number: ack.then_some(TcpSeqNumber(5000)),
        window_len: 1024,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
        dst_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
        ethertype: EthernetProtocol::Ipv4,
    };
    let mut frame = vec![0u8; eth.buffer_len() + ip.buffer_len() + tcp.buffer_len()];
    let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut f);
    let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p, &caps);
    tcp.emit(
        &mut TcpPacket::new_unchecked(p.payload_mut()),
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(dst),
        &caps,
    );
    frame
}

/// A bare SYN from the peer's `port`.
fn syn(port: u16) -> Vec<u8> {
    segment(port, TcpControl::Syn, false)
}

fn conn(port: u16) -> Endpoints {
    Endpoints {
        remote: (PEER, port),
        local: (US, 7),
    }
}

#[test]
fn only_a_bare_syn_is_a_syn() {
    assert_eq!(syn_of(&syn(4000)), Some(conn(4000)));
    assert_eq!(
        syn_of(&segment(4000, TcpControl::Syn, true)),
        None,
        "SYN-ACK"
    );
    assert_eq!(syn_of(&segment(4000, TcpControl::None, true)), None);
    assert_eq!(syn_of(&segment(4000, TcpControl::Rst, false)), None);
    assert_eq!(syn_of(&segment(4000, TcpControl::Fin, true)), None);
}

#[test]
fn malformed_frames_are_not_syns() {
    let whole = syn(4000);
    // Cut anywhere before the end of the TCP header.
    for len in 0..whole.len() {
        assert_eq!(syn_of(&whole[..len]), None, "cut at {len}");
    }
    // Not IPv4; not TCP; a fragment.
    let mut arp = whole.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(syn_of(&arp), None);
    let mut udp = whole.clone();
    udp[14 + 9] = 17;
    assert_eq!(syn_of(&udp), None);
    let mut fragment = whole.clone();
    fragment[14 + 6] |= 0x20; // more fragments
    assert_eq!(syn_of(&fragment), None);
    let mut later = whole;
    later[14 + 7] = 1; // offset 8 bytes
    assert_eq!(syn_of(&later), None);
}

#[test]
fn a_syn_waits_for_a_snapshot_of_its_round() {
    let mut g = SynGuard::<4, 2>::new();
    let first = syn(4000);
    let ack = segment(4000, TcpControl::None, true);
    // Other segments never wait.
    assert_eq!(g.judge(&ack), Verdict::Deliver);
    assert!(!g.take_deferred());
    assert_eq!(g.judge(&first), Verdict::Wait);
    assert!(g.take_deferred());
    assert!(!g.take_deferred(), "asking clears it");
    g.refresh([], []);
    assert_eq!(g.judge(&first), Verdict::Deliver);
    // A new round forgets the snapshot.
    g.new_round(0);
    assert_eq!(g.judge(&syn(4001)), Verdict::Wait);
}

#[test]
fn the_syn_of_a_held_connection_is_dropped_and_no_other() {
    let mut g = SynGuard::<4, 2>::new();
    g.refresh([conn(4000), conn(4002)], []);
    assert_eq!(g.judge(&syn(4000)), Verdict::Repeated);
    assert_eq!(g.judge(&syn(4002)), Verdict::Repeated);
    assert_eq!(g.judge(&syn(4001)), Verdict::Deliver);
    // The connection's other segments still reach it.
    assert_eq!(
        g.judge(&segment(4000, TcpControl::None, true)),
        Verdict::Deliver
    );
    assert_eq!(g.repeated(), 2);
    // A new snapshot without them: their SYNs are new connections.
    g.new_round(0);
    g.refresh([], []);
    assert_eq!(g.judge(&syn(4000)), Verdict::Deliver);
    assert_eq!(g.repeated(), 2);
}

#[test]
fn a_syn_let_through_is_held_for_the_rest_of_the_round() {
    let mut g = SynGuard::<2, 2>::new();
    g.refresh([], []);
    let first = syn(4000);
    assert_eq!(g.judge(&first), Verdict::Deliver);
    assert_eq!(g.judge(&first), Verdict::Repeated, "the same SYN again");
    assert_eq!(g.judge(&syn(4001)), Verdict::Deliver);
    // No room to remember a third: the next SYN waits for a snapshot
    // rather than being judged on one that may be missing it.
    assert_eq!(g.judge(&syn(4002)), Verdict::Deliver);
    assert_eq!(g.judge(&syn(4003)), Verdict::Wait);
}

#[test]
fn a_snapshot_keeps_what_it_has_room_for() {
    let mut g = SynGuard::<2, 2>::new();
    g.refresh([conn(1), conn(2), conn(3)], []);
    assert_eq!(g.judge(&syn(1)), Verdict::Repeated);
    assert_eq!(g.judge(&syn(2)), Verdict::Repeated);
}

fn echo_port(free: u8) -> Listening {
    Listening { port: 7, free }
}

#[test]
fn a_syn_beyond_a_listeners_free_sockets_is_postponed() {
    let mut g = SynGuard::<8, 2>::new();
    g.refresh([], [echo_port(2)]);
    assert_eq!(g.judge(&syn(4000)), Verdict::Deliver);
    assert_eq!(g.judge(&syn(4001)), Verdict::Deliver);
    assert_eq!(g.judge(&syn(4002)), Verdict::Postponed);
    assert_eq!(g.judge(&syn(4003)), Verdict::Postponed);
    assert_eq!(g.postponed(), 2);
    // The same SYN again is still the connection's, not a new one.
    assert_eq!(g.judge(&syn(4000)), Verdict::Repeated);
    assert_eq!((g.repeated(), g.postponed()), (1, 2));
    // A new round with the pool refilled takes the postponed SYN.
    g.new_round(0);
    g.refresh([conn(4000), conn(4001)], [echo_port(1)]);
    assert_eq!(g.judge(&syn(4002)), Verdict::Deliver);
    assert_eq!(g.judge(&syn(4003)), Verdict::Postponed);
}

#[test]
fn a_syn_for_a_port_nobody_listens_on_goes_through() {
    // smoltcp answers it with a reset: the port is closed, and the
    // peer should hear so at once.
    let mut g = SynGuard::<8, 2>::new();
    g.refresh([], [Listening { port: 80, free: 0 }]);
    assert_eq!(g.judge(&syn(4000)), Verdict::Deliver);
    assert_eq!(g.postponed(), 0);
    // Nor do other segments for a full listener wait.
    g.refresh([], [echo_port(0)]);
    assert_eq!(
        g.judge(&segment(4000, TcpControl::None, true)),
        Verdict::Deliver
    );
}

#[test]
fn listeners_beyond_the_guards_room_are_left_alone() {
    let mut g = SynGuard::<8, 1>::new();
    g.refresh([], [Listening { port: 80, free: 0 }, echo_port(0)]);
    assert_eq!(g.judge(&syn(4000)), Verdict::Deliver);
}

#[test]
fn a_syn_over_a_full_backlog_is_kept_until_its_listener_has_room() {
    let mut g = SynGuard::<8, 2>::new();
    g.new_round(0);
    g.refresh([], [echo_port(0)]);
    let first = syn(4000);
    assert_eq!(g.judge(&first), Verdict::Postponed);
    assert_eq!(g.judge(&syn(4001)), Verdict::Postponed);
    // Nothing changed: no look, no snapshot wanted.
    g.new_round(10);
    assert_eq!(g.next_kept(), Turn::None);
    // The owner accepted and the pool was refilled with one socket.
    g.pools_changed();
    assert_eq!(g.next_kept(), Turn::Wait);
    assert!(g.take_deferred());
    g.refresh([], [echo_port(1)]);
    assert_eq!(g.next_kept(), Turn::Kept);
    assert_eq!(g.handed_frame(), &first[..], "the oldest, as it came");
    // smoltcp took it; the other still has no room.
    assert_eq!(g.next_kept(), Turn::None);
    // Its peer's copy of the first SYN is now a repeat.
    assert_eq!(g.judge(&first), Verdict::Repeated);
    g.new_round(20);
    g.pools_changed();
    assert_eq!(g.next_kept(), Turn::Wait);
    g.refresh([conn(4000)], [echo_port(2)]);
    assert_eq!(g.next_kept(), Turn::Kept);
    assert_eq!(g.handed_frame(), &syn(4001)[..]);
    assert_eq!(g.next_kept(), Turn::None, "nothing is handed twice");
    g.new_round(30);
    g.pools_changed();
    assert_eq!(g.next_kept(), Turn::None, "the backlog is empty");
}

/// A guard keeping the SYN of port 4000 over a full echo backlog, in a
/// later round that wants a snapshot for it.
fn one_kept() -> SynGuard<8, 2> {
    let mut g = SynGuard::<8, 2>::new();
    g.refresh([], [echo_port(0)]);
    assert_eq!(g.judge(&syn(4000)), Verdict::Postponed);
    g.new_round(5);
    g.pools_changed();
    assert_eq!(g.next_kept(), Turn::Wait);
    g
}

#[test]
fn a_kept_syn_whose_connection_got_in_is_forgotten() {
    let mut g = one_kept();
    // A later copy got in while the pool had room.
    g.refresh([conn(4000)], [echo_port(3)]);
    assert_eq!(g.next_kept(), Turn::None);
    g.new_round(6);
    g.pools_changed();
    assert_eq!(g.next_kept(), Turn::None, "forgotten, not waiting");
}

#[test]
fn a_kept_syn_whose_listener_closed_goes_to_smoltcp_to_be_reset() {
    let mut g = one_kept();
    g.refresh([], [Listening { port: 80, free: 3 }]);
    assert_eq!(g.next_kept(), Turn::Kept);
    assert_eq!(g.handed_frame(), &syn(4000)[..]);
}

#[test]
fn kept_syns_are_forgotten_after_a_while() {
    let mut g = SynGuard::<8, 2>::new();
    g.new_round(1_000);
    g.refresh([], [echo_port(0)]);
    assert_eq!(g.judge(&syn(4000)), Verdict::Postponed);
    g.new_round(1_000 + backlog::KEEP_MS);
    g.pools_changed();
    assert_eq!(g.next_kept(), Turn::None);
}

#[test]
fn a_kept_syn_is_handed_once_even_if_no_connection_came_of_it() {
    let mut g = one_kept();
    g.refresh([], [echo_port(1)]);
    assert_eq!(g.next_kept(), Turn::Kept);
    // smoltcp refused it (say the listener closed meanwhile): in the next
    // round, with room again, nothing is left to hand.
    g.new_round(6);
    g.pools_changed();
    assert_eq!(g.next_kept(), Turn::None, "kept after it was handed");
}

/// A kept SYN tells its port's listener that a client waits (the stack's
/// `Crowded` answer to an accept that nothing of the caller's can serve);
/// a SYN handed to smoltcp, or one for another port, does not.
#[test]
fn a_kept_syn_says_its_port_has_a_client_waiting() {
    let mut g = SynGuard::<8, 2>::new();
    g.refresh([], [echo_port(1)]);
    assert!(!g.keeps_syn_for(7));
    assert_eq!(g.judge(&syn(4000)), Verdict::Deliver);
    assert!(!g.keeps_syn_for(7), "delivered, not kept");
    assert_eq!(g.judge(&syn(4001)), Verdict::Postponed);
    assert!(g.keeps_syn_for(7));
    assert!(!g.keeps_syn_for(80));
}

/// The shell's `net` said "SYNs dropped: … N over a full backlog" with N
/// every SYN held back, kept and answered a moment later as well: a user
/// saw "12 over a full backlog" after a burst in which every client got
/// its page at once. Only a SYN there is no room to keep, or one kept
/// until it is forgotten, is lost (`dropped`); `postponed` counts them all.
#[test]
fn a_kept_syn_is_not_counted_as_dropped() {
    let mut g = SynGuard::<64, 2>::new();
    g.new_round(0);
    g.refresh([], [echo_port(0)]);
    assert_eq!(g.judge(&syn(4000)), Verdict::Postponed);
    g.new_round(5);
    g.pools_changed();
    assert_eq!(g.next_kept(), Turn::Wait);
    g.refresh([], [echo_port(1)]);
    assert_eq!(g.next_kept(), Turn::Kept, "answered once the pool had room");
    assert_eq!((g.postponed(), g.dropped()), (1, 0));

    // A full keep queue: the SYNs beyond it are lost.
    g.new_round(10);
    g.refresh([conn(4000)], [echo_port(0)]);
    let over = 3;
    for port in 0..(backlog::KEPT + over) as u16 {
        assert_eq!(g.judge(&syn(5000 + port)), Verdict::Postponed);
    }
    assert_eq!(g.postponed(), 1 + (backlog::KEPT + over) as u32);
    assert_eq!(g.dropped(), over as u32, "only the SYNs with no room");

    // Kept ones nobody took are forgotten, and lost too.
    g.new_round(10 + backlog::KEEP_MS);
    assert_eq!(g.dropped(), (over + backlog::KEPT) as u32);
}
