//! `make deps`: the pinned Rust toolchain and the host tools, installed when missing.
//!
//! 1. Rust: `rust-toolchain.toml` names a channel, components and targets. rustup installs
//!    them together only when it installs the toolchain itself; a toolchain that is already
//!    there (a CI image, a colleague's laptop) may lack the targets. [`toolchain`] asks rustup
//!    what is installed and adds what is missing, saying what it does. With everything present
//!    it costs three quick rustup queries.
//! 2. Host tools (Debian/Ubuntu packages, installed with apt-get as root, through `sudo -n`, or
//!    else named in the error): `qemu-system-x86_64` (qemu-system-x86), OVMF (ovmf), `xorriso`
//!    (xorriso), `mformat`/`mcopy` (mtools), GRUB's BIOS images and `grub-mkimage` for the
//!    bundled ISO's BIOS boot (grub-pc-bin, which pulls in grub-common; only the files, it
//!    does not touch the host's boot loader), and for `make run`'s window QEMU's GTK/SDL front
//!    end (qemu-system-gui; without it `make run` runs headless and says why).
//!
//! The Makefile installs a missing pinned toolchain itself before it builds this crate (cargo
//! cannot build xtask without it); everything else is decided here.

use std::process::Command;

use crate::error::{Error, Result};

/// What the caller is about to do, which decides the optional requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Everything, including the QEMU window front end (`make deps`, `make run`).
    All,
    /// Building and headless QEMU runs (`make test`, `bench`, `iso`, `build`, `lint`).
    Headless,
    /// Only the Rust toolchain (`make lint`).
    Toolchain,
}

/// Ensures what `purpose` needs is present, installing what is missing.
pub fn ensure(purpose: Purpose) -> Result<()> {
    toolchain()?;
    if purpose != Purpose::Toolchain {
        host_tools(purpose == Purpose::All)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rust toolchain

/// The `[toolchain]` table of `rust-toolchain.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// `channel`, e.g. `1.95.0`.
    pub channel: String,
    /// `components`, e.g. `clippy`.
    pub components: Vec<String>,
    /// `targets`, e.g. `x86_64-unknown-none`.
    pub targets: Vec<String>,
    /// `profile`, if given.
    pub profile: Option<String>,
}

/// Parses the text of a `rust-toolchain.toml`.
pub fn parse_toolchain_file(text: &str) -> Result<Pinned> {
    let table: toml::Table = toml::from_str(text)
        .map_err(|e| Error::Msg(format!("rust-toolchain.toml is not valid TOML: {e}")))?;
    let tc = table
        .get("toolchain")
        .and_then(toml::Value::as_table)
        .ok_or("rust-toolchain.toml has no [toolchain] table")?;
    let list = |key: &str| -> Result<Vec<String>> {
        match tc.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(String::from).ok_or_else(|| {
                        Error::Msg(format!("rust-toolchain.toml: {key} must list strings"))
                    })
                })
                .collect(),
            Some(_) => Err(format!("rust-toolchain.toml: {key} must be an array").into()),
        }
    };
    Ok(Pinned {
        channel: tc
            .get("channel")
            .and_then(toml::Value::as_str)
            .ok_or("rust-toolchain.toml: [toolchain] has no channel")?
            .to_string(),
        components: list("components")?,
        targets: list("targets")?,
        profile: tc
            .get("profile")
            .and_then(toml::Value::as_str)
            .map(String::from),
    })
}

/// The installed toolchain (full rustup name, e.g. `1.95.0-x86_64-unknown-linux-gnu`) that
/// `channel` resolves to, from the output of `rustup toolchain list`.
pub fn find_toolchain(list: &str, channel: &str) -> Option<String> {
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .find(|name| {
            *name == channel
                || name
                    .strip_prefix(channel)
                    .is_some_and(|rest| rest.starts_with('-') && rest.matches('-').count() >= 2)
        })
        .map(String::from)
}

/// The entries of `wanted` that a `--installed` listing lacks. Components are listed with the
/// host triple appended (`clippy-x86_64-unknown-linux-gnu`), targets without.
pub fn missing_from(wanted: &[String], installed: &str, host: &str) -> Vec<String> {
    let have: Vec<&str> = installed.lines().map(str::trim).collect();
    wanted
        .iter()
        .filter(|w| {
            let with_host = format!("{w}-{host}");
            !have.iter().any(|h| *h == w.as_str() || *h == with_host)
        })
        .cloned()
        .collect()
}

