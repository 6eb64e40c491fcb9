//! Task entry and panic handling.
//!
//! The kernel starts (and restarts) a task at `_start` with `sp` at the top
//! of its stack and every other register zero. `_start` first paints the
//! whole stack with [`abi::STACK_PAINT`] (so that `cargo xtask dump` can
//! find the deepest the stack has reached: the lowest word that lost the
//! paint), then re-initialises the task's RAM from the image — .data from
//! its copy in the (read-only) text region, .bss cleared — so every
//! incarnation starts from the same state, then calls the task's `main`,
//! which must never return.

#[cfg(target_arch = "riscv32")]
core::arch::global_asm!(
    r#"
    .section .text.start, "ax"
    .global _start
_start:
    la a0, _stack_bottom
    li t0, {paint}
0:  bgeu a0, sp, 1f
    sw t0, 0(a0)
    addi a0, a0, 4
    j 0b
1:  la a0, _sdata
    la a1, _edata
    la a2, _sidata
6:  bgeu a0, a1, 2f
    lw t0, 0(a2)
    sw t0, 0(a0)
    addi a0, a0, 4
    addi a2, a2, 4
    j 6b
2:  la a0, _sbss
    la a1, _ebss
3:  bgeu a0, a1, 4f
    sw zero, 0(a0)
    addi a0, a0, 4
    j 3b
4:  call main
    # `main` must never return; one that does is stopped with a message
    # rather than left to run into whatever follows.
    call vireo_main_returned
5:  unimp
    j 5b
"#,
    paint = const abi::STACK_PAINT,
);

/// Where `_start` goes if the task's `main` returns, which it must never do:
/// a panic that says so (the kernel faults the task and logs it).
#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn vireo_main_returned() -> ! {
    crate::sys_panic(
        b"main returned: a task's main must never return (one with nothing left to do waits in sys_recv_notification(0))",
    )
}

/// Reports the panic message to the kernel, which faults the task and logs
/// the message; the supervisor then decides about a restart.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let mut line = crate::log::LineBuf::new();
    let _ = write!(line, "{}", info);
    crate::sys_panic(line.as_bytes())
}
