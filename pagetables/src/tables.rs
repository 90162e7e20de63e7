//! [`PageTables`]: one 4-level hierarchy and every edit of it.
//!
//! - [`PageTables::map`] maps exactly `[virt, virt + len)`, choosing for each step the largest
//!   page (1 GiB when [`Features::huge_1g`], 2 MiB, 4 KiB) to which both addresses are aligned
//!   and that still fits. Mapping over an existing mapping is allowed only if it agrees (same
//!   target, same flags), and is then a no-op; anything else is [`MapError::AlreadyMapped`],
//!   found before any entry is written.
//! - [`PageTables::map_page`] maps one page of a given size and refuses anything in the way.
//! - [`PageTables::unmap`] and [`PageTables::protect`] work on whole ranges: a huge page that
//!   the range cuts through is split first (2 MiB or 1 GiB into the next size down, as often
//!   as needed), and tables left empty by an unmap go back to the [`FrameSource`].
//! - Every edit returns a [`Flush`] for the changed range.

use x86_64::structures::paging::{Page, PhysFrame, Size4KiB};
use x86_64::{PhysAddr, VirtAddr};

use crate::entry::{
    ENTRIES, Entry, MapFlags, PAGE_SIZE_4K, PHYS_LIMIT, PageSize, bits, entry_span, is_canonical,
    table_index,
};
use crate::error::MapError;
use crate::flush::Flush;
use crate::memory::{FrameSource, PhysMemory};
use crate::walk::Walk;

/// What the CPU supports, which decides what the tables may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// NX (CPUID.80000001h:EDX[20], with EFER.NXE set). Without it bit 63 is reserved, so the
    /// `no_execute` flag is dropped from every mapping.
    pub nx: bool,
    /// 1 GiB pages (CPUID.80000001h:EDX[26], pdpe1gb). Without them a PDPT entry with PS is a
    /// reserved-bit fault, so no 1 GiB leaf is ever written.
    pub huge_1g: bool,
}

impl Features {
    /// Both NX and 1 GiB pages.
    pub const ALL: Features = Features {
        nx: true,
        huge_1g: true,
    };
}

/// What a virtual address translates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Physical address of the byte.
    pub phys: PhysAddr,
    /// Size of the leaf page mapping it.
    pub page_size: PageSize,
    /// The leaf's flags.
    pub flags: MapFlags,
}

/// One step of a range mapping: a page of `size` at `virt` → `phys`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub virt: u64,
    pub phys: u64,
    pub size: PageSize,
}

/// The greedy split of a validated range into the largest fitting pages.
#[derive(Debug, Clone)]
pub(crate) struct Steps {
    pub virt: u64,
    pub phys: u64,
    pub remaining: u64,
    pub allow_1g: bool,
}

impl Iterator for Steps {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        if self.remaining == 0 {
            return None;
        }
        let allow_1g = self.allow_1g;
        let size = PageSize::DESCENDING
            .into_iter()
            .filter(|s| allow_1g || *s != PageSize::Size1GiB)
            .find(|s| {
                let b = s.bytes();
                self.virt.is_multiple_of(b) && self.phys.is_multiple_of(b) && self.remaining >= b
            })?;
        let step = Step {
            virt: self.virt,
            phys: self.phys,
            size,
        };
        let b = size.bytes();
        // The range was validated: virt + remaining <= 2^64 (wrapping only at the very end) and
        // phys + remaining < 2^52.
        self.virt = self.virt.wrapping_add(b);
        self.phys = self.phys.wrapping_add(b);
        self.remaining -= b;
        Some(step)
    }
}

/// Checks a virtual range: 4 KiB multiples, canonical, within one half, no wrap.
pub(crate) fn check_virt(virt: u64, phys: u64, len: u64) -> Result<(), MapError> {
    if !virt.is_multiple_of(PAGE_SIZE_4K)
        || !phys.is_multiple_of(PAGE_SIZE_4K)
        || !len.is_multiple_of(PAGE_SIZE_4K)
    {
        return Err(MapError::Misaligned {
            virt,
            phys,
            len,
            align: PAGE_SIZE_4K,
        });
    }
    if len == 0 {
        return Ok(());
    }
    let non_canonical = MapError::NonCanonical { virt, len };
    let last = virt.checked_add(len - 1).ok_or(non_canonical)?;
    if !is_canonical(virt) || !is_canonical(last) || (virt >> 47) != (last >> 47) {
        return Err(non_canonical);
    }
    Ok(())
}

