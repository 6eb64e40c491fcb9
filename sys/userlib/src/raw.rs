//! The `ecall` itself: arguments in `a0..a6`, the number in `a7`, results
//! in `a0..a5` (see `abi::Sysnum`).

/// Raw results of a syscall, `a0..a5`.
pub(crate) type Regs = [usize; 6];

/// Makes syscall `n` with seven arguments.
///
/// # Safety
///
/// The kernel checks every pointer it is given against the task's regions,
/// so no argument can make the *kernel* misbehave; but syscalls that write
/// task memory (recv, borrow_read, send's reply buffer, kipc) write wherever
/// the arguments say, so the caller must pass pointers to memory it owns
/// and may have written.
#[cfg(target_arch = "riscv32")]
pub(crate) unsafe fn syscall(n: abi::Sysnum, args: [usize; 7]) -> Regs {
    let mut r: Regs = [0; 6];
    // SAFETY: `ecall` traps to the kernel, which saves and restores every
    // register except the result registers declared here; memory effects
    // are as the caller promised above.
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") args[0] => r[0],
            inlateout("a1") args[1] => r[1],
            inlateout("a2") args[2] => r[2],
            inlateout("a3") args[3] => r[3],
            inlateout("a4") args[4] => r[4],
            inlateout("a5") args[5] => r[5],
            in("a6") args[6],
            in("a7") n as usize,
        );
    }
    r
}

/// Host builds (type checking, docs) have no kernel to call.
///
/// # Safety
///
/// None needed; it never returns.
#[cfg(not(target_arch = "riscv32"))]
pub(crate) unsafe fn syscall(n: abi::Sysnum, _args: [usize; 7]) -> Regs {
    panic!("syscall {n:?}: userlib syscalls only run on the Vireo target")
}
