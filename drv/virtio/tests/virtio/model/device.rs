//! The device side of virtio-mmio (both register layouts) and of the split
//! virtqueue, written independently of the driver code from the VIRTIO 1.2
//! text, so that the driver is checked against the spec and not against a
//! copy of itself.
//!
//! The model is strict about the driver: anything the spec says a driver
//! MUST NOT do (clear a status bit, publish a wild address, a looping or
//! overlong chain, a writable buffer before a readable one, reusing a
//! descriptor the device still owns, …) panics with "driver violation".
//! Towards the driver it can be as hostile as a test asks.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use virtio::regs::RegisterAccess;

use super::memory::GuestMemory;

const NEXT: u16 = 1;
const WRITE: u16 = 2;
const INDIRECT: u16 = 4;
const F_INDIRECT_DESC: u64 = 1 << 28;
const F_EVENT_IDX: u64 = 1 << 29;
const F_VERSION_1: u64 = 1 << 32;

/// What the device does with a chain when it completes it.
pub enum Kind {
    /// virtio-blk-like (device id 2): readable part starts with a 16-byte
    /// header {type: u32, reserved: u32, sector: u64}; type 0 reads the
    /// disk into the writable buffers, type 1 writes the readable data
    /// after the header to the disk; the last writable byte is the status
    /// (0 OK, 1 IOERR, 2 UNSUPP). Config: capacity in sectors (u64) at 0.
    Blk { disk: Vec<u8> },
    /// virtio-rng-like (device id 4): fills every writable byte.
    Rng { state: u64 },
}

pub const SECTOR: usize = 512;
pub const BLK_T_IN: u32 = 0;
pub const BLK_T_OUT: u32 = 1;
pub const BLK_T_FLUSH: u32 = 4;
pub const BLK_T_GET_ID: u32 = 8;

/// A chain the device took from the available ring and has not used yet.
#[derive(Clone, Debug)]
pub struct Chain {
    pub head: u16,
    pub readable: Vec<(u64, u32)>,
    pub writable: Vec<(u64, u32)>,
    /// Ring descriptors the chain occupies.
    pub descs: Vec<u16>,
    pub indirect: bool,
}

impl Chain {
    pub fn writable_len(&self) -> u32 {
        self.writable.iter().map(|&(_, l)| l).sum()
    }
}

#[derive(Default)]
struct Queue {
    num_max: u32,
    num: u32,
    align: u32,
    pfn: u32,
    ready: bool,
    desc_lo: u32,
    desc_hi: u32,
    driver_lo: u32,
    driver_hi: u32,
    device_lo: u32,
    device_hi: u32,
    last_avail: u16,
    used_idx: u16,
    pending: Vec<Chain>,
    /// Ring descriptors the device currently owns.
    owned: BTreeSet<u16>,
}

/// Where a live queue's areas are.
#[derive(Copy, Clone, Debug)]
pub struct Rings {
    pub num: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
}

pub struct Device {
    pub mem: GuestMemory,
    pub version: u32,
    pub device_id: u32,
    pub offered: u64,
    pub driver_features: u64,
    dev_sel: u32,
    drv_sel: u32,
    status: u8,
    page_size: u32,
    queue_sel: u32,
    queues: Vec<Queue>,
    interrupt_status: u32,
    pub config: Vec<u8>,
    pub generation: u32,
    pub kind: Kind,

