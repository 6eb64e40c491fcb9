//! DMA windows: what a driver may let its device touch.
//!
//! PMP confines what a driver's CPU can reach, not what its device can:
//! QEMU's `virt` has no IOMMU for virtio-mmio, so a device reads and writes
//! whatever addresses its descriptors name. Vireo confines device DMA
//! without one by making the kernel the only author of those addresses:
//!
//! - **Descriptor tables and available rings are the kernel's.** Each
//!   driver's queues live in its *ring region* (app.toml `queues`, one
//!   [`DMA_RING_STRIDE`] per queue), which the driver may read but not
//!   write (`REGION_DMA_RING`: a read-only PMP entry, and [`crate::umem`]
//!   never copies into it). The driver fills a chain through
//!   [`DmaOp::Post`]; the kernel checks every descriptor ([`check_desc`])
//!   and writes it. The used rings are in the same region: the device
//!   writes them, the driver reads them.
//! - **Queue addresses are the kernel's.** A granted virtio window
//!   (`REGION_VIRTIO`) reaches the driver with the queue registers left
//!   out (`arch::pmp`: QueueSel, QueueNum, GuestPageSize, QueueAlign,
//!   QueuePFN, QueueReady, QueueDesc/Driver/Device); [`DmaOp::Setup`]
//!   writes them, pointing only at the driver's ring region, and only on a
//!   queue the device has idle (reset since its last setup), so ring memory
//!   is never zeroed under a live device.
//! - **So are the features.** DriverFeatures and DriverFeaturesSel are in
//!   the same hole; [`DmaOp::Features`] writes the driver's features with
//!   only [`DMA_FEATURES_ALLOWED`]: what a device accepts decides how it
//!   reads its rings (a packed ring reads a split descriptor's `next`,
//!   checked only where it links, as its flags).
//! - **A buffer is at least one byte of the driver's own RAM**
//!   ([`buffer_allowed`]): a region it may read and write that is not its
//!   text, not a device window, not its ring region (a device write there
//!   would forge descriptors), and so never kernel memory or another
//!   task's. Indirect tables are refused (the kernel would have to check a
//!   table the driver can still write), and so are empty buffers: length 0
//!   names no memory, so no region check could refuse its address.
//!
//! Invariant: every descriptor in a ring region is zero (length 0 at
//! address 0, which the device never touches) or was checked here against
//! the regions of the task that owns the region. Any chain the device
//! follows, however the driver links it, reaches only such buffers.
//!
//! A buffer may also be a lease of a call the driver is serving now
//! ([`DMA_LEASE`], zero-copy: [`lease_buffer`]). Every descriptor of such a
//! chain is *pinned* to the lender (per descriptor, after the used ring,
//! with a count per queue) until the device gives the chain back ([`reap`])
//! or is reset ([`quiesce`]); meanwhile the driver cannot answer the lender
//! ([`pins`]) and the lender is neither told DEAD nor re-initialised (the
//! ordering argument is in the crate docs, "DMA confinement"). And
//! meanwhile those bytes are the chain's alone: a second chain giving the
//! device bytes of the lease it already has, for writing or to write, is
//! refused ([`on_device`]), so that a confused driver cannot make two
//! transfers race for a client's buffer.
//!
//! A pin is released when the device gives back the chain that holds it,
//! so the kernel must know that chain exactly: which descriptors the
//! device may still follow, and from how many heads. Every chain `post`
//! writes, of leases or of the driver's own buffers, therefore *holds*
//! its descriptors until the device gives it back or is reset (a pin for a
//! lease, [`OWN`] for the driver's own buffers), and `post` refuses a
//! chain that would rewrite a held descriptor or visit one twice. So each
//! held descriptor belongs to exactly one chain, made available once from
//! its head and linked as the kernel wrote it, and [`reap`] releases
//! exactly that chain. (Before, a chain of the driver's own buffers held
//! nothing: a driver could make a head available, rewrite the same
//! descriptors with a lease chain and make the head available again. The
//! device ran the lease chain twice, the first completion released every
//! pin, and the reply reached the client while the second transfer still
//! wrote its buffer.)
//!
//! Everything here is portable and host-tested; the machine supplies the
//! 32-bit MMIO accesses ([`Machine::mmio_read32`]).

use abi::{
    DmaOp, TaskId, UsageError, DMA_AVAIL_FLAGS, DMA_BAD_BUFFER, DMA_BAD_FLAGS, DMA_BAD_LEASE,
    DMA_BAD_QUEUE, DMA_FEATURES_ALLOWED, DMA_LEASE, DMA_MAX_CHAIN, DMA_MAX_QUEUE_SIZE,
    DMA_NO_DEVICE, DMA_PINNED, DMA_QUEUE_BUSY, DMA_RING_STRIDE, DMA_USED_EVENT, LEASE_READ,
    LEASE_WRITE,
};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::descs::{
    RegionDesc, REGION_DEVICE, REGION_DMA_RING, REGION_EXECUTE, REGION_READ, REGION_VIRTIO,
    REGION_WRITE,
};
use crate::err::UserError;
use crate::ipc;
use crate::leases;
use crate::machine::Machine;
use crate::system::System;
use crate::task::Task;
use crate::umem::{self, KernelRing, USlice};

