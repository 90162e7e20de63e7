//! The kernel's own GDT and TSS (the loader's GDT lives in bootloader-reclaimable memory).
//!
//! ```text
//! index selector  descriptor
//!   0   0x00      null
//!   1   0x08      kernel code, 64-bit           KERNEL_CODE
//!   2   0x10      kernel data                   KERNEL_DATA
//!   3   0x1b      user data   (DPL 3, unused)   USER_DATA   } this order lets SYSRET load
//!   4   0x23      user code 64 (DPL 3, unused)  USER_CODE   } SS = base + 8, CS = base + 16
//!   5-6 0x28      TSS (16-byte system descriptor) TSS
//! ```
//!
//! The TSS holds three interrupt stacks: IST1 for double faults, IST2 for NMIs, IST3 for
//! machine checks (`idt.rs` assigns them), so those handlers run on a known-good stack even
//! when the kernel stack is exhausted or corrupt. RSP0 (the ring-0 stack for interrupts from
//! user mode) stays zero until user mode exists; per-thread RSP0 will then need a per-CPU TSS
//! that can change, unlike this one.
//!
//! Traps are loaded first thing at boot, so even a fault while copying the bootloader's
//! responses gets a report; at that point only [`IstStacks::builtin`] exists (in `.bss`, no
//! guard page; the fault report uses about 5 KiB of one). Once the memory module can map
//! guard-paged stacks, [`switch_ist_stacks`] points the TSS's IST slots at them: the CPU reads
//! those slots from the TSS in memory on every IST exception, so rewriting them in place is
//! enough. The GDT is built once into a `spin::Once` and never changes. Single CPU for now
//! (one TSS).

use ::x86_64::PrivilegeLevel::{Ring0, Ring3};
use ::x86_64::VirtAddr;
use ::x86_64::instructions::segmentation::{CS, DS, ES, FS, GS, SS, Segment};
use ::x86_64::instructions::tables::load_tss;
use ::x86_64::registers::segmentation::SegmentSelector;
use ::x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use ::x86_64::structures::tss::TaskStateSegment;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;

use super::paging::KernelStack;

/// Kernel code segment (64-bit).
pub const KERNEL_CODE: SegmentSelector = SegmentSelector::new(1, Ring0);
/// Kernel data segment (also the kernel stack segment).
pub const KERNEL_DATA: SegmentSelector = SegmentSelector::new(2, Ring0);
/// User data segment (reserved for later).
pub const USER_DATA: SegmentSelector = SegmentSelector::new(3, Ring3);
/// User code segment, 64-bit (reserved for later).
pub const USER_CODE: SegmentSelector = SegmentSelector::new(4, Ring3);
/// The TSS.
pub const TSS: SegmentSelector = SegmentSelector::new(5, Ring0);

/// IST slot (1-based, as in the IDT gate) of the double-fault stack.
pub const DOUBLE_FAULT_IST: u8 = 1;
/// IST slot of the NMI stack.
pub const NMI_IST: u8 = 2;
/// IST slot of the machine-check stack.
pub const MACHINE_CHECK_IST: u8 = 3;

/// Size of the built-in double-fault stack (the fault report is formatted and drawn on it).
const DOUBLE_FAULT_STACK_SIZE: usize = 32 * 1024;
/// Size of the built-in NMI and machine-check stacks.
const SMALL_IST_STACK_SIZE: usize = 16 * 1024;

/// Raw stack memory, 16-byte aligned as the ABI wants at a stack top.
#[repr(C, align(16))]
struct RawStack<const N: usize>([u8; N]);

// Raw memory that only the CPU writes (by switching RSP to its top on an IST exception); Rust
// never forms a reference to it.
static mut DOUBLE_FAULT_STACK: RawStack<DOUBLE_FAULT_STACK_SIZE> =
    RawStack([0; DOUBLE_FAULT_STACK_SIZE]);
static mut NMI_STACK: RawStack<SMALL_IST_STACK_SIZE> = RawStack([0; SMALL_IST_STACK_SIZE]);
static mut MACHINE_CHECK_STACK: RawStack<SMALL_IST_STACK_SIZE> =
    RawStack([0; SMALL_IST_STACK_SIZE]);

/// One interrupt stack: `[top - size, top)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IstStack {
    /// One past the highest byte; 16-byte aligned.
    pub top: u64,
    /// Size in bytes.
    pub size: u64,
}

