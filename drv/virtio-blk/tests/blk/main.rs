//! Host tests of the virtio-blk driver: the real driver code (probe,
//! request slots, IRQ path, remove, the generated Block dispatch with
//! deferred replies) against the virtio device model of `drv/virtio` (both
//! transport versions) and the mock kernel of `idol-runtime`, with clients
//! as the mock's callers.

#[path = "../../../virtio/tests/virtio/model/mod.rs"]
mod model;

mod driver;
mod hostile;
mod props;
mod sync;

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::rc::Rc;

use abi::{Generation, TaskId, LEASE_READ, LEASE_WRITE};
use block_api::{BlockError, BlockInfo, BlockOp};
use idol_runtime::mock::{MockKernel, MockLease, Outcome};
use idol_runtime::{ErrorCode, HeldReply, Ipc};
use model::device::{Device, Kind, Regs, SECTOR};
use virtio_blk::{BlockDriver, Corrupt, DmaMemory, Event, Platform, BLOCK_BUFFER_SIZE, IRQ_BIT};
use virtio_bus_api::Probe;
use zerocopy::FromBytes;

/// Sectors of the test disk: room for 64 KiB at the start, the middle and
/// the end.
pub const DISK_SECTORS: usize = 512;

/// The driver's server id in the mock.
pub const DRIVER: TaskId = TaskId::new(5, Generation(0));

/// Client `i` (distinct callers may wait at once).
pub fn client(i: u16) -> TaskId {
    TaskId::new(10 + i, Generation(0))
}

/// How to build the device.
#[derive(Clone, Debug)]
pub struct Disk {
    pub version: u32,
    pub read_only: bool,
    pub flush: bool,
    pub serial: Option<&'static [u8]>,
    pub event_idx: bool,
    /// `blk_size` in config space, and the device's logical block size:
    /// requests not aligned to it fail, as on QEMU.
    pub block_size: u32,
    /// The disk's length and capacity in sectors (QEMU takes an image
    /// that is no whole number of blocks).
    pub sectors: usize,
}

impl Default for Disk {
    fn default() -> Self {
        Disk {
            version: 2,
            read_only: false,
            flush: true,
            serial: Some(b"vireo-disk-7"),
            event_idx: true,
            block_size: 512,
            sectors: DISK_SECTORS,
        }
    }
}

impl Disk {
    /// The default disk as a device of this virtio-mmio `version`.
    pub fn of_version(version: u32) -> Self {
        Disk {
            version,
            ..Disk::default()
        }
    }

    pub fn device(&self) -> Device {
        // RO (5), BLK_SIZE (6), FLUSH (9), EVENT_IDX (29), VERSION_1 (32).
        let mut offered: u64 = 1 << 6;
        if self.read_only {
            offered |= 1 << 5;
        }
        if self.flush {
            offered |= 1 << 9;
        }
        if self.event_idx {
            offered |= 1 << 29;
        }
        if self.version == 2 {
            offered |= 1 << 32;
        }
        let disk = (0..self.sectors * SECTOR)
            .map(|i| (i / SECTOR) as u8 ^ (i % 251) as u8)
            .collect();
        let mut dev = Device::new(self.version, Kind::Blk { disk }, offered, &[256]);
        // struct virtio_blk_config up to blk_size (§5.2.4).
        let mut config = vec![0u8; 24];
        config[..8].copy_from_slice(&(self.sectors as u64).to_le_bytes());
        config[20..24].copy_from_slice(&self.block_size.to_le_bytes());
        dev.blk_logical = self.block_size as usize;
        dev.config = config;
        dev.blk_serial = self.serial.map(<[u8]>::to_vec);
        dev
    }
}

/// The bus and the IRQ, as the driver sees them in a test.
pub struct FakeBus {
    pub dev: Rc<RefCell<Device>>,
    /// Whether `register` binds the device.
    pub available: bool,
    /// The clock the driver reads, in ticks (ms unless `ticks_per_ms`
    /// says otherwise).
    pub now: u64,
    /// Clock ticks per ms.
    pub ticks_per_ms: u64,
    /// The deadline the driver armed, if any.
    pub timer: Option<u64>,
    /// What the driver reported, in order.
    pub events: Vec<Event>,
    /// Times the driver called `register`.
    pub registers: u32,
    /// Times the driver was told its device was removed.
    pub removed: u32,
    /// Times the driver re-enabled its interrupt.
    pub irq_enables: u32,
    /// Times the driver gave its device up (`device_failed`).
    pub failed: u32,
    /// Why the driver found its own state corrupt, each time (the task
    /// panics at the first; the fake carries on).
    pub corrupt: Vec<Corrupt>,
    /// The kernel the driver's clients call through.
    pub kernel: &'static MockKernel,
    /// The callers still waiting for an answer when the driver gave its
    /// device up (the task then stops: they would see it die).
    pub waiting_when_failed: Option<Vec<TaskId>>,
}

