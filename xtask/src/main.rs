//! Host-side driver behind the Makefile: `cargo xtask <command>`.
//!
//! Commands: `deps`, `build`, `run`, `debug`, `test`, `iso`, `bench`. Knobs come from the
//! environment (see `qemu.rs`): MACHINE, MEM, SMP, ACCEL, CPU, QEMUFLAGS, CMDLINE, LIMINE_DIR.

mod bench;
mod deps;
mod images;
mod iso;
mod ktap;
mod qemu;
mod run;
mod screen;
mod test;

use std::process::ExitCode;

const USAGE: &str =
    "usage: cargo xtask <deps|build|run|debug|run-iso|iso|test|bench|screenshot [out.png]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("deps") => deps::ensure().map(|()| true),
        Some("build") => build().map(|()| true),
        Some("run") => run::run(false).map(|()| true),
        Some("debug") => run::run(true).map(|()| true),
        Some("test") => test::test(),
        Some("iso") => iso::iso().map(|_| true),
        Some("bench") => bench::bench().map(|()| true),
        Some("run-iso") => run::run_iso().map(|()| true),
        Some("screenshot") => {
            let out = args.get(1).map_or("docs/screenshot.png", String::as_str);
            run::screenshot(std::path::Path::new(out)).map(|()| true)
        }
        _ => Err(USAGE.to_string()),
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

fn build() -> Result<(), String> {
    images::build_kernel(images::Kernel::Normal)?;
    images::build_kernel(images::Kernel::Test)?;
    let efi = images::efi_loader()?;
    println!(
        "built build/kernel.elf, build/kernel-test.elf, {}",
        efi.display()
    );
    Ok(())
}
