//! `make bench`: figures, never pass/fail.
//!
//! 1. Host: every criterion bench of the kernel crate (`kernel/benches/*.rs`, found through
//!    `cargo metadata`, so a new bench file runs without touching this driver); each prints
//!    its own `bench:` and `ratio:` lines after criterion's output.
//! 2. Boot: wall time from starting QEMU to the kernel's `boot: ready` line with the bundled
//!    loader (OVMF under TCG dominates it), and the kernel's own entry-to-ready time, each the
//!    median of several boots.
//! 3. In-kernel: the test kernel booted with `ktest=bench` prints `bench:` lines of its own
//!    measurements (interrupt round trips, frame allocation and the like), which are passed
//!    through. The page-table figures depend on the machine's memory and CPU, so they are
//!    named with the RAM size (`hhdm_table_frames_512M`), and two more boots with 16 GiB add
//!    them for 1 GiB pages (`-cpu max`, `_16G`) and for 2 MiB pages (`-cpu qemu64`, `_16G_2M`).
//!
//! Output contract (design.md): `bench: <name>: <value> <unit>` and `ratio: <name>: <value>`.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::deps::{self, Purpose};
use crate::error::{Error, Result};
use crate::images::{self, Kernel};
use crate::qemu::{self, Knobs, Running, Vm};

/// Boots per boot-time figure.
const BOOT_RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Boots `kernel` with `cmdline` on `knobs` and returns (wall ms to `boot: ready`, serial log).
fn boot_once(
    kernel: &std::path::Path,
    efi: &std::path::Path,
    cmdline: &str,
    wait_exit: bool,
    knobs: Knobs,
) -> Result<(f64, String)> {
    let dir = images::build_dir().join("bench");
    let conf = images::project_conf(Some(cmdline), Some(false))?;
    let img = images::esp_disk(&dir, efi, kernel, &conf)?;
    let vm = Vm::headless(
        knobs,
        qemu::find_ovmf()?,
        &dir,
        (img, qemu::ImageKind::Disk),
    );
    let mut running = Running::spawn(vm.command()?, vm.qmp.clone())?;
    if !running.wait_for("boot: ready in", Duration::from_secs(90)) {
        let out = running.kill();
        return Err(format!("no `boot: ready` ({})", qemu::describe(&out)).into());
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

/// The bench targets of `package` in `cargo metadata --format-version 1` output.
pub fn bench_targets(metadata: &str, package: &str) -> Result<Vec<String>> {
    let meta: serde_json::Value = serde_json::from_str(metadata)
        .map_err(|e| Error::Msg(format!("cargo metadata printed invalid JSON: {e}")))?;
    let packages = meta
        .get("packages")
        .and_then(serde_json::Value::as_array)
        .ok_or("cargo metadata has no packages")?;
    let pkg = packages
        .iter()
        .find(|p| p.get("name").and_then(serde_json::Value::as_str) == Some(package))
        .ok_or_else(|| Error::Msg(format!("cargo metadata lists no package {package}")))?;
    let mut names: Vec<String> = pkg
        .get("targets")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| {
            t.get("kind")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|k| k.iter().any(|k| k == "bench"))
        })
        .filter_map(|t| t.get("name").and_then(serde_json::Value::as_str))
        .map(String::from)
        .collect();
    names.sort();
    Ok(names)
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(images::root());
    cmd
}

/// The kernel crate's bench targets, asked of cargo.
fn kernel_benches() -> Result<Vec<String>> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::io("cannot run cargo metadata", e))?;
    if !out.status.success() {
        return Err(Error::Failed {
            command: "cargo metadata".into(),
            status: out.status,
        });
    }
    bench_targets(&String::from_utf8_lossy(&out.stdout), "kernel")
}

