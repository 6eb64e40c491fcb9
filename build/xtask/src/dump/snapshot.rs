//! A copy of an image's RAM taken at one moment — from a live target over
//! the gdbstub, or read back from a dump file — and the read-only bytes of
//! the image itself, behind one [`Memory`] interface the decoder reads.
//!
//! Dump file format (`target/<image>/dumps/*.dump`):
//!
//! ```text
//! VIREO-DUMP 1\n
//! {"image": "...", "reason": "...", "regions": [{"base": B, "size": S}, ...], ...}\n
//! the bytes of each region, in the order listed
//! ```

use std::borrow::Cow;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The first line of every dump file.
const MAGIC: &str = "VIREO-DUMP 1";

/// Something the decoder can read bytes from.
pub trait Memory {
    /// `len` bytes at `addr`, or `None` if any of them is not known.
    fn read(&self, addr: u64, len: usize) -> Option<Cow<'_, [u8]>>;
}

/// One span of captured memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// First address.
    pub base: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

impl Span {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        self.data.get(start..start.checked_add(len)?)
    }
}

/// Facts about a snapshot besides its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The image's name (`target/<name>/`).
    pub image: String,
    /// Why it was taken (`live`, `kernel panic: …`).
    pub reason: String,
    /// Seconds since the Unix epoch when it was taken.
    pub taken_at: u64,
    /// The hart's registers x0..x31 and the pc, when known.
    #[serde(default)]
    pub registers: Vec<u32>,
    /// The spans, in file order.
    pub regions: Vec<RegionHeader>,
}

/// Where one span's bytes belong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionHeader {
    /// First address.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

/// Captured RAM plus what is known about the capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Facts (the `regions` list is rebuilt from `spans` when written).
    pub header: Header,
    /// The captured spans.
    pub spans: Vec<Span>,
}

impl Snapshot {
    /// Serialises to the dump file format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = self.header.clone();
        header.regions = self
            .spans
            .iter()
            .map(|s| RegionHeader {
                base: s.base,
                size: s.data.len() as u64,
            })
            .collect();
        let mut out = format!(
            "{MAGIC}\n{}\n",
            serde_json::to_string(&header).expect("a header always serialises")
        )
        .into_bytes();
        for s in &self.spans {
            out.extend_from_slice(&s.data);
        }
        out
    }

    /// Parses the dump file format; a truncated or foreign file is an
    /// error that says what is wrong with it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot> {
        let mut lines = bytes.splitn(3, |&b| b == b'\n');
        let magic = lines.next().unwrap_or_default();
        if magic != MAGIC.as_bytes() {
            bail!("not a Vireo dump (it does not start with `{MAGIC}`)");
        }
        let header_line = lines.next().context("dump ends before its header")?;
        let header: Header =
            serde_json::from_slice(header_line).context("the dump's header is not valid JSON")?;
        let mut rest = lines.next().unwrap_or_default();
        let mut spans = Vec::new();
        for r in &header.regions {
            let size = usize::try_from(r.size).context("region too large")?;
            if rest.len() < size {
                bail!(
                    "dump is truncated: region {:#x}+{:#x} has only {} of its bytes",
                    r.base,
                    r.size,
                    rest.len()
                );
            }
            spans.push(Span {
                base: r.base,
                data: rest[..size].to_vec(),
            });
            rest = &rest[size..];
        }
        Ok(Snapshot { header, spans })
    }

    /// Writes the dump file, creating its directory.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(path, self.to_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads a dump file.
    pub fn read(path: &Path) -> Result<Snapshot> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Snapshot::from_bytes(&bytes)
            .with_context(|| format!("{} is not a usable dump", path.display()))
    }
}

impl Memory for Snapshot {
    fn read(&self, addr: u64, len: usize) -> Option<Cow<'_, [u8]>> {
        self.spans
            .iter()
            .find_map(|s| s.read(addr, len))
            .map(Cow::Borrowed)
    }
}

/// The image's own bytes (text and read-only data: task names, the
/// kernel's task descriptors) under a snapshot of its RAM.
pub struct Layered<'a> {
    /// RAM as captured.
    pub ram: &'a Snapshot,
    /// The image's loadable segments.
    pub image: &'a [Span],
}

impl Memory for Layered<'_> {
    fn read(&self, addr: u64, len: usize) -> Option<Cow<'_, [u8]>> {
        self.ram.read(addr, len).or_else(|| {
            self.image
                .iter()
                .find_map(|s| s.read(addr, len))
                .map(Cow::Borrowed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Header, Memory, Snapshot, Span};

    fn sample() -> Snapshot {
        Snapshot {
            header: Header {
                image: "t".into(),
                reason: "test".into(),
                taken_at: 1,
                registers: vec![0, 1, 2],
                regions: Vec::new(),
            },
            spans: vec![
                Span {
                    base: 0x8000_0000,
                    data: vec![1, 2, 3, 4],
                },
                Span {
                    base: 0x9000_0000,
                    data: vec![9; 16],
                },
            ],
        }
    }

    #[test]
    fn a_dump_reads_back_what_was_written() {
        let s = sample();
        let back = Snapshot::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back.spans, s.spans);
        assert_eq!(back.header.registers, vec![0, 1, 2]);
        assert_eq!(back.header.regions.len(), 2);
        assert_eq!(back.read(0x8000_0001, 2).unwrap().as_ref(), &[2, 3]);
        assert!(
            back.read(0x8000_0003, 2).is_none(),
            "reads never cross a span's end"
        );
    }

    #[test]
    fn truncated_and_foreign_files_are_refused_with_a_reason() {
        let bytes = sample().to_bytes();
        let e = Snapshot::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(format!("{e:#}").contains("truncated"), "{e:#}");
        let e = Snapshot::from_bytes(b"ELF\x7f").unwrap_err();
        assert!(format!("{e:#}").contains("not a Vireo dump"), "{e:#}");
    }
}
