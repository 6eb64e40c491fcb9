//! `struct virtio_net_hdr` (§5.1.6): the header in front of every frame on
//! both queues.
//!
//! The driver negotiates no offloads (no `VIRTIO_NET_F_CSUM`, no GSO, no
//! `VIRTIO_NET_F_MRG_RXBUF`), so it sends an all-zero header and ignores
//! the one it receives: `flags` 0 means the checksum is complete, and
//! `gso_type` 0 (`VIRTIO_NET_HDR_GSO_NONE`) means no segmentation.

/// Bytes of the header the device expects (§5.1.6): 12 on a VIRTIO 1.x
/// device (`num_buffers` is always present once `VIRTIO_F_VERSION_1` is
/// negotiated), 10 on a legacy device without `VIRTIO_NET_F_MRG_RXBUF`
/// (§5.1.6.1 legacy interface: "the structure was 2 bytes shorter").
pub const fn header_len(legacy: bool) -> usize {
    if legacy {
        10
    } else {
        12
    }
}

/// The longest header on any transport: the size of each header buffer.
pub const MAX_HEADER_LEN: usize = 12;

#[cfg(test)]
mod tests {
    #[test]
    fn lengths_follow_the_transport() {
        assert_eq!(super::header_len(true), 10);
        assert_eq!(super::header_len(false), 12);
        assert!(super::header_len(false) <= super::MAX_HEADER_LEN);
    }
}
