//! Heap allocator designs, written here because they are the lesson: [`bump`], [`linked_list`]
//! and [`fixed_block`]. Each manages a caller-given region, grows when more memory is appended
//! to it, and becomes a `GlobalAlloc` behind [`Locked`], so any of them can be the kernel's
//! global allocator.
//!
//! ```text
//!   Locked<H>  ── IrqMutex (interrupts off while held) ──> H: Heap
//!     │  GlobalAlloc: alloc / dealloc / realloc         ├─ BumpHeap
//!     │  counters (in use, peak, live, failures)        ├─ LinkedListHeap
//!     │  grow hook: map more pages, extend, retry       └─ FixedBlockHeap<F = LinkedListHeap>
//!     └  stats() / last_failure(): Stats, FailureReport        (classes 8..2048, rest to F)
//! ```
//!
//! The designs hold no hardware state and build on the host: their property tests (against a
//! model) and Miri runs live in `tests/`, their benchmarks in `kernel/benches/allocators.rs`.
//!
//! This module is raw memory management: free lists live inside the free memory itself, so it
//! is one of the allowances of docs/architecture.md, "Unsafe". Its `unsafe` is limited to what
//! that forces: reading and writing list nodes in free blocks, the `GlobalAlloc` impl and its
//! copy on reallocation, and the `Send` impls of heaps that hold raw pointers.
#![allow(unsafe_code)]

pub mod bump;
pub mod fixed_block;
pub mod linked_list;
pub mod stats;
pub mod talc_heap;

#[cfg(test)]
mod tests;

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::ptr::{self, NonNull};

use crate::sync::IrqMutex;

pub use bump::BumpHeap;
pub use fixed_block::FixedBlockHeap;
pub use linked_list::LinkedListHeap;
pub use stats::{CLASS_COUNT, FailureReport, HeapShape, Stats};
pub use talc_heap::TalcHeap;

/// `talc` as a global allocator, with the same lock and counters as the designs.
pub type TalcAllocator = Locked<TalcHeap>;

/// Which allocator the kernel runs on, chosen at boot with `allocator=` (talc by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// `talc` (the default).
    #[default]
    Talc,
    /// The bump design.
    Bump,
    /// The linked-list design.
    LinkedList,
    /// The fixed-size-block design.
    FixedBlock,
}

impl Choice {
    /// Every choice, in the order of the command-line documentation.
    pub const ALL: [Choice; 4] = [
        Choice::Talc,
        Choice::Bump,
        Choice::LinkedList,
        Choice::FixedBlock,
    ];

    /// The name used on the command line and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Choice::Talc => "talc",
            Choice::Bump => "bump",
            Choice::LinkedList => "linked-list",
            Choice::FixedBlock => "fixed-block",
        }
    }

    /// The choice named `name`, if any.
    pub fn from_name(name: &str) -> Option<Choice> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The bump design as a global allocator.
pub type BumpAllocator = Locked<BumpHeap>;
/// The linked-list design as a global allocator.
pub type LinkedListAllocator = Locked<LinkedListHeap>;
/// The fixed-size-block design (over the linked list) as a global allocator.
pub type FixedBlockAllocator = Locked<FixedBlockHeap<LinkedListHeap>>;

/// One heap design, without locking: the part [`Locked`] wraps.
///
/// A heap starts empty, receives one region through [`Heap::init`] and may be given more memory
/// right after that region's end through [`Heap::extend`]. It never touches memory outside the
/// region, and no memory inside it except free blocks (to keep its lists) and the blocks it
/// hands out (which it never reads).
pub trait Heap: Send {
    /// Short name used in reports, as on the kernel command line (`allocator=`).
    const NAME: &'static str;

    /// Hands the heap its region `[start, start + size)`.
    ///
    /// # Safety
    /// The region must be valid for reads and writes, used by nothing else, and stay so for as
    /// long as the heap or any block allocated from it is in use.
    ///
    /// # Panics
    /// If the heap already has a region.
    unsafe fn init(&mut self, start: *mut u8, size: usize);

    /// Appends the `bytes` bytes right after the current end of the region.
    ///
    /// # Safety
    /// Those bytes must meet the requirements of [`Heap::init`].
    ///
    /// # Panics
    /// If the heap has no region yet.
    unsafe fn extend(&mut self, bytes: usize);

    /// A block for `layout`, or `None` when none fits. A zero size is served as one byte.
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>>;

