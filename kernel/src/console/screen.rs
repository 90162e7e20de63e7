//! The kernel's screen: one global [`Console`] on the framebuffer or the VGA text buffer.
//!
//! [`init`] picks the backend from the boot information: the loader's framebuffer when there
//! is one (mapped write-combining by the memory module: the kernel's HHDM covers RAM only),
//! otherwise the VGA text buffer at physical 0xb8000, mapped uncached by the kernel as well,
//! with the cursor moved through the CRTC ports.
//!
//! The console lock disables interrupts while held. Drawing is throttled: changes are drawn at
//! most every [`PRESENT_INTERVAL_NS`] (a full-screen scroll rewrites megabytes of framebuffer,
//! which costs milliseconds under emulation); [`flush`] draws whatever is pending and is called
//! by the timer, at the end of the boot and on panics.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{
    Console, Display, Framebuffer, FramebufferBackend, FramebufferError, FramebufferInfo, Layout,
    PixelFormat,
};
use crate::arch::paging::WindowError;
use crate::arch::stop::Stopped;
use crate::arch::vga::{PortCrtc, TEXT_BUFFER_PHYS, TextMemory};
use crate::boot::BootInfo;
use crate::sync::IrqMutex;

type Screen = Console<Display<'static, TextMemory, PortCrtc>>;

static CONSOLE: IrqMutex<Screen> = IrqMutex::new(Console::new(Display::Framebuffer(
    FramebufferBackend::new(),
)));
static ATTACHED: AtomicBool = AtomicBool::new(false);
static LAST_PRESENT_NS: AtomicU64 = AtomicU64::new(0);

/// The console's text buffer is the arch module's mapped 0xb8000 handle.
impl super::TextBuffer for TextMemory {
    fn write_cell(&mut self, index: usize, value: u16) {
        TextMemory::write_cell(self, index, value);
    }
}

/// The console's CRTC is the arch module's port pair.
impl super::Crtc for PortCrtc {
    fn write_register(&mut self, index: u8, value: u8) {
        PortCrtc::write_register(self, index, value);
    }
}

/// Longest time changes wait before they are drawn (about 60 frames per second).
pub const PRESENT_INTERVAL_NS: u64 = 16_000_000;

/// Physical address of the VGA colour text buffer.
pub const VGA_TEXT_PHYS: u64 = TEXT_BUFFER_PHYS;

/// What the screen ended up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenKind {
    /// The framebuffer, with this layout.
    Framebuffer(Layout),
    /// The VGA text buffer.
    VgaText,
    /// No screen: serial only.
    None,
}

/// Why the screen could not be attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenError {
    /// The framebuffer is unusable.
    Framebuffer(FramebufferError),
    /// Mapping the framebuffer or the VGA text buffer failed.
    Map(crate::memory::MapError),
    /// The mapping does not hold the framebuffer or the VGA text buffer.
    Window(WindowError),
    /// Another handle owns the framebuffer or the CRTC.
    InUse,
}

impl core::fmt::Display for ScreenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Framebuffer(e) => write!(f, "framebuffer unusable: {e}"),
            Self::Map(e) => write!(f, "cannot map the display memory: {e}"),
            Self::Window(e) => write!(f, "display memory unusable: {e}"),
            Self::InUse => f.write_str("the display is already in use"),
        }
    }
}

impl core::error::Error for ScreenError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Framebuffer(e) => Some(e),
            Self::Map(e) => Some(e),
            Self::Window(e) => Some(e),
            Self::InUse => None,
        }
    }
}

/// The console's description of the loader's pixel layout.
pub fn pixel_format(fb: &crate::boot::info::FramebufferInfo) -> PixelFormat {
    PixelFormat {
        red_size: fb.red_size,
        red_shift: fb.red_shift,
        green_size: fb.green_size,
        green_shift: fb.green_shift,
        blue_size: fb.blue_size,
        blue_shift: fb.blue_shift,
    }
}

