//! A hostile device against the DMA gate: while the driver posts chains of
//! leases and of its own buffers and answers its client, the device writes
//! anything to the used ring (ids in and out of range, ids of descriptors
//! that head no chain, the used index jumping either way). The pin count,
//! which the reply fast path trusts, must always agree with the pins, and
//! a reset must release every pin and with it the lender.

use super::super::fuzz::Rng;
use super::*;

#[test]
fn a_hostile_used_ring_never_breaks_the_pin_count() {
    let (mut posted, mut calls, mut most_pinned) = (0, 0, 0);
    // A few harnesses (the test arena is shared by every kernel test and
    // never freed), many steps each.
    for seed in 1..=4u64 {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
        let (drv, cli) = (h.id(DRV), h.id(CLI));
        let l = lease(LEASE_READ | LEASE_WRITE, h.addr(CLI, DATA), 512);
        let own = h.addr(DRV, DATA) as u64;
        let used = ring + crate::dma::USED_OFFSET;
        for _ in 0..5000 {
            match r.below(6) {
                0 | 1 => {
                    let head = r.below(8);
                    let n = 1 + r.below(3);
                    let chain: Vec<RawDesc> = (0..n)
                        .map(|k| {
                            let more = k + 1 < n;
                            let offset = r.below(16) as u64 * 32;
                            let flags = F_WRITE | if more { F_NEXT } else { 0 };
                            let next = if more { ((head + k + 1) % 8) as u16 } else { 0 };
                            if r.below(2) == 0 {
                                leased(0, offset, 16, flags, next)
                            } else {
                                desc(own + offset, 16, flags, next)
                            }
                        })
                        .collect();
                    post_lent(&mut h, &chain, head, cli);
                    posted += usize::from(h.ret(DRV, 0) == SUCCESS as usize);
                }
                2 | 3 => {
                    let id = match r.below(3) {
                        0 => r.below(8) as u32,
                        1 => r.below(64) as u32,
                        _ => r.next() as u32,
                    };
                    let (slot, idx) = (r.below(8), r.next() as u16);
                    // SAFETY: the ring region block of the test arena.
                    unsafe {
                        std::ptr::write((used + 4 + 8 * slot) as *mut u32, id);
                        std::ptr::write((used + 2) as *mut u16, idx);
                    }
                }
                4 => {
                    if h.sched(CLI) == SchedState::InReply(drv) {
                        h.reply(DRV, cli, 0, b"");
                    } else if h.sched(CLI) == SchedState::Runnable {
                        // The client calls again, lending the same bytes.
                        h.recv(DRV, 16, 0);
                        h.send(CLI, drv, 1, b"", 0, &[l]);
                        calls += 1;
                    }
                }
                // A chain of the driver's own buffer (its post reaps first).
                _ => post(&mut h, &[desc(own, 16, 0, 0)], r.below(8)),
            }
            most_pinned = most_pinned.max(pins_agree(ring, 8));
        }
        // A reset releases every pin, and the lender can be answered.
        crate::dma::quiesce(&mut h.sys, DRV);
        assert_eq!(
            pins_agree(ring, 8),
            0,
            "seed {seed}: pins left after a reset"
        );
        if h.sched(CLI) == SchedState::InReply(drv) {
            h.reply(DRV, cli, 0, b"");
            assert_eq!(
                h.sched(CLI),
                SchedState::Runnable,
                "seed {seed}: lender held"
            );
        }
    }
    // The run did post lent chains and answer calls.
    assert!(
        posted > 500 && most_pinned >= 3 && calls > 50,
        "posted {posted}, most pinned {most_pinned}, calls {calls}"
    );
}
