//! `make test`: every test layer, one summary.
//!
//! 1. Host: `cargo test` of the pure modules (kernel lib, loader lib, this crate).
//! 2. Kernel: the test kernel boots in QEMU through the bundled loader and reports KTAP on COM1;
//!    tests that end the boot on purpose get a boot each.
//! 3. Boot variants: base revision 3, KASLR, the `pc` machine with less RAM, the RAM and CPU
//!    matrix (see `matrix`: the production kernel reaching `boot: ready` with every RAM size,
//!    machine and CPU model, and reporting the memory it manages), and the loader's error
//!    reports for bad input.
//! 4. Shell sessions (`shell-*`, see `session`): the production kernel's shell driven over COM1
//!    and the keyboard, each a scripted conversation in its own boot, in parallel with the rest.
//!
//! Every boot has a time limit; a timeout, a reset, a missing plan line or a wrong exit status
//! fails it, and the serial log of every failing boot is printed. The last line is
//! `N passed, N failed`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::images::{self, Kernel};
use crate::ktap;
use crate::matrix;
use crate::qemu::{self, Knobs, Outcome, Running, Vm};
use crate::screen;
use crate::session;

/// Time limit of one boot.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// Running totals and failure details.
#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    failed: usize,
    /// (name, details) of each failure, printed at the end.
    failures: Vec<(String, String)>,
}

impl Tally {
    fn pass(&mut self, name: &str) {
        println!("  ok    {name}");
        self.passed += 1;
    }

    fn fail(&mut self, name: &str, why: &str, details: String) {
        println!("  FAIL  {name}: {why}");
        self.failed += 1;
        self.failures.push((name.to_string(), details));
    }
}

