//! Generates the Entropy server trait and dispatch from `idl/entropy.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../idl/entropy.idol", &out)?;
    Ok(())
}
