//! The fixed-size-block design: power-of-two size classes 8, 16, .., 2048 bytes, each with its
//! own list of free blocks; everything else goes to a fallback heap.
//!
//! ```text
//!   lists[0]  8 B ─> □ ─> □ ─> □ ─> null       a request of size s, alignment a:
//!   lists[1] 16 B ─> □ ─> null                   class = next_power_of_two(max(s, a, 8))
//!   ...                                          class > 2048: the fallback serves it
//!   lists[8] 2 KiB ─> null
//!
//!   a chunk (one fallback block):  │ block │ block │ ... │ block │ footer(next chunk, class) │
//! ```
//!
//! - Allocation pops the head of the class list; free pushes the block back. Both are a few
//!   instructions and never search.
//! - An empty list is refilled in one batch: one fallback block (a chunk) carved into 4 KiB
//!   worth of blocks (at least 4), all pushed at once. A footer at the chunk's end links the
//!   chunks, so they can be given back.
//! - Blocks stay in their class once carved. When the fallback cannot serve a request, every
//!   class with no live block gives its chunks back to it (the lists of that class hold
//!   exactly those chunks' blocks), and the request is tried again: after everything is freed
//!   the fallback has the whole region again. A class with live blocks keeps its chunks: the
//!   memory it holds free is shown in the class counts of the statistics.
//! - Frees of class blocks are not checked for double frees (that would need a search).

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use super::linked_list::LinkedListHeap;
use super::stats::{CLASS_COUNT, class_size};
use super::{Heap, HeapShape};

/// Largest class block.
pub const MAX_CLASS: usize = class_size(CLASS_COUNT - 1);

/// Bytes of blocks carved per refill (at least [`MIN_BATCH`] blocks).
const CHUNK_BYTES: usize = 4096;
/// Fewest blocks carved per refill.
const MIN_BATCH: usize = 4;

/// A free class block: just the link.
struct FreeBlock {
    next: *mut FreeBlock,
}

/// At the end of every chunk.
#[repr(C)]
struct Footer {
    next: *mut Footer,
    class: usize,
}

/// Class index serving `layout`, `None` for the fallback.
pub(crate) fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(class_size(0));
    (size <= MAX_CLASS).then(|| size.next_power_of_two().trailing_zeros() as usize - 3)
}

/// Blocks per chunk of class `class`.
fn batch(class: usize) -> usize {
    (CHUNK_BYTES / class_size(class)).max(MIN_BATCH)
}

/// The fallback layout of one chunk of class `class`: the blocks, then the footer.
pub(crate) fn chunk_layout(class: usize) -> Layout {
    let size = batch(class) * class_size(class) + size_of::<Footer>();
    let align = class_size(class).max(align_of::<Footer>());
    Layout::from_size_align(size, align).expect("chunk layouts are small")
}

/// A fixed-size-block heap over the fallback `F`; see the module documentation.
///
/// Invariant: every block on `lists[c]` is a free block of `class_size(c)` bytes, aligned to
/// it, inside a chunk of class `c` on the chunk list; `free[c]` counts them and `live[c]`
/// counts the blocks of class `c` handed out, so a chunk's blocks are all on the list when
/// `live[c] == 0`. Chunks are live blocks of the fallback.
#[derive(Debug)]
pub struct FixedBlockHeap<F = LinkedListHeap> {
    lists: [*mut FreeBlock; CLASS_COUNT],
    free: [usize; CLASS_COUNT],
    live: [usize; CLASS_COUNT],
    chunks: *mut Footer,
    fallback: F,
}

// SAFETY: the heap owns its chunks alone (they are live blocks of its own fallback, which owns
// the region); the pointers are only used through `&mut self`, so moving the heap to another
// CPU moves that ownership with it.
unsafe impl<F: Send> Send for FixedBlockHeap<F> {}

impl FixedBlockHeap<LinkedListHeap> {
    /// A heap without a region, over an empty linked-list fallback.
    pub const fn empty() -> Self {
        Self::new(LinkedListHeap::empty())
    }
}

impl Default for FixedBlockHeap<LinkedListHeap> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<F: Heap> FixedBlockHeap<F> {
    /// A heap over `fallback` (which receives the region on [`Heap::init`]).
    pub const fn new(fallback: F) -> Self {
        Self {
            lists: [ptr::null_mut(); CLASS_COUNT],
            free: [0; CLASS_COUNT],
            live: [0; CLASS_COUNT],
            chunks: ptr::null_mut(),
            fallback,
        }
    }