/// What a boot must show.
#[derive(Debug, Clone)]
enum Check {
    /// A complete KTAP report with every test passing, and exit status 33.
    Ktap,
    /// One test that ends the boot: `ok 1`, exit status 33, and these texts on serial.
    Standalone(Vec<String>),
    /// `boot: ready in` on serial (the VM is stopped afterwards).
    Ready,
    /// As `Ready`, and these texts on serial too.
    ReadyWith(Vec<String>),
    /// The loader refuses to boot and says so with these texts; the kernel never starts.
    LoaderError(Vec<&'static str>),
    /// After `boot: ready`, a screendump shows the boot banner's colours where the console's
    /// geometry (from the boot log) says they are.
    Screen,
    /// A conversation with the shell (see `session`): every step of the script met, and no
    /// kernel panic on serial.
    Session(session::Session),
}

#[derive(Debug, Clone)]
struct BootSpec {
    name: String,
    kernel: Kernel,
    /// `limine.conf` text, or `None` for an ESP without one.
    conf: Option<String>,
    /// Replace the kernel file with these bytes (bad-input tests); `None` keeps the kernel.
    kernel_bytes: Option<Vec<u8>>,
    knobs: Knobs,
    check: Check,
    /// Boot from a hybrid ISO (as CD or disk) instead of an ESP disk image.
    iso: Option<qemu::ImageKind>,
    /// Also check the kernel's memory line (a point of the boot matrix, see `matrix`).
    memory_line: bool,
}

/// A generated `limine.conf` with one entry.
fn conf(name: &str, cmdline: &str, kaslr: bool, globals: &str) -> String {
    format!(
        "timeout: 0\n{globals}\n/{name}\n    protocol: limine\n    kernel_path: boot():/boot/kernel\n    cmdline: {cmdline}\n    kaslr: {}\n",
        if kaslr { "yes" } else { "no" }
    )
}

fn knobs(machine: &str, mem: &str) -> Knobs {
    Knobs {
        machine: machine.into(),
        mem: mem.into(),
        ..Knobs::for_tests()
    }
}

fn ktap_boot(name: &str, cmdline: &str, kaslr: bool, globals: &str, knobs: Knobs) -> BootSpec {
    BootSpec {
        name: name.into(),
        kernel: Kernel::Test,
        conf: Some(conf(name, cmdline, kaslr, globals)),
        kernel_bytes: None,
        knobs,
        check: Check::Ktap,
        iso: None,
        memory_line: false,
    }
}

fn loader_error(
    name: &str,
    conf: Option<String>,
    kernel_bytes: Option<Vec<u8>>,
    expect: Vec<&'static str>,
) -> BootSpec {
    BootSpec {
        name: name.into(),
        kernel: Kernel::Test,
        conf,
        kernel_bytes,
        knobs: Knobs::for_tests(),
        check: Check::LoaderError(expect),
        iso: None,
        memory_line: false,
    }
}

/// The matrix point the KTAP boot `ktest-qemu64-4G` covers (no separate boot for it).
const MATRIX_KTAP_POINT: matrix::Point = matrix::Point {
    machine: "q35",
    mem: "4G",
    cpu: "qemu64",
};

/// The first wave of boots (the standalone tests follow once the first report names them).
fn first_wave(real_limine: bool, test_kernel: &Path) -> Result<Vec<BootSpec>> {
    let base = Knobs::for_tests();
    let mut boots = vec![
        ktap_boot("ktest", "ktest=all", false, "", base.clone()),
        ktap_boot(
            "ktest-kaslr",
            "ktest=all ktest.kaslr=1",
            true,
            "",
            base.clone(),
        ),
        ktap_boot("ktest-pc-256M", "ktest=all", false, "", knobs("pc", "256M")),
        ktap_boot("ktest-pic", "ktest=all irq=pic", false, "", base.clone()),
        // No PIT: the TSC and LAPIC timer are calibrated against the ACPI PM timer instead.
        ktap_boot(
            "ktest-no-pit",
            "ktest=all",
            false,
            "",
            knobs("q35,pit=off", "512M"),
        ),
        // No 1 GiB pages (qemu64 lacks pdpe1gb) and RAM above 4 GiB: also the matrix point
        // q35-4G-qemu64, with the whole test suite.
        BootSpec {
            memory_line: true,
            ..ktap_boot(
                "ktest-qemu64-4G",
                "ktest=all",
                false,
                "",
                Knobs {
                    cpu: "qemu64".into(),
                    ..knobs("q35", MATRIX_KTAP_POINT.mem)
                },
            )
        },
    ];
    // The heap tests once per allocator (the `ktest` boot above runs them on talc, the default).
    for name in ["bump", "linked-list", "fixed-block"] {
        boots.push(ktap_boot(
            &format!("ktest-heap-{name}"),
            &format!("ktest=prefix:kernel::heap:: allocator={name}"),
            false,
            "",
            base.clone(),
        ));
    }
    boots.extend([BootSpec {
        name: "screen-banner".into(),
        kernel: Kernel::Normal,
        conf: Some(images::project_conf(Some("log=info"), None)?),
        kernel_bytes: None,
        knobs: base.clone(),
        check: Check::Screen,
        iso: None,
        memory_line: false,
    }]);
    // Shell sessions on the production kernel, over COM1 and the keyboard.
    let shell_conf = images::project_conf(Some("log=info"), None)?;
    for s in session::sessions()? {
        boots.push(BootSpec {
            name: s.name.into(),
            kernel: Kernel::Normal,
            conf: Some(shell_conf.clone()),
            kernel_bytes: None,
            knobs: base.clone(),
            check: Check::Session(s),
            iso: None,
            memory_line: false,
        });
    }
    // The production kernel at every other point of the matrix (q35-512M-max is the default
    // machine: the plain "boots to ready" check).
    let ready_conf = images::project_conf(Some("log=debug"), None)?;
    for point in matrix::points() {
        if point == MATRIX_KTAP_POINT {
            continue;
        }
        boots.push(BootSpec {
            name: point.name(),
            kernel: Kernel::Normal,
            conf: Some(ready_conf.clone()),
            kernel_bytes: None,
            knobs: Knobs {
                cpu: point.cpu.into(),
                ..knobs(point.machine, point.mem)
            },
            check: Check::Ready,
            iso: None,
            memory_line: true,
        });
    }
    // The production kernel boots to ready on every allocator and says which it runs on.
    for name in ["talc", "bump", "linked-list", "fixed-block"] {
        boots.push(BootSpec {
            name: format!("ready-allocator-{name}"),
            kernel: Kernel::Normal,
            conf: Some(images::project_conf(
                Some(&format!("log=info allocator={name} heap=4M heap_max=64M")),
                None,
            )?),
            kernel_bytes: None,
            knobs: base.clone(),
            check: Check::ReadyWith(vec![format!("heap: {name}, 4 MiB initial, max 64 MiB")]),
            iso: None,
            memory_line: false,
        });
    }
    // Bad values: a warning each, and the defaults.
    boots.push(BootSpec {
        name: "ready-heap-bad-options".into(),
        kernel: Kernel::Normal,
        conf: Some(images::project_conf(
            Some("log=info allocator=slab heap=lots heap_max=8X"),
            None,
        )?),
        kernel_bytes: None,
        knobs: base.clone(),
        check: Check::ReadyWith(vec![
            "unknown allocator `slab`".into(),
            "`heap=lots` is not a size".into(),
            "`heap_max=8X` is not a size".into(),
            "heap: talc, 8 MiB initial, max ".into(),
        ]),
        iso: None,
        memory_line: false,
    });
    for (name, kind) in [
        ("iso-uefi-cd", qemu::ImageKind::Cdrom),
        ("iso-uefi-disk", qemu::ImageKind::Disk),
    ] {
        let mut spec = ktap_boot(name, "ktest=all", false, "", base.clone());
        spec.iso = Some(kind);
        boots.push(spec);
    }
    boots.extend(bios_iso_boots(real_limine)?);
    if real_limine {
        // The rest exercises the bundled loader's own behaviour.
        return Ok(boots);
    }
    boots.push(ktap_boot(
        "ktest-rev3",
        "ktest=all ktest.revision=3",
        false,
        "bundled_max_base_revision: 3",
        base,
    ));
    let elf = std::fs::read(test_kernel)
        .map_err(|e| format!("cannot read {}: {e}", test_kernel.display()))?;
    let good = conf("bad-input", "ktest=all", false, "");
    boots.push(loader_error(
        "loader-no-config",
        None,
        None,
        vec!["limine.conf", "not found"],
    ));
    boots.push(loader_error(
        "loader-bad-config",
        Some("timeout: 0\n/entry\n    protocol: limine\n    this line has no colon\n".into()),
        None,
        vec!["limine.conf line 4"],
    ));
    boots.push(loader_error(
        "loader-missing-kernel",
        Some(good.replace("boot():/boot/kernel", "boot():/boot/no-such-kernel")),
        None,
        vec!["/boot/no-such-kernel", "not found"],
    ));
    boots.push(loader_error(
        "loader-not-elf",
        Some(good.clone()),
        Some(b"MZ this is not an ELF file".repeat(100)),
        vec!["not an ELF"],
    ));
    boots.push(loader_error(
        "loader-truncated-elf",
        Some(good),
        Some(elf[..elf.len().min(4096)].to_vec()),
        vec!["kernel", "truncated"],
    ));
    Ok(boots)
}

/// Whether boot `name` is a BIOS (SeaBIOS) boot of the ISO: the `iso-bios-*` boots.
fn is_bios_iso(name: &str) -> bool {
    name.starts_with("iso-bios-")
}

/// Whether boot `name` tests GRUB's half of the bundled ISO with the Multiboot2 stub in place
/// of the BIOS entry: the `iso-bios-grub-*` boots.
fn is_grub_stub(name: &str) -> bool {
    name.starts_with("iso-bios-grub-")
}

/// The BIOS boots of the ISO (SeaBIOS, as a CD and as a disk).
///
/// - `iso-bios-grub-cd`/`-disk` (bundled loader only): GRUB, from the El Torito image or the
///   MBR, starts a Multiboot2 stub (`grub::MULTIBOOT2_STUB`) in place of the BIOS entry, with
///   the kernel and `limine.conf` as modules; the stub prints their command lines.
/// - `iso-bios-cd`/`-disk` to `boot: ready`, and `iso-bios-screen-cd`, the banner at its
///   cells in VGA text mode: with real Limine always; with the bundled loader only once
///   `iso::bios_entry` builds the BIOS entry (until then GRUB has nothing to start).
fn bios_iso_boots(real_limine: bool) -> Result<Vec<BootSpec>> {
    let ready_conf = images::project_conf(Some("log=info"), None)?;
    let boot = |name: &str, kind, check| BootSpec {
        name: name.into(),
        kernel: Kernel::Normal,
        conf: Some(ready_conf.clone()),
        kernel_bytes: None,
        knobs: Knobs::for_tests(),
        check,
        iso: Some(kind),
        memory_line: false,
    };
    let mut boots = Vec::new();
    if !real_limine {
        for (name, kind) in [
            ("iso-bios-grub-cd", qemu::ImageKind::Cdrom),
            ("iso-bios-grub-disk", qemu::ImageKind::Disk),
        ] {
            // The stub's report, not a loader's refusal: these texts, and no kernel.
            boots.push(boot(
                name,
                kind,
                Check::LoaderError(vec![
                    "mb2-stub: started by a Multiboot2 loader",
                    "mb2-stub: module /boot/kernel\n",
                    "mb2-stub: module /boot/limine.conf\n",
                    "mb2-stub: end",
                ]),
            ));
        }
    }
    if real_limine || crate::iso::bios_entry()?.is_some() {
        boots.push(boot("iso-bios-cd", qemu::ImageKind::Cdrom, Check::Ready));
        boots.push(boot("iso-bios-disk", qemu::ImageKind::Disk, Check::Ready));
        boots.push(boot(
            "iso-bios-screen-cd",
            qemu::ImageKind::Cdrom,
            Check::Screen,
        ));
    }
    Ok(boots)
}

/// Builds the ISO of an ISO boot in `dir`: the stub as the BIOS entry for the GRUB boots.
fn build_test_iso(
    spec: &BootSpec,
    kernel: &Path,
    efi: &Path,
    conf: &str,
    dir: &Path,
    iso: &Path,
) -> Result<()> {
    let root = dir.join("iso_root");
    if !is_grub_stub(&spec.name) {
        return crate::iso::build_iso(kernel, efi, conf, &root, iso);
    }
    let stub = dir.join("mb2-stub.bin");
    qemu::ensure_parent(&stub)?;
    std::fs::write(&stub, crate::grub::MULTIBOOT2_STUB)
        .map_err(|e| Error::io(format!("cannot write {}", stub.display()), e))?;
    crate::iso::build_iso_with(kernel, efi, Some(&stub), conf, &root, iso)
}

/// Runs the host tests; returns (passed, failed, output of failures).
fn host_tests(tally: &mut Tally) {
    println!("host tests (cargo test)");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(images::root())
        .args(["test", "--no-fail-fast", "--workspace", "--lib", "--bins"])
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            tally.fail(
                "host tests",
                &format!("cannot run cargo: {e}"),
                String::new(),
            );
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (mut passed, mut failed) = (0usize, 0usize);
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("test result: ") {
            let num = |label: &str| {
                rest.split(';')
                    .find_map(|part| {
                        part.trim()
                            .strip_suffix(label)
                            .and_then(|n| n.trim().rsplit(' ').next()?.parse::<usize>().ok())
                    })
                    .unwrap_or(0)
            };
            passed += num(" passed");
            failed += num(" failed");
        }
    }
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("test ") && l.ends_with("FAILED"))
    {
        println!(
            "  FAIL  host: {}",
            line.trim_start_matches("test ")
                .trim_end_matches(" ... FAILED")
        );
    }
    println!("  host: {passed} passed, {failed} failed");
    tally.passed += passed;
    tally.failed += failed;
    if failed > 0 {
        tally
            .failures
            .push(("host tests".into(), stdout.to_string()));
    }
    if !out.status.success() && failed == 0 {
        tally.fail(
            "host tests",
            "cargo test failed before running tests",
            format!("{stdout}\n{stderr}"),
        );
    }
}

