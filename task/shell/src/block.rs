//! Which block of a disk holds a sector, and where in it the sector is.
//!
//! The shell's `blk` commands name 512-byte sectors, as the Block interface
//! and virtio do (capacity and sector numbers are 512-byte units whatever
//! the block size, virtio 1.2 §5.2.4). A disk whose block size is larger
//! (QEMU's `logical_block_size=4096`) takes only whole blocks at a block
//! boundary, so the shell reads the block holding the sector and shows the
//! sector's 512 bytes of it, and writes a sector by reading its block,
//! changing those 512 bytes and writing the block back.
//!
//! The block size comes from the driver's `info`, and a driver is not
//! trusted: any value must give a span within the shell's buffer or a
//! refusal that names it, never a panic.

/// Bytes in a sector, the unit of every sector number.
pub const SECTOR: usize = 512;

/// Largest block the shell reads or writes whole: its buffer, on the
/// shell's 8 KiB stack.
pub const BLOCK_MAX: usize = 4096;

/// What to ask the driver for to reach one sector: a whole block, and the
/// sector's place in it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The block's first sector.
    start: u64,
    /// The block's length in bytes: a whole number of sectors, at most
    /// [`BLOCK_MAX`].
    len: usize,
    /// Where the sector's bytes begin in the block: a multiple of
    /// [`SECTOR`] below `len`.
    offset: usize,
}

/// Why the shell cannot reach a sector of a disk: its block size, as the
/// driver reports it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SpanError {
    /// Blocks larger than the shell's buffer ([`BLOCK_MAX`]).
    TooLarge {
        /// The block size the driver reported, in bytes.
        block_size: u32,
    },
    /// A block size that is no whole number of sectors: nonsense from the
    /// driver (its own check makes it a power of two of at least 512).
    NotSectors {
        /// The block size the driver reported, in bytes.
        block_size: u32,
    },
    /// The driver reports a capacity that is no whole number of blocks,
    /// and the sector is in the last block, which the disk's end cuts
    /// short: the driver would refuse the whole block as past the end,
    /// and only whole blocks may be asked for. The virtio-blk driver
    /// never reports such a capacity (it rounds an image QEMU takes of 129
    /// sectors with 4 KiB blocks down to 128), but a driver is not
    /// trusted.
    CutShort {
        /// The disk's capacity in sectors, as the driver reported it.
        capacity: u64,
        /// The block size the driver reported, in bytes.
        block_size: u32,
    },
}

impl Span {
    /// The block holding `sector` on a disk of `capacity` sectors in
    /// blocks of `block_size` bytes. A block size of a sector or less (0
    /// included: a driver that says nothing useful) is one sector, the
    /// request the shell always made. A sector past the end is the
    /// driver's to refuse (`OutOfRange`, as for any request), so its
    /// block is given, even one that reaches past `u64::MAX` sectors.
    pub fn of(sector: u64, block_size: u32, capacity: u64) -> Result<Self, SpanError> {
        let len = (block_size as usize).max(SECTOR);
        if len > BLOCK_MAX {
            return Err(SpanError::TooLarge { block_size });
        }
        if !len.is_multiple_of(SECTOR) {
            return Err(SpanError::NotSectors { block_size });
        }
        let per_block = (len / SECTOR) as u64;
        let index = sector % per_block;
        let start = sector - index;
        if sector < capacity
            && start
                .checked_add(per_block)
                .is_none_or(|end| end > capacity)
        {
            return Err(SpanError::CutShort {
                capacity,
                block_size,
            });
        }
        Ok(Span {
            start,
            len,
            offset: index as usize * SECTOR,
        })
    }

    /// The block's first sector: where to read and write.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The block's length in bytes.
    pub fn bytes(&self) -> usize {
        self.len
    }

    /// Whether the block is the sector alone: then a write needs no read
    /// first.
    pub fn is_sector(&self) -> bool {
        self.len == SECTOR
    }

