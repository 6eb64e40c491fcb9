//! Carrying out a command: the IPC calls, and their answers and errors in
//! words on the UART.

use core::fmt::Write;

use abi::{Generation, RestartKind, TaskId, TaskState, TaskStatus};
use block_api::{BlockClient, BlockError, SECTOR_SIZE};
use entropy_api::{EntropyClient, EntropyError};
use ethernet_api::{EthernetClient, EthernetError};
use idol_runtime::{KernelCode, ProtocolError, RequestError, UserlibIpc};
use net_api::{NetClient, NetError};
use supervisor_api::{SupervisorClient, SupervisorError};
use task_shell::aftermath::{aftermath, DroveSlot, Seen, Told};
use task_shell::block::{Span, SpanError, BLOCK_MAX, SECTOR};
use task_shell::command::{help_on, parse, Command, ParseError, HELP, RNG_MAX};
use task_shell::shown::{Shown, ShownLine};
use task_shell::size::Size;
use task_shell::trace::{trace_answer, TraceAnswer};
use task_shell::unanswered::{Now, Restarted, Stopped};
use task_shell::{class, hexdump};
use userlib::log::LineBuf;
use userlib::{sys_refresh_task_id, sys_send, tasks, Lease};
use virtio_bus_api::{BusError, SlotState, VirtioBusClient, NO_DRIVER};

use crate::uart::Uart;

// The shell's sector is the interface's.
const _: () = assert!(SECTOR == SECTOR_SIZE);

/// Most text `ringbuf <task>` shows (a 32-entry ring is about 2 KiB).
const RINGBUF_TEXT: usize = 3072;

/// Prints to the shell's UART; output errors cannot happen.
macro_rules! out {
    ($shell:expr, $($arg:tt)*) => {{
        let _ = write!($shell.uart, $($arg)*);
    }};
}

/// The shell's state: the UART and the clients of the supervisor.
pub struct Shell {
    uart: Uart,
    supervisor: SupervisorClient<UserlibIpc>,
    bus: VirtioBusClient<UserlibIpc>,
}

fn block_error(e: BlockError) -> &'static str {
    match e {
        BlockError::OutOfRange => "sector out of range",
        BlockError::ReadOnly => "the disk is read-only",
        // The shell asks for whole blocks of the size `info` reported:
        // only a driver whose block size changed since (another disk
        // bound to its slot) or that breaks its word refuses them.
        BlockError::UnalignedLength => {
            "the driver refused the request as not whole blocks, though they were of the size its `info` reported (did the disk's block size change? try again)"
        }
        BlockError::DeviceError => "the device reported an error",
        BlockError::Removed => REMOVED,
        BlockError::TooLarge => "request too large",
        BlockError::NoDevice => NO_DEVICE,
        BlockError::Unsupported => "not supported by the device",
        BlockError::TimedOut => {
            "the disk completed nothing before the deadline (slow or wedged) and was reset; try again"
        }
    }
}

/// A driver without a device: its slot was unbound, or marked failed when
/// the driver reached its restart limit; either comes back with `bind`.
const NO_DEVICE: &str =
    "the driver has no device: no slot holds one of its class, or its slot is unbound or failed (`devices` shows which; `bind <slot>` offers it again)";

/// The driver's device was taken away: its slot unbound, or the device
/// removed during the request. The same way back as [`NO_DEVICE`], which
/// a restarted driver answers for the same unbound slot.
const REMOVED: &str =
    "the device was taken away (its slot unbound, or removed during the request; `devices` shows the slot, `bind <slot>` offers it again)";

fn entropy_error(e: EntropyError) -> &'static str {
    match e {
        EntropyError::DeviceError => "the device misbehaved and was reset",
        EntropyError::TimedOut => {
            "the device gave too few random bytes before the deadline (a slow or rate-limited source); ask again, or for fewer bytes"
        }
        EntropyError::Removed => REMOVED,
        EntropyError::NoDevice => NO_DEVICE,
    }
}

