//! Generates the server of `idl/bus-test.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../../idl/bus-test.idol", &out)?;
    Ok(())
}
