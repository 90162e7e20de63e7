//! `make iso`: a hybrid image that boots as a CD (El Torito) and, written to a USB stick with
//! `dd`, as a disk (MBR and GPT).
//!
//! Without `LIMINE_DIR` (the bundled loader) one file boots four ways:
//! - UEFI, CD or disk: the El Torito EFI image, also exposed as the EFI system partition, is a
//!   FAT filesystem holding the whole ESP: `EFI/BOOT/BOOTX64.EFI` (the bundled loader),
//!   `limine.conf` and the kernel; the loader reads them from the volume it was started from.
//! - BIOS, CD or disk: GRUB (Debian's i386-pc build, see `grub`) as the El Torito BIOS image
//!   and in the MBR; its `grub.cfg` starts the bundled loader's BIOS entry through Multiboot2
//!   with the kernel and `limine.conf` (from the ISO filesystem) as modules, in VGA text mode.
//!
//! With `LIMINE_DIR` the layout is real Limine's: its `limine-uefi-cd.bin` and
//! `limine-bios-cd.bin` boot images, `limine-bios.sys`, the config and kernel on the ISO
//! filesystem, and `limine bios-install` for BIOS boots from a stick.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::grub;
use crate::images;

/// Runs a tool to completion; its stderr becomes the error when it fails.
pub(crate) fn run(mut cmd: Command, what: &str) -> Result<()> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| {
        Error::io(
            format!("cannot run {what} (is it installed? `make deps`)"),
            e,
        )
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {shown}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into())
    }
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

/// The bundled loader's BIOS entry (a Multiboot2 image), if this tree can build it.
///
/// PLACEHOLDER until the BIOS entry lands: it returns `None`, so the ISO's GRUB reports
/// "file `/boot/loader-bios.bin' not found" and the BIOS ISO boots are not in the harness.
/// Replace the body with the call that builds it (e.g. `images::build_bios_loader().map(Some)`).
pub fn bios_entry() -> Result<Option<PathBuf>> {
    Ok(None)
}

/// Builds `out` from `kernel` and the `conf` text, staging in `root` (e.g. `iso_root/`);
/// `efi` is the UEFI loader to use (the bundled one, or real Limine's under `LIMINE_DIR`).
/// The BIOS entry is [`bios_entry`]'s.
pub fn build_iso(kernel: &Path, efi: &Path, conf: &str, root: &Path, out: &Path) -> Result<()> {
    let bios = if images::using_real_limine() {
        None
    } else {
        bios_entry()?
    };
    build_iso_with(kernel, efi, bios.as_deref(), conf, root, out)
}

