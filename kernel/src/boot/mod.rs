//! Boot: the Limine requests and the kernel-owned [`BootInfo`] copied from their responses.
//!
//! `info` is plain data plus consistency checks (host-tested); `limine` holds the request
//! statics and the one function that reads responses, [`limine::collect`]. Nothing outside this
//! module names a `limine::` type.

pub mod info;
#[cfg(target_os = "none")]
pub mod limine;

#[cfg(all(target_os = "none", feature = "ktest"))]
mod ktests;

pub use info::BootInfo;

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;

/// The kernel's one `BootInfo`, filled in place (it is tens of KiB, too big to pass around on
/// the small boot stack) and read-only once published.
struct BootInfoCell {
    info: UnsafeCell<BootInfo>,
    state: AtomicU8,
}

// SAFETY: `info` is written only between the EMPTY->WRITING and WRITING->READY transitions of
// `state`, by the single caller that won the first transition; shared references are handed out
// only in state READY, after which nothing writes.
unsafe impl Sync for BootInfoCell {}

static BOOT_INFO: BootInfoCell = BootInfoCell {
    info: UnsafeCell::new(BootInfo::empty()),
    state: AtomicU8::new(EMPTY),
};

/// Fills the boot information in place with `fill`, then publishes it.
///
/// # Panics
/// If called more than once (a kernel bug).
pub fn init_with<R>(fill: impl FnOnce(&mut BootInfo) -> R) -> R {
    let won = BOOT_INFO
        .state
        .compare_exchange(EMPTY, WRITING, Ordering::AcqRel, Ordering::Acquire);
    assert!(won.is_ok(), "boot info is initialised exactly once");
    // SAFETY: this caller won EMPTY->WRITING, so it is the only one accessing `info`, and no
    // shared reference exists before READY.
    let result = fill(unsafe { &mut *BOOT_INFO.info.get() });
    BOOT_INFO.state.store(READY, Ordering::Release);
    result
}

/// The boot information, if the entry point has published it.
pub fn try_boot_info() -> Option<&'static BootInfo> {
    if BOOT_INFO.state.load(Ordering::Acquire) == READY {
        // SAFETY: in state READY nothing writes `info` any more.
        Some(unsafe { &*BOOT_INFO.info.get() })
    } else {
        None
    }
}

/// The boot information.
///
/// # Panics
/// If called before the entry point published it (a kernel bug).
pub fn boot_info() -> &'static BootInfo {
    try_boot_info().expect("boot info is published by the entry point before use")
}
