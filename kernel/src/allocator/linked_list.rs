//! The linked-list design: the free blocks form a list kept inside the free memory itself.
//!
//! ```text
//!   head ─> ┌size│next┐          ┌size│next┐                 ┌size│next┐
//!           │  free  │ │ in use │  free  │ in use │ in use  │  free  │ ─> null
//!           └────────┘          └────────┘                 └────────┘
//!   addresses ascending; no two free blocks touch (they would have been merged)
//! ```
//!
//! - Every block (free or handed out) starts on a 16-byte boundary and spans a multiple of
//!   16 bytes, so a free block always has room for its node (size and next pointer) and any
//!   remainder of a split is itself a valid block: no unusable slivers.
//! - Allocation is first fit in address order. The block's start is aligned up inside the free
//!   block; the padding in front stays a free block (the old node keeps it, shrunk), the rest
//!   behind the allocation becomes a new free block.
//! - A free inserts the block at its place in address order and merges it with the free blocks
//!   right before and after it, so freeing everything leaves one block spanning the region.
//!   A free that overlaps a free block (a double free) panics instead of corrupting the list.
//! - Reallocation stays in place when shrinking (the tail is freed) and when growing into a
//!   free block right behind.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use super::{Heap, HeapShape, align_down, align_up};

/// Block granule: alignment of every block start and multiple of every block size.
pub(crate) const UNIT: usize = 16;

/// A free block's header, at its start.
#[repr(C)]
struct Node {
    /// Bytes in the block, this header included.
    size: usize,
    /// The next free block (higher address), or null.
    next: *mut Node,
}

const _: () = assert!(size_of::<Node>() <= UNIT && align_of::<Node>() <= UNIT);

/// The block size that serves `layout`: its size rounded up to the granule, `None` on overflow.
pub(crate) fn block_size(layout: Layout) -> Option<usize> {
    align_up(layout.size().max(1), UNIT)
}

/// A linked-list heap; see the module documentation.
///
/// Invariant: every node on the list lies in `[base, base + size)`, starts on a `UNIT`
/// boundary, spans a nonzero multiple of `UNIT` bytes inside the region, is memory the heap
/// owns and no block handed out overlaps, and lies strictly below (and not touching) the next.
#[derive(Debug)]
pub struct LinkedListHeap {
    head: *mut Node,
    /// First usable byte (the region start aligned up to `UNIT`); carries the provenance every
    /// node and block is derived from. Null before `init`.
    base: *mut u8,
    /// Usable bytes from `base`: a multiple of `UNIT`.
    size: usize,
    /// Address one past the region as given (may lie up to `UNIT - 1` bytes past the usable
    /// end; an extension adds to it).
    raw_end: usize,
}

// SAFETY: the heap owns its region alone (init's contract); its pointers are only used through
// `&mut self`, so moving the heap to another CPU moves that ownership with it.
unsafe impl Send for LinkedListHeap {}

impl LinkedListHeap {
    /// A heap without a region: every request fails until [`Heap::init`].
    pub const fn empty() -> Self {
        Self {
            head: ptr::null_mut(),
            base: ptr::null_mut(),
            size: 0,
            raw_end: 0,
        }
    }

