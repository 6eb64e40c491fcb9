//! Typed syscall stubs. Each is a thin, checked wrapper over one `ecall`.

use abi::{Lease, LeaseAt, ReplyFaultReason, Sysnum, TaskId, LEASE_READ, LEASE_WRITE, SUCCESS};

use crate::raw::syscall;

/// Sends `operation` with `outgoing` to `target` and waits for the reply,
/// which lands in `incoming`. Returns the response code and the reply length.
/// A DEAD code (`abi::dead_generation(code).is_some()`) means the target
/// died before or during the call.
pub fn sys_send(
    target: TaskId,
    operation: u16,
    outgoing: &[u8],
    incoming: &mut [u8],
    leases: &[Lease],
) -> (u32, usize) {
    // SAFETY: all buffers are borrowed for the duration of the call;
    // `incoming` is exclusively ours to be written.
    let r = unsafe {
        syscall(
            Sysnum::Send,
            [
                target.0 as usize,
                outgoing.as_ptr() as usize,
                outgoing.len(),
                incoming.as_mut_ptr() as usize,
                incoming.len(),
                leases.as_ptr() as usize,
                abi::send_op_leases(operation, leases.len()) as usize,
            ],
        )
    };
    (r[0] as u32, r[1])
}

pub use abi::RecvMessage;

/// Waits for a message (from anyone, or only `from`) or for one of the
/// notification bits in `notification_mask`. `from = Some(TaskId::KERNEL)`
/// waits for notifications only. A receive from one task that is dead gives
/// a notification-shaped result with no bits; use [`sys_recv_closed`] to
/// learn the DEAD code instead.
pub fn sys_recv(buffer: &mut [u8], notification_mask: u32, from: Option<TaskId>) -> RecvMessage {
    let mut m = raw_recv(buffer, notification_mask, from);
    if refusal(&m).is_some() {
        m = NOTHING;
    }
    m
}

/// What [`sys_recv`] returns for a refused receive: notifications, none.
const NOTHING: RecvMessage = RecvMessage {
    sender: TaskId::KERNEL,
    operation: 0,
    message_len: 0,
    response_capacity: 0,
    lease_count: 0,
    first_lease: 0,
};

/// Receives from `from` only (or a notification in `notification_mask`).
/// `Err` carries the DEAD code when `from` is dead or dies while we wait.
pub fn sys_recv_closed(
    buffer: &mut [u8],
    notification_mask: u32,
    from: TaskId,
) -> Result<RecvMessage, u32> {
    recv_result(buffer, notification_mask, Some(from))
}

/// [`raw_recv`] with a refusal as `Err`.
#[inline(never)]
fn recv_result(
    buffer: &mut [u8],
    notification_mask: u32,
    from: Option<TaskId>,
) -> Result<RecvMessage, u32> {
    let m = raw_recv(buffer, notification_mask, from);
    match refusal(&m) {
        Some(code) => Err(code),
        None => Ok(m),
    }
}

/// The kernel's response code, if `m` is a refusal rather than something
/// received. [`sys_reply_recv`] returns a refused reply so, as a message
/// whose sender is the code (every code is at or above
/// [`abi::KERNEL_CODE_BASE`], no task id is), and not as a `Result`: a
/// received message is six words, and a `Result` of it would be copied out
/// on every receive.
pub fn refusal(m: &RecvMessage) -> Option<u32> {
    (m.sender.0 >= abi::KERNEL_CODE_BASE).then_some(m.sender.0)
}

/// Receives; a trace reader's [`abi::RINGBUF_OP`] is answered here and
/// the receive goes on, so no task's own loop ever sees one. A refusal is
/// returned as [`refusal`] describes. Inlined, so that a receive builds
/// its message where the caller keeps it (a call would return it through
/// memory, and the caller copy it out).
#[inline(always)]
fn raw_recv(buffer: &mut [u8], notification_mask: u32, from: Option<TaskId>) -> RecvMessage {
    loop {
        let m = raw_recv_once(buffer, notification_mask, from);
        if m.sender == TaskId::KERNEL
            || m.operation != u32::from(abi::RINGBUF_OP)
            || refusal(&m).is_some()
        {
            return m;
        }
        crate::traces::answer(&m);
    }
}

