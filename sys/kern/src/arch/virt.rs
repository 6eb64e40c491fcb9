//! The QEMU `virt` machine (RV32IMAC, M-mode kernel, U-mode tasks):
//! [`Machine`] on its registers and MMIO, the boot sequence and the panic
//! handler. Only built for the target.

use super::{clint, csr, plic, pmp, trap, uart};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::descs::{
    IrqDesc, RegionDesc, TaskDesc, REGION_DEVICE, REGION_READ, REGION_VIRTIO, REGION_WRITE,
};
use crate::machine::Machine;
use crate::task::Task;

/// QEMU `virt`'s SiFive test device: a write stops or resets the machine.
const FINISHER: usize = 0x0010_0000;

/// The QEMU `virt` machine.
pub struct Virt {
    /// The PMP.
    pmp: pmp::Pmp,
}

impl Virt {
    /// The machine as reset left it.
    pub const fn new() -> Self {
        Virt {
            pmp: pmp::Pmp::new(),
        }
    }
}

impl Machine for Virt {
    fn now(&self) -> u64 {
        clint::now()
    }

    fn set_timer_deadline(&mut self, deadline: Option<u64>) {
        clint::set_deadline(deadline);
    }

    fn console_write(&mut self, bytes: &[u8]) {
        uart::write(bytes);
    }

    fn irq_set_enabled(&mut self, irq: u32, enabled: bool) {
        plic::set_enabled(irq, enabled);
    }

    fn protect(&mut self, regions: &[RegionDesc]) {
        let mut cache = crate::task::ProtectionCache::default();
        self.protect_cached(regions, &mut cache);
    }

    #[inline(always)]
    fn protect_cached(&mut self, regions: &[RegionDesc], cache: &mut crate::task::ProtectionCache) {
        if !cache.valid {
            pmp::compile(regions, cache);
        }
        self.pmp.load(cache, cache.entries);
    }