fn ethernet_error(e: EthernetError) -> &'static str {
    match e {
        EthernetError::NoDevice => NO_DEVICE,
        EthernetError::DeviceError => "the device is down (being reset)",
        EthernetError::LinkDown => "link down",
        EthernetError::Empty
        | EthernetError::QueueFull
        | EthernetError::BadFrame
        | EthernetError::BufferTooSmall => "unexpected frame error",
    }
}

fn net_error(e: NetError) -> &'static str {
    match e {
        NetError::NoAddress => "no address yet",
        NetError::NotAllowed => "the port is not granted to this task in app.toml",
        _ => "the stack refused",
    }
}

fn bus_error(e: BusError) -> &'static str {
    match e {
        BusError::NoDevice => "no device in that slot",
        BusError::NoSuchSlot => "no such slot (0 to 7)",
        BusError::NotBound => "no driver is bound to that slot",
        BusError::AlreadyBound => "a driver holds that slot; `unbind` it first",
        BusError::NotRegistered => "not registered",
        BusError::TooManyDrivers => "too many drivers",
        BusError::GrantFailed => "the kernel refused the grant",
        BusError::BadIdTable => "bad id table",
        BusError::NotPermitted => "not permitted (needs operator rights, or the driver's own slot)",
    }
}

fn supervisor_error(e: SupervisorError) -> &'static str {
    match e {
        SupervisorError::NoSuchTask => "no such task",
        SupervisorError::NotAllowed => {
            "not allowed (the supervisor cannot fault or restart itself, nor restart a task whose lent memory a device that did not reset still holds)"
        }
        SupervisorError::NotOperator => {
            "not permitted: this task has no operator rights (app.toml `operator = true`)"
        }
        SupervisorError::TestOnly => {
            "only available in test images, whose supervisor has the `test-control` feature (use `restart`)"
        }
        SupervisorError::NoSuchRecord => "no such restart record",
        SupervisorError::NotObserver => {
            "not permitted: this task has no observer rights (app.toml `observer = true`)"
        }
        SupervisorError::NotRunning => {
            "the task is not running (it faulted and waits for its restart, or was left stopped)"
        }
    }
}