    /// Returns a block.
    ///
    /// # Safety
    /// `ptr` was returned by [`Heap::allocate`] of this heap for `layout` (or resized to it by
    /// [`Heap::resize_in_place`]), has not been returned since, and is not used afterwards.
    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout);

    /// Tries to change the size of the block at `ptr` to `new_size` without moving it; on
    /// `true` the block's layout is `new_size` with the same alignment, on `false` nothing
    /// changed.
    ///
    /// # Safety
    /// As for [`Heap::deallocate`]; `new_size` is not zero.
    unsafe fn resize_in_place(
        &mut self,
        ptr: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> bool {
        let _ = (ptr, layout, new_size);
        false
    }

    /// How many bytes appended to the region make a request for `layout` succeed for sure.
    fn growth_needed(&self, layout: Layout) -> usize;

    /// The size of the region and the shape of its free space (walks the free lists).
    fn shape(&self) -> HeapShape;
}

/// Called when a request does not fit: make at least `min_bytes` more bytes valid right after
/// the heap's current end (the kernel maps pages there) and return how many it made valid,
/// `0` when the heap may not grow any more.
pub type GrowFn = fn(min_bytes: usize) -> usize;

/// The counters [`Locked`] keeps for any design.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    in_use: usize,
    peak: usize,
    live: usize,
    allocations: u64,
    failures: u64,
    growths: u64,
}

impl Counters {
    fn allocated(&mut self, size: usize) {
        self.in_use += size;
        self.peak = self.peak.max(self.in_use);
        self.live += 1;
        self.allocations += 1;
    }

    fn freed(&mut self, size: usize) {
        self.in_use = self.in_use.saturating_sub(size);
        self.live = self.live.saturating_sub(1);
    }

    fn resized(&mut self, old: usize, new: usize) {
        self.in_use = self.in_use.saturating_sub(old) + new;
        self.peak = self.peak.max(self.in_use);
    }
}

struct State<H> {
    heap: H,
    counters: Counters,
    grow: Option<GrowFn>,
    last_failure: Option<FailureReport>,
}

impl<H: Heap> State<H> {
    fn stats(&self) -> Stats {
        Stats::new(
            self.heap.shape(),
            self.counters.in_use,
            self.counters.peak,
            self.counters.live,
            self.counters.allocations,
            self.counters.failures,
            self.counters.growths,
        )
    }

    /// `allocate`, counted; the rare paths (growth, failure) are kept out of line so the
    /// common one stays small enough to inline.
    #[inline]
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        match self.heap.allocate(layout) {
            Some(block) => {
                self.counters.allocated(layout.size());
                Some(block)
            }
            None => self.grow_and_allocate(layout),
        }
    }

    /// After a request did not fit: grows the region through the hook while it keeps giving
    /// memory and the request still does not fit; records the failure when it never does.
    #[cold]
    #[inline(never)]
    fn grow_and_allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        while let Some(grow) = self.grow {
            let bytes = grow(self.heap.growth_needed(layout));
            if bytes == 0 {
                break;
            }
            // SAFETY: the hook's contract (set_grow_hook): the `bytes` bytes after the region's
            // end are now valid and belong to this heap alone.
            unsafe { self.heap.extend(bytes) };
            self.counters.growths += 1;
            if let Some(block) = self.heap.allocate(layout) {
                self.counters.allocated(layout.size());
                return Some(block);
            }
        }
        self.counters.failures += 1;
        self.last_failure = Some(FailureReport::new(H::NAME, layout, self.stats()));
        None
    }
}

/// A [`Heap`] behind an interrupt-disabling lock: a `GlobalAlloc` that can be the kernel's
/// `#[global_allocator]`, with the counters behind [`Stats`] and an optional grow hook.
pub struct Locked<H> {
    state: IrqMutex<State<H>>,
}

impl<H: Heap> Locked<H> {
    /// Wraps `heap` (normally an empty one, given its region later by [`Locked::init`]).
    pub const fn new(heap: H) -> Self {
        Self {
            state: IrqMutex::new(State {
                heap,
                counters: Counters {
                    in_use: 0,
                    peak: 0,
                    live: 0,
                    allocations: 0,
                    failures: 0,
                    growths: 0,
                },
                grow: None,
                last_failure: None,
            }),
        }
    }