    // Knobs.
    /// Status reads that still return the old value after a reset.
    pub reset_delay: u32,
    reset_countdown: u32,
    /// Refuse FEATURES_OK whatever the driver accepts.
    pub reject_features: bool,
    /// Answer DRIVER_OK with DEVICE_NEEDS_RESET.
    pub needs_reset_on_driver_ok: bool,
    /// Hostile mode (fuzzing): forged used entries and index jumps make the
    /// driver free chains the model still holds, so descriptor reuse is not
    /// a driver violation any more.
    pub hostile: bool,
    /// Bump the config generation on this many upcoming config reads
    /// (`u32::MAX`: forever).
    pub config_churn: u32,
    /// Blk: the GET_ID answer (at most 20 bytes); `None`: GET_ID is
    /// unsupported (status 2), as are FLUSH requests.
    pub blk_serial: Option<Vec<u8>>,
    /// Blk: answer every request with VIRTIO_BLK_S_IOERR.
    pub blk_ioerr: bool,
    /// Blk: the logical block size, in bytes (QEMU's `logical_block_size`):
    /// a read or write that does not start and end on a multiple of it
    /// fails with VIRTIO_BLK_S_IOERR, as QEMU fails it.
    pub blk_logical: usize,
    /// Blk: write only the status byte (OK) and none of a read's data — a
    /// device lying about its work; report the used length the test gives.
    pub blk_status_only: bool,
    /// Complete what a queue holds as soon as the driver notifies it: a
    /// device done before the kick returns (QEMU with cached data often
    /// is).
    pub complete_on_notify: bool,

    // Records.
    pub status_writes: Vec<u8>,
    pub notifications: Vec<u16>,
    pub interrupts: u32,
}

impl Device {
    pub fn new(version: u32, kind: Kind, offered: u64, queue_max: &[u32]) -> Self {
        let device_id = match kind {
            Kind::Blk { .. } => 2,
            Kind::Rng { .. } => 4,
        };
        let config = match &kind {
            Kind::Blk { disk } => ((disk.len() / SECTOR) as u64).to_le_bytes().to_vec(),
            Kind::Rng { .. } => Vec::new(),
        };
        Device {
            mem: GuestMemory::default(),
            version,
            device_id,
            offered,
            driver_features: 0,
            dev_sel: 0,
            drv_sel: 0,
            status: 0,
            page_size: 0,
            queue_sel: 0,
            queues: queue_max
                .iter()
                .map(|&m| Queue {
                    num_max: m,
                    ..Queue::default()
                })
                .collect(),
            interrupt_status: 0,
            config,
            generation: 0,
            kind,
            reset_delay: 0,
            reset_countdown: 0,
            reject_features: false,
            needs_reset_on_driver_ok: false,
            hostile: false,
            config_churn: 0,
            blk_serial: None,
            blk_logical: SECTOR,
            blk_ioerr: false,
            blk_status_only: false,
            complete_on_notify: false,
            status_writes: Vec::new(),
            notifications: Vec::new(),
            interrupts: 0,
        }
    }

    pub fn shared(self) -> Rc<RefCell<Device>> {
        Rc::new(RefCell::new(self))
    }

    pub fn status(&self) -> u8 {
        self.status
    }

    fn negotiated(&self, f: u64) -> bool {
        self.driver_features & f != 0
    }

    fn reset(&mut self) {
        self.driver_features = 0;
        self.interrupt_status = 0;
        for q in &mut self.queues {
            *q = Queue {
                num_max: q.num_max,
                ..Queue::default()
            };
        }
        self.reset_countdown = self.reset_delay;
    }

    fn write_status(&mut self, v: u32) {
        let v = v as u8;
        self.status_writes.push(v);
        if v == 0 {
            self.reset();
            if self.reset_countdown == 0 {
                self.status = 0;
            }
            return;
        }
        assert_eq!(
            v & self.status,
            self.status,
            "driver violation: status {v:#x} clears bits of {:#x}",
            self.status
        );
        let new = v & !self.status;
        if new & 8 != 0 {
            assert!(
                self.version == 2,
                "driver violation: FEATURES_OK on a legacy device"
            );
            let acceptable = self.driver_features & !self.offered == 0
                && self.driver_features & F_VERSION_1 != 0
                && !self.reject_features;
            if !acceptable {
                self.status = v & !8;
                return;
            }
        }
        if new & 4 != 0 && self.needs_reset_on_driver_ok {
            self.status = v | 64;
            return;
        }
        self.status = v;
    }

    fn queue(&mut self) -> Option<&mut Queue> {
        self.queues.get_mut(self.queue_sel as usize)
    }

    /// The selected queue, for a driver's write of `v` to `register`: the
    /// queue must exist and, unless `v` is 0, have its size set already.
    fn sized_queue(&mut self, register: &str, v: u32) -> &mut Queue {
        let q = self
            .queue()
            .unwrap_or_else(|| panic!("driver violation: {register} for a missing queue"));
        assert!(
            v == 0 || q.num != 0,
            "driver violation: {register} before QueueNum"
        );
        q
    }

