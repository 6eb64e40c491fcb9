//! Generates the virtio bus client from `idl/virtio-bus.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../idl/virtio-bus.idol", &out)?;
    Ok(())
}