fn rustup_output(args: &[&str]) -> Result<String> {
    let out = Command::new("rustup")
        .args(args)
        .output()
        .map_err(|e| Error::io(format!("cannot run rustup {}", args.join(" ")), e))?;
    if !out.status.success() {
        return Err(format!(
            "rustup {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn rustup_install(args: &[&str]) -> Result<()> {
    run(rustup_command(args))
}

fn rustup_command(args: &[&str]) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(args);
    cmd
}

/// Makes sure the toolchain of `rust-toolchain.toml` and its components and targets are
/// installed. Without rustup on PATH it says so and trusts the compiler that is there.
pub fn toolchain() -> Result<()> {
    let path = crate::images::root().join("rust-toolchain.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let pinned = parse_toolchain_file(&text)?;
    if !on_path("rustup") {
        eprintln!(
            "deps: rustup not found; cannot check that toolchain {} with targets {} is installed",
            pinned.channel,
            pinned.targets.join(", ")
        );
        return Ok(());
    }
    let list = rustup_output(&["toolchain", "list"])?;
    let Some(name) = find_toolchain(&list, &pinned.channel) else {
        eprintln!(
            "deps: installing Rust toolchain {} (pinned in rust-toolchain.toml)",
            pinned.channel
        );
        let components = pinned.components.join(",");
        let targets = pinned.targets.join(",");
        let mut args = vec!["toolchain", "install", pinned.channel.as_str()];
        if let Some(profile) = &pinned.profile {
            args.extend(["--profile", profile]);
        }
        if !components.is_empty() {
            args.extend(["--component", &components]);
        }
        if !targets.is_empty() {
            args.extend(["--target", &targets]);
        }
        return rustup_install(&args);
    };
    let host = name
        .strip_prefix(&pinned.channel)
        .and_then(|h| h.strip_prefix('-'))
        .unwrap_or_default()
        .to_string();
    let targets = missing_from(
        &pinned.targets,
        &rustup_output(&["target", "list", "--installed", "--toolchain", &name])?,
        &host,
    );
    if !targets.is_empty() {
        eprintln!(
            "deps: toolchain {name} lacks target(s) {} from rust-toolchain.toml; adding them",
            targets.join(", ")
        );
        let mut args = vec!["target", "add", "--toolchain", name.as_str()];
        args.extend(targets.iter().map(String::as_str));
        rustup_install(&args)?;
    }
    let components = missing_from(
        &pinned.components,
        &rustup_output(&["component", "list", "--installed", "--toolchain", &name])?,
        &host,
    );
    if !components.is_empty() {
        eprintln!(
            "deps: toolchain {name} lacks component(s) {} from rust-toolchain.toml; adding them",
            components.join(", ")
        );
        let mut args = vec!["component", "add", "--toolchain", name.as_str()];
        args.extend(components.iter().map(String::as_str));
        rustup_install(&args)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Host tools

/// A required tool and the Debian package that provides it.
struct Requirement {
    what: &'static str,
    package: &'static str,
    present: fn() -> bool,
    /// Needed only for `make run`'s window; its absence is not an error.
    optional: bool,
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
        optional: false,
    },
    Requirement {
        what: "OVMF firmware",
        package: "ovmf",
        present: || crate::qemu::find_ovmf().is_ok(),
        optional: false,
    },
    Requirement {
        what: "xorriso",
        package: "xorriso",
        present: || on_path("xorriso"),
        optional: false,
    },
    Requirement {
        what: "GRUB for BIOS PCs (grub-mkimage and /usr/lib/grub/i386-pc)",
        package: "grub-pc-bin",
        present: || on_path("grub-mkimage") && crate::grub::have_i386_pc(),
        optional: false,
    },
    Requirement {
        what: "mtools (mformat, mcopy)",
        package: "mtools",
        present: || on_path("mformat") && on_path("mcopy"),
        optional: false,
    },
    Requirement {
        what: "QEMU's GTK/SDL window",
        package: "qemu-system-gui",
        // Without qemu-system-x86_64 there is nothing to probe; it is installed first.
        present: || !on_path("qemu-system-x86_64") || crate::qemu::window_backend().is_some(),
        optional: true,
    },
];

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(mut cmd: Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("deps: running {shown}");
    let status = cmd
        .status()
        .map_err(|e| Error::io(format!("cannot run {shown}"), e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Failed {
            command: shown,
            status,
        })
    }
}

fn host_tools(with_optional: bool) -> Result<()> {
    let wanted = |r: &&Requirement| with_optional || !r.optional;
    let missing: Vec<&Requirement> = REQUIREMENTS
        .iter()
        .filter(wanted)
        .filter(|r| !(r.present)())
        .collect();
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
    let only_optional = missing.iter().all(|r| r.optional);
    let give_up = |why: String| -> Result<()> {
        if only_optional {
            eprintln!("deps: {why}; `make run` will run headless");
            Ok(())
        } else {
            Err(why.into())
        }
    };
    if !on_path("apt-get") {
        return give_up(manual);
    }
    let prefix: Vec<&str> = if is_root() {
        vec![]
    } else if on_path("sudo") {
        vec!["sudo", "-n"]
    } else {
        return give_up(manual);
    };
    let apt = |args: &[&str]| {
        let mut all: Vec<&str> = prefix.clone();
        all.push("apt-get");
        all.extend_from_slice(args);
        let mut cmd = Command::new(all[0]);
        cmd.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    if let Err(e) = run(apt(&["update", "-q"])) {
        return give_up(format!("{e}\n{manual}"));
    }
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(&packages);
    if let Err(e) = run(apt(&install)) {
        return give_up(format!("{e}\n{manual}"));
    }
    let still: Vec<&str> = REQUIREMENTS
        .iter()
        .filter(wanted)
        .filter(|r| !(r.present)())
        .map(|r| r.what)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        give_up(format!("still missing after install: {}", still.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_project_toolchain_file() {
        let text = std::fs::read_to_string(crate::images::root().join("rust-toolchain.toml"))
            .expect("rust-toolchain.toml");
        let pinned = parse_toolchain_file(&text).expect("valid");
        assert!(!pinned.channel.is_empty());
        assert!(pinned.targets.iter().any(|t| t == "x86_64-unknown-none"));
        assert!(pinned.targets.iter().any(|t| t == "x86_64-unknown-uefi"));
    }

    #[test]
    fn toolchain_file_shapes() {
        let p = parse_toolchain_file(
            "[toolchain]\nchannel = \"1.2.3\"\ncomponents = [\"clippy\"]\nprofile = \"minimal\"\n",
        )
        .expect("valid");
        assert_eq!(p.channel, "1.2.3");
        assert_eq!(p.components, ["clippy"]);
        assert!(p.targets.is_empty());
        assert_eq!(p.profile.as_deref(), Some("minimal"));
        assert!(parse_toolchain_file("[toolchain]\ntargets = [\"a\"]\n").is_err());
        assert!(parse_toolchain_file("channel = \"1.0\"\n").is_err());
        assert!(parse_toolchain_file("[toolchain]\nchannel = \"1\"\ntargets = \"a\"\n").is_err());
        assert!(parse_toolchain_file("[toolchain\n").is_err());
    }

    #[test]
    fn finds_the_toolchain_by_channel() {
        let list = "stable-x86_64-unknown-linux-gnu (default)\nnightly-x86_64-unknown-linux-gnu\n1.95.0-x86_64-unknown-linux-gnu (active)\n";
        assert_eq!(
            find_toolchain(list, "1.95.0").as_deref(),
            Some("1.95.0-x86_64-unknown-linux-gnu")
        );
        assert_eq!(find_toolchain(list, "1.95"), None);
        assert_eq!(find_toolchain(list, "1.9"), None);
        assert_eq!(
            find_toolchain(list, "stable").as_deref(),
            Some("stable-x86_64-unknown-linux-gnu")
        );
        assert_eq!(find_toolchain("no installed toolchains\n", "1.95.0"), None);
    }

    #[test]
    fn missing_targets_and_components() {
        let host = "x86_64-unknown-linux-gnu";
        let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let targets = "x86_64-unknown-linux-gnu\nx86_64-unknown-uefi\n";
        assert_eq!(
            missing_from(
                &want(&["x86_64-unknown-none", "x86_64-unknown-uefi"]),
                targets,
                host
            ),
            ["x86_64-unknown-none"]
        );
        let components = "cargo-x86_64-unknown-linux-gnu\nclippy-x86_64-unknown-linux-gnu\nrust-src\nllvm-tools-x86_64-unknown-linux-gnu\n";
        assert!(missing_from(&want(&["clippy", "rust-src"]), components, host).is_empty());
        assert_eq!(
            missing_from(&want(&["rustfmt", "llvm"]), components, host),
            ["rustfmt", "llvm"]
        );
    }
}
