//! Driver-side fault injection, for test images only.
//!
//! A driver built with its `fault-injection` feature answers its
//! interface's `inject(kind, arg)` op by committing the fault on itself,
//! here. The kinds that need the driver's own state (corrupting its
//! virtqueue) are returned to the driver to carry out. Everything else ends
//! or hangs the incarnation — which is the point: the tests check that the
//! kernel survives, the supervisor restarts the driver, and clients lose
//! nothing. [`evidence`] judges, from what the kernel recorded, whether an
//! injection really took effect.
//!
//! This crate must never be linked into an image that is not a test image,
//! and an injection that did not happen must never pass for one that did:
//! a fault that fails to fault answers `NotCommitted`.

#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod evidence;
pub mod plan;
pub mod point;
#[cfg(feature = "queue")]
pub mod serve;

include!(concat!(env!("OUT_DIR"), "/fault_inject_client.rs"));

abi::code_enum! {
    /// A fault a driver can be asked to commit (`inject`'s `kind`).
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    #[repr(u32)]
    pub enum DriverFault {
        /// `panic!`.
        Panic = 1,
        /// Store to address `arg`, in the kernel's RAM.
        StoreKernelRam = 2,
        /// Store to address `arg`, in another task's RAM.
        StoreOtherTaskRam = 3,
        /// Store to address `arg`, in a device window the driver was not granted.
        StoreUngrantedDevice = 4,
        /// Jump to address `arg`.
        WildJump = 5,
        /// Execute an illegal instruction.
        IllegalInstruction = 6,
        /// Recurse until the stack overflows.
        StackOverflow = 7,
        /// Spin forever without a syscall: the driver stops answering.
        InfiniteLoop = 8,
        /// Point the virtqueue's descriptors at wild addresses (driver applies).
        CorruptDescriptors = 9,
        /// Move the virtqueue's avail index far ahead (driver applies).
        BogusAvailIndex = 10,
    }
}

impl DriverFault {
    /// A short description for reports.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Panic => "panic",
            Self::StoreKernelRam => "store to kernel RAM",
            Self::StoreOtherTaskRam => "store to another task's RAM",
            Self::StoreUngrantedDevice => "store to an ungranted device",
            Self::WildJump => "wild jump",
            Self::IllegalInstruction => "illegal instruction",
            Self::StackOverflow => "stack overflow",
            Self::InfiniteLoop => "infinite loop",
            Self::CorruptDescriptors => "wild descriptor addresses",
            Self::BogusAvailIndex => "bogus avail index",
        }
    }

    /// True for the kinds the driver applies to its own virtqueue.
    pub const fn is_queue_corruption(self) -> bool {
        matches!(self, Self::CorruptDescriptors | Self::BogusAvailIndex)
    }
}

/// Recurses until the calling task's stack runs out (the kernel faults it
/// with `StackOverflow`); returns only if it somehow did not. Shared by the
/// drivers' `StackOverflow` kind and the kernel suite's assistant.
#[cfg(target_os = "none")]
pub fn overflow_stack() -> u32 {
    recurse(0)
}

#[cfg(target_os = "none")]
#[inline(never)]
fn recurse(depth: u32) -> u32 {
    // Unreachable in practice (the stack ends long before), but it gives the
    // recursion a base case so the compiler keeps it a real recursion.
    if depth == u32::MAX {
        return 0;
    }
    let frame = [depth; 64];
    // black_box keeps the frame and the recursion from being optimised away.
    core::hint::black_box(&frame);
    recurse(core::hint::black_box(depth + 1)).wrapping_add(frame[(depth % 64) as usize])
}

/// Commits `kind` (with `arg`) on the calling task. Returns for the
/// queue-corruption kinds, which the driver must apply itself, and for a
/// fault that did not happen (which would be a kernel or test bug: the
/// caller reports it rather than pretending).
#[cfg(target_os = "none")]
pub fn commit(kind: DriverFault, arg: u32) {
    match kind {
        DriverFault::Panic => panic!("fault injected: panic"),
        DriverFault::StoreKernelRam
        | DriverFault::StoreOtherTaskRam
        | DriverFault::StoreUngrantedDevice => {
            // SAFETY: deliberately unsound: a store the PMP must refuse, so
            // the kernel faults this task. That is the injected fault.
            unsafe { core::ptr::write_volatile(arg as usize as *mut u32, 0xdead_beef) };
        }
        DriverFault::WildJump => {
            // SAFETY: deliberately unsound: a jump to an address the task may
            // not execute; the fetch faults.
            let f: extern "C" fn() = unsafe { core::mem::transmute(arg as usize) };
            f();
        }
        DriverFault::IllegalInstruction => {
            // SAFETY: `unimp` is a defined illegal instruction: it faults.
            unsafe { core::arch::asm!("unimp") };
        }
        DriverFault::StackOverflow => {
            core::hint::black_box(overflow_stack());
        }
        DriverFault::InfiniteLoop => loop {
            core::hint::spin_loop();
        },
        DriverFault::CorruptDescriptors | DriverFault::BogusAvailIndex => {}
    }
}

/// Serves an `inject` request: arms an injection for a point of the
/// request path (`Ok(None)`: answer `Ok`, see [`point`]); commits every
/// other kind but the queue corruptions here (so, mostly, does not
/// return), and returns the queue corruption the driver must apply to its
/// own ring.
#[cfg(all(feature = "queue", target_os = "none"))]
pub fn serve(word: u32, arg: u32) -> Result<Option<virtio::queue::Corruption>, InjectError> {
    use virtio::queue::Corruption;
    let (kind, at) = point::decode(word).ok_or(InjectError::UnknownKind)?;
    if at != point::Point::Now {
        point::arm(kind, at, arg);
        return Ok(None);
    }
    Ok(Some(match kind {
        DriverFault::CorruptDescriptors => Corruption::WildDescriptorAddresses,
        DriverFault::BogusAvailIndex => Corruption::BogusAvailIndex,
        _ => {
            commit(kind, arg);
            // Only a fault that did not happen gets here (a store the PMP
            // let through would be a kernel bug): say so, so the test fails
            // instead of counting a restart it did not cause.
            return Err(InjectError::NotCommitted);
        }
    }))
}
