//! [`Walk`]: how a virtual address translates, level by level, for page-fault reports.

use core::fmt;

use x86_64::structures::paging::PhysFrame;
use x86_64::structures::paging::page_table::PageTableLevel;
use x86_64::{PhysAddr, VirtAddr};

use crate::entry::{Entry, PageSize, bits, level_name, level_of, table_index};
use crate::memory::PhysMemory;
use crate::tables::{Features, Translation};

/// One table entry on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkStep {
    /// Level of the table read.
    pub level: PageTableLevel,
    /// The table read.
    pub table: PhysFrame,
    /// The entry's index in it.
    pub index: usize,
    /// The entry found.
    pub entry: Entry,
}

/// How a walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// A leaf maps the address.
    Mapped(Translation),
    /// The last entry read is not present.
    NotPresent,
    /// The last entry read has reserved bits set (the CPU raises a reserved-bit fault).
    Reserved {
        /// The offending bits.
        bits: u64,
    },
}

/// The entries the CPU reads to translate one address, and what they mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    virt: VirtAddr,
    root: PhysFrame,
    steps: [Option<WalkStep>; 4],
    end: WalkEnd,
}

/// Bits that must be zero in a present entry at `level`, given the CPU's features.
fn reserved_bits(e: Entry, level: u8, features: Features) -> u64 {
    let mut r = 0;
    if !features.nx {
        r |= e.0 & bits::NO_EXECUTE;
    }
    match level {
        4 => r |= e.0 & bits::HUGE,
        3 if e.0 & bits::HUGE != 0 => {
            if !features.huge_1g {
                r |= bits::HUGE;
            }
            r |= e.0 & 0x3fff_e000; // bits 13..=29 of a 1 GiB leaf
        }
        2 if e.0 & bits::HUGE != 0 => r |= e.0 & 0x001f_e000, // bits 13..=20
        _ => {}
    }
    r
}

impl Walk {
    pub(crate) fn new<M: PhysMemory + ?Sized>(
        mem: &M,
        root: PhysFrame,
        features: Features,
        virt: VirtAddr,
    ) -> Walk {
        let v = virt.as_u64();
        let mut steps = [None; 4];
        let mut table = root;
        let mut end = WalkEnd::NotPresent;
        for level in (1..=4u8).rev() {
            let index = table_index(v, level);
            let entry = Entry(mem.read_entry(table, index));
            steps[(4 - level) as usize] = Some(WalkStep {
                level: level_of(level),
                table,
                index,
                entry,
            });
            if !entry.is_present() {
                break;
            }
            let reserved = reserved_bits(entry, level, features);
            if reserved != 0 {
                end = WalkEnd::Reserved { bits: reserved };
                break;
            }
            if entry.is_leaf_at(level) {
                let size = PageSize::from_level(level).unwrap_or(PageSize::Size4KiB);
                let (base, flags) = entry.decode_leaf(size);
                end = WalkEnd::Mapped(Translation {
                    phys: PhysAddr::new_truncate(base | (v & (size.bytes() - 1))),
                    page_size: size,
                    flags,
                });
                break;
            }
            table = entry.table();
        }
        Walk {
            virt,
            root,
            steps,
            end,
        }
    }

    /// The address walked.
    pub const fn virt(&self) -> VirtAddr {
        self.virt
    }

    /// The entries read, PML4 first.
    pub fn steps(&self) -> impl Iterator<Item = &WalkStep> {
        self.steps.iter().flatten()
    }

    /// How the walk ended.
    pub const fn end(&self) -> WalkEnd {
        self.end
    }

    /// The translation, if the address is mapped.
    pub const fn translation(&self) -> Option<Translation> {
        match self.end {
            WalkEnd::Mapped(t) => Some(t),
            _ => None,
        }
    }

    /// Whether every entry on the way allows writes (the CPU ANDs them).
    pub fn writable(&self) -> bool {
        self.translation().is_some() && self.steps().all(|s| s.entry.0 & bits::WRITABLE != 0)
    }

    /// Whether every entry on the way allows ring 3.
    pub fn user(&self) -> bool {
        self.translation().is_some() && self.steps().all(|s| s.entry.0 & bits::USER != 0)
    }

    /// Whether no entry on the way forbids instruction fetches.
    pub fn executable(&self) -> bool {
        self.translation().is_some() && self.steps().all(|s| s.entry.0 & bits::NO_EXECUTE == 0)
    }
}

/// Entry flag names, as in the manuals.
struct EntryFlags(Entry, u8);

impl fmt::Display for EntryFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (e, level) = (self.0.0, self.1);
        let huge = level > 1 && e & bits::HUGE != 0;
        let names: [(u64, &str); 11] = [
            (bits::PRESENT, "P"),
            (bits::WRITABLE, "W"),
            (bits::USER, "U"),
            (bits::PWT, "PWT"),
            (bits::PCD, "PCD"),
            (1 << 5, "A"),
            (1 << 6, "D"),
            (bits::HUGE, if level == 1 { "PAT" } else { "PS" }),
            (bits::GLOBAL, "G"),
            (if huge { bits::PAT_HUGE } else { 0 }, "PAT"),
            (bits::NO_EXECUTE, "NX"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if bit != 0 && e & bit != 0 {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

impl fmt::Display for Walk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "walk of {:#x} (PML4 at {:#x}):",
            self.virt.as_u64(),
            self.root.start_address().as_u64()
        )?;
        let mut last: Option<&WalkStep> = None;
        for s in self.steps() {
            let level = s.level as u8;
            write!(
                f,
                "  {:<4}[{:3}] @ {:#x} = {:#018x}  {}",
                level_name(s.level),
                s.index,
                s.table.start_address().as_u64(),
                s.entry.0,
                EntryFlags(s.entry, level)
            )?;
            if s.entry.is_present() {
                if s.entry.is_leaf_at(level) {
                    let size = PageSize::from_level(level).unwrap_or(PageSize::Size4KiB);
                    let (base, _) = s.entry.decode_leaf(size);
                    write!(f, " -> {} page at {:#x}", size.name(), base)?;
                } else if level > 1 {
                    write!(
                        f,
                        " -> {} at {:#x}",
                        level_name(level_of(level - 1)),
                        s.entry.addr_field()
                    )?;
                }
            }
            writeln!(f)?;
            last = Some(s);
        }
        let at = last.map_or("PML4", |s| level_name(s.level));
        match self.end {
            WalkEnd::Mapped(t) => write!(
                f,
                "  maps to {:#x} ({} page; {}, {}, {}, {})",
                t.phys.as_u64(),
                t.page_size.name(),
                if self.writable() {
                    "writable"
                } else {
                    "read-only"
                },
                if self.executable() {
                    "executable"
                } else {
                    "no-execute"
                },
                if self.user() { "user" } else { "supervisor" },
                t.flags.cache.name()
            ),
            WalkEnd::NotPresent => write!(f, "  not mapped: the {at} entry is not present"),
            WalkEnd::Reserved { bits } => write!(
                f,
                "  reserved bits {bits:#x} set in the {at} entry (reserved-bit fault)"
            ),
        }
    }
}
