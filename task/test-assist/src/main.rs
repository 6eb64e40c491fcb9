//! The kernel test suite's assistant: a server that does what the suite asks,
//! including the things a task must not do, so that the suite can check the
//! kernel's answer. It is restarted by the supervisor after each fault.

#![no_std]
#![no_main]

use abi::{Lease, LEASE_READ, SUCCESS};
use test_api::*;
use userlib::{sys_borrow_read, sys_borrow_write, sys_post, sys_recv, sys_reply, sys_send, tasks};

fn arg(buf: &[u8], len: usize) -> u32 {
    if len >= 4 {
        u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]])
    } else {
        0
    }
}

#[inline(never)]
fn recurse(depth: u32) -> u32 {
    // Unreachable in practice (the stack ends long before), but it gives the
    // recursion a base case so the compiler keeps it a real recursion.
    if depth == u32::MAX {
        return 0;
    }
    let frame = [depth; 32];
    // black_box keeps the frame and the recursion from being optimised away.
    core::hint::black_box(&frame);
    recurse(core::hint::black_box(depth + 1)).wrapping_add(frame[(depth % 32) as usize])
}

#[export_name = "main"]
fn main() -> ! {
    let mut buf = [0u8; 64];
    loop {
        let msg = sys_recv(&mut buf, 0, None);
        let n = msg.message_len.min(buf.len());
        let a = arg(&buf, n);
        match msg.operation as u16 {
            OP_ECHO_PLUS_ONE => {
                let mut out = [0u8; 64];
                for (o, b) in out.iter_mut().zip(&buf[..n]) {
                    *o = b.wrapping_add(1);
                }
                sys_reply(msg.sender, SUCCESS, &out[..n]);
            }
            OP_SUM_LEASE => {
                let len = userlib::sys_borrow_info(msg.sender, 0)
                    .map(|i| i.len)
                    .unwrap_or(0);
                let (mut sum, mut offset, mut chunk) = (0u32, 0, [0u8; 16]);
                while offset < len {
                    let part = &mut chunk[..(len - offset).min(16)];
                    let Ok(got) = sys_borrow_read(msg.sender, 0, offset, part) else {
                        break;
                    };
                    sum += part[..got].iter().map(|&b| b as u32).sum::<u32>();
                    offset += got;
                }
                sys_reply(msg.sender, SUCCESS, &sum.to_le_bytes());
            }
            OP_FILL_LEASE => {
                let len = userlib::sys_borrow_info(msg.sender, 0)
                    .map(|i| i.len)
                    .unwrap_or(0);
                let mut written = 0u32;
                for i in 0..len {
                    let b = [(i as u8) ^ a as u8];
                    if sys_borrow_write(msg.sender, 0, i, &b).is_ok() {
                        written += 1;
                    }
                }
                sys_reply(msg.sender, SUCCESS, &written.to_le_bytes());
            }
            OP_BORROW_AT => {
                let mut chunk = [0u8; 16];
                let code = match sys_borrow_read(msg.sender, 0, a as usize, &mut chunk) {
                    Ok(_) => SUCCESS,
                    Err(code) => code,
                };
                sys_reply(msg.sender, SUCCESS, &code.to_le_bytes());
            }
            OP_READ_ADDRESS => {
                // SAFETY: deliberately unsound: the suite asks for a load the
                // PMP must refuse; the fault is the expected outcome.
                let v = unsafe { core::ptr::read_volatile(a as usize as *const u32) };
                sys_reply(msg.sender, SUCCESS, &v.to_le_bytes());
            }
            OP_WRITE_ADDRESS => {
                // SAFETY: deliberately unsound, as OP_READ_ADDRESS.
                unsafe { core::ptr::write_volatile(a as usize as *mut u32, 0xdead_beef) };
                sys_reply(msg.sender, SUCCESS, &[]);
            }
            OP_OVERFLOW_STACK => {
                let v = recurse(0);
                sys_reply(msg.sender, SUCCESS, &v.to_le_bytes());
            }
            OP_BAD_SYSCALL => {
                // SAFETY: an ecall with an undefined number: the kernel faults
                // us without touching any memory.
                unsafe { core::arch::asm!("ecall", in("a7") 99usize, lateout("a0") _) };
                sys_reply(msg.sender, SUCCESS, &[]);
            }
            OP_LEASE_FOREIGN_MEMORY => {
                let lease = Lease {
                    attributes: LEASE_READ,
                    base: a,
                    len: 16,
                };
                let (code, _) =
                    sys_send(tasks::SUPERVISOR, 1, &0u32.to_le_bytes(), &mut [], &[lease]);
                sys_reply(msg.sender, SUCCESS, &code.to_le_bytes());
            }
            OP_POST_TO_CALLER => {
                let code = match sys_post(msg.sender, a) {
                    Ok(()) => SUCCESS,
                    Err(c) => c,
                };
                sys_reply(msg.sender, SUCCESS, &code.to_le_bytes());
            }
            OP_PANIC => panic!("asked to panic by the suite"),
            OP_ILLEGAL_INSTRUCTION => {
                // SAFETY: `unimp` is a defined illegal instruction; the
                // fault is the point.
                unsafe { core::arch::asm!("unimp") };
                sys_reply(msg.sender, SUCCESS, &[]);
            }
            _ => sys_reply(msg.sender, 1, &[]),
        }
    }
}