/// `struct virtq_desc` (VIRTIO 1.2 §2.7.5), as the driver hands it over and
/// the kernel writes it: little-endian on RISC-V and on the test hosts.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct RawDesc {
    /// Buffer address.
    pub addr: u64,
    /// Buffer length in bytes.
    pub len: u32,
    /// `VIRTQ_DESC_F_*`.
    pub flags: u16,
    /// Next descriptor of the chain, with [`F_NEXT`].
    pub next: u16,
}

impl RawDesc {
    /// The descriptor as the four little-endian words it is in the table
    /// (the kernel writes it a word at a time: the device may read the
    /// table at any moment, and no field straddles a word).
    pub fn words(&self) -> [u32; 4] {
        [
            self.addr as u32,
            (self.addr >> 32) as u32,
            self.len,
            u32::from(self.flags) | u32::from(self.next) << 16,
        ]
    }
}

/// `VIRTQ_DESC_F_NEXT` (§2.7.5).
pub const F_NEXT: u16 = 1;
/// `VIRTQ_DESC_F_WRITE`: device-writable (§2.7.5).
pub const F_WRITE: u16 = 2;

/// Where the used ring starts in a queue's ring memory (the legacy layout's
/// QueueAlign, §2.7.2; descriptors and available ring fit below it for
/// queues of up to [`DMA_MAX_QUEUE_SIZE`]).
pub const USED_OFFSET: usize = 4096;
/// Where the kernel keeps a queue's size, at the end of its ring memory:
/// the driver reads it, only the kernel writes it, the device never does
/// (its used ring ends below).
const SIZE_OFFSET: usize = DMA_RING_STRIDE - 4;

/// Where a queue's pins are, after its used ring: per descriptor, the
/// index + 1 of the task whose lease it holds, [`OWN`] for a descriptor of
/// a chain of the driver's own buffers, 0 for one the device does not
/// hold. Only the kernel writes them; the driver may read them.
pub const PINS_OFFSET: usize = 6144;
/// The pin of a descriptor held by a chain of the driver's own buffers: no
/// task's index + 1 (indices are below `abi::TaskId::MAX_TASKS`).
pub const OWN: u16 = u16::MAX;
/// The used index up to which the kernel has released pins (16 bits).
const REAPED_OFFSET: usize = SIZE_OFFSET - 4;
/// How many of the queue's descriptors hold a lease's pin, not [`OWN`]
/// (written with the pins:
/// `post`, [`reap`], `release`, and `setup`'s zeroing): a reply, a fault or a restart asks whether
/// a lender is pinned, and for a queue holding none the answer is this
/// word, not a scan of every descriptor's pin.
pub const PINNED_OFFSET: usize = REAPED_OFFSET - 4;
/// The window (low 32 bits of its base) of the device `setup` gave the
/// queue to: only that device's idle queue releases its pins ([`release`]),
/// and another device's setup may not zero a queue still holding some.
pub const WINDOW_OFFSET: usize = PINNED_OFFSET - 4;

const _: () = assert!(16 * 128 + 6 + 2 * 128 <= USED_OFFSET);
const _: () = assert!(USED_OFFSET + 6 + 8 * 128 <= PINS_OFFSET);
const _: () = assert!(PINS_OFFSET + 2 * 128 <= PINNED_OFFSET);
// The pin count, the reaped index and the size are separate words inside
// the stride.
const _: () = assert!(PINNED_OFFSET + 4 <= REAPED_OFFSET && REAPED_OFFSET + 4 <= SIZE_OFFSET);
const _: () = assert!(PINS_OFFSET + 2 * 128 <= WINDOW_OFFSET && WINDOW_OFFSET + 4 <= PINNED_OFFSET);
const _: () = assert!(DMA_MAX_QUEUE_SIZE == 128);

/// virtio-mmio register offsets (§4.2.2, legacy §4.2.4).
mod reg {
    pub const VERSION: usize = 0x004;
    pub const DRIVER_FEATURES: usize = 0x020;
    pub const DRIVER_FEATURES_SEL: usize = 0x024;
    pub const GUEST_PAGE_SIZE: usize = 0x028;
    pub const QUEUE_SEL: usize = 0x030;
    pub const QUEUE_NUM_MAX: usize = 0x034;
    pub const QUEUE_NUM: usize = 0x038;
    pub const QUEUE_ALIGN: usize = 0x03c;
    pub const QUEUE_PFN: usize = 0x040;
    pub const QUEUE_READY: usize = 0x044;
    pub const QUEUE_DESC_LOW: usize = 0x080;
    pub const QUEUE_DESC_HIGH: usize = 0x084;
    pub const QUEUE_DRIVER_LOW: usize = 0x090;
    pub const QUEUE_DRIVER_HIGH: usize = 0x094;
    pub const QUEUE_DEVICE_LOW: usize = 0x0a0;
    pub const QUEUE_DEVICE_HIGH: usize = 0x0a4;
    pub const STATUS: usize = 0x070;
}

