//! A compromised virtio-blk driver that makes random syscalls, for the
//! syscall fuzz image (`test/fuzz.toml`). It registers for a disk as any
//! driver would; then, each round the suite asks for (`fuzz_test_api`),
//! it makes that many calls chosen by a seeded generator: every syscall
//! number (and some that are none), with arguments that mean something to
//! the kernel — its own scratch memory, slices that straddle or leave it,
//! kernel text and RAM, the suite's memory, device windows, its own text
//! and ring region, live, stale and impossible task ids, the suite's
//! leases at any index and offset — plus descriptor chains through the DMA
//! gate (blk requests aimed at all of the above), device resets and
//! notifies, and raw loads and stores where it has no right to be.
//!
//! The same crate is the image's hostile client (`config = { mode =
//! "client" }`): no device, and rounds of its own for ever, aimed mostly
//! at the fuzzer, so that the fuzzer's random replies, borrows and DMA
//! posts meet a caller as hostile as itself.
//!
//! It keeps itself intact by construction: every slice it hands the kernel
//! that lies in its own RAM lies in its scratch buffer, so each fault it
//! takes is one the kernel or PMP gave it for trying something it may not,
//! and the suite can hold the kernel to that (fault kinds, addresses).
//!
//! It must never be part of a real image: it exists to be refused.

#![no_std]
#![no_main]

use abi::{DmaOp, Sysnum, TaskId, DMA_LEASE, DMA_PINNED, RECV_OPEN, TICKS_PER_MS};
use fuzz_test_api::{Report, Round, LEASE_READ_ONLY, LEASE_WRITABLE};
use idol_runtime::UserlibIpc;
use rand_core::{Rng as _, SeedableRng};
use rand_xorshift::XorShiftRng;
use rogue_driver::reg::{INTERRUPT_ACK, INTERRUPT_STATUS, QUEUE_NOTIFY, QUEUE_REGISTERS, STATUS};
use rogue_driver::{
    Desc, Device, BLOCK, INDIRECT, KERNEL_RAM, KERNEL_TEXT, NEXT, T_IN, T_OUT, WRITE,
};
use userlib::{sys_get_timer, sys_log, sys_recv, sys_refresh_task_id, tasks};
use virtio_bus_api::{slot_base, VirtioBusClient};
use zerocopy::{FromBytes, IntoBytes};

const IRQ_BIT: u32 = 1 << 0;
const REMOVE_BIT: u32 = 1 << 1;
const PROBE_BIT: u32 = 1 << 2;
const TIMER_BIT: u32 = 1 << 3;

/// Other machine devices: the CLINT, the PLIC, the UART.
const DEVICES: [usize; 3] = [0x0200_0000, 0x0c00_0000, 0x1000_0000];
/// The first virtio-mmio window and how many QEMU's `virt` has.
const VIRTIO0: usize = 0x1000_1000;
const VIRTIO_SLOTS: usize = 8;
/// A length that leaves any task's RAM (the fuzzer has 32 KiB).
const PAST_RAM: usize = 0x20_0000;

/// Scratch bytes: the only memory of its own the fuzzer lets the kernel
/// or a device write.
const SCRATCH: usize = 8192;
/// Where in the scratch a round builds descriptor chains and lease tables
/// (random writes may land there too; that is part of the game).
const TABLE_AT: usize = SCRATCH - 256;
/// A blk request's header and status byte.
const HEADER_AT: usize = SCRATCH - 512;
const STATUS_AT: usize = SCRATCH - 384;

#[repr(C, align(4096))]
struct Scratch([u8; SCRATCH]);

static mut SCRATCH_MEM: Scratch = Scratch([0; SCRATCH]);

fn scratch_base() -> usize {
    core::ptr::addr_of!(SCRATCH_MEM) as usize
}

