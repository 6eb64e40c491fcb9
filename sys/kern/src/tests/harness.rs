//! A small world of tasks on a mock machine, and helpers that make the
//! tasks' syscalls the way their userlib stubs would.

use abi::{FaultKind, FaultRecord, Generation, Kipc, Lease, Sysnum, TaskId, UsageError};
use zerocopy::IntoBytes;

use crate::descs::{
    IrqDesc, RegionDesc, TaskDesc, REGION_DEVICE, REGION_DMA_RING, REGION_EXECUTE, REGION_READ,
    REGION_VIRTIO, REGION_WRITE,
};
use crate::machine::Machine;
use crate::syscalls;
use crate::system::System;
use crate::task::{SchedState, Task, TaskState};

/// Device slots the mock machine can grant (IRQs 40, 41).
pub const MOCK_DEVICE_SLOTS: usize = 2;

/// Index of the supervisor in every harness (the first task).
pub const SUP: usize = 0;
/// Index of the server in [`Harness::three`] (and most others).
pub const SRV: usize = 1;
/// Index of the client in [`Harness::three`] (and most others).
pub const CLI: usize = 2;

/// Size of each task's text region.
pub const TEXT_SIZE: usize = 0x1000;
/// Size of each task's RAM region.
pub const RAM_SIZE: usize = 0x2000;

// Layout of a task's RAM region (offsets from its base). The stack sits at
// the bottom, as the image builder lays it out.
/// Top of the stack (initial sp) and start of the data below.
pub const STACK_TOP: usize = 0x400;
/// Where `send` puts the outgoing message.
pub const MSG_OUT: usize = STACK_TOP;
/// Where `send` points its reply buffer.
pub const REPLY_BUF: usize = MSG_OUT + 0x400;
/// The reply buffer the harness's kipc calls offer: room for the largest
/// reply (a `TaskStatus`).
pub const KIPC_REPLY_CAP: usize = 160;
/// Where `send` puts its lease table.
pub const LEASE_TABLE: usize = REPLY_BUF + 0x400;
/// Where `recv` points its buffer.
pub const RECV_BUF: usize = LEASE_TABLE + 0x100;
/// Where `reply` puts the outgoing reply.
pub const REPLY_OUT: usize = RECV_BUF + 0x300;
/// Free data, for lent memory and borrow buffers.
pub const DATA: usize = REPLY_OUT + 0x400;

/// Low-address memory for task regions.
///
/// Leases carry 32-bit addresses (as on RV32), so the memory tasks lend must
/// lie below 4 GiB even on a 64-bit host: one anonymous mapping in the low
/// address space, handed out by a bump allocator, never freed.
pub mod arena {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    const SIZE: usize = 32 << 20;

    extern "C" {
        fn mmap(
            addr: *mut core::ffi::c_void,
            len: usize,
            prot: i32,
            flags: i32,
            fd: i32,
            off: i64,
        ) -> *mut core::ffi::c_void;
    }

    const PROT_READ: i32 = 1;
    const PROT_WRITE: i32 = 2;
    const MAP_PRIVATE: i32 = 0x02;
    const MAP_ANONYMOUS: i32 = 0x20;
    const MAP_NORESERVE: i32 = 0x4000;
    #[cfg(target_arch = "x86_64")]
    const MAP_LOW: i32 = 0x40; // MAP_32BIT: the kernel picks an address below 2 GiB
    #[cfg(not(target_arch = "x86_64"))]
    const MAP_LOW: i32 = 0; // the hint below usually suffices; checked anyway

    static BASE: OnceLock<usize> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);

    fn base() -> usize {
        *BASE.get_or_init(|| {
            let hint = 0x4000_0000usize as *mut core::ffi::c_void;
            // SAFETY: an anonymous private mapping touches no existing memory;
            // the result is checked before use.
            let p = unsafe {
                mmap(
                    hint,
                    SIZE,
                    PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_LOW,
                    -1,
                    0,
                )
            } as usize;
            assert!(p != usize::MAX && p != 0, "mmap of the test arena failed");
            assert!(
                p + SIZE <= u32::MAX as usize,
                "test arena at {p:#x} is not below 4 GiB: leases could not name it"
            );
            p
        })
    }

    /// A fresh zeroed block of `size` bytes (a power of two), aligned to its
    /// size like a NAPOT region.
    pub fn alloc(size: usize) -> usize {
        assert!(size.is_power_of_two());
        let base = base();
        let mut start = 0;
        NEXT.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| {
            start = (base + cur).next_multiple_of(size) - base;
            Some(start + size)
        })
        .unwrap();
        assert!(start + size <= SIZE, "test arena exhausted");
        base + start
    }
}

