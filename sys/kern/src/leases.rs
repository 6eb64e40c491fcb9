//! Borrowing: a server reads or writes memory its caller lent with `send`.
//!
//! A lease is only good while the lender is blocked waiting for *this*
//! server's reply; the lease table and the lent memory are re-read and
//! re-checked against the lender's regions on every borrow. Errors here are
//! recoverable (the server gets a code): a server is not faulted because a
//! client's call went away or named a shorter lease than it hoped.

use abi::{
    TaskId, UsageError, BORROW_NOT_LENT, BORROW_NO_SUCH_LEASE, BORROW_OUT_OF_RANGE,
    BORROW_WRONG_ATTRIBUTES, LEASE_READ, LEASE_WRITE,
};

use crate::err::UserError;
use crate::ipc;
use crate::machine::Machine;
use crate::system::System;
use crate::task::SchedState;
use crate::umem::{self, USlice};

/// Finds the lender and its lease `index`, checking it is lent to `caller`.
///
/// Inline in its three callers (a driver's post of a lease, at every
/// zero-copy request, and the two borrows): out of line it saved seven
/// registers and gave its result back through memory, and the kernel's
/// code is 44 bytes smaller without the call.
#[inline(always)]
pub(crate) fn find_lease<M: Machine>(
    sys: &System<'_, M>,
    caller: usize,
    lender: TaskId,
    index: usize,
) -> Result<(usize, abi::Lease), UserError> {
    let l = lender.index();
    let me = sys.tasks[caller].id(caller);
    if l >= sys.tasks.len()
        || sys.tasks[l].id(l) != lender
        || !sys.tasks[l].is(SchedState::InReply(me))
    {
        return Err(UserError::Recoverable(BORROW_NOT_LENT));
    }
    let lease =
        ipc::lease(&sys.tasks[l], index).ok_or(UserError::Recoverable(BORROW_NO_SUCH_LEASE))?;
    Ok((l, lease))
}

/// `borrow_read` (`write == false`) and `borrow_write` (`write == true`).
pub fn borrow<M: Machine>(
    sys: &mut System<'_, M>,
    caller: usize,
    write: bool,
) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (lender, index, offset) = (TaskId::from_register(s.arg(0) as u32), s.arg(1), s.arg(2));
    let local = USlice::from_raw(s.arg(3), s.arg(4)).ok_or(UsageError::InvalidSlice)?;
    // The server's own buffer is its own responsibility.
    if write {
        umem::check_readable(&sys.tasks[caller], &local)?;
    } else {
        umem::check_writable(&sys.tasks[caller], &local)?;
    }

    let (l, lease) = find_lease(sys, caller, lender, index)?;
    let needed = if write { LEASE_WRITE } else { LEASE_READ };
    if lease.attributes & needed == 0 {
        return Err(UserError::Recoverable(BORROW_WRONG_ATTRIBUTES));
    }
    let whole = USlice::<u8>::from_raw(lease.base as usize, lease.len as usize)
        .ok_or(UserError::Recoverable(BORROW_OUT_OF_RANGE))?;
    let part = whole
        .subslice(offset, local.len())
        .ok_or(UserError::Recoverable(BORROW_OUT_OF_RANGE))?;
    // Checked at send; re-checked because a grant may have been revoked.
    if !ipc::lease_is_valid(&sys.tasks[l], &lease) {
        return Err(UserError::Recoverable(BORROW_NOT_LENT));
    }
    let (me, lender) = (&sys.tasks[caller], &sys.tasks[l]);
    let copied = if write {
        umem::safe_copy(me, &local, lender, &part)
    } else {
        umem::safe_copy(lender, &part, me, &local)
    };
    // Both sides were checked just above, so neither can lie here; if one
    // did, the server's own buffer is its fault, the lender's a lease that
    // is no longer lent.
    let n = copied.map_err(|f| {
        let mine = if write { f.src } else { f.dst };
        match mine {
            Some(bad) => bad.into(),
            None => UserError::Recoverable(BORROW_NOT_LENT),
        }
    })?;
    let s = sys.tasks[caller].save_mut();
    s.set_ret(0, abi::SUCCESS as usize);
    s.set_ret(1, n);
    Ok(())
}

/// `borrow_info`: attributes and length of a lease.
pub fn borrow_info<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (lender, index) = (TaskId::from_register(s.arg(0) as u32), s.arg(1));
    let (_, lease) = find_lease(sys, caller, lender, index)?;
    let s = sys.tasks[caller].save_mut();
    s.set_ret(0, abi::SUCCESS as usize);
    s.set_ret(1, lease.attributes as usize);
    s.set_ret(2, lease.len as usize);
    Ok(())
}
