//! Generates the Block server trait, dispatch and deferred reply functions
//! from `idl/block.idol` (fault injection is `fault_inject::serve`'s).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../idl/block.idol", &out)?;
    Ok(())
}
