//! Generates the campaign proxy's client, and the campaign's
//! size and seed from `VIREO_CAMPAIGN` (`<faults>:<seed>`, set by
//! `cargo xtask test --faults N --seed S`; default 200 faults, seed 1).

use std::fmt::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../idl/campaign-proxy.idol", &out)?;

    println!("cargo:rerun-if-env-changed=VIREO_CAMPAIGN");
    let spec = std::env::var("VIREO_CAMPAIGN").unwrap_or_else(|_| "200:1".into());
    let (faults, seed) = spec
        .split_once(':')
        .and_then(|(f, s)| Some((f.parse::<u32>().ok()?, s.parse::<u64>().ok()?)))
        .ok_or_else(|| format!("VIREO_CAMPAIGN={spec:?}: expected <faults>:<seed>"))?;
    let mut text = String::new();
    writeln!(
        text,
        "/// Faults the campaign injects.\npub const FAULTS: u32 = {faults};"
    )?;
    writeln!(
        text,
        "/// The campaign's seed.\npub const SEED: u64 = {seed};"
    )?;
    std::fs::write(std::path::Path::new(&out).join("campaign.rs"), text)?;
    Ok(())
}
