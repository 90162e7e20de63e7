//! The model every design is run against: it drives a [`Locked`] heap through `GlobalAlloc`
//! over an [`Arena`] and keeps its own record of the live blocks, checking after each step that
//!
//! - every block is aligned, inside the region, and overlaps no other live block;
//! - every block keeps the bytes written into it until it is freed (or, after a reallocation,
//!   the bytes that fit);
//! - a failure happens only when the design's own rule says the request cannot fit, and leaves
//!   every live block intact;
//! - the wrapper's counters agree with the record, and the design's own invariant holds;
//! - after everything is freed, one block spanning the whole region can be allocated.

use core::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;

use super::Arena;
use crate::allocator::fixed_block::{FixedBlockHeap, chunk_layout, class_of};
use crate::allocator::linked_list::{LinkedListHeap, UNIT, block_size};
use crate::allocator::{BumpHeap, Heap, Locked};

/// What the model needs to know of a design beyond [`Heap`].
pub(crate) trait Checked: Heap + Sized {
    fn fresh() -> Self;
    /// The design's structural invariant, given the live blocks' layouts.
    fn check(&self, live: &[Layout]) -> Result<(), String>;
    /// Whether a request must succeed now (a failure would be a bug).
    fn must_fit(&self, layout: Layout) -> bool;
}

impl Checked for BumpHeap {
    fn fresh() -> Self {
        BumpHeap::empty()
    }
    fn check(&self, live: &[Layout]) -> Result<(), String> {
        let shape = self.shape();
        let used: usize = live.iter().map(|l| l.size().max(1)).sum();
        if shape.free_bytes + used > shape.heap_size {
            return Err(format!("bump: {used} live bytes but {shape:?}"));
        }
        if live.is_empty() && shape.free_bytes != shape.heap_size {
            return Err("bump: not reset with nothing live".into());
        }
        Ok(())
    }
    fn must_fit(&self, layout: Layout) -> bool {
        self.shape().free_bytes >= layout.size().max(1) + layout.align() - 1
    }
}

impl Checked for LinkedListHeap {
    fn fresh() -> Self {
        LinkedListHeap::empty()
    }
    fn check(&self, live: &[Layout]) -> Result<(), String> {
        LinkedListHeap::check(self).map_err(String::from)?;
        // Exact accounting: free blocks and live blocks cover the region, nothing leaks.
        let shape = self.shape();
        let used: usize = live.iter().map(|&l| block_size(l).expect("size")).sum();
        if shape.free_bytes + used != shape.heap_size {
            return Err(format!(
                "linked list: free {} + live {used} != heap {}",
                shape.free_bytes, shape.heap_size
            ));
        }
        Ok(())
    }
    fn must_fit(&self, layout: Layout) -> bool {
        let Some(need) = block_size(layout) else {
            return false;
        };
        self.shape().largest_free >= need + (layout.align().max(UNIT) - UNIT)
    }
}

impl Checked for FixedBlockHeap<LinkedListHeap> {
    fn fresh() -> Self {
        FixedBlockHeap::empty()
    }
    fn check(&self, _live: &[Layout]) -> Result<(), String> {
        self.fallback().check().map_err(String::from)
    }
    fn must_fit(&self, layout: Layout) -> bool {
        match class_of(layout) {
            Some(class) => {
                self.shape().class_free_blocks.expect("classes")[class] > 0
                    || self.fallback().must_fit(chunk_layout(class))
            }
            None => self.fallback().must_fit(layout),
        }
    }
}

/// One step of a sequence.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Alloc { size: usize, align: usize },
    Free { pick: usize },
    Realloc { pick: usize, size: usize },
    Grow { bytes: usize },
}

#[derive(Debug, Clone, Copy)]
struct Block {
    ptr: *mut u8,
    layout: Layout,
    fill: u8,
}

/// The model: a design under test and the record of its live blocks.
pub(crate) struct Model<'a, H: Checked> {
    heap: Locked<H>,
    arena: &'a Arena,
    /// Bytes of the arena given to the heap so far.
    given: usize,
    live: Vec<Block>,
    /// Live blocks by address: start -> end.
    spans: BTreeMap<usize, usize>,
    in_use: usize,
    next_fill: u8,
    pub(crate) ops: u64,
    pub(crate) failures: u64,
}

