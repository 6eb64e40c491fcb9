//! A task's registers while it is not running, in the layout the RISC-V
//! trap entry (`trap`) saves and restores them.
//!
//! Portable code sees only named accessors (`pc`, `sp`, syscall `arg`s and
//! `set_ret`s, the syscall number); the register numbering of the RISC-V
//! calling convention stays here, behind the arch boundary, as Hubris keeps
//! its `SavedState` behind `ArchState`. This module is plain data, so it is
//! compiled (and tested through the kernel's host tests) everywhere.

/// The registers of a task while it is not running: `regs[1..32]` are
/// `x1..x31`, and `regs[0]` (the slot of the hard-wired zero register) holds
/// the program counter. The trap entry in `arch::trap` depends on this
/// layout.
///
/// While the task runs, the callee-saved slots (`s0..s11`, `gp`, `tp`) are
/// stale: the trap entry saves them only when another task is resumed (see
/// `arch::trap`), so kernel code must not read or write them for the task
/// that trapped.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct SavedState {
    regs: [usize; 32],
    /// Bench kernels: `minstret` when the trap entry began saving this
    /// task, and when the trap exit last resumed it (see `probes`).
    #[cfg(feature = "bench-probes")]
    probe: [usize; 2],
}

/// Register numbers of the RISC-V ABI names the syscall convention uses.
const SP: usize = 2;
const A0: usize = 10;
const A7: usize = 17;

impl SavedState {
    /// The saved program counter.
    pub fn pc(&self) -> usize {
        self.regs[0]
    }

    /// Sets the program counter the task resumes at.
    pub fn set_pc(&mut self, pc: usize) {
        self.regs[0] = pc;
    }

    /// The saved stack pointer.
    pub fn sp(&self) -> usize {
        self.regs[SP]
    }

    /// Syscall argument `n` (`a0 + n`), for `n` in `0..7`.
    pub fn arg(&self, n: usize) -> usize {
        self.regs[A0 + n.min(6)]
    }

    /// Sets syscall result register `n` (`a0 + n`), for `n` in `0..6`.
    pub fn set_ret(&mut self, n: usize, value: usize) {
        self.regs[A0 + n.min(5)] = value;
    }

    /// The syscall number (`a7`).
    pub fn syscall_number(&self) -> usize {
        self.regs[A7]
    }

    /// Resets every register and sets the entry point and stack.
    pub fn reset(&mut self, entry: usize, sp: usize) {
        self.regs = [0; 32];
        self.regs[0] = entry;
        self.regs[SP] = sp;
    }

    /// Sets syscall argument `n` (`a0 + n`, `n` in `0..7`): what a task's
    /// syscall stub does before `ecall` (tests play that part).
    pub fn set_arg(&mut self, n: usize, value: usize) {
        self.regs[A0 + n.min(6)] = value;
    }

    /// Sets the syscall number (`a7`), as a stub does.
    pub fn set_syscall_number(&mut self, n: usize) {
        self.regs[A7] = n;
    }

    /// Sets the stack pointer.
    pub fn set_sp(&mut self, sp: usize) {
        self.regs[SP] = sp;
    }

    /// Sets a register by number (0 = the pc), for fault injection (which
    /// names registers by number). Out-of-range numbers are ignored.
    pub fn set_reg(&mut self, n: usize, value: usize) {
        if let Some(r) = self.regs.get_mut(n) {
            *r = value;
        }
    }

    /// Reads a register by number (0 = the pc); 0 if out of range.
    pub fn reg(&self, n: usize) -> usize {
        self.regs.get(n).copied().unwrap_or(0)
    }

    /// Bench kernels: (`minstret` at trap entry, at the last resume).
    #[cfg(feature = "bench-probes")]
    pub fn probe_stamps(&self) -> (u32, u32) {
        (self.probe[0] as u32, self.probe[1] as u32)
    }
}
