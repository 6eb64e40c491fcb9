//! Generates the Ping client from `idl/ping.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../../idl/ping.idol", &out)?;
    Ok(())
}
