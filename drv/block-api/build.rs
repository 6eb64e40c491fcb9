//! Generates the client from `idl/block.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../idl/block.idol", &out)?;
    Ok(())
}
