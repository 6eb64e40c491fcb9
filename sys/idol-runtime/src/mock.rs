//! An in-memory kernel for host tests of generated code (feature `mock`).
//!
//! One server and any number of clients (all seen by the server as task 1,
//! generation 0). A client's `send` runs the
//! installed server handler synchronously (usually a closure calling a
//! generated dispatch function), with leases held as `Vec<u8>` copies that
//! are written back to the client's slices afterwards. What the server
//! answered is kept as an [`Outcome`], so tests (and the fuzz target) can
//! check that a malformed request was refused with the right reason.
//!
//! Calls a server answers later (deferred ops) stay open, like a client
//! blocked in the real kernel: several may be open at once, one per caller,
//! their leases usable until they are answered. Give queued messages
//! distinct callers and collect each answer with [`MockKernel::take_answer`].
//!
//! Where the real kernel would fault a task, the mock panics with the
//! reason, which fails the test: a client faulted by a trusted server's
//! `reply_fault`, a server that never replies (the client would hang), a
//! reply too big or with a kernel-reserved code. A server marked untrusted
//! ([`MockKernel::set_untrusted`], as drivers are) has its `reply_fault`
//! passed to the client as `abi::rejected_code`, as the kernel does.

use crate::ipc::{self, Ipc, LeaseAt, LeaseInfo, LeaseRef, RecvMessage};
use abi::{Generation, ReplyFaultReason, TaskId};
use std::boxed::Box;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::vec::Vec;

/// A lease as the mock holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockLease {
    /// `abi::LEASE_*` bits.
    pub attributes: u32,
    /// The lent bytes.
    pub data: Vec<u8>,
}

/// `recv`'s description of the first lease, as the kernel gives it.
fn describe_first(leases: &[MockLease]) -> u32 {
    leases.first().map_or(0, |l| {
        let len = u32::try_from(l.data.len()).unwrap_or(u32::MAX);
        abi::describe_lease(l.attributes, len)
    })
}

/// How the server answered one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `reply(code, message)`.
    Reply {
        /// The response code.
        code: u32,
        /// The reply bytes.
        message: Vec<u8>,
    },
    /// `reply_fault(reason)`.
    Fault(ReplyFaultReason),
}

impl Outcome {
    /// A `reply(code, message)`, as a test expects one.
    pub fn reply(code: u32, message: &[u8]) -> Outcome {
        Outcome::Reply {
            code,
            message: message.to_vec(),
        }
    }
}

/// The result of [`MockKernel::deliver`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The server's answer; `None` if it did not answer.
    pub outcome: Option<Outcome>,
    /// The leases as the server left them.
    pub leases: Vec<MockLease>,
}

type Handler = Box<dyn FnMut(&MockKernel, &[u8], &RecvMessage)>;

struct Call {
    id: u64,
    caller: TaskId,
    leases: Vec<MockLease>,
    outcome: Option<Outcome>,
}

struct Queued {
    caller: TaskId,
    operation: u32,
    message: Vec<u8>,
    response_capacity: usize,
    leases: Vec<MockLease>,
}

struct State {
    server: TaskId,
    buffer_size: usize,
    kill_during: usize,
    /// Calls received and not yet collected (answered or not).
    open: Vec<Call>,
    /// The call `recv` handed out last.
    last: Option<u64>,
    next_id: u64,
    queue: VecDeque<Queued>,
    notifications: u32,
    calls: usize,
    untrusted: bool,
    /// Borrows copy one byte less than asked (see `set_short_borrows`).
    short_borrows: bool,
    /// The reply length `send` reports instead of the true one.
    misreported_reply_len: Option<usize>,
    /// The server is left stopped (see `stop_server`).
    stopped: bool,
}

/// The mock kernel; implements [`Ipc`] for both sides.
pub struct MockKernel {
    state: RefCell<State>,
    handler: RefCell<Option<Handler>>,
}

impl MockKernel {
    /// A kernel whose one server is `server` (index and current generation).
    pub fn new(server: TaskId) -> Self {
        MockKernel {
            state: RefCell::new(State {
                server,
                buffer_size: 0,
                kill_during: 0,
                open: Vec::new(),
                last: None,
                next_id: 0,
                queue: VecDeque::new(),
                notifications: 0,
                calls: 0,
                untrusted: false,
                short_borrows: false,
                misreported_reply_len: None,
                stopped: false,
            }),
            handler: RefCell::new(None),
        }
    }