/// Writes `bytes` at `offset` of the scratch.
fn scratch_write(offset: usize, bytes: &[u8]) {
    // SAFETY: in bounds (callers stay below `SCRATCH`); the scratch is
    // written by the kernel and the device only while we are in a syscall
    // or between a post and its completion, and it is never read as
    // anything but bytes, so a concurrent device write races only with
    // bytes we are about to hand over anyway.
    unsafe {
        let p = (scratch_base() + offset) as *mut u8;
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
    }
}

/// The round's generator: the same seed makes the same round.
struct Rng(XorShiftRng);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(XorShiftRng::seed_from_u64(seed))
    }

    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// The `ecall` with any number and any arguments.
///
/// # Safety
///
/// Any memory the arguments let the kernel (or, through `Dma`, the device)
/// write must be memory of ours that nothing else relies on: the fuzzer
/// passes only scratch slices or memory it does not own.
unsafe fn ecall(n: usize, a: [usize; 7]) -> [usize; 6] {
    let mut r = [0usize; 6];
    // SAFETY: `ecall` traps to the kernel, which saves and restores every
    // register except the results declared here; memory effects are as
    // the caller promised.
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") a[0] => r[0],
            inlateout("a1") a[1] => r[1],
            inlateout("a2") a[2] => r[2],
            inlateout("a3") a[3] => r[3],
            inlateout("a4") a[4] => r[4],
            inlateout("a5") a[5] => r[5],
            in("a6") a[6],
            in("a7") n,
        );
    }
    r
}

extern "C" {
    fn _start();
    static _sidata: u8;
    static _stack_bottom: u8;
    static _ebss: u8;
}

struct Fuzzer {
    rng: Rng,
    /// The granted disk's window (0: none) and queue 0 once set up.
    dev: Device,
    /// Whose round this is (the task our final answer goes to).
    caller: TaskId,
    /// Another task that called us mid-round and waits (the hostile
    /// client of `test/fuzz.toml`), or `KERNEL`.
    peer: TaskId,
    /// The suite's memory that is not lent.
    canary: usize,
    report: Report,
}

impl Fuzzer {
    /// Resets the device and sets queue 0 up through the kernel, as a
    /// driver's probe does.
    fn bring_up(&mut self) {
        if self.dev.window == 0 {
            return;
        }
        self.dev.reset_and_ack();
        self.dev.ring = userlib::sys_dma_setup(0, 16).ok();
        self.dev.reg_write(STATUS, 1 | 2 | 4);
    }

    // --- argument generators ------------------------------------------------

    /// Whether this argument is one the kernel must refuse: rare enough
    /// that a round gets some way before its death, so that later calls
    /// meet the state earlier ones left (armed timers, posted chains,
    /// held leases).
    fn hostile(&mut self) -> bool {
        self.rng.chance(160)
    }

    /// A `(pointer, length)` pair: inside the scratch, or (when
    /// [`hostile`](Self::hostile)) one the kernel must refuse, or our own
    /// text (readable, never writable).
    fn slice(&mut self, most: usize) -> (usize, usize) {
        let s = scratch_base();
        if !self.hostile() {
            let off = self.rng.below(SCRATCH);
            return (s + off, self.rng.below((SCRATCH - off).min(most) + 1));
        }
        let r = &mut self.rng;
        match r.below(6) {
            0 => (s + r.below(SCRATCH), PAST_RAM + r.below(64)),
            1 => (s + SCRATCH - r.below(8), usize::MAX - r.below(4096)),
            2 => {
                let len = r.below(most.min(64)) + 1;
                (self.forbidden(), len)
            }
            3 => {
                let len = r.below(most.min(64)) + 1;
                (self.text(), len)
            }
            4 => (0, r.below(2)),
            _ => (self.rng.next() as usize, self.rng.below(most.min(64)) + 1),
        }
    }

    /// A `(pointer, length)` pair for the kernel to write into: as
    /// [`slice`](Self::slice), and now and then our own code that runs on
    /// every call (the generator itself). A kernel that wrote there for us
    /// would break the code at once, and the suite would see the fault.
    fn out_slice(&mut self, most: usize) -> (usize, usize) {
        if self.rng.chance(80) {
            let hot = Fuzzer::one as *const () as usize;
            (hot + self.rng.below(1024), self.rng.below(most.min(64)) + 1)
        } else {
            self.slice(most)
        }
    }

