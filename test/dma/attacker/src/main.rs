//! A compromised virtio-blk driver, for the DMA confinement test image
//! (`test/dma.toml`). It registers for the disk as a real driver would and
//! then, each time the suite asks (raw IPC: the operation is the attack
//! number, the message up to four `u32` arguments, the reply eight `u32`
//! outcome codes), tries to make its device read or write memory that is
//! not its own (issue 13):
//!
//! - through the kernel's gate (`sys_dma_post`): descriptors naming kernel
//!   text, kernel RAM, another task's RAM, a device window, its own text,
//!   its own descriptor table, memory a client lent read-only or lent to a
//!   call since replied to, an indirect table, a chain whose links lie;
//! - around it: stores into its descriptor table, and the whole attack of
//!   the issue done by hand (its own ring in its own RAM, the queue
//!   registers written directly, kernel text written to sector 0 and read
//!   back), which must fault at the first queue register;
//! - an answer to a caller whose lease its device still holds, which the
//!   kernel must refuse (op 16);
//! - a lease chain over descriptors the device still holds for a chain of
//!   its own buffers: the same head made available twice (op 19), or the
//!   tail of the first chain taken over (op 20);
//! - the feature registers: a store to DriverFeatures (op 21, must fault),
//!   every offered feature accepted through the kernel (op 22), and the
//!   red team's packed-ring escape (op 23, `test/dma-packed.toml`).
//!
//! Every gated attempt reports the kernel's code and the available index
//! before and after (a refused chain must not be made available). Op 1
//! brings the device up through the gate; op 12 is the control: a sector
//! written from and read back into its own RAM.
//!
//! It must never be part of a real image: it exists to be refused.

#![no_std]
#![no_main]

use abi::TaskId;
use idol_runtime::{RequestError, UserlibIpc};
use rogue_driver::reg::{
    DEVICE_FEATURES, DEVICE_FEATURES_SEL, DRIVER_FEATURES, GUEST_PAGE_SIZE, INTERRUPT_ACK,
    INTERRUPT_STATUS, QUEUE_ALIGN, QUEUE_DESC_LOW, QUEUE_NOTIFY, QUEUE_NUM, QUEUE_PFN, QUEUE_SEL,
    STATUS, VERSION,
};
use rogue_driver::{Desc, Device, BLOCK, INDIRECT, NEXT, T_IN, T_OUT, WRITE};
use userlib::{
    sys_dma_features, sys_dma_post, sys_dma_setup, sys_irq_control, sys_log, sys_recv,
    sys_recv_notification, sys_reply, sys_reply_recv, sys_set_timer, tasks,
};
use virtio_bus_api::{slot_base, VirtioBusClient};
use zerocopy::IntoBytes;

const IRQ_BIT: u32 = 1 << 0;
const REMOVE_BIT: u32 = 1 << 1;
const PROBE_BIT: u32 = 1 << 2;
const TIMER_BIT: u32 = 1 << 3;

/// Kernel text and RAM as descriptor addresses.
const KERNEL_TEXT: u64 = rogue_driver::KERNEL_TEXT as u64;
const KERNEL_RAM: u64 = rogue_driver::KERNEL_RAM as u64;
/// The PLIC: a device window that is nobody's RAM.
const PLIC: u64 = 0x0c00_0000;

/// A lease descriptor address: lease 0 of the call, offset 0
/// (`abi::DMA_LEASE`).
const LEASE: u64 = abi::DMA_LEASE;

/// `VIRTQ_DESC_F_AVAIL` of a packed ring (§2.8.1): with `INDIRECT`, the
/// flags a packed device would read in a split descriptor's `next`.
const PACKED_AVAIL: u16 = 1 << 7;

/// The code a step reports when it did not get that far.
pub const NOT_RUN: u32 = u32::MAX;

/// One 512-byte sector at `addr` that the device writes (a read request's
/// data).
const fn device_writes(addr: u64) -> Desc {
    Desc {
        addr,
        len: 512,
        flags: WRITE,
        next: 0,
    }
}