/// Everything a boot needs that is shared by all boots.
struct Shared {
    ovmf: qemu::Ovmf,
    efi: PathBuf,
    normal_kernel: PathBuf,
    test_kernel: PathBuf,
}

/// Result of one boot.
struct BootResult {
    name: String,
    /// (test name, passed, why/diagnostics)
    results: Vec<(String, bool, String)>,
    log: String,
    standalone: Vec<(String, Vec<String>)>,
}

fn run_boot(spec: &BootSpec, shared: &Shared) -> BootResult {
    let dir = images::build_dir().join("test").join(&spec.name);
    let mut result = BootResult {
        name: spec.name.clone(),
        results: Vec::new(),
        log: String::new(),
        standalone: Vec::new(),
    };
    let fail = |result: &mut BootResult, why: Error| {
        result
            .results
            .push((spec.name.clone(), false, why.to_string()))
    };
    let kernel = match spec.kernel {
        Kernel::Normal => &shared.normal_kernel,
        Kernel::Test => &shared.test_kernel,
    };
    let medium = match spec.iso {
        None => esp_medium(spec, shared, kernel, &dir),
        Some(kind) => {
            let iso = dir.join("kernel.iso");
            let conf = spec.conf.clone().unwrap_or_default();
            build_test_iso(spec, kernel, &shared.efi, &conf, &dir, &iso).map(|()| (iso, kind))
        }
    };
    let medium = match medium {
        Ok(m) => m,
        Err(e) => {
            fail(&mut result, e);
            return result;
        }
    };
    let mut vm = Vm::headless(spec.knobs.clone(), shared.ovmf.clone(), &dir, medium);
    vm.bios = is_bios_iso(&spec.name);
    if let Check::Session(s) = &spec.check {
        vm.allow_reboot = s.allow_reboot;
    }
    let running = match vm
        .command()
        .and_then(|cmd| Running::spawn(cmd, vm.qmp.clone()))
    {
        Ok(r) => r,
        Err(e) => {
            fail(&mut result, e);
            return result;
        }
    };
    let outcome = match &spec.check {
        Check::Ktap => running.wait(BOOT_TIMEOUT),
        Check::Standalone(_) => {
            let mut running = running;
            if let Err(e) = type_requested_keys(&mut running) {
                fail(&mut result, e);
            }
            let left = BOOT_TIMEOUT.saturating_sub(running.elapsed());
            running.wait(left)
        }
        Check::Ready | Check::ReadyWith(_) => wait_then_kill(running, &["boot: ready in"]),
        Check::LoaderError(expect) => wait_then_kill(running, expect),
        Check::Session(s) => {
            let mut running = running;
            let verdict = session::run(&s.script, &mut running);
            // Collects the status if QEMU has exited, else kills it.
            let outcome = running.wait(Duration::ZERO);
            let mut problems: Vec<String> =
                verdict.err().map(|f| f.to_string()).into_iter().collect();
            if ktap::strip_ansi(&outcome.log).contains("kernel panic") {
                problems.push("the kernel panicked".into());
            }
            result
                .results
                .push((spec.name.clone(), problems.is_empty(), problems.join("; ")));
            outcome
        }
        Check::Screen => {
            let mut running = running;
            let shot = dir.join("screen.ppm");
            let _ = std::fs::remove_file(&shot);
            if running.wait_for("boot: ready in", BOOT_TIMEOUT) {
                // The console draws at most every 16 ms and flushes at `ready`; give it a beat.
                std::thread::sleep(Duration::from_millis(300));
                let cmd = serde_json::json!({
                    "execute": "screendump",
                    "arguments": { "filename": shot },
                });
                if let Err(e) = running.qmp(&cmd) {
                    fail(&mut result, e.context("screendump"));
                }
            }
            running.kill()
        }
    };
    let _ = std::fs::write(dir.join("serial.log"), &outcome.log);
    result.log = outcome.log.clone();
    if !outcome.stderr.trim().is_empty() {
        result.log.push_str("\n--- QEMU stderr ---\n");
        result.log.push_str(&outcome.stderr);
    }
    judge(spec, &outcome, &mut result);
    result
}

