//! `memcpy` and `memset` for the kernel image: plain word-then-byte loops.
//!
//! The compiler calls these for struct and array moves and clears (boot,
//! task restart, `kipc` replies, a DMA chain's checked copy); no IPC fast
//! path calls them, and the user-memory copy has its own routine
//! (`umem::copy_raw`). `compiler_builtins`' versions, unrolled and with a
//! shifting path for misaligned words, cost 500 bytes of the kernel's 24 KiB
//! for copies of a few hundred bytes at most; these cost under 100. Its
//! symbols are weak, so these take their place.
//!
//! What they must never do: call anything (the compiler may turn a copy
//! loop written in Rust into a call to `memcpy` itself, hence assembly),
//! or touch a byte outside `[dst, dst + n)` and `[src, src + n)`.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.memcpy, "ax"
    .global memcpy
    .type memcpy, @function
# memcpy(a0 = dst, a1 = src, a2 = n) -> dst. Words while both pointers are
# word-aligned and four bytes remain, then bytes.
memcpy:
    mv t0, a0
    or t1, a0, a1
    andi t1, t1, 3
    bnez t1, 2f
    li t2, 4
1:  bltu a2, t2, 2f
    lw t1, 0(a1)
    sw t1, 0(t0)
    addi a1, a1, 4
    addi t0, t0, 4
    addi a2, a2, -4
    j 1b
2:  beqz a2, 3f
    lbu t1, 0(a1)
    sb t1, 0(t0)
    addi a1, a1, 1
    addi t0, t0, 1
    addi a2, a2, -1
    j 2b
3:  ret
    .size memcpy, . - memcpy

    .section .text.memset, "ax"
    .global memset
    .type memset, @function
# memset(a0 = dst, a1 = byte, a2 = n) -> dst. Bytes up to word alignment,
# then words of the byte repeated, then the bytes left.
memset:
    mv t0, a0
    andi a1, a1, 0xff
1:  andi t1, t0, 3
    beqz t1, 2f
    beqz a2, 4f
    sb a1, 0(t0)
    addi t0, t0, 1
    addi a2, a2, -1
    j 1b
2:  slli t1, a1, 8
    or a1, a1, t1
    slli t1, a1, 16
    or a1, a1, t1
    li t2, 4
3:  bltu a2, t2, 5f
    sw a1, 0(t0)
    addi t0, t0, 4
    addi a2, a2, -4
    j 3b
5:  beqz a2, 4f
    sb a1, 0(t0)
    addi t0, t0, 1
    addi a2, a2, -1
    j 5b
4:  ret
    .size memset, . - memset
"#
);
