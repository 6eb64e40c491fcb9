//! The virtio-mmio transport (§4.2), both register layouts: version 2
//! (§4.2.2, §4.2.3) and the legacy version 1 (§4.2.4) that QEMU presents by
//! default.
//!
//! The two versions share most registers; they differ in how a queue is
//! placed in memory. Version 1 takes one page-aligned area whose page number
//! goes to QueuePFN, with the used ring at a QueueAlign boundary; version 2
//! takes three 64-bit addresses (QueueDesc, QueueDriver, QueueDevice) and an
//! explicit QueueReady. The split queue's memory ([`QueueMemory`]) is always
//! laid out the legacy way, so it suits both.
//!
//! [`QueueMemory`]: crate::queue::QueueMemory

use crate::error::{Error, ProbeError};
use crate::features::Features;
use crate::queue::QueueLayout;
use crate::regs::{RegisterAccess, MMIO_WINDOW_LEN};
use crate::transport::{DeviceStatus, InterruptStatus, Transport};

/// The value of MagicValue: "virt" in little-endian ASCII (§4.2.2).
pub const MAGIC_VALUE: u32 = 0x7472_6976;

/// The page size this library uses for legacy queues: written to
/// GuestPageSize and QueueAlign (§4.2.4), and the alignment of
/// [`QueueMemory`](crate::queue::QueueMemory).
pub const LEGACY_PAGE_SIZE: u32 = 4096;

/// The virtio-mmio registers, named exactly as in §4.2.2 (version 2) and
/// §4.2.4 (legacy), with their byte offsets.
///
/// Version 1 calls DeviceFeatures, DeviceFeaturesSel, DriverFeatures and
/// DriverFeaturesSel HostFeatures, HostFeaturesSel, GuestFeatures and
/// GuestFeaturesSel; the offsets are the same.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Register {
    /// 0x000 R: magic value, [`MAGIC_VALUE`].
    MagicValue = 0x000,
    /// 0x004 R: device version number: 1 legacy, 2 this specification.
    Version = 0x004,
    /// 0x008 R: virtio subsystem device id; 0 means no device.
    DeviceID = 0x008,
    /// 0x00c R: virtio subsystem vendor id.
    VendorID = 0x00c,
    /// 0x010 R: the 32 feature bits of the bank chosen by DeviceFeaturesSel.
    DeviceFeatures = 0x010,
    /// 0x014 W: device (host) features word selection.
    DeviceFeaturesSel = 0x014,
    /// 0x020 W: the 32 accepted feature bits of the bank chosen by
    /// DriverFeaturesSel.
    DriverFeatures = 0x020,
    /// 0x024 W: driver (guest) features word selection.
    DriverFeaturesSel = 0x024,
    /// 0x028 W, legacy only: guest page size in bytes, used to turn
    /// QueuePFN into an address.
    GuestPageSize = 0x028,
    /// 0x030 W: virtual queue index the queue registers below apply to.
    QueueSel = 0x030,
    /// 0x034 R: maximum virtual queue size, 0 if the queue is not available.
    QueueNumMax = 0x034,
    /// 0x038 W: virtual queue size the driver will use.
    QueueNum = 0x038,
    /// 0x03c W, legacy only: used ring alignment in bytes.
    QueueAlign = 0x03c,
    /// 0x040 RW, legacy only: guest physical page number of the queue
    /// area; 0 means the queue is not in use.
    QueuePFN = 0x040,
    /// 0x044 RW, version 2 only: virtual queue ready bit.
    QueueReady = 0x044,
    /// 0x050 W: queue notifier: the index of the queue with new buffers.
    QueueNotify = 0x050,
    /// 0x060 R: interrupt status ([`InterruptStatus`]).
    InterruptStatus = 0x060,
    /// 0x064 W: interrupt acknowledge.
    InterruptACK = 0x064,
    /// 0x070 RW: device status ([`DeviceStatus`]); writing 0 resets.
    Status = 0x070,
    /// 0x080 W, version 2: descriptor area address, low 32 bits.
    QueueDescLow = 0x080,
    /// 0x084 W, version 2: descriptor area address, high 32 bits.
    QueueDescHigh = 0x084,
    /// 0x090 W, version 2: driver area (available ring) address, low 32 bits.
    QueueDriverLow = 0x090,
    /// 0x094 W, version 2: driver area address, high 32 bits.
    QueueDriverHigh = 0x094,
    /// 0x0a0 W, version 2: device area (used ring) address, low 32 bits.
    QueueDeviceLow = 0x0a0,
    /// 0x0a4 W, version 2: device area address, high 32 bits.
    QueueDeviceHigh = 0x0a4,
    /// 0x0fc R, version 2: configuration atomicity value.
    ConfigGeneration = 0x0fc,
    /// 0x100+ RW: device-specific configuration space.
    Config = 0x100,
}