/// Expands a `ktest: send-keys` request into QMP key combinations: tokens are QEMU key names
/// (qcodes), `a-b` presses keys together, `x*N` repeats a token N times.
pub fn parse_key_request(line: &str) -> Vec<Vec<String>> {
    let mut combos = Vec::new();
    for token in line.split_whitespace() {
        let (keys, times) = match token.rsplit_once('*') {
            Some((k, n)) => (k, n.parse::<usize>().unwrap_or(1)),
            None => (token, 1),
        };
        let combo: Vec<String> = keys
            .split('-')
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect();
        for _ in 0..times.min(10_000) {
            combos.push(combo.clone());
        }
    }
    combos
}

/// While the VM runs, answers each `ktest: send-keys ...` line by typing those keys.
fn type_requested_keys(running: &mut Running) -> Result<()> {
    let mut handled = 0;
    while running.elapsed() < BOOT_TIMEOUT && !running.has_exited() {
        let log = ktap::strip_ansi(&running.log());
        let requests: Vec<String> = log
            .lines()
            .filter_map(|l| l.strip_prefix("ktest: send-keys "))
            .map(String::from)
            .collect();
        for request in &requests[handled.min(requests.len())..] {
            for combo in parse_key_request(request) {
                running.send_key(&combo)?;
            }
        }
        handled = requests.len();
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The ESP disk image of a boot: its config (or none), its kernel (or the bad bytes it tests).
fn esp_medium(
    spec: &BootSpec,
    shared: &Shared,
    kernel: &Path,
    dir: &Path,
) -> Result<(PathBuf, qemu::ImageKind)> {
    let esp = dir.join("esp");
    images::stage_esp(&esp, &shared.efi, Some(kernel), spec.conf.as_deref())?;
    if let Some(bytes) = &spec.kernel_bytes {
        std::fs::write(esp.join("boot/kernel"), bytes)
            .map_err(|e| format!("cannot write the bad kernel: {e}"))?;
    }
    let image = dir.join("esp.img");
    images::esp_image(&esp, &image)?;
    Ok((image, qemu::ImageKind::Disk))
}

fn wait_then_kill(mut running: Running, needles: &[&str]) -> Outcome {
    for needle in needles {
        let left = BOOT_TIMEOUT.saturating_sub(running.elapsed());
        if !running.wait_for(needle, left) {
            break;
        }
    }
    running.kill()
}

/// What is wrong with a boot the loader should have refused: each of `expect` missing from the
/// (ANSI-stripped) serial log `clean`, and the kernel having started anyway.
pub(crate) fn refusal_problems(clean: &str, expect: &[impl AsRef<str>]) -> Vec<String> {
    let mut problems: Vec<String> = expect
        .iter()
        .map(AsRef::as_ref)
        .filter(|t| !clean.contains(*t))
        .map(|t| format!("serial output lacks {t:?}"))
        .collect();
    if clean.contains("KTAP version") || clean.contains("boot: ready") {
        problems.push("the kernel started although the loader should have refused".into());
    }
    problems
}

/// Counts one boot's results and keeps its serial log when any failed.
fn record(tally: &mut Tally, boot: &str, results: &[(String, bool, String)], log: String) {
    let mut any_failed = false;
    for (name, ok, why) in results {
        if *ok {
            tally.pass(name);
        } else {
            any_failed = true;
            tally.fail(name, why, String::new());
        }
    }
    if any_failed {
        tally
            .failures
            .push((format!("serial log of boot {boot}"), log));
    }
}

fn judge(spec: &BootSpec, outcome: &Outcome, result: &mut BootResult) {
    let clean = ktap::strip_ansi(&outcome.log);
    let name = &spec.name;
    if spec.memory_line {
        let (ok, why) = match matrix::check_memory(&clean) {
            Ok(_) => (true, String::new()),
            Err(why) => (false, why),
        };
        result
            .results
            .push((format!("{name}: memory line"), ok, why));
    }
    match &spec.check {
        Check::Ktap => {
            let report = ktap::parse(&outcome.log);
            result.standalone = report.standalone.clone();
            for t in &report.results {
                result.results.push((
                    format!("{name}: {}", t.name),
                    t.ok,
                    t.diagnostics.join("; "),
                ));
            }
            let status_ok = outcome.status == Some(qemu::EXIT_SUCCESS)
                || (outcome.status == Some(qemu::EXIT_FAILURE) && report.failed() > 0);
            if !report.complete() || !status_ok || outcome.timed_out {
                let why = if !report.has_header {
                    format!("no KTAP report ({})", qemu::describe(outcome))
                } else if report.plan.is_none() {
                    format!("no plan line ({})", qemu::describe(outcome))
                } else if !report.complete() {
                    format!(
                        "{} of {:?} results ({}) {}",
                        report.results.len(),
                        report.plan,
                        qemu::describe(outcome),
                        report.problems.join("; ")
                    )
                } else {
                    qemu::describe(outcome)
                };
                result.results.push((format!("{name}: boot"), false, why));
            }
        }
        Check::Standalone(expect) => {
            let report = ktap::parse(&outcome.log);
            let mut problems = Vec::new();
            if outcome.status != Some(qemu::EXIT_SUCCESS) {
                problems.push(qemu::describe(outcome));
            }
            match report.results.as_slice() {
                [t] if t.ok => {}
                [t] => problems.push(format!("not ok: {}", t.diagnostics.join("; "))),
                _ => problems.push(format!(
                    "expected exactly one result, got {}",
                    report.results.len()
                )),
            }
            let values = let_values(&clean);
            for text in expect {
                match substitute(text, &values) {
                    Ok(text) if clean.contains(text.as_str()) => {}
                    Ok(text) => problems.push(format!("serial output lacks {text:?}")),
                    Err(name) => problems.push(format!(
                        "no `ktest: let {name}=...` line for the expected text {text:?}"
                    )),
                }
            }
            result
                .results
                .push((name.clone(), problems.is_empty(), problems.join("; ")));
        }
        check @ (Check::Ready | Check::ReadyWith(_)) => {
            let mut problems = Vec::new();
            if let Check::ReadyWith(texts) = check {
                for text in texts.iter().filter(|t| !clean.contains(t.as_str())) {
                    problems.push(format!("no `{text}` on serial"));
                }
            }
            if !clean.contains("boot: ready in") {
                problems.push(format!(
                    "no `boot: ready` line ({})",
                    qemu::describe(outcome)
                ));
            }
            if clean.contains("kernel panic") {
                problems.push("the kernel panicked".into());
            }
            result
                .results
                .push((name.clone(), problems.is_empty(), problems.join("; ")));
        }
        Check::Screen => {
            let mut problems = Vec::new();
            let shot = images::build_dir()
                .join("test")
                .join(name)
                .join("screen.ppm");
            match (
                std::fs::read(&shot)
                    .map_err(|e| Error::io(format!("cannot read {}", shot.display()), e))
                    .and_then(|b| screen::parse_ppm(&b)),
                screen::Geometry::from_log(&clean),
            ) {
                (Ok(img), _) if is_bios_iso(name) => {
                    problems.extend(crate::textmode::check_banner(&img))
                }
                (Ok(img), Some(geo)) => problems.extend(screen::check_banner(&img, &geo)),
                (Err(e), _) => {
                    problems.push(format!("no screendump ({e}; {})", qemu::describe(outcome)))
                }
                (_, None) => {
                    problems.push("the boot log does not state the console geometry".into())
                }
            }
            result
                .results
                .push((name.clone(), problems.is_empty(), problems.join("; ")));
        }
        // Judged while it ran (see `run_boot`).
        Check::Session(_) => {}
        Check::LoaderError(expect) => {
            let problems = refusal_problems(&clean, expect);
            result
                .results
                .push((name.clone(), problems.is_empty(), problems.join("; ")));
        }
    }
}

/// The values a standalone test announced before ending its boot: `ktest: let NAME=VALUE`
/// lines (a later line wins).
pub fn let_values(log: &str) -> Vec<(String, String)> {
    let mut values: Vec<(String, String)> = Vec::new();
    for line in log.lines() {
        let Some((name, value)) = line
            .trim_end()
            .strip_prefix("ktest: let ")
            .and_then(|rest| rest.split_once('='))
        else {
            continue;
        };
        values.retain(|(n, _)| n != name);
        values.push((name.to_string(), value.to_string()));
    }
    values
}

/// `text` with each `{NAME}` replaced by its value; `Err(NAME)` for a name without one.
pub fn substitute(text: &str, values: &[(String, String)]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + len];
        let value = values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| name.to_string())?;
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Runs boots on as many workers as there are CPUs (at most 4), printing results as they end.
fn run_boots(
    specs: Vec<BootSpec>,
    shared: &Shared,
    tally: &mut Tally,
) -> Vec<(String, Vec<String>)> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let queue = Mutex::new(specs.into_iter().collect::<VecDeque<_>>());
    let tally_lock = Mutex::new((std::mem::take(tally), Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let Some(spec) = queue.lock().expect("queue").pop_front() else {
                        break;
                    };
                    let result = run_boot(&spec, shared);
                    let (tally, standalone) = &mut *tally_lock.lock().expect("tally");
                    println!("boot {}", result.name);
                    let log = ktap::strip_ansi(&result.log);
                    record(tally, &result.name, &result.results, log);
                    standalone.extend(result.standalone);
                }
            });
        }
    });
    let (t, standalone) = tally_lock.into_inner().expect("tally");
    *tally = t;
    standalone
}

