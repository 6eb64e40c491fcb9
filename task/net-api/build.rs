//! Generates the client from `idl/net.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../idl/net.idol", &out)?;
    Ok(())
}
