//! `make bench`: figures, never pass/fail.
//!
//! 1. Host: the console renderer's criterion bench (`kernel/benches/console.rs`), which prints
//!    its own `bench:` and `ratio:` lines after criterion's output.
//! 2. Boot: wall time from starting QEMU to the kernel's `boot: ready` line with the bundled
//!    loader (OVMF under TCG dominates it), and the kernel's own entry-to-ready time, each the
//!    median of several boots.
//! 3. In-kernel: the test kernel booted with `kbench` prints `bench:` lines of its own
//!    measurements (interrupt round trips and the like), which are passed through.
//!
//! Output contract (design.md): `bench: <name>: <value> <unit>` and `ratio: <name>: <value>`.

use std::process::Command;
use std::time::Duration;

use crate::images::{self, Kernel};
use crate::qemu::{self, Knobs, Running, Vm};

/// Boots per boot-time figure.
const BOOT_RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Boots `kernel` with `cmdline` and returns (wall ms to `boot: ready`, serial log).
fn boot_once(
    kernel: &std::path::Path,
    efi: &std::path::Path,
    cmdline: &str,
    wait_exit: bool,
) -> Result<(f64, String), String> {
    let dir = images::build_dir().join("bench");
    let conf = images::project_conf(Some(cmdline), Some(false))?;
    let img = images::esp_disk(&dir, efi, kernel, &conf)?;
    let vm = Vm::headless(
        Knobs::for_tests(),
        qemu::find_ovmf()?,
        &dir,
        (img, qemu::ImageKind::Disk),
    );
    let mut running = Running::spawn(vm.command()?, vm.qmp.clone())?;
    if !running.wait_for("boot: ready in", Duration::from_secs(90)) {
        let out = running.kill();
        return Err(format!("no `boot: ready` ({})", qemu::describe(&out)));
    }
    let wall = running.elapsed().as_secs_f64() * 1000.0;
    let out = if wait_exit {
        running.wait(Duration::from_secs(120))
    } else {
        running.kill()
    };
    Ok((wall, crate::ktap::strip_ansi(&out.log)))
}

fn ready_ms(log: &str) -> Option<f64> {
    let line = log.lines().find(|l| l.contains("boot: ready in "))?;
    line.split("boot: ready in ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs every benchmark and prints the figures.
pub fn bench() -> Result<(), String> {
    crate::deps::ensure()?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(images::root())
        .args(["bench", "-p", "kernel", "--bench", "console"])
        .status()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !status.success() {
        return Err("the console bench failed".into());
    }

    let kernel = images::build_kernel(Kernel::Normal)?;
    let efi = images::efi_loader()?;
    let (mut walls, mut kernels) = (Vec::new(), Vec::new());
    for _ in 0..BOOT_RUNS {
        let (wall, log) = boot_once(&kernel, &efi, "log=info", false)?;
        walls.push(wall);
        if let Some(ms) = ready_ms(&log) {
            kernels.push(ms);
        }
    }
    let loader = if images::using_real_limine() {
        "limine"
    } else {
        "bundled"
    };
    println!(
        "bench: boot_qemu_start_to_ready_{loader}: {:.0} ms",
        median(walls)
    );
    println!("bench: kernel_entry_to_ready: {:.0} ms", median(kernels));

    let test_kernel = images::build_kernel(Kernel::Test)?;
    let (_, log) = boot_once(&test_kernel, &efi, "ktest=bench", true)?;
    for line in log
        .lines()
        .filter(|l| l.starts_with("bench: ") || l.starts_with("ratio: "))
    {
        println!("{line}");
    }
    Ok(())
}
