//! Generates the Ping server trait and dispatch from `idl/ping.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../../idl/ping.idol", &out)?;
    Ok(())
}