    /// The areas of queue `q`, if the driver made it live.
    pub fn rings(&self, q: usize) -> Option<Rings> {
        let queue = self.queues.get(q)?;
        let num = queue.num as u64;
        if self.version == 1 {
            if queue.pfn == 0 {
                return None;
            }
            let desc = queue.pfn as u64 * self.page_size as u64;
            let avail = desc + 16 * num;
            let used = (avail + 6 + 2 * num).next_multiple_of(queue.align as u64);
            Some(Rings {
                num: num as u16,
                desc,
                avail,
                used,
            })
        } else {
            if !queue.ready {
                return None;
            }
            let join = |lo: u32, hi: u32| lo as u64 | (hi as u64) << 32;
            Some(Rings {
                num: num as u16,
                desc: join(queue.desc_lo, queue.desc_hi),
                avail: join(queue.driver_lo, queue.driver_hi),
                used: join(queue.device_lo, queue.device_hi),
            })
        }
    }

    fn live(&self, q: usize) -> Rings {
        assert!(self.status & 4 != 0, "device used before DRIVER_OK");
        self.rings(q).expect("queue is not live")
    }

    // ---------------- the split ring, device side (§2.7) ----------------

    /// Takes every newly available chain into the pending list. Returns how
    /// many.
    pub fn fetch(&mut self, q: usize) -> usize {
        let r = self.live(q);
        let avail_idx = self.mem.read_u16(r.avail + 2);
        let flags = self.mem.read_u16(r.avail);
        if self.negotiated(F_EVENT_IDX) {
            assert_eq!(
                flags, 0,
                "driver violation: avail.flags {flags} with EVENT_IDX"
            );
        } else {
            assert!(flags <= 1, "driver violation: avail.flags {flags}");
        }
        let mut last = self.queues[q].last_avail;
        let mut new = avail_idx.wrapping_sub(last);
        if self.hostile && new > r.num {
            // Forged completions let the driver reuse descriptors the device
            // never fetched: those chains are gone, take the newest `num`.
            last = avail_idx.wrapping_sub(r.num);
            new = r.num;
        }
        assert!(
            new <= r.num,
            "driver violation: avail idx moved {new} past {last}, queue size {}",
            r.num
        );
        for k in 0..new {
            let slot = last.wrapping_add(k) % r.num;
            let head = self.mem.read_u16(r.avail + 4 + 2 * slot as u64);
            let chain = self.walk(r, head);
            let queue = &mut self.queues[q];
            for &d in &chain.descs {
                assert!(
                    queue.owned.insert(d) || self.hostile,
                    "driver violation: descriptor {d} made available while the device owns it"
                );
            }
            queue.pending.push(chain);
        }
        let queue = &mut self.queues[q];
        queue.last_avail = avail_idx;
        if self.negotiated(F_EVENT_IDX) {
            // Like QEMU: ask to be notified about the next buffer.
            self.mem.write_u16(r.used + 4 + 8 * r.num as u64, avail_idx);
        }
        new as usize
    }

    fn walk(&self, r: Rings, head: u16) -> Chain {
        assert!(
            head < r.num,
            "driver violation: avail head {head} >= size {}",
            r.num
        );
        let mut chain = Chain {
            head,
            readable: Vec::new(),
            writable: Vec::new(),
            descs: Vec::new(),
            indirect: false,
        };
        let mut total: u64 = 0;
        let mut i = head;
        loop {
            assert!(
                chain.descs.len() < r.num as usize,
                "driver violation: chain from {head} longer than the queue (loop?)"
            );
            chain.descs.push(i);
            let d = r.desc + 16 * i as u64;
            let (addr, len, flags, next) = self.mem.read_desc(d);
            assert_eq!(
                flags & !(NEXT | WRITE | INDIRECT),
                0,
                "driver violation: flags {flags}"
            );
            if flags & INDIRECT != 0 {
                assert!(
                    self.negotiated(F_INDIRECT_DESC),
                    "driver violation: INDIRECT without VIRTIO_F_INDIRECT_DESC"
                );
                assert_eq!(flags & NEXT, 0, "driver violation: INDIRECT with NEXT");
                assert!(
                    len > 0 && len % 16 == 0,
                    "driver violation: indirect table length {len}"
                );
                chain.indirect = true;
                self.walk_indirect(addr, len / 16, r.num, &mut chain, &mut total);
            } else {
                self.take_buffer(addr, len, flags, &mut chain, &mut total);
            }
            if flags & NEXT == 0 {
                break;
            }
            assert!(next < r.num, "driver violation: next {next} >= size");
            i = next;
        }
        chain
    }

