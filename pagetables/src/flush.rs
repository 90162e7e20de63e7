//! TLB invalidation after an edit.
//!
//! Every edit returns a [`Flush`] naming the virtual range whose translations changed. It is
//! `#[must_use]`: the caller either invalidates through a [`Tlb`] (the kernel's is INVLPG and a
//! CR3/CR4.PGE reload, under `arch/`) or says explicitly that no CPU uses these tables yet
//! ([`Flush::ignore`]).

use x86_64::VirtAddr;

use crate::entry::PAGE_SIZE_4K;

/// How the CPU's cached translations are dropped.
pub trait Tlb {
    /// Drops the translations of the page containing `addr` (INVLPG; on x86 it also drops the
    /// paging-structure caches, so freed tables are forgotten too).
    fn invalidate_page(&mut self, addr: VirtAddr);
    /// Drops every translation, global ones included.
    fn invalidate_all(&mut self);
}

/// Above this many 4 KiB pages, [`Flush::flush`] drops everything instead.
pub const FLUSH_ALL_ABOVE_PAGES: u64 = 32;

/// Translations of `[start, start + len)` may be stale in the TLB.
#[must_use = "the TLB may still hold the old translations: call flush() or ignore()"]
#[derive(Debug, PartialEq, Eq)]
pub struct Flush {
    start: u64,
    len: u64,
}

impl Flush {
    pub(crate) const fn new(start: u64, len: u64) -> Flush {
        Flush { start, len }
    }

    /// Nothing to invalidate.
    pub const fn none() -> Flush {
        Flush { start: 0, len: 0 }
    }

    /// First address whose translation changed.
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// Length of the changed range in bytes (0: nothing changed).
    pub const fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing changed.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One flush covering both ranges (and whatever lies between them).
    pub fn merge(self, other: Flush) -> Flush {
        if self.len == 0 {
            return other;
        }
        if other.len == 0 {
            return self;
        }
        let start = self.start.min(other.start);
        let end = (self.start + (self.len - 1)).max(other.start + (other.len - 1));
        Flush {
            start,
            len: (end - start).saturating_add(1),
        }
    }

    /// Invalidates the range: page by page when it is at most [`FLUSH_ALL_ABOVE_PAGES`] pages,
    /// else everything.
    pub fn flush<T: Tlb + ?Sized>(self, tlb: &mut T) {
        let pages = self.len.div_ceil(PAGE_SIZE_4K);
        if pages == 0 {
            return;
        }
        if pages > FLUSH_ALL_ABOVE_PAGES {
            tlb.invalidate_all();
            return;
        }
        for i in 0..pages {
            tlb.invalidate_page(VirtAddr::new_truncate(self.start + i * PAGE_SIZE_4K));
        }
    }

    /// Drops the obligation: for tables no CPU has loaded yet (being built, or for another
    /// address space).
    pub fn ignore(self) {}
}
