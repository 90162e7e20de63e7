//! The legacy 8259 PIC pair, through the `pic8259` crate: remapped to vectors 32-47.

use pic8259::ChainedPics;
use x86_64::instructions::port::Port;

use crate::sync::IrqMutex;

/// Vector of IRQ 0 (the master PIC's base); IRQ n arrives at `PIC_BASE + n`.
pub const PIC_BASE: u8 = 32;

// SAFETY: 32 and 40 are free vectors above the 32 CPU exceptions, so the PICs never signal
// an exception vector.
const CHAINED: ChainedPics = unsafe { ChainedPics::new(PIC_BASE, PIC_BASE + 8) };

static PICS: IrqMutex<ChainedPics> = IrqMutex::new(CHAINED);

/// Remaps both PICs to 32-47 and masks every line (the loader leaves them masked but at the
/// BIOS vectors 8-15, where a spurious IRQ 7 would look like a double fault).
pub fn init_masked() {
    let mut pics = PICS.lock();
    // SAFETY: the PICs are programmed from here only; remapping and masking does not touch
    // memory. Interrupts are off while the lock is held.
    unsafe {
        pics.initialize();
        pics.write_masks(0xff, 0xff);
    }
}

/// Unmasks ISA IRQ `irq` (and the cascade line 2 for slave IRQs).
pub fn unmask(irq: u8) {
    let mut pics = PICS.lock();
    // SAFETY: reading and writing the mask registers only changes which lines are delivered.
    unsafe {
        let [mut master, mut slave] = pics.read_masks();
        if irq < 8 {
            master &= !(1 << irq);
        } else if irq < 16 {
            slave &= !(1 << (irq - 8));
            master &= !(1 << 2);
        }
        pics.write_masks(master, slave);
    }
}

/// Masks ISA IRQ `irq`.
pub fn mask(irq: u8) {
    let mut pics = PICS.lock();
    // SAFETY: as for `unmask`.
    unsafe {
        let [mut master, mut slave] = pics.read_masks();
        if irq < 8 {
            master |= 1 << irq;
        } else if irq < 16 {
            slave |= 1 << (irq - 8);
        }
        pics.write_masks(master, slave);
    }
}

/// Whether IRQ `irq` (7 or 15) is really in service, i.e. not a spurious interrupt: reads the
/// in-service register of the PIC that raised it (OCW3 0x0b, then the command port).
pub fn in_service(irq: u8) -> bool {
    let (port, bit) = if irq < 8 {
        (0x20, irq)
    } else {
        (0xa0, irq - 8)
    };
    let mut cmd = Port::<u8>::new(port);
    // SAFETY: OCW3 "read ISR" then one read of the command port; no other state changes.
    let isr = unsafe {
        cmd.write(0x0b);
        cmd.read()
    };
    isr & (1 << bit) != 0
}

/// End of interrupt for `vector` (both PICs when it came through the slave).
pub fn eoi(vector: u8) {
    // SAFETY: `vector` is a PIC vector that was delivered and is being completed.
    unsafe { PICS.lock().notify_end_of_interrupt(vector) }
}

/// End of interrupt to the master only: for a spurious IRQ 15, the slave must not get an EOI
/// (nothing is in service there) but the master's cascade line 2 was acknowledged.
pub fn eoi_master_only() {
    let mut cmd = Port::<u8>::new(0x20);
    // SAFETY: a non-specific EOI to the master PIC only completes its in-service cascade line.
    unsafe { cmd.write(0x20) };
}