    /// The fallback heap.
    pub fn fallback(&self) -> &F {
        &self.fallback
    }

    /// Gives the chunks of every class without live blocks back to the fallback; returns how
    /// many chunks went back.
    pub fn trim(&mut self) -> usize {
        let idle: [bool; CLASS_COUNT] = core::array::from_fn(|c| self.live[c] == 0);
        let mut released = 0;
        let mut prev: *mut Footer = ptr::null_mut();
        let mut cur = self.chunks;
        while !cur.is_null() {
            // SAFETY: `cur` is on the chunk list: a footer inside a live chunk (invariant).
            let (next, class) = unsafe { ((*cur).next, (*cur).class) };
            if idle[class] {
                if prev.is_null() {
                    self.chunks = next;
                } else {
                    // SAFETY: `prev` is on the chunk list.
                    unsafe { (*prev).next = next };
                }
                let layout = chunk_layout(class);
                let start = cur
                    .cast::<u8>()
                    .wrapping_sub(layout.size() - size_of::<Footer>());
                let start = NonNull::new(start).expect("chunks are not at address 0");
                // SAFETY: `start` is the chunk the fallback gave for `layout`; with no live
                // block of its class, nothing in it is used (its free blocks leave the list
                // below, before anything reads them again).
                unsafe { self.fallback.deallocate(start, layout) };
                released += 1;
            } else {
                prev = cur;
            }
            cur = next;
        }
        for c in (0..CLASS_COUNT).filter(|&c| idle[c]) {
            self.lists[c] = ptr::null_mut();
            self.free[c] = 0;
        }
        released
    }

    /// A fallback block for `layout`, trimming the classes once if it does not fit at first.
    fn fallback_allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.fallback
            .allocate(layout)
            .or_else(|| (self.trim() > 0).then(|| self.fallback.allocate(layout))?)
    }

    /// Carves a new chunk into the (empty) list of `class`.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, class: usize) -> Option<()> {
        let layout = chunk_layout(class);
        let chunk = self.fallback_allocate(layout)?.as_ptr();
        let (size, n) = (class_size(class), batch(class));
        let mut head = self.lists[class];
        for i in (0..n).rev() {
            let block = chunk.wrapping_add(i * size).cast::<FreeBlock>();
            // SAFETY: the block lies inside the chunk (a fallback block of `layout`, now ours),
            // aligned to `size` (the chunk is, and `size` divides the offset), and is at least
            // 8 bytes long: room for the link.
            unsafe { block.write(FreeBlock { next: head }) };
            head = block;
        }
        let footer = chunk.wrapping_add(n * size).cast::<Footer>();
        // SAFETY: the footer's bytes are the last of the chunk, aligned to 8 (`n * size` is a
        // multiple of 8 and the chunk is aligned to at least that).
        unsafe {
            footer.write(Footer {
                next: self.chunks,
                class,
            });
        }
        self.chunks = footer;
        self.lists[class] = head;
        self.free[class] += n;
        Some(())
    }
}

impl<F: Heap> Heap for FixedBlockHeap<F> {
    const NAME: &'static str = "fixed-block";

