//! The kernel heap: a virtual range in the upper half of the mapping API's area, backed by
//! buddy frames mapped read-write and no-execute, grown on demand by mapping more pages right
//! after its end (never by copying), under the global allocator chosen at boot.
//!
//! Command line (see [`crate::cmdline`]): `heap=<size>` is the initial size (default 8 MiB),
//! `heap_max=<size>` the cap growth stops at (default a quarter of RAM, at most 256 MiB),
//! `allocator=talc|bump|linked-list|fixed-block` the allocator (default talc). A bad value is
//! a warning and the default.
//!
//! Every allocator sits behind [`allocator::Locked`], whose lock disables interrupts while it
//! is held, so an interrupt can never find the heap locked by the code it interrupted. Still,
//! **interrupt handlers must not allocate**: growth maps pages under the memory module's lock,
//! and a handler's latency must not depend on the heap. Handlers hand work over through
//! fixed-size queues (`sync::DropQueue`) instead. Debug and test kernels check this: an
//! allocation while a handler runs panics. Before [`init`] every allocation fails.
//!
//! A failed allocation leaves a [`FailureReport`] (layout and figures) that the panic handler
//! prints before the "memory allocation of N bytes failed" panic (see `panic.rs`).

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use log::{info, warn};

use crate::allocator::{
    BumpAllocator, BumpHeap, Choice, FailureReport, FixedBlockAllocator, FixedBlockHeap,
    LinkedListAllocator, LinkedListHeap, Stats, TalcAllocator, TalcHeap,
};
use crate::boot::BootInfo;
use crate::memory::{self, MapFlags};

/// Initial heap size without `heap=`.
pub const DEFAULT_INITIAL: u64 = 8 << 20;
/// Largest default cap (`heap_max=` absent): the cap is a quarter of RAM, at most this.
pub const DEFAULT_MAX: u64 = 256 << 20;
/// Growth steps are at least this large, so churn near the end does not map page by page.
const GROW_STEP: u64 = 1 << 20;
const PAGE: u64 = 4096;
const HUGE: u64 = 2 << 20;

static TALC: TalcAllocator = TalcAllocator::new(TalcHeap::empty());
static BUMP: BumpAllocator = BumpAllocator::new(BumpHeap::empty());
static LINKED_LIST: LinkedListAllocator = LinkedListAllocator::new(LinkedListHeap::empty());
static FIXED_BLOCK: FixedBlockAllocator = FixedBlockAllocator::new(FixedBlockHeap::empty());

/// 0 before `init`, else 1 + the index of the choice in [`Choice::ALL`]. Set once.
static CHOSEN: AtomicU8 = AtomicU8::new(0);
/// Start of the heap's virtual range.
static BASE: AtomicU64 = AtomicU64::new(0);
/// End of what is mapped (the heap's end).
static END: AtomicU64 = AtomicU64::new(0);
/// The cap: the heap never grows past `BASE + MAX`.
static MAX: AtomicU64 = AtomicU64::new(0);
/// The initial size.
static INITIAL: AtomicU64 = AtomicU64::new(0);

/// The chosen allocator, once [`init`] ran.
pub fn chosen() -> Option<Choice> {
    match CHOSEN.load(Ordering::Acquire) {
        0 => None,
        n => Choice::ALL.get(usize::from(n) - 1).copied(),
    }
}

/// Runs `$body` with `$a` bound to the chosen allocator; `$none` before `init`.
macro_rules! dispatch {
    ($a:ident => $body:expr, $none:expr) => {
        match chosen() {
            Some(Choice::Talc) => {
                let $a = &TALC;
                $body
            }
            Some(Choice::Bump) => {
                let $a = &BUMP;
                $body
            }
            Some(Choice::LinkedList) => {
                let $a = &LINKED_LIST;
                $body
            }
            Some(Choice::FixedBlock) => {
                let $a = &FIXED_BLOCK;
                $body
            }
            None => $none,
        }
    };
}

/// The kernel's global allocator: forwards to the allocator chosen at boot.
struct KernelAllocator;

#[global_allocator]
static GLOBAL: KernelAllocator = KernelAllocator;

// SAFETY: every call goes to one and the same allocator for the whole run (`CHOSEN` is set once,
// before the first allocation can succeed), so a block is always freed or resized by the
// allocator that handed it out; each of them is a sound `GlobalAlloc` (allocator module).
// Before `init` nothing is handed out, so there is nothing to free.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // The cheap check of the rule above: interrupt handlers must not allocate.
        #[cfg(any(debug_assertions, feature = "ktest"))]
        assert!(
            !crate::arch::trap::in_interrupt(),
            "heap: allocation of {} bytes in an interrupt handler",
            layout.size()
        );
        // SAFETY: forwarded from the caller.
        dispatch!(a => unsafe { a.alloc(layout) }, core::ptr::null_mut())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller; `ptr` came from the same allocator.
        dispatch!(a => unsafe { a.dealloc(ptr, layout) }, ())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded from the caller; `ptr` came from the same allocator.
        dispatch!(a => unsafe { a.realloc(ptr, layout, new_size) }, core::ptr::null_mut())
    }
}

/// The chosen allocator's figures (`None` before [`init`]).
pub fn stats() -> Option<Stats> {
    dispatch!(a => Some(a.stats()), None)
}

/// The latest failure, without waiting for the lock (for the panic path).
pub fn try_last_failure() -> Option<FailureReport> {
    dispatch!(a => a.try_last_failure(), None)
}

/// `(base, mapped end, cap end)` of the heap's virtual range.
pub fn range() -> (u64, u64, u64) {
    let base = BASE.load(Ordering::Acquire);
    (
        base,
        END.load(Ordering::Acquire),
        base + MAX.load(Ordering::Acquire),
    )
}

