//! The kernel's DMA gate: [`DmaGate`] over the `sys_dma_*` syscalls.
//!
//! Target only: on the host there is no kernel to call, and the device-model
//! tests play the kernel's part with their own gate. Must never do anything
//! but forward to the kernel: every check is the kernel's
//! (`sys/kern/src/dma.rs`).

use super::gate::{AvailField, DmaGate};
use super::layout::Descriptor;
use crate::error::Error;
use crate::features::Features;

/// The kernel's gate: `abi::Sysnum::Dma` (`sys/kern/src/dma.rs`). Only
/// meaningful in a Vireo task holding a granted virtio window and a ring
/// region (app.toml `queues`).
#[derive(Copy, Clone, Debug, Default)]
pub struct KernelGate;

impl DmaGate for KernelGate {
    fn driver_features(&self, features: Features) -> Result<Features, Error> {
        let refused = |code| Error::DmaRefused { code };
        let low = userlib::sys_dma_features(0, features.low()).map_err(refused)?;
        let high = userlib::sys_dma_features(1, features.high()).map_err(refused)?;
        Ok(Features::from_banks(low, high))
    }

    fn setup(&self, queue: u16, max: u16) -> Result<(usize, u16), Error> {
        userlib::sys_dma_setup(queue, max).map_err(|code| Error::DmaRefused { code })
    }

    fn post(
        &self,
        queue: u16,
        chain: &[Descriptor],
        head: u16,
        lender: Option<u32>,
        used_event: Option<u16>,
    ) -> Result<(), Error> {
        let bytes = zerocopy::IntoBytes::as_bytes(chain);
        let lender = lender.map(userlib::TaskId::from_register);
        userlib::sys_dma_post(queue, bytes, head, lender, used_event)
            .map_err(|code| Error::DmaRefused { code })
    }

    fn avail(&self, queue: u16, field: AvailField, value: u16) {
        let which = match field {
            AvailField::Flags => userlib::abi::DMA_AVAIL_FLAGS,
            AvailField::UsedEvent => userlib::abi::DMA_USED_EVENT,
        };
        // Refused only for a queue that is not set up, which a queue built
        // by `setup` is: nothing to recover.
        let _ = userlib::sys_dma_avail(queue, which, value);
    }
}