    /// The part of `buf` the block is read into and written from.
    pub fn block<'a>(&self, buf: &'a mut [u8; BLOCK_MAX]) -> &'a mut [u8] {
        &mut buf[..self.len]
    }

    /// The sector's bytes in `buf`, which holds the block.
    pub fn sector<'a>(&self, buf: &'a [u8; BLOCK_MAX]) -> &'a [u8] {
        &buf[self.offset..self.offset + SECTOR]
    }

    /// Puts `text` at the start of the sector in `buf`, which holds the
    /// block, and zeroes the rest of the sector; the other sectors of the
    /// block stay as read. The bytes of `text` written: at most a sector.
    pub fn put(&self, buf: &mut [u8; BLOCK_MAX], text: &[u8]) -> usize {
        let sector = &mut buf[self.offset..self.offset + SECTOR];
        let n = text.len().min(SECTOR);
        sector[..n].copy_from_slice(&text[..n]);
        sector[n..].fill(0);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::{Span, SpanError, BLOCK_MAX, SECTOR};

    /// A disk larger than any sector the tests name but `u64::MAX`.
    const DISK: u64 = 1 << 40;

    /// `(start, len, offset)` of the span.
    fn span(sector: u64, block_size: u32) -> (u64, usize, usize) {
        let s = Span::of(sector, block_size, DISK).unwrap();
        (s.start(), s.bytes(), s.offset)
    }

    #[test]
    fn a_sector_disk_is_asked_for_the_sector() {
        for block_size in [0, 1, 511, 512] {
            assert_eq!(span(0, block_size), (0, 512, 0), "{block_size}");
            assert_eq!(span(7, block_size), (7, 512, 0), "{block_size}");
            assert!(Span::of(7, block_size, DISK).unwrap().is_sector());
        }
    }

    #[test]
    fn a_larger_block_is_read_whole_from_its_boundary() {
        // 1024: two sectors a block.
        assert_eq!(span(0, 1024), (0, 1024, 0));
        assert_eq!(span(1, 1024), (0, 1024, 512));
        assert_eq!(span(7, 1024), (6, 1024, 512));
        // 4096: eight.
        assert_eq!(span(0, 4096), (0, 4096, 0));
        assert_eq!(span(3, 4096), (0, 4096, 1536));
        assert_eq!(span(7, 4096), (0, 4096, 3584));
        assert_eq!(span(8, 4096), (8, 4096, 0));
        assert_eq!(span(13, 4096), (8, 4096, 2560));
        assert!(!Span::of(13, 4096, DISK).unwrap().is_sector());
        // Not a power of two, but whole sectors: still exact.
        assert_eq!(span(5, 1536), (3, 1536, 1024));
    }

    #[test]
    fn the_last_sector_of_a_disk_is_the_end_of_its_last_block() {
        // A 1 MiB disk (2048 sectors) of 4 KiB blocks: the last block is
        // sectors 2040..2048 and the last sector its last 512 bytes.
        let capacity = 2048;
        let s = Span::of(capacity - 1, 4096, capacity).unwrap();
        assert_eq!((s.start(), s.bytes(), s.offset), (2040, 4096, 3584));
        assert_eq!(s.start() + (s.bytes() / SECTOR) as u64, capacity);
        assert_eq!(s.offset + SECTOR, s.bytes());
        // The first sector past the end starts a block past it, which the
        // driver refuses (OutOfRange), not one that ends on the disk.
        assert_eq!(
            Span::of(capacity, 4096, capacity).unwrap().start(),
            capacity
        );
        // The largest sector number gives a span, without overflow.
        assert_eq!(span(u64::MAX, 4096), (u64::MAX - 7, 4096, 3584));
        assert_eq!(span(u64::MAX, 512), (u64::MAX, 512, 0));
        // A sector disk's last sector is itself.
        assert_eq!(Span::of(2047, 512, capacity).unwrap().start(), 2047);
    }

    #[test]
    fn a_sector_in_a_last_block_cut_short_is_refused() {
        // 129 sectors of 4 KiB blocks (QEMU takes such an image, which
        // the virtio-blk driver reports as 128; another might not): sector
        // 128 is on the disk, but its block, 128..136, is not.
        let cut = Err(SpanError::CutShort {
            capacity: 129,
            block_size: 4096,
        });
        assert_eq!(Span::of(128, 4096, 129), cut);
        // The whole blocks before it are served, the sectors past the
        // end left to the driver.
        assert_eq!(Span::of(127, 4096, 129).unwrap().start(), 120);
        assert_eq!(Span::of(129, 4096, 129).unwrap().start(), 128);
        // A disk smaller than one block has no whole block.
        for sector in 0..3 {
            assert!(matches!(
                Span::of(sector, 4096, 3),
                Err(SpanError::CutShort { capacity: 3, .. })
            ));
        }
        // A block that would end past `u64::MAX` sectors is cut short
        // too, not an overflow.
        assert!(matches!(
            Span::of(u64::MAX - 1, 4096, u64::MAX),
            Err(SpanError::CutShort { .. })
        ));
        // Sector disks are never cut short.
        assert_eq!(Span::of(128, 512, 129).unwrap().start(), 128);
    }

    #[test]
    fn blocks_larger_than_the_buffer_or_not_sectors_are_refused() {
        for block_size in [8192, 4097, 65536, u32::MAX] {
            assert_eq!(
                Span::of(0, block_size, DISK),
                Err(SpanError::TooLarge { block_size })
            );
        }
        for block_size in [513, 1000, 4095] {
            assert_eq!(
                Span::of(3, block_size, DISK),
                Err(SpanError::NotSectors { block_size })
            );
        }
        assert_eq!(BLOCK_MAX, 4096);
    }

    #[test]
    fn the_sector_shown_is_its_bytes_of_the_block() {
        let mut buf = [0u8; BLOCK_MAX];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i / SECTOR) as u8;
        }
        let s = Span::of(13, 4096, DISK).unwrap();
        assert_eq!(s.block(&mut buf).len(), 4096);
        assert!(s.sector(&buf).iter().all(|&b| b == 5));
        let s = Span::of(13, 1024, DISK).unwrap();
        assert_eq!(s.block(&mut buf).len(), 1024);
        assert!(s.sector(&buf).iter().all(|&b| b == 1));
    }

    #[test]
    fn a_write_keeps_the_other_sectors_of_the_block() {
        for (sector, block_size) in [(13, 4096), (8, 4096), (15, 4096), (3, 1024), (7, 512)] {
            let s = Span::of(sector, block_size, DISK).unwrap();
            let mut buf = [0u8; BLOCK_MAX];
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (i * 7 + 1) as u8;
            }
            let before = buf;
            assert_eq!(s.put(&mut buf, b"hello"), 5);
            let first = (sector - s.start()) as usize * SECTOR;
            let sector_bytes = &buf[first..first + SECTOR];
            assert_eq!(&sector_bytes[..5], b"hello");
            assert!(sector_bytes[5..].iter().all(|&b| b == 0));
            assert_eq!(s.sector(&buf), sector_bytes);
            // Every other byte of the buffer, in the block or past it,
            // byte for byte.
            assert_eq!(buf[..first], before[..first], "{sector} {block_size}");
            assert_eq!(buf[first + SECTOR..], before[first + SECTOR..]);
        }
        // Text longer than a sector fills it and goes no further.
        let s = Span::of(9, 4096, DISK).unwrap();
        let mut buf = [0xaa; BLOCK_MAX];
        assert_eq!(s.put(&mut buf, &[b'x'; 600]), SECTOR);
        assert!(buf[512..1024].iter().all(|&b| b == b'x'));
        assert!(buf[..512].iter().chain(&buf[1024..]).all(|&b| b == 0xaa));
    }
}
