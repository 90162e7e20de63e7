//! The interrupt descriptor table: 256 interrupt gates, one per entry stub in `trap.rs`.
//!
//! Every vector gets a present 64-bit interrupt gate (IF cleared on entry) in the kernel code
//! segment at DPL 0, pointing to its stub. Three vectors switch stacks through the TSS:
//! #DF -> IST1, NMI -> IST2, #MC -> IST3 (see `gdt.rs`). Which Rust code runs for a vector is
//! decided later, in `trap::trap_dispatch`, so the table itself never changes: it is built once
//! into a `spin::Once` and loaded with `lidt` after the once-cell is complete (never while any
//! lock is held).
//!
//! The gates reuse the `x86_64` crate's `Entry` encoding, but as a flat `[Entry; 256]`: the
//! crate's `InterruptDescriptorTable` hides its reserved slots (9, 15, 22-27, 31), and we want a
//! stub behind every vector, reserved or not.

use core::mem::size_of;

use ::x86_64::VirtAddr;
use ::x86_64::instructions::tables::{lidt, sidt};
use ::x86_64::structures::DescriptorTablePointer;
use ::x86_64::structures::idt::{Entry, HandlerFunc};
use spin::Once;

use super::gdt;
use super::trap;

/// The table: 256 gates of 16 bytes.
#[repr(C, align(16))]
struct Idt([Entry<HandlerFunc>; 256]);

static IDT: Once<Idt> = Once::new();

/// IST slot for `vector`, if its handler must run on an interrupt stack.
pub const fn ist_for(vector: u8) -> Option<u8> {
    match vector {
        8 => Some(gdt::DOUBLE_FAULT_IST),
        2 => Some(gdt::NMI_IST),
        18 => Some(gdt::MACHINE_CHECK_IST),
        _ => None,
    }
}

fn build() -> Idt {
    let mut idt = Idt([const { Entry::missing() }; 256]);
    for (vector, entry) in (0..=u8::MAX).zip(idt.0.iter_mut()) {
        let stub = VirtAddr::new(trap::stub_address(vector));
        // SAFETY: `stub` is the entry stub generated for exactly this vector; it expects the
        // frame the CPU pushes for an interrupt gate (plus an error code where the CPU pushes
        // one, which the stub accounts for) and ends in `iretq`.
        let options = unsafe { entry.set_handler_addr(stub) };
        // SAFETY: KERNEL_CODE is the 64-bit code segment of the GDT loaded by `gdt::init`,
        // which runs before this.
        unsafe { options.set_code_selector(gdt::KERNEL_CODE) };
        if let Some(slot) = ist_for(vector) {
            // SAFETY: `gdt::init` pointed this IST slot (1-based here, 0-based in the crate)
            // at a stack used by this one vector alone.
            unsafe { options.set_stack_index(u16::from(slot - 1)) };
        }
    }
    idt
}

/// Builds the table on first use and loads it (`lidt`). Call after `gdt::init`.
pub fn init() {
    let idt = IDT.call_once(build);
    let pointer = DescriptorTablePointer {
        limit: (size_of::<Idt>() - 1) as u16,
        base: VirtAddr::from_ptr(idt),
    };
    // SAFETY: the table is 'static and never modified after `call_once` returns; every gate
    // is valid (see `build`).
    unsafe { lidt(&pointer) };
}

/// Base of the IDT the CPU uses now (`sidt`).
pub fn loaded_base() -> u64 {
    sidt().base.as_u64()
}

/// Base of the table this module built, once [`init`] ran.
pub fn base() -> Option<u64> {
    IDT.get().map(|idt| core::ptr::from_ref(idt) as u64)
}

/// Whether the CPU uses this module's table (every vector has a present gate then).
pub fn is_loaded() -> bool {
    base().is_some_and(|base| base == loaded_base())
}
