//! Messages to the person at the machine: the firmware console while boot services run (OVMF
//! mirrors it to the serial port), COM1 directly afterwards. Also the boot menu.

use core::fmt::{self, Write};
use core::time::Duration;

use uefi::boot::{self, EventType, TimerTrigger, Tpl};
use uefi::proto::console::text::Key;

use super::alloc::boot_services_active;

/// Writes directly to COM1 (used once the firmware console is gone).
struct RawSerial;

impl Write for RawSerial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                serial_byte(b'\r');
            }
            serial_byte(b);
        }
        Ok(())
    }
}

fn serial_byte(b: u8) {
    const COM1: u16 = 0x3f8;
    // SAFETY: polling the line status register and writing the data register of COM1 (as the
    // firmware configured it) has no effect on memory; without a UART the reads return 0xff and
    // the write goes nowhere. The loop is bounded.
    unsafe {
        for _ in 0..100_000 {
            let lsr: u8;
            core::arch::asm!("in al, dx", out("al") lsr, in("dx") COM1 + 5, options(nomem, nostack));
            if lsr & 0x20 != 0 {
                break;
            }
        }
        core::arch::asm!("out dx, al", in("dx") COM1, in("al") b, options(nomem, nostack));
    }
}

/// Prints to the firmware console, or to COM1 after boot services ended.
pub fn print(args: fmt::Arguments<'_>) {
    if boot_services_active() {
        uefi::system::with_stdout(|out| {
            let _ = out.write_fmt(args);
        });
    } else {
        let _ = RawSerial.write_fmt(args);
    }
}

/// `println!` for the loader.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::firmware::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Waits for any key (boot services must be active).
pub fn wait_for_key() {
    let Ok(event) = uefi::system::with_stdin(|input| input.wait_for_key_event()) else {
        return;
    };
    let events = [event];
    let _ = boot::wait_for_event(&events);
    uefi::system::with_stdin(|input| {
        let _ = input.read_key();
    });
}

/// What the person chose in the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Boot this entry (index into the list shown).
    Boot(usize),
}

/// Shows `names`, highlights `default`, and waits up to `timeout` (None: forever) for a digit
/// (choose) or Enter (boot the default). Returns the default when the time runs out.
pub fn menu(names: &[&str], default: usize, timeout: Option<u64>) -> Choice {
    crate::say!("Bundled Limine-protocol loader - boot menu");
    for (i, name) in names.iter().enumerate() {
        crate::say!(
            "  {} {}{}",
            i + 1,
            name,
            if i == default { "  (default)" } else { "" }
        );
    }
    let Ok(key_event) = uefi::system::with_stdin(|input| input.wait_for_key_event()) else {
        return Choice::Boot(default);
    };
    // SAFETY: a plain timer event without a notification function.
    let timer = unsafe { boot::create_event(EventType::TIMER, Tpl::APPLICATION, None, None) };
    let Ok(timer) = timer else {
        return Choice::Boot(default);
    };
    let mut left = timeout;
    loop {
        match left {
            Some(0) => return Choice::Boot(default),
            Some(s) => print(format_args!(
                "\rBooting entry {} in {s} s; press 1-{} to choose, Enter to boot now. ",
                default + 1,
                names.len().min(9)
            )),
            None => print(format_args!(
                "\rPress 1-{} to choose, Enter to boot the default. ",
                names.len().min(9)
            )),
        }
        let _ = boot::set_timer(&timer, TimerTrigger::Relative(Duration::from_secs(1)));
        // SAFETY: both events stay valid for the duration of the wait.
        let events = unsafe { [key_event.unsafe_clone(), timer.unsafe_clone()] };
        match boot::wait_for_event(&events) {
            Ok(0) => {
                let key = uefi::system::with_stdin(|input| input.read_key().ok().flatten());
                match key {
                    Some(Key::Printable(c)) => {
                        let c = char::from(c);
                        if c == '\r' || c == '\n' {
                            print(format_args!("\n"));
                            return Choice::Boot(default);
                        }
                        if let Some(d) = c.to_digit(10) {
                            let d = d as usize;
                            if (1..=names.len()).contains(&d) {
                                print(format_args!("\n"));
                                return Choice::Boot(d - 1);
                            }
                        }
                        left = None;
                    }
                    _ => left = None,
                }
            }
            _ => left = left.map(|s| s - 1),
        }
    }
}