/// Attaches the screen described by `info`; on error the console stays serial-only.
pub fn init(info: &BootInfo) -> Result<ScreenKind, ScreenError> {
    let kind = match &info.framebuffer {
        Some(fb) => {
            let format = pixel_format(fb);
            let fb_info = FramebufferInfo {
                width: fb.width as usize,
                height: fb.height as usize,
                pitch: fb.pitch as usize,
                bpp: fb.bpp,
                format,
            };
            fb_info.validate().map_err(ScreenError::Framebuffer)?;
            // The boot module declared the loader's framebuffer to `arch`; the kernel maps it
            // write-combining in its own tables (the HHDM covers RAM only), and the console is
            // its only user from now on. It only ever writes.
            let window = crate::memory::map_framebuffer(fb.phys, fb.size_bytes())
                .map_err(ScreenError::Map)?;
            let buf = crate::arch::framebuffer::take(window).map_err(|e| match e {
                crate::arch::framebuffer::TakeError::Window(w) => ScreenError::Window(w),
                _ => ScreenError::InUse,
            })?;
            let framebuffer = Framebuffer::new(buf, fb_info).map_err(ScreenError::Framebuffer)?;
            let layout = CONSOLE
                .lock()
                .attach_framebuffer(framebuffer)
                .map_err(ScreenError::Framebuffer)?;
            ScreenKind::Framebuffer(layout)
        }
        None => {
            // With no framebuffer the machine was booted in text mode: the buffer, mapped
            // uncached, and the CRTC ports are the console's alone.
            let window =
                crate::memory::map_mmio(VGA_TEXT_PHYS, 80 * 25 * 2).map_err(ScreenError::Map)?;
            let buffer = TextMemory::from_window(window).map_err(ScreenError::Window)?;
            let crtc = PortCrtc::take().ok_or(ScreenError::InUse)?;
            CONSOLE.lock().attach_vga_text(buffer, crtc);
            ScreenKind::VgaText
        }
    };
    ATTACHED.store(true, Ordering::Release);
    Ok(kind)
}

/// Whether a screen is attached.
pub fn attached() -> bool {
    ATTACHED.load(Ordering::Acquire)
}

/// Interprets `bytes` (text and ANSI escapes) on the grid; draws if the last draw is old enough.
pub fn write(bytes: &[u8]) {
    let mut console = CONSOLE.lock();
    console.feed(bytes);
    if !ATTACHED.load(Ordering::Relaxed) {
        return;
    }
    let now = crate::time::nanos_since_entry();
    if now.saturating_sub(LAST_PRESENT_NS.load(Ordering::Relaxed)) >= PRESENT_INTERVAL_NS
        || now == 0
    {
        console.present();
        LAST_PRESENT_NS.store(now, Ordering::Relaxed);
    }
}

/// Draws everything pending.
pub fn flush() {
    if ATTACHED.load(Ordering::Acquire) {
        CONSOLE.lock().present();
        LAST_PRESENT_NS.store(crate::time::nanos_since_entry(), Ordering::Relaxed);
    }
}

/// Advances the cursor/blink phase (the timer calls this about twice a second) and draws.
pub fn tick(blink_on: bool) {
    if ATTACHED.load(Ordering::Acquire) {
        let mut console = CONSOLE.lock();
        console.tick(blink_on);
        console.present();
    }
}

/// Shows `seconds` of uptime as `up HH:MM:SS` in the title bar (columns 52-62 of row 1; the
/// screen only, the cursor and colours are restored).
pub fn show_uptime(seconds: u64) {
    use core::fmt::Write;
    let mut s: heapless::String<48> = heapless::String::new();
    let (h, m, sec) = (seconds / 3600, (seconds / 60) % 60, seconds % 60);
    let _ = write!(
        s,
        "\x1b7\x1b[1;52H\x1b[1;37;44mup {:02}:{m:02}:{sec:02}\x1b8",
        h.min(99)
    );
    write(s.as_bytes());
}

/// Runs `f` on the console (tests: inspect the grid).
pub fn with<R>(f: impl FnOnce(&mut Screen) -> R) -> R {
    f(&mut CONSOLE.lock())
}

