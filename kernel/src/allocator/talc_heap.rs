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
    start: *mut u8,
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
            start: core::ptr::null_mut(),
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
        self.start = start;
        self.size = size;
    }

    unsafe fn extend(&mut self, bytes: usize) {
        let end = self.end.expect("the talc heap has no region");
        let new_end = self.start.wrapping_add(self.size + bytes);
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

#[cfg(test)]
mod tests {
    use super::super::{Choice, Locked};
    use super::*;
    use core::alloc::GlobalAlloc;

    #[test]
    fn choices_round_trip_by_name() {
        for c in Choice::ALL {
            assert_eq!(Choice::from_name(c.name()), Some(c));
        }
        assert_eq!(Choice::from_name("slab"), None);
        assert_eq!(Choice::default(), Choice::Talc);
    }

    #[test]
    fn talc_heap_grows_by_extension_and_reports_failure() {
        // One arena; the heap starts on its first half and is extended to the whole.
        let mut arena = vec![0u64; 64 * 1024 / 8];
        let start = arena.as_mut_ptr().cast::<u8>();
        let heap = Locked::new(TalcHeap::empty());
        // SAFETY: the arena belongs to the heap alone from here on and outlives it.
        unsafe { heap.init(start, 32 * 1024) };
        let big = Layout::from_size_align(40 * 1024, 8).unwrap();
        // SAFETY: the layout is not zero-sized.
        assert!(unsafe { heap.alloc(big) }.is_null());
        let report = heap.last_failure().expect("a failure report");
        assert_eq!((report.allocator, report.layout), ("talc", big));
        // SAFETY: the arena's second half is the heap's too.
        unsafe { heap.extend(32 * 1024) };
        // SAFETY: as above.
        let p = unsafe { heap.alloc(big) };
        assert!(!p.is_null());
        let range = start as usize..start as usize + 64 * 1024;
        assert!(range.contains(&(p as usize)) && range.contains(&(p as usize + big.size() - 1)));
        let stats = heap.stats();
        assert_eq!(
            (stats.heap_size, stats.growths, stats.live),
            (64 * 1024, 1, 1)
        );
        // SAFETY: allocated above for `big`.
        unsafe { heap.dealloc(p, big) };
        assert_eq!(heap.stats().live, 0);
    }
}