/// One 512-byte sector at `addr` that the device reads (a write request's
/// data).
const fn device_reads(addr: u64) -> Desc {
    Desc {
        addr,
        len: 512,
        flags: 0,
        next: 0,
    }
}

/// The driver's own DMA memory: request header, status, data, an indirect
/// table and, for the by-hand attack, a ring of its own.
#[repr(C, align(4096))]
struct Dma {
    ring: [u8; 8192],
    data: [u8; 512],
    readback: [u8; 512],
    header: [u8; 16],
    status: [u8; 4],
    _pad: [u8; 12],
    table: [Desc; 3],
}

static mut DMA: Dma = Dma {
    ring: [0; 8192],
    data: [0; 512],
    readback: [0; 512],
    header: [0; 16],
    status: [0; 4],
    _pad: [0; 12],
    table: [Desc {
        addr: 0,
        len: 0,
        flags: 0,
        next: 0,
    }; 3],
};

/// The DMA memory. The task is single-threaded and uses the reference
/// only between device operations (nothing of ours is in flight between
/// ops, and `wait_used` returns once the device gave a chain back).
fn dma() -> &'static mut Dma {
    // SAFETY: see above; every use ends before the next `dma()`.
    unsafe { &mut *core::ptr::addr_of_mut!(DMA) }
}

fn addr_of<T>(p: *const T) -> u64 {
    p as usize as u64
}

struct Rogue {
    /// The disk's window and, after op 1, the kernel-placed ring.
    dev: Device,
    /// The address of the lease of the last client call (op 8), kept after
    /// the reply as a stale lease.
    stale: u64,
    /// Who made that call.
    stale_lender: TaskId,
}

impl Rogue {
    /// Posts `chain` through the gate at head 0: the kernel's code and the
    /// available index before and after.
    fn post(&self, chain: &[Desc]) -> [u32; 3] {
        self.post_as(chain, None)
    }

    /// As [`post`](Self::post), naming `lender` for lease descriptors.
    fn post_as(&self, chain: &[Desc], lender: Option<TaskId>) -> [u32; 3] {
        self.post_at(chain, 0, lender)
    }

    /// As [`post_as`](Self::post_as), the chain's head at `head`.
    fn post_at(&self, chain: &[Desc], head: u16, lender: Option<TaskId>) -> [u32; 3] {
        let before = self.dev.avail_idx().map_or(NOT_RUN, u32::from);
        let code = match sys_dma_post(0, chain.as_bytes(), head, lender, None) {
            Ok(()) => 0,
            Err(c) => c,
        };
        [
            code,
            before,
            self.dev.avail_idx().map_or(NOT_RUN, u32::from),
        ]
    }

    /// A blk request chain: header (device-readable), then `data`, then
    /// the status byte (device-writable), linked 0 → 1 → 2.
    fn request(&self, kind: u32, sector: u64, data: Desc) -> [Desc; 3] {
        let d = dma();
        d.header[..4].copy_from_slice(&kind.to_le_bytes());
        d.header[8..].copy_from_slice(&sector.to_le_bytes());
        {
            [
                Desc {
                    addr: addr_of(d.header.as_ptr()),
                    len: 16,
                    flags: NEXT,
                    next: 1,
                },
                Desc {
                    flags: data.flags | NEXT,
                    next: 2,
                    ..data
                },
                Desc {
                    addr: addr_of(d.status.as_ptr()),
                    len: 1,
                    flags: WRITE,
                    next: 0,
                },
            ]
        }
    }

    /// Posts a read of sector 1 into `caller`'s lease (not yet told to the
    /// device): the used index before, the chain, and the post's [code,
    /// avail before, after] — the first step of every lease attack.
    fn read_into_lease(&self, caller: TaskId) -> (u16, [Desc; 3], [u32; 3]) {
        let used = self.dev.used_idx();
        let c = self.request(T_IN, 1, device_writes(LEASE));
        let posted = self.post_as(&c, Some(caller));
        (used, c, posted)
    }

