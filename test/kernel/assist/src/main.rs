//! The kernel test suite's assistant: a server (`idl/kernel-test.idol`,
//! through the generated dispatch) that does what the suite asks, including
//! the things a task must not do, so that the suite can check the kernel's
//! answer. It is restarted by the supervisor after each fault.
//!
//! Where a case is about the raw ABI — a borrow the kernel must refuse, a
//! lease of foreign memory, an undefined syscall number — it makes the raw
//! syscall itself; nothing else here touches a message by hand.
//!
//! test/kernel.toml marks it untrusted (`trusted = false`), as drivers are:
//! its `reject` and `answer_raw` ops play a broken driver, whose verdicts
//! and garbage the suite must survive.

#![no_std]
#![no_main]

use abi::{Lease, LeaseAt, LEASE_READ, SUCCESS};
use idol_runtime::{Leased, Read, Served, TaskId, Write};
use userlib::{
    sys_borrow_read, sys_get_timer, sys_post, sys_recv_notification, sys_reply, sys_send,
    sys_set_timer, tasks,
};

include!(concat!(env!("OUT_DIR"), "/kernel_test_assist_server.rs"));

type Reply<T> = Served<T>;

/// What the last `hog` got of the CPU: ticks run, ticks lasted, sleeps.
#[derive(Default)]
struct Assist {
    hogged: [u32; 3],
}

/// The assistant's timer notification (test/kernel.toml).
const TIMER_BIT: u32 = 1 << 0;

/// How long `hog` sleeps between its spins: 0.2 ms.
const SLEEP_TICKS: u64 = 2_000;

/// The longest gap between two `get_timer` calls that still counts as
/// running: one call takes a few microseconds, a preemption milliseconds.
const RUNNING_GAP_TICKS: u64 = 500;

/// The longest gap between the returns of two of `hog_calls`'s calls that
/// still counts as running (its own time and the server's): one call takes
/// tens of microseconds, a throttle milliseconds.
const CALL_GAP_TICKS: u64 = 10_000;

impl idol_runtime::NotificationHandler for Assist {}

impl KernelTestAssistServer for Assist {
    fn echo_plus_one(&mut self, _: TaskId, data: [u8; 8]) -> Reply<[u8; 8]> {
        Ok(data.map(|b| b.wrapping_add(1)))
    }

    fn sum_lease(&mut self, _: TaskId, data: Leased<'_, Read, u8>) -> Reply<u32> {
        let (mut sum, mut offset, mut chunk) = (0u32, 0, [0u8; 16]);
        while offset < data.len() {
            let part = &mut chunk[..(data.len() - offset).min(16)];
            data.read_range(offset, part)?;
            sum = part.iter().fold(sum, |s, &b| s.wrapping_add(b as u32));
            offset += part.len();
        }
        Ok(sum)
    }

    fn fill_lease(&mut self, _: TaskId, xor: u8, buf: Leased<'_, Write, u8>) -> Reply<u32> {
        for i in 0..buf.len() {
            buf.write_at(i, (i as u8) ^ xor)?;
        }
        // A lease lies in the client's 32-bit address space.
        Ok(buf.len() as u32)
    }

    fn borrow_at(&mut self, caller: TaskId, offset: u32, _: Leased<'_, Read, u8>) -> Reply<u32> {
        // Raw on purpose: `Leased` would refuse an out-of-range borrow
        // itself; the case is about the kernel refusing it.
        let mut chunk = [0u8; 16];
        Ok(
            match sys_borrow_read(
                LeaseAt {
                    lender: caller,
                    index: 0,
                    offset: offset as usize,
                },
                &mut chunk,
            ) {
                Ok(_) => SUCCESS,
                Err(code) => code,
            },
        )
    }

    fn read_address(&mut self, _: TaskId, address: u32) -> Reply<u32> {
        // SAFETY: deliberately unsound: the suite asks for a load the PMP
        // must refuse; the fault is the expected outcome.
        Ok(unsafe { core::ptr::read_volatile(address as usize as *const u32) })
    }

    fn write_address(&mut self, _: TaskId, address: u32) -> Reply<()> {
        // SAFETY: deliberately unsound, as `read_address`.
        unsafe { core::ptr::write_volatile(address as usize as *mut u32, 0xdead_beef) };
        Ok(())
    }

    fn overflow_stack(&mut self, _: TaskId) -> Reply<u32> {
        Ok(fault_inject::overflow_stack())
    }

    fn bad_syscall(&mut self, _: TaskId) -> Reply<()> {
        // SAFETY: an ecall with an undefined number: the kernel faults us
        // without touching any memory.
        unsafe { core::arch::asm!("ecall", in("a7") 99usize, lateout("a0") _) };
        Ok(())
    }

