//! Host tests of the allocator designs: a model-based property suite (`model`, `props`) and
//! the wrapper's growth hook and failure report (`wrapper`). Each design's own unit tests sit
//! next to it.
//!
//! Under Miri (`make miri`) the suite runs with few cases and short sequences; on the plain
//! host it runs more than a million operations (checked at compile time in `props`).

mod model;
mod props;
mod wrapper;

use core::alloc::Layout;

/// `Layout::from_size_align`, for sizes and alignments the tests know are valid.
pub(crate) fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).expect("valid layout")
}

/// A zeroed, page-aligned host buffer standing in for the kernel's heap region.
pub(crate) struct Arena {
    ptr: *mut u8,
    layout: Layout,
}

impl Arena {
    /// `size` bytes (at least one), aligned to 4096.
    pub(crate) fn new(size: usize) -> Self {
        let layout = Layout::from_size_align(size.max(1), 4096).expect("arena layout");
        // SAFETY: the layout has a nonzero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "host allocation of the arena failed");
        Self { ptr, layout }
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub(crate) fn size(&self) -> usize {
        self.layout.size()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}
