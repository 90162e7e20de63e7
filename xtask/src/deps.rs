//! `make deps`: checks for the host tools and installs missing ones with apt-get.
//!
//! Needed: `qemu-system-x86_64` (package qemu-system-x86), OVMF (ovmf), `xorriso` (xorriso),
//! `mformat`/`mcopy` (mtools). Installs as root directly or through sudo; otherwise stops with a
//! message naming the packages. Rust targets come from `rust-toolchain.toml` through rustup.

use std::process::Command;

/// A required tool and the Debian package that provides it.
struct Requirement {
    what: &'static str,
    package: &'static str,
    present: fn() -> bool,
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        what: "qemu-system-x86_64",
        package: "qemu-system-x86",
        present: || on_path("qemu-system-x86_64"),
    },
    Requirement {
        what: "OVMF firmware",
        package: "ovmf",
        present: || crate::qemu::find_ovmf().is_ok(),
    },
    Requirement {
        what: "xorriso",
        package: "xorriso",
        present: || on_path("xorriso"),
    },
    Requirement {
        what: "mtools (mformat, mcopy)",
        package: "mtools",
        present: || on_path("mformat") && on_path("mcopy"),
    },
];

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(mut cmd: Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("deps: running {shown}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

/// Ensures every requirement is present, installing missing packages when possible.
pub fn ensure() -> Result<(), String> {
    let missing: Vec<&Requirement> = REQUIREMENTS.iter().filter(|r| !(r.present)()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|r| r.package).collect();
    let names: Vec<&str> = missing.iter().map(|r| r.what).collect();
    eprintln!(
        "deps: missing {} (packages: {})",
        names.join(", "),
        packages.join(" ")
    );
    let manual = format!(
        "missing host tools: {}. Install the packages `{}` (Debian/Ubuntu: sudo apt-get install {}) and re-run.",
        names.join(", "),
        packages.join(" "),
        packages.join(" ")
    );
    if !on_path("apt-get") {
        return Err(manual);
    }
    let prefix: Vec<&str> = if is_root() {
        vec![]
    } else if on_path("sudo") {
        vec!["sudo", "-n"]
    } else {
        return Err(manual);
    };
    let apt = |args: &[&str]| {
        let mut all: Vec<&str> = prefix.clone();
        all.push("apt-get");
        all.extend_from_slice(args);
        let mut cmd = Command::new(all[0]);
        cmd.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(apt(&["update", "-q"])).map_err(|e| format!("{e}\n{manual}"))?;
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(&packages);
    run(apt(&install)).map_err(|e| format!("{e}\n{manual}"))?;
    let still: Vec<&str> = REQUIREMENTS
        .iter()
        .filter(|r| !(r.present)())
        .map(|r| r.what)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!("still missing after install: {}", still.join(", ")))
    }
}