    fn lease_foreign_memory(&mut self, _: TaskId, address: u32) -> Reply<u32> {
        // Raw on purpose: no generated client would build a lease of memory
        // its task does not own. The kernel checks leases before delivering,
        // so the operation number never matters.
        let lease = Lease {
            attributes: LEASE_READ,
            base: address,
            len: 16,
        };
        let (code, _) = sys_send(tasks::SUPERVISOR, 0, &[], &mut [], &[lease]);
        Ok(code)
    }

    fn post_to_caller(&mut self, caller: TaskId, bits: u32) -> Reply<u32> {
        Ok(match sys_post(caller, bits) {
            Ok(()) => SUCCESS,
            Err(c) => c,
        })
    }

    fn panic(&mut self, _: TaskId) -> Reply<()> {
        panic!("asked to panic by the suite")
    }

    fn spin(&mut self, _: TaskId, ms: u32) -> Reply<u32> {
        let start = sys_get_timer().now;
        let end = match ms {
            u32::MAX => u64::MAX,
            ms => start + u64::from(ms) * abi::TICKS_PER_MS,
        };
        let mut calls = 0u32;
        while sys_get_timer().now < end {
            calls = calls.wrapping_add(1);
        }
        Ok(calls)
    }

    fn hog(&mut self, caller: TaskId, ms: u32, spin_ms: u32) -> Reply<()> {
        // Answer first: the caller measures what it gets of the CPU while
        // this runs. The generated reply at the end goes nowhere.
        sys_reply(caller, SUCCESS, &[]);
        let start = sys_get_timer().now;
        let end = start + u64::from(ms) * abi::TICKS_PER_MS;
        let (mut ran, mut sleeps, mut last) = (0u64, 0u32, start);
        while last < end {
            let stop = (last + u64::from(spin_ms) * abi::TICKS_PER_MS).min(end);
            while last < stop {
                let now = sys_get_timer().now;
                if now - last < RUNNING_GAP_TICKS {
                    ran += now - last;
                }
                last = now;
            }
            // Long enough to be sure to block (a deadline already past
            // when `recv` comes returns at once, and is no wait for work).
            sys_set_timer(Some(last + SLEEP_TICKS), TIMER_BIT);
            sys_recv_notification(TIMER_BIT);
            sleeps += 1;
            last = sys_get_timer().now;
        }
        self.hogged = [ran as u32, (last - start) as u32, sleeps];
        Ok(())
    }

    fn hog_calls(&mut self, caller: TaskId, ms: u32) -> Reply<()> {
        // As `hog`: the caller measures what it gets meanwhile.
        sys_reply(caller, SUCCESS, &[]);
        let ping = ping_api::PingClient::new(idol_runtime::UserlibIpc, tasks::UNSLOTTED);
        let data = [0x5Au8; 1024];
        let start = sys_get_timer().now;
        let end = start + u64::from(ms) * abi::TICKS_PER_MS;
        let (mut ran, mut calls, mut last) = (0u64, 0u32, start);
        while last < end {
            // The answer is the server's business; the time is the point.
            let _ = ping.checksum(u64::from(calls), &data);
            calls += 1;
            let now = sys_get_timer().now;
            if now - last < CALL_GAP_TICKS {
                ran += now - last;
            }
            last = now;
        }
        self.hogged = [ran as u32, (last - start) as u32, calls];
        Ok(())
    }

    fn hog_report(&mut self, _: TaskId) -> Reply<[u32; 3]> {
        Ok(self.hogged)
    }

    fn reject(&mut self, caller: TaskId, reason: u32) -> Reply<u32> {
        // Raw on purpose, so that an out-of-range reason reaches the kernel.
        // SAFETY: the reply_fault syscall with the caller and a reason in
        // a0/a1; it touches no memory.
        unsafe {
            core::arch::asm!(
                "ecall",
                in("a7") abi::Sysnum::ReplyFault as usize,
                in("a0") caller.0 as usize,
                in("a1") reason as usize,
            )
        };
        // The caller is no longer waiting: this reply is dropped.
        Ok(0)
    }

    fn answer_raw(&mut self, caller: TaskId, code: u32, len: u32) -> Reply<u32> {
        let bytes = [0xEEu8; 64];
        let len = (len as usize).min(bytes.len());
        sys_reply(caller, code, &bytes[..len]);
        // As in `reject`: the generated reply after this one is dropped.
        Ok(0)
    }

    fn illegal_instruction(&mut self, _: TaskId) -> Reply<()> {
        // SAFETY: `unimp` is a defined illegal instruction; the fault is the
        // point.
        unsafe { core::arch::asm!("unimp") };
        Ok(())
    }

    fn misbehave(&mut self, _: TaskId, how: u32, address: u32) -> Reply<()> {
        misdeed(how, address as usize);
        Ok(())
    }
}

/// Where the misdeeds aim: the kernel's RAM and text (test/kernel.toml:
/// the kernel's 64 KiB of text at 0x8000_0000, its RAM after it).
const KERNEL_RAM: usize = 0x8001_0000;
const KERNEL_TEXT: usize = 0x8000_0000;

