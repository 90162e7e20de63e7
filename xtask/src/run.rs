//! `make run` and `make debug`: boot the kernel in QEMU for a person at a terminal.

use crate::deps::{self, Purpose};
use crate::error::{Error, Result};
use crate::images::{self, Kernel};
use crate::qemu::{self, Display, Knobs, Vm};

/// `make run-iso`: builds the ISO and boots it as a CD (`ISO_AS=disk`: as a hard disk, the
/// way a USB stick boots), on UEFI (OVMF) or, with `FIRMWARE=bios`, on SeaBIOS.
pub fn run_iso() -> Result<()> {
    let (bios, kind) = iso_knobs(
        std::env::var("FIRMWARE").ok().as_deref(),
        std::env::var("ISO_AS").ok().as_deref(),
    )?;
    deps::ensure(Purpose::All)?;
    let iso = crate::iso::iso()?;
    eprintln!(
        "run-iso: {} firmware, the ISO as a {}",
        if bios {
            "BIOS (SeaBIOS)"
        } else {
            "UEFI (OVMF)"
        },
        if kind == qemu::ImageKind::Disk {
            "disk"
        } else {
            "CD"
        }
    );
    interactive(Some((iso, kind)), false, None, bios)
}

/// `FIRMWARE` (`uefi`, the default, or `bios`) and `ISO_AS` (`cd`, the default, or `disk`);
/// empty means unset. Returns (boot with SeaBIOS, how the image is attached).
pub fn iso_knobs(firmware: Option<&str>, iso_as: Option<&str>) -> Result<(bool, qemu::ImageKind)> {
    let bios = match firmware.map(str::trim).unwrap_or_default() {
        "" | "uefi" => false,
        "bios" => true,
        other => {
            return Err(crate::error::Error::Knob {
                name: "FIRMWARE",
                why: format!("{other:?} is neither `uefi` nor `bios`"),
            });
        }
    };
    let kind = match iso_as.map(str::trim).unwrap_or_default() {
        "" | "cd" => qemu::ImageKind::Cdrom,
        "disk" => qemu::ImageKind::Disk,
        other => {
            return Err(crate::error::Error::Knob {
                name: "ISO_AS",
                why: format!("{other:?} is neither `cd` nor `disk`"),
            });
        }
    };
    Ok((bios, kind))
}

/// Builds everything and boots it; with `debug`, QEMU starts paused with a gdb stub.
pub fn run(debug: bool) -> Result<()> {
    deps::ensure(Purpose::All)?;
    // Full debug info under the debugger.
    let kernel =
        images::build_kernel_with(Kernel::Normal, if debug { "kdebug" } else { "release" })?;
    let efi = images::efi_loader()?;
    let cmdline = images::cmdline_from_env();
    // KASLR off under the debugger, so the symbols in build/kernel.elf match the running code.
    let conf = images::project_conf(cmdline.as_deref(), debug.then_some(false))?;
    let esp = images::build_dir().join("esp");
    images::stage_esp(&esp, &efi, Some(&kernel), Some(&conf))?;
    let esp_img = images::build_dir().join("esp.img");
    images::esp_image(&esp, &esp_img)?;
    interactive(
        Some((esp_img, qemu::ImageKind::Disk)),
        debug,
        Some(&kernel),
        false,
    )
}

fn interactive(
    image: Option<(std::path::PathBuf, qemu::ImageKind)>,
    debug: bool,
    kernel: Option<&std::path::Path>,
    bios: bool,
) -> Result<()> {
    let (display, why) = choose_display(qemu::have_display(), qemu::window_backend());
    let vm = Vm {
        knobs: Knobs::from_env()?,
        ovmf: qemu::find_ovmf()?,
        vars_copy: images::build_dir().join("OVMF_VARS.run.fd"),
        image,
        display,
        qmp: None,
        gdb: debug,
        test_devices: true,
        allow_reboot: false,
        interactive: true,
        bios,
    };
    let cmd = vm.command()?;
    eprintln!(
        "run: {why}; booting with {}; serial console on this terminal (type to send input to COM1).",
        if images::using_real_limine() {
            "real Limine from LIMINE_DIR"
        } else {
            "the bundled loader"
        }
    );
    eprintln!(
        "run: quit with Ctrl-A X; Ctrl-A C switches between the serial console and the QEMU monitor."
    );
    if let (true, Some(kernel)) = (debug, kernel) {
        eprintln!("debug: QEMU is paused with a gdb stub on localhost:1234. In another terminal:");
        eprintln!(
            "debug:   gdb {} -ex 'target remote :1234' -ex 'break kmain' -ex continue",
            kernel.display()
        );
    }
    wait_interactive(cmd)
}