    fn walk_indirect(&self, table: u64, count: u32, num: u16, chain: &mut Chain, total: &mut u64) {
        assert!(
            count <= num as u32,
            "driver violation: indirect chain of {count} longer than the queue"
        );
        let mut i = 0u32;
        let mut seen = 0u32;
        loop {
            seen += 1;
            assert!(seen <= count, "driver violation: indirect chain loops");
            let d = table + 16 * i as u64;
            let (addr, len, flags, next) = self.mem.read_desc(d);
            assert_eq!(
                flags & INDIRECT,
                0,
                "driver violation: nested indirect table"
            );
            self.take_buffer(addr, len, flags, chain, total);
            if flags & NEXT == 0 {
                break;
            }
            assert!(
                (next as u32) < count,
                "driver violation: indirect next {next} >= {count}"
            );
            i = next as u32;
        }
    }

    fn take_buffer(&self, addr: u64, len: u32, flags: u16, chain: &mut Chain, total: &mut u64) {
        assert!(
            self.mem.try_read(addr, len as usize).is_some(),
            "driver violation: buffer {addr:#x}+{len} is not guest memory"
        );
        *total += len as u64;
        assert!(
            *total <= 1 << 32,
            "driver violation: chain longer than 4 GiB"
        );
        if flags & WRITE != 0 {
            chain.writable.push((addr, len));
        } else {
            assert!(
                chain.writable.is_empty(),
                "driver violation: readable buffer after a writable one"
            );
            chain.readable.push((addr, len));
        }
    }

    /// Raises a configuration change interrupt (§2.5.2, §4.2.2
    /// InterruptStatus bit 1).
    pub fn config_change(&mut self) {
        self.interrupt_status |= 2;
        self.interrupts += 1;
    }

    /// The device hits an error it cannot recover from: sets
    /// DEVICE_NEEDS_RESET and, being live, says so with a configuration
    /// change notification (§2.1.2).
    pub fn need_reset(&mut self) {
        self.status |= 64;
        self.config_change();
    }

    /// Blk: the disk is resized to `sectors` (config space and generation
    /// change, then a configuration change notification).
    pub fn resize(&mut self, sectors: u64) {
        if let Kind::Blk { disk } = &mut self.kind {
            disk.resize(sectors as usize * SECTOR, 0);
        }
        self.config[..8].copy_from_slice(&sectors.to_le_bytes());
        self.generation = self.generation.wrapping_add(1);
        self.config_change();
    }

    /// Chains taken and not yet used.
    pub fn pending(&self, q: usize) -> &[Chain] {
        &self.queues[q].pending
    }

    /// Completes pending chain `i` (in pending order), performing the device
    /// behaviour. Returns its head.
    pub fn complete(&mut self, q: usize, i: usize) -> u16 {
        let chain = self.queues[q].pending.remove(i);
        let len = self.perform(&chain);
        self.release(q, &chain);
        self.push_used(q, chain.head as u32, len);
        chain.head
    }

    /// Completes pending chain `i` but reports `len` (possibly a lie).
    pub fn complete_with_len(&mut self, q: usize, i: usize, len: u32) -> u16 {
        let chain = self.queues[q].pending.remove(i);
        self.perform(&chain);
        self.release(q, &chain);
        self.push_used(q, chain.head as u32, len);
        chain.head
    }

    /// Completes every pending chain in order.
    pub fn complete_all(&mut self, q: usize) -> usize {
        let n = self.queues[q].pending.len();
        for _ in 0..n {
            self.complete(q, 0);
        }
        n
    }