    /// An address in our own text (and read-only data): readable, never
    /// writable. A kernel that wrote there for us would break our code.
    fn text(&mut self) -> usize {
        let start = _start as *const () as usize;
        let end = core::ptr::addr_of!(_sidata) as usize;
        start + self.rng.below(end.saturating_sub(start).max(1))
    }

    /// An address the fuzzer has no right to touch.
    fn forbidden(&mut self) -> usize {
        let r = &mut self.rng;
        match r.below(7) {
            0 => KERNEL_TEXT + r.below(0x1_0000),
            1 => KERNEL_RAM + r.below(0x8000),
            2 => self.canary + r.below(4096),
            3 => DEVICES[r.below(DEVICES.len())] + 4 * r.below(64),
            4 => VIRTIO0 + 0x1000 * r.below(VIRTIO_SLOTS) + 4 * r.below(64),
            5 => match self.dev.ring {
                Some((ring, _)) => ring + r.below(8192),
                None => KERNEL_RAM,
            },
            _ => KERNEL_TEXT + r.below(0x0800_0000),
        }
    }

    /// A task id: mostly one that can answer, else a stale, foreign,
    /// impossible or reserved one.
    fn task(&mut self) -> usize {
        let r = &mut self.rng;
        let id = match r.below(26) {
            0..=10 if self.peer != TaskId::KERNEL && r.chance(2) => self.peer,
            0..=10 => self.caller,
            // Rare: a trusted server faults a client that sends it garbage.
            11 => sys_refresh_task_id(tasks::SUPERVISOR),
            12 | 13 => sys_refresh_task_id(tasks::BLK0),
            14 => sys_refresh_task_id(tasks::RNG0),
            15 => sys_refresh_task_id(tasks::NET0),
            16 | 17 => sys_refresh_task_id(tasks::FUZZER),
            18 | 19 => {
                let live = sys_refresh_task_id(TaskId::new(r.below(10) as u16, abi::Generation(0)));
                TaskId(live.0.wrapping_add(1 << TaskId::INDEX_BITS))
            }
            20 | 21 => TaskId::new(200 + r.below(800) as u16, abi::Generation(0)),
            22 => TaskId::KERNEL,
            _ => TaskId(self.rng.next() as u32),
        };
        id.0 as usize
    }

    /// Whom to answer: rarely the caller (which ends its round early: the
    /// suite must take any answer), else a task not waiting on us, which
    /// the kernel must skip.
    fn peer(&mut self) -> usize {
        let t = self.task();
        if t == self.caller.0 as usize && !self.hostile() {
            sys_refresh_task_id(tasks::SUPERVISOR).0 as usize
        } else {
            t
        }
    }

    fn any(&mut self) -> usize {
        match self.rng.below(6) {
            0 => 0,
            1 => 1,
            2 => usize::MAX,
            3 => self.rng.below(64),
            4 => self.forbidden(),
            _ => self.rng.next() as usize,
        }
    }

    /// A table of up to three leases in the scratch: its address, and a
    /// count (sometimes more than the kernel allows).
    fn lease_table(&mut self) -> (usize, usize) {
        let mut table = [0u32; 9];
        for lease in table.chunks_exact_mut(3) {
            let (base, len) = self.slice(4096);
            lease[0] = if self.hostile() {
                self.rng.next() as u32
            } else {
                self.rng.below(4) as u32
            };
            lease[1] = base as u32;
            lease[2] = len as u32;
        }
        scratch_write(TABLE_AT, table.as_bytes());
        let count = match (self.hostile(), self.rng.chance(2)) {
            (false, _) => self.rng.below(4),
            (true, false) => abi::MAX_LEASES + 1 + self.rng.below(4),
            (true, true) => self.rng.below(0x1_0000),
        };
        (scratch_base() + TABLE_AT, count)
    }