/// As [`build_iso`], with `bios` as the Multiboot2 image GRUB starts on BIOS boots of the
/// bundled ISO (`None`: none on the ISO; GRUB then says the file is missing). Ignored with
/// `LIMINE_DIR`.
pub fn build_iso_with(
    kernel: &Path,
    efi: &Path,
    bios: Option<&Path>,
    conf: &str,
    root: &Path,
    out: &Path,
) -> Result<()> {
    if root.exists() {
        for entry in std::fs::read_dir(root)
            .map_err(|e| Error::io(format!("cannot list {}", root.display()), e))?
        {
            let path = entry
                .map_err(|e| Error::io(format!("cannot list {}", root.display()), e))?
                .path();
            if path.file_name().is_some_and(|n| n == "README.md") {
                continue;
            }
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| Error::io(format!("cannot clean {}", path.display()), e))?;
        }
    }
    std::fs::create_dir_all(root)
        .map_err(|e| Error::io(format!("cannot create {}", root.display()), e))?;
    copy(kernel, &root.join("boot/kernel"))?;
    let _ = std::fs::remove_file(out);
    crate::qemu::ensure_parent(out)?;

    let mut xorriso = Command::new("xorriso");
    xorriso.args(["-as", "mkisofs", "-R", "-r", "-J", "-V", "RUSTKERNEL"]);
    match std::env::var_os("LIMINE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
    {
        Some(limine) => {
            std::fs::write(root.join("limine.conf"), conf)
                .map_err(|e| Error::io("cannot write limine.conf", e))?;
            for file in [
                "limine-bios-cd.bin",
                "limine-uefi-cd.bin",
                "limine-bios.sys",
            ] {
                copy(&limine.join(file), &root.join("boot/limine").join(file))?;
            }
            copy(
                &limine.join("BOOTX64.EFI"),
                &root.join("EFI/BOOT/BOOTX64.EFI"),
            )?;
            xorriso.args([
                "-b",
                "boot/limine/limine-bios-cd.bin",
                "-no-emul-boot",
                "-boot-load-size",
                "4",
                "-boot-info-table",
            ]);
            // HFS+ and an Apple partition map, as Limine recommends since 8.2 for firmware
            // (older Macs) that looks for them.
            xorriso.args(["-hfsplus", "-apm-block-size", "2048"]);
            xorriso.args(["--efi-boot", "boot/limine/limine-uefi-cd.bin"]);
            xorriso.args([
                "-efi-boot-part",
                "--efi-boot-image",
                "--protective-msdos-label",
            ]);
            xorriso.arg(root).arg("-o").arg(out);
            run(xorriso, "xorriso")?;
            let tool = limine.join("limine");
            if tool.is_file() {
                let mut install = Command::new(&tool);
                install.arg("bios-install").arg(out);
                run(install, "limine bios-install")?;
            } else {
                eprintln!(
                    "iso: {} not found: the image boots from CD on BIOS and UEFI, and from a stick on UEFI; \
                     build it (`make -C $LIMINE_DIR`) for BIOS boots from a stick",
                    tool.display()
                );
            }
        }
        None => {
            // UEFI: the bundled loader reads its files from the volume it was started from,
            // so the EFI boot image (and partition) holds the whole ESP.
            copy(efi, &root.join("EFI/BOOT/BOOTX64.EFI"))?;
            let esp = out.with_extension("esp");
            images::stage_esp(&esp, efi, Some(kernel), Some(conf))?;
            images::esp_image(&esp, &root.join("boot/efiboot.img"))?;
            // BIOS: GRUB reads the kernel and the config from the ISO filesystem.
            std::fs::write(root.join(grub::CONF_MODULE.trim_start_matches('/')), conf)
                .map_err(|e| Error::io("cannot write boot/limine.conf", e))?;
            if let Some(bios) = bios {
                copy(
                    bios,
                    &root.join(grub::BIOS_ENTRY_ON_ISO.trim_start_matches('/')),
                )?;
            }
            let stamp = grub::IsoStamp::now();
            let eltorito = grub::stage(root, &stamp.uuid)?;
            xorriso.arg(format!("--modification-date={}", stamp.date));
            xorriso.args(["-b", eltorito, "-no-emul-boot", "-boot-load-size", "4"]);
            xorriso.args(["-boot-info-table", "--grub2-boot-info", "--grub2-mbr"]);
            xorriso.arg(grub::boot_hybrid());
            xorriso.args([
                "--efi-boot",
                "boot/efiboot.img",
                "-efi-boot-part",
                "--efi-boot-image",
                "--protective-msdos-label",
            ]);
            xorriso.arg(root).arg("-o").arg(out);
            run(xorriso, "xorriso")?;
        }
    }
    Ok(())
}

/// `make iso`: the normal kernel and the project's `limine.conf` into `build/kernel.iso`.
pub fn iso() -> Result<PathBuf> {
    crate::deps::ensure(crate::deps::Purpose::Headless)?;
    let kernel = images::build_kernel(images::Kernel::Normal)?;
    let cmdline = images::cmdline_from_env();
    let conf = images::project_conf(cmdline.as_deref(), None)?;
    let efi = images::efi_loader()?;
    let out = images::build_dir().join("kernel.iso");
    build_iso(&kernel, &efi, &conf, &images::root().join("iso_root"), &out)?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!(
        "iso: {} ({} KiB); boot it with `make run-iso`, or write it to a USB stick:",
        out.display(),
        size / 1024
    );
    println!(
        "iso:   sudo dd if={} of=/dev/sdX bs=4M conv=fsync status=progress",
        out.display()
    );
    Ok(out)
}