/// Runs an interactive QEMU to its end: a clean exit (or a signal, e.g. Ctrl-A X) is success.
pub(crate) fn wait_interactive(mut cmd: std::process::Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| Error::io("cannot start qemu-system-x86_64", e))?;
    match status.code() {
        Some(0) | Some(qemu::EXIT_SUCCESS) | None => Ok(()),
        Some(code) => Err(format!("QEMU exited with status {code}").into()),
    }
}

/// Picks the display for an interactive run and says why: a window only when there is a
/// display to open it on *and* QEMU has a front end that can (otherwise QEMU would fall back
/// to a VNC server nobody looks at).
pub(crate) fn choose_display(
    have_display: bool,
    backend: Option<&'static str>,
) -> (Display, String) {
    match (have_display, backend) {
        (true, Some(backend)) => (
            Display::Window(backend),
            format!("QEMU window opens ({backend})"),
        ),
        (true, None) => (
            Display::Headless,
            "a display is set, but this QEMU has no GTK/SDL window front end (Debian/Ubuntu \
             package qemu-system-gui, which `make deps` installs), so running headless"
                .into(),
        ),
        (false, _) => (
            Display::Headless,
            "no DISPLAY or WAYLAND_DISPLAY, running headless".into(),
        ),
    }
}

/// Boots the kernel headless, waits for `boot: ready` and saves a PNG screendump to `out`
/// (the README's screenshot comes from here).
pub fn screenshot(out: &std::path::Path) -> Result<()> {
    use std::time::Duration;
    deps::ensure(Purpose::Headless)?;
    let kernel = images::build_kernel(Kernel::Normal)?;
    let efi = images::efi_loader()?;
    let cmdline = images::cmdline_from_env();
    let conf = images::project_conf(Some(cmdline.as_deref().unwrap_or("log=info")), None)?;
    let dir = images::build_dir().join("screenshot");
    let esp_img = images::esp_disk(&dir, &efi, &kernel, &conf)?;
    let vm = Vm::headless(
        Knobs::for_tests(),
        qemu::find_ovmf()?,
        &dir,
        (esp_img, qemu::ImageKind::Disk),
    );
    let mut running = qemu::Running::spawn(vm.command()?, vm.qmp.clone())?;
    if !running.wait_for("boot: ready in", Duration::from_secs(90)) {
        let outcome = running.kill();
        return Err(format!(
            "no `boot: ready` ({}):\n{}",
            qemu::describe(&outcome),
            outcome.log
        )
        .into());
    }
    // A short session at the prompt, typed on the serial line, so the picture shows the shell.
    for line in ["mem", "tasks", "vm 0xffff800000000000", "date"] {
        let before = running.log_len();
        running.send(format!("{line}\r").as_bytes(), Duration::from_secs(5))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // The next prompt after the command's output.
        while std::time::Instant::now() < deadline
            && !String::from_utf8_lossy(&running.log_since(before).0).contains("\n> ")
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Two frames of the presenter, so everything typed is drawn.
    std::thread::sleep(Duration::from_millis(500));
    let out = std::path::absolute(out)
        .map_err(|e| Error::io(format!("cannot resolve {}", out.display()), e))?;
    qemu::ensure_parent(&out)?;
    let result = running.qmp(&serde_json::json!({
        "execute": "screendump",
        "arguments": { "filename": out, "format": "png" },
    }));
    running.kill();
    result.map(|_| println!("saved {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_only_with_a_display_and_a_front_end() {
        assert_eq!(choose_display(true, Some("gtk")).0, Display::Window("gtk"));
        let (display, why) = choose_display(true, None);
        assert_eq!(display, Display::Headless);
        assert!(why.contains("qemu-system-gui"), "{why}");
        let (display, why) = choose_display(false, Some("sdl"));
        assert_eq!(display, Display::Headless);
        assert!(why.contains("DISPLAY"), "{why}");
    }

    #[test]
    fn iso_firmware_and_medium_knobs() {
        use qemu::ImageKind::{Cdrom, Disk};
        assert_eq!(iso_knobs(None, None).expect("defaults"), (false, Cdrom));
        assert_eq!(
            iso_knobs(Some(""), Some("")).expect("empty"),
            (false, Cdrom)
        );
        assert_eq!(
            iso_knobs(Some("bios"), Some("disk")).expect("bios disk"),
            (true, Disk)
        );
        assert_eq!(
            iso_knobs(Some("uefi"), Some("cd")).expect("uefi cd"),
            (false, Cdrom)
        );
        let err = iso_knobs(Some("coreboot"), None).expect_err("unknown firmware");
        assert!(err.to_string().contains("FIRMWARE"), "{err}");
        let err = iso_knobs(None, Some("usb")).expect_err("unknown medium");
        assert!(err.to_string().contains("ISO_AS"), "{err}");
    }
}
