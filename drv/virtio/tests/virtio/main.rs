//! Host tests of the virtio core against a software device model.
//!
//! One test binary (modules below) so the model is compiled once.

mod model;

mod harness;

mod config;
mod gated;
mod hostile;
mod init;
mod layout;
mod props;
mod queue;
