//! The loader's linear framebuffer as pixel memory the console can own.
//!
//! The boot module declares it from the loader's response ([`declare`], the one `unsafe`
//! step); [`take`] hands the memory out once, as a `'static` byte slice.

use core::sync::atomic::{AtomicBool, Ordering};

use spin::Once;

static DECLARED: Once<(u64, usize)> = Once::new();
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Records the framebuffer at virtual address `virt`, `len` bytes long. Only the first call
/// has an effect.
///
/// # Safety
/// `[virt, virt + len)` must be mapped, writable memory that is the framebuffer (so no Rust
/// object lives there), and nothing but the slice [`take`] returns may access it from now on.
pub unsafe fn declare(virt: u64, len: usize) {
    DECLARED.call_once(|| (virt, len));
}

/// The framebuffer's bytes; `None` when none was declared, or after the first call.
pub fn take() -> Option<&'static mut [u8]> {
    let &(virt, len) = DECLARED.get()?;
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: per `declare`, the range is mapped, writable framebuffer memory that only this
    // slice accesses; the flag makes it the only slice ever created.
    Some(unsafe { core::slice::from_raw_parts_mut(virt as *mut u8, len) })
}