/// Writes in the last words of a panic or fatal exception, taking the lock over if the
/// interrupted code holds it (see `arch::stop`), then draws at once.
pub fn panic_write(stopped: &mut Stopped, bytes: &[u8]) {
    if !ATTACHED.load(Ordering::Acquire) {
        return;
    }
    if let Some(mut c) = stopped.lock(&CONSOLE) {
        c.write_bytes(bytes);
    }
}

/// The first screen line: a title bar with the 16-colour palette at its right end (the
/// screendump test finds the colours there).
pub fn banner() -> heapless::String<512> {
    use core::fmt::Write;
    let mut s = heapless::String::new();
    let title = concat!(
        " Rust kernel ",
        env!("CARGO_PKG_VERSION"),
        " | x86_64 | Limine protocol"
    );
    let _ = write!(s, "\x1b[1;37;44m{title:<64}");
    for i in 0..16u8 {
        // ANSI colour numbers in VGA order: SGR 30-37 / 90-97 map VGA index i.
        let sgr = [
            30, 34, 32, 36, 31, 35, 33, 37, 90, 94, 92, 96, 91, 95, 93, 97,
        ][usize::from(i)];
        let _ = write!(s, "\x1b[22;{sgr}m\u{2588}");
    }
    let _ = writeln!(s, "\x1b[0m");
    s
}

#[cfg(feature = "ktest")]
mod ktests {
    use super::*;
    use crate::boot::boot_info;
    use crate::console::{Cell, Color, ColorCode};
    use crate::{kassert, kassert_eq, ktest};

    ktest! {
        fn printed_cells_reach_the_grid_and_the_framebuffer() -> TestResult {
            // Full block in red on blue at row 24, column 1, then a blank in the same colours.
            // Screen only: the serial line carries the KTAP report.
            write("\x1b[s\x1b[24;1H\x1b[31;44m\u{2588} \x1b[0m\x1b[u".as_bytes());
            flush();
            let attr = ColorCode::new(Color::Red, Color::Blue);
            let row = with(|c| c.grid().row(23).map(|r| (r[0], r[1])));
            kassert_eq!(row, Some((Cell::new(0xdb, attr), Cell::new(b' ', attr))));
            let Some(fb) = boot_info().framebuffer else {
                return Ok(()); // text-mode boot: the grid check is all there is
            };
            let layout = with(|c| match c.backend() {
                Display::Framebuffer(b) => b.layout().copied(),
                _ => None,
            });
            kassert!(layout.is_some(), "framebuffer console has no layout");
            let Some(layout) = layout else { return Ok(()) };
            let format = pixel_format(&fb);
            // Read back through the console's own framebuffer memory (slow on write-combining
            // memory, but harmless); a point outside it reads as 0.
            let pixel = |row: usize, col: usize, dx: usize, dy: usize| -> u32 {
                let (x, y) = layout.cell_origin(row, col);
                let at = (y + dy) * fb.pitch as usize + (x + dx) * 4;
                with(|c| match c.backend() {
                    Display::Framebuffer(b) => b
                        .target()
                        .and_then(|t| t.buf_for_tests().get(at..at + 4))
                        .map_or(0, |p| u32::from_le_bytes([p[0], p[1], p[2], p[3]])),
                    _ => 0,
                })
            };
            let (w, h) = (layout.cell_pixels_x(), layout.cell_pixels_y());
            let red = format.encode(Color::Red.rgb());
            let blue = format.encode(Color::Blue.rgb());
            for (dx, dy) in [(0, 0), (w / 2, h / 2), (w - 1, h - 1)] {
                kassert_eq!(pixel(23, 0, dx, dy), red);
                kassert_eq!(pixel(23, 1, dx, dy), blue);
            }
            Ok(())
        }
    }

    ktest! {
        fn banner_carries_the_whole_palette() -> TestResult {
            let b = banner();
            kassert!(b.starts_with("\x1b[1;37;44m Rust kernel"));
            kassert_eq!(b.matches('\u{2588}').count(), 16);
            Ok(())
        }
    }
}
