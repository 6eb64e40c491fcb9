//! The memory map printed after a build: one row per region with its base,
//! size and how much of it the linked program uses.

use std::fmt::Write as _;

/// One row of the map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// "kernel" or a task name.
    pub owner: String,
    /// "text", "ram", "rings (kernel-written)" or "device <name>".
    pub region: String,
    /// First address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// Bytes in use (None for device windows).
    pub used: Option<u64>,
}

/// Formats the map as an aligned table.
pub fn format(rows: &[Row]) -> String {
    let owner_w = rows.iter().map(|r| r.owner.len()).max().unwrap_or(0).max(4);
    let region_w = rows
        .iter()
        .map(|r| r.region.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<owner_w$}  {:<region_w$}  {:>10}  {:>8}  {:>8}  {:>5}",
        "task", "region", "base", "size", "used", "%"
    );
    for r in rows {
        let (used, pct) = match r.used {
            Some(u) => (
                u.to_string(),
                format!("{}%", (u * 100).checked_div(r.size).unwrap_or(0)),
            ),
            None => ("-".to_string(), "-".to_string()),
        };
        let _ = writeln!(
            s,
            "{:<owner_w$}  {:<region_w$}  {:>#10x}  {:>8}  {:>8}  {:>5}",
            r.owner, r.region, r.base, r.size, used, pct
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{format, Row};

    #[test]
    fn table() {
        let rows = [
            Row {
                owner: "kernel".into(),
                region: "text".into(),
                base: 0x8000_0000,
                size: 65536,
                used: Some(16384),
            },
            Row {
                owner: "ping".into(),
                region: "device uart".into(),
                base: 0x1000_0000,
                size: 4096,
                used: None,
            },
        ];
        let t = format(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "task    region             base      size      used      %"
        );
        assert_eq!(
            lines[1],
            "kernel  text         0x80000000     65536     16384    25%"
        );
        assert_eq!(
            lines[2],
            "ping    device uart  0x10000000      4096         -      -"
        );
    }
}