/// Checks a physical range: below 2^52.
pub(crate) fn check_phys(phys: u64, len: u64) -> Result<(), MapError> {
    if len == 0 {
        return Ok(());
    }
    match phys.checked_add(len - 1) {
        Some(last) if last < PHYS_LIMIT => Ok(()),
        _ => Err(MapError::PhysOutOfRange { phys, len }),
    }
}

/// Virtual start of entry `index` of the table at `level` that holds `inside`.
const fn entry_base(inside: u64, level: u8, index: usize) -> u64 {
    let table_span = entry_span(level) << 9;
    (inside & !(table_span.wrapping_sub(1))) | ((index as u64) * entry_span(level))
}

/// A 4-level page-table hierarchy, named by its root (the PML4 frame, CR3's address).
///
/// The value holds no memory: every operation is handed the [`PhysMemory`] (and, to edit, the
/// [`FrameSource`]) it works through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageTables {
    root: PhysFrame,
    features: Features,
    /// Whether unmapping keeps PDPTs that become empty (see [`PageTables::pin_pdpts`]).
    pinned_pdpts: bool,
}

impl PageTables {
    /// A fresh, empty hierarchy: one zeroed PML4 from `env`.
    ///
    /// # Errors
    ///
    /// [`MapError::OutOfFrames`] when `env` has no frame.
    pub fn new<E: PhysMemory + FrameSource + ?Sized>(
        env: &mut E,
        features: Features,
    ) -> Result<Self, MapError> {
        let root = new_table(env)?;
        Ok(PageTables {
            root,
            features,
            pinned_pdpts: false,
        })
    }

    /// The hierarchy rooted at `root` (for example the one in CR3), as it is.
    pub const fn from_root(root: PhysFrame, features: Features) -> Self {
        PageTables {
            root,
            features,
            pinned_pdpts: false,
        }
    }

    /// From now on, [`PageTables::unmap`] keeps a PDPT (and its PML4 entry) when the range
    /// leaves it empty, so the top level never changes: a kernel whose every address space
    /// shares the PML4 entries of its half can then edit that half in one place.
    pub fn pin_pdpts(&mut self) {
        self.pinned_pdpts = true;
    }

    /// Whether emptied PDPTs are kept.
    pub const fn pdpts_pinned(&self) -> bool {
        self.pinned_pdpts
    }

    /// The PML4 frame (the CR3 value, with PCID 0 and no flags).
    pub const fn root(&self) -> PhysFrame {
        self.root
    }

    /// The CPU features the tables are built for.
    pub const fn features(&self) -> Features {
        self.features
    }

    /// `flags` as they will be written (NX dropped without CPU support).
    pub const fn effective(&self, flags: MapFlags) -> MapFlags {
        MapFlags {
            no_execute: flags.no_execute && self.features.nx,
            ..flags
        }
    }

    /// Translates `virt`: `None` if it is not mapped.
    pub fn translate<M: PhysMemory + ?Sized>(
        &self,
        mem: &M,
        virt: VirtAddr,
    ) -> Option<Translation> {
        self.walk(mem, virt).translation()
    }

    /// Translates a raw address: `None` if it is not canonical or not mapped.
    pub fn translate_addr<M: PhysMemory + ?Sized>(
        &self,
        mem: &M,
        virt: u64,
    ) -> Option<Translation> {
        self.translate(mem, VirtAddr::try_new(virt).ok()?)
    }

    /// The walk of `virt`, level by level (see [`Walk`]).
    pub fn walk<M: PhysMemory + ?Sized>(&self, mem: &M, virt: VirtAddr) -> Walk {
        Walk::new(mem, self.root, self.features, virt)
    }

