//! Generates the server side of the two interfaces the supervisor serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../idl/supervisor.idol", &out)?;
    idol::generate_server("../../idl/virtio-bus.idol", &out)?;
    Ok(())
}