    /// Installs the server: `handler` is run for every `send` to it, with a
    /// receive buffer of `buffer_size` bytes.
    pub fn serve_with(
        &self,
        buffer_size: usize,
        handler: impl FnMut(&MockKernel, &[u8], &RecvMessage) + 'static,
    ) {
        self.state.borrow_mut().buffer_size = buffer_size;
        *self.handler.borrow_mut() = Some(Box::new(handler));
    }

    /// Marks the server untrusted (as app.toml does drivers): its
    /// `reply_fault` reaches the client as a REJECTED code, not a fault.
    pub fn set_untrusted(&self, untrusted: bool) {
        self.state.borrow_mut().untrusted = untrusted;
    }

    /// From now on every `borrow_read` and `borrow_write` copies one byte
    /// less than asked and says so, as a lender whose lease shrank under
    /// the server would leave it; `borrow_info` is unchanged.
    pub fn set_short_borrows(&self, short: bool) {
        self.state.borrow_mut().short_borrows = short;
    }

    /// From now on `send` reports a reply of `len` bytes whatever the
    /// server wrote, as a broken kernel might: the client must refuse a
    /// length past its buffer, never index with it.
    pub fn misreport_reply_len(&self, len: usize) {
        self.state.borrow_mut().misreported_reply_len = Some(len);
    }

    /// How many bytes a borrow of `len` copies (see `set_short_borrows`).
    fn borrow_len(&self, len: usize) -> usize {
        if self.state.borrow().short_borrows {
            len.saturating_sub(1)
        } else {
            len
        }
    }

    /// The server's current id.
    pub fn server(&self) -> TaskId {
        self.state.borrow().server
    }

    /// Restarts the server between calls: its generation advances, so the
    /// next send to the old id completes with a DEAD code.
    pub fn restart_server(&self) {
        let mut state = self.state.borrow_mut();
        state.server = TaskId::new(
            state.server.index() as u16,
            state.server.generation().next(),
        );
    }

    /// Leaves the server stopped (`true`: as the supervisor does at its
    /// restart limit) or restarts it (`false`): meanwhile every send to
    /// it, by any generation, is refused with `abi::SERVER_STOPPED`.
    pub fn stop_server(&self, stopped: bool) {
        self.state.borrow_mut().stopped = stopped;
    }

    /// The server dies during each of the next `n` calls, after handling the
    /// request (its side effects happen, its reply is lost).
    pub fn kill_server_during_next_calls(&self, n: usize) {
        self.state.borrow_mut().kill_during = n;
    }

    /// How many requests reached the server.
    pub fn calls_delivered(&self) -> usize {
        self.state.borrow().calls
    }

    /// Delivers one request straight to `serve` (a dispatch function),
    /// bypassing any client: for hand-crafted and fuzzed messages. The
    /// message is truncated to `buffer_size` bytes as the kernel would,
    /// with `message_len` reporting its full length.
    #[allow(clippy::too_many_arguments)]
    pub fn deliver(
        &self,
        caller: TaskId,
        operation: u32,
        message: &[u8],
        buffer_size: usize,
        response_capacity: usize,
        leases: Vec<MockLease>,
        serve: impl FnOnce(&MockKernel, &[u8], &RecvMessage),
    ) -> Delivery {
        let mut buffer = std::vec![0u8; buffer_size];
        let copied = message.len().min(buffer_size);
        buffer[..copied].copy_from_slice(&message[..copied]);
        let msg = RecvMessage {
            sender: caller,
            operation,
            message_len: message.len(),
            response_capacity,
            lease_count: leases.len(),
            first_lease: describe_first(&leases),
        };
        let id = self.open_call(caller, leases);
        serve(self, &buffer, &msg);
        let call = self.close_call(id);
        match call {
            Some(call) => Delivery {
                outcome: call.outcome,
                leases: call.leases,
            },
            None => Delivery {
                outcome: None,
                leases: Vec::new(),
            },
        }
    }

    /// Queues a request for the server's next `recv` (for tests of a
    /// receive loop); its answer is returned by [`Self::take_outcome`].
    pub fn queue_message(
        &self,
        caller: TaskId,
        operation: u32,
        message: &[u8],
        response_capacity: usize,
        leases: Vec<MockLease>,
    ) {
        self.state.borrow_mut().queue.push_back(Queued {
            caller,
            operation,
            message: message.to_vec(),
            response_capacity,
            leases,
        });
    }

    /// Posts notification bits to the server.
    pub fn post(&self, bits: u32) {
        self.state.borrow_mut().notifications |= bits;
    }

