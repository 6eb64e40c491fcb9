//! Generates the server (and, for its error enum, the client) of
//! `idl/campaign-proxy.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../../idl/campaign-proxy.idol", &out)?;
    idol::generate_server("../../../idl/campaign-proxy.idol", &out)?;
    Ok(())
}
