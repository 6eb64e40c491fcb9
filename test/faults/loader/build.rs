//! Generates the campaign's seed from `VIREO_CAMPAIGN`
//! (`<faults>:<seed>[:<only>]`), which xtask sets on every image build;
//! the loader derives the seed of its sector choices from it. `cargo xtask
//! campaign` patches each run's seed over it in the packed image.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    println!("cargo:rerun-if-env-changed=VIREO_CAMPAIGN");
    let spec = std::env::var("VIREO_CAMPAIGN").map_err(|_| {
        "VIREO_CAMPAIGN is not set: build test images with `cargo xtask build` \
         (it passes the campaign's size and seed)"
    })?;
    let seed: u64 = spec
        .split(':')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("VIREO_CAMPAIGN={spec:?}: expected <faults>:<seed>[:<only>]"))?;
    std::fs::write(
        std::path::Path::new(&out).join("campaign.rs"),
        format!("/// The campaign's seed (`--seed`).\npub const SEED: u64 = {seed};\n"),
    )?;
    Ok(())
}
