//! BIOS entry of the bundled Limine-protocol loader (`build/loader-bios.bin`).
//!
//! A Multiboot loader (QEMU `-kernel`, GRUB `multiboot` or `multiboot2`) starts it with
//! `limine.conf` and the kernel as modules, each named by the last word of its command line
//! (`/boot/limine.conf`, `/boot/kernel`: the paths the configuration's `boot():/...` names).
//! `entry.rs` takes the machine from 32-bit protected mode to long mode; `bios_main` then runs
//! the same boot sequence as the UEFI loader (`loader::boot::prepare` and `Prepared::finish`)
//! over [`Bios`], this binary's `Firmware`: modules as files, a page allocator over the
//! Multiboot memory map, the RSDP and SMBIOS found by scanning, no display modes (the screen
//! stays in VGA text mode, no framebuffer response), firmware type BIOS. The UEFI binary's
//! hand-off code (`firmware/handoff.rs`) quiets the machine and enters the kernel.
//!
//! A failure is printed on the text screen and COM1, and the machine halts with the message
//! visible. Every decision is the `loader` library's; `unsafe` lives only in this binary's
//! modules (see docs/architecture.md, "Unsafe").

#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
#[macro_use]
mod console;
// The Multiboot headers and the 32-bit stub (global_asm).
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod entry;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod firmware;
// The UEFI loader's hand-off: nothing in it depends on UEFI.
#[cfg(target_os = "none")]
#[allow(unsafe_code, dead_code)]
#[path = "../../firmware/handoff.rs"]
mod handoff;

#[cfg(target_os = "none")]
#[global_allocator]
static ALLOCATOR: firmware::Heap = firmware::Heap;

/// Called by the entry stub in long mode with the Multiboot magic and information address.
// `no_mangle`: the entry stub calls it by name.
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "sysv64" fn bios_main(magic: u32, info: u32) -> ! {
    console::init();
    match firmware::boot(magic, u64::from(info)) {
        Ok(never) => match never {},
        Err(e) => {
            say!("loader: error: {e}");
            say!("loader: the machine is halted; fix the boot input and reset it.");
            handoff::halt()
        }
    }
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    say!("loader: internal error: {info}");
    handoff::halt()
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the BIOS entry runs only on the x86_64-unknown-none target; use `make run-bios`");
    std::process::exit(1);
}