/// A machine that records what the kernel asked of it.
#[derive(Debug, Default)]
pub struct MockMachine {
    /// The time `now()` returns; tests move it.
    pub now: u64,
    /// The last deadline programmed.
    pub deadline: Option<u64>,
    /// Everything written to the console.
    pub console: Vec<u8>,
    /// Every `irq_set_enabled` call, in order.
    pub irq_calls: Vec<(u32, bool)>,
    /// Every `protect` call, in order.
    pub protected: Vec<Vec<RegionDesc>>,
    /// The code of a `shutdown`, if any.
    pub shutdown: Option<u32>,
    /// How many times `reboot` was called.
    pub reboots: u32,
    /// `overflow_kernel_stack` calls.
    pub stack_overflows: u32,
    /// Device registers `mmio_read32` answers from (absent: 0).
    pub mmio: std::collections::BTreeMap<usize, u32>,
    /// Every `mmio_write32`, in order.
    pub mmio_writes: Vec<(usize, u32)>,
    /// A device that ignores resets: writing 0 to Status leaves its queue
    /// registers (QueuePFN, QueueReady) set.
    pub stuck: bool,
}

impl MockMachine {
    /// The console output as text.
    pub fn console_text(&self) -> String {
        String::from_utf8_lossy(&self.console).into_owned()
    }
}

impl Machine for MockMachine {
    fn now(&self) -> u64 {
        self.now
    }
    fn set_timer_deadline(&mut self, deadline: Option<u64>) {
        self.deadline = deadline;
    }
    fn console_write(&mut self, bytes: &[u8]) {
        self.console.extend_from_slice(bytes);
    }
    fn irq_set_enabled(&mut self, irq: u32, enabled: bool) {
        self.irq_calls.push((irq, enabled));
    }
    fn protect(&mut self, regions: &[RegionDesc]) {
        self.protected.push(regions.to_vec());
    }
    fn shutdown(&mut self, code: u32) {
        self.shutdown = Some(code);
    }
    fn device_slot(&self, slot: usize) -> Option<(RegionDesc, u32)> {
        // Two fake device slots, far from any task memory.
        (slot < MOCK_DEVICE_SLOTS).then(|| {
            let window = RegionDesc {
                base: 0x7000_0000 + slot * 0x1000,
                size: 0x1000,
                attributes: REGION_READ | REGION_WRITE | REGION_DEVICE,
            };
            (window, 40 + slot as u32)
        })
    }

    fn reboot(&mut self) {
        self.reboots += 1;
    }
    fn instret(&self) -> u32 {
        0 // no counter: the bench-only probes are not built for host tests
    }
    fn mmio_read32(&mut self, addr: usize) -> u32 {
        self.mmio.get(&addr).copied().unwrap_or(0)
    }
    fn mmio_write32(&mut self, addr: usize, value: u32) {
        self.mmio_writes.push((addr, value));
        self.mmio.insert(addr, value);
        // A reset (§2.4) clears the queues, as QEMU's does before the
        // status reads 0.
        if addr & 0xfff == 0x070 && value == 0 && !self.stuck {
            let window = addr & !0xfff;
            self.mmio.remove(&(window + 0x040));
            self.mmio.remove(&(window + 0x044));
        }
    }
    fn overflow_kernel_stack(&mut self) {
        self.stack_overflows += 1;
    }
}

struct Spec {
    name: &'static str,
    priority: u8,
    start: bool,
    slots: Option<Vec<u16>>,
    device: bool,
    posts: Vec<u16>,
    postable: u32,
    trusted: bool,
    budget_ms: Option<u32>,
    cpu_share: u8,
    dma: bool,
}