    /// The answer to the request last handed out by `recv`, if it was
    /// answered (the call is then closed); `None` if it was not, and the
    /// call stays open (a deferred call: see [`Self::take_answer`]).
    pub fn take_outcome(&self) -> Option<Outcome> {
        let last = self.state.borrow().last?;
        let answered = self
            .state
            .borrow()
            .open
            .iter()
            .any(|c| c.id == last && c.outcome.is_some());
        if !answered {
            return None;
        }
        self.state.borrow_mut().last = None;
        self.close_call(last).and_then(|call| call.outcome)
    }

    /// The answer to `caller`'s open call, with its leases as the server
    /// left them, if the server has answered it (the call is then closed).
    pub fn take_answer(&self, caller: TaskId) -> Option<Delivery> {
        let id = self
            .state
            .borrow()
            .open
            .iter()
            .find(|c| c.caller == caller && c.outcome.is_some())?
            .id;
        let call = self.close_call(id)?;
        Some(Delivery {
            outcome: call.outcome,
            leases: call.leases,
        })
    }

    /// Callers whose calls were received and not answered yet.
    pub fn waiting(&self) -> Vec<TaskId> {
        self.state
            .borrow()
            .open
            .iter()
            .filter(|c| c.outcome.is_none())
            .map(|c| c.caller)
            .collect()
    }

    fn open_call(&self, caller: TaskId, leases: Vec<MockLease>) -> u64 {
        let mut state = self.state.borrow_mut();
        assert!(
            !state
                .open
                .iter()
                .any(|c| c.caller == caller && c.outcome.is_none()),
            "mock: {caller:?} sent while still waiting for an answer; give each queued call its own caller"
        );
        state.calls += 1;
        let id = state.next_id;
        state.next_id += 1;
        state.open.push(Call {
            id,
            caller,
            leases,
            outcome: None,
        });
        id
    }

    fn close_call(&self, id: u64) -> Option<Call> {
        let mut state = self.state.borrow_mut();
        let at = state.open.iter().position(|c| c.id == id)?;
        Some(state.open.remove(at))
    }

    /// Lease access is allowed while the lender waits for our answer.
    fn with_lease<R>(
        &self,
        lender: TaskId,
        index: usize,
        f: impl FnOnce(&mut MockLease) -> Result<R, u32>,
    ) -> Result<R, u32> {
        let mut state = self.state.borrow_mut();
        let call = state
            .open
            .iter_mut()
            .find(|c| c.caller == lender && c.outcome.is_none());
        match call {
            Some(call) => match call.leases.get_mut(index) {
                Some(lease) => f(lease),
                None => Err(abi::BORROW_NO_SUCH_LEASE),
            },
            None => Err(abi::BORROW_NOT_LENT),
        }
    }

    fn answer(&self, peer: TaskId, outcome: Outcome) {
        let mut state = self.state.borrow_mut();
        if let Some(call) = state
            .open
            .iter_mut()
            .find(|c| c.caller == peer && c.outcome.is_none())
        {
            call.outcome = Some(outcome);
            return;
        }
        assert!(
            !state.open.iter().any(|c| c.caller == peer),
            "server answered {peer:?} twice"
        );
        // The kernel ignores answers to a task not waiting on us.
    }
}

fn span(offset: usize, len: usize, lease: &MockLease) -> Result<core::ops::Range<usize>, u32> {
    match offset.checked_add(len) {
        Some(end) if end <= lease.data.len() => Ok(offset..end),
        _ => Err(abi::BORROW_OUT_OF_RANGE),
    }
}