    /// Maps `[virt, virt + len)` to `[phys, phys + len)` with `flags`.
    ///
    /// Uses the largest page size to which both current addresses are aligned and which fits
    /// in what is left, so it maps exactly the range. `len == 0` does nothing. Where the range
    /// is already mapped, the existing mapping must send every page to the same physical address
    /// with the same (effective) flags, and is then left as it is; an existing huge page that
    /// agrees covers smaller steps, and an existing table below a huge step is filled in with
    /// smaller pages.
    ///
    /// # Errors
    ///
    /// - [`MapError::Misaligned`], [`MapError::NonCanonical`], [`MapError::PhysOutOfRange`] for
    ///   bad input; nothing is written.
    /// - [`MapError::AlreadyMapped`] for a disagreeing mapping; checked before anything is
    ///   written, so the tables are unchanged.
    /// - [`MapError::OutOfFrames`]: the range may then be partly mapped (each page either
    ///   mapped as asked or not at all).
    pub fn map<E: PhysMemory + FrameSource + ?Sized>(
        &mut self,
        env: &mut E,
        virt: u64,
        phys: u64,
        len: u64,
        flags: MapFlags,
    ) -> Result<Flush, MapError> {
        check_virt(virt, phys, len)?;
        check_phys(phys, len)?;
        if len == 0 {
            return Ok(Flush::none());
        }
        let flags = self.effective(flags);
        let steps = Steps {
            virt,
            phys,
            remaining: len,
            allow_1g: self.features.huge_1g,
        };
        for apply in [false, true] {
            // The table the last step's leaf went into, with the virtual span it covers: the
            // next step of the same size inside that span goes straight there (the walk down
            // would read the same entries, and their user bits are already set).
            let mut cursor: Option<(u64, u8, PhysFrame)> = None;
            for step in steps.clone() {
                let level = step.size.level();
                let base = step.virt & !(entry_span(level + 1) - 1);
                let found = match cursor {
                    Some((b, l, table)) if l == level && b == base => {
                        self.map_step(env, table, level, step, flags, apply)?
                    }
                    _ => self.map_step(env, self.root, 4, step, flags, apply)?,
                };
                cursor = found.map(|table| (base, level, table));
            }
        }
        Ok(Flush::new(virt, len))
    }

    /// Maps one page of size `S` at `page` to `frame`.
    ///
    /// # Errors
    ///
    /// - [`MapError::AlreadyMapped`] when the slot, or anything below it, is mapped;
    /// - [`MapError::HugePageInTheWay`] when a larger page covers `page`;
    /// - [`MapError::Misaligned`] for a 1 GiB page without [`Features::huge_1g`];
    /// - [`MapError::OutOfFrames`] (tables made for this call are given back).
    pub fn map_page<S, E>(
        &mut self,
        env: &mut E,
        page: Page<S>,
        frame: PhysFrame<S>,
        flags: MapFlags,
    ) -> Result<Flush, MapError>
    where
        S: x86_64::structures::paging::PageSize,
        E: PhysMemory + FrameSource + ?Sized,
    {
        let size = PageSize::of::<S>();
        let virt = page.start_address().as_u64();
        let phys = frame.start_address().as_u64();
        if size == PageSize::Size1GiB && !self.features.huge_1g {
            // Without pdpe1gb the best alignment a leaf can use is 2 MiB.
            return Err(MapError::Misaligned {
                virt,
                phys,
                len: size.bytes(),
                align: PageSize::Size2MiB.bytes(),
            });
        }
        let flags = self.effective(flags);
        let target = size.level();
        let mut table = self.root;
        // Tables created by this call: (parent, index) of the first, and every frame.
        let mut first_new: Option<(PhysFrame, usize)> = None;
        let mut created: [Option<PhysFrame>; 3] = [None; 3];
        for level in ((target + 1)..=4).rev() {
            let index = table_index(virt, level);
            let e = Entry(env.read_entry(table, index));
            if !e.is_present() {
                let Ok(child) = new_table(env) else {
                    if let Some((parent, i)) = first_new {
                        env.write_entry(parent, i, 0);
                    }
                    for f in created.into_iter().flatten() {
                        env.deallocate_frame(f);
                    }
                    return Err(MapError::OutOfFrames);
                };
                env.write_entry(
                    table,
                    index,
                    Entry::new_table(child.start_address().as_u64(), flags.user).0,
                );
                first_new.get_or_insert((table, index));
                created[(4 - level) as usize] = Some(child);
                table = child;
                continue;
            }
            if e.is_leaf_at(level) {
                let size = PageSize::from_level(level).unwrap_or(PageSize::Size1GiB);
                return Err(MapError::HugePageInTheWay { virt, size });
            }
            mark_user(env, table, index, e, flags);
            table = e.table();
        }
        let index = table_index(virt, target);
        let e = Entry(env.read_entry(table, index));
        if e.is_present() {
            if e.is_leaf_at(target) {
                let (base, _) = e.decode_leaf(size);
                return Err(MapError::AlreadyMapped {
                    virt,
                    existing_phys: base,
                    requested_phys: phys,
                });
            }
            if let Some((v, p)) = first_mapped(env, e.table(), target - 1, virt) {
                return Err(MapError::AlreadyMapped {
                    virt: v,
                    existing_phys: p,
                    requested_phys: phys + (v - virt),
                });
            }
            // A table with nothing mapped below it: give it back and take its place.
            free_tree(env, e.table(), target - 1);
        }
        env.write_entry(table, index, Entry::leaf(phys, flags, size).0);
        Ok(Flush::new(virt, size.bytes()))
    }

