//! The `Locked` wrapper: growth on demand through the hook, the counters, and the failure
//! report's text.

use core::alloc::GlobalAlloc;
use std::cell::Cell;

use super::model::Checked;
use super::{Arena, layout};
use crate::allocator::{BumpHeap, FixedBlockHeap, Heap, LinkedListHeap, Locked};

thread_local! {
    /// Bytes the grow hook may still hand out on this thread (each test runs on its own).
    static BUDGET: Cell<usize> = const { Cell::new(0) };
    /// Sizes the hook was asked for.
    static ASKED: Cell<usize> = const { Cell::new(0) };
}

/// Grows in 4 KiB pages, like the kernel's heap, while the budget lasts.
fn grow(min_bytes: usize) -> usize {
    ASKED.set(ASKED.get() + 1);
    let bytes = min_bytes.div_ceil(4096) * 4096;
    if bytes > BUDGET.get() {
        return 0;
    }
    BUDGET.set(BUDGET.get() - bytes);
    bytes
}

fn grows_on_demand<H: Checked>() {
    let arena = Arena::new(1 << 20);
    let heap = Locked::new(H::fresh());
    BUDGET.set(arena.size() - 4096);
    ASKED.set(0);
    // SAFETY: the first page of the arena is valid and unused; the hook hands out the rest
    // of it in order, page by page, never past its end (the budget).
    unsafe {
        heap.init(arena.ptr(), 4096);
        heap.set_grow_hook(grow);
    }
    let mut blocks = Vec::new();
    for i in 0..200 {
        let l = layout(1 + (i * 997) % 3000, 1 << (i % 8));
        // SAFETY: nonzero size.
        let p = unsafe { heap.alloc(l) };
        assert!(!p.is_null(), "{} request {i} ({l:?}) failed", H::NAME);
        blocks.push((p, l));
    }
    let big = layout(300 * 1024, 4096);
    // SAFETY: nonzero size.
    let p = unsafe { heap.alloc(big) };
    assert!(!p.is_null(), "{}: 300 KiB by growth", H::NAME);
    blocks.push((p, big));
    let s = heap.stats();
    assert!(s.growths > 0 && s.growths as usize == ASKED.get(), "{s:?}");
    assert!(s.heap_size > 300 * 1024 && s.heap_size <= arena.size());
    // Beyond the budget: the hook says no, the request fails and is reported.
    let huge = layout(2 << 20, 8);
    // SAFETY: nonzero size.
    assert!(unsafe { heap.alloc(huge) }.is_null());
    assert_eq!(heap.last_failure().expect("recorded").layout, huge);
    let held = heap.with_heap(|_| heap.try_last_failure());
    assert!(held.is_none(), "does not wait for a held lock");
    assert_eq!(heap.try_last_failure().map(|r| r.layout), Some(huge));
    for (p, l) in blocks {
        // SAFETY: live with this layout, freed once.
        unsafe { heap.dealloc(p, l) };
    }
    let s = heap.stats();
    assert_eq!((s.live, s.in_use, s.failures), (0, 0, 1));
}

#[test]
fn bump_grows_on_demand() {
    grows_on_demand::<BumpHeap>();
}

#[test]
fn linked_list_grows_on_demand() {
    grows_on_demand::<LinkedListHeap>();
}

#[test]
fn fixed_block_grows_on_demand() {
    grows_on_demand::<FixedBlockHeap<LinkedListHeap>>();
}

