//! Kernel entry point (bare-metal target only). The loader jumps here in 64-bit mode with the
//! machine state the Limine protocol specifies (PROTOCOL.md, "Machine State at Entry");
//! everything else happens in `kernel::init`.

#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

/// Entry point named by `linker.ld`. Reads the TSC first so the boot time covers everything.
#[cfg(target_os = "none")]
// The linker script names the entry symbol, so it must keep its name: the bin's only
// allowance (see docs/architecture.md, Unsafe).
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    let entry_tsc = kernel::arch::cpu::rdtsc();
    kernel::init::start(entry_tsc)
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the kernel runs only on the x86_64-unknown-none target; use `make run`");
    std::process::exit(1);
}
