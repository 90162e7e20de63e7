//! The shell task: keys from the PS/2 keyboard and the serial line at once, fed to the pure
//! [`Shell`], whose output goes to every console (screen and COM1).

use core::fmt;
use core::future::poll_fn;
use core::pin::pin;
use core::task::Poll;

use heapless::Deque;

use crate::drivers::keyboard::{KEYBOARD, Keys};
use crate::input::Key;
use crate::serial::SERIAL_IN;
use crate::shell::commands::ShellHost;
use crate::shell::{Shell, Step};
use crate::task::executor::Spawner;
use crate::task::stream::{ESC_TIMEOUT_NS, SerialKeys};
use crate::time::TIMERS;

/// Columns of the console the line editor wraps for.
const WIDTH: usize = 80;

/// Keys typed during a `sleep` and replayed after it.
const TYPE_AHEAD: usize = 64;

/// The shell's output: every console.
struct Out;

impl fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::print!("{s}");
        Ok(())
    }
}

/// Both key sources as one: the keyboard first, then the serial line.
struct Input<'a> {
    keyboard: Keys<'a, 256>,
    serial: SerialKeys<'a, 256>,
}

impl Input<'_> {
    async fn next(&mut self) -> Key {
        poll_fn(|cx| {
            if let Poll::Ready(k) = self.keyboard.poll_key(cx) {
                return Poll::Ready(k);
            }
            self.serial.poll_key(cx)
        })
        .await
    }
}

/// Waits `ms` milliseconds for a `sleep` command; Ctrl-C ends it early, other keys are kept
/// for afterwards (up to [`TYPE_AHEAD`]). Returns whether it was interrupted.
async fn sleep_command(ms: u64, input: &mut Input<'_>, kept: &mut Deque<Key, TYPE_AHEAD>) -> bool {
    let mut sleep = pin!(crate::time::sleep(ms.saturating_mul(1_000_000)));
    loop {
        let key = poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(k) = input.keyboard.poll_key(cx) {
                return Poll::Ready(Some(k));
            }
            input.serial.poll_key(cx).map(Some)
        })
        .await;
        match key {
            None => return false,
            Some(Key::INTERRUPT) => return true,
            Some(k) => {
                let _ = kept.push_back(k);
            }
        }
    }
}

/// Output to the screen only (what the serial terminal must not see twice).
struct ScreenOnly;

impl fmt::Write for ScreenOnly {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::console::screen::write(s.as_bytes());
        Ok(())
    }
}

/// What a key asks of the screen beyond the shell's output.
fn screen_step(step: Step, shell: &mut Shell) {
    match step {
        // The clear took the title bar with it and left the prompt on row 1.
        Step::Cleared => {
            crate::console::screen::restore_title();
            let _ = shell.editor_mut().refresh(&mut ScreenOnly);
        }
        Step::ScrollUp => crate::console::screen::scroll_page_up(),
        Step::ScrollDown => crate::console::screen::scroll_page_down(),
        Step::Continue | Step::Sleep(_) => {}
    }
}

/// The shell task: runs until the machine stops.
pub async fn run(spawner: Spawner) {
    let mut host = super::host::KernelHost::new(spawner);
    session(&mut host).await;
}

/// Reads keys and runs the shell with `host` for the commands' effects. Never returns.
pub async fn session(host: &mut impl ShellHost) {
    let mut shell = Shell::new();
    shell.editor_mut().set_width(WIDTH);
    let mut input = Input {
        keyboard: Keys::new(&KEYBOARD),
        serial: SerialKeys::new(&SERIAL_IN, &TIMERS, ESC_TIMEOUT_NS),
    };
    let mut kept: Deque<Key, TYPE_AHEAD> = Deque::new();
    let _ = shell.start(&mut Out);
    loop {
        let key = match kept.pop_front() {
            Some(k) => k,
            None => input.next().await,
        };
        let Ok(step) = shell.key(key, host, &mut Out) else {
            continue;
        };
        if let Step::Sleep(ms) = step {
            if sleep_command(ms, &mut input, &mut kept).await {
                crate::print!("^C\r\n");
            }
            let _ = shell.resume(&mut Out);
        } else {
            screen_step(step, &mut shell);
        }
    }
}