    /// A descriptor's buffer: ours, a lease of the caller's, or one the
    /// kernel must refuse.
    fn buffer(&mut self) -> (u64, u32) {
        let r = &mut self.rng;
        match r.below(12) {
            0..=4 => {
                let off = r.below(SCRATCH - 512);
                ((scratch_base() + off) as u64, 512)
            }
            5..=7 => {
                let index = if r.chance(2) {
                    LEASE_READ_ONLY
                } else {
                    LEASE_WRITABLE
                };
                let offset = match r.below(4) {
                    0 => r.below(4096),
                    1 => 0xFFFF_FFFF - r.below(16),
                    _ => 0,
                };
                let index = if r.chance(8) { r.below(256) } else { index };
                (
                    DMA_LEASE | (index as u64) << 32 | offset as u64,
                    [512, 256, 1, 4096][r.below(4)] as u32,
                )
            }
            8 => (r.next(), 512),
            _ => (self.forbidden() as u64, 512),
        }
    }

    // --- one call -------------------------------------------------------

    /// Counts a returned syscall whose `a0` is a refusal: the kernel codes
    /// from 0xFFFF_FC00 up (REJECTED, `BORROW_*`, `REFUSED_*`,
    /// `SERVER_STOPPED`, `DMA_*`; `abi::KERNEL_CODE_BASE` lists the
    /// ranges). Not every kernel code is there: the DEAD codes
    /// (0xFFFE_xxxx, a peer on a new generation) tell of a restart, not a
    /// refusal, and are not counted. No task id or server error code
    /// reaches the range; the clock's low word from `GetTimer` can, a
    /// moment in each wrap, so the count is a statistic, not a check.
    fn returned(&mut self, r: [usize; 6]) -> [usize; 6] {
        if r[0] as u32 >= 0xFFFF_FC00 {
            self.report.refused += 1;
        }
        r
    }

    fn syscall(&mut self, n: Sysnum, a: [usize; 7]) -> [usize; 6] {
        // SAFETY: every argument came from the generators above, which
        // name writable memory of ours only inside the scratch.
        let r = unsafe { ecall(n as usize, a) };
        self.returned(r)
    }

    /// Arms the timer 100 us from now, so that a receive ends.
    fn arm(&mut self) {
        let at = sys_get_timer().now + TICKS_PER_MS / 10;
        userlib::sys_set_timer(Some(at), TIMER_BIT);
    }

