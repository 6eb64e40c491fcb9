//! Generates the supervisor client from `idl/supervisor.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../idl/supervisor.idol", &out)?;
    Ok(())
}