#[inline(always)]
fn raw_recv_once(buffer: &mut [u8], notification_mask: u32, from: Option<TaskId>) -> RecvMessage {
    let from = from.map(|t| t.0).unwrap_or(abi::RECV_OPEN) as usize;
    // SAFETY: `buffer` is exclusively ours to be written.
    let r = unsafe {
        syscall(
            Sysnum::Recv,
            [
                buffer.as_mut_ptr() as usize,
                buffer.len(),
                notification_mask as usize,
                from,
                0,
                0,
                0,
            ],
        )
    };
    received(&r)
}

/// What a `recv` (or `reply_recv`) returned: a message, notifications, or
/// (`r[0]` a kernel code) a refusal, see [`refusal`].
#[inline(always)]
fn received(r: &crate::raw::Regs) -> RecvMessage {
    RecvMessage {
        sender: TaskId(r[0] as u32),
        operation: r[1] as u32,
        message_len: r[2],
        response_capacity: r[3],
        lease_count: r[4],
        // Only a message with leases sets `a5` (else it is what we passed).
        first_lease: if r[4] > 0 { r[5] as u32 } else { 0 },
    }
}

/// Waits only for notifications in `mask`; returns the bits that fired.
///
/// No message can arrive here, so no trace request is looked for: a task
/// that only ever waits for notifications (idle) links no trace code.
pub fn sys_recv_notification(mask: u32) -> u32 {
    let m = raw_recv_once(&mut [], mask, Some(TaskId::KERNEL));
    if refusal(&m).is_some() {
        0
    } else {
        m.operation
    }
}

/// Replies to a caller blocked on us.
pub fn sys_reply(peer: TaskId, code: u32, message: &[u8]) {
    // SAFETY: the kernel only reads `message`.
    unsafe {
        syscall(
            Sysnum::Reply,
            [
                peer.0 as usize,
                code as usize,
                message.as_ptr() as usize,
                message.len(),
                0,
                0,
                0,
            ],
        )
    };
}

/// Replies to `peer` (as [`sys_reply`]) and then waits for the next message
/// from anyone or a notification in `notification_mask` (as [`sys_recv`]
/// with `from = None`), in one syscall: a server's loop costs one trap per
/// request instead of two.
///
/// The kernel may refuse the reply (`DMA_PINNED`: the peer's lease is
/// still posted to this task's device); then nothing was replied or
/// received, and the result is that code as [`refusal`] describes. See
/// [`sys_reply_then_recv`] for a server that drops such a reply.
pub fn sys_reply_recv(
    peer: TaskId,
    code: u32,
    message: &[u8],
    buffer: &mut [u8],
    notification_mask: u32,
) -> RecvMessage {
    let m = raw_reply_recv(peer, code, message, buffer, notification_mask);
    if m.sender == TaskId::KERNEL || m.operation != u32::from(abi::RINGBUF_OP) {
        return m;
    }
    // Rarely here: a refusal whose `a1` (our reply code) happens to be
    // RINGBUF_OP is still a refusal.
    if refusal(&m).is_some() {
        return m;
    }
    answer_trace_then_recv(&m, buffer, notification_mask)
}

/// As [`sys_reply_recv`], except that a refused reply is dropped, as a
/// refused [`sys_reply`] is, and the receive made all the same: the result
/// is always a message or notifications.
///
/// Inlined into the caller's loop: the common result is built where the
/// caller keeps it, and both rare ones (a refusal, a trace reader's
/// request) end in a receive that writes it there too.
#[inline(always)]
pub fn sys_reply_then_recv(
    peer: TaskId,
    code: u32,
    message: &[u8],
    buffer: &mut [u8],
    notification_mask: u32,
) -> RecvMessage {
    let m = raw_reply_recv(peer, code, message, buffer, notification_mask);
    if refusal(&m).is_some() {
        return sys_recv(buffer, notification_mask, None);
    }
    if m.sender != TaskId::KERNEL && m.operation == u32::from(abi::RINGBUF_OP) {
        return answer_trace_then_recv(&m, buffer, notification_mask);
    }
    m
}