    /// The free list as `(address, size)` pairs, in order (for tests and the shell).
    pub fn free_blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut cur = self.head;
        core::iter::from_fn(move || {
            if cur.is_null() {
                return None;
            }
            // SAFETY: `cur` is on the free list (type invariant).
            let (size, next) = unsafe { ((*cur).size, (*cur).next) };
            let item = (cur.addr(), size);
            cur = next;
            Some(item)
        })
    }

    /// Checks the type invariant over the whole list; the first violation found.
    pub fn check(&self) -> Result<(), &'static str> {
        let (lo, hi) = (self.base.addr(), self.base.addr() + self.size);
        let mut prev_end = None;
        for (addr, size) in self.free_blocks() {
            if addr % UNIT != 0 || size % UNIT != 0 || size == 0 {
                return Err("free block not on the granule");
            }
            if addr < lo || addr + size > hi {
                return Err("free block outside the region");
            }
            match prev_end {
                Some(end) if addr < end => return Err("free list not sorted or overlapping"),
                Some(end) if addr == end => return Err("neighbouring free blocks not merged"),
                _ => {}
            }
            prev_end = Some(addr + size);
        }
        Ok(())
    }

    /// `prev.next = next`, or the head when `prev` is null.
    fn link(&mut self, prev: *mut Node, next: *mut Node) {
        if prev.is_null() {
            self.head = next;
        } else {
            // SAFETY: a non-null `prev` is on the free list (type invariant).
            unsafe { (*prev).next = next };
        }
    }

    /// The free blocks right before and after `addr`: (last below it, first at or above it).
    fn neighbours(&self, addr: usize) -> (*mut Node, *mut Node) {
        let mut prev = ptr::null_mut();
        let mut cur = self.head;
        while !cur.is_null() && cur.addr() < addr {
            prev = cur;
            // SAFETY: `cur` is on the free list (type invariant).
            cur = unsafe { (*cur).next };
        }
        (prev, cur)
    }

    /// Puts `[block, block + size)` on the list between `prev` and `next` (its neighbours in
    /// address order), merging it with either when they touch.
    ///
    /// # Safety
    /// The block is `UNIT`-aligned, `size` a nonzero multiple of `UNIT`, the memory the heap's
    /// and no longer handed out.
    unsafe fn insert_free(
        &mut self,
        prev: *mut Node,
        next: *mut Node,
        block: *mut u8,
        size: usize,
    ) {
        let addr = block.addr();
        let end = addr + size;
        // SAFETY: `prev` and `next`, when not null, are on the free list (type invariant).
        let (prev_end, next_addr, next_size, next_next) = unsafe {
            (
                (!prev.is_null()).then(|| prev.addr() + (*prev).size),
                (!next.is_null()).then(|| next.addr()),
                if next.is_null() { 0 } else { (*next).size },
                if next.is_null() {
                    ptr::null_mut()
                } else {
                    (*next).next
                },
            )
        };
        let inside = addr >= self.base.addr() && end <= self.base.addr() + self.size;
        if !inside || prev_end.is_some_and(|p| p > addr) || next_addr.is_some_and(|n| end > n) {
            panic!(
                "linked-list heap: free of {addr:#x}+{size:#x} overlaps free memory or lies outside the heap (double free?)"
            );
        }
        let (mut size, mut after) = (size, next);
        if next_addr == Some(end) {
            size += next_size;
            after = next_next;
        }
        if prev_end == Some(addr) {
            // SAFETY: `prev` is on the free list; it now also spans the block (and `next`).
            unsafe {
                (*prev).size += size;
                (*prev).next = after;
            }
        } else {
            let node = block.cast::<Node>();
            // SAFETY: the block is free memory of the heap, `UNIT`-aligned and at least `UNIT`
            // bytes long (caller), so a node fits at its start.
            unsafe { node.write(Node { size, next: after }) };
            self.link(prev, node);
        }
    }
}

impl Default for LinkedListHeap {
    fn default() -> Self {
        Self::empty()
    }
}

impl Heap for LinkedListHeap {
    const NAME: &'static str = "linked-list";

    unsafe fn init(&mut self, start: *mut u8, size: usize) {
        assert!(self.base.is_null(), "linked-list heap: init called twice");
        assert!(!start.is_null(), "linked-list heap: region at address 0");
        let raw_end = start.addr().saturating_add(size);
        let first = align_up(start.addr(), UNIT).unwrap_or(usize::MAX);
        self.base = start.wrapping_add(first - start.addr());
        self.raw_end = raw_end;
        self.size = 0;
        // SAFETY: forwarded from the caller: the whole region is the heap's.
        unsafe { self.extend(0) };
    }

