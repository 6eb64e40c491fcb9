//! Leases as a server sees them: typed, directed, bounds-checked.

use crate::error::{KernelCode, ServerError};
use crate::ipc::{Ipc, LeaseAt};
use abi::{ReplyFaultReason, TaskId};
use core::marker::PhantomData;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// The direction a lease grants, as a type: [`Read`], [`Write`] or
/// [`ReadWrite`].
pub trait LeaseDirection {
    /// The `abi::LEASE_*` bits a lease must carry to be claimed in this
    /// direction.
    const ATTRIBUTES: u32;
}

/// A lease the server may only read.
#[derive(Copy, Clone, Debug)]
pub struct Read;
/// A lease the server may only write.
#[derive(Copy, Clone, Debug)]
pub struct Write;
/// A lease the server may read and write.
#[derive(Copy, Clone, Debug)]
pub struct ReadWrite;

impl LeaseDirection for Read {
    const ATTRIBUTES: u32 = abi::LEASE_READ;
}
impl LeaseDirection for Write {
    const ATTRIBUTES: u32 = abi::LEASE_WRITE;
}
impl LeaseDirection for ReadWrite {
    // Two distinct bits: their sum is both.
    const ATTRIBUTES: u32 = abi::LEASE_READ + abi::LEASE_WRITE;
}

/// Directions that allow reading ([`Read`], [`ReadWrite`]).
pub trait Readable: LeaseDirection {}
impl Readable for Read {}
impl Readable for ReadWrite {}

/// Directions that allow writing ([`Write`], [`ReadWrite`]).
pub trait Writable: LeaseDirection {}
impl Writable for Write {}
impl Writable for ReadWrite {}

/// Why a lease access failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LeaseError {
    /// The elements asked for lie (partly) outside the lease. Checked before
    /// any syscall.
    OutOfRange,
    /// The kernel refused the borrow with this `abi::BORROW_*` code: usually
    /// the lender is no longer waiting on us (it died or was restarted).
    Refused(KernelCode),
}

/// A lease failure ends the request by faulting the client: either its
/// arguments pointed past its own lease, or it is gone and the fault is
/// ignored by the kernel.
impl<E> From<LeaseError> for ServerError<E> {
    fn from(_: LeaseError) -> Self {
        ServerError::Fault(ReplyFaultReason::BadLeases)
    }
}

/// Lease number `index` of a call, lent by `lender`, holding elements of
/// type `T` and usable in direction `D`.
///
/// Created by generated dispatch code only after `borrow_info` confirmed the
/// attributes and the length, so a server method can rely on its length
/// ([`Detached::len`]).
/// Every access is bounds-checked here first and then by the kernel again.
///
/// Which lease it is (its lender, index and length) is a [`Detached`], so
/// its accessors are reached through `Deref`.
pub struct Leased<'a, D, T> {
    ipc: &'a dyn Ipc,
    lease: Detached<D, T>,
}

impl<D, T> core::ops::Deref for Leased<'_, D, T> {
    type Target = Detached<D, T>;

    fn deref(&self) -> &Detached<D, T> {
        &self.lease
    }
}

impl<'a, D: LeaseDirection, T> Leased<'a, D, T> {
    /// Claims lease `index` of `lender`'s call: checks it grants `D`
    /// (else `BadLeaseAttributes`), that its byte length is a whole number of
    /// `T`s and at most `max_len` of them (else `BadLeases`). The reasons are
    /// what dispatch answers the client with.
    pub fn claim(
        ipc: &'a dyn Ipc,
        lender: TaskId,
        index: usize,
        max_len: Option<usize>,
    ) -> Result<Self, ReplyFaultReason> {
        Self::claim_described(ipc, lender, index, max_len, None)
    }

    /// [`claim`](Self::claim) with the attributes and byte length `recv`
    /// described the lease with at delivery
    /// ([`RecvMessage::described_lease`](crate::RecvMessage::described_lease)),
    /// which spares the `borrow_info` syscall; `None` asks the kernel. Every
    /// access is checked by the kernel against the lease itself either way.
    pub fn claim_described(
        ipc: &'a dyn Ipc,
        lender: TaskId,
        index: usize,
        max_len: Option<usize>,
        described: Option<(u32, u32)>,
    ) -> Result<Self, ReplyFaultReason> {
        let info = match described {
            Some((attributes, len)) => crate::ipc::LeaseInfo {
                attributes,
                len: len as usize,
            },
            None => ipc
                .borrow_info(lender, index)
                .map_err(|_| ReplyFaultReason::BadLeases)?,
        };
        if info.attributes & D::ATTRIBUTES != D::ATTRIBUTES {
            return Err(ReplyFaultReason::BadLeaseAttributes);
        }
        let size = core::mem::size_of::<T>();
        if size == 0 || info.len % size != 0 {
            return Err(ReplyFaultReason::BadLeases);
        }
        let len = info.len / size;
        if max_len.is_some_and(|max| len > max) {
            return Err(ReplyFaultReason::BadLeases);
        }
        Ok(Leased {
            ipc,
            lease: Detached {
                lender,
                index,
                len,
                _types: PhantomData,
            },
        })
    }