/// The `reply_recv` syscall, its result as it came.
#[inline(always)]
fn raw_reply_recv(
    peer: TaskId,
    code: u32,
    message: &[u8],
    buffer: &mut [u8],
    notification_mask: u32,
) -> RecvMessage {
    // SAFETY: the kernel only reads `message`; `buffer` is exclusively
    // ours to be written.
    let r = unsafe {
        syscall(
            Sysnum::ReplyRecv,
            [
                peer.0 as usize,
                code as usize,
                message.as_ptr() as usize,
                message.len(),
                buffer.as_mut_ptr() as usize,
                buffer.len(),
                notification_mask as usize,
            ],
        )
    };
    received(&r)
}

/// Answers a trace reader's request, as [`sys_recv`] does, and waits on
/// for the task's own next message.
///
/// The receive goes through [`recv_result`] (out of line, its result in
/// memory of its own, read back into registers): a loop around
/// `sys_reply_recv` with the common case inlined (the null round trip's
/// server) then keeps its message in registers, where a receive writing
/// the loop's own message would have it kept in memory.
#[inline(always)]
fn answer_trace_then_recv(m: &RecvMessage, buffer: &mut [u8], mask: u32) -> RecvMessage {
    crate::traces::answer(m);
    recv_result(buffer, mask, None).unwrap_or(NOTHING)
}

/// Bench kernels only (`bench-probes`): resets the kernel's instruction
/// probes (`out` = `None`) or reads them into `out`, in [`abi::Probe`]
/// order. Any other kernel faults the caller (an unknown syscall).
pub fn sys_bench_probes(out: Option<&mut [u32; abi::PROBES]>) {
    let (reset, base, len) = match out {
        None => (1, 0, 0),
        Some(o) => (0, o.as_mut_ptr() as usize, core::mem::size_of_val(o)),
    };
    // SAFETY: the kernel writes at most `len` bytes of `out`, which is ours.
    unsafe { syscall(Sysnum::BenchProbes, [reset, base, len, 0, 0, 0, 0]) };
}

/// Rejects a caller's malformed message: the kernel faults the caller.
pub fn sys_reply_fault(peer: TaskId, reason: ReplyFaultReason) {
    // SAFETY: no memory is passed.
    unsafe {
        syscall(
            Sysnum::ReplyFault,
            [peer.0 as usize, reason as usize, 0, 0, 0, 0, 0],
        )
    };
}

fn code_result(r: &crate::raw::Regs) -> Result<usize, u32> {
    if r[0] as u32 == SUCCESS {
        Ok(r[1])
    } else {
        Err(r[0] as u32)
    }
}

/// Copies from the lease at `at` into `dest`. Returns the bytes copied, or
/// a `BORROW_*` code.
pub fn sys_borrow_read(at: LeaseAt, dest: &mut [u8]) -> Result<usize, u32> {
    // SAFETY: `dest` is exclusively ours to be written.
    unsafe {
        borrow(
            Sysnum::BorrowRead,
            at,
            dest.as_mut_ptr() as usize,
            dest.len(),
        )
    }
}

/// Copies `src` into the lease at `at`. Returns the bytes copied, or a
/// `BORROW_*` code.
pub fn sys_borrow_write(at: LeaseAt, src: &[u8]) -> Result<usize, u32> {
    // SAFETY: the kernel only reads `src`.
    unsafe { borrow(Sysnum::BorrowWrite, at, src.as_ptr() as usize, src.len()) }
}

/// `borrow_read` or `borrow_write` of the lease at `at`, with our buffer at
/// `base`, `len` bytes long.
///
/// # Safety
///
/// The buffer must be ours to be accessed by the kernel the way `number`
/// does (written for `BorrowRead`, read for `BorrowWrite`).
unsafe fn borrow(number: Sysnum, at: LeaseAt, base: usize, len: usize) -> Result<usize, u32> {
    let regs = [at.lender.0 as usize, at.index, at.offset, base, len, 0, 0];
    // SAFETY: the caller's promise.
    let r = unsafe { syscall(number, regs) };
    code_result(&r)
}

/// Attributes and length of a lease.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LeaseInfo {
    /// `LEASE_READ` / `LEASE_WRITE` bits.
    pub attributes: u32,
    /// Length in bytes.
    pub len: usize,
}

