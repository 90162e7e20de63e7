//! Kernel entry point (bare-metal target only).

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the kernel runs only on the x86_64-unknown-none target; use `make run`");
    std::process::exit(1);
}