/// Whether the device may access `[addr, addr + len)` on behalf of a task
/// with `regions`: it must lie wholly inside one region the task may read
/// and write that is none of text, device window or ring region.
pub fn buffer_allowed(regions: &[RegionDesc], addr: u64, len: u32) -> bool {
    let own_ram = |a: u32| {
        a & REGION_READ != 0
            && a & REGION_WRITE != 0
            && a & REGION_EXECUTE == 0
            && a & REGION_DEVICE == 0
            && a & REGION_DMA_RING == 0
    };
    let (Ok(base), Ok(len)) = (usize::try_from(addr), usize::try_from(len)) else {
        return false;
    };
    regions
        .iter()
        .any(|r| own_ram(r.attributes) && r.contains(base, len))
}

/// Checks descriptor `d`, element `k` of a chain of `count`, for a queue of
/// `size` entries: only NEXT and WRITE flags (no INDIRECT), NEXT on every
/// element but the last and pointing inside the table, and a buffer of at
/// least one byte the device may access ([`buffer_allowed`]; a lease's is
/// checked by [`lease_buffer`]).
pub fn check_desc(
    regions: &[RegionDesc],
    d: &RawDesc,
    k: usize,
    count: usize,
    size: u16,
) -> Result<(), u32> {
    let last = k + 1 == count;
    if d.flags & !F_NEXT & !F_WRITE != 0 || (d.flags & F_NEXT == 0) != last {
        return Err(DMA_BAD_FLAGS);
    }
    if !last && d.next >= size {
        return Err(DMA_BAD_QUEUE);
    }
    // Length 0 names no memory, so no region check could refuse its
    // address: an empty lease of anywhere would hand the device that
    // address. No device needs an empty buffer (QEMU breaks a device given
    // one).
    if d.len == 0 || d.addr & DMA_LEASE == 0 && !buffer_allowed(regions, d.addr, d.len) {
        return Err(DMA_BAD_BUFFER);
    }
    Ok(())
}

/// Resolves a lease descriptor (`addr` tagged [`DMA_LEASE`]: lease index in
/// bits 32..40, offset in the low 32 bits) of a call `lender` is making to
/// `caller` right now: the lease must grant what the device does (a device
/// write needs a writable lease, a read a readable one), the range must lie
/// inside it, and it must still be the lender's memory. Returns the address
/// and the lender's index.
pub fn lease_buffer<M: Machine>(
    sys: &System<'_, M>,
    caller: usize,
    lender: TaskId,
    d: &RawDesc,
) -> Result<(u64, usize), u32> {
    let index = ((d.addr >> 32) & 0xff) as usize;
    let offset = (d.addr & 0xffff_ffff) as usize;
    let (l, lease) = leases::find_lease(sys, caller, lender, index).map_err(|_| DMA_BAD_LEASE)?;
    let needed = if d.flags & F_WRITE != 0 {
        LEASE_WRITE
    } else {
        LEASE_READ
    };
    if lease.attributes & needed == 0 || !ipc::lease_is_valid(&sys.tasks[l], &lease) {
        return Err(DMA_BAD_LEASE);
    }
    let part = USlice::<u8>::from_raw(lease.base as usize, lease.len as usize)
        .and_then(|whole| whole.subslice(offset, d.len as usize))
        .ok_or(DMA_BAD_LEASE)?;
    Ok((part.base() as u64, l))
}

/// The base of queue `queue`'s ring memory in a task's ring region.
pub fn ring_slot(regions: &[RegionDesc], queue: usize) -> Option<usize> {
    ring_region(regions)
        .and_then(|r| queue_ring(r, queue))
        .map(|ring| ring.base())
}

/// Queue `queue`'s ring memory in `region`, a task's ring region: one
/// [`DMA_RING_STRIDE`] per queue, whole strides only (`ring_in` checks
/// that the stride lies inside).
fn queue_ring(region: &RegionDesc, queue: usize) -> Option<KernelRing> {
    let base = queue
        .checked_mul(DMA_RING_STRIDE)
        .and_then(|offset| region.base.checked_add(offset))?;
    umem::ring_in(region, base)
}

/// The largest power of two not above any of the limits (0 if one is 0).
pub fn queue_size(device_max: u32, wanted: usize) -> u16 {
    let limit = (device_max as usize)
        .min(wanted)
        .min(usize::from(DMA_MAX_QUEUE_SIZE));
    if limit == 0 {
        0
    } else {
        1 << (usize::BITS - 1 - limit.leading_zeros())
    }
}

