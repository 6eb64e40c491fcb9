//! Generates the client of the fake driver's `idl/bus-test.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../../idl/bus-test.idol", &out)?;
    Ok(())
}
