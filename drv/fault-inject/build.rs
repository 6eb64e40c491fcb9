//! Generates the client of `idl/fault-inject.idol` (with its error enum)
//! and the server that `serve` runs for the drivers.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../idl/fault-inject.idol", &out)?;
    idol::generate_server("../../idl/fault-inject.idol", &out)?;
    Ok(())
}