/// Describes lease `index` of `lender`'s call.
pub fn sys_borrow_info(lender: TaskId, index: usize) -> Result<LeaseInfo, u32> {
    // SAFETY: no memory is passed.
    let r = unsafe {
        syscall(
            Sysnum::BorrowInfo,
            [lender.0 as usize, index, 0, 0, 0, 0, 0],
        )
    };
    if r[0] as u32 == SUCCESS {
        Ok(LeaseInfo {
            attributes: r[1] as u32,
            len: r[2],
        })
    } else {
        Err(r[0] as u32)
    }
}

/// The same task at its current generation.
pub fn sys_refresh_task_id(id: TaskId) -> TaskId {
    // SAFETY: no memory is passed.
    let r = unsafe { syscall(Sysnum::RefreshTaskId, [id.0 as usize, 0, 0, 0, 0, 0, 0]) };
    TaskId(r[0] as u32)
}

/// Arms the timer to post `bits` at `deadline` (ticks), or disarms it.
pub fn sys_set_timer(deadline: Option<u64>, bits: u32) {
    let (on, d) = match deadline {
        Some(d) => (1, d),
        None => (0, 0),
    };
    // SAFETY: no memory is passed.
    unsafe {
        syscall(
            Sysnum::SetTimer,
            [
                on,
                d as u32 as usize,
                (d >> 32) as usize,
                bits as usize,
                0,
                0,
                0,
            ],
        )
    };
}

/// The timer as the kernel sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TimerState {
    /// Now, in ticks (`abi::TICKS_PER_MS` per ms).
    pub now: u64,
    /// The armed deadline and its bits, if any.
    pub deadline: Option<(u64, u32)>,
}

/// Reads the time and the armed deadline.
pub fn sys_get_timer() -> TimerState {
    // SAFETY: no memory is passed.
    let r = unsafe { syscall(Sysnum::GetTimer, [0; 7]) };
    let now = (r[0] as u32 as u64) | ((r[1] as u32 as u64) << 32);
    let deadline = (r[2] as u32 as u64) | ((r[3] as u32 as u64) << 32);
    TimerState {
        now,
        deadline: (r[4] != 0).then_some((deadline, r[5] as u32)),
    }
}

/// Sleeps for `ms` milliseconds using notification `bit`.
pub fn sleep_ms(ms: u64, bit: u32) {
    let deadline = sys_get_timer().now + ms * abi::TICKS_PER_MS;
    sys_set_timer(Some(deadline), bit);
    while sys_recv_notification(bit) & bit == 0 {}
}

/// Posts notification `bits` to `target`. Returns a DEAD code if the target
/// is not that incarnation any more.
pub fn sys_post(target: TaskId, bits: u32) -> Result<(), u32> {
    // SAFETY: no memory is passed.
    let r = unsafe {
        syscall(
            Sysnum::Post,
            [target.0 as usize, bits as usize, 0, 0, 0, 0, 0],
        )
    };
    code_result(&r).map(|_| ())
}

/// Unmasks (or masks) the interrupts routed to our notification `bits`.
pub fn sys_irq_control(bits: u32, enable: bool) {
    // SAFETY: no memory is passed.
    unsafe {
        syscall(
            Sysnum::IrqControl,
            [bits as usize, enable as usize, 0, 0, 0, 0, 0],
        )
    };
}

/// Writes text to the console through the kernel.
pub fn sys_log(text: &[u8]) {
    // SAFETY: the kernel only reads `text`.
    unsafe {
        syscall(
            Sysnum::Log,
            [text.as_ptr() as usize, text.len(), 0, 0, 0, 0, 0],
        )
    };
}

/// Ends this incarnation with a panic carrying `message`.
pub fn sys_panic(message: &[u8]) -> ! {
    // SAFETY: the kernel only reads `message`; it never returns here.
    unsafe {
        syscall(
            Sysnum::Panic,
            [message.as_ptr() as usize, message.len(), 0, 0, 0, 0, 0],
        )
    };
    // The kernel faulted us; should it ever return, do not continue.
    loop {
        core::hint::spin_loop();
    }
}

/// A lease lending `buf` for reading.
pub fn lease_read(buf: &[u8]) -> Lease {
    Lease {
        attributes: LEASE_READ,
        base: buf.as_ptr() as usize as u32,
        len: buf.len() as u32,
    }
}

