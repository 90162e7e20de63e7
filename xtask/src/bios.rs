//! The bundled loader's BIOS entry: building `build/loader-bios.bin`, `make run-bios`, and the
//! harness's `bios-` boots.
//!
//! The image is a flat binary (QEMU's Multiboot loader refuses ELF64; the headers carry load
//! addresses, see `loader/src/bin/bios/entry.rs`). QEMU starts it under SeaBIOS with
//! `-kernel`; `limine.conf` and the kernel go in as `-initrd` modules whose command lines end
//! with the paths the configuration names (`/boot/limine.conf`, `/boot/kernel`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::images::{self, Kernel};
use crate::ktap;
use crate::qemu::{self, Display, Knobs, Outcome, Running};

/// Module names the BIOS entry looks up (the configuration's `boot():/...` paths).
pub const CONF_MODULE: &str = "/boot/limine.conf";
/// See [`CONF_MODULE`].
pub const KERNEL_MODULE: &str = "/boot/kernel";

/// Builds the BIOS entry and returns `build/loader-bios.bin`.
pub fn bios_loader() -> Result<PathBuf> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(images::root()).args([
        "build",
        "--release",
        "-p",
        "loader",
        "--bin",
        "bios",
        "--target",
        "x86_64-unknown-none",
    ]);
    let elf = images::build_bin(cmd, "bios", "the BIOS loader")?;
    let bytes =
        std::fs::read(&elf).map_err(|e| Error::io(format!("cannot read {}", elf.display()), e))?;
    let flat = flatten(&bytes).map_err(|why| format!("{}: {why}", elf.display()))?;
    let out = images::build_dir().join("loader-bios.bin");
    qemu::ensure_parent(&out)?;
    std::fs::write(&out, flat)
        .map_err(|e| Error::io(format!("cannot write {}", out.display()), e))?;
    Ok(out)
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// The file-backed bytes of an ELF64's PT_LOAD segments laid out by physical address, from
/// the lowest one: what a Multiboot loader copies to the header's `load_addr`.
pub fn flatten(elf: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if elf.get(..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) {
        return Err("not an ELF64 file".into());
    }
    let bad = || "truncated ELF header".to_string();
    let phoff = usize::try_from(u64_at(elf, 0x20).ok_or_else(bad)?).map_err(|_| bad())?;
    let phentsize = usize::from(u16_at(elf, 0x36).ok_or_else(bad)?);
    let phnum = usize::from(u16_at(elf, 0x38).ok_or_else(bad)?);
    let mut segments = Vec::new();
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        if u32_at(elf, o).ok_or_else(bad)? != 1 {
            continue;
        }
        let offset = u64_at(elf, o + 8).ok_or_else(bad)? as usize;
        let paddr = u64_at(elf, o + 24).ok_or_else(bad)?;
        let filesz = u64_at(elf, o + 32).ok_or_else(bad)? as usize;
        let data = elf
            .get(offset..offset + filesz)
            .ok_or("a segment lies outside the file")?;
        segments.push((paddr, data));
    }
    let base = segments
        .iter()
        .map(|s| s.0)
        .min()
        .ok_or("no PT_LOAD segment")?;
    let len = segments
        .iter()
        .map(|(p, d)| (p - base) as usize + d.len())
        .max()
        .unwrap_or(0);
    if len > 64 << 20 {
        return Err("segments span more than 64 MiB".into());
    }
    let mut out = vec![0u8; len];
    for (p, d) in segments {
        let at = (p - base) as usize;
        out[at..at + d.len()].copy_from_slice(d);
    }
    Ok(out)
}

/// The `-initrd` argument for these (file, module name) pairs.
pub fn initrd_arg(modules: &[(&Path, &str)]) -> Result<String> {
    let mut items = Vec::new();
    for (file, name) in modules {
        let file = file.to_str().ok_or("module path is not UTF-8")?;
        if file.contains([',', ' ']) || name.contains([',', ' ']) {
            return Err(
                format!("module path {file:?} or name {name:?} has a comma or space").into(),
            );
        }
        items.push(format!("{file} {name}"));
    }
    Ok(items.join(","))
}