    /// Unmaps `[virt, virt + len)`.
    ///
    /// A huge page the range cuts through is split first, so only the range loses its mapping;
    /// every table left empty goes back to `env`.
    ///
    /// # Errors
    ///
    /// - [`MapError::Misaligned`], [`MapError::NonCanonical`]: nothing changed.
    /// - [`MapError::NotMapped`] when any page of the range is unmapped: nothing changed.
    /// - [`MapError::OutOfFrames`] for a split: translations unchanged (a split alone never
    ///   changes what an address maps to).
    pub fn unmap<E: PhysMemory + FrameSource + ?Sized>(
        &mut self,
        env: &mut E,
        virt: u64,
        len: u64,
    ) -> Result<Flush, MapError> {
        check_virt(virt, 0, len)?;
        if len == 0 {
            return Ok(Flush::none());
        }
        let last = virt + (len - 1);
        check_mapped(env, self.root, 4, virt, last)?;
        self.split_edges(env, virt, len)?;
        clear(env, self.root, 4, virt, last, self.pinned_pdpts)?;
        Ok(Flush::new(virt, len))
    }

    /// Gives every page in `[virt, virt + len)` the flags `flags` (targets unchanged).
    ///
    /// # Errors
    ///
    /// As for [`PageTables::unmap`].
    pub fn protect<E: PhysMemory + FrameSource + ?Sized>(
        &mut self,
        env: &mut E,
        virt: u64,
        len: u64,
        flags: MapFlags,
    ) -> Result<Flush, MapError> {
        check_virt(virt, 0, len)?;
        if len == 0 {
            return Ok(Flush::none());
        }
        let flags = self.effective(flags);
        let last = virt + (len - 1);
        check_mapped(env, self.root, 4, virt, last)?;
        self.split_edges(env, virt, len)?;
        rewrite(env, self.root, 4, virt, last, flags)?;
        Ok(Flush::new(virt, len))
    }

    /// Splits the huge page containing `virt` into pages of the next size down (same
    /// translations and flags). Returns `Ok(None)` when `virt` is mapped by a 4 KiB page.
    ///
    /// # Errors
    ///
    /// [`MapError::NotMapped`], [`MapError::OutOfFrames`].
    pub fn split<E: PhysMemory + FrameSource + ?Sized>(
        &mut self,
        env: &mut E,
        virt: VirtAddr,
    ) -> Result<Option<Flush>, MapError> {
        let v = virt.as_u64();
        let mut table = self.root;
        for level in (1..=4u8).rev() {
            let index = table_index(v, level);
            let e = Entry(env.read_entry(table, index));
            if !e.is_present() {
                return Err(MapError::NotMapped { virt: v });
            }
            if e.is_leaf_at(level) {
                if level == 1 {
                    return Ok(None);
                }
                split_entry(env, table, index, e, level)?;
                let span = entry_span(level);
                return Ok(Some(Flush::new(v & !(span - 1), span)));
            }
            table = e.table();
        }
        Ok(None)
    }