/// Size of a `.dma()` task's ring region: two queues.
pub const RINGS_SIZE: usize = 2 * abi::DMA_RING_STRIDE;

/// Describes a harness: tasks in table order (the first is the supervisor),
/// IRQ routes.
#[derive(Default)]
pub struct Builder {
    specs: Vec<Spec>,
    irqs: Vec<IrqDesc>,
}

impl Builder {
    /// `sup` (0), `srv` (1), `cli` (2), to be built on.
    pub fn three() -> Self {
        Builder::default()
            .task("sup", 0)
            .task("srv", 1)
            .task("cli", 2)
    }

    /// Adds a task, started at boot, whose slots name every task.
    pub fn task(mut self, name: &'static str, priority: u8) -> Self {
        self.specs.push(Spec {
            name,
            priority,
            start: true,
            slots: None,
            device: false,
            posts: Vec::new(),
            // Tests not about the post rule let any bit be posted.
            postable: u32::MAX,
            trusted: true,
            budget_ms: None,
            // Tests not about shares hold no task to one.
            cpu_share: 100,
            dma: false,
        });
        self
    }

    /// The last task added is a driver with a ring region ([`RINGS_SIZE`])
    /// and a granted virtio window (`REGION_VIRTIO`), as `kipc` grants.
    pub fn dma(mut self) -> Self {
        self.specs.last_mut().unwrap().dma = true;
        self
    }

    /// The last task added may also post to these task indices.
    pub fn posts(mut self, posts: &[u16]) -> Self {
        self.specs.last_mut().unwrap().posts = posts.to_vec();
        self
    }

    /// Only these bits of the last task added may be posted by others.
    pub fn postable(mut self, bits: u32) -> Self {
        self.specs.last_mut().unwrap().postable = bits;
        self
    }

    /// The last task added is not started at boot.
    pub fn stopped(mut self) -> Self {
        self.specs.last_mut().unwrap().start = false;
        self
    }

    /// The last task added may send only to these task indices.
    pub fn slots(mut self, slots: &[u16]) -> Self {
        self.specs.last_mut().unwrap().slots = Some(slots.to_vec());
        self
    }

    /// The last task added also holds a device window (MMIO).
    pub fn device(mut self) -> Self {
        self.specs.last_mut().unwrap().device = true;
        self
    }

    /// The last task added is an untrusted server (as drivers are): its
    /// `reply_fault` does not fault clients.
    pub fn untrusted(mut self) -> Self {
        self.specs.last_mut().unwrap().trusted = false;
        self
    }

    /// The last task added may run `ms` without waiting for work.
    pub fn budget_ms(mut self, ms: u32) -> Self {
        self.specs.last_mut().unwrap().budget_ms = Some(ms);
        self
    }

    /// The last task added may run `percent` of every share period (it
    /// needs a budget for that to count: see `share`).
    pub fn cpu_share(mut self, percent: u8) -> Self {
        self.specs.last_mut().unwrap().cpu_share = percent;
        self
    }

    /// Routes PLIC source `irq` to `bits` of task `task`.
    pub fn irq(mut self, irq: u32, task: u16, bits: u32) -> Self {
        self.irqs.push(IrqDesc { irq, task, bits });
        self
    }