    /// Op 22: reset, and every offered feature accepted through the
    /// kernel; then FEATURES_OK (modern), the queue set up by the kernel,
    /// DRIVER_OK.
    fn accept_everything(&mut self) -> [u32; 8] {
        let mut out = [NOT_RUN; 8];
        self.dev.reset_and_ack();
        self.dev.reg_write(DEVICE_FEATURES_SEL, 0);
        let low = self.dev.reg_read(DEVICE_FEATURES);
        self.dev.reg_write(DEVICE_FEATURES_SEL, 1);
        let high = self.dev.reg_read(DEVICE_FEATURES);
        out[0] = high;
        out[1] = sys_dma_features(0, low).unwrap_or_else(|c| c);
        out[2] = sys_dma_features(1, high).unwrap_or_else(|c| c);
        let modern = self.dev.reg_read(VERSION) == 2;
        let ready = if modern { 1 | 2 | 8 } else { 1 | 2 };
        if modern {
            self.dev.reg_write(STATUS, ready);
            out[3] = self.dev.reg_read(STATUS);
        }
        match sys_dma_setup(0, 16) {
            Ok((ring, size)) => {
                self.dev.ring = Some((ring, size));
                self.dev.reg_write(STATUS, ready | 4);
                out[4] = 0;
                out[5] = ring as u32;
            }
            Err(c) => out[4] = c,
        }
        out
    }

    /// Op 23 (see `attack`).
    fn packed_escape(&mut self, canary: u64) -> [u32; 8] {
        let mut out = [NOT_RUN; 8];
        let d = dma();
        for (i, b) in d.data.iter_mut().enumerate() {
            *b = b"VIREO-OK"[i % 8];
        }
        let data = addr_of(d.data.as_ptr());
        let used = self.dev.used_idx();
        let c = self.request(T_OUT, 0, device_reads(data));
        out[0] = self.post(&c)[0];
        self.dev.reg_write(QUEUE_NOTIFY, 0);
        out[1] = u32::from(self.wait_used(used));
        for (k, (kind, sector, buffer, write)) in
            [(T_OUT, 0u64, KERNEL_TEXT, false), (T_IN, 2, canary, true)]
                .into_iter()
                .enumerate()
        {
            let d = dma();
            d.header[..4].copy_from_slice(&kind.to_le_bytes());
            d.header[8..].copy_from_slice(&sector.to_le_bytes());
            d.status = [0xff; 4];
            // `struct pvirtq_desc` (§2.8.13) has our `Desc`'s shape with
            // `flags` (here the id, 0) and `next` (here the flags) swapped.
            let packed = |addr, len, flags| Desc {
                addr,
                len,
                flags: 0,
                next: flags,
            };
            d.table = [
                packed(addr_of(d.header.as_ptr()), 16, 0),
                packed(buffer, 512, if write { WRITE } else { 0 }),
                packed(addr_of(d.status.as_ptr()), 1, WRITE),
            ];
            let escape = [Desc {
                addr: addr_of(d.table.as_ptr()),
                len: 48,
                flags: 0,
                next: PACKED_AVAIL | INDIRECT,
            }];
            let used = self.dev.used_idx();
            out[2 + k] = self.post_at(&escape, 3 + k as u16, None)[0];
            self.dev.reg_write(QUEUE_NOTIFY, 0);
            self.wait_used(used);
        }
        // A device that took the escape as a split chain found a request
        // without its status buffer and stopped (QEMU: "missing headers"):
        // up again from a reset, and sector 0 read back.
        self.dev.reg_write(STATUS, 0);
        if self.accept_everything()[4] != 0 {
            return out;
        }
        let d = dma();
        d.readback = [0; 512];
        let back = addr_of(d.readback.as_ptr());
        let used = self.dev.used_idx();
        let c = self.request(T_IN, 0, device_writes(back));
        out[4] = self.post(&c)[0];
        self.dev.reg_write(QUEUE_NOTIFY, 0);
        out[5] = u32::from(self.wait_used(used));
        let d = dma();
        out[6] = u32::from(d.readback == d.data);
        out
    }