impl Register {
    /// The register's byte offset in the window.
    pub const fn offset(self) -> usize {
        self as usize
    }
}

/// Which virtio-mmio register layout a device presents (§4.2.2 Version).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MmioVersion {
    /// Version 1, the legacy interface (§4.2.4).
    Legacy,
    /// Version 2, VIRTIO 1.x (§4.2.2).
    Modern,
}

/// A virtio-mmio device (§4.2), reached through register access `R`:
/// [`Mmio`](crate::regs::Mmio) on target, a device model in host tests.
#[derive(Debug)]
pub struct MmioTransport<R> {
    regs: R,
    version: MmioVersion,
    device_id: u32,
    vendor_id: u32,
}

impl<R: RegisterAccess> MmioTransport<R> {
    /// The first step of a class driver's probe: [`new`](Self::new), and
    /// the device must be of type `device_id` (§5).
    pub fn of_type(regs: R, device_id: u32) -> Result<Self, ProbeError> {
        let transport = Self::new(regs)?;
        match transport.device_id() {
            id if id == device_id => Ok(transport),
            id => Err(ProbeError::WrongDevice { device_id: id }),
        }
    }

    /// Identifies the device behind `regs`: checks MagicValue, Version and
    /// that DeviceID is not 0 (§4.2.3.1.1). Touches nothing else.
    pub fn new(regs: R) -> Result<Self, Error> {
        let magic = regs.read32(Register::MagicValue.offset());
        if magic != MAGIC_VALUE {
            return Err(Error::BadMagic { magic });
        }
        let version = match regs.read32(Register::Version.offset()) {
            1 => MmioVersion::Legacy,
            2 => MmioVersion::Modern,
            version => return Err(Error::UnsupportedVersion { version }),
        };
        let device_id = regs.read32(Register::DeviceID.offset());
        if device_id == 0 {
            return Err(Error::NoDevice);
        }
        let vendor_id = regs.read32(Register::VendorID.offset());
        Ok(MmioTransport {
            regs,
            version,
            device_id,
            vendor_id,
        })
    }

    /// The register layout this device presents.
    pub fn version(&self) -> MmioVersion {
        self.version
    }

    /// The register access, for diagnostics.
    pub fn regs(&self) -> &R {
        &self.regs
    }

    /// Gives the register access back.
    pub fn into_regs(self) -> R {
        self.regs
    }

    fn read(&self, reg: Register) -> u32 {
        self.regs.read32(reg.offset())
    }

    fn write(&mut self, reg: Register, value: u32) {
        self.regs.write32(reg.offset(), value);
    }

    /// The window offset of a config field of `width` bytes at `offset`, if
    /// it is inside the window and naturally aligned (§4.2.2.2).
    fn config_offset(offset: usize, width: usize) -> Result<usize, Error> {
        let reg = Register::Config.offset();
        match offset.checked_add(reg) {
            Some(at) if at.is_multiple_of(width) && at + width <= MMIO_WINDOW_LEN => Ok(at),
            _ => Err(Error::ConfigOutOfRange { offset }),
        }
    }

    /// Version 1 queue placement (§4.2.4): one area starting at a page,
    /// QueueAlign-aligned used ring, page number to QueuePFN.
    fn attach_legacy(&mut self, layout: &QueueLayout) -> Result<(), Error> {
        let page = u64::from(LEGACY_PAGE_SIZE);
        let size = u64::from(layout.size);
        // Where §2.7.2 puts the avail and used rings for this size.
        let driver = layout.desc.checked_add(16 * size);
        let device = driver
            .and_then(|d| d.checked_add(6 + 2 * size))
            .and_then(|end| end.checked_next_multiple_of(page));
        let pfn = u32::try_from(layout.desc / page).map_err(|_| Error::LegacyLayout)?;
        if !layout.desc.is_multiple_of(page)
            || driver != Some(layout.driver)
            || device != Some(layout.device)
        {
            return Err(Error::LegacyLayout);
        }
        if self.read(Register::QueuePFN) != 0 {
            return Err(Error::QueueInUse {
                queue: layout.queue,
            });
        }
        self.write(Register::GuestPageSize, LEGACY_PAGE_SIZE);
        self.write(Register::QueueNum, u32::from(layout.size));
        self.write(Register::QueueAlign, LEGACY_PAGE_SIZE);
        self.write(Register::QueuePFN, pfn);
        Ok(())
    }