    fn one(&mut self) {
        let pick = self.rng.below(1000);
        match pick {
            0..=129 => {
                let target = self.task();
                let (msg, msg_len) = self.slice(64);
                let (reply, reply_len) = self.out_slice(256);
                let (table, count) = self.lease_table();
                let op = if self.rng.chance(8) {
                    self.rng.next() as u16
                } else {
                    self.rng.below(8) as u16
                };
                let a6 = if self.hostile() {
                    self.rng.next() as usize
                } else {
                    abi::send_op_leases(op, count) as usize
                };
                self.syscall(
                    Sysnum::Send,
                    [target, msg, msg_len, reply, reply_len, table, a6],
                );
                self.report.sends_answered += 1;
            }
            130..=179 => {
                let (buf, len) = self.out_slice(512);
                let mask = self.rng.next() as usize | TIMER_BIT as usize;
                let from = match self.rng.below(3) {
                    0 => RECV_OPEN as usize,
                    1 => TaskId::KERNEL.0 as usize,
                    _ => self.task(),
                };
                self.arm();
                let r = self.syscall(Sysnum::Recv, [buf, len, mask, from, 0, 0, 0]);
                self.received(r);
            }
            180..=229 => {
                let (target, code) = (self.peer(), self.code());
                let (msg, len) = self.slice(40);
                self.syscall(Sysnum::Reply, [target, code, msg, len, 0, 0, 0]);
            }
            230..=259 => {
                let (target, code) = (self.peer(), self.code());
                let (msg, len) = self.slice(64);
                let (buf, buf_len) = self.out_slice(512);
                let mask = self.rng.next() as usize | TIMER_BIT as usize;
                self.arm();
                let r = self.syscall(
                    Sysnum::ReplyRecv,
                    [target, code, msg, len, buf, buf_len, mask],
                );
                self.received(r);
            }
            260..=299 => {
                let now = sys_get_timer().now;
                let at = match self.rng.below(4) {
                    0 => now + self.rng.below(10_000) as u64,
                    1 => 0,
                    2 => u64::MAX - self.rng.below(4) as u64,
                    _ => self.rng.next(),
                };
                let arm = [0, 1, self.rng.next() as usize][self.rng.below(3)];
                let bits = self.rng.next() as usize;
                self.syscall(
                    Sysnum::SetTimer,
                    [arm, at as usize, (at >> 32) as usize, bits, 0, 0, 0],
                );
            }
            300..=439 => {
                let write = self.rng.chance(2);
                let lender = self.task();
                let index = [0, 1, 2, self.rng.next() as usize][self.rng.below(4)];
                let offset =
                    [0, self.rng.below(300), 4090, self.rng.next() as usize][self.rng.below(4)];
                let (buf, len) = if write {
                    self.slice(512)
                } else {
                    self.out_slice(512)
                };
                let n = if write {
                    Sysnum::BorrowWrite
                } else {
                    Sysnum::BorrowRead
                };
                self.syscall(n, [lender, index, offset, buf, len, 0, 0]);
            }
            440..=479 => {
                let (lender, index) = (self.task(), self.rng.below(5));
                self.syscall(Sysnum::BorrowInfo, [lender, index, 0, 0, 0, 0, 0]);
            }
            480..=509 => {
                // Without a device (the hostile client) no bit has an IRQ.
                let bits = if self.hostile() {
                    self.any()
                } else if self.dev.window == 0 {
                    return;
                } else {
                    IRQ_BIT as usize
                };
                let on = self.rng.below(3);
                self.syscall(Sysnum::IrqControl, [bits, on, 0, 0, 0, 0, 0]);
            }
            510..=539 => {
                self.syscall(Sysnum::GetTimer, [0; 7]);
            }
            540..=569 => {
                let t = self.task();
                self.syscall(Sysnum::RefreshTaskId, [t, 0, 0, 0, 0, 0, 0]);
            }
            570..=599 => {
                let t = self.peer();
                let reason = self.rng.below(8);
                self.syscall(Sysnum::ReplyFault, [t, reason, 0, 0, 0, 0, 0]);
            }
            600..=619 => {
                let (text, len) = self.slice(40);
                self.syscall(Sysnum::Log, [text, len, 0, 0, 0, 0, 0]);
            }
            620..=649 => {
                let op = [self.rng.below(10), self.any()][self.rng.below(2)];
                let (msg, len) = self.slice(32);
                let (reply, reply_len) = self.out_slice(64);
                self.syscall(Sysnum::Kipc, [op, msg, len, reply, reply_len, 0, 0]);
            }
            650..=679 => {
                let t = self.task();
                let bits = self.any();
                self.syscall(Sysnum::Post, [t, bits, 0, 0, 0, 0, 0]);
            }
            680..=829 => self.post(),
            830..=859 => {
                let queue = [0, 1, self.any()][self.rng.below(3)];
                let which = [0, 1, self.any()][self.rng.below(3)];
                let value = self.rng.next() as usize;
                self.syscall(
                    Sysnum::Dma,
                    [DmaOp::Avail as usize, queue, which, value, 0, 0, 0],
                );
            }
            860..=879 => {
                let queue = [0, 1, self.any()][self.rng.below(3)];
                let max = [16, 0, self.any()][self.rng.below(3)];
                let r = self.syscall(Sysnum::Dma, [DmaOp::Setup as usize, queue, max, 0, 0, 0, 0]);
                if r[0] == 0 && queue == 0 {
                    self.dev.ring = Some((r[1], r[2] as u16));
                }
            }
            880..=929 => self.notify(),
            930..=959 => {
                // An op the gate does not have (a misused syscall).
                if self.hostile() {
                    let op = 3 + self.rng.below(100);
                    let a = [op, self.any(), self.any(), self.any(), 0, 0, 0];
                    self.syscall(Sysnum::Dma, a);
                }
            }
            960..=979 => {
                self.reg_write_if_granted(STATUS, 0);
                self.dev.ring = None;
                self.bring_up();
            }
            980..=989 => self.read_own(),
            990..=993 => self.wild_access(),
            994 => {
                // A number that is no syscall (or, here, the bench probes).
                let n = [15, 16, 17, 18, 19, 21, 23, 64, usize::MAX][self.rng.below(9)];
                // SAFETY: no number here makes the kernel write our memory
                // (unknown ones fault us; BenchProbes is refused too).
                unsafe { ecall(n, [self.any(), self.any(), 0, 0, 0, 0, 0]) };
            }
            _ => {
                if self.rng.chance(4) {
                    let (msg, len) = self.slice(40);
                    self.syscall(Sysnum::Panic, [msg, len, 0, 0, 0, 0, 0]);
                }
            }
        }
    }