    /// Waits (at most 500 ms) for the device to use a chain.
    fn wait_used(&self, before: u16) -> bool {
        let deadline = userlib::sys_get_timer().now + 500 * abi::TICKS_PER_MS;
        sys_set_timer(Some(deadline), TIMER_BIT);
        loop {
            if self.dev.used_idx() != before {
                self.dev
                    .reg_write(INTERRUPT_ACK, self.dev.reg_read(INTERRUPT_STATUS));
                sys_irq_control(IRQ_BIT, true);
                return true;
            }
            let bits = sys_recv_notification(IRQ_BIT | TIMER_BIT);
            if bits & IRQ_BIT != 0 {
                self.dev
                    .reg_write(INTERRUPT_ACK, self.dev.reg_read(INTERRUPT_STATUS));
                sys_irq_control(IRQ_BIT, true);
            }
            if bits & TIMER_BIT != 0 && self.dev.used_idx() == before {
                return false;
            }
        }
    }

    fn attack(&mut self, n: u16, args: [u32; 4], caller: TaskId) -> [u32; 8] {
        let mut out = [NOT_RUN; 8];
        let d = dma();
        let put = |out: &mut [u32; 8], at: usize, r: [u32; 3]| out[at..at + 3].copy_from_slice(&r);
        match n {
            // Bring the device up through the kernel: [code, size, ring].
            1 => {
                self.dev.reset_and_ack();
                match sys_dma_setup(0, 16) {
                    Ok((ring, size)) => {
                        self.dev.ring = Some((ring, size));
                        self.dev.reg_write(STATUS, 1 | 2 | 4);
                        out[..3].copy_from_slice(&[0, u32::from(size), ring as u32]);
                    }
                    Err(c) => out[0] = c,
                }
            }
            // Kernel text written to the disk (device reads it).
            2 => {
                let c = self.request(T_OUT, 0, device_reads(KERNEL_TEXT));
                put(&mut out, 0, self.post(&c));
            }
            // Kernel RAM: a whole sector into it, and the split
            // read (500 bytes of our own, then 12 into the kernel).
            3 => {
                let c = self.request(T_IN, 0, device_writes(KERNEL_RAM));
                put(&mut out, 0, self.post(&c));
                let own = addr_of(d.data.as_ptr());
                let c = self.request(
                    T_IN,
                    0,
                    Desc {
                        addr: own,
                        len: 500,
                        flags: WRITE,
                        next: 0,
                    },
                );
                let split = [
                    c[0],
                    Desc { next: 3, ..c[1] },
                    Desc {
                        addr: KERNEL_RAM + 0x100,
                        len: 12,
                        flags: WRITE | NEXT,
                        next: 2,
                    },
                    c[2],
                ];
                let chain = [split[0], split[1], split[2], split[3]];
                // Link 0 → 1 → 3 → 2 as the kernel follows `next`.
                put(&mut out, 3, self.post(&chain));
            }
            // Another task's RAM (the suite's buffer, args[0]).
            4 => {
                let c = self.request(T_IN, 0, device_writes(u64::from(args[0])));
                put(&mut out, 0, self.post(&c));
            }
            // Device windows: our own granted one and the PLIC.
            5 => {
                let c = self.request(T_IN, 0, device_writes(self.dev.window as u64));
                put(&mut out, 0, self.post(&c));
                let c = self.request(T_IN, 0, device_writes(PLIC));
                put(&mut out, 3, self.post(&c));
            }
            // Our own descriptor table (a device write there would forge
            // descriptors), and our own text.
            6 => {
                let ring = self.dev.ring.map(|r| r.0 as u64).unwrap_or(0);
                let c = self.request(T_IN, 0, device_writes(ring));
                put(&mut out, 0, self.post(&c));
                let text = main as *const () as usize as u64 & !0x1ff;
                let c = self.request(T_OUT, 0, device_reads(text));
                put(&mut out, 3, self.post(&c));
            }
            // A read-only lease (the caller's, args[0]) as a device write;
            // its address is kept, and the call replied to, for op 9.
            8 => {
                self.stale = u64::from(args[0]);
                self.stale_lender = caller;
                let c = self.request(T_IN, 0, device_writes(self.stale));
                put(&mut out, 0, self.post(&c));
                // As a lease (zero-copy), naming its lender.
                let c = self.request(T_IN, 0, device_writes(LEASE));
                put(&mut out, 3, self.post_as(&c, Some(caller)));
            }
            // The lease of a call already replied to (op 8's), by address
            // and as a lease of its (former) lender, whose new call lends
            // only 256 bytes.
            9 => {
                let c = self.request(T_IN, 0, device_writes(self.stale));
                put(&mut out, 0, self.post(&c));
                let c = self.request(T_IN, 0, device_writes(LEASE));
                put(&mut out, 3, self.post_as(&c, Some(self.stale_lender)));
            }
            // An indirect table (§2.7.5.3) of our own whose entry names
            // kernel RAM; and a chain whose `next` leaves the table.
            10 => {
                let table = self.request(T_IN, 0, device_writes(KERNEL_RAM));
                let d = dma();
                d.table = table;
                let table = addr_of(d.table.as_ptr());
                let ind = [Desc {
                    addr: table,
                    len: 48,
                    flags: INDIRECT,
                    next: 0,
                }];
                put(&mut out, 0, self.post(&ind));
                let own = addr_of(d.data.as_ptr());
                let mut c = self.request(T_IN, 0, device_writes(own));
                c[1].next = 200;
                put(&mut out, 3, self.post(&c));
            }
            // Control: sector 1 written from our RAM and read back.
            12 => {
                for (i, b) in d.data.iter_mut().enumerate() {
                    *b = (i as u8) ^ (args[0] as u8);
                }
                d.readback = [0; 512];
                let (data, back) = (addr_of(d.data.as_ptr()), addr_of(d.readback.as_ptr()));
                let used = self.dev.used_idx();
                let c = self.request(T_OUT, 1, device_reads(data));
                put(&mut out, 0, self.post(&c));
                self.dev.reg_write(QUEUE_NOTIFY, 0);
                out[3] = u32::from(self.wait_used(used));
                let used = self.dev.used_idx();
                let c = self.request(T_IN, 1, device_writes(back));
                out[4] = self.post(&c)[0];
                self.dev.reg_write(QUEUE_NOTIFY, 0);
                out[5] = u32::from(self.wait_used(used));
                let d = dma();
                out[6] = u32::from(d.data == d.readback);
            }
            // A store into our own descriptor table: must fault.
            13 => {
                if let Some((ring, _)) = self.dev.ring {
                    sys_log!("dma-attack: storing into the descriptor table at {ring:#x}");
                    // SAFETY: none: the kernel owns this memory and PMP must
                    // stop the store (the task faults).
                    unsafe { core::ptr::write_volatile(ring as *mut u32, 0x8000_0000) };
                    out[0] = 0;
                }
            }
            // The attack by hand: our own ring in our own RAM, the
            // queue registers written directly (QueueSel first), kernel
            // text written to sector 0 and read back. Must fault at
            // QueueSel. [reached DRIVER_OK, text write used, read used,
            // first word read back, read back == our marker].
            14 => {
                self.dev.reset_and_ack();
                d.ring = [0; 8192];
                d.readback = [0x5a; 512];
                let ring = addr_of(d.ring.as_ptr());
                self.dev.reg_write(QUEUE_SEL, 0);
                self.dev.reg_write(GUEST_PAGE_SIZE, 4096);
                self.dev.reg_write(QUEUE_NUM, 16);
                self.dev.reg_write(QUEUE_ALIGN, 4096);
                self.dev.reg_write(QUEUE_PFN, (ring / 4096) as u32);
                self.dev.reg_write(STATUS, 1 | 2 | 4);
                self.dev.ring = Some((ring as usize, 16));
                out[0] = 1;
                let back = addr_of(d.readback.as_ptr());
                let leak = self.request(T_OUT, 0, device_reads(KERNEL_TEXT));
                out[1] = u32::from(self.by_hand(&leak, 0));
                let read = self.request(T_IN, 0, device_writes(back));
                out[2] = u32::from(self.by_hand(&read, 1));
                let d = dma();
                out[3] = u32::from_le_bytes([
                    d.readback[0],
                    d.readback[1],
                    d.readback[2],
                    d.readback[3],
                ]);
                out[4] = u32::from(d.readback.iter().all(|&b| b == 0x5a));
            }
            // An answer while the caller's lease is on the device: a read
            // of sector 1 into the lease, posted but not yet notified,
            // then `reply_recv` to the caller, which the kernel must refuse
            // (DMA_PINNED, nothing replied or received); then the device is
            // told and waited for, and the call answered below.
            // [post code, avail before, after, reply_recv's refusal (0:
            // none), device used it].
            16 => {
                let (used, _, posted) = self.read_into_lease(caller);
                put(&mut out, 0, posted);
                let mut buf = [0u8; 16];
                let m = sys_reply_recv(caller, 0, out.as_bytes(), &mut buf, 0);
                out[3] = userlib::refusal(&m).unwrap_or(0);
                self.dev.reg_write(QUEUE_NOTIFY, 0);
                out[4] = u32::from(self.wait_used(used));
            }
            // A lease given to the device twice: the same read of sector 1
            // into the caller's lease, the second chain at descriptors
            // 3 -> 4 -> 5, both posted before the device is told: the
            // second must be refused (the lease's bytes are the first
            // chain's). [code, before, after] of each post, then whether
            // the device used the first chain.
            17 => {
                let (used, c, posted) = self.read_into_lease(caller);
                put(&mut out, 0, posted);
                let again = [Desc { next: 4, ..c[0] }, Desc { next: 5, ..c[1] }, c[2]];
                put(&mut out, 3, self.post_at(&again, 3, Some(caller)));
                self.dev.reg_write(QUEUE_NOTIFY, 0);
                out[6] = u32::from(self.wait_used(used));
            }
            // A chain holding the lease that visits a descriptor twice:
            // after the read of sector 1 into the caller's lease (posted,
            // told, used: [code, before, after] and whether the device used
            // it at 6), the same request at descriptors 3 -> 4 with the
            // lease's descriptor linking back to 3: it must be refused
            // ([code, before, after] at 3), nothing left pinned, so that
            // the answer below goes through.
            18 => {
                let (used, c, posted) = self.read_into_lease(caller);
                put(&mut out, 0, posted);
                self.dev.reg_write(QUEUE_NOTIFY, 0);
                out[6] = u32::from(self.wait_used(used));
                let looping = [Desc { next: 4, ..c[0] }, Desc { next: 3, ..c[1] }, c[2]];
                put(&mut out, 3, self.post_at(&looping, 3, Some(caller)));
            }
            // One head made available twice: a read of sector 1 into our
            // own RAM posted at head 0 (not yet told to the device), then
            // the same read into the caller's lease at the same head 0,
            // which would rewrite the first chain's descriptors and make
            // head 0 available again: the device would run the lease
            // chain twice, and its first completion release the pins
            // while the second still wrote the lease. It must be refused
            // (DMA_PINNED: the device holds those descriptors).
            // [code, before, after] of each post, then whether the device
            // used the first chain.
            19 => {
                let used = self.dev.used_idx();
                let own = self.request(T_IN, 1, device_writes(addr_of(d.data.as_ptr())));
                put(&mut out, 0, self.post(&own));
                let lease = self.request(T_IN, 1, device_writes(LEASE));
                put(&mut out, 3, self.post_as(&lease, Some(caller)));
                self.dev.reg_write(QUEUE_NOTIFY, 0);
                out[6] = u32::from(self.wait_used(used));
            }
            // A lease chain taking over the tail of a chain of our own on
            // the device: our read of sector 1 at 0 -> 4 -> 5, then the
            // read into the caller's lease at 3 -> 4 -> 5. The device
            // could follow the first chain's links into the lease, with
            // no pin to hold the reply. Must be refused (DMA_PINNED).
            // [code, before, after] of each post, then whether the device
            // used the first chain.
            20 => {
                let used = self.dev.used_idx();
                let c = self.request(T_IN, 1, device_writes(addr_of(d.data.as_ptr())));
                let own = [Desc { next: 4, ..c[0] }, Desc { next: 5, ..c[1] }, c[2]];
                put(&mut out, 0, self.post(&own));
                let c = self.request(T_IN, 1, device_writes(LEASE));
                let lease = [Desc { next: 4, ..c[0] }, Desc { next: 5, ..c[1] }, c[2]];
                put(&mut out, 3, self.post_at(&lease, 3, Some(caller)));
                self.dev.reg_write(QUEUE_NOTIFY, 0);
                out[6] = u32::from(self.wait_used(used));
            }
            // A version 2 queue-address register: must fault there.
            15 => {
                self.dev.reg_write(QUEUE_DESC_LOW, KERNEL_RAM as u32);
                out[0] = 0;
            }
            // The features by hand (a packed ring, say): DriverFeatures is
            // the kernel's, so this must fault there.
            21 => {
                self.dev.reg_write(DRIVER_FEATURES, 1 << 2);
                out[0] = 0;
            }
            // Up through the kernel accepting every feature the device
            // offers, a packed ring included: [offered bank 1, written bank
            // 0, written bank 1, status after FEATURES_OK (modern), setup
            // code, ring].
            22 => out = self.accept_everything(),
            // The red team's packed-ring escape (`test/dma-packed.toml`):
            // a marker written to sector 0 through a proper chain; then one
            // checked descriptor whose unchecked `next` a packed ring would
            // read as AVAIL | INDIRECT, naming a table in our RAM that asks
            // for kernel text on sector 0 and sector 2 in the caller's
            // canary (`args[0]`, never lent); then the device reset and
            // brought up again, and sector 0 read back. [marker post code,
            // marker used, first escape's post code, second's, read-back
            // post code, read-back used, sector 0 still the marker].
            23 => out = self.packed_escape(u64::from(args[0])),
            _ => {}
        }
        out
    }