/// `sys_dma`: dispatches on [`DmaOp`].
pub fn syscall<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let op = DmaOp::from_u32(s.arg(0) as u32).ok_or(UsageError::BadSyscallNumber)?;
    if op == DmaOp::Features {
        return features(sys, caller);
    }
    let queue = s.arg(1);
    let (region, window) = ring_region_and_window(sys.tasks[caller].regions());
    let (ring, queues) = region
        .and_then(|r| Some((queue_ring(r, queue)?, r.size / DMA_RING_STRIDE)))
        .ok_or(UserError::Recoverable(DMA_BAD_QUEUE))?;
    match op {
        DmaOp::Setup => setup(sys, caller, ring),
        DmaOp::Post => post(sys, caller, ring, window, queues > 1),
        DmaOp::Avail => {
            let s = sys.tasks[caller].save();
            avail(ring, s.arg(2) as u32, s.arg(3) as u16).map_err(UserError::Recoverable)?;
            sys.tasks[caller]
                .save_mut()
                .set_ret(0, abi::SUCCESS as usize);
            Ok(())
        }
        // (Handled above: it names no queue.)
        DmaOp::Features => Err(UserError::Recoverable(DMA_BAD_QUEUE)),
    }
}

/// [`DmaOp::Features`]: the driver's features of bank `a1`, as far as
/// [`DMA_FEATURES_ALLOWED`] lets them through, written to its device. The
/// feature registers are out of the driver's window (`arch::pmp`): what a
/// device accepts decides the layout of the rings it reads, and the
/// kernel's checks cover split rings only.
fn features<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (bank, value) = (s.arg(1), s.arg(2) as u32);
    let allowed = match bank {
        0 => DMA_FEATURES_ALLOWED as u32,
        1 => (DMA_FEATURES_ALLOWED >> 32) as u32,
        _ => return Err(UserError::Recoverable(DMA_BAD_QUEUE)),
    };
    let window = windows(&sys.tasks[caller])
        .next()
        .ok_or(UserError::Recoverable(DMA_NO_DEVICE))?;
    let written = value & allowed;
    write_reg(
        &mut sys.machine,
        window,
        reg::DRIVER_FEATURES_SEL,
        bank as u32,
    );
    write_reg(&mut sys.machine, window, reg::DRIVER_FEATURES, written);
    let s = sys.tasks[caller].save_mut();
    s.set_ret(0, abi::SUCCESS as usize);
    s.set_ret(1, written as usize);
    Ok(())
}

/// [`DmaOp::Setup`].
fn setup<M: Machine>(
    sys: &mut System<'_, M>,
    caller: usize,
    mut ring: KernelRing,
) -> Result<(), UserError> {
    let slot = ring.base();
    let s = sys.tasks[caller].save();
    let (queue, wanted) = (s.arg(1) as u32, s.arg(2));
    let window = windows(&sys.tasks[caller])
        .next()
        .ok_or(UserError::Recoverable(DMA_NO_DEVICE))?;
    let m = &mut sys.machine;
    // A queue the device still uses keeps its memory: only after a reset
    // (which clears QueuePFN / QueueReady) may the kernel zero it.
    let (legacy, live) = select_queue(m, window, queue);
    let size = queue_size(read_reg(m, window, reg::QUEUE_NUM_MAX), wanted);
    // Leases pinned for another device (one that did not reset when it
    // was taken away) stay pinned: this device knows nothing of them.
    let pinned_elsewhere = pinned(&ring) != 0 && ring.read_u32(WINDOW_OFFSET) != window as u32;
    if live || size == 0 || pinned_elsewhere {
        return Err(UserError::Recoverable(DMA_QUEUE_BUSY));
    }
    // The device has this queue idle: its memory is the kernel's again.
    zero(&mut ring);
    ring.write_u32(SIZE_OFFSET, u32::from(size));
    ring.write_u32(WINDOW_OFFSET, window as u32);
    let n = u32::from(size);
    let base = slot as u32;
    let writes: &[(usize, u32)] = if legacy {
        &[
            (reg::GUEST_PAGE_SIZE, USED_OFFSET as u32),
            (reg::QUEUE_NUM, n),
            (reg::QUEUE_ALIGN, USED_OFFSET as u32),
            (reg::QUEUE_PFN, base / USED_OFFSET as u32),
        ]
    } else {
        &[
            (reg::QUEUE_NUM, n),
            (reg::QUEUE_DESC_LOW, base),
            (reg::QUEUE_DESC_HIGH, 0),
            (reg::QUEUE_DRIVER_LOW, base + 16 * n),
            (reg::QUEUE_DRIVER_HIGH, 0),
            (reg::QUEUE_DEVICE_LOW, base + USED_OFFSET as u32),
            (reg::QUEUE_DEVICE_HIGH, 0),
            (reg::QUEUE_READY, 1),
        ]
    };
    for &(offset, value) in writes {
        write_reg(m, window, offset, value);
    }
    let s = sys.tasks[caller].save_mut();
    s.set_ret(0, abi::SUCCESS as usize);
    s.set_ret(1, slot);
    s.set_ret(2, usize::from(size));
    Ok(())
}

