//! x86-64 4-level page tables over an abstract physical memory, shared by the bundled loader
//! (identity-mapped firmware pages), the kernel (through the HHDM) and host tests (simulated
//! RAM). See docs/architecture.md, "Crates" and "Unsafe": this crate holds no `unsafe`; every
//! memory access goes through [`PhysMemory`], every table frame comes from a [`FrameSource`].
//!
//! - [`entry`]: page sizes, cache types (PAT indices under [`PAT_MSR_VALUE`]), mapping flags,
//!   the raw entry format.
//! - [`PageTables`]: map (range or single page), unmap, protect, split, translate, with typed
//!   [`MapError`]s; every edit returns a `#[must_use]` [`Flush`].
//! - [`Walk`]: a translation explained level by level (for page-fault reports).
//! - [`PageTables::map_hhdm`] and [`table_frames_upper_bound`]: the direct map and sizing.
//!
//! The `x86_64` crate supplies the address, frame, page and flag types.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod entry;
mod error;
mod flush;
mod hhdm;
mod memory;
mod tables;
mod walk;

pub use entry::{
    Cache, ENTRIES, Entry, MapFlags, PAGE_SIZE_1G, PAGE_SIZE_2M, PAGE_SIZE_4K, PAT_MSR,
    PAT_MSR_VALUE, PHYS_LIMIT, PageSize, is_canonical,
};
pub use error::MapError;
pub use flush::{FLUSH_ALL_ABOVE_PAGES, Flush, Tlb};
pub use hhdm::{Mapping, table_frames_upper_bound};
pub use memory::{Env, FrameSource, PhysMemory};
pub use tables::{Features, PageTables, Translation};
pub use walk::{Walk, WalkEnd, WalkStep};
pub use x86_64;

#[cfg(test)]
mod tests;
