//! Generates the client from `idl/entropy.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../idl/entropy.idol", &out)?;
    Ok(())
}