    /// A response code: success, an error, or one the kernel reserves.
    fn code(&mut self) -> usize {
        if self.hostile() {
            return 0xFFFF_FFFF - self.rng.below(0x1_0000);
        }
        match self.rng.below(3) {
            0 => 0,
            1 => self.rng.below(16),
            _ => self.rng.next() as usize & 0x7FFF_FFFF,
        }
    }

    /// After a receive: a message from a task is the suite's next call (no
    /// other task sends to us); its answer is the end of our round.
    fn received(&mut self, r: [usize; 6]) {
        let sender = TaskId(r[0] as u32);
        if sender.0 < TaskId::LIMIT && sender != TaskId::KERNEL && r[0] != 0 {
            // The round's caller again (its next round, after an early
            // answer), or another task: a peer to toy with.
            if sender.index() == self.caller.index() {
                self.caller = sender;
            } else {
                self.peer = sender;
                self.report.peer_calls += 1;
            }
        }
        if self.dev.window != 0 {
            self.dev
                .reg_write(INTERRUPT_ACK, self.dev.reg_read(INTERRUPT_STATUS));
        }
    }

    fn reg_write_if_granted(&self, offset: usize, value: u32) {
        if self.dev.window != 0 {
            self.dev.reg_write(offset, value);
        }
    }

    /// A chain through the gate: half the time a blk request (header,
    /// data, status) whose data is any buffer, else three random
    /// descriptors. The device is told about it sometimes.
    fn post(&mut self) {
        let mut chain = [Desc::default(); 3];
        let size = self.dev.ring.map_or(16, |(_, s)| s) as usize;
        if self.rng.chance(2) {
            let header = [
                [T_IN, T_OUT][self.rng.below(2)],
                0,
                self.rng.below(64) as u32,
                0,
            ];
            scratch_write(HEADER_AT, header.as_bytes());
            let (addr, len) = self.buffer();
            let write = if header[0] == T_IN { WRITE } else { 0 };
            let head = self.rng.below(size);
            chain = [
                Desc {
                    addr: (scratch_base() + HEADER_AT) as u64,
                    len: 16,
                    flags: NEXT,
                    next: ((head + 1) % size) as u16,
                },
                Desc {
                    addr,
                    len,
                    flags: write | NEXT,
                    next: ((head + 2) % size) as u16,
                },
                Desc {
                    addr: (scratch_base() + STATUS_AT) as u64,
                    len: 1,
                    flags: WRITE,
                    next: 0,
                },
            ];
            self.send_chain(&chain, 3, head);
        } else {
            for d in chain.iter_mut() {
                let (addr, len) = self.buffer();
                *d = Desc {
                    addr,
                    len: if self.rng.chance(8) {
                        self.rng.next() as u32
                    } else {
                        len
                    },
                    flags: [
                        0,
                        NEXT,
                        WRITE,
                        NEXT | WRITE,
                        INDIRECT,
                        self.rng.next() as u16,
                    ][self.rng.below(6)],
                    next: self.rng.below(size + 2) as u16,
                };
            }
            let count = [1, 2, 3, 0, 9, self.rng.next() as usize][self.rng.below(6)];
            let head = self.rng.below(size + 2);
            self.send_chain(&chain, count, head);
        }
        if self.rng.chance(2) {
            self.notify();
        }
    }

