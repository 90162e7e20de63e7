//! `make run` and `make debug`: boot the kernel in QEMU for a person at a terminal.

use crate::images::{self, Kernel};
use crate::qemu::{self, Display, Knobs, Vm};

/// `make run-iso`: builds the ISO and boots it as a CD (`ISO_AS=disk`: as a hard disk, the
/// way a USB stick boots).
pub fn run_iso() -> Result<(), String> {
    let iso = crate::iso::iso()?;
    let kind = match std::env::var("ISO_AS").as_deref() {
        Ok("disk") => qemu::ImageKind::Disk,
        _ => qemu::ImageKind::Cdrom,
    };
    interactive(Some((iso, kind)), false, None)
}

/// Builds everything and boots it; with `debug`, QEMU starts paused with a gdb stub.
pub fn run(debug: bool) -> Result<(), String> {
    crate::deps::ensure()?;
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
    interactive(Some((esp_img, qemu::ImageKind::Disk)), debug, Some(&kernel))
}

fn interactive(
    image: Option<(std::path::PathBuf, qemu::ImageKind)>,
    debug: bool,
    kernel: Option<&std::path::Path>,
) -> Result<(), String> {
    let display = if qemu::have_display() {
        Display::Window
    } else {
        Display::Headless
    };
    let vm = Vm {
        knobs: Knobs::from_env(),
        ovmf: qemu::find_ovmf()?,
        vars_copy: images::build_dir().join("OVMF_VARS.run.fd"),
        image,
        display,
        qmp: None,
        gdb: debug,
        test_devices: true,
        interactive: true,
    };
    let mut cmd = vm.command()?;
    eprintln!(
        "run: {} with {}; serial console on this terminal (type to send input to COM1).",
        if display == Display::Headless {
            "no display found, running headless"
        } else {
            "QEMU window opens"
        },
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
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;
    match status.code() {
        Some(0) | Some(qemu::EXIT_SUCCESS) | None => Ok(()),
        Some(code) => Err(format!("QEMU exited with status {code}")),
    }
}

/// Boots the kernel headless, waits for `boot: ready` and saves a PNG screendump to `out`
/// (the README's screenshot comes from here).
pub fn screenshot(out: &std::path::Path) -> Result<(), String> {
    use std::time::Duration;
    crate::deps::ensure()?;
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
        ));
    }
    std::thread::sleep(Duration::from_millis(500));
    let out = std::path::absolute(out).map_err(|e| e.to_string())?;
    qemu::ensure_parent(&out)?;
    let cmd = format!(
        r#"{{"execute":"screendump","arguments":{{"filename":"{}","format":"png"}}}}"#,
        out.display()
    );
    let result = running.qmp(&cmd);
    running.kill();
    result.map(|_| println!("saved {}", out.display()))
}