impl IstStack {
    /// Whether `addr` lies on this stack.
    pub fn contains(&self, addr: u64) -> bool {
        addr < self.top && addr >= self.top.saturating_sub(self.size)
    }
}

/// The stacks the TSS's IST slots point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IstStacks {
    /// IST1: double fault.
    pub double_fault: IstStack,
    /// IST2: NMI.
    pub nmi: IstStack,
    /// IST3: machine check.
    pub machine_check: IstStack,
}

impl IstStacks {
    /// The statically allocated stacks in `.bss` (no guard pages).
    pub fn builtin() -> Self {
        fn top_of<const N: usize>(stack: *mut RawStack<N>) -> IstStack {
            IstStack {
                top: stack as u64 + N as u64,
                size: N as u64,
            }
        }
        Self {
            double_fault: top_of(&raw mut DOUBLE_FAULT_STACK),
            nmi: top_of(&raw mut NMI_STACK),
            machine_check: top_of(&raw mut MACHINE_CHECK_STACK),
        }
    }

    /// The IST slot (1-3) whose stack contains `addr`, if any.
    pub fn slot_containing(&self, addr: u64) -> Option<u8> {
        [
            (DOUBLE_FAULT_IST, self.double_fault),
            (NMI_IST, self.nmi),
            (MACHINE_CHECK_IST, self.machine_check),
        ]
        .into_iter()
        .find(|(_, s)| s.contains(addr))
        .map(|(slot, _)| slot)
    }
}

/// The TSS. Mutable only through [`switch_ist_stacks`] (its IST slots), hence the cell.
struct TssCell(UnsafeCell<TaskStateSegment>);

// SAFETY: the TSS is written in `init` (once, before `ltr`) and by `switch_ist_stacks` (with
// interrupts disabled on the only CPU); the CPU itself only reads the IST slots on exceptions.
unsafe impl Sync for TssCell {}

static TSS_TABLE: TssCell = TssCell(UnsafeCell::new(TaskStateSegment::new()));
static GDT: Once<GlobalDescriptorTable> = Once::new();
/// The IST stacks in use: `[df top, df size, nmi top, nmi size, mc top, mc size]` (atomics, so
/// the fault reporter can read them from any context without a lock).
static STACKS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

fn record(stacks: &IstStacks) {
    let words = [
        stacks.double_fault.top,
        stacks.double_fault.size,
        stacks.nmi.top,
        stacks.nmi.size,
        stacks.machine_check.top,
        stacks.machine_check.size,
    ];
    for (slot, word) in STACKS.iter().zip(words) {
        slot.store(word, Ordering::Release);
    }
}

/// The interrupt stacks in use, once [`init`] ran.
pub fn ist_stacks() -> Option<IstStacks> {
    let w: [u64; 6] = core::array::from_fn(|i| STACKS[i].load(Ordering::Acquire));
    (w[0] != 0).then_some(IstStacks {
        double_fault: IstStack {
            top: w[0],
            size: w[1],
        },
        nmi: IstStack {
            top: w[2],
            size: w[3],
        },
        machine_check: IstStack {
            top: w[4],
            size: w[5],
        },
    })
}

/// Points the TSS's IST slots at guard-paged stacks from now on: `double_fault` (IST1), `nmi`
/// (IST2), `machine_check` (IST3). The stacks are the CPU's for good.
///
/// # Panics
/// If called on an IST stack (from an NMI, #DF or #MC handler), or before [`init`].
pub fn switch_ist_stacks(double_fault: KernelStack, nmi: KernelStack, machine_check: KernelStack) {
    let rsp = crate::arch::cpu::stack_pointer();
    let current = ist_stacks().expect("the TSS is loaded before its stacks are switched");
    assert!(
        current.slot_containing(rsp).is_none(),
        "IST stacks switched from an IST stack"
    );
    let stack = |s: KernelStack| IstStack {
        top: s.top(),
        size: s.size(),
    };
    let stacks = IstStacks {
        double_fault: stack(double_fault),
        nmi: stack(nmi),
        machine_check: stack(machine_check),
    };
    let were_enabled = crate::arch::cpu::disable_interrupts_save();
    let tss = TSS_TABLE.0.get();
    let slots = [
        (DOUBLE_FAULT_IST, stacks.double_fault),
        (NMI_IST, stacks.nmi),
        (MACHINE_CHECK_IST, stacks.machine_check),
    ];
    for (slot, stack) in slots {
        // SAFETY: no reference to the TSS outlives `init`, interrupts are off on the only
        // CPU, and the new top is that of a mapped, writable stack handed over for good (a
        // consumed `KernelStack`), not the one we run on; the next IST exception uses it.
        // The TSS is `packed(4)`, so IST slots are only 4-byte aligned: write unaligned.
        unsafe {
            (&raw mut (*tss).interrupt_stack_table[usize::from(slot - 1)])
                .write_unaligned(VirtAddr::new(stack.top));
        }
    }
    record(&stacks);
    crate::arch::cpu::restore_interrupts(were_enabled);
}