/// Lowers (or raises) the cap to `bytes` above the base, for tests of exhaustion.
pub fn set_max(bytes: u64) {
    MAX.store(bytes, Ordering::Release);
}

/// Maps frames at `[virt, virt + bytes)` (both page-aligned), 2 MiB runs where aligned;
/// returns how many bytes from `virt` on are mapped (less on running out of frames).
fn map_fresh(virt: u64, bytes: u64) -> u64 {
    let mut done = 0;
    while done < bytes {
        let at = virt + done;
        let (len, frame, order) = if at.is_multiple_of(HUGE) && bytes - done >= HUGE {
            match memory::alloc_frames(9) {
                Some(f) => (HUGE, Some(f), 9),
                None => (PAGE, memory::alloc_frame(), 0),
            }
        } else {
            (PAGE, memory::alloc_frame(), 0)
        };
        let Some(frame) = frame else { break };
        if memory::map(at, frame, len, MapFlags::DATA).is_err() {
            let _ = memory::free_frames(frame, order);
            break;
        }
        done += len;
    }
    done
}

/// The grow hook: maps at least `min_bytes` more after the heap's end, within the cap. Runs
/// with the heap's lock held and interrupts off; allocates nothing (frames and page tables
/// come from the buddy allocator).
fn grow(min_bytes: usize) -> usize {
    let (base, end, _) = range();
    let cap_end = base + MAX.load(Ordering::Acquire);
    let want = (min_bytes as u64)
        .max(GROW_STEP)
        .next_multiple_of(PAGE)
        .min(cap_end.saturating_sub(end));
    if want < min_bytes as u64 || want == 0 {
        return 0;
    }
    let got = map_fresh(end, want);
    END.store(end + got, Ordering::Release);
    got as usize
}

/// Sets the heap up from the command line: reserves its range, maps the initial size, picks
/// the allocator and installs the grow hook. Call once, on the kernel's own page tables.
pub fn init(info: &BootInfo) {
    let cmdline = info.cmdline();
    let choice = match cmdline.get("allocator") {
        None => Choice::Talc,
        Some(name) => Choice::from_name(name).unwrap_or_else(|| {
            warn!(
                "unknown allocator `{name}` on the command line (talc, bump, linked-list, \
                 fixed-block); using talc"
            );
            Choice::Talc
        }),
    };
    let ram = memory::frame_stats().map_or(0, |s| s.total_frames * PAGE);
    let default_max = (ram / 4 / (1 << 20) * (1 << 20)).clamp(DEFAULT_INITIAL, DEFAULT_MAX);
    let mut initial = match cmdline.size("heap") {
        None => DEFAULT_INITIAL,
        Some(Ok(n)) => n.next_multiple_of(PAGE),
        Some(Err(bad)) => {
            warn!(
                "`heap={bad}` is not a size (like 8M); using {} MiB",
                DEFAULT_INITIAL >> 20
            );
            DEFAULT_INITIAL
        }
    };
    let (area, area_size) = memory::mapping_area().expect("heap: the mapping area exists");
    // The upper half of the mapping area; the lower half stays the mapping API's.
    let base = area + area_size / 2;
    let mut max = match cmdline.size("heap_max") {
        None => default_max,
        Some(Ok(n)) => n.next_multiple_of(PAGE).min(area_size / 2),
        Some(Err(bad)) => {
            warn!(
                "`heap_max={bad}` is not a size (like 256M); using {} MiB",
                default_max >> 20
            );
            default_max
        }
    };
    if initial > max {
        warn!("initial size above heap_max; the cap becomes the initial size");
        max = initial;
    }
    let mapped = map_fresh(base, initial);
    if mapped < initial {
        warn!("only {mapped} of {initial} bytes could be mapped");
        initial = mapped;
    }
    BASE.store(base, Ordering::Release);
    END.store(base + mapped, Ordering::Release);
    MAX.store(max, Ordering::Release);
    INITIAL.store(initial, Ordering::Release);
    let start = base as *mut u8;
    let size = initial as usize;
    macro_rules! setup {
        ($a:expr) => {
            // SAFETY: `[base, base + initial)` was just mapped RW to fresh frames that nothing
            // else uses, in a range only the heap maps; `grow` maps the bytes it reports right
            // after the end, the same way.
            unsafe {
                $a.init(start, size);
                $a.set_grow_hook(grow);
            }
        };
    }
    match choice {
        Choice::Talc => setup!(TALC),
        Choice::Bump => setup!(BUMP),
        Choice::LinkedList => setup!(LINKED_LIST),
        Choice::FixedBlock => setup!(FIXED_BLOCK),
    }
    let index = Choice::ALL.iter().position(|c| *c == choice).unwrap_or(0);
    CHOSEN.store(index as u8 + 1, Ordering::Release);
    info!(
        "{}, {} initial, max {} (virtual reserve {:#x}..{:#x})",
        choice.name(),
        Size(initial),
        Size(max),
        base,
        base + area_size / 2
    );
}

/// A byte count in the largest unit that shows it exactly (`8 MiB`, `512 KiB`).
struct Size(u64);

impl core::fmt::Display for Size {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n = self.0;
        if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
            write!(f, "{} GiB", n >> 30)
        } else if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
            write!(f, "{} MiB", n >> 20)
        } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
            write!(f, "{} KiB", n >> 10)
        } else {
            write!(f, "{n} B")
        }
    }
}

/// The initial size the heap was given.
pub fn initial_size() -> u64 {
    INITIAL.load(Ordering::Acquire)
}

#[cfg(feature = "ktest")]
pub mod bench;
#[cfg(feature = "ktest")]
mod ktests;