    /// Makes sure no leaf straddles either end of `[virt, virt + len)`.
    fn split_edges<E: PhysMemory + FrameSource + ?Sized>(
        &mut self,
        env: &mut E,
        virt: u64,
        len: u64,
    ) -> Result<(), MapError> {
        ensure_boundary(env, self.root, virt)?;
        if let Some(end) = virt.checked_add(len)
            && is_canonical(end)
            && (end >> 47) == (virt >> 47)
        {
            ensure_boundary(env, self.root, end)?;
        }
        Ok(())
    }

    /// Number of table frames in the hierarchy, the root included.
    pub fn table_frames<M: PhysMemory + ?Sized>(&self, mem: &M) -> u64 {
        count_tables(mem, self.root, 4)
    }

    /// Gives every table frame, the root included, back to `env`. Mapped pages are not
    /// touched (their frames belong to whoever mapped them).
    pub fn free_all<E: PhysMemory + FrameSource + ?Sized>(self, env: &mut E) {
        free_tree(env, self.root, 4);
    }

    /// Maps (or, with `apply == false`, only checks) one step in the table at `table`, which
    /// sits at `level`. Returns the table at the step's own level when the walk reached it.
    fn map_step<E: PhysMemory + FrameSource + ?Sized>(
        &mut self,
        env: &mut E,
        table: PhysFrame,
        level: u8,
        step: Step,
        flags: MapFlags,
        apply: bool,
    ) -> Result<Option<PhysFrame>, MapError> {
        let index = table_index(step.virt, level);
        let entry = Entry(env.read_entry(table, index));

        if level == step.size.level() {
            if !entry.is_present() {
                if apply {
                    env.write_entry(table, index, Entry::leaf(step.phys, flags, step.size).0);
                }
                return Ok(Some(table));
            }
            if entry.is_leaf_at(level) {
                return check_agrees(entry, level, step, flags).map(|()| Some(table));
            }
            // A table from an earlier, finer mapping hangs here: fill it at the next size down.
            let Some(sub) = PageSize::from_level(level - 1) else {
                return Ok(Some(table)); // unreachable: level-1 entries are always leaves
            };
            if apply {
                mark_user(env, table, index, entry, flags);
            }
            let child = entry.table();
            let n = step.size.bytes() / sub.bytes();
            for i in 0..n {
                let off = i * sub.bytes();
                let sub_step = Step {
                    virt: step.virt.wrapping_add(off),
                    phys: step.phys + off,
                    size: sub,
                };
                self.map_step(env, child, level - 1, sub_step, flags, apply)?;
            }
            return Ok(Some(table));
        }

        // Above the step's level.
        if !entry.is_present() {
            if !apply {
                return Ok(None); // nothing mapped below, so nothing to conflict with
            }
            let child = new_table(env)?;
            env.write_entry(
                table,
                index,
                Entry::new_table(child.start_address().as_u64(), flags.user).0,
            );
            return self.map_step(env, child, level - 1, step, flags, apply);
        }
        if entry.is_leaf_at(level) {
            return check_agrees(entry, level, step, flags).map(|()| None);
        }
        if apply {
            mark_user(env, table, index, entry, flags);
        }
        self.map_step(env, entry.table(), level - 1, step, flags, apply)
    }
}

/// A zeroed frame for a new table.
fn new_table<E: PhysMemory + FrameSource + ?Sized>(env: &mut E) -> Result<PhysFrame, MapError> {
    let f: PhysFrame<Size4KiB> = env.allocate_frame().ok_or(MapError::OutOfFrames)?;
    env.zero_table(f);
    Ok(f)
}

