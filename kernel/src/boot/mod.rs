//! Boot: the Limine requests and the kernel-owned [`BootInfo`] copied from their responses.
//!
//! `info` is plain data plus consistency checks (host-tested); `limine` holds the request
//! statics and the one function that reads responses, [`limine::collect`]. Nothing outside this
//! module names a `limine::` type.

pub mod info;
// The request statics sit in linker sections the loader writes into, and their responses are
// raw pointers into loader memory: the one place outside `arch` that reads such memory.
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod limine;

#[cfg(all(target_os = "none", feature = "ktest"))]
mod ktests;

pub use info::BootInfo;

/// Where the kernel's one `BootInfo` is filled in place (it is tens of KiB, too big to pass
/// around on the small boot stack). [`init_with`] locks it and never unlocks (the guard is
/// leaked), so the one mutable borrow ends with the fill and nothing can write it afterwards.
static STORAGE: spin::Mutex<BootInfo> = spin::Mutex::new(BootInfo::empty());
/// The published, read-only boot information.
static PUBLISHED: spin::Once<&'static BootInfo> = spin::Once::new();

/// Fills the boot information in place with `fill`, then publishes it.
///
/// # Panics
/// If called more than once (a kernel bug).
pub fn init_with<R>(fill: impl FnOnce(&mut BootInfo) -> R) -> R {
    let guard = STORAGE
        .try_lock()
        .expect("boot info is initialised exactly once");
    let info: &'static mut BootInfo = spin::MutexGuard::leak(guard);
    let result = fill(&mut *info);
    PUBLISHED.call_once(|| info);
    result
}

/// The boot information, if the entry point has published it.
pub fn try_boot_info() -> Option<&'static BootInfo> {
    PUBLISHED.get().copied()
}

/// The boot information.
///
/// # Panics
/// If called before the entry point published it (a kernel bug).
pub fn boot_info() -> &'static BootInfo {
    try_boot_info().expect("boot info is published by the entry point before use")
}