    /// Builds the system (which starts the tasks marked to start).
    pub fn build(self) -> Harness {
        let n = self.specs.len();
        let mut mem = Vec::new();
        let mut tasks = Vec::new();
        for s in &self.specs {
            let text = arena::alloc(TEXT_SIZE);
            let ram = arena::alloc(RAM_SIZE);
            let mut regions = vec![
                RegionDesc {
                    base: text,
                    size: TEXT_SIZE,
                    attributes: REGION_READ | REGION_EXECUTE,
                },
                RegionDesc {
                    base: ram,
                    size: RAM_SIZE,
                    attributes: REGION_READ | REGION_WRITE,
                },
            ];
            let device = s.device.then(|| {
                let base = arena::alloc(0x1000);
                regions.push(RegionDesc {
                    base,
                    size: 0x1000,
                    attributes: REGION_READ | REGION_WRITE | REGION_DEVICE,
                });
                base
            });
            let (rings, virtio) = if s.dma {
                let rings = arena::alloc(RINGS_SIZE);
                let window = arena::alloc(0x1000);
                regions.push(RegionDesc {
                    base: rings,
                    size: RINGS_SIZE,
                    attributes: REGION_READ | REGION_DMA_RING,
                });
                regions.push(RegionDesc {
                    base: window,
                    size: 0x1000,
                    attributes: REGION_READ | REGION_WRITE | REGION_DEVICE | REGION_VIRTIO,
                });
                (Some(rings), Some(window))
            } else {
                (None, None)
            };
            let slots = s.slots.clone().unwrap_or_else(|| (0..n as u16).collect());
            let desc: &'static TaskDesc = Box::leak(Box::new(TaskDesc {
                name: s.name,
                entry: text,
                initial_sp: ram + STACK_TOP,
                stack_base: ram,
                priority: s.priority,
                start: s.start,
                regions: Box::leak(regions.into_boxed_slice()),
                slots: Box::leak(slots.into_boxed_slice()),
                posts: Box::leak(s.posts.clone().into_boxed_slice()),
                postable: s.postable,
                trusted: s.trusted,
                budget_ms: s.budget_ms,
                cpu_share: s.cpu_share,
            }));
            tasks.push(Task::new(desc));
            mem.push(Mem {
                text,
                device,
                ram,
                rings,
                virtio,
            });
        }
        let tasks: &'static mut [Task] = Box::leak(tasks.into_boxed_slice());
        let irqs: &'static [IrqDesc] = Box::leak(self.irqs.into_boxed_slice());
        Harness {
            sys: System::new(tasks, irqs, SUP, MockMachine::default()),
            mem,
        }
    }
}

/// Where one task's regions start: its text (also the entry point), its
/// device window if it has one (`.device()`), its RAM (also the stack
/// base), and a driver's ring region and granted virtio window (`.dma()`).
#[derive(Copy, Clone, Debug)]
pub struct Mem {
    pub text: usize,
    pub device: Option<usize>,
    pub ram: usize,
    pub rings: Option<usize>,
    pub virtio: Option<usize>,
}

/// What a `recv` returned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Sender (`TaskId::KERNEL` for notifications).
    pub sender: TaskId,
    /// Operation, or the notification bits.
    pub op: usize,
    /// Message length as sent.
    pub len: usize,
    /// Reply capacity.
    pub reply_cap: usize,
    /// Lease count.
    pub leases: usize,
}

/// The system under test plus the addresses of every task's memory.
pub struct Harness {
    pub sys: System<'static, MockMachine>,
    pub mem: Vec<Mem>,
}

/// A syscall with its arguments in memory and registers: `$name` makes it
/// from task `t`, `$stage` only puts it in place (tests that call a fast
/// path directly), with the same arguments.
macro_rules! staged_syscalls {
    ($(
        $(#[$doc:meta])*
        $name:ident / $stage:ident(
            &mut $self:ident, $t:ident: usize, $($arg:ident: $ty:ty),*
        ) $body:block
    )*) => {$(
        $(#[$doc])*
        pub fn $name(&mut $self, $t: usize, $($arg: $ty),*) {
            $self.$stage($t, $($arg),*);
            $self.trap($t);
        }

        #[doc = concat!(
            "Stages `", stringify!($name), "` (as [`Harness::", stringify!($name),
            "`]) without trapping."
        )]
        pub fn $stage(&mut $self, $t: usize, $($arg: $ty),*) $body
    )*};
}

/// `Harness::borrow_read` and `borrow_write`: the same call but for the
/// syscall number.
macro_rules! borrow_syscalls {
    ($($(#[$doc:meta])* $name:ident => $num:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(
            &mut self,
            t: usize,
            lender: TaskId,
            index: usize,
            offset: usize,
            local_off: usize,
            len: usize,
        ) -> (u32, usize) {
            let buf = self.addr(t, DATA + local_off);
            self.syscall(t, Sysnum::$num, &[lender.0 as usize, index, offset, buf, len]);
            (self.ret(t, 0) as u32, self.ret(t, 1))
        }
    )*};
}

