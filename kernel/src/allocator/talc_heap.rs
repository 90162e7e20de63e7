//! `talc` (the design card's crate) behind the same [`Heap`] interface as the designs written
//! here, so [`super::Locked`] gives it the same lock, counters, grow hook and failure report.

use core::alloc::Layout;
use core::ptr::NonNull;

use talc::DefaultBinning;
use talc::base::Talc;
use talc::source::Manual;

use super::{Heap, HeapShape};

/// A talc heap over one growing region; memory comes only from [`Heap::init`] and
/// [`Heap::extend`] (talc's `Manual` source never asks for more by itself).
pub struct TalcHeap {
    talc: Talc<Manual, DefaultBinning>,
    /// talc's end of the claimed heap, which `extend` moves up.
    end: Option<NonNull<u8>>,
    start: usize,
    size: usize,
}

// SAFETY: the raw pointers inside point into the heap's own region, which belongs to this heap
// alone (the `init` contract); moving the heap to another CPU moves that ownership with it.
unsafe impl Send for TalcHeap {}

impl TalcHeap {
    /// A heap without a region.
    pub const fn empty() -> Self {
        Self {
            talc: Talc::new(Manual),
            end: None,
            start: 0,
            size: 0,
        }
    }
}

impl core::fmt::Debug for TalcHeap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TalcHeap")
            .field("start", &self.start)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Default for TalcHeap {
    fn default() -> Self {
        Self::empty()
    }
}

/// A request for `layout` with at least one byte.
fn nonzero(layout: Layout) -> Layout {
    if layout.size() == 0 {
        Layout::from_size_align(1, layout.align()).unwrap_or(layout)
    } else {
        layout
    }
}

impl Heap for TalcHeap {
    const NAME: &'static str = "talc";

    unsafe fn init(&mut self, start: *mut u8, size: usize) {
        assert!(self.end.is_none(), "the talc heap already has a region");
        // SAFETY: the caller hands over the region (Heap::init's contract); `Manual` allows
        // managing heaps by hand.
        self.end = unsafe { self.talc.claim(start, size) };
        self.start = start as usize;
        self.size = size;
    }

    unsafe fn extend(&mut self, bytes: usize) {
        let end = self.end.expect("the talc heap has no region");
        let new_end = (self.start + self.size + bytes) as *mut u8;
        // SAFETY: the bytes up to `new_end` now belong to the heap (Heap::extend's contract);
        // `end` is the end talc returned last.
        self.end = Some(unsafe { self.talc.extend(end, new_end) });
        self.size += bytes;
    }

    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.end?;
        // SAFETY: `nonzero` makes the size nonzero.
        unsafe { self.talc.try_allocate(nonzero(layout)) }
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller: `ptr` came from `allocate` for this layout.
        unsafe { self.talc.deallocate(ptr.as_ptr(), nonzero(layout)) }
    }

    unsafe fn resize_in_place(
        &mut self,
        ptr: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> bool {
        let layout = nonzero(layout);
        if new_size <= layout.size() {
            // SAFETY: forwarded from the caller; `new_size` is nonzero and not larger.
            unsafe { self.talc.shrink(ptr.as_ptr(), layout, new_size) };
            true
        } else {
            // SAFETY: forwarded from the caller; `new_size` is larger.
            unsafe { self.talc.try_grow_in_place(ptr.as_ptr(), layout, new_size) }
        }
    }

    fn growth_needed(&self, layout: Layout) -> usize {
        // Room for the block, its alignment padding and talc's tags.
        layout.size() + layout.align() + 256
    }

    fn shape(&self) -> HeapShape {
        // talc keeps no walkable totals without its `counters` feature: the region only.
        HeapShape {
            heap_size: self.size,
            ..HeapShape::default()
        }
    }
}
