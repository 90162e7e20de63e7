//! Messages on the VGA text screen (0xb8000, 80x25, as the BIOS and the Multiboot loader left
//! it) and on COM1 (115200 8N1), both at once.

use core::arch::asm;
use core::fmt::{self, Write};

const COM1: u16 = 0x3f8;
const COLS: usize = 80;
const ROWS: usize = 25;
/// Light grey on black.
const ATTR: u8 = 0x07;
const TEXT: usize = 0xb8000;

fn outb(port: u16, value: u8) {
    // SAFETY: only used for COM1 (0x3f8-0x3ff) and the VGA CRTC (0x3d4/0x3d5), fixed PC
    // devices whose registers have no effect on memory.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: as for `outb`: reading COM1's line status register.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// The console: the text cursor's cell.
#[derive(Debug)]
pub struct Console {
    row: usize,
    col: usize,
}

/// The one console (single CPU, interrupts off: no concurrent use).
static mut CONSOLE: Console = Console { row: 0, col: 0 };

/// Sets COM1 up and clears the screen.
pub fn init() {
    outb(COM1 + 1, 0x00); // no interrupts
    outb(COM1 + 3, 0x80); // DLAB
    outb(COM1, 0x01); // divisor 1: 115200 baud
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); // 8N1
    outb(COM1 + 2, 0xc7); // FIFO on, cleared
    outb(COM1 + 4, 0x03); // DTR, RTS
    for i in 0..COLS * ROWS {
        cell(i, b' ');
    }
    with(|c| {
        c.row = 0;
        c.col = 0;
        c.cursor();
    });
}

fn cell(index: usize, byte: u8) {
    if index < COLS * ROWS {
        // SAFETY: 0xb8000..0xb8fa0 is the VGA text buffer (identity-mapped by the entry stub),
        // which no Rust object occupies; the index is bounded to the 80x25 grid.
        unsafe {
            core::ptr::write_volatile(
                (TEXT as *mut u16).add(index),
                u16::from(byte) | (u16::from(ATTR) << 8),
            )
        }
    }
}

fn read_cell(index: usize) -> u16 {
    // SAFETY: as for `cell`.
    unsafe { core::ptr::read_volatile((TEXT as *const u16).add(index.min(COLS * ROWS - 1))) }
}

fn serial(byte: u8) {
    for _ in 0..100_000 {
        if inb(COM1 + 5) & 0x20 != 0 {
            break;
        }
    }
    outb(COM1, byte);
}

fn with<R>(f: impl FnOnce(&mut Console) -> R) -> R {
    // SAFETY: the loader runs on one CPU with interrupts off, so this is the only reference
    // to CONSOLE while `f` runs (`f` never calls back into `with`).
    f(unsafe { &mut *core::ptr::addr_of_mut!(CONSOLE) })
}

impl Console {
    fn newline(&mut self) {
        self.col = 0;
        if self.row + 1 < ROWS {
            self.row += 1;
            return;
        }
        for i in 0..COLS * (ROWS - 1) {
            let v = read_cell(i + COLS);
            cell(i, v as u8);
        }
        for i in 0..COLS {
            cell(COLS * (ROWS - 1) + i, b' ');
        }
    }

    fn put(&mut self, byte: u8) {
        match byte {
            b'\n' => {
                serial(b'\r');
                serial(b'\n');
                self.newline();
            }
            b'\r' => {}
            _ => {
                serial(byte);
                if self.col == COLS {
                    self.newline();
                }
                let printable = if (0x20..0x7f).contains(&byte) {
                    byte
                } else {
                    b'?'
                };
                cell(self.row * COLS + self.col, printable);
                self.col += 1;
            }
        }
    }

    fn cursor(&self) {
        let pos = (self.row * COLS + self.col.min(COLS - 1)) as u16;
        outb(0x3d4, 0x0f);
        outb(0x3d5, pos as u8);
        outb(0x3d4, 0x0e);
        outb(0x3d5, (pos >> 8) as u8);
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            self.put(b);
        }
        Ok(())
    }
}

/// Prints formatted text on both outputs.
pub fn print(args: fmt::Arguments<'_>) {
    with(|c| {
        let _ = c.write_fmt(args);
        c.cursor();
    });
}

/// Prints one line on both outputs.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
