//! Packing the kernel and every task into the one ELF QEMU boots.
//!
//! The image holds one `PT_LOAD` per loadable input segment, placed at the
//! segment's physical (load) address: QEMU's `-kernel` loader copies by
//! physical address, and a task's `.data` initialiser lives in its text
//! region (the task copies it to RAM itself). No section headers: QEMU does
//! not need them, and each input ELF stays in `dist/` for debugging.

use anyhow::{bail, Result};
use object::elf::EM_RISCV;

/// One segment of the output image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutSegment {
    /// Load (= virtual) address.
    pub paddr: u64,
    /// `PF_*` flags.
    pub flags: u32,
    /// Contents; the segment's memory size equals its file size.
    pub data: Vec<u8>,
    /// Where it came from ("kernel", a task name), for error messages.
    pub origin: String,
}

const EHDR_SIZE: usize = 52;
const PHDR_SIZE: usize = 32;
const ET_EXEC: u16 = 2;
const PT_LOAD: u32 = 1;
const SEGMENT_ALIGN: u64 = 4;

/// Builds the image bytes: an ELF32 little-endian RISC-V executable with
/// `entry` and `flags` (taken from the kernel) and the given segments.
/// Fails if two segments overlap or one does not fit in 32 bits.
pub fn write_image(entry: u64, flags: u32, segments: &[OutSegment]) -> Result<Vec<u8>> {
    let mut segs: Vec<&OutSegment> = segments.iter().filter(|s| !s.data.is_empty()).collect();
    segs.sort_by_key(|s| s.paddr);
    for s in &segs {
        if s.paddr + s.data.len() as u64 > 1 << 32 {
            bail!(
                "segment of {} at {:#x} does not fit in the 32-bit address space",
                s.origin,
                s.paddr
            );
        }
    }
    for pair in segs.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let a_end = a.paddr + a.data.len() as u64;
        if b.paddr < a_end {
            bail!(
                "image segments overlap: {} [{:#x}, {:#x}) and {} [{:#x}, {:#x}); the regions in the linker scripts disagree with the layout",
                a.origin,
                a.paddr,
                a_end,
                b.origin,
                b.paddr,
                b.paddr + b.data.len() as u64
            );
        }
    }
    let Ok(phnum) = u16::try_from(segs.len()) else {
        bail!("too many segments ({}) for one ELF", segs.len());
    };
    let u32_of =
        |x: u64| u32::try_from(x).map_err(|_| anyhow::anyhow!("{x:#x} does not fit in 32 bits"));

    // Lay out the file: headers, then each segment's bytes at an offset
    // congruent to its address modulo the alignment.
    let mut offset = (EHDR_SIZE + PHDR_SIZE * segs.len()) as u64;
    let mut offsets = Vec::with_capacity(segs.len());
    for s in &segs {
        while offset % SEGMENT_ALIGN != s.paddr % SEGMENT_ALIGN {
            offset += 1;
        }
        offsets.push(offset);
        offset += s.data.len() as u64;
    }

    let mut out = Vec::with_capacity(offset as usize);
    out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&ET_EXEC.to_le_bytes());
    out.extend_from_slice(&EM_RISCV.0.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version
    out.extend_from_slice(&u32_of(entry)?.to_le_bytes());
    out.extend_from_slice(&(EHDR_SIZE as u32).to_le_bytes()); // e_phoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_shoff
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
    out.extend_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
    out.extend_from_slice(&phnum.to_le_bytes());
    out.extend_from_slice(&40u16.to_le_bytes()); // e_shentsize
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    debug_assert_eq!(out.len(), EHDR_SIZE);

    for (s, &off) in segs.iter().zip(&offsets) {
        let addr = u32_of(s.paddr)?;
        let size = u32_of(s.data.len() as u64)?;
        for word in [
            PT_LOAD,
            u32_of(off)?,
            addr,
            addr,
            size,
            size,
            s.flags,
            SEGMENT_ALIGN as u32,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }
    for (s, &off) in segs.iter().zip(&offsets) {
        out.resize(off as usize, 0);
        out.extend_from_slice(&s.data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{write_image, OutSegment};
    use object::elf::{FileHeader32, EM_RISCV, ET_EXEC, PT_LOAD};
    use object::read::elf::{FileHeader, ProgramHeader};
    use object::LittleEndian as LE;

    fn seg(paddr: u64, data: &[u8], origin: &str) -> OutSegment {
        OutSegment {
            paddr,
            flags: 5,
            data: data.to_vec(),
            origin: origin.into(),
        }
    }

    #[test]
    fn round_trips_through_object() {
        let segs = vec![
            seg(0x8002_0000, &[9, 8, 7], "ping"),
            seg(0x8000_0000, &[1, 2, 3, 4, 5], "kernel"),
            seg(0x8001_0001, &[6], "pong"),
            seg(0x8003_0000, &[], "empty"),
        ];
        let bytes = write_image(0x8000_0000, 0x5, &segs).unwrap();
        let hdr = FileHeader32::<LE>::parse(&*bytes).unwrap();
        assert_eq!(hdr.e_type(LE), ET_EXEC);
        assert_eq!(hdr.e_machine(LE), EM_RISCV);
        assert_eq!(hdr.e_entry(LE), 0x8000_0000);
        assert_eq!(hdr.e_flags(LE).0, 5);
        let phs = hdr.program_headers(LE, &*bytes).unwrap();
        let got: Vec<(u32, u32, u32, Vec<u8>)> = phs
            .iter()
            .map(|p| {
                assert_eq!(p.p_type(LE), PT_LOAD);
                assert_eq!(p.p_filesz(LE), p.p_memsz(LE));
                assert_eq!(p.p_offset(LE) % 4, p.p_paddr(LE) % 4);
                (
                    p.p_paddr(LE),
                    p.p_vaddr(LE),
                    p.p_filesz(LE),
                    p.data(LE, &*bytes).unwrap().to_vec(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0x8000_0000, 0x8000_0000, 5, vec![1, 2, 3, 4, 5]),
                (0x8001_0001, 0x8001_0001, 1, vec![6]),
                (0x8002_0000, 0x8002_0000, 3, vec![9, 8, 7]),
            ]
        );
    }

    #[test]
    fn overlap_is_an_error_naming_both() {
        let segs = vec![
            seg(0x8000_0000, &[0; 16], "kernel"),
            seg(0x8000_000c, &[0; 4], "ping"),
        ];
        let msg = write_image(0x8000_0000, 0, &segs).unwrap_err().to_string();
        assert!(
            msg.contains("overlap: kernel [0x80000000, 0x80000010) and ping [0x8000000c"),
            "{msg}"
        );
    }

    #[test]
    fn adjacent_segments_are_fine() {
        let segs = vec![
            seg(0x8000_0000, &[0; 16], "a"),
            seg(0x8000_0010, &[0; 4], "b"),
        ];
        write_image(0x8000_0000, 0, &segs).unwrap();
    }
}