/// Runs every benchmark and prints the figures.
pub fn bench() -> Result<()> {
    deps::ensure(Purpose::Headless)?;
    // `BENCH=heap`: only the in-kernel heap workloads.
    if std::env::var("BENCH").is_ok_and(|v| v == "heap") {
        let test_kernel = images::build_kernel(Kernel::Test)?;
        heap_benches(&test_kernel, &images::efi_loader()?, &Knobs::for_tests());
        return Ok(());
    }
    // `BENCH=kernel`: only the in-kernel figures of the test kernel (`ktest=bench`).
    if std::env::var("BENCH").is_ok_and(|v| v == "kernel") {
        let test_kernel = images::build_kernel(Kernel::Test)?;
        let base = Knobs::for_tests();
        let (_, log) = boot_once(
            &test_kernel,
            &images::efi_loader()?,
            "ktest=bench",
            true,
            base,
        )?;
        for line in log
            .lines()
            .filter(|l| l.starts_with("bench: ") || l.starts_with("ratio: "))
        {
            println!("{line}");
        }
        return Ok(());
    }
    let benches = kernel_benches()?;
    if benches.is_empty() {
        eprintln!("bench: the kernel crate has no host benches");
    } else {
        eprintln!("bench: host benches: {}", benches.join(", "));
        let mut cmd = cargo();
        cmd.args(["bench", "-p", "kernel"]);
        for name in &benches {
            cmd.args(["--bench", name]);
        }
        let status = cmd
            .status()
            .map_err(|e| Error::io("cannot run cargo bench", e))?;
        if !status.success() {
            return Err(Error::Failed {
                command: format!("cargo bench -p kernel ({})", benches.join(", ")),
                status,
            });
        }
    }

    let kernel = images::build_kernel(Kernel::Normal)?;
    let efi = images::efi_loader()?;
    let (mut walls, mut kernels) = (Vec::new(), Vec::new());
    for _ in 0..BOOT_RUNS {
        let (wall, log) = boot_once(&kernel, &efi, "log=info", false, Knobs::for_tests())?;
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
    let base = Knobs::for_tests();
    let (_, log) = boot_once(&test_kernel, &efi, "ktest=bench", true, base.clone())?;
    for line in log
        .lines()
        .filter(|l| l.starts_with("bench: ") || l.starts_with("ratio: "))
    {
        println!(
            "{}",
            with_memory_suffix(line, &base.mem).unwrap_or_else(|| line.into())
        );
    }
    heap_benches(&test_kernel, &efi, &base);
    for (cpu, suffix) in [("max", "16G"), ("qemu64", "16G_2M")] {
        let knobs = Knobs {
            mem: "16G".into(),
            cpu: cpu.into(),
            ..base.clone()
        };
        match boot_once(&test_kernel, &efi, "ktest=bench", true, knobs) {
            Ok((_, log)) => {
                for line in log.lines().filter_map(|l| with_memory_suffix(l, suffix)) {
                    println!("{line}");
                }
            }
            Err(e) => eprintln!("bench: 16 GiB boot with -cpu {cpu} failed: {e}"),
        }
    }
    Ok(())
}

/// The heap workloads under each allocator: it is chosen at boot, so one boot each.
fn heap_benches(test_kernel: &std::path::Path, efi: &std::path::Path, base: &Knobs) {
    for name in ["talc", "bump", "linked-list", "fixed-block"] {
        let cmdline = format!("ktest=bench-heap allocator={name}");
        match boot_once(test_kernel, efi, &cmdline, true, base.clone()) {
            Ok((_, log)) => {
                for line in log.lines().filter(|l| l.starts_with("bench: heap_")) {
                    println!("{line}");
                }
            }
            Err(e) => eprintln!("bench: heap boot with allocator={name} failed: {e}"),
        }
    }
}

/// The kernel's page-table figures, which depend on the RAM size and CPU.
const MEMORY_FIGURES: [&str; 5] = [
    "page_table_build_at_boot",
    "page_table_build",
    "hhdm_build",
    "hhdm_table_frames",
    "kernel_table_frames",
];

/// `line` with `_<suffix>` after the name, if it is one of [`MEMORY_FIGURES`].
fn with_memory_suffix(line: &str, suffix: &str) -> Option<String> {
    let rest = line.strip_prefix("bench: ")?;
    let (name, value) = rest.split_once(": ")?;
    MEMORY_FIGURES
        .contains(&name)
        .then(|| format!("bench: {name}_{suffix}: {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_bench_targets() {
        let meta = r#"{"packages": [
            {"name": "loader", "targets": [{"name": "x", "kind": ["bench"]}]},
            {"name": "kernel", "targets": [
                {"name": "kernel", "kind": ["lib"]},
                {"name": "kernel", "kind": ["bin"]},
                {"name": "frames", "kind": ["bench"]},
                {"name": "console", "kind": ["bench"]},
                {"name": "it", "kind": ["test"]}
            ]}
        ]}"#;
        assert_eq!(
            bench_targets(meta, "kernel").expect("valid"),
            ["console", "frames"]
        );
        assert!(bench_targets(meta, "nope").is_err());
        assert!(bench_targets("not json", "kernel").is_err());
    }

    #[test]
    fn memory_figures_are_named_with_the_ram_size() {
        assert_eq!(
            with_memory_suffix("bench: hhdm_table_frames: 9 frames", "16G").as_deref(),
            Some("bench: hhdm_table_frames_16G: 9 frames")
        );
        assert_eq!(
            with_memory_suffix("bench: page_table_build: 812 us", "512M").as_deref(),
            Some("bench: page_table_build_512M: 812 us")
        );
        assert_eq!(
            with_memory_suffix("bench: frame_alloc_free_pair: 90 cycles", "16G"),
            None
        );
        assert_eq!(with_memory_suffix("memory: 5 KiB", "16G"), None);
    }

    #[test]
    fn the_kernel_has_the_console_bench() {
        let benches = kernel_benches().expect("cargo metadata");
        assert!(benches.iter().any(|b| b == "console"), "{benches:?}");
    }
}
