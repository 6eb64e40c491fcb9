//! Host tests of the virtio core against a software device model.
//!
//! One test binary (modules below) so the model is compiled once.

mod model;

mod harness;

mod hostile;
mod init;
mod props;
mod queue;
