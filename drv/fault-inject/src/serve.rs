//! The receive loop of a driver that answers `idl/fault-inject.idol`
//! beside its class interface: one piece for every virtio driver, so that
//! the routing (which ops are fault injection's) and the two ops' answers
//! are written once.
//!
//! Test images only, like the rest of the crate. It must never answer an
//! injection it did not carry out with `Ok` (see [`crate::serve`]).

#[cfg(target_os = "none")]
use core::sync::atomic::{AtomicU32, Ordering};

#[cfg(target_os = "none")]
use idol_runtime::{Ipc, NotificationHandler, RecvMessage, ReplyFaultReason, Served, TaskId};
use virtio::queue::Corruption;

#[cfg(target_os = "none")]
use crate::{FaultInjectOp, InjectError};

#[allow(dead_code)] // the generated serve_once: `serve_once` below is the loop
mod server {
    use crate::InjectError;
    include!(concat!(env!("OUT_DIR"), "/fault_inject_server.rs"));
}

use server::FAULT_INJECT_BUFFER_SIZE;
#[cfg(target_os = "none")]
use server::{fault_inject_dispatch, FaultInjectServer};

/// The first operation of `idl/fault-inject.idol`: ops from here on are
/// fault injection's, those below the driver's class interface's.
#[cfg(target_os = "none")]
const FIRST_OP: u32 = FaultInjectOp::Inject as u32;

/// What a driver does for fault injection with its own state (a driver
/// library implements it, so it is built on the host too).
pub trait Injectable {
    /// Breaks the device's virtqueue as `how` says (with `arg`); `false`
    /// if the driver has no live queue now.
    fn corrupt_queue(&mut self, how: Corruption, arg: u32) -> bool;

    /// Broken-queue recoveries of this incarnation (the `recoveries` op):
    /// a corruption is confirmed when this advances.
    fn recoveries(&self) -> u32;
}

/// The receive buffer a driver needs to take a request of either its class
/// interface (`class` bytes, its generated `*_BUFFER_SIZE`) or fault
/// injection.
pub const fn buffer_size(class: usize) -> usize {
    if FAULT_INJECT_BUFFER_SIZE > class {
        FAULT_INJECT_BUFFER_SIZE
    } else {
        class
    }
}

/// Class-interface calls still to refuse (the `refuse` op). One task, one
/// thread: the atomic is only a safe way to have a static.
#[cfg(target_os = "none")]
static REFUSING: AtomicU32 = AtomicU32::new(0);
/// The only class-interface op refused while `REFUSING` (0: every op).
#[cfg(target_os = "none")]
static REFUSING_OP: AtomicU32 = AtomicU32::new(0);

/// Serves `idl/fault-inject.idol` on a driver's behalf.
#[cfg(target_os = "none")]
struct Injector<'d, D>(&'d mut D);

#[cfg(target_os = "none")]
impl<D> NotificationHandler for Injector<'_, D> {}

#[cfg(target_os = "none")]
impl<D: Injectable> FaultInjectServer for Injector<'_, D> {
    fn inject(&mut self, _: TaskId, kind: u32, arg: u32) -> Served<(), InjectError> {
        match crate::serve(kind, arg)? {
            // Armed for a point of the request path: it fires there.
            None => Ok(()),
            Some(how) if self.0.corrupt_queue(how, arg) => Ok(()),
            Some(_) => Err(InjectError::NoQueue.into()),
        }
    }

    fn recoveries(&mut self, _: TaskId) -> Served<u32> {
        Ok(self.0.recoveries())
    }

    fn refuse(&mut self, _: TaskId, calls: u32, operation: u32) -> Served<(), InjectError> {
        REFUSING_OP.store(operation, Ordering::Relaxed);
        REFUSING.store(calls, Ordering::Relaxed);
        Ok(())
    }
}

/// One turn of a driver's loop: receives into `buffer` (waking for the
/// notification bits in `mask`; from `from` only, if set), answers a
/// fault-injection request itself, refuses a class-interface request while
/// told to (`refuse`), and hands everything else — its class interface's
/// requests and notifications — to `handle`.
#[cfg(target_os = "none")]
pub fn serve_once<D: Injectable>(
    driver: &mut D,
    ipc: &dyn Ipc,
    buffer: &mut [u8],
    mask: u32,
    from: Option<TaskId>,
    handle: impl FnOnce(&mut D, &[u8], &RecvMessage),
) {
    let msg = ipc.recv(buffer, mask, from);
    let refusing = REFUSING.load(Ordering::Relaxed);
    let only = REFUSING_OP.load(Ordering::Relaxed);
    if msg.sender != TaskId::KERNEL && msg.operation >= FIRST_OP {
        fault_inject_dispatch(&mut Injector(driver), ipc, buffer, &msg);
    } else if msg.sender != TaskId::KERNEL
        && refusing > 0
        && (only == 0 || only == u32::from(msg.operation))
    {
        REFUSING.store(refusing - 1, Ordering::Relaxed);
        ipc.reply_fault(msg.sender, ReplyFaultReason::BadMessageContents);
    } else {
        handle(driver, buffer, &msg);
    }
}

/// [`serve_once`] for a driver that is its class interface's server and
/// [`NotificationHandler`] (receives from anyone, with its own mask):
/// notifications go to the handler, the class's requests to `dispatch`
/// (its generated dispatch function).
#[cfg(target_os = "none")]
pub fn serve_class_once<D: Injectable + NotificationHandler>(
    driver: &mut D,
    ipc: &dyn Ipc,
    buffer: &mut [u8],
    dispatch: fn(&mut D, &dyn Ipc, &[u8], &RecvMessage),
) {
    let mask = driver.notification_mask();
    serve_once(driver, ipc, buffer, mask, None, |d, buffer, msg| {
        idol_runtime::server::route(ipc, d, buffer, msg, dispatch)
    });
}