impl Ipc for MockKernel {
    fn send(&self, call: ipc::Call<'_, '_>) -> (u32, usize) {
        let (server, buffer_size, stopped) = {
            let state = self.state.borrow();
            (state.server, state.buffer_size, state.stopped)
        };
        if call.target.index() != server.index() {
            return (abi::REFUSED_NO_SUCH_TASK, 0);
        }
        if stopped {
            return (abi::SERVER_STOPPED, 0);
        }
        if call.target != server {
            return (abi::dead_code(server.generation()), 0);
        }
        let lent = call
            .leases
            .iter()
            .map(|lease| MockLease {
                attributes: lease.attributes(),
                data: match lease {
                    LeaseRef::Read(s) => s.to_vec(),
                    LeaseRef::Write(s) | LeaseRef::ReadWrite(s) => s.to_vec(),
                },
            })
            .collect();
        let client = TaskId::new(1, Generation(0));
        let mut handler = self
            .handler
            .borrow_mut()
            .take()
            .expect("mock: no server installed");
        let delivery = self.deliver(
            client,
            u32::from(call.operation),
            call.outgoing,
            buffer_size,
            call.incoming.len(),
            lent,
            &mut handler,
        );
        *self.handler.borrow_mut() = Some(handler);
        for (lease, after) in call.leases.iter_mut().zip(&delivery.leases) {
            if let LeaseRef::Write(s) | LeaseRef::ReadWrite(s) = lease {
                s.copy_from_slice(&after.data);
            }
        }
        {
            let mut state = self.state.borrow_mut();
            if state.kill_during > 0 {
                state.kill_during -= 1;
                drop(state);
                self.restart_server();
                return (abi::dead_code(self.server().generation()), 0);
            }
        }
        match delivery.outcome {
            Some(Outcome::Reply { code, message }) => {
                assert!(
                    code < abi::KERNEL_CODE_BASE,
                    "kernel faults the server: reserved code {code:#x}"
                );
                assert!(
                    message.len() <= call.incoming.len(),
                    "kernel faults the server: reply of {} bytes into {}",
                    message.len(),
                    call.incoming.len()
                );
                call.incoming[..message.len()].copy_from_slice(&message);
                let len = self.state.borrow().misreported_reply_len;
                (code, len.unwrap_or(message.len()))
            }
            Some(Outcome::Fault(reason)) if self.state.borrow().untrusted => {
                (abi::rejected_code(reason), 0)
            }
            Some(Outcome::Fault(reason)) => {
                panic!("kernel faults the client: {}", reason.describe())
            }
            None => panic!("server did not answer: the client would hang"),
        }
    }

    fn recv(&self, buffer: &mut [u8], notification_mask: u32, from: Option<TaskId>) -> RecvMessage {
        let mut state = self.state.borrow_mut();
        let bits = state.notifications & notification_mask;
        if bits != 0 {
            state.notifications &= !bits;
            return RecvMessage {
                sender: TaskId::KERNEL,
                operation: bits,
                message_len: 0,
                response_capacity: 0,
                lease_count: 0,
                first_lease: 0,
            };
        }
        if from == Some(TaskId::KERNEL) {
            panic!(
                "mock: a notification-only recv with no notification pending would block forever"
            );
        }
        let Some(queued) = state.queue.pop_front() else {
            panic!("mock: recv with nothing queued would block forever");
        };
        drop(state);
        let copied = queued.message.len().min(buffer.len());
        buffer[..copied].copy_from_slice(&queued.message[..copied]);
        let msg = RecvMessage {
            sender: queued.caller,
            operation: queued.operation,
            message_len: queued.message.len(),
            response_capacity: queued.response_capacity,
            lease_count: queued.leases.len(),
            first_lease: describe_first(&queued.leases),
        };
        let id = self.open_call(queued.caller, queued.leases);
        self.state.borrow_mut().last = Some(id);
        msg
    }

    fn reply(&self, peer: TaskId, code: u32, message: &[u8]) {
        self.answer(peer, Outcome::reply(code, message));
    }

    fn reply_fault(&self, peer: TaskId, reason: ReplyFaultReason) {
        self.answer(peer, Outcome::Fault(reason));
    }

    fn borrow_read(&self, at: LeaseAt, dest: &mut [u8]) -> Result<usize, u32> {
        let len = self.borrow_len(dest.len());
        let dest = &mut dest[..len];
        self.with_lease(at.lender, at.index, |lease| {
            if lease.attributes & abi::LEASE_READ == 0 {
                return Err(abi::BORROW_WRONG_ATTRIBUTES);
            }
            let range = span(at.offset, dest.len(), lease)?;
            dest.copy_from_slice(&lease.data[range]);
            Ok(dest.len())
        })
    }

    fn borrow_write(&self, at: LeaseAt, src: &[u8]) -> Result<usize, u32> {
        let src = &src[..self.borrow_len(src.len())];
        self.with_lease(at.lender, at.index, |lease| {
            if lease.attributes & abi::LEASE_WRITE == 0 {
                return Err(abi::BORROW_WRONG_ATTRIBUTES);
            }
            let range = span(at.offset, src.len(), lease)?;
            lease.data[range].copy_from_slice(src);
            Ok(src.len())
        })
    }

    fn borrow_info(&self, lender: TaskId, index: usize) -> Result<LeaseInfo, u32> {
        self.with_lease(lender, index, |lease| {
            Ok(LeaseInfo {
                attributes: lease.attributes,
                len: lease.data.len(),
            })
        })
    }

    fn refresh_task_id(&self, id: TaskId) -> TaskId {
        let server = self.server();
        if id.index() == server.index() {
            server
        } else {
            id
        }
    }
}
