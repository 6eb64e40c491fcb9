//! Guest memory as the model device sees it: a set of host regions the test
//! registered or the model allocated. Every device access is checked against
//! them, so a driver bug that publishes a wild address fails the test with a
//! message instead of corrupting the test process.

use std::ptr;

/// One range of host memory the device may reach.
struct Region {
    base: u64,
    len: usize,
}

/// The device's view of guest memory.
#[derive(Default)]
pub struct GuestMemory {
    regions: Vec<Region>,
}

impl GuestMemory {
    /// Lets the device reach `len` bytes at `base`, memory the test owns
    /// (ring memory, indirect tables) and keeps alive as long as the model.
    /// Accesses use the provenance the driver exposed when it published the
    /// address.
    pub fn register(&mut self, base: u64, len: usize) {
        self.regions.push(Region { base, len });
    }

    /// Allocates `len` zeroed bytes of DMA memory (in the low arena) and
    /// returns its address.
    pub fn alloc(&mut self, len: usize) -> u64 {
        let base = super::arena::alloc(len, 8).expose_provenance() as u64;
        self.regions.push(Region { base, len });
        base
    }

    /// The host pointer for `len` bytes at `addr`, if they lie inside one
    /// region.
    fn host(&self, addr: u64, len: usize) -> Option<*mut u8> {
        let end = addr.checked_add(len as u64)?;
        self.regions
            .iter()
            .find(|r| addr >= r.base && end <= r.base + r.len as u64)
            .map(|_| ptr::with_exposed_provenance_mut::<u8>(addr as usize))
    }

    /// Reads `len` bytes at `addr`; `None` if outside guest memory.
    pub fn try_read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let src = self.host(addr, len)?;
        let mut out = vec![0u8; len];
        // SAFETY: `host` checked that [addr, addr+len) lies in a registered
        // region: arena memory or test memory that lives as long as the model; the test runs on one
        // thread, so nothing writes it concurrently. Volatile: the driver
        // side accesses the same bytes through its own pointers.
        for (i, b) in out.iter_mut().enumerate() {
            *b = unsafe { src.add(i).read_volatile() };
        }
        Some(out)
    }

    /// Writes `data` at `addr`; `false` if outside guest memory.
    pub fn try_write(&self, addr: u64, data: &[u8]) -> bool {
        let Some(dst) = self.host(addr, data.len()) else {
            return false;
        };
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: as in `try_read`.
            unsafe { dst.add(i).write_volatile(b) };
        }
        true
    }

    /// Reads, failing the test if the driver gave a bad address.
    pub fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        self.try_read(addr, len)
            .unwrap_or_else(|| panic!("device read of {len} bytes at {addr:#x}: not guest memory"))
    }

    /// Writes, failing the test if the driver gave a bad address.
    pub fn write(&self, addr: u64, data: &[u8]) {
        assert!(
            self.try_write(addr, data),
            "device write of {} bytes at {addr:#x}: not guest memory",
            data.len()
        );
    }

    pub fn read_u16(&self, addr: u64) -> u16 {
        u16::from_le_bytes(self.read(addr, 2).try_into().unwrap())
    }

    pub fn read_u32(&self, addr: u64) -> u32 {
        u32::from_le_bytes(self.read(addr, 4).try_into().unwrap())
    }

    pub fn read_u64(&self, addr: u64) -> u64 {
        u64::from_le_bytes(self.read(addr, 8).try_into().unwrap())
    }

    /// The `struct virtq_desc` at `addr` (§2.7.5): `(addr, len, flags,
    /// next)`, little-endian.
    pub fn read_desc(&self, addr: u64) -> (u64, u32, u16, u16) {
        (
            self.read_u64(addr),
            self.read_u32(addr + 8),
            self.read_u16(addr + 12),
            self.read_u16(addr + 14),
        )
    }

    pub fn write_u16(&self, addr: u64, v: u16) {
        self.write(addr, &v.to_le_bytes());
    }

    pub fn write_u32(&self, addr: u64, v: u32) {
        self.write(addr, &v.to_le_bytes());
    }
}
