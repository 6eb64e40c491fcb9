//! Generates the assistant's server trait and dispatch from `idl/kernel-test.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../../idl/kernel-test.idol", &out)?;
    Ok(())
}
