//! Generates the Block server trait, dispatch and deferred reply functions
//! from `idl/block.idol`, and the fault-injection server for test images.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../idl/block.idol", &out)?;
    // Served only by test images (feature `fault-injection`).
    idol::generate_server("../../idl/fault-inject.idol", &out)?;
    Ok(())
}
