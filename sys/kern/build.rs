//! Brings the image's task table (`kconfig.rs`, written by `cargo xtask
//! build` from app.toml) into the kernel binary. Without `VIREO_KCONFIG`
//! (host builds and tests) an empty table is written instead.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=VIREO_KCONFIG");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("kconfig.rs");
    let text = match env::var_os("VIREO_KCONFIG") {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&path).display());
            fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("VIREO_KCONFIG={}: {e}", PathBuf::from(&path).display())
            })
        }
        None => "pub const SUPERVISOR: usize = 0;\n\
                 pub const KERNEL_RAM: RegionDesc = RegionDesc { base: 0, size: 0, attributes: 0 };\n\
                 pub static TASK_DESCS: [TaskDesc; 0] = [];\n\
                 pub static IRQ_DESCS: [IrqDesc; 0] = [];\n"
            .to_string(),
    };
    fs::write(&out, text).expect("write kconfig.rs");
}