impl Harness {
    /// Tasks `(name, priority)` in table order, all started, the first the
    /// supervisor.
    pub fn new(tasks: &[(&'static str, u8)]) -> Self {
        tasks
            .iter()
            .fold(Builder::default(), |b, &(n, p)| b.task(n, p))
            .build()
    }

    /// `sup` (0), `srv` (1), `cli` (2): the usual three.
    pub fn three() -> Self {
        Builder::three().build()
    }

    /// The usual three but the server never started (app.toml
    /// `start = false`).
    pub fn three_server_stopped() -> Self {
        Builder::default()
            .task("sup", 0)
            .task("srv", 1)
            .stopped()
            .task("cli", 2)
            .build()
    }

    /// `sup`, `srv` and two of its clients, `cli` (2) more important than
    /// `other` (3); and the server's id.
    pub fn four_and_server() -> (Self, TaskId) {
        let h = Self::new(&[("sup", 0), ("srv", 1), ("cli", 2), ("other", 3)]);
        let srv = h.id(SRV);
        (h, srv)
    }

    /// The usual three and the server's id.
    pub fn three_and_server() -> (Self, TaskId) {
        let h = Self::three();
        let srv = h.id(SRV);
        (h, srv)
    }

    /// The usual three with `srv` in an open `recv` of `recv_len` bytes;
    /// returns the harness and the server's id.
    pub fn three_receiving(recv_len: usize) -> (Self, TaskId) {
        let (mut h, srv) = Self::three_and_server();
        h.recv(SRV, recv_len, 0);
        (h, srv)
    }

    /// [`Harness::three_receiving`], then `cli`'s `send` of `op`/`msg` (room
    /// for a `reply_cap`-byte reply) delivered to the server.
    pub fn three_in_call(recv_len: usize, op: u16, msg: &[u8], reply_cap: usize) -> (Self, TaskId) {
        let (mut h, srv) = Self::three_receiving(recv_len);
        h.send(CLI, srv, op, msg, reply_cap, &[]);
        (h, srv)
    }

    /// A task's kernel state.
    pub fn task(&self, t: usize) -> &Task {
        &self.sys.tasks[t]
    }

    /// A task's current id.
    pub fn id(&self, t: usize) -> TaskId {
        self.sys.tasks[t].id(t)
    }

    /// Result register `n` (`a0 + n`) of a task.
    pub fn ret(&self, t: usize, n: usize) -> usize {
        self.sys.tasks[t].save().arg(n)
    }

    /// The scheduling state of a healthy task (panics otherwise).
    pub fn sched(&self, t: usize) -> SchedState {
        match self.task(t).state() {
            TaskState::Healthy(s) => s,
            other => panic!("task {t} is not healthy: {other:?}"),
        }
    }

    /// Address `off` bytes into task `t`'s RAM.
    pub fn addr(&self, t: usize, off: usize) -> usize {
        self.mem[t].ram + off
    }

    /// Writes bytes into task `t`'s RAM at `off`.
    pub fn write(&mut self, t: usize, off: usize, bytes: &[u8]) {
        assert!(off + bytes.len() <= RAM_SIZE);
        // SAFETY: inside the task's RAM block in the arena, which this
        // harness alone uses.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.addr(t, off) as *mut u8, bytes.len())
        };
    }

    /// Reads `len` bytes of task `t`'s RAM at `off`.
    pub fn read(&self, t: usize, off: usize, len: usize) -> Vec<u8> {
        assert!(off + len <= RAM_SIZE);
        // SAFETY: as in `write`.
        unsafe { std::slice::from_raw_parts(self.addr(t, off) as *const u8, len).to_vec() }
    }

    /// Sets a task's saved pc (where its next `ecall` sits).
    pub fn set_pc(&mut self, t: usize, pc: usize) {
        self.sys.tasks[t].save_mut().set_pc(pc);
    }

    /// Makes syscall `num` from task `t` with `a0..a6 = args` (missing ones
    /// zero). The task must be runnable: only a running task can trap.
    pub fn syscall_n(&mut self, t: usize, num: usize, args: &[usize]) {
        self.stage(t, num, args);
        self.trap(t);
    }

    /// Task `t` traps with the syscall staged in its registers.
    fn trap(&mut self, t: usize) {
        syscalls::syscall(&mut self.sys, t);
        // Every syscall must leave the scheduler's bitmaps describing the
        // task table exactly (the fast path trusts them).
        self.sys.sched.assert_consistent(self.sys.tasks);
    }

    /// Puts syscall `num`'s arguments in task `t`'s registers, as its stub
    /// would just before the `ecall`, without trapping (tests that call a
    /// syscall handler directly).
    pub fn stage(&mut self, t: usize, num: usize, args: &[usize]) {
        // A throttled task runs (and traps) when nothing else can.
        assert!(
            self.task(t).is(SchedState::Runnable) || self.task(t).is(SchedState::Throttled),
            "test bug: task {t} makes a syscall while {:?}",
            self.task(t).state()
        );
        let s = self.sys.tasks[t].save_mut();
        for i in 0..7 {
            s.set_arg(i, args.get(i).copied().unwrap_or(0));
        }
        s.set_syscall_number(num);
    }

    /// As `syscall_n` with a known syscall number.
    pub fn syscall(&mut self, t: usize, num: Sysnum, args: &[usize]) {
        self.syscall_n(t, num as usize, args);
    }

    staged_syscalls! {
        /// `send` from `t`: the message is written at `MSG_OUT`, the reply
        /// buffer is `reply_cap` bytes at `REPLY_BUF`, the leases are
        /// written at `LEASE_TABLE`.
        send / stage_send(
            &mut self, t: usize,
            target: TaskId, op: u16, msg: &[u8], reply_cap: usize, leases: &[Lease]
        ) {
            self.write(t, MSG_OUT, msg);
            self.write(t, LEASE_TABLE, leases.as_bytes());
            let args = [
                target.0 as usize,
                self.addr(t, MSG_OUT),
                msg.len(),
                self.addr(t, REPLY_BUF),
                reply_cap,
                self.addr(t, LEASE_TABLE),
                abi::send_op_leases(op, leases.len()) as usize,
            ];
            self.stage(t, Sysnum::Send as usize, &args);
        }
        /// `reply_recv` from `t`: the reply written at `REPLY_OUT`, then an
        /// open receive into `buf_len` bytes at `RECV_BUF`.
        reply_recv / stage_reply_recv(
            &mut self, t: usize,
            peer: TaskId, code: u32, msg: &[u8], buf_len: usize, mask: u32
        ) {
            let [a0, a1, a2, a3] = self.reply_args(t, peer, code, msg);
            let args = [a0, a1, a2, a3, self.addr(t, RECV_BUF), buf_len, mask as usize];
            self.stage(t, Sysnum::ReplyRecv as usize, &args);
        }
    }

    /// Open `recv` into `buf_len` bytes at `RECV_BUF`.
    pub fn recv(&mut self, t: usize, buf_len: usize, mask: u32) {
        let args = [
            self.addr(t, RECV_BUF),
            buf_len,
            mask as usize,
            abi::RECV_OPEN as usize,
        ];
        self.syscall(t, Sysnum::Recv, &args);
    }

    /// Closed `recv` (from `from` only; `TaskId::KERNEL` for notifications only).
    pub fn recv_from(&mut self, t: usize, buf_len: usize, mask: u32, from: TaskId) {
        let args = [
            self.addr(t, RECV_BUF),
            buf_len,
            mask as usize,
            from.0 as usize,
        ];
        self.syscall(t, Sysnum::Recv, &args);
    }

    /// What the last `recv` of `t` returned.
    pub fn received(&self, t: usize) -> Received {
        Received {
            sender: TaskId(self.ret(t, 0) as u32),
            op: self.ret(t, 1),
            len: self.ret(t, 2),
            reply_cap: self.ret(t, 3),
            leases: self.ret(t, 4),
        }
    }

    /// `reply` from `t`, the message written at `REPLY_OUT`.
    pub fn reply(&mut self, t: usize, peer: TaskId, code: u32, msg: &[u8]) {
        let args = self.reply_args(t, peer, code, msg);
        self.syscall(t, Sysnum::Reply, &args);
    }

    /// Writes a reply at `t`'s `REPLY_OUT`; the arguments that send it.
    fn reply_args(&mut self, t: usize, peer: TaskId, code: u32, msg: &[u8]) -> [usize; 4] {
        self.write(t, REPLY_OUT, msg);
        [
            peer.0 as usize,
            code as usize,
            self.addr(t, REPLY_OUT),
            msg.len(),
        ]
    }

    borrow_syscalls! {
        /// `borrow_read` by `t` into its buffer at `DATA + local_off`;
        /// returns `(code, count)`.
        borrow_read => BorrowRead;
        /// `borrow_write` by `t` from its buffer at `DATA + local_off`;
        /// returns `(code, count)`.
        borrow_write => BorrowWrite;
    }

    /// `borrow_info` by `t` of lease `index` of `lender`'s call; returns
    /// `(code, attributes, length)`.
    pub fn borrow_info(&mut self, t: usize, lender: TaskId, index: usize) -> (u32, u32, usize) {
        self.syscall(t, Sysnum::BorrowInfo, &[lender.0 as usize, index]);
        (self.ret(t, 0) as u32, self.ret(t, 1) as u32, self.ret(t, 2))
    }

    /// A lease of `len` bytes of the client's RAM at `DATA + off`.
    pub fn client_lease(&self, attributes: u32, off: usize, len: u32) -> Lease {
        lease(attributes, self.addr(CLI, DATA + off), len)
    }

    /// `reply_fault` from `t` to `peer` with the raw reason number `reason`
    /// (one a `ReplyFaultReason` names, or not).
    pub fn reply_fault(&mut self, t: usize, peer: TaskId, reason: usize) {
        self.syscall(t, Sysnum::ReplyFault, &[peer.0 as usize, reason]);
    }

    /// `post` from `t`; returns the code.
    pub fn post(&mut self, t: usize, target: TaskId, bits: u32) -> u32 {
        self.syscall(t, Sysnum::Post, &[target.0 as usize, bits as usize]);
        self.ret(t, 0) as u32
    }

    /// `set_timer` by `t`.
    pub fn set_timer(&mut self, t: usize, deadline: Option<u64>, bits: u32) {
        let d = deadline.unwrap_or(0);
        let args = [
            deadline.is_some() as usize,
            d as u32 as usize,
            (d >> 32) as usize,
            bits as usize,
        ];
        self.syscall(t, Sysnum::SetTimer, &args);
    }

    /// `kipc` by `t` with an optional `u32` argument; returns the code and
    /// the reply bytes.
    /// `kipc` from `t` with a message of several `u32` words.
    pub fn kipc_words(&mut self, t: usize, op: Kipc, words: &[u32]) -> u32 {
        self.write(t, MSG_OUT, words.as_bytes());
        let args = [
            op as usize,
            self.addr(t, MSG_OUT),
            words.len() * 4,
            self.addr(t, REPLY_BUF),
            0,
        ];
        self.syscall(t, Sysnum::Kipc, &args);
        self.ret(t, 0) as u32
    }

    /// `GrantDevice` of device `slot` to `task` with interrupt `bits`, asked
    /// by `t`; the response code.
    pub fn grant(&mut self, t: usize, task: usize, slot: u32, bits: u32) -> u32 {
        self.kipc_words(t, Kipc::GrantDevice, &[task as u32, slot, bits])
    }

    /// `RevokeDevice` of device `slot` from `task`, asked by `t`; the code.
    pub fn revoke(&mut self, t: usize, task: usize, slot: u32) -> u32 {
        self.kipc_words(t, Kipc::RevokeDevice, &[task as u32, slot])
    }

    /// Kipc `op` from task `t` with message `msg`; the code and the reply.
    pub fn kipc_bytes(&mut self, t: usize, op: u32, msg: &[u8]) -> (u32, Vec<u8>) {
        self.write(t, MSG_OUT, msg);
        let args = [
            op as usize,
            self.addr(t, MSG_OUT),
            msg.len(),
            self.addr(t, REPLY_BUF),
            KIPC_REPLY_CAP,
        ];
        self.syscall(t, Sysnum::Kipc, &args);
        let n = self.ret(t, 1);
        (
            self.ret(t, 0) as u32,
            self.read(t, REPLY_BUF, n.min(KIPC_REPLY_CAP)),
        )
    }

    pub fn kipc(&mut self, t: usize, op: u32, arg: Option<u32>) -> (u32, Vec<u8>) {
        let msg_len = match arg {
            Some(a) => {
                self.write(t, MSG_OUT, &a.to_le_bytes());
                4
            }
            None => 0,
        };
        let args = [
            op as usize,
            self.addr(t, MSG_OUT),
            msg_len,
            self.addr(t, REPLY_BUF),
            KIPC_REPLY_CAP,
        ];
        self.syscall(t, Sysnum::Kipc, &args);
        let n = self.ret(t, 1);
        (
            self.ret(t, 0) as u32,
            self.read(t, REPLY_BUF, n.min(KIPC_REPLY_CAP)),
        )
    }

    /// The supervisor restarts task `t` (and the call must succeed).
    pub fn restart(&mut self, t: usize) {
        let (code, _) = self.kipc(SUP, Kipc::RestartTask as u32, Some(t as u32));
        assert_eq!(code, abi::SUCCESS);
    }

    /// The last fault of `t`.
    pub fn fault(&self, t: usize) -> FaultRecord {
        self.task(t).last_fault()
    }

    /// Asserts `cli`'s call of `op` (`len` bytes, room for a `reply_cap`-byte
    /// reply, no leases) reached `srv`: the client waits for the reply, the
    /// server runs with that `recv` result and `bytes` at `RECV_BUF`
    /// (`bytes` may run past the message, to show nothing more was written).
    #[track_caller]
    pub fn assert_delivered(
        &self,
        srv: usize,
        cli: usize,
        op: usize,
        len: usize,
        reply_cap: usize,
        bytes: &[u8],
    ) {
        assert_eq!(self.sched(cli), SchedState::InReply(self.id(srv)));
        assert_eq!(self.sched(srv), SchedState::Runnable);
        let want = Received {
            sender: self.id(cli),
            op,
            len,
            reply_cap,
            leases: 0,
        };
        assert_eq!(self.received(srv), want);
        assert_eq!(self.read(srv, RECV_BUF, bytes.len()), bytes);
    }

    /// Asserts `t` was released from its call with the DEAD code naming
    /// the generation its peer is on `now`.
    #[track_caller]
    pub fn assert_told_dead(&self, t: usize, now: Generation) {
        self.assert_answered(t, abi::dead_code(now));
    }

    /// Asserts `t` runs again with `code` as its syscall's result (`a0`).
    #[track_caller]
    pub fn assert_answered(&self, t: usize, code: u32) {
        assert_eq!(self.sched(t), SchedState::Runnable, "task {t} should run");
        assert_eq!(self.ret(t, 0) as u32, code, "task {t}");
    }

    /// Asserts `t` is faulted with a `SyscallUsage` fault of this error.
    pub fn assert_usage_fault(&self, t: usize, e: UsageError) {
        assert_eq!(
            self.task(t).state(),
            TaskState::Faulted,
            "task {t} should be faulted"
        );
        let f = self.fault(t);
        assert_eq!(f.kind(), FaultKind::SyscallUsage, "{f:?}");
        assert_eq!(UsageError::from_u32(f.detail), Some(e), "{f:?}");
    }

    /// The console output as text.
    pub fn console(&self) -> String {
        self.sys.machine.console_text()
    }
}

/// A lease of `len` bytes at `base` with `attributes` (`LEASE_*`).
pub fn lease(attributes: u32, base: usize, len: u32) -> Lease {
    Lease {
        attributes,
        base: base as u32,
        len,
    }
}

/// A zeroed block of memory no task owns (a "foreign" address).
pub fn foreign(size: usize) -> usize {
    arena::alloc(size)
}

/// A deterministic xorshift generator (so a failure reproduces): each call
/// gives a number below its argument.
pub fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}
