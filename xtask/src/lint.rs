//! `make lint`: rustfmt and clippy over every configuration that ships or is tested.
//!
//! The host workspace (all targets: libs, bins, tests, benches), the production kernel and the
//! test kernel (`--features ktest`) on `x86_64-unknown-none`, the loader on
//! `x86_64-unknown-uefi` and its BIOS entry on `x86_64-unknown-none`, each with `-D warnings`. Every step runs even when an earlier one
//! fails, so one run lists every problem; the command fails if any step did.

use std::process::Command;

use crate::deps::{self, Purpose};
use crate::error::Result;
use crate::images;

/// (what, cargo arguments) of each step.
const STEPS: &[(&str, &[&str])] = &[
    ("rustfmt", &["fmt", "--all", "--check"]),
    (
        "clippy host workspace",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ),
    (
        "clippy kernel (production, x86_64-unknown-none)",
        &[
            "clippy",
            "-p",
            "kernel",
            "--target",
            "x86_64-unknown-none",
            "--",
            "-D",
            "warnings",
        ],
    ),
    (
        "clippy kernel (ktest, x86_64-unknown-none)",
        &[
            "clippy",
            "-p",
            "kernel",
            "--target",
            "x86_64-unknown-none",
            "--features",
            "ktest",
            "--",
            "-D",
            "warnings",
        ],
    ),
    (
        "clippy loader (x86_64-unknown-uefi)",
        &[
            "clippy",
            "-p",
            "loader",
            "--lib",
            "--bin",
            "loader",
            "--target",
            "x86_64-unknown-uefi",
            "--",
            "-D",
            "warnings",
        ],
    ),
    (
        "clippy loader BIOS entry (x86_64-unknown-none)",
        &[
            "clippy",
            "-p",
            "loader",
            "--lib",
            "--bin",
            "bios",
            "--target",
            "x86_64-unknown-none",
            "--",
            "-D",
            "warnings",
        ],
    ),
];

/// Runs every lint step; returns whether all passed.
pub fn lint() -> Result<bool> {
    deps::ensure(Purpose::Toolchain)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut failed = Vec::new();
    for (what, args) in STEPS {
        eprintln!("lint: {what}: cargo {}", args.join(" "));
        let ok = Command::new(&cargo)
            .current_dir(images::root())
            .args(*args)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("lint: FAILED: {what}");
            failed.push(*what);
        }
    }
    if failed.is_empty() {
        eprintln!("lint: all {} steps clean", STEPS.len());
        Ok(true)
    } else {
        eprintln!(
            "lint: {} of {} steps failed: {}",
            failed.len(),
            STEPS.len(),
            failed.join("; ")
        );
        Ok(false)
    }
}