/// The BIOS entry's boots (`bios-`, see `crate::bios`): SeaBIOS starting `loader-bios.bin`
/// through QEMU's `-kernel`, on as many workers as `run_boots` uses.
fn run_bios_boots(selection: Option<&[String]>, shared: &Shared, tally: &mut Tally) -> Result<()> {
    let mut boots = crate::bios::boots(&shared.test_kernel)?;
    boots.retain(|b| selected(selection, &b.name));
    if boots.is_empty() {
        return Ok(());
    }
    let loader = crate::bios::bios_loader()?;
    println!("BIOS entry boots (SeaBIOS, QEMU -kernel)");
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let queue = Mutex::new(boots.into_iter().collect::<VecDeque<_>>());
    let tally_lock = Mutex::new(std::mem::take(tally));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(boot) = queue.lock().expect("queue").pop_front() {
                    let kernel = match boot.kernel {
                        Kernel::Normal => &shared.normal_kernel,
                        Kernel::Test => &shared.test_kernel,
                    };
                    let (results, log) = crate::bios::run(&boot, &loader, kernel, BOOT_TIMEOUT);
                    let tally = &mut *tally_lock.lock().expect("tally");
                    println!("boot {}", boot.name);
                    record(tally, &boot.name, &results, log);
                }
            });
        }
    });
    *tally = tally_lock.into_inner().expect("tally");
    Ok(())
}

