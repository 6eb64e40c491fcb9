//! The kernel test suite's requests to its assistant (`task-test-assist`).
//!
//! The suite is the least important test task, so the assistant can be
//! asked to do things — serve, borrow, misbehave — while the suite waits in
//! `send` and then checks what the kernel and supervisor made of it. Each
//! constant is an operation number; arguments are little-endian `u32`s.

#![no_std]

/// Reply with the message, each byte + 1.
pub const OP_ECHO_PLUS_ONE: u16 = 1;
/// Read all of lease 0 and reply with the `u32` sum of its bytes.
pub const OP_SUM_LEASE: u16 = 2;
/// Fill lease 0 with bytes `i as u8 ^ arg` and reply with the count written.
pub const OP_FILL_LEASE: u16 = 3;
/// Borrow-read lease 0 at offset `arg` for 16 bytes; reply with the `u32`
/// response code the kernel gave.
pub const OP_BORROW_AT: u16 = 4;
/// Load a word from address `arg` (expected to fault).
pub const OP_READ_ADDRESS: u16 = 5;
/// Recurse without bound (expected to overflow the stack).
pub const OP_OVERFLOW_STACK: u16 = 6;
/// Make a syscall with an undefined number.
pub const OP_BAD_SYSCALL: u16 = 7;
/// Send the supervisor a call whose lease names address `arg`, which the
/// assistant does not own.
pub const OP_LEASE_FOREIGN_MEMORY: u16 = 8;
/// Post notification bits `arg` to the caller, then reply.
pub const OP_POST_TO_CALLER: u16 = 9;
/// Panic (ends the incarnation in the middle of the call).
pub const OP_PANIC: u16 = 10;
/// Execute an illegal instruction.
pub const OP_ILLEGAL_INSTRUCTION: u16 = 11;
/// Store a word to address `arg` (expected to fault).
pub const OP_WRITE_ADDRESS: u16 = 12;
