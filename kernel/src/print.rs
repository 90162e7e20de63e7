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

/// Writes to every console in the last words of a panic or fatal exception, without waiting
/// for locks held by the interrupted code (see `arch::stop`).
#[cfg(target_os = "none")]
pub fn panic_print(stopped: &mut crate::arch::stop::Stopped, args: fmt::Arguments<'_>) {
    struct PanicSink<'s>(&'s mut crate::arch::stop::Stopped);
    impl Write for PanicSink<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            crate::serial::panic_write(self.0, s.as_bytes());
            crate::console::screen::panic_write(self.0, s.as_bytes());
            Ok(())
        }
    }
    let _ = PanicSink(stopped).write_fmt(args);
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