impl Platform for FakeBus {
    type Regs = Regs;

    fn register(&mut self) -> Option<Probe> {
        self.registers += 1;
        self.available.then(|| Probe {
            slot: 7,
            device_id: 2,
            vendor_id: 0x554d_4551,
            version: self.dev.borrow().version,
        })
    }

    fn regs(&mut self, _probe: &Probe) -> Regs {
        Regs(self.dev.clone())
    }

    fn removed(&mut self) {
        self.removed += 1;
        self.available = false;
    }

    fn enable_irq(&mut self) {
        self.irq_enables += 1;
    }

    fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    fn now(&mut self) -> u64 {
        self.now
    }

    fn ticks_per_ms(&self) -> u64 {
        self.ticks_per_ms
    }

    fn set_timer(&mut self, deadline: Option<u64>) {
        self.timer = deadline;
    }

    fn corrupt(&mut self, why: Corrupt) {
        self.corrupt.push(why);
    }

    fn device_failed(&mut self) {
        self.failed += 1;
        self.waiting_when_failed = Some(self.kernel.waiting());
    }
}

/// The driver's `Ipc`, as in the task: replies held for the next receive.
pub type DriverIpc = &'static HeldReply<&'static MockKernel>;

/// A driver, its device and the mock kernel its clients call through.
pub struct Rig {
    pub kernel: &'static MockKernel,
    /// The driver's `Ipc` over `kernel`.
    pub ipc: DriverIpc,
    pub dev: Rc<RefCell<Device>>,
    /// Dropped by hand before `memory` is given back (see `Drop`).
    pub driver: ManuallyDrop<BlockDriver<'static, DriverIpc, FakeBus>>,
    /// The driver's DMA memory (the arena's: a quarter of a MiB), given
    /// back to the arena when the rig is dropped.
    memory: *mut DmaMemory,
    buffer: [u8; BLOCK_BUFFER_SIZE],
}

impl Drop for Rig {
    fn drop(&mut self) {
        // SAFETY: the driver is dropped here once, and not used after.
        unsafe { ManuallyDrop::drop(&mut self.driver) };
        // SAFETY: `memory` came from `leak_zeroed` in `build`, and the
        // driver, the one holder of that reference, is gone. The device
        // model registered it too; it goes with this rig and a test that
        // keeps a clone of `dev` past the rig does not run the device.
        unsafe {
            model::arena::give_back(self.memory.cast(), std::mem::size_of::<DmaMemory>());
        }
    }
}

impl Rig {
    /// The default disk on each transport version: legacy, then modern.
    pub fn of_both_versions() -> [Rig; 2] {
        [1, 2].map(|version| Rig::new(&Disk::of_version(version)))
    }

    pub fn new(disk: &Disk) -> Rig {
        Self::with_bus(disk, true)
    }

    /// `available`: whether the bus has a device for the first register.
    pub fn with_bus(disk: &Disk, available: bool) -> Rig {
        Self::build(disk, available, 1)
    }

    /// A driver whose platform clock runs at `ticks_per_ms`.
    pub fn with_ticks_per_ms(disk: &Disk, ticks_per_ms: u64) -> Rig {
        Self::build(disk, true, ticks_per_ms)
    }

    fn build(disk: &Disk, available: bool, ticks_per_ms: u64) -> Rig {
        let dev = disk.device().shared();
        let memory: &'static mut DmaMemory = model::arena::leak_zeroed();
        dev.borrow_mut().mem.register(
            std::ptr::from_ref(memory).addr() as u64,
            std::mem::size_of::<DmaMemory>(),
        );
        let kernel: &'static MockKernel = Box::leak(Box::new(MockKernel::new(DRIVER)));
        let ipc: DriverIpc = Box::leak(Box::new(HeldReply::new(kernel)));
        let bus = FakeBus {
            dev: dev.clone(),
            available,
            now: 0,
            ticks_per_ms,
            timer: None,
            events: Vec::new(),
            registers: 0,
            removed: 0,
            irq_enables: 0,
            failed: 0,
            corrupt: Vec::new(),
            kernel,
            waiting_when_failed: None,
        };
        let memory_ptr = std::ptr::from_mut(memory);
        let mut driver = BlockDriver::new(ipc, bus, memory);
        driver.start();
        Rig {
            kernel,
            ipc,
            dev,
            driver: ManuallyDrop::new(driver),
            memory: memory_ptr,
            buffer: [0; BLOCK_BUFFER_SIZE],
        }
    }