/// The `TESTS` knob: comma-separated name fragments. When set, only the layers and boots whose
/// name contains one of them run (`host` selects the host tests); unset runs everything.
fn selection() -> Option<Vec<String>> {
    let raw = std::env::var("TESTS").ok()?;
    let parts: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    (!parts.is_empty()).then_some(parts)
}

fn selected(selection: Option<&[String]>, name: &str) -> bool {
    selection.is_none_or(|parts| parts.iter().any(|p| name.contains(p.as_str())))
}

/// Runs every test layer; returns whether everything passed.
pub fn test() -> Result<bool> {
    crate::deps::ensure(crate::deps::Purpose::Headless)?;
    let selection = selection();
    let selection = selection.as_deref();
    let mut tally = Tally::default();
    if selected(selection, "host") {
        host_tests(&mut tally);
    }

    let shared = Shared {
        ovmf: qemu::find_ovmf()?,
        efi: images::efi_loader()?,
        normal_kernel: images::build_kernel(Kernel::Normal)?,
        test_kernel: images::build_kernel(Kernel::Test)?,
    };
    let real = images::using_real_limine();
    println!(
        "kernel tests in QEMU ({})",
        if real {
            "real Limine"
        } else {
            "bundled loader"
        }
    );
    let mut first = first_wave(real, &shared.test_kernel)?;
    first.retain(|spec| selected(selection, &spec.name));
    let mut standalone = run_boots(first, &shared, &mut tally);
    // Every KTAP boot lists the same standalone tests; boot each once.
    standalone.sort();
    standalone.dedup_by(|a, b| a.0 == b.0);
    let mut second: Vec<BootSpec> = standalone
        .into_iter()
        .map(|(name, expect)| BootSpec {
            name: format!("standalone-{}", name.rsplit("::").next().unwrap_or(&name)),
            kernel: Kernel::Test,
            conf: Some(conf("standalone", &format!("ktest={name}"), false, "")),
            kernel_bytes: None,
            knobs: Knobs::for_tests(),
            check: Check::Standalone(expect),
            iso: None,
            memory_line: false,
        })
        .collect();
    if second.is_empty() && selection.is_none() {
        tally.fail(
            "standalone tests",
            "the main boot listed no standalone tests",
            String::new(),
        );
    }
    second.retain(|spec| selected(selection, &spec.name));
    run_boots(second, &shared, &mut tally);
    run_bios_boots(selection, &shared, &mut tally)?;

    for (name, details) in &tally.failures {
        if details.is_empty() {
            continue;
        }
        println!("\n===== {name} =====");
        let lines: Vec<&str> = details.lines().collect();
        let skip = lines.len().saturating_sub(400);
        if skip > 0 {
            println!("[... {skip} earlier lines omitted ...]");
        }
        for line in &lines[skip..] {
            println!("{line}");
        }
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_requests() {
        let keys = parse_key_request("h spc shift-1 a*3");
        let flat: Vec<String> = keys.iter().map(|c| c.join("+")).collect();
        assert_eq!(flat, ["h", "spc", "shift+1", "a", "a", "a"]);
        assert!(parse_key_request("").is_empty());
        assert_eq!(parse_key_request("x*bogus").len(), 1);
    }

    #[test]
    fn announced_values_fill_expected_texts() {
        let log = "boot: ready\nktest: let cr2=0x00000000dead0000\r\nktest: let walk=0xdead0000\n\
                   ktest: let walk=0xbeef\nktest: let broken\n!!! CPU exception 14\n";
        let values = let_values(log);
        assert_eq!(
            values,
            [
                ("cr2".to_string(), "0x00000000dead0000".to_string()),
                ("walk".to_string(), "0xbeef".to_string())
            ]
        );
        assert_eq!(
            substitute("CR2={cr2} (faulting address)", &values),
            Ok("CR2=0x00000000dead0000 (faulting address)".to_string())
        );
        assert_eq!(
            substitute("{walk}{cr2}", &values),
            Ok("0xbeef0x00000000dead0000".to_string())
        );
        assert_eq!(
            substitute("no braces", &values),
            Ok("no braces".to_string())
        );
        assert_eq!(
            substitute("open { only", &values),
            Ok("open { only".to_string())
        );
        assert_eq!(substitute("CR2={rip}", &values), Err("rip".to_string()));
        assert_eq!(substitute("{cr2}", &[]), Err("cr2".to_string()));
    }
}