    unsafe fn init(&mut self, start: *mut u8, size: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.fallback.init(start, size) }
    }

    unsafe fn extend(&mut self, bytes: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.fallback.extend(bytes) }
    }

    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let Some(class) = class_of(layout) else {
            return self.fallback_allocate(layout);
        };
        if self.lists[class].is_null() {
            self.refill(class)?;
        }
        let block = self.lists[class];
        // SAFETY: `block` heads the class list (non-null after the refill): a free block.
        self.lists[class] = unsafe { (*block).next };
        self.free[class] -= 1;
        self.live[class] += 1;
        NonNull::new(block.cast())
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: forwarded: a block the fallback served for `layout`.
            return unsafe { self.fallback.deallocate(ptr, layout) };
        };
        let block = ptr.as_ptr().cast::<FreeBlock>();
        // SAFETY: the caller returns a block of this class (same layout, same class): at least
        // 8 bytes, aligned to its size, no longer used.
        unsafe {
            block.write(FreeBlock {
                next: self.lists[class],
            });
        }
        self.lists[class] = block;
        self.free[class] += 1;
        self.live[class] -= 1;
    }

    unsafe fn resize_in_place(
        &mut self,
        ptr: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> bool {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return false;
        };
        match (class_of(layout), class_of(new_layout)) {
            (Some(old), Some(new)) => old == new,
            // SAFETY: forwarded: a block the fallback served for `layout`.
            (None, None) => unsafe { self.fallback.resize_in_place(ptr, layout, new_size) },
            _ => false,
        }
    }

    fn growth_needed(&self, layout: Layout) -> usize {
        match class_of(layout) {
            Some(class) => self.fallback.growth_needed(chunk_layout(class)),
            None => self.fallback.growth_needed(layout),
        }
    }

    fn shape(&self) -> HeapShape {
        let mut shape = self.fallback.shape();
        for c in 0..CLASS_COUNT {
            shape.free_bytes += self.free[c] * class_size(c);
            if self.free[c] > 0 {
                shape.largest_free = shape.largest_free.max(class_size(c));
            }
        }
        shape.class_free_blocks = Some(self.free);
        shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::tests::{Arena, layout};

    #[test]
    fn classes_by_size_and_alignment() {
        assert_eq!(class_of(layout(1, 1)), Some(0));
        assert_eq!(class_of(layout(8, 8)), Some(0));
        assert_eq!(class_of(layout(9, 1)), Some(1));
        assert_eq!(class_of(layout(8, 256)), Some(5));
        assert_eq!(class_of(layout(2048, 8)), Some(8));
        assert_eq!(class_of(layout(2049, 8)), None);
        assert_eq!(class_of(layout(8, 4096)), None);
        assert_eq!(chunk_layout(0).size(), 4096 + 16);
        assert_eq!(chunk_layout(8).size(), 4 * 2048 + 16);
    }

    #[test]
    fn refills_in_batches_reuses_blocks_and_gives_chunks_back() {
        let arena = Arena::new(64 * 1024);
        let mut heap = FixedBlockHeap::empty();
        // SAFETY: the arena is valid, unused and outlives the heap.
        unsafe { heap.init(arena.ptr(), 64 * 1024) };
        let a = heap.allocate(layout(24, 8)).expect("fits");
        let shape = heap.shape();
        assert_eq!(
            shape.class_free_blocks.expect("classes")[2],
            127,
            "one chunk of 128"
        );
        let b = heap.allocate(layout(32, 32)).expect("fits");
        assert_eq!(
            b.as_ptr().addr(),
            a.as_ptr().addr() + 32,
            "next block of the chunk"
        );
        // SAFETY: `b` is live with this layout.
        unsafe { heap.deallocate(b, layout(32, 32)) };
        let c = heap.allocate(layout(30, 2)).expect("fits");
        assert_eq!(c, b, "last freed, first reused");
        let big = heap.allocate(layout(5000, 8)).expect("from the fallback");
        // SAFETY: every block is live with its layout.
        unsafe {
            heap.deallocate(a, layout(24, 8));
            heap.deallocate(c, layout(30, 2));
            heap.deallocate(big, layout(5000, 8));
        }
        assert!(
            heap.fallback().shape().free_bytes < 64 * 1024,
            "the chunk is still held"
        );
        // A request for the whole region forces the idle class to give its chunk back.
        let all = heap
            .allocate(layout(64 * 1024, 16))
            .expect("whole region after trim");
        assert_eq!(all.as_ptr(), arena.ptr());
        assert_eq!(heap.shape().class_free_blocks, Some([0; CLASS_COUNT]));
    }

    #[test]
    fn a_class_with_live_blocks_keeps_its_chunk() {
        let arena = Arena::new(16 * 1024);
        let mut heap = FixedBlockHeap::empty();
        // SAFETY: the arena is valid, unused and outlives the heap.
        unsafe { heap.init(arena.ptr(), 16 * 1024) };
        let small = heap.allocate(layout(8, 8)).expect("fits");
        let mid = heap.allocate(layout(600, 8)).expect("fits");
        // SAFETY: `mid` is live with this layout.
        unsafe { heap.deallocate(mid, layout(600, 8)) };
        assert_eq!(heap.trim(), 1, "the idle 1 KiB class returns its chunk");
        assert!(
            heap.allocate(layout(12 * 1024, 16)).is_none(),
            "8-byte chunk stays"
        );
        // SAFETY: `small` is live with this layout.
        unsafe { heap.deallocate(small, layout(8, 8)) };
        assert!(heap.allocate(layout(16 * 1024, 16)).is_some());
    }
}