    /// Where the driver's DMA memory lies.
    pub fn dma_memory(&self) -> usize {
        self.memory.addr()
    }

    /// One turn of the driver's loop.
    pub fn turn(&mut self) {
        self.driver.serve_once(&mut self.buffer);
    }

    /// Queues a call and lets the driver receive it.
    pub fn call(
        &mut self,
        who: TaskId,
        op: BlockOp,
        message: &[u8],
        capacity: usize,
        leases: Vec<MockLease>,
    ) {
        self.kernel
            .queue_message(who, op as u32, message, capacity, leases);
        self.turn();
    }

    pub fn read(&mut self, who: TaskId, sector: u64, len: usize) {
        self.call(
            who,
            BlockOp::Read,
            &sector.to_le_bytes(),
            0,
            vec![MockLease {
                attributes: LEASE_WRITE,
                data: vec![0; len],
            }],
        );
    }

    pub fn write(&mut self, who: TaskId, sector: u64, data: Vec<u8>) {
        self.call(
            who,
            BlockOp::Write,
            &sector.to_le_bytes(),
            0,
            vec![MockLease {
                attributes: LEASE_READ,
                data,
            }],
        );
    }

    pub fn info(&mut self, who: TaskId) {
        self.call(
            who,
            BlockOp::Info,
            &[],
            std::mem::size_of::<BlockInfo>(),
            vec![],
        );
    }

    pub fn flush(&mut self, who: TaskId) {
        self.call(who, BlockOp::Flush, &[], 0, vec![]);
    }

    /// The device takes every available request and completes them in
    /// order, then the IRQ is delivered.
    pub fn device_completes_all(&mut self) {
        let n = self.dev.borrow_mut().service(0);
        if n > 0 {
            self.interrupt();
        }
    }

    /// Delivers the device interrupt notification.
    pub fn interrupt(&mut self) {
        self.kernel.post(IRQ_BIT);
        self.turn();
    }

    /// Delivers notification bits.
    pub fn notify(&mut self, bits: u32) {
        self.kernel.post(bits);
        self.turn();
    }

    /// The answer to `who`: `Ok(lease bytes of lease 0 (or reply))` or
    /// the error.
    ///
    /// A reply the driver holds for its next receive is sent first, as
    /// that receive would.
    pub fn answer(&self, who: TaskId) -> Option<Result<Vec<u8>, BlockError>> {
        self.ipc.flush();
        let d = self.kernel.take_answer(who)?;
        match d.outcome {
            Some(Outcome::Reply { code: 0, message }) => Some(Ok(if message.is_empty() {
                d.leases.first().map(|l| l.data.clone()).unwrap_or_default()
            } else {
                message
            })),
            Some(Outcome::Reply { code, .. }) => Some(Err(
                BlockError::from_code(code).unwrap_or_else(|| panic!("unknown code {code}"))
            )),
            Some(Outcome::Fault(r)) => panic!("client faulted: {}", r.describe()),
            None => None,
        }
    }

    /// The answer, which must be there.
    pub fn expect(&self, who: TaskId) -> Result<Vec<u8>, BlockError> {
        self.answer(who)
            .unwrap_or_else(|| panic!("{who:?} was not answered"))
    }

    /// Bytes of the model's disk.
    pub fn disk(&self, sector: usize, len: usize) -> Vec<u8> {
        match &self.dev.borrow().kind {
            Kind::Blk { disk } => disk[sector * SECTOR..sector * SECTOR + len].to_vec(),
            Kind::Rng { .. } => unreachable!(),
        }
    }

    /// A full synchronous write then read through IPC.
    pub fn round_trip(&mut self, sector: u64, data: &[u8]) -> Vec<u8> {
        let c = client(0);
        self.write(c, sector, data.to_vec());
        self.device_completes_all();
        assert_eq!(self.expect(c), Ok(data.to_vec()), "write answered");
        self.read(c, sector, data.len());
        self.device_completes_all();
        self.expect(c).expect("read")
    }
}

/// Parses an `info` reply.
pub fn block_info(bytes: &[u8]) -> BlockInfo {
    BlockInfo::read_from_bytes(bytes).expect("BlockInfo reply")
}

/// A pattern unique to `seed` and position.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed ^ (i >> 9) as u8)
        .collect()
}