/// Zeroes a queue's ring memory.
fn zero(ring: &mut KernelRing) {
    for i in (0..DMA_RING_STRIDE).step_by(4) {
        ring.write_u32(i, 0);
    }
}

/// At boot, every queue of every ring region zero: no queue set up, no
/// pin held. The machine's reset stopped every device, and a reboot keeps
/// RAM: pins of the last boot would refuse a setup ([`setup`]).
pub fn clear_rings<'t>(tasks: impl Iterator<Item = &'t Task>) {
    for r in tasks.filter_map(|t| ring_region(t.regions())) {
        for q in 0..r.size / DMA_RING_STRIDE {
            if let Some(mut ring) = queue_ring(r, q) {
                zero(&mut ring);
            }
        }
    }
}

/// The size [`setup`] gave the queue at `slot`, 0 if none. Out of line:
/// every DMA operation asks, and a copy at each costs more than the call.
#[inline(never)]
fn size_of_queue(ring: &KernelRing) -> u16 {
    // Only the kernel writes this word.
    let n = ring.read_u32(SIZE_OFFSET);
    // Only `setup` writes it, with a size <= DMA_MAX_QUEUE_SIZE; anything
    // else would be a kernel bug, refused rather than trusted.
    if n.is_power_of_two() && n <= u32::from(DMA_MAX_QUEUE_SIZE) {
        n as u16
    } else {
        0
    }
}

/// [`DmaOp::Post`]; `others`: the driver has other queues than this one.
fn post<M: Machine>(
    sys: &mut System<'_, M>,
    caller: usize,
    mut ring: KernelRing,
    window: bool,
    others: bool,
) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (ptr, count, head) = (s.arg(2), s.arg(3), s.arg(4));
    let size = size_of_queue(&ring);
    if size == 0 || count == 0 || count > usize::from(size) || head >= usize::from(size) {
        return Err(UserError::Recoverable(DMA_BAD_QUEUE));
    }
    if count > DMA_MAX_CHAIN {
        return Err(UserError::Recoverable(DMA_BAD_QUEUE));
    }
    // No device, no post: a ring outlives the window that was granted
    // with it (an incarnation that never registered, or one whose slot was
    // revoked, keeps the ring its predecessor set up), and a lease posted
    // there would be pinned with no device ever to give it back or to be
    // reset — its lender blocked for good.
    if !window {
        return Err(UserError::Recoverable(DMA_NO_DEVICE));
    }
    let lender = TaskId::from_register(s.arg(5) as u32);
    let event = s.arg(6);
    // A table of descriptors, aligned for one (as the virtio library's
    // `[Descriptor]` is): each is read with a few word loads.
    let chain = USlice::<RawDesc>::from_raw(ptr, count).ok_or(UsageError::InvalidSlice)?;
    reap(&mut ring, size);
    // Check everything first: a refused chain writes nothing. Each element
    // is read once; what is checked is what is written.
    // (The descriptors' indices are not kept: the chain links them, from
    // `head`, and the second pass walks the same links.)
    let mut checked = [RawDesc::default(); DMA_MAX_CHAIN];
    let mut pin = None;
    let mut index = head;
    let table = umem::try_read(&sys.tasks[caller], &chain)?;
    // Only a queue holding pins has lease descriptors to look at, but any
    // of the driver's queues may hold them: a lease written through one
    // may not go to the device again through another (a red team's driver
    // with two queues did). A driver of one queue (blk) asks only it.
    let any_pinned = others || pinned(&ring) != 0;
    for (k, (entry, &d)) in checked.iter_mut().zip(table).enumerate() {
        let mut d = d;
        check_desc(sys.tasks[caller].regions(), &d, k, count, size)
            .map_err(UserError::Recoverable)?;
        // A descriptor the device holds (of any chain: see the module
        // comment) stays as it is until the device gave its chain back
        // (`reap`) or was reset.
        if pin_of(&ring, index) != 0 {
            return Err(UserError::Recoverable(DMA_PINNED));
        }
        if d.addr & DMA_LEASE != 0 {
            let (addr, l) =
                lease_buffer(sys, caller, lender, &d).map_err(UserError::Recoverable)?;
            d.addr = addr;
            if any_pinned && on_device(&sys.tasks[caller], l, &d) {
                return Err(UserError::Recoverable(DMA_PINNED));
            }
            pin = Some(l);
        }
        *entry = d;
        index = usize::from(d.next);
    }
    // A chain visits each descriptor once. Links back to one it holds
    // would have the second write replace the first: a held descriptor
    // left off the chain would never be given back (a lender blocked until
    // the device is reset, or the driver's own descriptor lost to it), and
    // pins counted once per visit would disagree with the pins. Visit `k`
    // is descriptor `head` for 0, else the one element `k - 1` links to.
    let visit = |k: usize| {
        checked
            .get(k.wrapping_sub(1))
            .map_or(head as u16, |d| d.next)
    };
    for later in 1..count {
        if (0..later).any(|earlier| visit(earlier) == visit(later)) {
            return Err(UserError::Recoverable(DMA_BAD_QUEUE));
        }
    }
    // The whole chain is held: none of it may change under the device.
    let held = pin.map_or(OWN, |l| l as u16 + 1);
    let mut index = head;
    for d in &checked[..count] {
        // index < size <= 128: the descriptor table at the start.
        ring.write_words(16 * index, &d.words());
        ring.write_u16(PINS_OFFSET + 2 * index, held);
        index = usize::from(d.next);
    }
    if pin.is_some() {
        // Each was unpinned (checked above); count <= DMA_MAX_CHAIN.
        ring.write_u32(PINNED_OFFSET, pinned(&ring) + count as u32);
    }
    let avail = 16 * usize::from(size);
    // avail.idx, avail.ring[..size] and used_event lie below USED_OFFSET
    // for size <= 128 (the asserts above); the kernel alone writes them.
    if event != 0 {
        // Published with the chain (the fence below orders it first).
        ring.write_u16(avail + 4 + 2 * usize::from(size), (event - 1) as u16);
    }
    let idx = ring.read_u16(avail + 2);
    let entry = avail + 4 + 2 * usize::from(idx & (size - 1));
    ring.write_u16(entry, head as u16);
    // §2.7.13.3.1: the ring entry before the index.
    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    ring.write_u16(avail + 2, idx.wrapping_add(1));
    sys.tasks[caller]
        .save_mut()
        .set_ret(0, abi::SUCCESS as usize);
    Ok(())
}

