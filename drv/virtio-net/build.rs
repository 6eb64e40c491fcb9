//! Generates the Ethernet server trait and dispatch from `idl/ethernet.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../idl/ethernet.idol", &out)?;
    // Served only by test images (feature `fault-injection`).
    idol::generate_server("../../idl/fault-inject.idol", &out)?;
    Ok(())
}