    fn send_chain(&mut self, chain: &[Desc; 3], count: usize, head: usize) {
        scratch_write(TABLE_AT, chain.as_bytes());
        let table = match (self.hostile(), self.rng.chance(2)) {
            (true, true) => self.forbidden(),
            (true, false) => scratch_base() + TABLE_AT + 1 + self.rng.below(7),
            _ => scratch_base() + TABLE_AT,
        };
        let lender = match self.rng.below(5) {
            0 => usize::MAX,
            1 => self.task(),
            2 => self.peer.0 as usize,
            _ => self.caller.0 as usize,
        };
        let queue = if self.rng.chance(10) { self.any() } else { 0 };
        let event = [0, 0, self.rng.below(20), self.any()][self.rng.below(4)];
        let r = self.syscall(
            Sysnum::Dma,
            [
                DmaOp::Post as usize,
                queue,
                table,
                count,
                head,
                lender,
                event,
            ],
        );
        if r[0] == 0 {
            self.report.dma_posted += 1;
        } else {
            self.report.dma_refused += 1;
        }
    }

    /// Tells the device about queue 0 and waits up to a millisecond for a
    /// chain back.
    fn notify(&mut self) {
        if self.dev.window == 0 || self.dev.ring.is_none() {
            return;
        }
        let before = self.dev.used_idx();
        self.dev.reg_write(QUEUE_NOTIFY, 0);
        let deadline = sys_get_timer().now + TICKS_PER_MS;
        while self.dev.used_idx() == before && sys_get_timer().now < deadline {
            userlib::sys_set_timer(Some(sys_get_timer().now + TICKS_PER_MS / 20), TIMER_BIT);
            userlib::sys_recv_notification(IRQ_BIT | TIMER_BIT);
            self.dev
                .reg_write(INTERRUPT_ACK, self.dev.reg_read(INTERRUPT_STATUS));
            userlib::sys_irq_control(IRQ_BIT, true);
        }
        self.report.dma_used += u32::from(self.dev.used_idx().wrapping_sub(before));
    }

    /// Loads that must succeed: our own text and ring region.
    fn read_own(&mut self) {
        let at = match (self.dev.ring, self.rng.chance(2)) {
            (Some((ring, _)), true) => ring + 4 * self.rng.below(2048),
            _ => main as *const () as usize & !3,
        };
        // SAFETY: our own text or ring region, both readable to us; an
        // aligned word read of bytes that are never Rust objects of ours.
        unsafe { core::ptr::read_volatile(at as *const u32) };
    }

    /// A load or store where the fuzzer has no right: it must fault here.
    fn wild_access(&mut self) {
        let at = if self.dev.window != 0 && self.rng.chance(3) {
            self.dev.window + QUEUE_REGISTERS[self.rng.below(QUEUE_REGISTERS.len())]
        } else {
            self.forbidden() & !3
        };
        // SAFETY: not memory of ours, nor the kernel's to lose: PMP must
        // stop the access (that is the test), and if it did not, the suite
        // sees what changed.
        unsafe {
            if self.rng.chance(2) {
                core::ptr::write_volatile(at as *mut u32, self.rng.next() as u32);
            } else {
                core::ptr::read_volatile(at as *const u32);
            }
        }
    }

