//! In-kernel tests of the heap, run once per allocator (one boot each, `allocator=<name>`):
//! the seed's heap tests by name and size, then the additions.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::rc::Rc;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::*;
use crate::{kassert, kassert_eq, ktest};

/// The seed's iteration count for `many_boxes`.
const MANY: u64 = 102_400;

ktest! {
    fn simple_allocation() -> TestResult {
        let a = Box::new(41);
        let b = Box::new(13);
        kassert_eq!(*a, 41);
        kassert_eq!(*b, 13);
        Ok(())
    }
}

ktest! {
    fn large_vec() -> TestResult {
        let n = 1000;
        let mut vec = Vec::new();
        for i in 0..n {
            vec.push(i);
        }
        kassert_eq!(vec.iter().sum::<u64>(), (n - 1) * n / 2);
        Ok(())
    }
}

ktest! {
    fn many_boxes() -> TestResult {
        let before = stats().map_or(0, |s| s.allocations);
        for i in 0..MANY {
            let x = core::hint::black_box(Box::new(i));
            kassert_eq!(*x, i);
        }
        kassert!(stats().map_or(0, |s| s.allocations) - before >= MANY);
        // The same count with 256-byte boxes: 25 MiB in total, several times the initial heap,
        // without the heap growing, so the memory was reused.
        let growths = stats().map_or(0, |s| s.growths);
        for i in 0..MANY {
            let x = core::hint::black_box(Box::new([i as u8; 256]));
            kassert_eq!(x[255], i as u8);
        }
        kassert!(MANY * 256 > 3 * initial_size());
        kassert_eq!(stats().map_or(0, |s| s.growths), growths);
        Ok(())
    }
}

ktest! {
    fn many_boxes_long_lived() -> TestResult {
        let long_lived = Box::new(1);
        for i in 0..MANY {
            let x = core::hint::black_box(Box::new(i));
            kassert_eq!(*x, i);
        }
        kassert_eq!(*long_lived, 1);
        Ok(())
    }
}

ktest! {
    fn vec_grown_past_one_mib() -> TestResult {
        let mut v: Vec<u64> = Vec::new();
        let n = (2 << 20) / 8;
        for i in 0..n {
            v.push(i);
        }
        kassert!(v.capacity() * 8 > 1 << 20);
        kassert!(v.iter().enumerate().all(|(i, x)| *x == i as u64));
        Ok(())
    }
}

ktest! {
    fn long_lived_values_survive_churn() -> TestResult {
        let keep: Vec<Box<[u64; 4]>> = (0..256u64).map(|i| Box::new([i; 4])).collect();
        let text = String::from("long-lived");
        let rc = Rc::new(7u32);
        let arc = Arc::new(9u32);
        for round in 0..20_000u64 {
            let size = 8 + (round * 37) % 500;
            let v: Vec<u8> = Vec::with_capacity(size as usize);
            core::hint::black_box(&v);
            let mut q: VecDeque<u64> = VecDeque::new();
            q.push_back(round);
            kassert_eq!(q.pop_front(), Some(round));
        }
        kassert!(keep.iter().enumerate().all(|(i, b)| **b == [i as u64; 4]));
        kassert_eq!(text.as_str(), "long-lived");
        kassert_eq!((*rc, *arc), (7, 9));
        Ok(())
    }
}

ktest! {
    fn btreemap_churn() -> TestResult {
        let mut map = BTreeMap::new();
        for i in 0..20_000u64 {
            map.insert(i.wrapping_mul(2_654_435_761) % 5000, i);
            if i % 3 == 0 {
                map.remove(&(i % 5000));
            }
        }
        kassert!(!map.is_empty() && map.len() <= 5000);
        kassert!(map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b));
        Ok(())
    }
}