    /// Byte offset of elements `start..start + count`, if inside the lease.
    fn byte_range(&self, start: usize, count: usize) -> Result<usize, LeaseError> {
        match start.checked_add(count) {
            // `len * size_of::<T>()` is the lease's byte length, so this
            // product cannot overflow once `start <= len`.
            Some(end) if end <= self.lease.len => Ok(start * core::mem::size_of::<T>()),
            _ => Err(LeaseError::OutOfRange),
        }
    }

    /// One borrow of `count` elements from element `start` on: `copy` gets the
    /// lender, the lease index and the byte offset, and says how many bytes
    /// it copied. A short copy (the lender's lease shrank under us) is
    /// refused rather than handed back as a partial value.
    fn borrow(
        &self,
        start: usize,
        count: usize,
        copy: impl FnOnce(TaskId, usize, usize) -> Result<usize, u32>,
    ) -> Result<(), LeaseError> {
        let offset = self.byte_range(start, count)?;
        // `count` elements fit in the lease, so this cannot overflow.
        let len = count * core::mem::size_of::<T>();
        match copy(self.lease.lender, self.lease.index, offset) {
            Ok(n) if n == len => Ok(()),
            Ok(_) => Err(LeaseError::Refused(KernelCode(abi::BORROW_OUT_OF_RANGE))),
            Err(code) => Err(LeaseError::Refused(KernelCode(code))),
        }
    }
}

impl<D: LeaseDirection, T> Leased<'_, D, T> {
    /// The lease's index in the call (for a DMA gate that posts it to a
    /// device: zero-copy).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Lets go of the syscall seam and keeps only which lease this is, for
    /// a deferred call (see [`Deferred`](crate::Deferred)): the server
    /// stores the result with the caller and [`Detached::attach`]es it again
    /// when it completes the call. The lease stays valid exactly as long as
    /// the lender waits for our reply.
    pub fn detach(self) -> Detached<D, T> {
        self.lease
    }
}

/// A lease claimed by dispatch and kept by a server across a deferred call,
/// without a borrow of the [`Ipc`]: made by [`Leased::detach`], used again
/// through [`Detached::attach`]. Every access is checked again then, so a
/// lender that died (or was answered) meanwhile gives a [`LeaseError`],
/// never a wrong access.
pub struct Detached<D, T> {
    lender: TaskId,
    index: usize,
    len: usize,
    _types: PhantomData<(D, fn() -> T)>,
}

impl<D, T> Detached<D, T> {
    /// Number of `T` elements in the lease, as checked at dispatch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the lease holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The task that lent it.
    pub fn lender(&self) -> TaskId {
        self.lender
    }

    /// The lease again, accessed through `ipc`.
    pub fn attach(self, ipc: &dyn Ipc) -> Leased<'_, D, T> {
        Leased { ipc, lease: self }
    }
}

impl<D, T> core::fmt::Debug for Detached<D, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Detached")
            .field("lender", &self.lender)
            .field("index", &self.index)
            .field("len", &self.len)
            .finish()
    }
}

impl<D: Readable, T: FromBytes + IntoBytes> Leased<'_, D, T> {
    /// Reads element `index`.
    pub fn read_at(&self, index: usize) -> Result<T, LeaseError> {
        let mut value = T::new_zeroed();
        self.read_range(index, core::slice::from_mut(&mut value))?;
        Ok(value)
    }

    /// Reads elements `start..start + dest.len()` into `dest`.
    pub fn read_range(&self, start: usize, dest: &mut [T]) -> Result<(), LeaseError> {
        let count = dest.len();
        let bytes = dest.as_mut_bytes();
        self.borrow(start, count, |lender, index, offset| {
            self.ipc.borrow_read(
                LeaseAt {
                    lender,
                    index,
                    offset,
                },
                bytes,
            )
        })
    }
}

impl<D: Writable, T: IntoBytes + Immutable> Leased<'_, D, T> {
    /// Writes element `index`.
    pub fn write_at(&self, index: usize, value: T) -> Result<(), LeaseError> {
        self.write_range(index, core::slice::from_ref(&value))
    }

    /// Writes `src` to elements `start..start + src.len()`.
    pub fn write_range(&self, start: usize, src: &[T]) -> Result<(), LeaseError> {
        let bytes = src.as_bytes();
        self.borrow(start, src.len(), |lender, index, offset| {
            self.ipc.borrow_write(
                LeaseAt {
                    lender,
                    index,
                    offset,
                },
                bytes,
            )
        })
    }
}

impl<D, T> core::fmt::Debug for Leased<'_, D, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Leased").field(&self.lease).finish()
    }
}

#[cfg(test)]
mod tests;
