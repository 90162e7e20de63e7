//! `print!`/`println!`: formatted output to every console: the screen and COM1.
//!
//! Output is formatted once and each piece goes to both sinks, so the serial terminal and the
//! screen show the same bytes, ANSI colour sequences included. Both sinks take their own
//! interrupt-disabling lock, one after the other (never nested), so printing is safe from any
//! context, interrupt handlers included.

use core::fmt::{self, Write};

/// Sink that forwards formatted pieces to every console.
struct Consoles;

impl Write for Consoles {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        #[cfg(target_os = "none")]
        {
            crate::console::screen::write(s.as_bytes());
            crate::serial::write_bytes(s.as_bytes());
        }
        #[cfg(not(target_os = "none"))]
        let _ = s;
        Ok(())
    }
}

/// Implementation of the printing macros.
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let _ = Consoles.write_fmt(args);
}

/// Writes on the panic path without waiting for locks held by the interrupted code.
pub fn panic_print(args: fmt::Arguments<'_>) {
    struct PanicSink;
    impl Write for PanicSink {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            #[cfg(target_os = "none")]
            {
                crate::serial::panic_write(s.as_bytes());
                crate::console::screen::panic_write(s.as_bytes());
            }
            #[cfg(not(target_os = "none"))]
            let _ = s;
            Ok(())
        }
    }
    let _ = PanicSink.write_fmt(args);
}

/// Prints to the kernel consoles.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print::_print(format_args!($($arg)*)) };
}

/// Prints a line to the kernel consoles.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::print::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