    /// fetch + complete_all.
    pub fn service(&mut self, q: usize) -> usize {
        self.fetch(q);
        self.complete_all(q)
    }

    fn release(&mut self, q: usize, chain: &Chain) {
        for d in &chain.descs {
            self.queues[q].owned.remove(d);
        }
    }

    /// Writes a used element and publishes it, as a (possibly hostile)
    /// device would. Raises the interrupt if the driver asked for it.
    pub fn push_used(&mut self, q: usize, id: u32, len: u32) {
        let r = self.live(q);
        let queue = &mut self.queues[q];
        let slot = queue.used_idx % r.num;
        let e = r.used + 4 + 8 * slot as u64;
        self.mem.write_u32(e, id);
        self.mem.write_u32(e + 4, len);
        queue.used_idx = queue.used_idx.wrapping_add(1);
        let new = queue.used_idx;
        self.mem.write_u16(r.used + 2, new);
        self.maybe_interrupt(r, new);
    }

    /// A used element the test makes up. If `id` is the head of a pending
    /// chain, the device gives that chain up (without touching its buffers).
    pub fn forge_used(&mut self, q: usize, id: u32, len: u32) {
        if let Some(i) = self.queues[q]
            .pending
            .iter()
            .position(|c| c.head as u32 == id)
        {
            let chain = self.queues[q].pending.remove(i);
            self.release(q, &chain);
        }
        self.push_used(q, id, len);
    }

    /// Overwrites used.idx (an index jump, or going backwards).
    pub fn set_used_idx(&mut self, q: usize, idx: u16) {
        let r = self.live(q);
        self.queues[q].used_idx = idx;
        self.mem.write_u16(r.used + 2, idx);
    }

    /// Sets or clears VIRTQ_USED_F_NO_NOTIFY.
    pub fn set_no_notify(&mut self, q: usize, on: bool) {
        let r = self.live(q);
        self.mem.write_u16(r.used, on as u16);
    }

    /// Writes used.avail_event.
    pub fn set_avail_event(&mut self, q: usize, v: u16) {
        let r = self.live(q);
        self.mem.write_u16(r.used + 4 + 8 * r.num as u64, v);
    }

    /// The avail index the driver has published.
    pub fn avail_idx(&self, q: usize) -> u16 {
        let r = self.live(q);
        self.mem.read_u16(r.avail + 2)
    }

    /// The device gives up on the driver and asks for a reset
    /// (DEVICE_NEEDS_RESET, §2.1.2), as QEMU does on a broken ring.
    pub fn set_needs_reset(&mut self) {
        self.status |= 0x40;
    }

    fn maybe_interrupt(&mut self, r: Rings, new: u16) {
        let want = if self.negotiated(F_EVENT_IDX) {
            // §2.7.10: notify if the entry just placed sat at used_event,
            // i.e. used_event is in [old, new) for old = new - 1.
            let event = self.mem.read_u16(r.avail + 4 + 2 * r.num as u64);
            let old = new.wrapping_sub(1);
            new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
        } else {
            self.mem.read_u16(r.avail) & 1 == 0
        };
        if want {
            self.interrupt_status |= 1;
            self.interrupts += 1;
        }
    }