ktest! {
    fn page_aligned_allocations() -> TestResult {
        let layout = Layout::from_size_align(4096, 4096).map_err(|_| {
            crate::testing::Failure::new(file!(), line!(), format_args!("layout"))
        })?;
        let mut blocks = [core::ptr::null_mut::<u8>(); 16];
        for b in &mut blocks {
            // SAFETY: the layout's size is not zero.
            *b = unsafe { alloc::alloc::alloc(layout) };
        }
        let ok = blocks.iter().all(|b| !b.is_null() && (*b as usize).is_multiple_of(4096));
        for (i, b) in blocks.iter().enumerate() {
            if !b.is_null() {
                // SAFETY: a live 4 KiB block of ours.
                unsafe { b.write_bytes(i as u8, 4096) };
            }
        }
        let intact = blocks.iter().enumerate().all(|(i, b)| {
            // SAFETY: as above; the blocks do not overlap if the allocator is right.
            b.is_null() || unsafe { *b.add(4095) } == i as u8
        });
        for b in blocks {
            if !b.is_null() {
                // SAFETY: allocated above with `layout`, freed once.
                unsafe { alloc::alloc::dealloc(b, layout) };
            }
        }
        kassert!(ok, "a page-aligned block is null or misaligned");
        kassert!(intact, "page-aligned blocks overlap");
        Ok(())
    }
}

ktest! {
    fn heap_grows_beyond_its_initial_size() -> TestResult {
        let before = stats().unwrap_or_default();
        let (base, end, cap) = range();
        kassert!(cap - base > initial_size(), "cap {:#x} not above the initial size", cap - base);
        // A block larger than the whole initial heap fits only after growth.
        let big = initial_size() as usize + (1 << 20);
        let mut v: Vec<u8> = Vec::new();
        kassert!(v.try_reserve_exact(big).is_ok(), "growth failed: {:?}", stats());
        v.resize(big, 0x5a);
        kassert!(v.iter().all(|b| *b == 0x5a));
        let after = stats().unwrap_or_default();
        kassert!(after.growths > before.growths, "{before:?} -> {after:?}");
        kassert!(after.heap_size > before.heap_size);
        kassert!(range().1 > end);
        // Mapped RW+NX at the new end.
        let t = memory::lookup(range().1 - 8);
        kassert!(t.is_some_and(|t| t.flags.writable && t.flags.no_execute), "{t:?}");
        Ok(())
    }
}

ktest! {
    fn fallible_paths_return_errors() -> TestResult {
        let mut v: Vec<u8> = Vec::new();
        kassert!(v.try_reserve(1 << 40).is_err());
        let failures = stats().map_or(0, |s| s.failures);
        kassert!(failures >= 1);
        kassert!(try_last_failure().is_some_and(|r| r.layout.size() >= 1 << 40));
        Ok(())
    }
}

ktest! {
    #[should_panic = "memory allocation of"]
    #[expect = "allocator cannot allocate"]
    #[expect = "heap: heap "]
    #[expect = "allocations so far"]
    fn heap_exhaustion_is_reported() -> TestResult {
        // Cap the heap where it is, then ask for more than is left.
        let (base, end, _) = range();
        set_max(end - base);
        let v: Vec<u8> = Vec::with_capacity(core::hint::black_box((end - base) as usize * 2));
        core::hint::black_box(&v);
        Ok(())
    }
}

/// A vector no device uses (as in the trap tests, which run at other times).
const ALLOC_VECTOR: u8 = 0x81;

fn allocating_handler(_frame: &mut crate::arch::trap::TrapFrame) {
    core::hint::black_box(Box::new(5u64));
}

ktest! {
    #[should_panic = "allocation of 8 bytes in an interrupt handler"]
    fn allocating_in_an_interrupt_handler_is_caught() -> TestResult {
        crate::arch::trap::set_handler(ALLOC_VECTOR, allocating_handler);
        crate::arch::probe::software_interrupt::<ALLOC_VECTOR>();
        crate::arch::trap::clear_handler(ALLOC_VECTOR);
        Ok(())
    }
}
