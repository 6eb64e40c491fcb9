//! The kernel's whole state: the task table, the IRQ routing and the machine.
//!
//! Every syscall, interrupt and fault handler takes a `&mut System` and the
//! index of the task that trapped, and leaves the table consistent before it
//! returns; the scheduler then picks who runs next.

use crate::descs::IrqDesc;
use crate::machine::Machine;
use crate::sched::{MaybeTask, Scheduler};
use crate::table::TaskTable;
use crate::task::Task;

/// The kernel state, generic over the machine so host tests can drive it.
///
/// The field order is the layout (`repr(C)`): the task table and the
/// words every trap reads come first, within the 124 bytes a compressed
/// load or store reaches, and the large tables last. Rust's own order put
/// the table's pointer and length past 1 KB, behind the scheduler; this
/// order is 124 bytes of kernel code smaller with `Scheduler`'s.
#[repr(C)]
pub struct System<'a, M: Machine> {
    /// Every task, indexed by task index (out of range: a kernel bug, see
    /// [`TaskTable`]).
    pub tasks: &'a mut TaskTable,
    /// The task with a CPU budget that was dispatched last, or whose
    /// share pays for the server running ([`donated`](System::donated));
    /// none if the running task has no budget and serves no budgeted
    /// caller (see `budget`). In one word: every trap asks.
    pub dispatched: MaybeTask,
    /// The task running, if it is a server without a budget whose
    /// stretch `dispatched`'s share pays for (`dispatched` waits for its
    /// reply, directly or through servers calling on for it: see
    /// `budget`, "Server time"), rather than `dispatched` running itself.
    pub donated: MaybeTask,
    /// The task whose regions the memory protection holds now, if any.
    /// Reprogramming it costs a dozen CSR writes, so it is skipped when
    /// the same task runs again; anything that changes a task's regions
    /// must reset this to `None`.
    pub protection_for: MaybeTask,
    /// Index of the supervisor task.
    pub supervisor: usize,
    /// PLIC source → task notification routes.
    pub irqs: &'a [IrqDesc],
    /// Whether the test-only kipcs exist (`FaultTask`, `Shutdown`; and
    /// `Inject` with `fault_injection`): true only in kernels built for
    /// test images (feature `test-control`, which `cargo xtask` turns on
    /// exactly for app files with a `[test]` section). Host tests turn it
    /// off to check that a shipping kernel refuses them.
    pub test_control: bool,
    /// Whether `Kipc::Inject` exists (feature `fault-injection`).
    pub fault_injection: bool,
    /// When the running task's budget runs out, as programmed into the
    /// timer (possibly earlier: see `budget::dispatch`).
    pub budget_deadline: Option<u64>,
    /// No later than the moment the first throttled task is due to run
    /// again (`None`: no task is throttled). It may be early — a throttled
    /// task restarted or faulted is not throttled any more — and the timer
    /// interrupt it then causes simply finds nothing due and sets it
    /// right. Kept so that neither the timer's walk nor setting a timer
    /// looks at every task's share when nobody is throttled.
    pub next_release: Option<u64>,
    /// When `dispatched` was dispatched (ticks).
    pub dispatched_at: u64,
    /// When `dispatched`'s budget or share runs out, as reckoned at its
    /// dispatch, and `budget::HOST_DELAY_TICKS` more: the timer is armed
    /// no later than the first, so a trap that comes after the second was
    /// delayed by the host (see `budget::charged_until`).
    pub dispatched_until: u64,
    /// When `dispatched`'s budget or share runs out, as reckoned at its
    /// dispatch: what a trap past `dispatched_until` is charged up to.
    pub dispatched_expiry: u64,
    /// Who can run, who waits to send, and what the last choice was.
    /// Every change of a task's scheduling state goes through [`note`].
    ///
    /// [`note`]: System::note
    pub sched: Scheduler,
    /// The hardware (or a mock).
    pub machine: M,
    /// Interrupt routes of granted devices, one per grant, beside the
    /// image's static `irqs`.
    pub device_irqs: [Option<IrqDesc>; MAX_DEVICE_GRANTS],
}

/// Most device grants in force at once.
pub const MAX_DEVICE_GRANTS: usize = 8;

impl<'a, M: Machine> System<'a, M> {
    /// Builds the state and starts every task marked `start`.
    pub fn new(tasks: &'a mut [Task], irqs: &'a [IrqDesc], supervisor: usize, machine: M) -> Self {
        for t in tasks.iter_mut() {
            if t.desc().start {
                t.start();
            }
        }
        let mut sys = System {
            tasks: TaskTable::new(tasks),
            irqs,
            supervisor,
            machine,
            protection_for: MaybeTask::NONE,
            device_irqs: [None; MAX_DEVICE_GRANTS],
            sched: Scheduler::default(),
            test_control: cfg!(any(test, feature = "test-control")),
            fault_injection: cfg!(any(test, feature = "fault-injection")),
            dispatched: MaybeTask::NONE,
            donated: MaybeTask::NONE,
            dispatched_at: 0,
            dispatched_until: 0,
            dispatched_expiry: 0,
            budget_deadline: None,
            next_release: None,
        };
        crate::dma::clear_rings(sys.tasks.iter());
        for i in 0..sys.tasks.len() {
            sys.note(i);
        }
        // Every IRQ starts unmasked: its task has not yet had a chance to
        // ask, and masking is the task's job after each delivery.
        for i in 0..sys.irqs.len() {
            let irq = sys.irqs[i].irq;
            sys.machine.irq_set_enabled(irq, true);
        }
        sys
    }

    /// Every interrupt route in force: the image's, then the device
    /// grants'. Walked over the two tables as they are (no slot numbers
    /// to map back onto them): the interrupt path and `irq_control` both
    /// come here on every device request.
    #[inline(always)]
    pub fn routes(&self) -> impl Iterator<Item = &IrqDesc> + '_ {
        routes(self.irqs, &self.device_irqs)
    }

    /// Tells the scheduler that task `index`'s scheduling state may have
    /// changed. Every `set_sched`, fault, restart and wake-up is followed by
    /// one.
    #[inline]
    pub fn note(&mut self, index: usize) {
        self.sched.note(self.tasks, index);
    }

    /// Whether the test-only kipcs exist: [`test_control`](System::test_control)
    /// in a kernel built with them (host tests, feature `test-control`),
    /// and a constant `false` otherwise, so that a shipping kernel does not
    /// even carry their code.
    #[inline(always)]
    pub fn has_test_control(&self) -> bool {
        cfg!(any(test, feature = "test-control")) && self.test_control
    }

    /// Whether `Kipc::Inject` exists: as [`has_test_control`], for
    /// [`fault_injection`](System::fault_injection) (feature
    /// `fault-injection`).
    ///
    /// [`has_test_control`]: System::has_test_control
    #[inline(always)]
    pub fn has_fault_injection(&self) -> bool {
        cfg!(any(test, feature = "fault-injection"))
            && self.has_test_control()
            && self.fault_injection
    }

    /// The task's name, for logs.
    pub fn name(&self, index: usize) -> &'static str {
        self.tasks[index].desc().name
    }
}

/// [`System::routes`] over the tables themselves, for a caller that also
/// needs another field of the system (the machine) while it walks them.
#[inline(always)]
pub fn routes<'r>(
    irqs: &'r [IrqDesc],
    device_irqs: &'r [Option<IrqDesc>],
) -> impl Iterator<Item = &'r IrqDesc> + 'r {
    irqs.iter().chain(device_irqs.iter().flatten())
}