    /// One round for `caller`.
    fn round(&mut self, caller: TaskId, round: Round) -> Report {
        self.rng = Rng::new(round.seed);
        self.caller = caller;
        self.canary = round.canary as usize;
        // Linker symbols: only their addresses are taken.
        self.report = Report {
            ram_lo: core::ptr::addr_of!(_stack_bottom) as u32,
            ram_hi: core::ptr::addr_of!(_ebss) as u32,
            ..Report::default()
        };
        let mut fill = [0u8; 64];
        for at in (0..SCRATCH).step_by(fill.len()) {
            for b in fill.iter_mut() {
                *b = self.rng.next() as u8;
            }
            scratch_write(at, &fill);
        }
        if self.dev.ring.is_none() {
            self.bring_up();
        }
        for _ in 0..round.calls {
            self.one();
            self.report.calls += 1;
        }
        self.report
    }

    /// Answers the round's caller. A reply the kernel refuses because the
    /// caller's lease is still on the device is answered after a reset.
    fn answer(&mut self, report: &Report) {
        for _ in 0..2 {
            let msg = report.as_bytes();
            // SAFETY: the kernel only reads the report.
            let r = unsafe {
                ecall(
                    Sysnum::Reply as usize,
                    [
                        self.caller.0 as usize,
                        0,
                        msg.as_ptr() as usize,
                        msg.len(),
                        0,
                        0,
                        0,
                    ],
                )
            };
            if r[0] as u32 != DMA_PINNED {
                return;
            }
            self.dev.reg_write(STATUS, 0);
            self.dev.ring = None;
        }
    }
}

/// Whether this task is the hostile client (app.toml `config = { mode =
/// "client" }`): no device, and rounds of its own, for ever, aimed at the
/// fuzzer instead of answering a suite.
fn client_mode() -> bool {
    userlib::config::setting(option_env!("VIREO_CONFIG"), "mode") == Some("client")
}

#[export_name = "main"]
fn main() -> ! {
    let window = if client_mode() {
        0
    } else {
        let bus = VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR);
        match bus.register([BLOCK, 0, 0, 0], IRQ_BIT, REMOVE_BIT, PROBE_BIT) {
            Ok(p) => slot_base(p.slot),
            Err(e) => {
                sys_log!("fuzz: register failed: {e:?}");
                0
            }
        }
    };
    let mut fuzzer = Fuzzer {
        rng: Rng::new(0),
        dev: Device { window, ring: None },
        caller: TaskId::KERNEL,
        peer: TaskId::KERNEL,
        canary: KERNEL_RAM,
        report: Report::default(),
    };
    if client_mode() {
        // Each incarnation its own seeds (a restart must not replay the
        // round that killed it), from the app's seed and our generation.
        let base = userlib::config::setting(option_env!("VIREO_CONFIG"), "seed")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        let me = sys_refresh_task_id(tasks::HOSTILE);
        // As the fuzzer names its seed: a failure the hostile client
        // caused is replayed from it. Once, not at each of its many
        // restarts (round n of incarnation g has seed base ^ (g << 32 | n)).
        if me.generation().0 == 0 {
            sys_log!("fuzz: hostile client seed {base}, rounds of 64 calls");
        }
        let mut n = u64::from(me.generation().0) << 32;
        loop {
            n += 1;
            let round = Round {
                seed: base ^ n,
                calls: 64,
                canary: KERNEL_RAM as u32,
            };
            let target = sys_refresh_task_id(tasks::FUZZER);
            fuzzer.round(target, round);
        }
    }
    let mut buf = [0u8; core::mem::size_of::<Round>()];
    loop {
        let m = sys_recv(&mut buf, 0, None);
        if m.sender == TaskId::KERNEL {
            continue;
        }
        fuzzer.caller = m.sender;
        let report = match Round::read_from_bytes(&buf) {
            Ok(round) if m.message_len == buf.len() => fuzzer.round(m.sender, round),
            _ => Report::default(),
        };
        fuzzer.answer(&report);
    }
}