/// Builds the GDT and TSS, loads them (`lgdt`, `ltr`) and reloads every segment register
/// (CS through a far return). Runs once; later calls do nothing.
///
/// # Safety
/// Each stack in `stacks` must be mapped read-write memory of the given size, 16-byte aligned
/// at its top, used by nothing else for the rest of the kernel's life. Interrupts must be
/// disabled (they are during early boot).
pub unsafe fn init(stacks: IstStacks) {
    if GDT.is_completed() {
        return;
    }
    {
        // SAFETY: runs once (guarded by `GDT` above), before `ltr` and before any other code
        // can look at the TSS; the mutable reference ends with this block.
        let tss = unsafe { &mut *TSS_TABLE.0.get() };
        let slots = [
            (DOUBLE_FAULT_IST, stacks.double_fault),
            (NMI_IST, stacks.nmi),
            (MACHINE_CHECK_IST, stacks.machine_check),
        ];
        for (slot, stack) in slots {
            tss.interrupt_stack_table[usize::from(slot - 1)] = VirtAddr::new(stack.top);
        }
    }
    record(&stacks);
    // SAFETY: a shared reference just long enough for the descriptor to take the TSS's
    // address and limit; the descriptor keeps no reference.
    let tss: &'static TaskStateSegment = unsafe { &*TSS_TABLE.0.get() };
    let gdt = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let selectors = [
            gdt.append(Descriptor::kernel_code_segment()),
            gdt.append(Descriptor::kernel_data_segment()),
            gdt.append(Descriptor::user_data_segment()),
            gdt.append(Descriptor::user_code_segment()),
            gdt.append(Descriptor::tss_segment(tss)),
        ];
        assert_eq!(
            selectors,
            [KERNEL_CODE, KERNEL_DATA, USER_DATA, USER_CODE, TSS],
            "GDT layout"
        );
        gdt
    });
    gdt.load();
    // SAFETY: 1. the GDT just loaded is 'static and holds a 64-bit code segment at KERNEL_CODE
    // and a data segment at KERNEL_DATA, so the far return and the data-segment loads find
    // valid descriptors; 2. TSS points to a 16-byte available-TSS descriptor for the 'static
    // TSS above, loaded once (a second `ltr` would fault on the busy bit, hence the early
    // return); 3. per the caller, its IST entries are valid stacks and interrupts are off, so
    // nothing runs between the loads with half-switched segments.
    unsafe {
        CS::set_reg(KERNEL_CODE);
        SS::set_reg(KERNEL_DATA);
        DS::set_reg(KERNEL_DATA);
        ES::set_reg(KERNEL_DATA);
        FS::set_reg(KERNEL_DATA);
        GS::set_reg(KERNEL_DATA);
        load_tss(TSS);
    }
}

/// Current code segment selector.
pub fn code_selector() -> u16 {
    CS::get_reg().0
}

/// Task register (the TSS selector loaded with `ltr`).
pub fn task_register() -> u16 {
    let tr: u16;
    // SAFETY: `str` only reads the task register into a general register.
    unsafe {
        core::arch::asm!("str {0:x}", out(reg) tr, options(nomem, nostack, preserves_flags));
    }
    tr
}

/// Base address of the loaded GDT (`sgdt`).
pub fn loaded_gdt_base() -> u64 {
    ::x86_64::instructions::tables::sgdt().base.as_u64()
}

/// Base address of the GDT this module built, once [`init`] ran.
pub fn gdt_base() -> Option<u64> {
    GDT.get().map(|g| g.entries().as_ptr() as u64)
}