    /// The by-hand attack's own ring: writes `chain` at descriptors 0..3
    /// and avail slot `slot`, notifies, waits.
    fn by_hand(&self, chain: &[Desc; 3], slot: u16) -> bool {
        let Some((ring, _)) = self.dev.ring else {
            return false;
        };
        let used = self.dev.used_idx();
        // SAFETY: our own ring in our own RAM (`Dma::ring`), legacy layout
        // for 16 entries: descriptors at 0, avail ring at 256.
        unsafe {
            for (i, desc) in chain.iter().enumerate() {
                core::ptr::write_volatile((ring + 16 * i) as *mut Desc, *desc);
            }
            core::ptr::write_volatile((ring + 256 + 4 + 2 * usize::from(slot)) as *mut u16, 0);
            core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
            core::ptr::write_volatile((ring + 256 + 2) as *mut u16, slot + 1);
        }
        self.dev.reg_write(QUEUE_NOTIFY, 0);
        self.wait_used(used)
    }
}

#[export_name = "main"]
fn main() -> ! {
    let bus = VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR);
    let window = match bus.register([BLOCK, 0, 0, 0], IRQ_BIT, REMOVE_BIT, PROBE_BIT) {
        Ok(p) => slot_base(p.slot),
        Err(RequestError::Server(e)) => {
            sys_log!("dma-attack: no disk: {e:?}");
            0
        }
        Err(e) => {
            sys_log!("dma-attack: register failed: {e:?}");
            0
        }
    };
    let mut rogue = Rogue {
        dev: Device { window, ring: None },
        stale: 0,
        stale_lender: TaskId::KERNEL,
    };
    let mut buf = [0u8; 16];
    loop {
        let m = sys_recv(&mut buf, 0, None);
        if m.sender == TaskId::KERNEL {
            continue;
        }
        let mut args = [0u32; 4];
        for (i, a) in args.iter_mut().enumerate() {
            *a = u32::from_le_bytes([buf[4 * i], buf[4 * i + 1], buf[4 * i + 2], buf[4 * i + 3]]);
        }
        let out = if window == 0 {
            [NOT_RUN; 8]
        } else {
            rogue.attack(m.operation as u16, args, m.sender)
        };
        sys_reply(m.sender, 0, out.as_bytes());
    }
}