    /// Does what the device kind does with a chain; returns bytes written.
    fn perform(&mut self, chain: &Chain) -> u32 {
        match &mut self.kind {
            Kind::Rng { state } => {
                for &(addr, len) in &chain.writable {
                    let bytes: Vec<u8> = (0..len)
                        .map(|_| {
                            *state ^= *state << 13;
                            *state ^= *state >> 7;
                            *state ^= *state << 17;
                            *state as u8
                        })
                        .collect();
                    self.mem.write(addr, &bytes);
                }
                chain.writable_len()
            }
            Kind::Blk { disk } => {
                let out: Vec<u8> = chain
                    .readable
                    .iter()
                    .flat_map(|&(a, l)| self.mem.read(a, l as usize))
                    .collect();
                let writable = chain.writable_len() as usize;
                if out.len() < 16 || writable == 0 {
                    // Malformed request: nothing to write a status into.
                    return 0;
                }
                let kind = u32::from_le_bytes(out[0..4].try_into().unwrap());
                let offset = u64::from_le_bytes(out[8..16].try_into().unwrap()) as usize * SECTOR;
                // The data's length: a read's writable bytes before the
                // status byte, a write's readable bytes after the header.
                let moved = if kind == BLK_T_IN {
                    writable - 1
                } else {
                    out.len() - 16
                };
                let mut reply = Vec::new();
                let status = match kind {
                    _ if self.blk_ioerr => 1,
                    BLK_T_IN | BLK_T_OUT
                        if !offset.is_multiple_of(self.blk_logical)
                            || !moved.is_multiple_of(self.blk_logical) =>
                    {
                        1
                    }
                    BLK_T_FLUSH if self.blk_serial.is_some() => 0,
                    BLK_T_GET_ID if self.blk_serial.is_some() => {
                        let id = self.blk_serial.as_deref().unwrap_or_default();
                        reply.extend_from_slice(&id[..id.len().min(20)]);
                        0
                    }
                    BLK_T_IN => {
                        let n = writable - 1;
                        match disk.get(offset..offset + n) {
                            Some(data) => {
                                reply.extend_from_slice(data);
                                0
                            }
                            None => 1,
                        }
                    }
                    BLK_T_OUT => {
                        let data = &out[16..];
                        match disk.get_mut(offset..offset + data.len()) {
                            Some(dst) => {
                                dst.copy_from_slice(data);
                                0
                            }
                            None => 1,
                        }
                    }
                    _ => 2,
                };
                // Data into the writable buffers in order, status in the
                // last byte of the last one.
                let mut bytes = reply;
                bytes.resize(writable - 1, 0);
                bytes.push(status);
                let written = if status == 0 { bytes.len() } else { 1 };
                if self.blk_status_only {
                    if let Some(&(addr, len)) = chain.writable.last() {
                        self.mem.write(addr + u64::from(len) - 1, &[status]);
                    }
                    return 1;
                }
                let mut at = 0;
                for &(addr, len) in &chain.writable {
                    let len = len as usize;
                    self.mem.write(addr, &bytes[at..at + len]);
                    at += len;
                }
                written as u32
            }
        }
    }

    // ---------------- registers (§4.2.2, §4.2.4) ----------------

    fn read_reg(&mut self, offset: usize) -> u32 {
        match offset {
            0x000 => 0x7472_6976,
            0x004 => self.version,
            0x008 => self.device_id,
            0x00c => 0x554d_4551, // "QEMU"
            0x010 => match self.dev_sel {
                0 => self.offered as u32,
                1 if self.version == 2 => (self.offered >> 32) as u32,
                _ => 0,
            },
            0x034 => self.queue().map_or(0, |q| q.num_max),
            0x040 if self.version == 1 => self.queue().map_or(0, |q| q.pfn),
            0x044 if self.version == 2 => self.queue().map_or(0, |q| q.ready as u32),
            0x060 => self.interrupt_status,
            0x070 => {
                if self.reset_countdown > 0 {
                    self.reset_countdown -= 1;
                    if self.reset_countdown == 0 {
                        self.status = 0;
                    }
                    // Still resetting: the old status.
                    return self.status as u32 | 1;
                }
                self.status as u32
            }
            0x0fc if self.version == 2 => self.generation,
            _ => panic!(
                "driver violation: read of register {offset:#x} (version {})",
                self.version
            ),
        }
    }