impl Shell {
    /// A shell writing to `uart`.
    pub fn new(uart: Uart) -> Self {
        Shell {
            uart,
            supervisor: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
            bus: VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR),
        }
    }

    /// The UART, for the line editor's echo.
    pub fn uart(&mut self) -> &mut Uart {
        &mut self.uart
    }

    /// Prints `s`.
    pub fn out(&mut self, s: &str) {
        self.uart.write(s.as_bytes());
    }

    /// The greeting.
    pub fn banner(&mut self) {
        self.out("\nVireo shell. Type `help` for the commands; Ctrl-A X quits QEMU.\n");
    }

    /// Parses and runs one line.
    pub fn execute(&mut self, line: &str) {
        match parse(line) {
            Ok(Command::Empty) => {}
            Ok(Command::Help) => self.help(),
            Ok(Command::HelpOn { command }) => match help_on(command) {
                Some((usage, what)) => out!(self, "  {usage:<50} {what}\n"),
                None => out!(self, "unknown command `{command}` (`help` lists them)\n"),
            },
            Ok(Command::Tasks) => self.tasks(),
            Ok(Command::Restarts) => self.restarts(),
            Ok(Command::Devices) => self.devices(),
            Ok(Command::BlkInfo { disk }) => self.blk_info(disk),
            Ok(Command::BlkRead { disk, sector }) => self.blk_read(disk, sector),
            Ok(Command::BlkWrite { disk, sector, text }) => self.blk_write(disk, sector, text),
            Ok(Command::Rng { len }) => self.rng(len),
            Ok(Command::Unbind { slot }) => self.unbind(slot),
            Ok(Command::Bind { slot }) => self.bind(slot),
            Ok(Command::Net) => self.net(),
            Ok(Command::Fault { task }) => self.fault(task),
            Ok(Command::Restart { task }) => {
                self.task_op(task, SupervisorClient::restart_task, "restarted")
            }
            Ok(Command::Ringbuf { task }) => self.ringbuf(task),
            Err(ParseError::Usage(usage)) => out!(self, "usage: {usage}\n"),
            Err(ParseError::BadNumber(word, usage)) => out!(
                self,
                "error: `{word}` is not a number in range (decimal or 0x hex)\nusage: {usage}\n"
            ),
            Err(ParseError::Unknown(word)) => {
                out!(self, "unknown command `{word}`\n");
                self.help();
            }
        }
    }

    /// The answer to a line that did not fit the editor: it was not run.
    pub fn line_too_long(&mut self, max: usize) {
        out!(self, "error: line longer than {max} bytes; not run\n");
    }

    /// Says that the line just entered had bytes that are not UTF-8 and
    /// was not run.
    pub fn line_not_utf8(&mut self) {
        self.out("error: line has bytes that are not UTF-8; not run\n");
    }

    fn help(&mut self) {
        self.out("commands:\n");
        for (usage, what) in HELP {
            out!(self, "  {usage:<50} {what}\n");
        }
    }

    /// The status of task `index`, or an error line.
    fn status(&mut self, index: usize) -> Option<TaskStatus> {
        match self.supervisor.task_status(index as u32) {
            Ok(st) => Some(st),
            Err(e) => {
                self.request_error("supervisor", e, supervisor_error);
                None
            }
        }
    }

    fn task_count(&mut self) -> Option<usize> {
        match self.supervisor.task_count() {
            Ok(n) => Some(n as usize),
            Err(e) => {
                // An op without an error of its own: what failed is the
                // call (a restart, a refusal, a broken answer), and it
                // says which; it said "restarted" for every failure.
                self.request_error("supervisor", e, |never| match never {});
                None
            }
        }
    }

    /// The index of the task called `name`, or an error line.
    fn find_task(&mut self, name: &str) -> Option<usize> {
        let count = self.task_count()?;
        for i in 0..count {
            let st = self.status(i)?;
            if st.name_str() == name {
                return Some(i);
            }
        }
        out!(
            self,
            "error: no task `{name}` in this image (see `tasks`)\n"
        );
        None
    }

    /// The current id of the task called `name`.
    fn task_id(&mut self, name: &str) -> Option<TaskId> {
        let index = self.find_task(name)?;
        Some(sys_refresh_task_id(TaskId::new(
            index as u16,
            Generation(0),
        )))
    }

    /// Prints a failed request: the server's error in words, or that the
    /// server restarted or is stopped.
    fn request_error<E: Copy>(
        &mut self,
        who: &str,
        e: RequestError<E>,
        words: fn(E) -> &'static str,
    ) {
        match e {
            RequestError::Server(e) => out!(self, "error: {who}: {}\n", words(e)),
            RequestError::ServerRestarted => self.restarted(who),
            RequestError::ServerStopped => self.stopped(who),
            // The usual mistake after adding a task to app.toml: the
            // shell was not given it. Say what to change.
            RequestError::Protocol(ProtocolError::Refused(KernelCode(
                abi::REFUSED_NOT_IN_SLOTS,
            ))) => out!(
                self,
                "error: {who}: this shell may not call it; add \"{who}\" to the shell's `slots` in app.toml\n"
            ),
            RequestError::Protocol(e) => out!(self, "error: {who}: {e}\n"),
        }
    }

    /// Says that `who` is stopped and how to bring it back: trying again
    /// will not help.
    fn stopped(&mut self, who: &str) {
        out!(self, "{}\n", Stopped(who));
    }

    /// Says what became of `who`, whose incarnation died before or during
    /// a call: restarted, or faulted with its restart still to come (a
    /// backoff), or stopped; read from its status now.
    fn restarted(&mut self, who: &str) {
        let now = Now::from_status(self.status_of(who).map(|st| (st.state, st.generation)));
        out!(self, "{}\n", Restarted { who, now });
    }

    /// The status of the task called `name`, if there is one and the
    /// supervisor answers; prints nothing.
    fn status_of(&mut self, name: &str) -> Option<TaskStatus> {
        let count = self.supervisor.task_count().ok()?;
        (0..count)
            .filter_map(|i| self.supervisor.task_status(i).ok())
            .find(|st| st.name_str() == name)
    }

    fn tasks(&mut self) {
        let Some(count) = self.task_count() else {
            return;
        };
        self.out(
            " #  name              state           prio  gen  faults  throttled  last fault\n",
        );
        for i in 0..count {
            let Some(st) = self.status(i) else { return };
            let state = TaskState::from_u32(st.state).map_or("?", |s| s.describe());
            out!(
                self,
                "{i:>2}  {:<16}  {state:<14}  {:>4}  {:>3}  {:>6}  {:>9}",
                st.name_str(),
                st.priority,
                st.generation,
                st.fault_count,
                st.throttles
            );
            if st.fault_count > 0 {
                out!(self, "  {}", st.last_fault.kind().describe());
            }
            self.out("\n");
        }
    }

    /// The supervisor's log of restarts, oldest first.
    fn restarts(&mut self) {
        let log = match self.supervisor.restarts() {
            Ok(log) => log,
            Err(e) => return self.request_error("supervisor", e, supervisor_error),
        };
        if log.records().is_empty() {
            self.out("no restarts since boot\n");
            return;
        }
        self.out("       at  task              gen  why\n");
        for r in log.records() {
            let name = match self.supervisor.task_status(r.task) {
                Ok(st) => st.name,
                Err(_) => [b'?'; 16],
            };
            let (s, ms) = (r.at_ms / 1000, r.at_ms % 1000);
            out!(
                self,
                "{s:>5}.{ms:03}  {:<16}  {:>3}  {}\n",
                abi::nul_padded_str(&name),
                r.generation,
                r.cause().map_or("?", |c| c.describe())
            );
        }
    }

    fn devices(&mut self) {
        let table = match self.bus.devices() {
            Ok(t) => t,
            Err(e) => {
                self.request_error("supervisor", e, |never| match never {});
                return;
            }
        };
        let mut any = false;
        for (slot, e) in table.slots.iter().enumerate() {
            if e.device_id == 0 {
                continue;
            }
            if !any {
                self.out("slot  id  class    transport  state     driver\n");
                any = true;
            }
            out!(
                self,
                "{slot:>4}  {:>2}  {:<7}  v{:<8}  {:<8}  ",
                e.device_id,
                class::name(e.device_id),
                e.version,
                SlotState::from_u32(e.state).describe()
            );
            if e.driver == NO_DRIVER {
                self.out("-\n");
            } else {
                match self.status(e.driver as usize) {
                    Some(st) => out!(self, "{}\n", st.name_str()),
                    None => self.out("\n"),
                }
            }
        }
        if !any {
            self.out("no virtio devices (add them to the [qemu] args of the app file)\n");
        }
    }

    /// The client of disk `disk` (task `blk<disk>`) and its name.
    fn disk(&mut self, disk: u32) -> Option<(BlockClient<UserlibIpc>, LineBuf)> {
        let mut name = LineBuf::new();
        let _ = write!(name, "blk{disk}");
        let name_str = core::str::from_utf8(name.as_bytes()).unwrap_or("blk");
        let id = self.task_id(name_str)?;
        Some((BlockClient::new(UserlibIpc, id), name))
    }

    fn blk_info(&mut self, disk: u32) {
        let Some((blk, name)) = self.disk(disk) else {
            return;
        };
        let name = core::str::from_utf8(name.as_bytes()).unwrap_or("blk");
        match blk.info() {
            Ok(info) => {
                // The device's word: no control character reaches the
                // terminal.
                let serial = ShownLine(abi::nul_padded_str(&info.serial));
                out!(
                    self,
                    "{name}: {} sector{} ({}), block size {}, {}, serial \"{serial}\"\n",
                    info.capacity_sectors,
                    if info.capacity_sectors == 1 { "" } else { "s" },
                    Size::of_sectors(info.capacity_sectors),
                    info.block_size,
                    if info.read_only != 0 {
                        "read-only"
                    } else {
                        "read-write"
                    },
                );
            }
            Err(e) => self.request_error(name, e, block_error),
        }
    }

    /// The block of disk `blk` holding `sector`, from the block size its
    /// `info` reports (asked once per command), or the error line.
    fn span(&mut self, blk: &BlockClient<UserlibIpc>, name: &str, sector: u64) -> Option<Span> {
        let (block_size, capacity) = match blk.info() {
            Ok(info) => (info.block_size, info.capacity_sectors),
            Err(e) => {
                self.request_error(name, e, block_error);
                return None;
            }
        };
        match Span::of(sector, block_size, capacity) {
            Ok(span) => Some(span),
            Err(SpanError::TooLarge { block_size }) => {
                out!(
                    self,
                    "error: {name}: the disk's block size is {block_size} bytes; the shell reads and writes blocks of at most {BLOCK_MAX} bytes\n"
                );
                None
            }
            Err(SpanError::CutShort {
                capacity,
                block_size,
            }) => {
                out!(
                    self,
                    "error: {name}: the driver reports {capacity} sectors, no whole number of {block_size}-byte blocks: sector {sector} is in a last block the disk's end cuts short, and the disk takes whole blocks only\n"
                );
                None
            }
            Err(SpanError::NotSectors { block_size }) => {
                out!(
                    self,
                    "error: {name}: the driver reports a block size of {block_size} bytes, not a whole number of 512-byte sectors\n"
                );
                None
            }
        }
    }

    /// `blk <n> read <sector>`: the block holding the sector is read
    /// whole (a disk of blocks larger than 512 bytes refuses less), and
    /// the sector's 512 bytes of it shown.
    fn blk_read(&mut self, disk: u32, sector: u64) {
        let Some((blk, name)) = self.disk(disk) else {
            return;
        };
        let name = core::str::from_utf8(name.as_bytes()).unwrap_or("blk");
        let Some(span) = self.span(&blk, name, sector) else {
            return;
        };
        let mut buf = [0u8; BLOCK_MAX];
        match blk.read(span.start(), span.block(&mut buf)) {
            Ok(()) => {
                out!(self, "{name}: sector {sector}:\n");
                for row in hexdump::rows(span.sector(&buf)) {
                    out!(self, "{row}\n");
                }
            }
            Err(e) => self.request_error(name, e, block_error),
        }
    }

    /// `blk <n> write <sector> <text>`: on a disk of blocks larger than
    /// 512 bytes, the block holding the sector is read, the sector's 512
    /// bytes changed and the block written back, the others as they were
    /// read. (A write by another client to those sectors in between is
    /// lost: the shell is meant to be the disk's only client.)
    fn blk_write(&mut self, disk: u32, sector: u64, text: &str) {
        let Some((blk, name)) = self.disk(disk) else {
            return;
        };
        let name = core::str::from_utf8(name.as_bytes()).unwrap_or("blk");
        let Some(span) = self.span(&blk, name, sector) else {
            return;
        };
        let mut buf = [0u8; BLOCK_MAX];
        if !span.is_sector() {
            if let Err(e) = blk.read(span.start(), span.block(&mut buf)) {
                return self.request_error(name, e, block_error);
            }
        }
        let n = span.put(&mut buf, text.as_bytes());
        match blk.write(span.start(), span.block(&mut buf)) {
            Ok(()) => out!(
                self,
                "{name}: wrote {n} byte{} (and zeroes to 512) at sector {sector}\n",
                if n == 1 { "" } else { "s" }
            ),
            Err(e) => self.request_error(name, e, block_error),
        }
    }

    fn rng(&mut self, len: usize) {
        let Some(id) = self.task_id("rng0") else {
            return;
        };
        let rng = EntropyClient::new(UserlibIpc, id);
        let mut data = [0u8; RNG_MAX];
        let len = len.min(RNG_MAX);
        match rng.fill(&mut data[..len]) {
            Ok(()) => {
                for row in hexdump::rows(&data[..len]) {
                    out!(self, "{row}\n");
                }
            }
            Err(e) => self.request_error("rng0", e, entropy_error),
        }
    }

    /// `net`: the stack's address, then each NIC task (`net0`, `net1`, …)
    /// with its MAC, link and counters.
    fn net(&mut self) {
        let Some(count) = self.task_count() else {
            return;
        };
        let mut stack = None;
        let mut nics = 0;
        for i in 0..count {
            let Some(st) = self.status(i) else { return };
            let id = sys_refresh_task_id(TaskId::new(i as u16, Generation(0)));
            let name = st.name_str();
            if name == "net" {
                stack = Some(id);
            } else if name.starts_with("net") && name[3..].bytes().all(|b| b.is_ascii_digit()) {
                nics += 1;
                let mut n = [0u8; 16];
                n[..name.len()].copy_from_slice(name.as_bytes());
                self.nic(core::str::from_utf8(&n[..name.len()]).unwrap_or("?"), id);
            }
        }
        if nics == 0 {
            self.out("no NIC driver in this image (a task named net0)\n");
        }
        let Some(id) = stack else {
            self.out("no network stack in this image (a task named net)\n");
            return;
        };
        match NetClient::new(UserlibIpc, id).info() {
            Ok(i) => {
                let a = i.addr;
                let g = i.gateway;
                let source = match i.source {
                    1 => "DHCP",
                    2 => "static",
                    _ => "none yet",
                };
                out!(
                    self,
                    "net: {}.{}.{}.{}/{} via {}.{}.{}.{} ({source}); {} socket(s); \
                     {} frames in, {} out; NIC restarts seen: {}; SYNs dropped: {} repeated, \
                     {} over a full backlog; SYNs held back for a full backlog: {}; \
                     UDP send queues dropped (no neighbour): {}; fragmented datagrams: {} \
                     reassembled, {} too big, {} dropped\n",
                    a[0],
                    a[1],
                    a[2],
                    a[3],
                    i.prefix,
                    g[0],
                    g[1],
                    g[2],
                    g[3],
                    i.sockets,
                    i.rx_frames,
                    i.tx_frames,
                    i.nic_restarts,
                    i.repeated_syns,
                    i.dropped_syns,
                    i.postponed_syns,
                    i.udp_queues_dropped,
                    i.datagrams_reassembled,
                    i.datagrams_too_big,
                    i.reassemblies_dropped
                );
            }
            Err(e) => self.request_error("net", e, net_error),
        }
    }

    fn nic(&mut self, name: &str, id: TaskId) {
        let eth = EthernetClient::new(UserlibIpc, id);
        let mac = match eth.mac() {
            Ok(m) => m,
            Err(e) => {
                self.request_error(name, e, ethernet_error);
                return;
            }
        };
        match eth.status() {
            Ok(s) => out!(
                self,
                "{name}: MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, link {}; \
                 rx {} frames {} bytes ({} dropped), tx {} frames {} bytes ({} queue full); \
                 {} device reset(s)\n",
                mac[0],
                mac[1],
                mac[2],
                mac[3],
                mac[4],
                mac[5],
                if s.link_up != 0 { "up" } else { "down" },
                s.rx_frames,
                s.rx_bytes,
                s.rx_dropped,
                s.tx_frames,
                s.tx_bytes,
                s.tx_full,
                s.resets
            ),
            Err(e) => self.request_error(name, e, ethernet_error),
        }
    }

    fn unbind(&mut self, slot: u32) {
        match self.bus.unbind(slot) {
            Ok(()) => out!(
                self,
                "slot {slot} unbound; `bind {slot}` makes it available again\n"
            ),
            Err(e) => self.request_error("bus", e, bus_error),
        }
    }

    fn bind(&mut self, slot: u32) {
        match self.bus.bind(slot) {
            Ok(()) => out!(self, "slot {slot} is available to drivers again\n"),
            Err(e) => self.request_error("bus", e, bus_error),
        }
    }

    /// Asks the task for its trace rings (its userlib answers, see
    /// `userlib::traces`) and prints the text it wrote into our lease.
    fn ringbuf(&mut self, task: &str) {
        let Some(id) = self.task_id(task) else {
            return;
        };
        let mut text = [0u8; RINGBUF_TEXT];
        let lease = [Lease {
            attributes: abi::LEASE_WRITE,
            base: text.as_mut_ptr() as usize as u32,
            len: text.len() as u32,
        }];
        let mut reply = [0u8; 4];
        let (code, n) = sys_send(id, abi::RINGBUF_OP, &[], &mut reply, &lease);
        let reply = &reply[..n.min(reply.len())];
        match trace_answer(code, reply, text.len()) {
            TraceAnswer::Text { len } => {
                out!(self, "{task}: ");
                // The driver wrote this text: no control characters reach
                // the terminal.
                match core::str::from_utf8(&text[..len]) {
                    Ok(text) => out!(self, "{}", Shown(text)),
                    Err(_) => self.out("(not text)\n"),
                }
                if len == text.len() {
                    out!(self, "(cut at {RINGBUF_TEXT} bytes)\n");
                }
            }
            TraceAnswer::Refused => out!(
                self,
                "error: {task} shows its traces to operators only (app.toml: operator = true)\n"
            ),
            TraceAnswer::NotCallable => out!(
                self,
                "error: the shell cannot call {task} (not in its slots, or not more important)\n"
            ),
            TraceAnswer::Restarting => self.restarted(task),
            TraceAnswer::Stopped => self.stopped(task),
            TraceAnswer::Other(c) => out!(self, "error: {task} answered code {c:#x}\n"),
        }
    }

    /// Faults `task` through the supervisor and says what became of it:
    /// restarted, down for a backoff, or left stopped at its limit.
    fn fault(&mut self, task: &str) {
        let Some(index) = self.find_task(task) else {
            return;
        };
        let Some(before) = self.status(index) else {
            return;
        };
        // The slot it drives, read before the fault: a driver left
        // stopped loses it (marked failed), and the way back names it.
        let slot = match self.bus.devices() {
            Ok(table) => table
                .slots
                .iter()
                .position(|e| e.device_id != 0 && e.driver == index as u32)
                .map_or(DroveSlot::None, |s| DroveSlot::Slot(s as u32)),
            Err(_) => DroveSlot::Unknown,
        };
        if let Err(e) = self.supervisor.fault_task(index as u32) {
            return self.request_error("supervisor", e, supervisor_error);
        }
        let after = self.supervisor.task_status(index as u32).ok().map(|st| {
            let state = TaskState::from_u32(st.state);
            Seen {
                generation: st.generation,
                faulted: state == Some(TaskState::Faulted),
                stopped: state == Some(TaskState::Stopped),
                policy_never: tasks::RESTART
                    .get(index)
                    .is_some_and(|p| p.kind == RestartKind::Never),
            }
        });
        let told = Told {
            task,
            slot,
            aftermath: aftermath(before.generation, after),
        };
        out!(self, "{told}\n");
    }

    /// `restart`: asks the supervisor to do `op` to the task named
    /// `task`, then says it was `done`.
    fn task_op(
        &mut self,
        task: &str,
        op: fn(&SupervisorClient<UserlibIpc>, u32) -> Result<(), RequestError<SupervisorError>>,
        done: &str,
    ) {
        let Some(index) = self.find_task(task) else {
            return;
        };
        match op(&self.supervisor, index as u32) {
            Ok(()) => out!(self, "task {task} {done}\n"),
            Err(e) => self.request_error("supervisor", e, supervisor_error),
        }
    }
}
