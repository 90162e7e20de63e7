//! The kernel's screen: one global [`Console`] on the framebuffer or the VGA text buffer.
//!
//! [`init`] picks the backend from the boot information: the loader's framebuffer when there
//! is one (mapped write-combining by the memory module: the kernel's HHDM covers RAM only),
//! otherwise the VGA text buffer at physical 0xb8000, mapped uncached by the kernel as well,
//! with the cursor moved through the CRTC ports.
//!
//! The console lock disables interrupts while held; [`write`] (every `print!`) only holds it to
//! interpret bytes on the grid. Drawing has two modes:
//!
//! - During the boot, [`write`] also draws, at most every [`PRESENT_INTERVAL_NS`] (a full-screen
//!   scroll rewrites megabytes of framebuffer, which costs milliseconds under emulation);
//!   [`flush`] draws whatever is pending (at the end of the boot, and in test kernels, which
//!   run no presenter).
//! - Once [`set_deferred`] is on, [`write`] never draws: a presenter calls [`present_pending`]
//!   about 60 times a second, and [`blink`] sets the cursor phase. Only [`present_pending`],
//!   [`flush`] and the panic path draw.
//!
//! Drawing takes a snapshot of the view under the lock (a copy of 4 KiB of cells), then draws
//! its changed rows one at a time, taking the lock for each row only: interrupts are held off
//! for one text row at most (a fraction of a millisecond), not for a whole-screen redraw, and
//! output written meanwhile waits for the next snapshot, so no half-updated row shows.
//! [`present_pending`] costs one atomic load when nothing changed.

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
/// [`set_deferred`]: [`write`] never draws.
static DEFERRED: AtomicBool = AtomicBool::new(false);
/// Something changed since the last snapshot (output, scrolling, blink phase, colours).
static DIRTY: AtomicBool = AtomicBool::new(true);
/// Blink phase [`blink`] asked for.
static BLINK_ON: AtomicBool = AtomicBool::new(true);

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

/// Interprets `bytes` (text and ANSI escapes) on the grid. Before [`set_deferred`], also draws
/// if the last draw is old enough; after, never. A scrolled-back view returns to the live screen.
pub fn write(bytes: &[u8]) {
    feed(bytes, false);
}

/// [`write`], optionally keeping a scrolled-back view where it is.
fn feed(bytes: &[u8], keep_view: bool) {
    let mut console = CONSOLE.lock();
    if keep_view {
        console.feed_keep_view(bytes);
    } else {
        console.feed(bytes);
    }
    DIRTY.store(true, Ordering::Release);
    if !ATTACHED.load(Ordering::Relaxed) || DEFERRED.load(Ordering::Relaxed) {
        return;
    }
    let now = crate::time::nanos_since_entry();
    if now.saturating_sub(LAST_PRESENT_NS.load(Ordering::Relaxed)) >= PRESENT_INTERVAL_NS
        || now == 0
    {
        drop(console);
        DIRTY.store(false, Ordering::Release);
        draw();
    }
}

/// From `true` on, [`write`] only interprets bytes and never draws; drawing is left to
/// [`present_pending`] (a presenter task), [`flush`] and the panic path. `false` goes back to
/// drawing from [`write`] (throttled), as during the boot.
pub fn set_deferred(on: bool) {
    DEFERRED.store(on, Ordering::Release);
}

/// Whether [`set_deferred`] is on.
pub fn deferred() -> bool {
    DEFERRED.load(Ordering::Acquire)
}

/// Draws what changed since the last draw; returns whether anything was drawn. One atomic
/// load when nothing changed. Interrupts are held off for one text row at a time (see the
/// module docs), so a task can call it with interrupts on.
pub fn present_pending() -> bool {
    if !ATTACHED.load(Ordering::Acquire) || !DIRTY.swap(false, Ordering::AcqRel) {
        return false;
    }
    draw();
    true
}

/// Snapshot, then draw the snapshot's rows one per lock hold.
fn draw() {
    {
        let mut console = CONSOLE.lock();
        console.set_blink(BLINK_ON.load(Ordering::Acquire));
        console.snapshot();
    }
    // Another drawer (an interrupt handler calling `flush`) may finish the rows meanwhile;
    // each row is drawn once either way.
    while CONSOLE.lock().paint_rows(1) {}
    LAST_PRESENT_NS.store(crate::time::nanos_since_entry(), Ordering::Relaxed);
}

/// Draws everything pending now.
pub fn flush() {
    if ATTACHED.load(Ordering::Acquire) {
        DIRTY.store(false, Ordering::Release);
        draw();
    }
}

/// Sets the blink phase of the cursor and of blinking cells (true: visible); draws nothing,
/// the next [`present_pending`] or [`flush`] does.
pub fn blink(on: bool) {
    if BLINK_ON.swap(on, Ordering::AcqRel) != on {
        DIRTY.store(true, Ordering::Release);
    }
}

/// Moves the view `lines` rows back into the scrollback (at most to its oldest row).
pub fn scroll_back(lines: usize) {
    scroll(|c| c.scroll_back(lines));
}

/// Moves the view `lines` rows forward; at the end it is the live screen again.
pub fn scroll_forward(lines: usize) {
    scroll(|c| c.scroll_forward(lines));
}

/// Moves the view one page (the scroll region's height minus one) back.
pub fn scroll_page_up() {
    scroll(|c| c.scroll_back(c.page_lines()));
}