    fn write_reg(&mut self, offset: usize, v: u32) {
        let legacy = self.version == 1;
        match offset {
            0x014 => self.dev_sel = v,
            0x020 => {
                assert!(
                    self.status & 8 == 0,
                    "driver violation: features written after FEATURES_OK"
                );
                match self.drv_sel {
                    0 => self.driver_features = self.driver_features & !0xffff_ffff | v as u64,
                    1 => {
                        self.driver_features = self.driver_features & 0xffff_ffff | (v as u64) << 32
                    }
                    _ => {}
                }
            }
            0x024 => self.drv_sel = v,
            0x028 if legacy => self.page_size = v,
            0x030 => self.queue_sel = v,
            0x038 => {
                let q = self
                    .queue()
                    .expect("driver violation: QueueNum for a missing queue");
                assert!(
                    v.is_power_of_two() && v <= q.num_max,
                    "driver violation: QueueNum {v} (max {})",
                    q.num_max
                );
                q.num = v;
            }
            0x03c if legacy => self.queue().expect("queue").align = v,
            0x040 if legacy => {
                assert!(
                    self.page_size.is_power_of_two(),
                    "driver violation: no GuestPageSize"
                );
                self.sized_queue("QueuePFN", v).pfn = v;
            }
            0x044 if !legacy => {
                self.sized_queue("QueueReady", v).ready = v != 0;
            }
            0x050 => {
                assert!(
                    self.status & 4 != 0,
                    "driver violation: notify before DRIVER_OK"
                );
                self.notifications.push(v as u16);
                if self.complete_on_notify {
                    self.service(v as usize);
                }
            }
            0x064 => self.interrupt_status &= !v,
            0x070 => self.write_status(v),
            0x080 if !legacy => self.queue().expect("queue").desc_lo = v,
            0x084 if !legacy => self.queue().expect("queue").desc_hi = v,
            0x090 if !legacy => self.queue().expect("queue").driver_lo = v,
            0x094 if !legacy => self.queue().expect("queue").driver_hi = v,
            0x0a0 if !legacy => self.queue().expect("queue").device_lo = v,
            0x0a4 if !legacy => self.queue().expect("queue").device_hi = v,
            _ => panic!(
                "driver violation: write of register {offset:#x} (version {})",
                self.version
            ),
        }
    }

    fn config_read(&mut self, offset: usize, width: usize) -> u64 {
        assert!(
            offset >= 0x100,
            "driver violation: narrow access to register {offset:#x}"
        );
        let at = offset - 0x100;
        let bytes = self
            .config
            .get(at..at + width)
            .unwrap_or_else(|| panic!("driver violation: config read past the end at {at}"));
        let mut v = [0u8; 8];
        v[..width].copy_from_slice(bytes);
        if self.config_churn > 0 {
            self.config_churn = self.config_churn.saturating_sub(1);
            self.generation = self.generation.wrapping_add(1);
            // A device whose config changes: on a legacy device, the value
            // itself changes.
            if self.version == 1 {
                if let Some(b) = self.config.first_mut() {
                    *b = b.wrapping_add(1);
                }
            }
        }
        u64::from_le_bytes(v)
    }
}

/// The driver's register access: the model's registers.
pub struct Regs(pub Rc<RefCell<Device>>);

impl RegisterAccess for Regs {
    fn read32(&self, offset: usize) -> u32 {
        let mut d = self.0.borrow_mut();
        if offset >= 0x100 {
            return d.config_read(offset, 4) as u32;
        }
        d.read_reg(offset)
    }

    fn write32(&mut self, offset: usize, value: u32) {
        let mut d = self.0.borrow_mut();
        if offset >= 0x100 {
            let at = offset - 0x100;
            d.config[at..at + 4].copy_from_slice(&value.to_le_bytes());
            return;
        }
        d.write_reg(offset, value);
    }

    fn read16(&self, offset: usize) -> u16 {
        self.0.borrow_mut().config_read(offset, 2) as u16
    }

    fn write16(&mut self, offset: usize, value: u16) {
        let at = offset - 0x100;
        self.0.borrow_mut().config[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }

    fn read8(&self, offset: usize) -> u8 {
        self.0.borrow_mut().config_read(offset, 1) as u8
    }

    fn write8(&mut self, offset: usize, value: u8) {
        self.0.borrow_mut().config[offset - 0x100] = value;
    }
}

impl Device {
    /// Changes queue `q`'s QueueNumMax, as a device may between a queue's
    /// set-up and its attach (after a reset, say).
    pub fn set_queue_max(&mut self, q: usize, num_max: u32) {
        self.queues[q].num_max = num_max;
    }

    /// Raises a configuration change interrupt (§2.5, §4.2.2
    /// InterruptStatus bit 1) with no used buffer.
    pub fn raise_config_change(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.interrupt_status |= 2;
        self.interrupts += 1;
    }
}
