//! Building the kernel and loader, and staging boot trees (ESP directories) for QEMU.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The build output directory (`build/`).
pub fn build_dir() -> PathBuf {
    root().join("build")
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// The executable that `cargo build --message-format=json...` output says it produced for
/// the binary target `bin`.
pub fn built_executable(json_lines: &str, bin: &str) -> Option<PathBuf> {
    json_lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| {
            m.get("reason").and_then(serde_json::Value::as_str) == Some("compiler-artifact")
        })
        .filter(|m| {
            m.pointer("/target/name")
                .and_then(serde_json::Value::as_str)
                == Some(bin)
                && m.pointer("/target/kind")
                    .and_then(serde_json::Value::as_array)
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|m| m.get("executable")?.as_str().map(PathBuf::from))
        .next_back()
}

/// Runs a `cargo build` of binary `bin` and returns the executable it built, wherever the
/// target directory is (`CARGO_TARGET_DIR`, `build.target-dir`, or `target/`).
pub fn build_bin(mut cmd: Command, bin: &str, what: &str) -> Result<PathBuf> {
    // Diagnostics stay human-readable on stderr; stdout carries the JSON messages.
    cmd.arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit());
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("cannot run cargo for {what}"), e))?;
    if !out.status.success() {
        return Err(format!("building {what} failed ({})", out.status).into());
    }
    built_executable(&String::from_utf8_lossy(&out.stdout), bin)
        .ok_or_else(|| Error::Msg(format!("cargo did not report the executable of {what}")))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    crate::qemu::ensure_parent(to)?;
    std::fs::copy(from, to).map(|_| ()).map_err(|e| {
        Error::io(
            format!("cannot copy {} to {}", from.display(), to.display()),
            e,
        )
    })
}

/// Which kernel image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// The normal kernel.
    Normal,
    /// The kernel with the in-kernel test runner (`ktest` feature).
    Test,
}

/// Builds a kernel (release profile) and returns its path under `build/`.
pub fn build_kernel(kind: Kernel) -> Result<PathBuf> {
    build_kernel_with(kind, "release")
}

/// Builds a kernel with cargo profile `profile` (`release`, or `kdebug` for full debug info)
/// and returns its path under `build/`.
pub fn build_kernel_with(kind: Kernel, profile: &str) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--profile",
        profile,
        "-p",
        "kernel",
        "--bin",
        "kernel",
        "--target",
        "x86_64-unknown-none",
    ]);
    if kind == Kernel::Test {
        cmd.args(["--features", "ktest"]);
    }
    let built = build_bin(cmd, "kernel", "the kernel")?;
    let name = match (kind, profile) {
        (Kernel::Normal, "release") => "kernel.elf".to_string(),
        (Kernel::Test, "release") => "kernel-test.elf".to_string(),
        (Kernel::Normal, p) => format!("kernel-{p}.elf"),
        (Kernel::Test, p) => format!("kernel-test-{p}.elf"),
    };
    let out = build_dir().join(name);
    copy(&built, &out)?;
    Ok(out)
}

/// Builds the bundled loader and returns the path of `BOOTX64.EFI` under `build/`.
pub fn build_loader() -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "-p",
        "loader",
        "--bin",
        "loader",
        "--target",
        "x86_64-unknown-uefi",
    ]);
    let built = build_bin(cmd, "loader", "the loader")?;
    let out = build_dir().join("BOOTX64.EFI");
    copy(&built, &out)?;
    Ok(out)
}

/// The boot loader to put on the ESP: real Limine's `BOOTX64.EFI` when `LIMINE_DIR` is set,
/// the bundled loader otherwise.
pub fn efi_loader() -> Result<PathBuf> {
    match std::env::var_os("LIMINE_DIR") {
        Some(dir) if !dir.is_empty() => {
            let efi = PathBuf::from(&dir).join("BOOTX64.EFI");
            if efi.is_file() {
                Ok(efi)
            } else {
                Err(format!(
                    "LIMINE_DIR={} has no BOOTX64.EFI; point it at an unpacked Limine binary release: \
                     the `limine-binary/` directory of a limine-binary archive (Limine 12 and later), \
                     or a checkout of a `v8.x-binary` ... `v11.x-binary` branch \
                     (https://github.com/limine-bootloader/limine)",
                    PathBuf::from(dir).display()
                )
                .into())
            }
        }
        _ => build_loader(),
    }
}

/// Whether real Limine is in use.
pub fn using_real_limine() -> bool {
    std::env::var_os("LIMINE_DIR").is_some_and(|d| !d.is_empty())
}

/// Lays out an ESP directory: `EFI/BOOT/BOOTX64.EFI`, `limine.conf`, `boot/kernel`.
pub fn stage_esp(dir: &Path, efi: &Path, kernel: Option<&Path>, conf: Option<&str>) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot clean {}", dir.display()), e))?;
    }
    copy(efi, &dir.join("EFI/BOOT/BOOTX64.EFI"))?;
    if let Some(kernel) = kernel {
        copy(kernel, &dir.join("boot/kernel"))?;
    }
    if let Some(conf) = conf {
        std::fs::write(dir.join("limine.conf"), conf)
            .map_err(|e| Error::io("cannot write limine.conf", e))?;
    }
    Ok(())
}

/// Stages an ESP for `kernel` and `conf` in `dir/esp` and packs it into `dir/esp.img`, the
/// disk a headless boot uses; returns the image's path.
pub fn esp_disk(dir: &Path, efi: &Path, kernel: &Path, conf: &str) -> Result<PathBuf> {
    let esp = dir.join("esp");
    stage_esp(&esp, efi, Some(kernel), Some(conf))?;
    let image = dir.join("esp.img");
    esp_image(&esp, &image)?;
    Ok(image)
}

