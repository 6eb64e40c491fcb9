//! Generates the assistant client from `idl/idol-test.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../../idl/idol-test.idol", &out)?;
    Ok(())
}
