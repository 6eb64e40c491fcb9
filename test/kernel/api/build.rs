//! Generates the kernel test assistant's client from `idl/kernel-test.idol`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../../idl/kernel-test.idol", &out)?;
    Ok(())
}
