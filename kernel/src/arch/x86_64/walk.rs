//! Read-only walk of the active page tables for fault reports: the tables in CR3, read entry
//! by entry through the HHDM, explained level by level by `pagetables::Walk`.
//!
//! Only the last words of a fatal exception walk (the [`Stopped`] proof): by then nothing
//! that could edit the tables or hold a reference to them runs again (see `stop`), so reading
//! entries behind the back of the memory module's editor cannot race with it. Entries are read
//! only from frames the loader's memory map calls memory the kernel owns (usable,
//! bootloader-reclaimable, the kernel image), which the HHDM maps under every base revision
//! (PROTOCOL.md, "HHDM (Higher Half Direct Map) Feature"); a table pointer anywhere else (a
//! corrupted entry) reads as an empty entry instead of faulting inside the report.

use ::x86_64::VirtAddr;
use ::x86_64::registers::control::Cr3;
use ::x86_64::registers::model_specific::{Efer, EferFlags};
use ::x86_64::structures::paging::PhysFrame;
use pagetables::{ENTRIES, Features, PageTables, PhysMemory, Walk};

use super::cpu;
use super::paging::{self, PAGE, PhysKind};
use super::stop::Stopped;

/// Entry reads through the HHDM at `offset`; writes are ignored (walks never write).
struct HhdmReader {
    offset: u64,
}

impl PhysMemory for HhdmReader {
    fn read_entry(&self, table: PhysFrame, index: usize) -> u64 {
        let phys = table.start_address().as_u64();
        if index >= ENTRIES || paging::classify(phys, PAGE) == PhysKind::Other {
            return 0;
        }
        let addr = self.offset.wrapping_add(phys) + 8 * index as u64;
        // SAFETY: `offset` is the HHDM offset the boot declared, and the frame at `phys` is
        // memory the kernel owns by the loader's map, which the HHDM maps readable (see the
        // module documentation), so `addr` is a mapped, 8-byte aligned entry of that frame.
        // Walks run only after the stop (`walk_active` takes the proof), when no reference to
        // the tables is used again and nothing edits them.
        unsafe { core::ptr::read_volatile(addr as *const u64) }
    }

    fn write_entry(&mut self, _table: PhysFrame, _index: usize, _value: u64) {}
}

/// What the CPU supports that changes the meaning of entries: NX (EFER.NXE set) and 1 GiB
/// pages (CPUID.80000001h:EDX[26]).
pub fn features() -> Features {
    let max_extended = cpu::cpuid(0x8000_0000, 0).eax;
    let huge_1g = max_extended >= 0x8000_0001 && cpu::cpuid(0x8000_0001, 0).edx & (1 << 26) != 0;
    Features {
        nx: Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE),
        huge_1g,
    }
}

/// The tables the CPU uses now (CR3's PML4).
pub fn active_tables() -> PageTables {
    PageTables::from_root(Cr3::read().0, features())
}

/// The walk of `virt` through the tables in CR3, for the report of a fatal exception. `None`
/// when `virt` is not canonical or the HHDM is not known yet (a fault before the boot read
/// the loader's responses).
pub fn walk_active(_stopped: &Stopped, virt: u64) -> Option<Walk> {
    let virt = VirtAddr::try_new(virt).ok()?;
    let mem = HhdmReader {
        offset: paging::hhdm_offset()?,
    };
    Some(active_tables().walk(&mem, virt))
}
