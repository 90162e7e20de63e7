//! UEFI entry of the bundled loader.

#![cfg_attr(target_os = "uefi", no_std, no_main)]

#[cfg(target_os = "uefi")]
#[uefi::entry]
fn main() -> uefi::Status {
    uefi::Status::SUCCESS
}

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("the loader runs only on the x86_64-unknown-uefi target; use `make run`");
    std::process::exit(1);
}