/// Whether bytes of `d` (a lease buffer of task `lender`, resolved) are on
/// the device already in a chain still pinned, in any queue of `driver`,
/// with either side a device write.
///
/// A lease's bytes go to the device once at a time. A driver has no
/// reason to give them twice (one request, one chain), and one that does
/// — confused about which call it serves, by a bug or a flipped bit — lets
/// two transfers race for the lender's buffer: the reply to the first
/// waits for the second (the pin), and then answers with whichever data
/// the device wrote last. Refused here, the second transfer never starts,
/// and the first call gets its own data. Only pinned descriptors are
/// looked at (a pin is the kernel's record that the descriptor holds that
/// lender's lease as the kernel wrote it), and only in a queue holding
/// pins.
#[inline(never)]
fn on_device(driver: &Task, lender: usize, d: &RawDesc) -> bool {
    let Some(region) = ring_region(driver.regions()) else {
        return false;
    };
    let pin = lender as u16 + 1;
    // A lease buffer is memory of this machine: `lease_buffer` made its
    // address from a `USlice`, as the kernel made every pinned one.
    let base = d.addr as usize;
    let end = base.saturating_add(d.len as usize);
    for (ring, _, size) in queues_in(region) {
        if pinned(&ring) == 0 {
            continue;
        }
        for i in 0..usize::from(size) {
            // The descriptor as the kernel wrote it (§2.7.5 layout: the
            // address's high word is 0).
            let at = 16 * i;
            let addr = ring.read_u32(at) as usize;
            let len = ring.read_u32(at + 8) as usize;
            if pin_of(&ring, i) == pin
                && (d.flags | ring.read_u16(at + 12)) & F_WRITE != 0
                && addr < end
                && base < addr.saturating_add(len)
            {
                return true;
            }
        }
    }
    false
}

/// The pin of descriptor `index`: the lender's index + 1, or 0.
fn pin_of(ring: &KernelRing, index: usize) -> u16 {
    ring.read_u16(PINS_OFFSET + 2 * index)
}

/// How many descriptors of the queue hold a pin.
fn pinned(ring: &KernelRing) -> u32 {
    ring.read_u32(PINNED_OFFSET)
}

/// Whether a descriptor of the queue holds pin `pin` (a lender's index +
/// 1), or any pin for `pin == 0`.
///
/// The count first, inline: after a reap it is nearly always 0 (the reply
/// fast path asks here at every reply a driver makes), and out of line
/// that answer paid for the scan's saved registers, some 20 instructions.
#[inline(always)]
fn holds(ring: &KernelRing, size: u16, pin: u16) -> bool {
    pinned(ring) != 0 && (pin == 0 || holds_pin(ring, size, pin))
}

/// [`holds`] of a queue with some pins, for lender pin `pin`: the scan.
#[inline(never)]
fn holds_pin(ring: &KernelRing, size: u16, pin: u16) -> bool {
    (0..usize::from(size)).any(|i| pin_of(ring, i) == pin)
}