/// A QEMU command booting the BIOS entry under SeaBIOS (QEMU's default firmware).
pub fn command(
    knobs: &Knobs,
    loader: &Path,
    modules: &[(&Path, &str)],
    display: Display,
    interactive: bool,
    qmp: Option<&Path>,
) -> Result<Command> {
    let mut cmd = Command::new("qemu-system-x86_64");
    let k = knobs;
    cmd.args([
        "-machine", &k.machine, "-m", &k.mem, "-smp", &k.smp, "-accel", &k.accel, "-cpu", &k.cpu,
    ]);
    cmd.args(["-nodefaults", "-vga", "std", "-no-reboot"]);
    cmd.arg("-kernel").arg(loader);
    if !modules.is_empty() {
        cmd.arg("-initrd").arg(initrd_arg(modules)?);
    }
    match display {
        Display::Headless => cmd.args(["-display", "none"]),
        Display::Window(backend) => cmd.args(["-display", backend]),
    };
    if interactive {
        cmd.args(["-serial", "mon:stdio"]);
    } else {
        cmd.args(["-serial", "stdio", "-monitor", "none"]);
    }
    if let Some(qmp) = qmp {
        let _ = std::fs::remove_file(qmp);
        cmd.arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()));
    }
    cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
    cmd.args(&k.extra);
    Ok(cmd)
}

/// Writes `conf` into `dir/limine.conf` and returns the path.
fn write_conf(dir: &Path, conf: &str) -> Result<PathBuf> {
    let path = dir.join("limine.conf");
    qemu::ensure_parent(&path)?;
    std::fs::write(&path, conf)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    Ok(path)
}

/// `make run-bios`: builds the kernel and the BIOS entry and boots them under SeaBIOS, serial
/// on this terminal and a window when there is a display.
pub fn run_bios() -> Result<()> {
    crate::deps::ensure(crate::deps::Purpose::All)?;
    let kernel = images::build_kernel(Kernel::Normal)?;
    let loader = bios_loader()?;
    let conf = images::project_conf(images::cmdline_from_env().as_deref(), None)?;
    let conf = write_conf(&images::build_dir().join("bios"), &conf)?;
    let (display, why) = crate::run::choose_display(qemu::have_display(), qemu::window_backend());
    let cmd = command(
        &Knobs::from_env()?,
        &loader,
        &[(&conf, CONF_MODULE), (&kernel, KERNEL_MODULE)],
        display,
        true,
        None,
    )?;
    eprintln!(
        "run-bios: {why}; SeaBIOS starts {} through Multiboot (QEMU -kernel); serial console on \
         this terminal.",
        loader.display()
    );
    eprintln!(
        "run-bios: quit with Ctrl-A X; Ctrl-A C switches between the serial console and the QEMU monitor."
    );
    crate::run::wait_interactive(cmd)
}

