//! The fuzz harness: arbitrary bytes drive a queue against a device that
//! may write anything into the used ring. Shared by the `cargo fuzz` target
//! (`fuzz/fuzz_targets/used_ring.rs`) and a bounded proptest run in
//! `cargo test` (`props.rs`).
//!
//! What must hold whatever the device does: no panic in the library, every
//! token returned by `get_buf` was outstanding (so none comes back twice),
//! lengths within the chain's writable buffers, and after a reset `shutdown`
//! returns exactly the tokens still outstanding, leaving every descriptor
//! free.

use std::collections::BTreeMap;

use virtio::{Blame, Buf, Error, Features, Transport};

use crate::model::{Rig, Setup};

const N: usize = 16;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
}

/// Runs the operations encoded in `data`.
pub fn run(data: &[u8]) {
    let mut input = Bytes(data);
    let Some(cfg) = input.u8() else { return };
    let setup = Setup {
        version: 1 + u32::from(cfg & 1),
        event_idx: cfg & 2 != 0,
        indirect: cfg & 4 != 0,
        queue_max: 1 << ((cfg >> 3) % 5),
        blk: false,
    };
    let mut dev = setup.device();
    dev.hostile = true;
    let mut rig: Rig<N> = Rig::bring_up(dev.shared(), setup.understood(), setup.indirect);
    let bufs: Vec<Buf> = (0..N).map(|i| rig.buf(1 + i as u32)).collect();

    // token -> writable bytes of its chain
    let mut outstanding: BTreeMap<u32, u64> = BTreeMap::new();
    let mut next_token = 0u32;

    while let Some(op) = input.u8() {
        match op % 10 {
            0 | 1 => {
                let Some(shape) = input.u8() else { break };
                let (outs, ins) = (usize::from(shape & 7), usize::from(shape >> 3 & 7));
                let out: Vec<Buf> = bufs[..outs].to_vec();
                let in_: Vec<Buf> = bufs[8..8 + ins].to_vec();
                let writable: u64 = in_.iter().map(|b| u64::from(b.len())).sum();
                match rig.add(&out, &in_, next_token) {
                    Ok(()) => {
                        outstanding.insert(next_token, writable);
                        next_token += 1;
                    }
                    Err(Error::QueueFull | Error::ChainTooLong | Error::EmptyChain) => {}
                    Err(Error::QueueBroken) => assert!(rig.queue.is_broken()),
                    Err(e) => panic!("add_buf: unexpected {e:?}"),
                }
            }
            2 => {
                rig.kick();
            }
            3 => {
                rig.fetch();
            }
            4 => {
                let Some(pick) = input.u8() else { break };
                let pending = rig.dev.borrow().pending(0).len();
                if pending > 0 {
                    rig.complete(usize::from(pick) % pending);
                }
            }
            5 => {
                // Anything at all in the next used element.
                let (Some(id), Some(len)) = (input.u32(), input.u32()) else {
                    break;
                };
                let id = if id & 0x8000_0000 == 0 {
                    id % (N as u32 + 2)
                } else {
                    id
                };
                let len = if len & 0x8000_0000 == 0 {
                    len % 64
                } else {
                    len
                };
                rig.dev.borrow_mut().forge_used(0, id, len);
            }
            6 => {
                let Some(idx) = input.u16() else { break };
                rig.dev.borrow_mut().set_used_idx(0, idx);
            }
            7 => match rig.queue.get_buf() {
                Ok(Some((token, len))) => {
                    let writable = outstanding
                        .remove(&token)
                        .unwrap_or_else(|| panic!("token {token} was not outstanding"));
                    assert!(u64::from(len) <= writable);
                }
                Ok(None) => {}
                Err(e) => {
                    assert!(
                        e == Error::QueueBroken || e.blame() == Blame::Device,
                        "{e:?}"
                    );
                    assert!(rig.queue.is_broken());
                }
            },
            8 => {
                if input.u8().is_some_and(|b| b & 1 == 0) {
                    rig.queue.disable_callbacks();
                } else {
                    rig.queue.restart();
                }
            }
            _ => shutdown(&mut rig, &mut outstanding, setup.understood()),
        }
    }
    shutdown(&mut rig, &mut outstanding, setup.understood());
}

fn shutdown(rig: &mut Rig<N>, outstanding: &mut BTreeMap<u32, u64>, understood: Features) {
    let tokens = rig.reset_and_shutdown();
    let expected: Vec<u32> = outstanding.keys().copied().collect();
    assert_eq!(
        tokens, expected,
        "shutdown returns exactly the outstanding tokens"
    );
    outstanding.clear();
    assert_eq!(
        rig.queue.num_free(),
        rig.queue.size(),
        "no descriptor leaks"
    );
    assert!(!rig.queue.is_broken());
    rig.reattach(understood);
    // The queue is usable: a fresh round trip.
    assert!(rig.transport.status().0 & 4 != 0);
}