/// Releases the descriptors (and the pins) of every chain the device has
/// given back since the last reap: it names the chain's head in the used
/// ring (§2.7.8), and the chain's descriptors are the ones the kernel
/// wrote, linked as it wrote them (held descriptors cannot be rewritten).
/// The device is trusted to report only chains it has finished with.
fn reap(ring: &mut KernelRing, size: u16) {
    let used = ring.read_u16(USED_OFFSET + 2);
    // At most `size` chains can be outstanding: entries further back are
    // stale (and a device claiming more would have the kernel loop long).
    let fresh = used.wrapping_sub(ring.read_u16(REAPED_OFFSET)).min(size);
    if fresh == 0 {
        return;
    }
    let n = usize::from(size);
    // The pins, and the descriptor table as 16-bit fields (a descriptor
    // is eight: flags the seventh, next the eighth); both inside the ring
    // for any size <= 128 (the asserts above).
    let (Some(pins), Some(fields)) = (ring.u16s(PINS_OFFSET, n), ring.u16s(0, 8 * n)) else {
        return;
    };
    let mut freed = 0;
    for k in 0..fresh {
        let slot = used.wrapping_sub(fresh).wrapping_add(k) & (size - 1);
        let id = ring.read_u32(USED_OFFSET + 4 + 8 * usize::from(slot));
        let mut index = id as usize;
        for _ in 0..size {
            // (`get` is 0 beyond the table: no pin there.)
            let pin = pins.get(index);
            if pin == 0 {
                break;
            }
            pins.set(index, 0);
            freed += u32::from(pin != OWN);
            if fields.get(8 * index + 6) & F_NEXT == 0 {
                break;
            }
            index = usize::from(fields.get(8 * index + 7));
        }
    }
    ring.write_u16(REAPED_OFFSET, used);
    ring.write_u32(PINNED_OFFSET, pinned(ring).wrapping_sub(freed));
}

/// Every set-up queue of `task`'s ring region: its memory, its index and
/// its size (none for a task without a ring region).
fn queues(task: &Task) -> impl Iterator<Item = (KernelRing, u32, u16)> + '_ {
    ring_region(task.regions()).into_iter().flat_map(queues_in)
}

/// Every set-up queue in ring region `region`, as [`queues`] gives them.
fn queues_in(region: &RegionDesc) -> impl Iterator<Item = (KernelRing, u32, u16)> + '_ {
    (0..region.size / DMA_RING_STRIDE).filter_map(move |q| {
        let ring = queue_ring(region, q)?;
        let size = size_of_queue(&ring);
        (size != 0).then_some((ring, q as u32, size))
    })
}

/// A task's ring region, if it has one. Out of line: every DMA call and
/// every walk over the queues starts here, and the rings are then made
/// inside it without looking at the regions again ([`queue_ring`]).
#[inline(never)]
fn ring_region(regions: &[RegionDesc]) -> Option<&RegionDesc> {
    regions.iter().find(|r| r.attributes & REGION_DMA_RING != 0)
}

/// [`ring_region`], and whether the task holds a granted virtio window, in
/// one walk over its regions (every DMA call asks both; a second walk for
/// the window cost a zero-copy read 63 instructions).
#[inline(never)]
fn ring_region_and_window(regions: &[RegionDesc]) -> (Option<&RegionDesc>, bool) {
    let mut ring = None;
    for (i, r) in regions.iter().enumerate() {
        if r.attributes & REGION_DMA_RING != 0 {
            ring = Some(r);
            // A window is granted after the image's regions, the ring
            // region among them: it can only come later.
            let rest = regions.get(i + 1..).unwrap_or(&[]);
            return (ring, rest.iter().any(|w| w.attributes & REGION_VIRTIO != 0));
        }
    }
    (
        ring,
        regions.iter().any(|w| w.attributes & REGION_VIRTIO != 0),
    )
}

/// Register `offset` of the virtio window at `window`. Out of line, like
/// [`write_reg`]: one copy of the address sum (and its overflow check)
/// serves every register access.
#[inline(never)]
fn read_reg<M: Machine>(m: &mut M, window: usize, offset: usize) -> u32 {
    m.mmio_read32(window + offset)
}

/// Writes register `offset` of the virtio window at `window`.
#[inline(never)]
fn write_reg<M: Machine>(m: &mut M, window: usize, offset: usize, value: u32) {
    m.mmio_write32(window + offset, value);
}

/// Selects queue `queue` of the device at `window`; whether the device is
/// legacy, and whether it still has the queue set up (only the kernel sets
/// QueuePFN / QueueReady; a reset clears them).
fn select_queue<M: Machine>(m: &mut M, window: usize, queue: u32) -> (bool, bool) {
    let legacy = read_reg(m, window, reg::VERSION) == 1;
    write_reg(m, window, reg::QUEUE_SEL, queue);
    let ready = if legacy {
        reg::QUEUE_PFN
    } else {
        reg::QUEUE_READY
    };
    (legacy, read_reg(m, window, ready) != 0)
}

/// The base of each virtio window granted to `task`.
fn windows(task: &Task) -> impl Iterator<Item = usize> + '_ {
    task.regions()
        .iter()
        .filter(|r| r.attributes & REGION_VIRTIO != 0)
        .map(|r| r.base)
}

