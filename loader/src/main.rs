//! UEFI entry of the bundled Limine-protocol loader.
//!
//! On success the kernel runs and this never returns. On failure the reason is printed on the
//! firmware console (which OVMF mirrors to the serial port), the loader waits for a key and
//! returns to the firmware; it never jumps into a half-loaded kernel.
//!
//! Every decision is made by the `loader` library, which forbids `unsafe`; the firmware glue in
//! `firmware/` is the one module allowed to use it (see docs/architecture.md, "Unsafe").

#![cfg_attr(target_os = "uefi", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "uefi")]
extern crate alloc;

// The UEFI glue: calls into the firmware, port and MSR access, the jump to the kernel.
#[cfg(target_os = "uefi")]
#[allow(unsafe_code)]
mod firmware;

#[cfg(target_os = "uefi")]
#[global_allocator]
static ALLOCATOR: firmware::alloc::LoaderAllocator = firmware::alloc::LoaderAllocator;

#[cfg(target_os = "uefi")]
#[uefi::entry]
fn main() -> uefi::Status {
    match firmware::boot() {
        Ok(never) => match never {},
        Err(e) => {
            say!("loader: error: {e}");
            say!("loader: press any key to return to the firmware.");
            firmware::console::wait_for_key();
            uefi::Status::LOAD_ERROR
        }
    }
}

#[cfg(target_os = "uefi")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    say!("loader: internal error: {info}");
    firmware::handoff::halt()
}

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("the loader runs only on the x86_64-unknown-uefi target; use `make run`");
    std::process::exit(1);
}
