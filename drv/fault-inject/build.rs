//! Generates the client of `idl/fault-inject.idol` (and its error enum,
//! which the drivers' generated servers use).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../idl/fault-inject.idol", &out)?;
    Ok(())
}