/// Releases what driver `driver`'s device no longer holds: the chains it
/// gave back, and every pin of a queue the device has idle (reset since
/// the queue was set up). The device is asked (its registers read) only
/// about a queue still holding pin `pin` (a lender's index + 1; 0: any
/// pin) once the chains given back are released. Returns whether a queue
/// still holds `pin`.
fn release<M: Machine>(sys: &mut System<'_, M>, driver: usize, pin: u16) -> bool {
    let task = &sys.tasks[driver];
    // (A task driving no device — every general-path reply asks — holds
    // nothing: its regions are looked at once.)
    let Some(region) = ring_region(task.regions()) else {
        return false;
    };
    let window = windows(task).next();
    let mut held = false;
    for (mut ring, queue, size) in queues_in(region) {
        reap(&mut ring, size);
        // The chains given back are released: only a pin still held makes
        // the kernel ask the device. No device window any more: pins stay
        // (the bus resets before it revokes, and `revoke` quiesces first).
        // Only the device the queue was set up on can say it is idle.
        if holds(&ring, size, pin)
            && window.is_some_and(|w| {
                ring.read_u32(WINDOW_OFFSET) == w as u32
                    && !select_queue(&mut sys.machine, w, queue).1
            })
        {
            for i in 0..usize::from(size) {
                ring.write_u16(PINS_OFFSET + 2 * i, 0);
            }
            ring.write_u32(PINNED_OFFSET, 0);
        }
        held |= holds(&ring, size, pin);
    }
    held
}

/// Whether `driver` (a task with a ring region, or any task: then
/// `false`) still holds a pin of task `lender` once the chains its device
/// gave back are released — without asking the device (see [`pins`], which
/// does). The reply fast path's question: `false` is the usual answer and
/// final; `true` leaves the reply to the general path.
///
/// Inline as far as the ring region: for a server that drives no device
/// (the usual one) the lookup of that region is the whole cost.
#[inline(always)]
pub fn holds_pin_of(driver: &Task, lender: usize) -> bool {
    ring_region(driver.regions()).is_some_and(|region| region_holds_pin_of(region, lender))
}

/// [`holds_pin_of`] for a driver with ring region `region`.
#[inline(never)]
fn region_holds_pin_of(region: &RegionDesc, lender: usize) -> bool {
    let pin = lender as u16 + 1;
    queues_in(region).any(|(mut ring, _, size)| {
        reap(&mut ring, size);
        holds(&ring, size, pin)
    })
}

/// Whether driver `driver` holds a lease of task `lender` on its device
/// now (after releasing what the device gave back or dropped). The common
/// case — a reply just after the device completed the call — costs a look
/// at the used ring and the pin count, no device access.
pub fn pins<M: Machine>(sys: &mut System<'_, M>, driver: usize, lender: usize) -> bool {
    release(sys, driver, lender as u16 + 1)
}

/// The driver holding a lease of `lender` on its device, if any.
pub fn pinned_by<M: Machine>(sys: &mut System<'_, M>, lender: usize) -> Option<usize> {
    (0..sys.tasks.len()).find(|&d| pins(sys, d, lender))
}

/// Makes driver `driver`'s device quiet — resets every virtio device it
/// holds (§2.4: a reset stops all DMA; QEMU completes it before the status
/// reads 0) — and releases all its pins. Called before anyone whose lease
/// it holds may run again or be re-initialised, and before the driver's
/// own RAM is (its restart) or its window is revoked: the kernel, not the
/// supervisor, enforces that order. A device holding only chains of the
/// driver's own buffers is reset too: quiet only for leases, it went on
/// writing a restarted driver's re-initialised RAM unless the supervisor
/// had reset it first (a red team's reading).
pub fn quiesce<M: Machine>(sys: &mut System<'_, M>, driver: usize) {
    let task = &sys.tasks[driver];
    let holds_any = |ring: &KernelRing, size: u16| {
        pinned(ring) != 0 || (0..usize::from(size)).any(|i| pin_of(ring, i) != 0)
    };
    if !queues(task).any(|(ring, _, size)| holds_any(&ring, size)) {
        return;
    }
    for w in windows(task) {
        // Writing 0 resets it; a device that does not finish its reset
        // keeps its queues, so `release` keeps its pins: its lenders stay
        // blocked rather than see memory change under them.
        write_reg(&mut sys.machine, w, reg::STATUS, 0);
    }
    release(sys, driver, 0);
}

/// [`DmaOp::Avail`]: writes `value` to the available ring's field
/// `which`; `Err` is the response code of a refusal.
fn avail(mut ring: KernelRing, which: u32, value: u16) -> Result<(), u32> {
    let size = usize::from(size_of_queue(&ring));
    let offset = match which {
        DMA_AVAIL_FLAGS => 16 * size,
        DMA_USED_EVENT => 16 * size + 4 + 2 * size,
        _ => return Err(DMA_BAD_QUEUE),
    };
    if size == 0 {
        return Err(DMA_BAD_QUEUE);
    }
    // Both fields lie below USED_OFFSET for size <= 128.
    ring.write_u16(offset, value);
    // §2.7.7: the driver re-reads used.idx after this; order the write first.
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    Ok(())
}