/// Moves the view one page forward.
pub fn scroll_page_down() {
    scroll(|c| c.scroll_forward(c.page_lines()));
}

/// Rows the view is scrolled back (0: live).
pub fn scrollback_offset() -> usize {
    CONSOLE.lock().scrollback_offset()
}

fn scroll(f: impl FnOnce(&mut Screen)) {
    f(&mut CONSOLE.lock());
    DIRTY.store(true, Ordering::Release);
    if !DEFERRED.load(Ordering::Relaxed) {
        present_pending();
    }
}

/// Makes `fg` on `bg` what SGR 0 (`\x1b[0m`, which ends every log line's level) and erasing
/// fall back to, for good; text of the scroll region (and of the scrollback) in the old default
/// colours takes the new ones. The title bar, outside the region, keeps its colours. A bright background loses its intensity bit.
pub fn set_default_colors(fg: super::Color, bg: super::Color) {
    CONSOLE.lock().set_default_colors(fg, bg);
    DIRTY.store(true, Ordering::Release);
    if !DEFERRED.load(Ordering::Relaxed) {
        present_pending();
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
    // A status update: a scrolled-back view stays where it is.
    feed(s.as_bytes(), true);
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
        // Output returns the view to the live screen; drawn at once, whatever the mode.
        c.write_bytes(bytes);
    }
}

/// Pins the title bar: only rows 2-25 scroll, and the cursor goes to row 2 (screen only: a
/// serial terminal keeps its own scrolling).
pub fn pin_title() {
    write(b"\x1b[2;25r\x1b[2;1H");
}

/// After the screen was cleared: the title bar again on row 1 (the uptime reappears with the
/// next second), the scrolling region pinned below it and the cursor at the start of row 2.
/// Screen only.
pub fn restore_title() {
    write(b"\x1b[r\x1b[1;1H");
    write(banner().as_bytes());
    pin_title();
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

    /// The pixel at `(dx, dy)` of cell `(row, col)` on the framebuffer console, if there is one.
    fn cell_pixel(row: usize, col: usize, dx: usize, dy: usize) -> Option<u32> {
        let fb = boot_info().framebuffer?;
        with(|c| match c.backend() {
            Display::Framebuffer(b) => {
                let layout = b.layout()?;
                let (x, y) = layout.cell_origin(row, col);
                let at = (y + dy) * fb.pitch as usize + (x + dx) * 4;
                let p = b.target()?.buf_for_tests().get(at..at + 4)?;
                Some(u32::from_le_bytes([p[0], p[1], p[2], p[3]]))
            }
            _ => None,
        })
    }

    ktest! {
        fn deferred_output_waits_for_present_pending() -> TestResult {
            // With interrupts off nothing can draw in between.
            let was_enabled = crate::arch::cpu::disable_interrupts_save();
            set_deferred(true);
            flush();
            let idle = present_pending();
            write("\x1b[s\x1b[24;1H\x1b[32;41m\u{2588}\x1b[0m\x1b[u".as_bytes());
            let before = cell_pixel(23, 0, 1, 1);
            let waiting = with(|c| c.needs_present());
            let drew = present_pending();
            let after = cell_pixel(23, 0, 1, 1);
            let again = present_pending();
            let phase = BLINK_ON.load(Ordering::Relaxed);
            blink(!phase);
            let blinked = present_pending();
            blink(phase);
            let _ = present_pending();
            set_deferred(false);
            crate::arch::cpu::restore_interrupts(was_enabled);

            kassert!(!idle, "nothing was pending after a flush");
            kassert!(waiting, "a deferred write left nothing pending");
            kassert!(drew && !again, "present_pending: drew {drew}, then again {again}");
            kassert!(blinked, "a blink phase change is drawn");
            if let (Some(fb), Some(before), Some(after)) = (boot_info().framebuffer, before, after) {
                let green = pixel_format(&fb).encode(Color::Green.rgb());
                kassert!(before != green, "drawn before present_pending");
                kassert_eq!(after, green);
            }
            Ok(())
        }
    }

    ktest! {
        fn scrollback_moves_the_view_and_output_returns() -> TestResult {
            for i in 0..60 {
                let mut s: heapless::String<32> = heapless::String::new();
                let _ = core::fmt::Write::write_fmt(&mut s, format_args!("\r\nscroll test {i}"));
                write(s.as_bytes());
            }
            scroll_back(3);
            let back = scrollback_offset();
            scroll_page_up();
            let paged = scrollback_offset();
            show_uptime(1);
            let kept = scrollback_offset();
            scroll_page_down();
            let down = scrollback_offset();
            write(b"\r\n");
            let live = scrollback_offset();
            let page = with(|c| c.page_lines());
            kassert_eq!((back, paged, kept, down, live), (3, 3 + page, 3 + page, 3, 0));
            kassert_eq!(page, 23);
            Ok(())
        }
    }

    ktest! {
        fn default_colors_outlast_log_lines() -> TestResult {
            set_default_colors(Color::White, Color::Blue);
            log::info!("coloured marker");
            let attr = with(|c| c.grid().attr());
            set_default_colors(Color::LightGray, Color::Black);
            let back = with(|c| c.grid().attr());
            kassert_eq!(attr, ColorCode::new(Color::White, Color::Blue));
            kassert_eq!(back, ColorCode::DEFAULT);
            Ok(())
        }
    }
}
