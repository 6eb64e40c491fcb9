//! A size in bytes as a person reads it: `8 MiB`, `1.5 KiB`, `8 GiB`, not
//! `8388608 KiB` or a half sector lost to integer division.

use core::fmt;

/// A number of bytes, shown in the largest binary unit it reaches, with
/// up to two decimals (truncated, never rounded up: a disk is never shown
/// larger than it is) and no trailing zeros.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl Size {
    /// The size of `sectors` 512-byte sectors (virtio-blk's `capacity` is
    /// in 512-byte units whatever the block size, virtio 1.2 §5.2.4),
    /// saturating at `u64::MAX` bytes.
    pub fn of_sectors(sectors: u64) -> Self {
        Size(sectors.saturating_mul(512))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        let bytes = self.0;
        if bytes < 1024 {
            return write!(f, "{bytes} bytes");
        }
        let mut unit = 0;
        while unit + 1 < UNITS.len() && bytes >> (10 * (unit + 2)) != 0 {
            unit += 1;
        }
        let shift = 10 * (unit as u32 + 1);
        let whole = bytes >> shift;
        let rest = bytes & ((1u64 << shift) - 1);
        // Hundredths of the unit, truncated; `rest < 2^shift <= 2^60`, so
        // `rest * 100` fits in a u128 but not always in a u64.
        let hundredths = ((rest as u128 * 100) >> shift) as u64;
        match hundredths {
            0 => write!(f, "{whole} {}", UNITS[unit]),
            h if h % 10 == 0 => write!(f, "{whole}.{} {}", h / 10, UNITS[unit]),
            h => write!(f, "{whole}.{h:02} {}", UNITS[unit]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Size;

    fn shown(bytes: u64) -> String {
        Size(bytes).to_string()
    }

    #[test]
    fn each_unit_and_the_fractions_between() {
        assert_eq!(shown(0), "0 bytes");
        assert_eq!(shown(512), "512 bytes");
        assert_eq!(shown(1024), "1 KiB");
        assert_eq!(shown(1536), "1.5 KiB");
        assert_eq!(shown(1024 + 10), "1 KiB"); // 0.0097: truncated
        assert_eq!(shown(1024 + 11), "1.01 KiB");
        assert_eq!(shown(8 << 20), "8 MiB");
        assert_eq!(shown((8 << 20) - 512), "7.99 MiB"); // never rounded up
        assert_eq!(shown(8 << 30), "8 GiB");
        assert_eq!(shown(3 << 40), "3 TiB");
        assert_eq!(shown(u64::MAX), "15.99 EiB");
    }

    #[test]
    fn sectors_are_512_bytes_and_saturate() {
        assert_eq!(Size::of_sectors(3), Size(1536));
        assert_eq!(Size::of_sectors(16384).to_string(), "8 MiB");
        assert_eq!(Size::of_sectors(u64::MAX), Size(u64::MAX));
    }
}
