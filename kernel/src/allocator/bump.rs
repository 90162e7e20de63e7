//! The bump design: one pointer moving up through the region.
//!
//! ```text
//!   start                         next                         end
//!   │ block │pad│ block │  block  │          free               │
//!   └───────── handed out ────────┘
//! ```
//!
//! An allocation aligns `next` up and moves it past the block; a free only counts down the live
//! allocations, and when the count reaches zero `next` goes back to `start` (the reset). Two
//! cheap refinements: freeing the block just below `next` moves `next` back to it, and so does
//! growing or shrinking that block in place (a growing `Vec` at the top does not move). Memory
//! freed below other live blocks is reused only after the reset.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use super::{Heap, HeapShape, align_up};

/// A bump heap; see the module documentation.
#[derive(Debug)]
pub struct BumpHeap {
    /// Region start; carries the provenance every block is derived from (null before `init`).
    start: *mut u8,
    /// Region size in bytes.
    size: usize,
    /// Offset of the first byte not handed out.
    next: usize,
    /// Live allocations.
    live: usize,
}

// SAFETY: the heap owns its region alone (init's contract); the pointer is only used through
// `&mut self`, so moving the heap to another CPU moves that ownership with it.
unsafe impl Send for BumpHeap {}

impl BumpHeap {
    /// A heap without a region: every request fails until [`Heap::init`].
    pub const fn empty() -> Self {
        Self {
            start: ptr::null_mut(),
            size: 0,
            next: 0,
            live: 0,
        }
    }

    /// Offset of `ptr` in the region.
    fn offset(&self, ptr: NonNull<u8>) -> usize {
        ptr.as_ptr().addr().wrapping_sub(self.start.addr())
    }
}

impl Default for BumpHeap {
    fn default() -> Self {
        Self::empty()
    }
}

impl Heap for BumpHeap {
    const NAME: &'static str = "bump";

    unsafe fn init(&mut self, start: *mut u8, size: usize) {
        assert!(self.start.is_null(), "bump heap: init called twice");
        assert!(!start.is_null(), "bump heap: region at address 0");
        self.start = start;
        self.size = size.min(usize::MAX - start.addr());
    }

    unsafe fn extend(&mut self, bytes: usize) {
        assert!(!self.start.is_null(), "bump heap: extend before init");
        self.size = self
            .size
            .saturating_add(bytes)
            .min(usize::MAX - self.start.addr());
    }

    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        if self.start.is_null() {
            return None;
        }
        let base = self.start.addr();
        let begin = align_up(base + self.next, layout.align())? - base;
        let end = begin.checked_add(layout.size().max(1))?;
        if end > self.size {
            return None;
        }
        self.next = end;
        self.live += 1;
        NonNull::new(self.start.wrapping_add(begin))
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        let begin = self.offset(ptr);
        debug_assert!(self.live > 0, "bump heap: free without a live allocation");
        self.live = self.live.saturating_sub(1);
        if self.live == 0 {
            self.next = 0;
        } else if begin + layout.size().max(1) == self.next {
            self.next = begin;
        }
    }

    unsafe fn resize_in_place(
        &mut self,
        ptr: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> bool {
        let begin = self.offset(ptr);
        if begin + layout.size().max(1) == self.next {
            // The top block: move `next` with its end, if the region has room.
            match begin.checked_add(new_size) {
                Some(end) if end <= self.size => {
                    self.next = end;
                    true
                }
                _ => false,
            }
        } else {
            // A block below others keeps its place when it shrinks (its tail is reused only
            // after the reset); it cannot grow into its neighbour.
            new_size <= layout.size()
        }
    }

    fn growth_needed(&self, layout: Layout) -> usize {
        layout.size().max(1).saturating_add(layout.align() - 1)
    }

    fn shape(&self) -> HeapShape {
        let free = self.size - self.next;
        HeapShape {
            heap_size: self.size,
            free_bytes: free,
            free_blocks: usize::from(free > 0),
            largest_free: free,
            class_free_blocks: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::tests::{Arena, layout};

    #[test]
    fn bumps_aligns_and_resets_when_all_freed() {
        let arena = Arena::new(4096);
        let mut heap = BumpHeap::empty();
        // SAFETY: the arena is valid, unused and outlives the heap.
        unsafe { heap.init(arena.ptr(), 4096) };
        let a = heap.allocate(layout(10, 1)).expect("fits");
        let b = heap.allocate(layout(8, 64)).expect("fits");
        assert_eq!(a.as_ptr(), arena.ptr());
        assert_eq!(b.as_ptr().addr() - arena.ptr().addr(), 64);
        assert_eq!(heap.shape().free_bytes, 4096 - 72);
        // SAFETY: `a` is live with this layout.
        unsafe { heap.deallocate(a, layout(10, 1)) };
        assert_eq!(
            heap.shape().free_bytes,
            4096 - 72,
            "a hole below b is not reused"
        );
        // SAFETY: `b` is live with this layout.
        unsafe { heap.deallocate(b, layout(8, 64)) };
        assert_eq!(heap.shape().free_bytes, 4096, "reset once nothing is live");
        assert!(heap.allocate(layout(4096, 1)).is_some());
        assert!(heap.allocate(layout(1, 1)).is_none(), "exhausted");
    }

    #[test]
    fn top_block_rolls_back_and_resizes_in_place() {
        let arena = Arena::new(4096);
        let mut heap = BumpHeap::empty();
        // SAFETY: as above.
        unsafe { heap.init(arena.ptr(), 1024) };
        let a = heap.allocate(layout(100, 8)).expect("fits");
        let b = heap.allocate(layout(100, 8)).expect("fits");
        // SAFETY: `b` is live and on top.
        assert!(unsafe { heap.resize_in_place(b, layout(100, 8), 900) });
        // SAFETY: `b` now has size 900; the region is 1024, so 1000 does not fit.
        assert!(!unsafe { heap.resize_in_place(b, layout(900, 8), 1000) });
        // SAFETY: `a` is live, below `b`: it may shrink but not grow.
        assert!(unsafe { heap.resize_in_place(a, layout(100, 8), 50) });
        // SAFETY: as above.
        assert!(!unsafe { heap.resize_in_place(a, layout(50, 8), 101) });
        // SAFETY: `b` is live with size 900 and on top.
        unsafe { heap.deallocate(b, layout(900, 8)) };
        assert_eq!(
            heap.shape().free_bytes,
            1024 - 104,
            "next back to b's start"
        );
        // SAFETY: the 3072 bytes after the region are in the arena and unused.
        unsafe { heap.extend(3072) };
        assert_eq!(heap.shape().heap_size, 4096);
        assert!(heap.allocate(layout(3000, 8)).is_some());
    }
}
