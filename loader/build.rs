//! Links the BIOS entry (`bin bios`) with `bios.ld` when building for the bare-metal target.

use std::{env, path::PathBuf};

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let script = manifest_dir.join("bios.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bin=bios=-T{}", script.display());
        // Linked at fixed low addresses: the 32-bit entry stub uses absolute addresses.
        println!("cargo:rustc-link-arg-bin=bios=--no-pie");
        println!("cargo:rustc-link-arg-bin=bios=-zmax-page-size=0x1000");
    }
}