/// Packs the ESP directory `dir` into a FAT32 image `out` with mtools (`mformat`, `mcopy`).
///
/// QEMU attaches the image as a disk with `snapshot=on`, so the guest can never write back
/// into the build tree; the same image serves as the El Torito EFI image of `make iso`.
pub fn esp_image(dir: &Path, out: &Path) -> Result<()> {
    // Room for the files plus FAT overhead; FAT12/16 (mformat's choice for small sizes) is
    // what El Torito EFI images use and what every UEFI reads.
    let size_mib = (dir_size(dir).div_ceil(1 << 20) + 4).max(8);
    crate::qemu::ensure_parent(out)?;
    let _ = std::fs::remove_file(out);
    let file = std::fs::File::create(out)
        .map_err(|e| Error::io(format!("cannot create {}", out.display()), e))?;
    file.set_len(size_mib << 20)
        .map_err(|e| Error::io(format!("cannot size {}", out.display()), e))?;
    drop(file);
    let image = out.to_str().ok_or("image path is not UTF-8")?;
    let status = Command::new("mformat")
        .args(["-i", image, "-v", "ESP", "::"])
        .status();
    check(status, "mformat")?;
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new("mcopy");
    cmd.args(["-i", image, "-s", "-Q"]).args(&entries).arg("::");
    check(cmd.status(), "mcopy")
}

fn check(status: std::io::Result<std::process::ExitStatus>, what: &str) -> Result<()> {
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{what} failed ({s})").into()),
        Err(e) => Err(Error::io(
            format!("cannot run {what} (install mtools: `make deps`)"),
            e,
        )),
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The kernel command line the user asked for with `CMDLINE`, if any.
pub fn cmdline_from_env() -> Option<String> {
    std::env::var("CMDLINE")
        .ok()
        .filter(|c| !c.trim().is_empty())
}

/// The project's `limine.conf`, with the first entry's `cmdline:` replaced by `cmdline` and its
/// `kaslr:` by `kaslr` when given.
pub fn project_conf(cmdline: Option<&str>, kaslr: Option<bool>) -> Result<String> {
    let path = root().join("limine.conf");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    Ok(rewrite_conf(&text, cmdline, kaslr))
}

/// Replaces (or adds) `cmdline:` and `kaslr:` in the first entry of a limine.conf text.
pub fn rewrite_conf(text: &str, cmdline: Option<&str>, kaslr: Option<bool>) -> String {
    let mut out = Vec::new();
    let mut in_first = false;
    let mut seen_entry = false;
    let (mut did_cmdline, mut did_kaslr) = (cmdline.is_none(), kaslr.is_none());
    let indent = "    ";
    let finish_entry = |out: &mut Vec<String>, did_c: &mut bool, did_k: &mut bool| {
        if !*did_c {
            out.push(format!("{indent}cmdline: {}", cmdline.unwrap_or_default()));
            *did_c = true;
        }
        if !*did_k {
            out.push(format!(
                "{indent}kaslr: {}",
                if kaslr == Some(true) { "yes" } else { "no" }
            ));
            *did_k = true;
        }
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('/') {
            if in_first {
                finish_entry(&mut out, &mut did_cmdline, &mut did_kaslr);
            }
            in_first = !seen_entry;
            seen_entry = true;
        }
        let key = trimmed
            .split_once(':')
            .map(|(k, _)| k.trim().to_ascii_lowercase());
        if in_first
            && matches!(key.as_deref(), Some("cmdline" | "kernel_cmdline"))
            && let Some(c) = cmdline
        {
            out.push(format!("{indent}cmdline: {c}"));
            did_cmdline = true;
            continue;
        }
        if in_first
            && key.as_deref() == Some("kaslr")
            && let Some(k) = kaslr
        {
            out.push(format!("{indent}kaslr: {}", if k { "yes" } else { "no" }));
            did_kaslr = true;
            continue;
        }
        out.push(line.to_string());
    }
    if in_first {
        finish_entry(&mut out, &mut did_cmdline, &mut did_kaslr);
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "timeout: 0\n\n/kernel\n    protocol: limine\n    kernel_path: boot():/boot/kernel\n    cmdline: log=info\n    kaslr: yes\n\n/other\n    cmdline: x\n";

    #[test]
    fn rewrites_first_entry_only() {
        let out = rewrite_conf(CONF, Some("log=debug irq=pic"), Some(false));
        assert!(out.contains("    cmdline: log=debug irq=pic\n    kaslr: no\n"));
        assert!(out.contains("/other\n    cmdline: x\n"));
        assert_eq!(rewrite_conf(CONF, None, None), CONF);
    }

    #[test]
    fn executable_from_cargo_messages() {
        let lines = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"kernel","kind":["lib"]},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"kernel","kind":["bin"]},"executable":"/t/x86_64-unknown-none/release/kernel"}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"loader","kind":["bin"]},"executable":"/t/x86_64-unknown-uefi/release/loader.efi"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
            "\nnot json\n",
        );
        assert_eq!(
            built_executable(lines, "kernel"),
            Some(PathBuf::from("/t/x86_64-unknown-none/release/kernel"))
        );
        assert_eq!(
            built_executable(lines, "loader"),
            Some(PathBuf::from("/t/x86_64-unknown-uefi/release/loader.efi"))
        );
        assert_eq!(built_executable(lines, "xtask"), None);
    }

    #[test]
    fn adds_missing_keys() {
        let out = rewrite_conf("/k\n    protocol: limine\n", Some("a=b"), Some(true));
        assert_eq!(
            out,
            "/k\n    protocol: limine\n    cmdline: a=b\n    kaslr: yes\n"
        );
    }
}
