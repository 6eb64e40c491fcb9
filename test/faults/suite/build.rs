//! Generates the campaign's size, seed and replayed fault from
//! `VIREO_CAMPAIGN`
//! (`<faults>:<seed>[:<only>]`). xtask sets it on every image build
//! (`cargo xtask test --faults N --seed S [--only K]`, or its default,
//! written once in `build/xtask/src/campaign.rs`); there is no default here.

use std::fmt::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;

    println!("cargo:rerun-if-env-changed=VIREO_CAMPAIGN");
    let spec = std::env::var("VIREO_CAMPAIGN").map_err(|_| {
        "VIREO_CAMPAIGN is not set: build test images with `cargo xtask build` \
         (it passes the campaign's size and seed)"
    })?;
    let bad = || format!("VIREO_CAMPAIGN={spec:?}: expected <faults>:<seed>[:<only>]");
    let mut parts = spec.split(':');
    let faults: u32 = parts.next().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    let seed: u64 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let only: Option<u32> = match parts.next() {
        None | Some("") => None,
        Some(k) => Some(k.parse().map_err(|_| bad())?),
    };
    let mut text = String::new();
    writeln!(
        text,
        "/// Faults the campaign injects.\npub const FAULTS: u32 = {faults};"
    )?;
    writeln!(
        text,
        "/// The campaign's seed.\npub const SEED: u64 = {seed};"
    )?;
    writeln!(
        text,
        "/// Replay only this fault of the campaign (`--only`).\npub const ONLY: Option<u32> = {only:?};"
    )?;
    std::fs::write(std::path::Path::new(&out).join("campaign.rs"), text)?;
    Ok(())
}