/// What a `bios-` boot must show.
#[derive(Debug, Clone)]
pub enum Expect {
    /// `boot: ready in` on serial, no panic.
    Ready,
    /// A complete, passing KTAP report and exit status 33.
    Ktap,
    /// The loader's refusal with these texts; the kernel never starts.
    Refusal(Vec<&'static str>),
}

/// One harness boot through the BIOS entry.
#[derive(Debug, Clone)]
pub struct Boot {
    /// Test name (`bios-...`).
    pub name: String,
    /// Which kernel.
    pub kernel: Kernel,
    /// `limine.conf`, or `None` for no configuration module.
    pub conf: Option<String>,
    /// Replacement kernel bytes (bad-input boots).
    pub kernel_bytes: Option<Vec<u8>>,
    /// Pass no modules at all.
    pub no_modules: bool,
    /// What to check.
    pub expect: Expect,
}

fn test_conf(cmdline: &str) -> String {
    format!(
        "timeout: 0\n\n/bios\n    protocol: limine\n    kernel_path: boot():/boot/kernel\n    cmdline: {cmdline}\n    kaslr: no\n"
    )
}

/// The harness's `bios-` boots (bad-ELF boots read the test kernel at `test_kernel`).
pub fn boots(test_kernel: &Path) -> Result<Vec<Boot>> {
    let elf = std::fs::read(test_kernel)
        .map_err(|e| Error::io(format!("cannot read {}", test_kernel.display()), e))?;
    let boot = |name: &str, kernel, conf: Option<String>, expect| Boot {
        name: name.into(),
        kernel,
        conf,
        kernel_bytes: None,
        no_modules: false,
        expect,
    };
    Ok(vec![
        boot(
            "bios-ready",
            Kernel::Normal,
            Some(images::project_conf(Some("log=info"), None)?),
            Expect::Ready,
        ),
        boot(
            "bios-ktest",
            Kernel::Test,
            Some(test_conf("ktest=all")),
            Expect::Ktap,
        ),
        Boot {
            no_modules: true,
            ..boot(
                "bios-no-modules",
                Kernel::Test,
                None,
                Expect::Refusal(vec!["no Multiboot modules", "halted"]),
            )
        },
        boot(
            "bios-no-config",
            Kernel::Test,
            None,
            Expect::Refusal(vec!["limine.conf", "not found", "halted"]),
        ),
        boot(
            "bios-bad-config",
            Kernel::Test,
            Some("timeout: 0\n/entry\n    protocol: limine\n    this line has no colon\n".into()),
            Expect::Refusal(vec!["limine.conf line 4", "halted"]),
        ),
        boot(
            "bios-missing-kernel",
            Kernel::Test,
            Some(test_conf("ktest=all").replace("/boot/kernel", "/boot/no-such-kernel")),
            Expect::Refusal(vec!["/boot/no-such-kernel", "not found", "halted"]),
        ),
        Boot {
            kernel_bytes: Some(b"MZ this is not an ELF file".repeat(100)),
            ..boot(
                "bios-not-elf",
                Kernel::Test,
                Some(test_conf("ktest=all")),
                Expect::Refusal(vec!["not an ELF", "halted"]),
            )
        },
        Boot {
            kernel_bytes: Some(elf[..elf.len().min(4096)].to_vec()),
            ..boot(
                "bios-truncated-elf",
                Kernel::Test,
                Some(test_conf("ktest=all")),
                Expect::Refusal(vec!["kernel", "truncated", "halted"]),
            )
        },
    ])
}

/// Runs one boot; returns (name, passed, why) results and the serial log.
pub fn run(
    boot: &Boot,
    loader: &Path,
    kernel: &Path,
    timeout: Duration,
) -> (Vec<(String, bool, String)>, String) {
    let fail = |why: String| (vec![(boot.name.clone(), false, why)], String::new());
    let dir = images::build_dir().join("test").join(&boot.name);
    let mut owned: Vec<(PathBuf, &str)> = Vec::new();
    if !boot.no_modules {
        if let Some(conf) = &boot.conf {
            match write_conf(&dir, conf) {
                Ok(p) => owned.push((p, CONF_MODULE)),
                Err(e) => return fail(e.to_string()),
            }
        }
        let kernel_file = match &boot.kernel_bytes {
            Some(bytes) => {
                let p = dir.join("kernel.bad");
                if let Err(e) = std::fs::write(&p, bytes) {
                    return fail(format!("cannot write {}: {e}", p.display()));
                }
                p
            }
            None => kernel.to_path_buf(),
        };
        owned.push((kernel_file, KERNEL_MODULE));
    }
    let modules: Vec<(&Path, &str)> = owned.iter().map(|(p, n)| (p.as_path(), *n)).collect();
    let spawned = command(
        &Knobs::for_tests(),
        loader,
        &modules,
        Display::Headless,
        false,
        None,
    )
    .and_then(|cmd| Running::spawn(cmd, None));
    let mut running = match spawned {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let outcome: Outcome = match &boot.expect {
        Expect::Ktap => running.wait(timeout),
        Expect::Ready => {
            running.wait_for("boot: ready in", timeout);
            running.kill()
        }
        Expect::Refusal(texts) => {
            for t in texts {
                let left = timeout.saturating_sub(running.elapsed());
                if !running.wait_for(t, left) {
                    break;
                }
            }
            // Still halted with the message visible: give it a moment to prove it stays up.
            std::thread::sleep(Duration::from_millis(200));
            running.kill()
        }
    };
    let _ = std::fs::write(dir.join("serial.log"), &outcome.log);
    let clean = ktap::strip_ansi(&outcome.log);
    let name = &boot.name;
    let mut results = Vec::new();
    match &boot.expect {
        Expect::Ready => {
            let mut problems = Vec::new();
            if !clean.contains("boot: ready in") {
                problems.push(format!("no `boot: ready` ({})", qemu::describe(&outcome)));
            }
            if !clean.contains("firmware: BIOS") {
                problems.push("the kernel does not report firmware BIOS".into());
            }
            if !clean.contains("console: VgaText") {
                problems.push("the kernel's console is not the VGA text buffer".into());
            }
            if clean.contains("kernel panic") {
                problems.push("the kernel panicked".into());
            }
            results.push((name.clone(), problems.is_empty(), problems.join("; ")));
        }
        Expect::Ktap => {
            let report = ktap::parse(&outcome.log);
            for t in &report.results {
                results.push((
                    format!("{name}: {}", t.name),
                    t.ok,
                    t.diagnostics.join("; "),
                ));
            }
            if !report.complete() || outcome.status != Some(qemu::EXIT_SUCCESS) {
                results.push((
                    format!("{name}: boot"),
                    false,
                    format!(
                        "{} results, plan {:?} ({})",
                        report.results.len(),
                        report.plan,
                        qemu::describe(&outcome)
                    ),
                ));
            }
        }
        Expect::Refusal(texts) => {
            let mut problems = crate::test::refusal_problems(&clean, texts);
            if outcome.status.is_some() {
                problems.push(format!(
                    "QEMU exited ({}) instead of halting with the message",
                    qemu::describe(&outcome)
                ));
            }
            results.push((name.clone(), problems.is_empty(), problems.join("; ")));
        }
    }
    (results, clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_load_segments_by_physical_address() {
        let mut elf = vec![0u8; 0x300];
        elf[..5].copy_from_slice(b"\x7fELF\x02");
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        for (i, (off, paddr, size)) in [(0x200u64, 0x10_0010u64, 4u64), (0x100, 0x10_0000, 8)]
            .into_iter()
            .enumerate()
        {
            let o = 0x40 + i * 56;
            elf[o..o + 4].copy_from_slice(&1u32.to_le_bytes());
            elf[o + 8..o + 16].copy_from_slice(&off.to_le_bytes());
            elf[o + 24..o + 32].copy_from_slice(&paddr.to_le_bytes());
            elf[o + 32..o + 40].copy_from_slice(&size.to_le_bytes());
        }
        elf[0x100..0x108].copy_from_slice(b"ABCDEFGH");
        elf[0x200..0x204].copy_from_slice(b"WXYZ");
        let flat = flatten(&elf).unwrap();
        assert_eq!(flat.len(), 0x14);
        assert_eq!(&flat[..8], b"ABCDEFGH");
        assert_eq!(&flat[0x10..], b"WXYZ");
        assert!(flatten(b"MZ").is_err());
        elf[0x40 + 8..0x40 + 16].copy_from_slice(&0x1000u64.to_le_bytes());
        assert!(flatten(&elf).is_err());
    }

    #[test]
    fn initrd_names_each_module() {
        let arg = initrd_arg(&[
            (Path::new("build/a.conf"), CONF_MODULE),
            (Path::new("build/k.elf"), KERNEL_MODULE),
        ])
        .unwrap();
        assert_eq!(
            arg,
            "build/a.conf /boot/limine.conf,build/k.elf /boot/kernel"
        );
        assert!(initrd_arg(&[(Path::new("a,b"), "x")]).is_err());
    }
}
