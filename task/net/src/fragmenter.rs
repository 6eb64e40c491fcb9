//! The fragments of a datagram smoltcp cuts to fit the MTU, sent before
//! anything else.
//!
//! smoltcp (`proto-ipv4-fragmentation`) keeps one datagram being cut: it
//! sends the first fragment when the datagram is sent, and one more each
//! `poll_egress` after, before it asks the sockets for what they have. A
//! socket that then sends another datagram too long for one frame (the
//! echo answering the next one) takes the fragmenter over, and the rest of
//! the first datagram is never sent (its peer waits out its reassembly
//! for nothing). So is an answer smoltcp makes to a received frame (a
//! ping's reply).
//!
//! So while fragments are still to go, the NIC gives a transmit token only
//! for the next of them: one per `poll_egress`, which smoltcp's fragmenter
//! takes first ([`Fragmenter::new_pass`]); the sockets find the NIC busy
//! and keep what they have, and no received frame is taken. The stack
//! passes again at once until the last fragment is out.
//!
//! Which frames are fragments is read from the frames smoltcp writes: a
//! frame with more fragments after it says a datagram is being cut, the
//! one with none after it and a non-zero offset says it is done.
//!
//! It must never keep the NIC from the sockets once a datagram's last
//! fragment went, nor give a token past the fragmenter while one is cut.

use smoltcp::wire::{EthernetFrame, EthernetProtocol, Ipv4Packet};

/// Where the stack stands with the datagram smoltcp is cutting.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Fragmenter {
    /// A datagram was cut and not all of its fragments went.
    cutting: bool,
    /// This pass's token for its next fragment is still to take.
    turn: bool,
}

impl Fragmenter {
    /// No datagram being cut.
    pub const NEW: Fragmenter = Fragmenter {
        cutting: false,
        turn: false,
    };

    /// A `poll_egress` begins: smoltcp sends the next fragment first.
    pub fn new_pass(&mut self) {
        self.turn = true;
    }

    /// A transmit token may be handed out now.
    pub fn may_send(&self) -> bool {
        !self.cutting || self.turn
    }

    /// A received frame may be taken (its answer could be cut too).
    pub fn may_receive(&self) -> bool {
        !self.cutting
    }

    /// Fragments of a datagram are still to go.
    pub fn cutting(&self) -> bool {
        self.cutting
    }

    /// smoltcp wrote `frame` to send.
    pub fn sent(&mut self, frame: &[u8]) {
        if !crate::reassembly::is_fragment(frame) {
            return;
        }
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        if eth.ethertype() != EthernetProtocol::Ipv4 {
            return;
        }
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            return;
        };
        if ip.more_frags() {
            self.cutting = true;
            self.turn = false;
        } else if ip.frag_offset() != 0 {
            self.cutting = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::IpProtocol;

    fn frame(more: bool, offset: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        EthernetFrame::new_unchecked(&mut f[..]).set_ethertype(EthernetProtocol::Ipv4);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_total_len(28);
        ip.set_next_header(IpProtocol::Udp);
        ip.set_more_frags(more);
        ip.set_frag_offset(offset);
        f
    }

    #[test]
    fn while_a_datagram_is_cut_only_its_next_fragment_may_go() {
        let mut f = Fragmenter::NEW;
        f.new_pass();
        assert!(f.may_send() && f.may_receive());
        // A socket's datagram is cut: its first fragment goes.
        f.sent(&frame(true, 0));
        assert!(f.cutting());
        assert!(!f.may_send(), "another socket in the same pass");
        assert!(!f.may_receive());
        // Each pass: one token, for the fragmenter, then none.
        for offset in [1480, 2960] {
            f.new_pass();
            assert!(f.may_send());
            f.sent(&frame(true, offset));
            assert!(!f.may_send());
        }
        f.new_pass();
        f.sent(&frame(false, 4440));
        assert!(!f.cutting());
        assert!(f.may_send() && f.may_receive(), "the sockets' turn again");
    }

    #[test]
    fn whole_frames_change_nothing() {
        let mut f = Fragmenter::NEW;
        f.sent(&frame(false, 0));
        f.sent(&[0u8; 3]);
        assert_eq!(f, Fragmenter::NEW);
        f.sent(&frame(true, 0));
        f.new_pass();
        f.sent(&frame(false, 0));
        assert!(f.cutting(), "a whole frame is not the last fragment");
    }
}
