//! Names of virtio device classes (VIRTIO 1.2 §5, "Device Types"), for
//! `devices`.

/// The class name of virtio device id `id`.
pub fn name(id: u32) -> &'static str {
    match id {
        0 => "-",
        1 => "network",
        2 => "block",
        3 => "console",
        4 => "entropy",
        5 => "balloon",
        8 => "scsi",
        9 => "9p",
        16 => "gpu",
        18 => "input",
        19 => "vsock",
        20 => "crypto",
        26 => "fs",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_and_unknown() {
        assert_eq!(super::name(2), "block");
        assert_eq!(super::name(4), "entropy");
        assert_eq!(super::name(0), "-");
        assert_eq!(super::name(999), "other");
    }
}
