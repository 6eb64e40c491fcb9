//! Consistent reads of the device-specific configuration space (§2.5).
//!
//! A device may change its configuration at any time (a disk resized, a
//! link going down), and a field wider than one access, or a group of fields
//! read together, could be torn. VIRTIO 1.x devices count changes in the
//! configuration generation (§2.5.1, §4.2.2 ConfigGeneration): a read is
//! consistent if the generation is the same before and after it. Legacy
//! devices have no generation, so the whole read is repeated until two
//! results agree (§2.5.4, "Legacy Interface: Device Configuration Space").
//!
//! Either way the retries are bounded: a device that never settles yields
//! [`Error::ConfigUnstable`] instead of a hang.

use crate::error::Error;
use crate::transport::Transport;

/// How many attempts a guarded read makes before giving up with
/// [`Error::ConfigUnstable`].
pub const CONFIG_READ_ATTEMPTS: u32 = 16;

/// Runs `read` (any number of config accesses) until it observed a
/// consistent configuration (§2.5.1 "Driver Requirements: Device
/// Configuration Space"), and returns what it read.
///
/// On a VIRTIO 1.x device: ConfigGeneration before and after must match. On
/// a legacy device: two successive results must be equal.
pub fn read_consistent<Tr, R>(
    transport: &Tr,
    mut read: impl FnMut(&Tr) -> Result<R, Error>,
) -> Result<R, Error>
where
    Tr: Transport + ?Sized,
    R: PartialEq,
{
    if transport.config_generation().is_some() {
        for _ in 0..CONFIG_READ_ATTEMPTS {
            let before = transport.config_generation();
            let value = read(transport)?;
            if transport.config_generation() == before {
                return Ok(value);
            }
        }
    } else {
        let mut previous = read(transport)?;
        for _ in 1..CONFIG_READ_ATTEMPTS {
            let value = read(transport)?;
            if value == previous {
                return Ok(value);
            }
            previous = value;
        }
    }
    Err(Error::ConfigUnstable)
}

/// Reads a 64-bit field as two 32-bit halves, low then high, inside one
/// consistent read (§2.5.1, §4.2.2.2: 64-bit fields are read with 32-bit
/// accesses).
pub fn read_config_u64<Tr: Transport + ?Sized>(
    transport: &Tr,
    offset: usize,
) -> Result<u64, Error> {
    read_consistent(transport, |t| {
        let low = t.read_config32(offset)?;
        let high = t.read_config32(offset + 4)?;
        // The high half shifted clear of the low one: no carry.
        Ok(u64::from(low) + (u64::from(high) << 32))
    })
}

/// Reads a 32-bit field inside one consistent read.
pub fn read_config_u32<Tr: Transport + ?Sized>(
    transport: &Tr,
    offset: usize,
) -> Result<u32, Error> {
    read_consistent(transport, |t| t.read_config32(offset))
}

/// Fills `out` from the byte array at `offset` (such as a MAC address) with
/// 8-bit reads, inside one consistent read. At most 64 bytes.
pub fn read_config_bytes<Tr: Transport + ?Sized>(
    transport: &Tr,
    offset: usize,
    out: &mut [u8],
) -> Result<(), Error> {
    const MAX: usize = 64;
    let len = out.len();
    if len > MAX {
        return Err(Error::ConfigOutOfRange {
            offset: offset + MAX,
        });
    }
    let bytes = read_consistent(transport, |t| {
        let mut bytes = [0u8; MAX];
        for (i, b) in bytes.iter_mut().enumerate().take(len) {
            *b = t.read_config8(offset + i)?;
        }
        Ok(bytes)
    })?;
    out.copy_from_slice(&bytes[..len]);
    Ok(())
}
