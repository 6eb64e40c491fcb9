//! Property tests: random sequences of add / kick / device completion (in
//! any order) / get / restart / disable / shutdown against the strict model,
//! checked against a reference of what must be outstanding; and a bounded
//! run of the fuzz harness.

use std::collections::BTreeMap;

use proptest::prelude::*;
use virtio::{Error, Features};

use crate::model::{Rig, Setup, INDIRECT_LEN};

#[derive(Clone, Debug)]
enum Op {
    /// Out and in buffer counts (lengths are fixed per buffer index).
    Add(usize, usize),
    Kick,
    Fetch,
    /// Complete the pending chain at this index (mod the pending count).
    Complete(usize),
    Get,
    Restart,
    Disable,
    Shutdown,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..4, 0usize..5).prop_map(|(o, i)| Op::Add(o, i)),
        2 => Just(Op::Kick),
        2 => Just(Op::Fetch),
        3 => any::<usize>().prop_map(Op::Complete),
        3 => Just(Op::Get),
        1 => Just(Op::Restart),
        1 => Just(Op::Disable),
        1 => Just(Op::Shutdown),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (1u32..=2, any::<bool>(), any::<bool>(), 0u32..5).prop_map(
        |(version, event_idx, indirect, m)| Setup {
            version,
            event_idx,
            indirect,
            queue_max: 1 << m,
            blk: false,
        },
    )
}

const N: usize = 16;

/// Ring descriptors a chain takes.
fn descs(setup: &Setup, total: usize) -> u16 {
    if setup.indirect && total > 1 && total <= INDIRECT_LEN {
        1
    } else {
        total as u16
    }
}

fn run(setup: Setup, ops: Vec<Op>) {
    let mut rig: Rig<N> = setup.build();
    let size = rig.queue.size();
    let bufs: Vec<_> = (0..8).map(|i| rig.buf(1 + i)).collect();
    // Reference: token -> (writable bytes, ring descriptors).
    let mut outstanding: BTreeMap<u32, (u32, u16)> = BTreeMap::new();
    // Completed by the device, not yet taken with get_buf.
    let mut used_unread = 0usize;
    let mut next_token = 0u32;
    let understood = setup.understood();

    for op in ops {
        match op {
            Op::Add(outs, ins) => {
                let out = &bufs[..outs];
                let in_ = &bufs[4..4 + ins];
                let total = outs + ins;
                let need = descs(&setup, total);
                let free = rig.queue.num_free();
                let result = rig.add(out, in_, next_token);
                match result {
                    Ok(()) => {
                        assert!(total > 0 && need <= free);
                        assert_eq!(rig.queue.num_free(), free - need);
                        let writable = in_.iter().map(|b| b.len()).sum();
                        outstanding.insert(next_token, (writable, need));
                        next_token += 1;
                    }
                    Err(Error::EmptyChain) => assert_eq!(total, 0),
                    Err(Error::ChainTooLong) => assert!(total > usize::from(size)),
                    Err(Error::QueueFull) => assert!(need > free),
                    Err(e) => panic!("add_buf: {e:?}"),
                }
            }
            Op::Kick => {
                rig.kick();
            }
            Op::Fetch => {
                rig.fetch();
            }
            Op::Complete(i) => {
                let pending = rig.dev.borrow().pending(0).len();
                if pending > 0 {
                    rig.complete(i % pending);
                    used_unread += 1;
                }
            }
            Op::Get => match rig.queue.get_buf().expect("honest device") {
                Some((token, len)) => {
                    let (writable, _) = outstanding.remove(&token).expect("token outstanding");
                    assert_eq!(len, writable, "rng fills every writable byte");
                    used_unread -= 1;
                }
                None => assert_eq!(used_unread, 0),
            },
            Op::Restart => assert_eq!(rig.queue.restart(), used_unread == 0),
            Op::Disable => rig.queue.disable_callbacks(),
            Op::Shutdown => {
                let tokens = rig.reset_and_shutdown();
                assert_eq!(tokens, outstanding.keys().copied().collect::<Vec<_>>());
                outstanding.clear();
                used_unread = 0;
                rig.reattach(understood);
            }
        }
        // Descriptor accounting: free + held by outstanding chains = size.
        let held: u16 = outstanding.values().map(|&(_, d)| d).sum();
        assert_eq!(rig.queue.num_free() + held, size, "no descriptor leaks");
        assert_eq!(usize::from(rig.queue.in_flight()), outstanding.len());
    }

    // Finish: the device completes everything; every token comes back once.
    rig.kick();
    rig.service();
    for (token, len) in rig.drain() {
        let (writable, _) = outstanding.remove(&token).expect("token outstanding");
        assert_eq!(len, writable);
    }
    assert!(outstanding.is_empty());
    assert_eq!(rig.queue.num_free(), size);
    assert!(rig.queue.restart());
    assert_eq!(rig.reset_and_shutdown(), Vec::<u32>::new());
    let _ = Features::NONE;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_return_every_token_exactly_once(
        setup in setup(),
        ops in prop::collection::vec(op(), 0..80),
    ) {
        run(setup, ops);
    }

    /// The fuzz target's harness, briefly, so CI exercises it.
    #[test]
    fn fuzz_used_ring_briefly(data in prop::collection::vec(any::<u8>(), 0..200)) {
        crate::harness::run(&data);
    }
}