/// A word of the assistant's own RAM, for the misaligned atomic and the
/// jump into RAM (data, not code: fetching it must fault).
static mut RAM_WORDS: [u32; 2] = [0x0000_0013; 2];

/// Misdeed `how` of the list the suite checks (`MISDEEDS` in
/// test/kernel/suite, same order): each must fault the assistant. The
/// privileged instructions are written as words so that the suite can
/// expect exactly these bits in the fault's `detail`.
#[inline(never)]
fn misdeed(how: u32, address: usize) {
    let ram = core::ptr::addr_of_mut!(RAM_WORDS) as usize;
    // A word of its own text (readable, not writable), aligned for an atomic.
    let text = (misdeed as *const () as usize) & !3;
    // SAFETY: none of these touches memory of the assistant's Rust code:
    // each traps (the suite's expectation) or, were the kernel wrong,
    // executes a privileged instruction, which is what the case finds out.
    unsafe {
        match how {
            0 => core::arch::asm!(".4byte 0x10500073"), // wfi
            1 => core::arch::asm!(".4byte 0x30200073"), // mret
            2 => core::arch::asm!(".4byte 0x10200073"), // sret
            3 => core::arch::asm!(".4byte 0x30001073"), // csrw mstatus, zero
            4 => core::arch::asm!(".4byte 0x34002573", out("a0") _), // csrr a0, mscratch
            5 => core::arch::asm!(".4byte 0x3a001073"), // csrw pmpcfg0, zero
            6 => core::arch::asm!(".4byte 0x30501073"), // csrw mtvec, zero
            7 => core::arch::asm!(".4byte 0x18001073"), // csrw satp, zero
            8 => core::arch::asm!(".4byte 0x12000073"), // sfence.vma
            9 => core::arch::asm!(".4byte 0xc0001073"), // csrw cycle, zero (read-only)
            10 => core::arch::asm!(".4byte 0x00100073"), // ebreak
            11 => {
                core::arch::asm!("amoswap.w {0}, {0}, ({1})", inout(reg) 0usize => _, in(reg) KERNEL_RAM)
            }
            12 => core::arch::asm!("lr.w {0}, ({1})", out(reg) _, in(reg) KERNEL_RAM),
            13 => {
                core::arch::asm!("amoadd.w {0}, {0}, ({1})", inout(reg) 1usize => _, in(reg) KERNEL_TEXT)
            }
            14 => {
                core::arch::asm!("amoswap.w {0}, {0}, ({1})", inout(reg) 0usize => _, in(reg) ram + 1)
            }
            15 => core::arch::asm!("jr {0}", in(reg) KERNEL_TEXT),
            16 => core::arch::asm!("jr {0}", in(reg) ram),
            17 => {
                core::arch::asm!("amoswap.w {0}, {0}, ({1})", inout(reg) 0usize => _, in(reg) text)
            }
            18 => {
                core::arch::asm!("lr.w {0}, ({1})", "sc.w {0}, {0}, ({1})", out(reg) _, in(reg) text)
            }
            // A trap with sp in kernel RAM, unaligned: the kernel runs on
            // its own stack, the undefined syscall faults us as usual.
            19 => core::arch::asm!(
                "mv sp, {0}",
                "ecall",
                "unimp",
                in(reg) KERNEL_RAM + 0x103,
                in("a7") 99usize,
                options(noreturn),
            ),
            // Pushing with sp in kernel RAM: our stack pointer left our
            // stack, so a stack overflow, at the address pushed to.
            20 => core::arch::asm!(
                "mv sp, {0}",
                "sw zero, -4(sp)",
                "unimp",
                in(reg) KERNEL_RAM + 0x100,
                options(noreturn),
            ),
            // The light path (`get_timer`) with sp in kernel RAM returns to
            // us with sp as it was; then the undefined syscall.
            21 => core::arch::asm!(
                "mv sp, t1",
                "li a7, {get_timer}",
                "ecall",
                "bne sp, t1, 1f",
                "li a7, 99",
                "ecall",
                "1: unimp",
                // (Not a0..a5: `get_timer` answers in them.)
                in("t1") KERNEL_RAM + 0x100,
                get_timer = const abi::Sysnum::GetTimer as usize,
                options(noreturn),
            ),
            22 => {
                core::arch::asm!("amoor.w {0}, {0}, ({1})", inout(reg) 1usize => _, in(reg) address)
            }
            23 => core::arch::asm!("lr.w {0}, ({1})", out(reg) _, in(reg) address),
            _ => {}
        }
    }
}

#[export_name = "main"]
fn main() -> ! {
    let mut buffer = [0u8; KERNEL_TEST_ASSIST_BUFFER_SIZE];
    let mut assist = Assist::default();
    loop {
        kernel_test_assist_serve_once(&mut assist, &idol_runtime::UserlibIpc, &mut buffer);
    }
}
