//! Build-time descriptions of the image: what `cargo xtask build` generates
//! from app.toml (`kconfig.rs`) and the kernel reads at boot.
//!
//! These are read-only facts about the image. Nothing here changes at run
//! time; the mutable state of a task lives in [`crate::task::Task`].

/// The region may be read.
pub const REGION_READ: u32 = 0b0001;
/// The region may be written.
pub const REGION_WRITE: u32 = 0b0010;
/// Code in the region may be executed.
pub const REGION_EXECUTE: u32 = 0b0100;
/// The region is a device window (MMIO): the kernel never copies message
/// bytes to or from it, and leases may not point into it.
pub const REGION_DEVICE: u32 = 0b1000;

/// The region is the task's DMA ring region (app.toml `queues`): memory
/// the kernel writes (descriptor tables, available rings) and the device
/// writes (used rings); the task may only read it (`dma`).
pub const REGION_DMA_RING: u32 = 1 << 4;
/// The region is a granted virtio-mmio window: memory protection leaves the
/// queue registers out of it, so that only the kernel tells the device
/// where memory is (`dma`, `arch::pmp`).
pub const REGION_VIRTIO: u32 = 1 << 5;

/// Most memory regions one task can hold at once: its text, its RAM and
/// device windows. Each takes one PMP entry while the task runs.
pub const MAX_TASK_REGIONS: usize = 8;

/// Protection entries a granted virtio window (`REGION_VIRTIO`) takes: its
/// own and three that keep the queue registers out (`arch::pmp`).
pub const VIRTIO_WINDOW_ENTRIES: usize = 4;

/// Protection entries `regions` take together; at most
/// [`MAX_TASK_REGIONS`] can be in force (the image builder and `kipc`'s
/// grant refuse more).
pub fn protection_entries(regions: &[RegionDesc]) -> usize {
    regions
        .iter()
        .map(|r| {
            if r.attributes & REGION_VIRTIO != 0 {
                VIRTIO_WINDOW_ENTRIES
            } else {
                1
            }
        })
        .sum()
}

/// A span of the address space a task may access. `base` is aligned to
/// `size`, which is a power of two of at least 8 bytes, so one NAPOT PMP
/// entry covers it exactly.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RegionDesc {
    /// First address.
    pub base: usize,
    /// Size in bytes (a power of two).
    pub size: usize,
    /// `REGION_*` bits.
    pub attributes: u32,
}

impl RegionDesc {
    /// One past the last address (saturating, so a region at the top of the
    /// address space does not wrap).
    pub const fn end(&self) -> usize {
        self.base.saturating_add(self.size)
    }

    /// Whether `[addr, addr + len)` lies wholly inside this region.
    /// `len == 0` is contained when `addr` is inside or at the end.
    pub fn contains(&self, addr: usize, len: usize) -> bool {
        match addr.checked_add(len) {
            Some(end) => addr >= self.base && end <= self.end(),
            None => false,
        }
    }
}

/// One task as the image was built.
#[derive(Copy, Clone, Debug)]
pub struct TaskDesc {
    /// Name from app.toml (at most 16 bytes are reported over kipc).
    pub name: &'static str,
    /// Entry point (the task ELF's `e_entry`).
    pub entry: usize,
    /// Initial stack pointer: the top of the stack, which sits at the bottom
    /// of the task's RAM region so that an overflow leaves the region and
    /// faults instead of corrupting data.
    pub initial_sp: usize,
    /// Lowest address of the stack (the base of the RAM region). A fault with
    /// the stack pointer below this is reported as a stack overflow.
    pub stack_base: usize,
    /// Priority: 0 is the most important.
    pub priority: u8,
    /// Started at boot (`start = true`), or left stopped for the supervisor.
    pub start: bool,
    /// The task's regions: text (read+execute), RAM (read+write) and any
    /// device windows app.toml gives it.
    pub regions: &'static [RegionDesc],
    /// Indices of the tasks this one may `send` to (its task slots).
    pub slots: &'static [u16],
    /// Indices of tasks beyond its slots that this one may `post` to
    /// (app.toml `posts`), e.g. a less important helper it wakes.
    pub posts: &'static [u16],
    /// Notification bits of this task that others may set with `post`
    /// (app.toml `postable`). Never an IRQ's bit; the supervisor's fault
    /// bit is never postable either. See `notify::check_post`.
    pub postable: u32,
    /// Whether its clients trust its verdicts (app.toml `trusted`; drivers
    /// are untrusted by default). A trusted server's `reply_fault` faults
    /// the client, as in Hubris; an untrusted server's reaches the client
    /// as a REJECTED response code, so a corrupted driver cannot kill the
    /// clients it serves.
    pub trusted: bool,
    /// Longest the task may run without waiting for work, in ms (app.toml
    /// `budget-ms`; drivers get a default), or `None` for no limit. Past it
    /// the kernel faults the task with `FaultKind::BudgetExceeded`.
    pub budget_ms: Option<u32>,
    /// The share of every CPU share period (`abi::CPU_SHARE_PERIOD_MS`)
    /// the task may run for, in percent (app.toml `cpu-share`; tasks with
    /// a budget split 80 % by default, see the README). Only a task with a
    /// budget is held to it (`share`); 100 holds it to nothing.
    pub cpu_share: u8,
}

impl TaskDesc {
    /// Whether task `index` is one of this task's slots (it may `send` to
    /// it). A plain loop over a handful of entries, cheaper on the IPC fast
    /// path than the library's chunked `contains`.
    #[inline(always)]
    pub fn has_slot(&self, index: usize) -> bool {
        lists(self.slots, index)
    }

    /// Whether this task may `post` to task `index` beyond its slots
    /// (app.toml `posts`).
    pub fn has_post(&self, index: usize) -> bool {
        lists(self.posts, index)
    }
}

/// Whether task `index` is in `list`: the plain loop of
/// [`TaskDesc::has_slot`].
#[inline(always)]
fn lists(list: &[u16], index: usize) -> bool {
    list.iter().any(|&s| usize::from(s) == index)
}

/// Routing of one PLIC interrupt source to a task's notification bits.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IrqDesc {
    /// PLIC source number.
    pub irq: u32,
    /// Index of the task that receives it.
    pub task: u16,
    /// Notification bits posted when it fires.
    pub bits: u32,
}
