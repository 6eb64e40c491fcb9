//! Generates the campaign proxy's client, and the campaign's
//! size, seed and replayed fault from `VIREO_CAMPAIGN`
//! (`<faults>:<seed>[:<only>]`, set by `cargo xtask test --faults N --seed S
//! [--only K]`; default 200 faults, seed 1).

use std::fmt::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_client("../../../idl/campaign-proxy.idol", &out)?;

    println!("cargo:rerun-if-env-changed=VIREO_CAMPAIGN");
    let spec = std::env::var("VIREO_CAMPAIGN").unwrap_or_else(|_| "200:1".into());
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
