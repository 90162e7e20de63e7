//! Host-side driver behind the Makefile: `cargo xtask <command>`.
//!
//! Commands: `deps`, `build`, `run`, `run-bios`, `debug`, `test`, `iso`, `bench`, `lint`.
//! Knobs come from the environment (see `qemu.rs`): MACHINE, MEM, SMP, ACCEL, CPU, QEMUFLAGS,
//! CMDLINE, LIMINE_DIR. Every failure is an [`error::Error`], printed once by `main`.

mod bench;
mod bios;
mod deps;
mod error;
mod grub;
mod images;
mod iso;
mod ktap;
mod lint;
mod matrix;
mod qemu;
mod run;
mod screen;
mod session;
mod test;
mod textmode;

use std::process::ExitCode;

use deps::Purpose;
use error::Result;

const USAGE: &str = "usage: cargo xtask <deps|build|run|run-bios|debug|run-iso|iso|test|bench|lint|screenshot [out.png]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("deps") => deps::ensure(Purpose::All).map(|()| true),
        Some("build") => build().map(|()| true),
        Some("run") => run::run(false).map(|()| true),
        Some("debug") => run::run(true).map(|()| true),
        Some("test") => test::test(),
        Some("iso") => iso::iso().map(|_| true),
        Some("bench") => bench::bench().map(|()| true),
        Some("lint") => lint::lint(),
        Some("run-iso") => run::run_iso().map(|()| true),
        Some("run-bios") => bios::run_bios().map(|()| true),
        Some("screenshot") => {
            let out = args.get(1).map_or("docs/screenshot.png", String::as_str);
            run::screenshot(std::path::Path::new(out)).map(|()| true)
        }
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build() -> Result<()> {
    deps::ensure(Purpose::Headless)?;
    images::build_kernel(images::Kernel::Normal)?;
    images::build_kernel(images::Kernel::Test)?;
    let efi = images::efi_loader()?;
    let bios = bios::bios_loader()?;
    println!(
        "built build/kernel.elf, build/kernel-test.elf, {}, {}",
        efi.display(),
        bios.display()
    );
    Ok(())
}