    fn mmio_read32(&mut self, addr: usize) -> u32 {
        if !is_virtio_register(addr) {
            return 0;
        }
        // SAFETY: a word-aligned register of a virtio-mmio slot (checked
        // above): reading it has no effect on memory.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    }

    fn mmio_write32(&mut self, addr: usize, value: u32) {
        if is_virtio_register(addr) {
            // SAFETY: a word-aligned register of a virtio-mmio slot (checked
            // above); `dma` decides what is written (queue setup).
            unsafe { core::ptr::write_volatile(addr as *mut u32, value) };
        }
    }

    fn instret(&self) -> u32 {
        csr::read!("minstret") as u32
    }

    fn shutdown(&mut self, code: u32) {
        let value = if code == 0 {
            0x5555
        } else {
            (code << 16) | 0x3333
        };
        finisher_write(value);
    }

    fn overflow_kernel_stack(&mut self) {
        // Recurses until the guard stops it; the trap never returns here.
        core::hint::black_box(recurse(0));
    }

    fn reboot(&mut self) {
        // Only a supervisor fault reboots: keep its remains for a dump.
        wait_for_dump();
        finisher_write(0x7777);
    }

    fn device_slot(&self, slot: usize) -> Option<(RegionDesc, u32)> {
        // virtio-mmio slot n: a 4 KiB window at 0x1000_1000 + n * 0x1000,
        // PLIC source 1 + n (QEMU hw/riscv/virt.c).
        (slot < VIRTIO_SLOTS).then(|| {
            let window = RegionDesc {
                base: VIRTIO_BASE + slot * 0x1000,
                size: 0x1000,
                attributes: REGION_READ | REGION_WRITE | REGION_DEVICE | REGION_VIRTIO,
            };
            (window, 1 + slot as u32)
        })
    }
}

/// Set to non-zero by `cargo xtask` — through QEMU's gdbstub, while the
/// machine is stopped — once it has saved a post-mortem dump. Exported by
/// name so xtask can find it; nothing in the kernel ever writes it.
#[used]
#[no_mangle]
static VIREO_DUMP_TAKEN: AtomicU32 = AtomicU32::new(0);

/// How long a dying kernel waits for its dump when nobody takes one. The
/// machine stops (and this clock with it) as soon as xtask attaches, so
/// this only has to cover xtask noticing the last line — which on a loaded
/// host took more than 3 s now and then.
const DUMP_WAIT_MS: u64 = 10_000;

/// Called after the kernel's last console line (a panic, a supervisor
/// fault) and before the machine stops or resets: gives `cargo xtask`,
/// which watches the console, the time to capture RAM through the gdbstub.
/// Waits until the dump is taken or `DUMP_WAIT_MS` have passed, so a
/// machine with nobody watching still stops.
fn wait_for_dump() {
    let deadline = clint::now().saturating_add(DUMP_WAIT_MS * abi::TICKS_PER_MS);
    while VIREO_DUMP_TAKEN.load(Ordering::Relaxed) == 0 && clint::now() < deadline {
        core::hint::spin_loop();
    }
}

/// Number of virtio-mmio slots on QEMU virt.
const VIRTIO_SLOTS: usize = 8;

/// The first virtio-mmio slot's window (QEMU hw/riscv/virt.c).
const VIRTIO_BASE: usize = 0x1000_1000;

/// Whether `addr` is a word-aligned register of one of the virtio-mmio
/// slots: the only MMIO the portable kernel may ask for (`dma`).
fn is_virtio_register(addr: usize) -> bool {
    addr.is_multiple_of(4) && addr >= VIRTIO_BASE && addr < VIRTIO_BASE + VIRTIO_SLOTS * 0x1000
}

fn finisher_write(value: u32) {
    // SAFETY: FINISHER is the address of QEMU virt's test device, a 32-bit
    // register that only the kernel (M-mode) can reach; writing it stops or
    // resets the machine, which is the point.
    unsafe { core::ptr::write_volatile(FINISHER as *mut u32, value) };
    // The write takes effect at once on QEMU; spin in case it does not.
    loop {
        core::hint::spin_loop();
    }
}

extern "C" {
    static _kstack_guard: u8;
    static _kstack_bottom: u8;
}

/// The kernel stack guard (see `pmp`): the bytes between the bottom of
/// KRAM and the bottom of the kernel stack.
pub fn stack_guard() -> core::ops::Range<usize> {
    // Only the symbols' addresses are taken (no unsafe needed for that);
    // the memory behind them is never read.
    core::ptr::addr_of!(_kstack_guard) as usize..core::ptr::addr_of!(_kstack_bottom) as usize
}

#[inline(never)]
fn recurse(depth: u32) -> u32 {
    let mut frame = [0u8; 128];
    frame[(depth % 128) as usize] = depth as u8;
    core::hint::black_box(&mut frame);
    if depth == u32::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(u32::from(core::hint::black_box(frame)[0]))
}

/// The kernel binary's entry point: declares the image's task table, the
/// static `TASK_TABLE` (an array of tasks: the name and shape the dump
/// tool reads from DWARF), and `kernel_main`, which fills it from the task
/// descriptors and boots ([`boot`]). The one `unsafe` step — handing that
/// static to the kernel for good — is written here, in `arch`, rather than
/// in the binary.
#[macro_export]
macro_rules! kernel_main {
    ($descs:path, $irqs:path, $supervisor:path, $kernel_ram:path) => {
        const TASK_COUNT: usize = $descs.len();

        /// Storage of the task table; initialised once by `kernel_main`.
        static mut TASK_TABLE: [::core::mem::MaybeUninit<$crate::task::Task>; TASK_COUNT] =
            [const { ::core::mem::MaybeUninit::uninit() }; TASK_COUNT];

        /// Called by the arch `_start` once the stack is set and .bss
        /// cleared.
        #[export_name = "kernel_main"]
        extern "C" fn kernel_main() -> ! {
            // SAFETY: kernel_main runs once, on the only hart, before any
            // trap can occur, so this is the only reference to TASK_TABLE
            // ever made; the kernel keeps it for the life of the system.
            let slots = unsafe { &mut *::core::ptr::addr_of_mut!(TASK_TABLE) };
            $crate::arch::boot(slots, &$descs, &$irqs, $supervisor, &$kernel_ram)
        }
    };
}

/// Fills the task table `slots` from the image's task descriptors and
/// boots the system on it. Never returns.
pub fn boot<const N: usize>(
    slots: &'static mut [MaybeUninit<Task>; N],
    descs: &'static [TaskDesc; N],
    irqs: &'static [IrqDesc],
    supervisor: usize,
    kernel_ram: &RegionDesc,
) -> ! {
    for (slot, desc) in slots.iter_mut().zip(descs.iter()) {
        slot.write(Task::new(desc));
    }
    // SAFETY: every element was written just above; `MaybeUninit<Task>` and
    // `Task` have the same layout.
    let tasks: &'static mut [Task] =
        unsafe { core::slice::from_raw_parts_mut(slots.as_mut_ptr().cast::<Task>(), N) };
    start_kernel(tasks, irqs, supervisor, kernel_ram)
}

/// Boots the system: hardware set-up, banner, first task. Never returns.
pub fn start_kernel(
    tasks: &'static mut [Task],
    irqs: &'static [IrqDesc],
    supervisor: usize,
    kernel_ram: &RegionDesc,
) -> ! {
    csr::init();
    let guard = stack_guard();
    pmp::lock_guard(guard.start, guard.end - guard.start);
    plic::init(irqs);
    clint::set_deadline(None);
    let mut m = Virt::new();
    crate::console::Line::kernel(&mut m)
        .str("Vireo kernel ")
        .str(env!("CARGO_PKG_VERSION"))
        .str(" on qemu virt: ")
        .dec(tasks.len() as u32)
        .str(" tasks, kernel RAM ")
        .hex(kernel_ram.base as u32)
        .str("+")
        .hex(kernel_ram.size as u32)
        .end();
    trap::run(crate::system::System::new(tasks, irqs, supervisor, m))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // A kernel panic is a kernel bug, never a task's doing; say so loudly
    // and stop the machine with a failure code so tests notice.
    // Without `core::fmt` (see `console::Line`, which keeps a kilobyte of
    // formatting code out of the kernel): the message if it is plain text
    // (kernel panics are written so), and where.
    let mut m = Virt::new();
    let mut line = crate::console::Line::kernel(&mut m).str("KERNEL PANIC: ");
    if let Some(text) = info.message().as_str() {
        line = line.str(text);
    }
    if let Some(at) = info.location() {
        line = line.str(" at ").str(at.file()).str(":").dec(at.line());
    }
    line.end();
    stop_after_kernel_failure()
}

/// Ends the machine after a kernel failure has been reported on the
/// console: time for a post-mortem dump, then a failure exit.
pub(crate) fn stop_after_kernel_failure() -> ! {
    wait_for_dump();
    Virt::new().shutdown(0xdead);
    loop {
        core::hint::spin_loop();
    }
}