/// Sets the user bit on an intermediate entry when a user leaf goes below it.
fn mark_user<M: PhysMemory + ?Sized>(
    mem: &mut M,
    table: PhysFrame,
    index: usize,
    entry: Entry,
    flags: MapFlags,
) {
    if flags.user && entry.0 & bits::USER == 0 {
        mem.write_entry(table, index, entry.0 | bits::USER);
    }
}

/// Whether an existing leaf `entry` at `level` already maps `step` the same way.
fn check_agrees(entry: Entry, level: u8, step: Step, flags: MapFlags) -> Result<(), MapError> {
    let size = PageSize::from_level(level).unwrap_or(PageSize::Size4KiB);
    let (base, existing_flags) = entry.decode_leaf(size);
    let existing_phys = base | (step.virt & (size.bytes() - 1));
    if existing_phys == step.phys && existing_flags == flags {
        Ok(())
    } else {
        Err(MapError::AlreadyMapped {
            virt: step.virt,
            existing_phys,
            requested_phys: step.phys,
        })
    }
}

/// The first mapped page below the table at `level` whose range starts at `base`.
fn first_mapped<M: PhysMemory + ?Sized>(
    mem: &M,
    table: PhysFrame,
    level: u8,
    base: u64,
) -> Option<(u64, u64)> {
    for i in 0..ENTRIES {
        let e = Entry(mem.read_entry(table, i));
        if !e.is_present() {
            continue;
        }
        let v = base + i as u64 * entry_span(level);
        if e.is_leaf_at(level) {
            let size = PageSize::from_level(level)?;
            return Some((v, e.decode_leaf(size).0));
        }
        if level > 1
            && let Some(found) = first_mapped(mem, e.table(), level - 1, v)
        {
            return Some(found);
        }
    }
    None
}

/// Gives back the table at `level` and every table below it.
fn free_tree<E: PhysMemory + FrameSource + ?Sized>(env: &mut E, table: PhysFrame, level: u8) {
    if level > 1 {
        for i in 0..ENTRIES {
            let e = Entry(env.read_entry(table, i));
            if e.is_present() && !e.is_leaf_at(level) {
                free_tree(env, e.table(), level - 1);
            }
        }
    }
    env.deallocate_frame(table);
}

/// Number of tables at and below the table at `level`.
fn count_tables<M: PhysMemory + ?Sized>(mem: &M, table: PhysFrame, level: u8) -> u64 {
    let mut n = 1;
    if level > 1 {
        for i in 0..ENTRIES {
            let e = Entry(mem.read_entry(table, i));
            if e.is_present() && !e.is_leaf_at(level) {
                n += count_tables(mem, e.table(), level - 1);
            }
        }
    }
    n
}

/// Whether every entry of `table` is zero.
fn is_empty<M: PhysMemory + ?Sized>(mem: &M, table: PhysFrame) -> bool {
    (0..ENTRIES).all(|i| mem.read_entry(table, i) == 0)
}

/// Replaces the huge leaf `e` at `table[index]` (at `level`) by a table of pages of the next
/// size down with the same targets and flags. Returns the new table.
fn split_entry<E: PhysMemory + FrameSource + ?Sized>(
    env: &mut E,
    table: PhysFrame,
    index: usize,
    e: Entry,
    level: u8,
) -> Result<PhysFrame, MapError> {
    let (Some(size), Some(sub)) = (PageSize::from_level(level), PageSize::from_level(level - 1))
    else {
        return Err(MapError::NotMapped { virt: 0 }); // unreachable: only 2 MiB/1 GiB split
    };
    let (base, flags) = e.decode_leaf(size);
    // Accessed and dirty carry over, so nothing the CPU recorded is lost.
    let ad = e.0 & (1 << 5 | 1 << 6);
    let child = new_table(env)?;
    for j in 0..ENTRIES {
        let leaf = Entry::leaf(base + j as u64 * sub.bytes(), flags, sub);
        env.write_entry(child, j, leaf.0 | ad);
    }
    env.write_entry(
        table,
        index,
        Entry::new_table(child.start_address().as_u64(), flags.user).0,
    );
    Ok(child)
}