impl<'a, H: Checked> Model<'a, H> {
    /// A fresh heap over the first `initial` bytes of `arena`.
    pub(crate) fn new(arena: &'a Arena, initial: usize) -> Self {
        let initial = initial.min(arena.size());
        let heap = Locked::new(H::fresh());
        // SAFETY: the arena's first `initial` bytes are valid, used by nothing else, and the
        // arena outlives the model (lifetime 'a).
        unsafe { heap.init(arena.ptr(), initial) };
        Self {
            heap,
            arena,
            given: initial,
            live: Vec::new(),
            spans: BTreeMap::new(),
            in_use: 0,
            next_fill: 1,
            ops: 0,
            failures: 0,
        }
    }

    pub(crate) fn apply(&mut self, op: Op) {
        self.ops += 1;
        match op {
            Op::Alloc { size, align } => self.alloc(size, align),
            Op::Free { pick } => {
                if !self.live.is_empty() {
                    let b = self.live.swap_remove(pick % self.live.len());
                    self.forget(b);
                    verify(b, b.layout.size());
                    // SAFETY: `b` is live in this allocator with this layout; freed once.
                    unsafe { self.heap.dealloc(b.ptr, b.layout) };
                    self.in_use -= b.layout.size();
                }
            }
            Op::Realloc { pick, size } => self.realloc(pick, size),
            Op::Grow { bytes } => {
                let bytes = bytes.min(self.arena.size() - self.given);
                let before = self.heap.stats().heap_size;
                // SAFETY: the `bytes` arena bytes after those given are valid and unused.
                unsafe { self.heap.extend(bytes) };
                self.given += bytes;
                let after = self.heap.stats().heap_size;
                assert!(
                    after >= before && after <= self.given,
                    "{before} -> {after}"
                );
            }
        }
        self.check_counters();
        if self.ops.is_multiple_of(64) {
            self.check_design();
        }
    }

    fn alloc(&mut self, size: usize, align: usize) {
        let layout = Layout::from_size_align(size, align).expect("op layout");
        let must_fit = self.heap.with_heap(|h| h.must_fit(layout));
        // SAFETY: the layout has a nonzero size (ops never ask for zero).
        let ptr = unsafe { self.heap.alloc(layout) };
        if ptr.is_null() {
            assert!(!must_fit, "{layout:?} failed although it fits");
            self.failed(layout);
            return;
        }
        let b = Block {
            ptr,
            layout,
            fill: self.fill(),
        };
        self.admit(b);
        fill(b, 0);
        self.live.push(b);
        self.in_use += size;
    }

    fn realloc(&mut self, pick: usize, size: usize) {
        if self.live.is_empty() {
            return;
        }
        let i = pick % self.live.len();
        let old = self.live[i];
        let new_layout = Layout::from_size_align(size, old.layout.align()).expect("op layout");
        let must_fit = self.heap.with_heap(|h| h.must_fit(new_layout));
        // SAFETY: `old` is live with this layout; the new size is nonzero and fits isize.
        let ptr = unsafe { self.heap.realloc(old.ptr, old.layout, size) };
        if ptr.is_null() {
            assert!(
                !must_fit,
                "realloc to {new_layout:?} failed although it fits"
            );
            verify(old, old.layout.size());
            self.failed(new_layout);
            return;
        }
        self.forget(old);
        let new = Block {
            ptr,
            layout: new_layout,
            fill: old.fill,
        };
        self.admit(new);
        let kept = old.layout.size().min(size);
        verify(new, kept);
        fill(new, kept);
        self.live[i] = new;
        self.in_use = self.in_use - old.layout.size() + size;
    }

    /// After a failure: the report names the request, and no live block was touched.
    fn failed(&mut self, layout: Layout) {
        self.failures += 1;
        let report = self.heap.last_failure().expect("a failure is recorded");
        assert_eq!(report.layout, layout);
        assert_eq!(report.stats.live, self.live.len());
        for &b in &self.live {
            verify(b, b.layout.size());
        }
    }

