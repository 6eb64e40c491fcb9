//! Names of virtio device classes (VIRTIO 1.2 §5, "Device Types"), for
//! `devices`: the one table in `virtio::class`, shared with the image
//! builder's `drives` check.

pub use virtio::class::name;
