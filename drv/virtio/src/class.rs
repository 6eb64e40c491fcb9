//! Virtio device classes: the device ids of VIRTIO 1.2 §5 ("Device Types")
//! and the names Vireo uses for them, in app.toml (`drives = ["block"]`)
//! and on the shell (`devices`).

/// Every class Vireo names, as (device id, name). Device id 0 is reserved
/// (§5: "an empty slot") and is not a class.
pub const CLASSES: [(u32, &str); 12] = [
    (1, "network"),
    (2, "block"),
    (3, "console"),
    (4, "entropy"),
    (5, "balloon"),
    (8, "scsi"),
    (9, "9p"),
    (16, "gpu"),
    (18, "input"),
    (19, "vsock"),
    (20, "crypto"),
    (26, "fs"),
];

/// The class name of virtio device id `id`: "-" for an empty slot (id 0),
/// "other" for an id Vireo has no name for.
pub fn name(id: u32) -> &'static str {
    if id == 0 {
        return "-";
    }
    CLASSES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| *n)
        .unwrap_or("other")
}

/// The device id of the class called `name`, if Vireo knows it.
pub fn id(name: &str) -> Option<u32> {
    CLASSES.iter().find(|(_, n)| *n == name).map(|(i, _)| *i)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_ids_round_trip() {
        assert_eq!(super::name(2), "block");
        assert_eq!(super::name(4), "entropy");
        assert_eq!(super::name(0), "-");
        assert_eq!(super::name(999), "other");
        for (i, n) in super::CLASSES {
            assert_eq!(super::id(n), Some(i));
            assert_eq!(super::name(i), n);
        }
        assert_eq!(super::id("blok"), None);
    }
}
