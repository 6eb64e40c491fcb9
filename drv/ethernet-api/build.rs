//! Generates the client from `idl/ethernet.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../idl/ethernet.idol", &out)?;
    Ok(())
}