    unsafe fn extend(&mut self, bytes: usize) {
        assert!(!self.base.is_null(), "linked-list heap: extend before init");
        self.raw_end = self.raw_end.saturating_add(bytes);
        let usable_end = align_down(self.raw_end, UNIT);
        let old_end = self.base.addr() + self.size;
        if usable_end <= old_end {
            return;
        }
        let added = usable_end - old_end;
        let block = self.base.wrapping_add(self.size);
        self.size += added;
        let (prev, next) = self.neighbours(old_end);
        // SAFETY: the new bytes are the heap's (caller); the block starts at the old usable end
        // (a `UNIT` boundary) and spans a multiple of `UNIT` up to the new one.
        unsafe { self.insert_free(prev, next, block, added) };
    }

    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let need = block_size(layout)?;
        let align = layout.align().max(UNIT);
        let mut prev: *mut Node = ptr::null_mut();
        let mut cur = self.head;
        while !cur.is_null() {
            // SAFETY: `cur` is on the free list (type invariant).
            let (size, next) = unsafe { ((*cur).size, (*cur).next) };
            let front = align_up(cur.addr(), align).map(|start| start - cur.addr());
            let fits = front.and_then(|f| Some((f, f.checked_add(need)?)));
            if let Some((front, used)) = fits
                && used <= size
            {
                let block = cur.cast::<u8>().wrapping_add(front);
                let back = size - used;
                let after = if back > 0 {
                    let tail = block.wrapping_add(need).cast::<Node>();
                    // SAFETY: the tail lies inside the free block `cur` (used < size), on a
                    // `UNIT` boundary (front, need and the block start all are) with at least
                    // `UNIT` bytes (back is a nonzero multiple of it).
                    unsafe { tail.write(Node { size: back, next }) };
                    tail
                } else {
                    next
                };
                if front > 0 {
                    // The padding in front stays free: `cur` keeps it.
                    // SAFETY: `cur` is on the free list.
                    unsafe {
                        (*cur).size = front;
                        (*cur).next = after;
                    }
                } else {
                    self.link(prev, after);
                }
                return NonNull::new(block);
            }
            prev = cur;
            cur = next;
        }
        None
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        let size = block_size(layout).expect("a live block's size does not overflow");
        let (prev, next) = self.neighbours(ptr.as_ptr().addr());
        // SAFETY: the caller returns a block of this heap: `UNIT`-aligned (every block start
        // is) and `size` bytes long, no longer used.
        unsafe { self.insert_free(prev, next, ptr.as_ptr(), size) };
    }

    unsafe fn resize_in_place(
        &mut self,
        ptr: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> bool {
        let (Some(old), Some(new)) = (block_size(layout), align_up(new_size.max(1), UNIT)) else {
            return false;
        };
        let block = ptr.as_ptr();
        let (prev, next) = self.neighbours(block.addr());
        if new <= old {
            if new < old {
                // SAFETY: the tail `[block + new, block + old)` is part of the caller's block,
                // on the granule, and no longer used once the block shrinks.
                unsafe { self.insert_free(prev, next, block.wrapping_add(new), old - new) };
            }
            return true;
        }
        let wanted = new - old;
        if next.is_null() || next.addr() != block.addr() + old {
            return false;
        }
        // SAFETY: `next` is on the free list (type invariant).
        let (next_size, next_next) = unsafe { ((*next).size, (*next).next) };
        if next_size < wanted {
            return false;
        }
        let after = if next_size > wanted {
            let tail = block.wrapping_add(new).cast::<Node>();
            // SAFETY: the tail lies inside the free block `next`, on the granule, with at least
            // `UNIT` bytes behind it.
            unsafe {
                tail.write(Node {
                    size: next_size - wanted,
                    next: next_next,
                });
            }
            tail
        } else {
            next_next
        };
        self.link(prev, after);
        true
    }

    fn growth_needed(&self, layout: Layout) -> usize {
        let need = block_size(layout).unwrap_or(usize::MAX);
        need.saturating_add(layout.align().max(UNIT) - UNIT)
    }

    fn shape(&self) -> HeapShape {
        let (mut free, mut blocks, mut largest) = (0, 0, 0);
        for (_, size) in self.free_blocks() {
            free += size;
            blocks += 1;
            largest = largest.max(size);
        }
        HeapShape {
            heap_size: self.size,
            free_bytes: free,
            free_blocks: blocks,
            largest_free: largest,
            class_free_blocks: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::tests::{Arena, layout};

    fn heap(arena: &Arena, size: usize) -> LinkedListHeap {
        let mut heap = LinkedListHeap::empty();
        // SAFETY: the arena is valid, unused and outlives the heap.
        unsafe { heap.init(arena.ptr(), size) };
        heap
    }

    fn offsets(heap: &LinkedListHeap, arena: &Arena) -> Vec<(usize, usize)> {
        let base = arena.ptr().addr();
        heap.free_blocks().map(|(a, s)| (a - base, s)).collect()
    }

    #[test]
    fn alignment_padding_stays_a_free_block_and_frees_merge() {
        let arena = Arena::new(8192);
        let mut heap = heap(&arena, 8192);
        let a = heap.allocate(layout(24, 8)).expect("fits");
        assert_eq!(a.as_ptr(), arena.ptr());
        let b = heap.allocate(layout(100, 1024)).expect("fits");
        assert_eq!(b.as_ptr().addr() - arena.ptr().addr(), 1024);
        // The 32..1024 padding is free, then the rest after b (1024 + 112).
        assert_eq!(offsets(&heap, &arena), [(32, 992), (1136, 8192 - 1136)]);
        let c = heap.allocate(layout(900, 16)).expect("fits in the padding");
        assert_eq!(c.as_ptr().addr() - arena.ptr().addr(), 32);
        heap.check().expect("list consistent");
        // SAFETY: each block is live with its layout and freed once.
        unsafe {
            heap.deallocate(b, layout(100, 1024));
            heap.deallocate(a, layout(24, 8));
            heap.deallocate(c, layout(900, 16));
        }
        assert_eq!(offsets(&heap, &arena), [(0, 8192)], "all merged again");
        heap.check().expect("list consistent");
    }

    #[test]
    fn realloc_in_place_grows_into_the_next_free_block_and_shrinks() {
        let arena = Arena::new(4096);
        let mut heap = heap(&arena, 4096);
        let a = heap.allocate(layout(64, 16)).expect("fits");
        let b = heap.allocate(layout(64, 16)).expect("fits");
        let c = heap.allocate(layout(64, 16)).expect("fits");
        // SAFETY: b is live; a cannot grow (b is in the way) until b is freed.
        unsafe {
            assert!(!heap.resize_in_place(a, layout(64, 16), 65));
            heap.deallocate(b, layout(64, 16));
            assert!(heap.resize_in_place(a, layout(64, 16), 100));
            assert!(
                heap.resize_in_place(a, layout(100, 16), 128),
                "takes b's block whole"
            );
            assert!(
                !heap.resize_in_place(a, layout(128, 16), 129),
                "c is in the way"
            );
            assert!(
                heap.resize_in_place(a, layout(128, 16), 10),
                "shrinking frees the tail"
            );
        }
        assert_eq!(offsets(&heap, &arena), [(16, 112), (192, 4096 - 192)]);
        // SAFETY: c is live; growing it to the region's end takes the free rest whole.
        unsafe { assert!(heap.resize_in_place(c, layout(64, 16), 4096 - 128)) };
        assert_eq!(offsets(&heap, &arena), [(16, 112)]);
        assert_eq!(c.as_ptr().addr() - arena.ptr().addr(), 128);
        heap.check().expect("list consistent");
    }

    #[test]
    fn unaligned_region_and_growth_in_odd_steps() {
        let arena = Arena::new(4096);
        let mut heap = LinkedListHeap::empty();
        // SAFETY: bytes 5..1005 of the arena are valid and unused.
        unsafe { heap.init(arena.ptr().wrapping_add(5), 1000) };
        // Usable: 16..1005 rounded down to 992.
        assert_eq!(heap.shape().heap_size, 992 - 16);
        assert_eq!(offsets(&heap, &arena), [(16, 976)]);
        let a = heap
            .allocate(layout(976, 16))
            .expect("the whole usable region");
        assert!(heap.allocate(layout(1, 1)).is_none());
        // SAFETY: the bytes after 1005 are in the arena and unused.
        unsafe { heap.extend(10) }; // raw end 1015: usable up to 1008
        assert_eq!(heap.shape().heap_size, 1008 - 16);
        // SAFETY: as above.
        unsafe { heap.extend(3000) };
        assert_eq!(heap.shape().heap_size, 4000 - 16);
        // SAFETY: a is live with its layout.
        unsafe { heap.deallocate(a, layout(976, 16)) };
        assert_eq!(
            offsets(&heap, &arena),
            [(16, 4000 - 16)],
            "merged with the growth"
        );
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_panics() {
        let arena = Arena::new(4096);
        let mut heap = heap(&arena, 4096);
        let a = heap.allocate(layout(64, 16)).expect("fits");
        let _b = heap.allocate(layout(64, 16)).expect("fits");
        // SAFETY: deliberately wrong: the second free must be refused.
        unsafe {
            heap.deallocate(a, layout(64, 16));
            heap.deallocate(a, layout(64, 16));
        }
    }
}