    /// Version 2 queue placement (§4.2.3.2): three addresses, then
    /// QueueReady.
    fn attach_modern(&mut self, layout: &QueueLayout) -> Result<(), Error> {
        if self.read(Register::QueueReady) != 0 {
            return Err(Error::QueueInUse {
                queue: layout.queue,
            });
        }
        self.write(Register::QueueNum, u32::from(layout.size));
        let split = |addr: u64| (addr as u32, (addr >> 32) as u32);
        let (lo, hi) = split(layout.desc);
        self.write(Register::QueueDescLow, lo);
        self.write(Register::QueueDescHigh, hi);
        let (lo, hi) = split(layout.driver);
        self.write(Register::QueueDriverLow, lo);
        self.write(Register::QueueDriverHigh, hi);
        let (lo, hi) = split(layout.device);
        self.write(Register::QueueDeviceLow, lo);
        self.write(Register::QueueDeviceHigh, hi);
        self.write(Register::QueueReady, 1);
        Ok(())
    }
}

impl<R: RegisterAccess> Transport for MmioTransport<R> {
    fn is_legacy(&self) -> bool {
        self.version == MmioVersion::Legacy
    }

    fn device_id(&self) -> u32 {
        self.device_id
    }

    fn vendor_id(&self) -> u32 {
        self.vendor_id
    }

    fn status(&self) -> DeviceStatus {
        // Only the low 8 bits are defined (§2.1); a device setting others is
        // ignored rather than echoed back by `add_status`.
        DeviceStatus(self.read(Register::Status) as u8)
    }

    fn write_status(&mut self, status: DeviceStatus) {
        self.write(Register::Status, u32::from(status.0));
    }

    fn device_features(&mut self) -> Features {
        self.write(Register::DeviceFeaturesSel, 0);
        let low = self.read(Register::DeviceFeatures);
        self.write(Register::DeviceFeaturesSel, 1);
        let high = self.read(Register::DeviceFeatures);
        Features::from_banks(low, high)
    }

    fn write_driver_features(&mut self, features: Features) {
        self.write(Register::DriverFeaturesSel, 0);
        self.write(Register::DriverFeatures, features.low());
        self.write(Register::DriverFeaturesSel, 1);
        self.write(Register::DriverFeatures, features.high());
    }

    fn queue_max_size(&mut self, queue: u16) -> u16 {
        self.write(Register::QueueSel, u32::from(queue));
        // A split queue has at most 32768 entries (§2.7); anything larger is
        // clamped rather than trusted.
        self.read(Register::QueueNumMax).min(32768) as u16
    }

    fn attach_queue(&mut self, layout: &QueueLayout) -> Result<(), Error> {
        let max = self.queue_max_size(layout.queue);
        if max == 0 {
            return Err(Error::QueueUnavailable {
                queue: layout.queue,
            });
        }
        if layout.size == 0 || layout.size > max {
            return Err(Error::LegacyLayout);
        }
        match self.version {
            MmioVersion::Legacy => self.attach_legacy(layout),
            MmioVersion::Modern => self.attach_modern(layout),
        }
    }

    fn notify(&mut self, queue: u16) {
        self.write(Register::QueueNotify, u32::from(queue));
    }

    fn interrupt_status(&self) -> InterruptStatus {
        InterruptStatus(self.read(Register::InterruptStatus))
    }

    fn ack_interrupt(&mut self, status: InterruptStatus) {
        self.write(Register::InterruptACK, status.0);
    }

    fn config_generation(&self) -> Option<u32> {
        match self.version {
            MmioVersion::Legacy => None,
            MmioVersion::Modern => Some(self.read(Register::ConfigGeneration)),
        }
    }

    fn read_config8(&self, offset: usize) -> Result<u8, Error> {
        Ok(self.regs.read8(Self::config_offset(offset, 1)?))
    }

    fn read_config16(&self, offset: usize) -> Result<u16, Error> {
        Ok(self.regs.read16(Self::config_offset(offset, 2)?))
    }

    fn read_config32(&self, offset: usize) -> Result<u32, Error> {
        Ok(self.regs.read32(Self::config_offset(offset, 4)?))
    }

    fn write_config8(&mut self, offset: usize, value: u8) -> Result<(), Error> {
        let at = Self::config_offset(offset, 1)?;
        self.regs.write8(at, value);
        Ok(())
    }

    fn write_config16(&mut self, offset: usize, value: u16) -> Result<(), Error> {
        let at = Self::config_offset(offset, 2)?;
        self.regs.write16(at, value);
        Ok(())
    }

    fn write_config32(&mut self, offset: usize, value: u32) -> Result<(), Error> {
        let at = Self::config_offset(offset, 4)?;
        self.regs.write32(at, value);
        Ok(())
    }
}