#[test]
fn counters_follow_alloc_realloc_and_free() {
    let arena = Arena::new(64 * 1024);
    let heap = Locked::new(LinkedListHeap::empty());
    // SAFETY: the arena is valid, unused and outlives the heap.
    unsafe { heap.init(arena.ptr(), arena.size()) };
    // SAFETY: nonzero sizes; each block is used with its own layout and freed once.
    unsafe {
        let a = heap.alloc(layout(1000, 8));
        let b = heap.alloc(layout(24, 8));
        a.write_bytes(0xab, 1000);
        let a2 = heap.realloc(a, layout(1000, 8), 5000);
        assert_ne!(a2, a, "b is in the way: moved");
        assert_eq!(*a2.add(999), 0xab, "contents copied");
        let s = heap.stats();
        assert_eq!(
            (s.in_use, s.live, s.peak_in_use, s.allocations),
            (5024, 2, 6024, 3)
        );
        let a3 = heap.realloc(a2, layout(5000, 8), 100);
        assert_eq!(a3, a2, "shrinks in place");
        heap.dealloc(a3, layout(100, 8));
        heap.dealloc(b, layout(24, 8));
    }
    let s = heap.stats();
    assert_eq!((s.in_use, s.live, s.peak_in_use), (0, 0, 6024));
    assert_eq!((s.free_blocks, s.largest_free), (1, arena.size()));
    assert_eq!(s.fragmentation_percent(), 0);
}

#[test]
fn failure_report_names_the_request_and_the_figures() {
    let arena = Arena::new(16 * 1024);
    let heap = Locked::new(FixedBlockHeap::empty());
    // SAFETY: the arena is valid, unused and outlives the heap.
    unsafe { heap.init(arena.ptr(), arena.size()) };
    // SAFETY: nonzero sizes; the blocks are leaked with the arena at the end of the test.
    unsafe {
        assert!(!heap.alloc(layout(40, 8)).is_null());
        assert!(!heap.alloc(layout(9000, 16)).is_null());
        assert!(heap.alloc(layout(8192, 4096)).is_null());
    }
    let report = heap.last_failure().expect("recorded");
    let text = report.to_string();
    let expected = "\
heap: fixed-block allocator cannot allocate 8192 bytes aligned to 4096
heap: heap 16384 bytes (grown 0 times), in use 9040 bytes in 2 allocations (peak 9040)
heap: free 7296 bytes, free-list length 1, largest free block 3264 bytes, fragmentation 55%
heap: 2 allocations so far, 1 failed
heap: free blocks per class: 8:0 16:0 32:0 64:63 128:0 256:0 512:0 1024:0 2048:0";
    assert_eq!(text, expected);
    assert_eq!(report.stats.class_free_blocks.expect("classes")[3], 63);
}

#[test]
fn report_of_a_design_without_classes_has_no_class_line() {
    let arena = Arena::new(4096);
    let heap = Locked::new(BumpHeap::empty());
    // SAFETY: the arena is valid, unused and outlives the heap.
    unsafe { heap.init(arena.ptr(), 4096) };
    let report = heap.failure_report(layout(5000, 1));
    let text = report.to_string();
    assert!(text.starts_with("heap: bump allocator cannot allocate 5000 bytes aligned to 1\n"));
    assert!(text.contains("free 4096 bytes, free-list length 1, largest free block 4096 bytes"));
    assert!(!text.contains("class"), "{text}");
    assert_eq!(text.lines().count(), 4);
    let _ = heap.with_heap(|h| h.shape());
}

/// The wrappers can be `static`s (const constructors, `Sync`), as `#[global_allocator]` needs.
static STATIC_BUMP: crate::allocator::BumpAllocator = Locked::new(BumpHeap::empty());
static STATIC_LINKED_LIST: crate::allocator::LinkedListAllocator =
    Locked::new(LinkedListHeap::empty());
static STATIC_FIXED_BLOCK: crate::allocator::FixedBlockAllocator =
    Locked::new(FixedBlockHeap::empty());

#[test]
fn statics_start_empty_and_refuse_requests() {
    for a in [
        &STATIC_BUMP as &dyn GlobalAlloc,
        &STATIC_LINKED_LIST,
        &STATIC_FIXED_BLOCK,
    ] {
        // SAFETY: nonzero size; nothing is allocated.
        assert!(unsafe { a.alloc(layout(8, 8)) }.is_null(), "no region yet");
    }
    assert_eq!(STATIC_FIXED_BLOCK.stats().heap_size, 0);
    assert_eq!(STATIC_LINKED_LIST.stats().failures, 1);
}