    fn fill(&mut self) -> u8 {
        self.next_fill = self.next_fill.wrapping_add(1).max(1);
        self.next_fill
    }

    /// Checks a new block's placement and records it.
    fn admit(&mut self, b: Block) {
        let (start, end) = (b.ptr.addr(), b.ptr.addr() + b.layout.size());
        let base = self.arena.ptr().addr();
        assert_eq!(
            start % b.layout.align(),
            0,
            "{:?} misaligned at {start:#x}",
            b.layout
        );
        assert!(
            start >= base && end <= base + self.given,
            "block outside the region"
        );
        if let Some((&s, &e)) = self.spans.range(..end).next_back() {
            assert!(
                e <= start,
                "{start:#x}..{end:#x} overlaps live {s:#x}..{e:#x}"
            );
        }
        self.spans.insert(start, end);
    }

    fn forget(&mut self, b: Block) {
        self.spans.remove(&b.ptr.addr()).expect("recorded block");
    }

    fn check_counters(&self) {
        let s = self.heap.stats();
        assert_eq!(s.live, self.live.len(), "live count");
        assert_eq!(s.in_use, self.in_use, "bytes in use");
        assert!(s.peak_in_use >= s.in_use);
        assert!(s.free_bytes <= s.heap_size && s.largest_free <= s.free_bytes);
    }

    fn check_design(&self) {
        let layouts: Vec<Layout> = self.live.iter().map(|b| b.layout).collect();
        if let Err(e) = self.heap.with_heap(|h| h.check(&layouts)) {
            panic!("invariant broken after {} ops: {e}", self.ops);
        }
    }

    /// Frees everything (checking contents), then allocates the whole region as one block.
    pub(crate) fn finish(mut self) {
        self.check_design();
        while !self.live.is_empty() {
            self.apply(Op::Free {
                pick: self.live.len() - 1,
            });
        }
        self.check_design();
        let size = self.heap.stats().heap_size;
        if size == 0 {
            return;
        }
        let whole = Layout::from_size_align(size, 1).expect("layout");
        // SAFETY: nonzero size.
        let ptr = unsafe { self.heap.alloc(whole) };
        assert!(
            !ptr.is_null(),
            "the whole region ({size} bytes) is not one free block again"
        );
        assert!(
            ptr.addr() - self.arena.ptr().addr() < 16,
            "whole block starts the region"
        );
        // SAFETY: just allocated with this layout.
        unsafe { self.heap.dealloc(ptr, whole) };
        let s = self.heap.stats();
        assert_eq!((s.live, s.in_use), (0, 0));
    }
}

/// Writes the block's fill byte from `from` to its end.
fn fill(b: Block, from: usize) {
    let len = b.layout.size();
    if from < len {
        // SAFETY: the block is live, owned by the model and `len` bytes long.
        unsafe { b.ptr.add(from).write_bytes(b.fill, len - from) };
    }
}

/// Checks that the first `len` bytes of the block still hold its fill byte: all of them for
/// small blocks, the first and last 64 and every 61st between for large ones. Under Miri,
/// which checks the accesses themselves and runs each read thousands of times slower, only
/// the first, middle and last byte.
fn verify(b: Block, len: usize) {
    let at = |i: usize| {
        // SAFETY: the block is live and at least `len` bytes long (`i < len`); nothing else
        // writes it.
        unsafe { b.ptr.add(i).read() }
    };
    let bad = if cfg!(miri) {
        [0, len / 2, len.saturating_sub(1)]
            .into_iter()
            .find(|&i| i < len && at(i) != b.fill)
    } else if len <= 256 {
        (0..len).find(|&i| at(i) != b.fill)
    } else {
        (0..64)
            .chain((64..len - 64).step_by(61))
            .chain(len - 64..len)
            .find(|&i| at(i) != b.fill)
    };
    if let Some(i) = bad {
        panic!(
            "block {:p} ({:?}) byte {i} is {:#x}, wrote {:#x}",
            b.ptr,
            b.layout,
            at(i),
            b.fill
        );
    }
}
