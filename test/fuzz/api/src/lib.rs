//! What the syscall fuzz suite (`fuzz-test`), its fuzzing driver
//! (`fuzz-test-attacker`) and its honest disk client (`fuzz-test-worker`)
//! say to each other in `test/fuzz.toml`: to the fuzzer, one raw call per
//! round, [`ROUND`] with a [`Round`] and two leases, answered with a
//! [`Report`]; to the worker, [`WORK`], answered with a [`Work`].
//!
//! The fuzzer is untrusted, and so is everything it reports: the suite
//! takes its evidence of what happened from the kernel (fault records) and
//! from its own memory. The report only says how far a round got, so the
//! suite can show that the fuzz did reach the paths it meant to.
//!
//! It must never carry anything the suite relies on for a verdict about
//! the kernel.

#![no_std]

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The operation of a round's call.
pub const ROUND: u16 = 1;

/// The suite's leases on each round: index of the read-only one (its
/// bytes must never change) …
pub const LEASE_READ_ONLY: usize = 0;
/// … and of the writable one (the fuzzer and its device may write it).
pub const LEASE_WRITABLE: usize = 1;

/// One round: make `calls` syscalls (and raw accesses) chosen by a
/// generator seeded with `seed`.
#[derive(Copy, Clone, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Round {
    /// The generator's seed: the same seed makes the same calls.
    pub seed: u64,
    /// How many calls to make before answering.
    pub calls: u32,
    /// The address of memory of the suite's that is not lent (a target
    /// that must stay out of reach).
    pub canary: u32,
}

/// How a round went, as the fuzzer tells it.
#[derive(Copy, Clone, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Report {
    /// Calls made.
    pub calls: u32,
    /// Syscalls that returned a refusal (a non-zero code in `a0`) rather
    /// than faulting the fuzzer.
    pub refused: u32,
    /// Sends that came back (a reply, an error code or DEAD).
    pub sends_answered: u32,
    /// Chains the kernel accepted through `DmaOp::Post`.
    pub dma_posted: u32,
    /// Posts the kernel refused.
    pub dma_refused: u32,
    /// Chains the device gave back (the used index moved): DMA happened.
    pub dma_used: u32,
    /// Calls of another task (the hostile client) received mid-round.
    pub peer_calls: u32,
    /// The fuzzer's own RAM as it knows it (stack bottom to the end of
    /// .bss): an access fault inside it would be the kernel's error.
    pub ram_lo: u32,
    /// End of that range (exclusive).
    pub ram_hi: u32,
}

/// The operation that asks the worker for its tally.
pub const WORK: u16 = 2;

/// What the honest client of `blk0` saw, requests counted from its start.
#[derive(Copy, Clone, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Work {
    /// Write-then-read-back requests made.
    pub requests: u32,
    /// Of those, read back right.
    pub ok: u32,
    /// Read back with other bytes than written.
    pub wrong_data: u32,
    /// Failed because `blk0` was restarted under them.
    pub restarted: u32,
    /// Failed with any other error.
    pub failed: u32,
}
