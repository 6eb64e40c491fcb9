//! Generates the Ethernet server trait and dispatch from `idl/ethernet.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../idl/ethernet.idol", &out)?;
    Ok(())
}
