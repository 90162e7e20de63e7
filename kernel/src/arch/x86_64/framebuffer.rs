//! The loader's linear framebuffer as pixel memory the console can own.
//!
//! The boot module declares where it is from the loader's response ([`declare`], the one
//! `unsafe` step: physical address and length); the memory module maps it write-combining in
//! the kernel's own tables, and [`take`] turns that [`Window`] into a `'static` byte slice,
//! once.

use core::sync::atomic::{AtomicBool, Ordering};

use pagetables::Cache;
use spin::Once;

use super::paging::{PhysKind, Window, WindowError, classify};

static DECLARED: Once<(u64, u64)> = Once::new();
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Records the framebuffer at physical address `phys`, `len` bytes long. Only the first call
/// has an effect.
///
/// # Safety
/// `[phys, phys + len)` must be the framebuffer's memory (so no Rust object lives there), and
/// nothing but the slice [`take`] returns may access it from now on.
pub unsafe fn declare(phys: u64, len: u64) {
    DECLARED.call_once(|| (phys, len));
}

/// The declared framebuffer: (physical address, length).
pub fn declared() -> Option<(u64, u64)> {
    DECLARED.get().copied()
}

/// Why [`take`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeError {
    /// No framebuffer was declared.
    None,
    /// It was taken already.
    Taken,
    /// The window does not map the declared framebuffer writable and uncacheable.
    Window(WindowError),
}

impl core::fmt::Display for TakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::None => f.write_str("no framebuffer declared"),
            Self::Taken => f.write_str("the framebuffer is taken already"),
            Self::Window(e) => write!(f, "framebuffer window: {e}"),
        }
    }
}

impl core::error::Error for TakeError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Window(e) => Some(e),
            _ => None,
        }
    }
}

/// The framebuffer's bytes through `window`, which must map exactly the declared framebuffer,
/// writable, write-combining (or uncached); the first successful call only.
///
/// # Errors
/// [`TakeError`] when nothing was declared, it was taken, or the window does not fit.
pub fn take(window: Window) -> Result<&'static mut [u8], TakeError> {
    let (phys, len) = declared().ok_or(TakeError::None)?;
    if window.phys() != phys {
        return Err(TakeError::Window(WindowError::WrongAddress {
            phys: window.phys(),
            expected: phys,
        }));
    }
    if window.len() < len {
        return Err(TakeError::Window(WindowError::TooSmall {
            len: window.len(),
            needed: len,
        }));
    }
    if !window.is_writable() {
        return Err(TakeError::Window(WindowError::ReadOnly));
    }
    if !matches!(
        window.cache(),
        Cache::WriteCombining | Cache::Uncached | Cache::UncachedMinus
    ) {
        return Err(TakeError::Window(WindowError::Cached));
    }
    if classify(phys, len) != PhysKind::Other {
        return Err(TakeError::Window(WindowError::KernelMemory { phys }));
    }
    let len = usize::try_from(len).map_err(|_| TakeError::Window(WindowError::BadRange))?;
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(TakeError::Taken);
    }
    // SAFETY: the window maps the declared framebuffer (checked: address, length, writable,
    // not kernel memory) in the active tables; per `declare` only this slice accesses it, and
    // the flag makes it the only slice ever created. The window is consumed, so the mapping
    // is the slice's for good.
    Ok(unsafe { core::slice::from_raw_parts_mut(window.virt() as *mut u8, len) })
}
