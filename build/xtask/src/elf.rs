//! Reading the linked kernel and task ELFs: the entry point, the loadable
//! segments the image is packed from, and how much of a region the program
//! really uses (sizes are measured, never guessed).

use anyhow::{bail, Context, Result};
use object::elf::{FileHeader32, EM_RISCV, PT_LOAD, SHF_ALLOC, SHF_EXECINSTR};
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::LittleEndian as LE;

use crate::layout::Region;

/// One loadable segment with bytes in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Physical (load) address: where QEMU puts the bytes.
    pub paddr: u64,
    /// `PF_*` flags.
    pub flags: u32,
    /// The file bytes (`p_filesz` of them).
    pub data: Vec<u8>,
}

/// An allocated section's span, for measuring RAM use and code size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AllocSection {
    addr: u64,
    size: u64,
    /// `SHF_EXECINSTR`: instructions, as opposed to data.
    code: bool,
}

/// What xtask needs from a linked RV32 ELF.
#[derive(Clone, Debug)]
pub struct Elf {
    /// `e_entry`.
    pub entry: u64,
    /// `e_flags` (float ABI, RVC), copied to the packed image.
    pub flags: u32,
    /// `PT_LOAD` segments with `p_filesz > 0`.
    pub segments: Vec<Segment>,
    sections: Vec<AllocSection>,
}

impl Elf {
    /// Parses a 32-bit little-endian RISC-V ELF.
    pub fn parse(data: &[u8]) -> Result<Elf> {
        let header = FileHeader32::<LE>::parse(data).context("not a 32-bit little-endian ELF")?;
        let e = LE;
        if header.e_machine(e) != EM_RISCV {
            bail!(
                "ELF machine is {}, not RISC-V ({})",
                header.e_machine(e).0,
                EM_RISCV.0
            );
        }
        let mut segments = Vec::new();
        for ph in header
            .program_headers(e, data)
            .context("bad program headers")?
        {
            if ph.p_type(e) != PT_LOAD || ph.p_filesz(e) == 0 {
                continue;
            }
            let bytes = ph
                .data(e, data)
                .map_err(|()| anyhow::anyhow!("segment data out of bounds"))?;
            segments.push(Segment {
                paddr: ph.p_paddr(e).into(),
                flags: ph.p_flags(e).0,
                data: bytes.to_vec(),
            });
        }
        let mut sections = Vec::new();
        for sh in header
            .section_headers(e, data)
            .context("bad section headers")?
        {
            let flags = sh.sh_flags(e).0;
            if flags & SHF_ALLOC.0 != 0 {
                sections.push(AllocSection {
                    addr: sh.sh_addr(e).into(),
                    size: sh.sh_size(e).into(),
                    code: flags & SHF_EXECINSTR.0 != 0,
                });
            }
        }
        Ok(Elf {
            entry: header.e_entry(e).into(),
            flags: header.e_flags(e).0,
            segments,
            sections,
        })
    }

    /// Reads and parses an ELF file.
    pub fn read(path: &std::path::Path) -> Result<Elf> {
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Elf::parse(&data).with_context(|| format!("cannot parse {}", path.display()))
    }

    /// Bytes of the text region in use: the highest end of a loaded
    /// segment whose load address lies in `link` (the linker's region, which
    /// is larger than the budget), minus its base. This includes the `.data`
    /// initialiser stored in text and copied to RAM at startup.
    pub fn text_used(&self, link: Region) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.paddr >= link.base && s.paddr < link.end())
            .map(|s| s.paddr + s.data.len() as u64 - link.base)
            .max()
            .unwrap_or(0)
    }

    /// Functions of `core::fmt` in the ELF at `path`, demangled. The
    /// kernel has none (README, "What keeps the kernel's code small"):
    /// one that does carries about a kilobyte of number formatting, which
    /// comes with a panic whose message prints numbers, most often an
    /// index or slice the compiler cannot prove in bounds.
    pub fn fmt_functions(path: &std::path::Path) -> Result<Vec<String>> {
        use object::{Object as _, ObjectSymbol as _};
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let file = object::File::parse(&*data)
            .with_context(|| format!("cannot parse {}", path.display()))?;
        Ok(fmt_names(file.symbols().filter_map(|s| s.name().ok())))
    }

    /// Bytes of instructions: the allocated sections marked executable
    /// (`.text`), without the constants beside them in the text region
    /// (`.rodata`: strings, jump tables and, in the kernel, the image's
    /// task descriptors, which grow with the number of tasks). 0 for a
    /// packed image, which has no sections.
    pub fn code_bytes(&self) -> u64 {
        self.sections
            .iter()
            .filter(|s| s.code)
            .map(|s| s.size)
            .sum()
    }

    /// Bytes of the RAM region in use: the highest end of an allocated
    /// section in `link`, minus its base. The stack sits at the bottom of RAM,
    /// so data and bss above it make this include the stack; `stack` is the
    /// floor for a program with neither.
    pub fn ram_used(&self, link: Region, stack: u64) -> u64 {
        self.sections
            .iter()
            .filter(|s| s.addr >= link.base && s.addr < link.end())
            .map(|s| s.addr + s.size - link.base)
            .max()
            .unwrap_or(0)
            .max(stack)
    }
}

/// The names among `names` (mangled symbol names) that demangle into
/// `core::fmt`, demangled: [`Elf::fmt_functions`]'s filter.
fn fmt_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    names
        .map(|n| format!("{:#}", rustc_demangle::demangle(n)))
        .filter(|n| n.contains("core::fmt"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Elf;
    use crate::layout::Region;
    use crate::pack::{write_image, OutSegment};

    #[test]
    fn measures_text_from_load_addresses() {
        // A packed image is a valid input ELF too: use the packer to make one.
        let segs = vec![
            OutSegment {
                paddr: 0x8001_0000,
                flags: 5,
                data: vec![1; 100],
                origin: "a".into(),
            },
            // .data initialiser: loaded in text, lives in RAM.
            OutSegment {
                paddr: 0x8001_0064,
                flags: 6,
                data: vec![2; 12],
                origin: "a".into(),
            },
            OutSegment {
                paddr: 0x9000_0000,
                flags: 6,
                data: vec![3; 4],
                origin: "a".into(),
            },
        ];
        let bytes = write_image(0x8001_0000, 5, &segs).unwrap();
        let elf = Elf::parse(&bytes).unwrap();
        assert_eq!(elf.entry, 0x8001_0000);
        assert_eq!(elf.flags, 5);
        assert_eq!(elf.text_used(Region::new(0x8001_0000, 0x100_0000)), 112);
        // No sections in a packed image: RAM use falls back to the stack.
        assert_eq!(elf.ram_used(Region::new(0x8002_0000, 0x100_0000), 256), 256);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Elf::parse(b"not an elf").is_err());
    }

    #[test]
    fn fmt_functions_are_the_core_fmt_ones() {
        let names = [
            "_ZN4core3fmt9Formatter12pad_integral12write_prefix17h0123456789abcdefE",
            "_ZN4core9panicking9panic_fmt17h0123456789abcdefE",
            "_ZN4kern7console6prefix17h0123456789abcdefE",
            "<usize as core::fmt::Display>::fmt",
            "memcpy",
        ];
        assert_eq!(
            super::fmt_names(names.into_iter()),
            [
                "core::fmt::Formatter::pad_integral::write_prefix",
                "<usize as core::fmt::Display>::fmt"
            ]
        );
    }
}
