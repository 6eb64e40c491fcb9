//! A software virtio device for host tests: the device side of the
//! virtio-mmio registers (version 1 and 2) and of the split ring, with
//! blk-like and rng-like behaviour, out-of-order and delayed completion,
//! and misbehaviour on request.
//!
//! Also used by the fuzz target (`fuzz/`), which includes this module by
//! path, so it depends only on `std` and `virtio`.

// Not every test binary (or the fuzz target) uses every helper.
#![allow(dead_code)]

pub mod arena;
pub mod device;
pub mod memory;

use std::cell::RefCell;
use std::rc::Rc;

use virtio::transport::mmio::MmioTransport;
use virtio::{Buf, Features, IndirectTables, QueueMemory, SplitQueue, Transport};

pub use device::{Device, Kind, Regs};

/// Token type used by the tests.
pub type Token = u32;

/// A device, a transport to it and one queue, brought up the way a driver
/// task would.
pub struct Rig<const N: usize> {
    pub dev: Rc<RefCell<Device>>,
    pub transport: MmioTransport<Regs>,
    pub queue: SplitQueue<'static, Token, N>,
    pub features: Features,
}

/// How to build a rig.
#[derive(Clone, Debug)]
pub struct Setup {
    pub version: u32,
    pub event_idx: bool,
    pub indirect: bool,
    pub queue_max: u32,
    pub blk: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            version: 2,
            event_idx: false,
            indirect: false,
            queue_max: 256,
            blk: false,
        }
    }
}

/// Indirect tables per head in test rigs.
pub const INDIRECT_LEN: usize = 8;

pub const DISK_SECTORS: usize = 64;

impl Setup {
    /// A block device on transport `version`, otherwise the default.
    pub fn blk(version: u32) -> Self {
        Setup {
            version,
            blk: true,
            ..Setup::default()
        }
    }

    pub fn device(&self) -> Device {
        let mut offered = 1 << 28 | 1 << 29 | 1 << 5;
        if self.version == 2 {
            offered |= 1 << 32;
        }
        let kind = if self.blk {
            Kind::Blk {
                disk: (0..DISK_SECTORS * device::SECTOR)
                    .map(|i| (i * 7 + i / 512) as u8)
                    .collect(),
            }
        } else {
            Kind::Rng {
                state: 0x1234_5678_9abc_def1,
            }
        };
        Device::new(self.version, kind, offered, &[self.queue_max, 0])
    }

    pub fn understood(&self) -> Features {
        let mut f = Features::bit(5);
        if self.event_idx {
            f |= Features::VIRTIO_F_EVENT_IDX;
        }
        if self.indirect {
            f |= Features::VIRTIO_F_INDIRECT_DESC;
        }
        f
    }

    /// Full bring-up: negotiate, set up queue 0, DRIVER_OK.
    pub fn build<const N: usize>(&self) -> Rig<N> {
        let dev = self.device().shared();
        Rig::bring_up(dev, self.understood(), self.indirect)
    }
}

impl<const N: usize> Rig<N> {
    pub fn bring_up(dev: Rc<RefCell<Device>>, understood: Features, indirect: bool) -> Rig<N> {
        let mut transport = MmioTransport::new(Regs(dev.clone())).expect("identify");
        let features = transport.negotiate(understood).expect("negotiate");
        let mem: &'static mut QueueMemory<N> = arena::leak_zeroed();
        dev.borrow_mut().mem.register(
            std::ptr::from_ref(mem).addr() as u64,
            std::mem::size_of::<QueueMemory<N>>(),
        );
        let mut queue = transport
            .setup_queue::<Token, N>(0, mem, features)
            .expect("setup queue");
        if indirect {
            let tables: &'static mut IndirectTables<N, INDIRECT_LEN> = arena::leak_zeroed();
            dev.borrow_mut().mem.register(
                std::ptr::from_ref(tables).addr() as u64,
                std::mem::size_of::<IndirectTables<N, INDIRECT_LEN>>(),
            );
            queue = queue.with_indirect(tables);
        }
        transport.driver_ok().expect("driver ok");
        Rig {
            dev,
            transport,
            queue,
            features,
        }
    }

    /// Allocates a DMA buffer of `len` bytes in guest memory.
    pub fn buf(&self, len: u32) -> Buf {
        Buf::new(self.dev.borrow_mut().mem.alloc(len as usize), len)
    }

    /// `add_buf` on model-owned buffers.
    pub fn add(&mut self, out: &[Buf], in_: &[Buf], token: Token) -> Result<(), virtio::Error> {
        // SAFETY: every buffer was allocated by the model's guest memory
        // (`Rig::buf`), lives until the model is dropped, and the test only
        // reads it through the model after its token came back.
        unsafe { self.queue.add_buf(out, in_, token) }
    }

    /// Adds an rng-style request of `n` writable buffers of `len` bytes.
    pub fn add_rng(&mut self, n: usize, len: u32, token: Token) -> Result<Vec<Buf>, virtio::Error> {
        let bufs: Vec<Buf> = (0..n).map(|_| self.buf(len)).collect();
        self.add(&[], &bufs, token).map(|()| bufs)
    }

    pub fn kick(&mut self) -> bool {
        self.queue.kick(&mut self.transport)
    }

    pub fn fetch(&self) -> usize {
        self.dev.borrow_mut().fetch(0)
    }

    pub fn service(&self) -> usize {
        self.dev.borrow_mut().service(0)
    }

    pub fn complete(&self, i: usize) -> u16 {
        self.dev.borrow_mut().complete(0, i)
    }

    pub fn read(&self, buf: Buf) -> Vec<u8> {
        self.dev.borrow().mem.read(buf.addr(), buf.len() as usize)
    }

    pub fn write(&self, buf: Buf, data: &[u8]) {
        self.dev.borrow().mem.write(buf.addr(), data)
    }

    /// Drains get_buf until None, returning (token, len) in order.
    pub fn drain(&mut self) -> Vec<(Token, u32)> {
        let mut out = Vec::new();
        while let Some(done) = self.queue.get_buf().expect("get_buf") {
            out.push(done);
        }
        out
    }

    /// Resets the device and takes every buffer back.
    pub fn reset_and_shutdown(&mut self) -> Vec<Token> {
        self.transport.reset().expect("reset");
        let mut tokens: Vec<Token> = self.queue.shutdown().collect();
        tokens.sort_unstable();
        tokens
    }

    /// Brings the device up again after `reset_and_shutdown`, re-attaching
    /// the same queue.
    pub fn reattach(&mut self, understood: Features) {
        let features = self.transport.negotiate(understood).expect("negotiate");
        assert_eq!(features, self.features);
        self.transport
            .attach_queue(&self.queue.layout())
            .expect("attach");
        self.transport.driver_ok().expect("driver ok");
    }
}