/// Splits leaves until none straddles `addr`.
fn ensure_boundary<E: PhysMemory + FrameSource + ?Sized>(
    env: &mut E,
    root: PhysFrame,
    addr: u64,
) -> Result<(), MapError> {
    let mut table = root;
    for level in (2..=4u8).rev() {
        let index = table_index(addr, level);
        let e = Entry(env.read_entry(table, index));
        if !e.is_present() {
            return Ok(());
        }
        if e.is_leaf_at(level) {
            if addr.is_multiple_of(entry_span(level)) {
                return Ok(());
            }
            table = split_entry(env, table, index, e, level)?;
        } else {
            table = e.table();
        }
    }
    Ok(())
}

/// Fails with the first unmapped address in `[first, last]` (inside the table's span).
fn check_mapped<M: PhysMemory + ?Sized>(
    mem: &M,
    table: PhysFrame,
    level: u8,
    first: u64,
    last: u64,
) -> Result<(), MapError> {
    for i in table_index(first, level)..=table_index(last, level) {
        let e = Entry(mem.read_entry(table, i));
        let base = entry_base(first, level, i);
        let sub_first = first.max(base);
        if !e.is_present() {
            return Err(MapError::NotMapped { virt: sub_first });
        }
        if e.is_leaf_at(level) {
            continue;
        }
        let sub_last = last.min(base + (entry_span(level) - 1));
        check_mapped(mem, e.table(), level - 1, sub_first, sub_last)?;
    }
    Ok(())
}

/// Unmaps `[first, last]` in the table at `level`; returns whether the table is now empty and
/// may be freed (never for the root, nor for a PDPT when `keep_pdpts`).
fn clear<E: PhysMemory + FrameSource + ?Sized>(
    env: &mut E,
    table: PhysFrame,
    level: u8,
    first: u64,
    last: u64,
    keep_pdpts: bool,
) -> Result<bool, MapError> {
    for i in table_index(first, level)..=table_index(last, level) {
        let e = Entry(env.read_entry(table, i));
        if !e.is_present() {
            continue;
        }
        let base = entry_base(first, level, i);
        let end = base + (entry_span(level) - 1);
        let (sub_first, sub_last) = (first.max(base), last.min(end));
        let child = if e.is_leaf_at(level) {
            if sub_first == base && sub_last == end {
                env.write_entry(table, i, 0);
                continue;
            }
            split_entry(env, table, i, e, level)?
        } else {
            e.table()
        };
        if clear(env, child, level - 1, sub_first, sub_last, keep_pdpts)? {
            env.write_entry(table, i, 0);
            env.deallocate_frame(child);
        }
    }
    Ok(level < 4 && !(level == 3 && keep_pdpts) && is_empty(env, table))
}

/// Rewrites the leaves of `[first, last]` in the table at `level` with `flags`.
fn rewrite<E: PhysMemory + FrameSource + ?Sized>(
    env: &mut E,
    table: PhysFrame,
    level: u8,
    first: u64,
    last: u64,
    flags: MapFlags,
) -> Result<(), MapError> {
    for i in table_index(first, level)..=table_index(last, level) {
        let e = Entry(env.read_entry(table, i));
        if !e.is_present() {
            continue;
        }
        let base = entry_base(first, level, i);
        let end = base + (entry_span(level) - 1);
        let (sub_first, sub_last) = (first.max(base), last.min(end));
        let child = if e.is_leaf_at(level) {
            if sub_first == base && sub_last == end {
                let size = PageSize::from_level(level).unwrap_or(PageSize::Size4KiB);
                let (phys, _) = e.decode_leaf(size);
                env.write_entry(table, i, Entry::leaf(phys, flags, size).0);
                continue;
            }
            split_entry(env, table, i, e, level)?
        } else {
            mark_user(env, table, i, e, flags);
            e.table()
        };
        rewrite(env, child, level - 1, sub_first, sub_last, flags)?;
    }
    Ok(())
}