/// A lease lending `buf` for writing (and reading).
pub fn lease_write(buf: &mut [u8]) -> Lease {
    Lease {
        attributes: LEASE_READ | LEASE_WRITE,
        base: buf.as_mut_ptr() as usize as u32,
        len: buf.len() as u32,
    }
}

/// A lease lending `buf` for writing only.
pub fn lease_write_only(buf: &mut [u8]) -> Lease {
    Lease {
        attributes: LEASE_WRITE,
        base: buf.as_mut_ptr() as usize as u32,
        len: buf.len() as u32,
    }
}

/// Sets up queue `queue` of this driver's granted virtio device in its ring
/// region, at most `max` entries (`abi::DmaOp::Setup`). Returns the ring's
/// address (legacy layout, read-only to the task) and the size the kernel
/// chose, or a `DMA_*` code.
pub fn sys_dma_setup(queue: u16, max: u16) -> Result<(usize, u16), u32> {
    // SAFETY: the kernel writes only its own ring memory and the device's
    // queue registers; nothing of ours.
    let r = unsafe {
        syscall(
            Sysnum::Dma,
            [
                abi::DmaOp::Setup as usize,
                usize::from(queue),
                usize::from(max),
                0,
                0,
                0,
                0,
            ],
        )
    };
    if r[0] as u32 == SUCCESS {
        Ok((r[1], r[2] as u16))
    } else {
        Err(r[0] as u32)
    }
}

/// Asks the kernel to write bank `bank` (0: feature bits 0..32, 1: bits
/// 32..64) of the features this driver accepts to its device (the feature
/// registers are out of its window): `Ok` with the bits written, which are
/// `value` less what `abi::DMA_FEATURES_ALLOWED` keeps back; `Err` with a
/// `DMA_*` code.
pub fn sys_dma_features(bank: u32, value: u32) -> Result<u32, u32> {
    // SAFETY: the kernel writes only its device's registers; nothing of ours.
    let r = unsafe {
        syscall(
            Sysnum::Dma,
            [
                abi::DmaOp::Features as usize,
                bank as usize,
                value as usize,
                0,
                0,
                0,
                0,
            ],
        )
    };
    if r[0] as u32 == SUCCESS {
        Ok(r[1] as u32)
    } else {
        Err(r[0] as u32)
    }
}

/// Asks the kernel to check and write a descriptor chain (16-byte
/// `struct virtq_desc` each, in chain order) into queue `queue`, the first
/// at index `head`, and to make `head` available (`abi::DmaOp::Post`).
/// `lender` is the client whose leases `abi::DMA_LEASE` descriptors name.
/// `Err` is a `DMA_*` refusal: nothing was made available then.
pub fn sys_dma_post(
    queue: u16,
    chain: &[u8],
    head: u16,
    lender: Option<TaskId>,
    used_event: Option<u16>,
) -> Result<(), u32> {
    // SAFETY: the kernel only reads `chain`.
    let r = unsafe {
        syscall(
            Sysnum::Dma,
            [
                abi::DmaOp::Post as usize,
                usize::from(queue),
                chain.as_ptr() as usize,
                chain.len() / 16,
                usize::from(head),
                lender.map_or(usize::MAX, |t| t.0 as usize),
                used_event.map_or(0, |e| usize::from(e) + 1),
            ],
        )
    };
    if r[0] as u32 == SUCCESS {
        Ok(())
    } else {
        Err(r[0] as u32)
    }
}

/// Writes `virtq_avail.flags` (`which` = `abi::DMA_AVAIL_FLAGS`) or
/// `used_event` (`abi::DMA_USED_EVENT`) of queue `queue`
/// (`abi::DmaOp::Avail`).
pub fn sys_dma_avail(queue: u16, which: u32, value: u16) -> Result<(), u32> {
    // SAFETY: the kernel writes only its own ring memory.
    let r = unsafe {
        syscall(
            Sysnum::Dma,
            [
                abi::DmaOp::Avail as usize,
                usize::from(queue),
                which as usize,
                usize::from(value),
                0,
                0,
                0,
            ],
        )
    };
    if r[0] as u32 == SUCCESS {
        Ok(())
    } else {
        Err(r[0] as u32)
    }
}
