//! Generates the Net server trait and dispatch from `idl/net.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../idl/net.idol", &out)?;
    println!("cargo:rerun-if-env-changed=VIREO_CONFIG");
    Ok(())
}
