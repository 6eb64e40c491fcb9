//! Fuzz target: a queue driven by arbitrary operations against a device
//! that writes arbitrary used-ring contents (ids, lengths, index jumps).
//! The library must not panic, never return a token twice, and give back
//! exactly the outstanding tokens on shutdown. The harness and the device
//! model are shared with the host tests, which also run the harness briefly
//! under proptest (`cargo test -p virtio fuzz_used_ring_briefly`).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/virtio/model/mod.rs"]
mod model;

#[path = "../../tests/virtio/harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    // SAFETY: libFuzzer runs inputs one after another on one thread, and
    // `harness::run` drops its queue, device and buffers before returning,
    // so nothing from the previous input is still in use.
    unsafe { model::arena::reset() };
    harness::run(data);
});
