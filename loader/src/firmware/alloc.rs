//! The loader's global allocator: UEFI pool memory while boot services run, then a bump arena.
//!
//! After `ExitBootServices` the firmware allocator is gone, yet the final steps (memory-map
//! conversion, page-table building) are written with `Vec`s. So an arena of LOADER_DATA pages
//! (reported to the kernel as bootloader-reclaimable) is set aside before exiting, and every
//! later allocation bumps through it. Nothing is freed after exit; the arena is sized for the
//! worst case and running out is reported as an allocation failure.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{NonNull, null_mut};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use uefi::boot::{self, AllocateType, MemoryType};

use loader::boot::Pages;

/// Pages the firmware allocated for the loader: the [`Pages`] the library works on.
#[derive(Debug)]
pub struct UefiPages {
    start: NonNull<u8>,
    len: usize,
}

impl UefiPages {
    /// Takes ownership of `len` bytes at `start`.
    ///
    /// # Safety
    ///
    /// `start` must be the identity-mapped start of whole pages the firmware allocated for the
    /// loader, covering at least `len` initialised bytes, that nothing else references and that
    /// are never freed.
    pub unsafe fn new(start: NonNull<u8>, len: usize) -> Self {
        Self { start, len }
    }
}

impl Pages for UefiPages {
    fn phys(&self) -> u64 {
        self.start.as_ptr() as u64
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: by `new`'s contract the `len` bytes are valid, initialised and referenced only
        // through this handle, so a shared borrow of it may read them.
        unsafe { core::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `bytes`; the exclusive borrow of the handle makes this the only access.
        unsafe { core::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }
}

/// Allocates `bytes` of zeroed memory of type `ty` aligned to `align` (a power of two, at
/// least 4 KiB).
pub fn pages(ty: MemoryType, bytes: usize, align: usize) -> uefi::Result<UefiPages> {
    let start = if align <= 4096 {
        zeroed_pages(ty, bytes.max(1).div_ceil(4096))?
    } else {
        let start = aligned_pages(ty, bytes.max(1), align)?;
        // SAFETY: `aligned_pages` returned whole pages covering `bytes`, owned by the loader.
        unsafe { core::ptr::write_bytes(start.as_ptr(), 0, bytes.max(1).next_multiple_of(4096)) };
        start
    };
    // SAFETY: fresh, zeroed, whole pages of at least `bytes` bytes that only this handle uses;
    // the loader frees no pages.
    Ok(unsafe { UefiPages::new(start, bytes) })
}

/// Global allocator of the loader (installed by the binary's root, `main.rs`).
#[derive(Debug)]
pub struct LoaderAllocator;

static EXITED: AtomicBool = AtomicBool::new(false);
static ARENA_START: AtomicUsize = AtomicUsize::new(0);
static ARENA_END: AtomicUsize = AtomicUsize::new(0);
static ARENA_NEXT: AtomicUsize = AtomicUsize::new(0);

/// Sets aside `bytes` (rounded up to pages) for allocations after boot services end.
pub fn reserve_post_exit_arena(bytes: usize) -> uefi::Result<()> {
    let pages = bytes.div_ceil(4096);
    let base = boot::allocate_pages(AllocateType::AnyPages, MemoryType::LOADER_DATA, pages)?;
    let start = base.as_ptr() as usize;
    ARENA_START.store(start, Ordering::SeqCst);
    ARENA_NEXT.store(start, Ordering::SeqCst);
    ARENA_END.store(start + pages * 4096, Ordering::SeqCst);
    Ok(())
}

/// Switches to the arena; call right before `ExitBootServices`.
pub fn boot_services_exited() {
    EXITED.store(true, Ordering::SeqCst);
}

/// Whether boot services are still available.
pub fn boot_services_active() -> bool {
    !EXITED.load(Ordering::SeqCst)
}

fn in_arena(ptr: *mut u8) -> bool {
    let p = ptr as usize;
    p >= ARENA_START.load(Ordering::Relaxed) && p < ARENA_END.load(Ordering::Relaxed)
}

// SAFETY: before exit every call forwards to the UEFI pool allocator (which honours the layout);
// after exit, blocks are carved from the reserved arena with the requested alignment, never
// overlap (the bump pointer only grows, updated with compare-exchange), and are never reused.
unsafe impl GlobalAlloc for LoaderAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if boot_services_active() {
            // SAFETY: forwarded contract of `GlobalAlloc::alloc`.
            return unsafe { uefi::allocator::Allocator.alloc(layout) };
        }
        let end = ARENA_END.load(Ordering::SeqCst);
        let mut next = ARENA_NEXT.load(Ordering::SeqCst);
        loop {
            let Some(start) = next.checked_next_multiple_of(layout.align()) else {
                return null_mut();
            };
            let Some(stop) = start.checked_add(layout.size()) else {
                return null_mut();
            };
            if stop > end {
                return null_mut();
            }
            match ARENA_NEXT.compare_exchange(next, stop, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return start as *mut u8,
                Err(seen) => next = seen,
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_arena(ptr) || !boot_services_active() {
            return;
        }
        // SAFETY: `ptr` came from the pool allocator (not the arena) while boot services ran.
        unsafe { uefi::allocator::Allocator.dealloc(ptr, layout) }
    }
}

/// Allocates `pages` zeroed pages of `ty` and returns their (identity-mapped) address.
fn zeroed_pages(ty: MemoryType, pages: usize) -> uefi::Result<NonNull<u8>> {
    let ptr = boot::allocate_pages(AllocateType::AnyPages, ty, pages)?;
    // SAFETY: the firmware just handed us `pages` whole pages at `ptr`, identity mapped.
    unsafe { core::ptr::write_bytes(ptr.as_ptr(), 0, pages * 4096) };
    Ok(ptr)
}

/// Allocates `bytes` (rounded up to pages) of `ty` aligned to `align` (a power of two ≥ 4096),
/// returning the aligned start. Over-allocates by `align` and frees the unused head and tail.
fn aligned_pages(ty: MemoryType, bytes: usize, align: usize) -> uefi::Result<NonNull<u8>> {
    let pages = bytes.div_ceil(4096);
    let extra = align / 4096 - 1;
    let base = boot::allocate_pages(AllocateType::AnyPages, ty, pages + extra)?;
    let start = base.as_ptr() as usize;
    let aligned = start.next_multiple_of(align);
    let head = (aligned - start) / 4096;
    let tail = extra - head;
    // SAFETY: both ranges lie inside the allocation just made and are not used by anything.
    unsafe {
        if head > 0 {
            boot::free_pages(base, head)?;
        }
        if tail > 0 {
            let tail_ptr = NonNull::new_unchecked((aligned + pages * 4096) as *mut u8);
            boot::free_pages(tail_ptr, tail)?;
        }
        Ok(NonNull::new_unchecked(aligned as *mut u8))
    }
}