    /// Hands the heap its region `[start, start + size)`.
    ///
    /// # Safety
    /// As for [`Heap::init`].
    ///
    /// # Panics
    /// If the heap already has a region.
    pub unsafe fn init(&self, start: *mut u8, size: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.state.lock().heap.init(start, size) }
    }

    /// Appends `bytes` bytes right after the region's end; counts as one growth.
    ///
    /// # Safety
    /// As for [`Heap::extend`].
    ///
    /// # Panics
    /// If the heap has no region yet.
    pub unsafe fn extend(&self, bytes: usize) {
        let mut state = self.state.lock();
        // SAFETY: forwarded from the caller.
        unsafe { state.heap.extend(bytes) };
        state.counters.growths += 1;
    }

    /// Installs the hook that grows the heap on demand: a request that does not fit calls
    /// `grow`, appends what it returns and tries again, until it fits or `grow` returns `0`.
    /// The hook runs with the heap's lock held (interrupts off) and must not allocate.
    ///
    /// # Safety
    /// Whenever `grow` returns `n > 0`, the `n` bytes right after the heap's current end must
    /// meet the requirements of [`Heap::init`].
    pub unsafe fn set_grow_hook(&self, grow: GrowFn) {
        self.state.lock().grow = Some(grow);
    }

    /// The allocator's figures now.
    pub fn stats(&self) -> Stats {
        self.state.lock().stats()
    }

    /// The report of the latest request that failed (layout and figures at that moment).
    pub fn last_failure(&self) -> Option<FailureReport> {
        self.state.lock().last_failure
    }

    /// [`Locked::last_failure`] without waiting: `None` also when the lock is held, as on a
    /// panic raised inside the allocator. For the panic path.
    pub fn try_last_failure(&self) -> Option<FailureReport> {
        self.state.try_lock()?.last_failure
    }

    /// A report for `layout` with the figures now (for a failure seen elsewhere).
    pub fn failure_report(&self, layout: Layout) -> FailureReport {
        FailureReport::new(H::NAME, layout, self.stats())
    }

    /// Runs `f` on the heap itself, with the lock held.
    pub fn with_heap<R>(&self, f: impl FnOnce(&mut H) -> R) -> R {
        f(&mut self.state.lock().heap)
    }
}

impl<H: Heap> fmt::Debug for Locked<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locked")
            .field("heap", &H::NAME)
            .finish_non_exhaustive()
    }
}

// SAFETY: every block comes from the heap behind the lock, which hands out blocks of at least
// the requested size and alignment that do not overlap any other live block (each design's
// invariant, checked by the property tests); `dealloc` and `realloc` pass the caller's
// guarantees on; the lock serialises all access to the heap.
unsafe impl<H: Heap> GlobalAlloc for Locked<H> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.state
            .lock()
            .allocate(layout)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(block) = NonNull::new(ptr) else {
            return;
        };
        let mut state = self.state.lock();
        // SAFETY: GlobalAlloc's contract: `ptr` is a live block of this allocator for `layout`.
        unsafe { state.heap.deallocate(block, layout) };
        state.counters.freed(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(block) = NonNull::new(ptr) else {
            return ptr::null_mut();
        };
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        let mut state = self.state.lock();
        // SAFETY: GlobalAlloc's contract: `ptr` is a live block for `layout`, `new_size` > 0.
        if unsafe { state.heap.resize_in_place(block, layout, new_size) } {
            state.counters.resized(layout.size(), new_size);
            return ptr;
        }
        let Some(new_block) = state.allocate(new_layout) else {
            return ptr::null_mut();
        };
        // SAFETY: both blocks are live and distinct (the old one is not freed yet), so they do
        // not overlap; each is valid for the smaller of the two sizes.
        unsafe {
            ptr::copy_nonoverlapping(ptr, new_block.as_ptr(), layout.size().min(new_size));
        }
        // SAFETY: as in `dealloc`; the contents were copied out first.
        unsafe { state.heap.deallocate(block, layout) };
        state.counters.freed(layout.size());
        new_block.as_ptr()
    }
}

/// `addr` rounded up to `align` (a power of two), `None` on overflow.
fn align_up(addr: usize, align: usize) -> Option<usize> {
    Some(addr.checked_add(align - 1)? & !(align - 1))
}

/// `addr` rounded down to `align` (a power of two).
fn align_down(addr: usize, align: usize) -> usize {
    addr & !(align - 1)
}
