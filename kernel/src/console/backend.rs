//! What the console draws on: the [`Backend`] trait and its implementations side by side.
//!
//! Key items: [`Backend`] (draw changed cells of one row, place the cursor, forget the screen),
//! [`RowStyle`] (cursor and blink state for software-drawn cursors), [`Headless`] (draws
//! nothing: serial-only machines and tests) and [`Display`] (one of headless, framebuffer or VGA
//! text, chosen at boot). The implementations are [`super::render::FramebufferBackend`] and
//! [`super::vga_text::VgaTextBackend`]; [`super::Console`] drives them from the grid.

use super::framebuffer::Framebuffer;
use super::grid::{COLS, Cell};
use super::render::FramebufferBackend;
use super::vga_text::{Crtc, TextBuffer, VgaTextBackend};

/// How the cells of one row look beyond their glyph and attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowStyle {
    /// The column showing the underline cursor, if the cursor is on this row and in its visible
    /// phase (only for backends with [`Backend::soft_cursor`]).
    pub cursor_col: Option<usize>,
    /// Blink "off" phase: cells with the blink bit show their background colour in place of the
    /// foreground (only for backends with [`Backend::soft_cursor`]).
    pub blink_off: bool,
}

/// A display the console can draw cells on.
pub trait Backend {
    /// Whether the backend draws the cursor and blinking itself, in software (the framebuffer),
    /// or leaves both to hardware (VGA text mode). Software backends get the cursor cell and the
    /// blinking cells redrawn on every blink tick.
    fn soft_cursor(&self) -> bool;

    /// Brings row `row` up to date: bit `c` of `changed` says cell `c` may have changed (a
    /// backend may skip cells that look the same as what it last drew).
    fn draw_row(&mut self, row: usize, cells: &[Cell; COLS], changed: u128, style: RowStyle);

    /// Shows the cursor at `(row, col)`, or hides it (`None`). Software backends ignore this
    /// (the cursor arrives through [`RowStyle`]).
    fn set_cursor(&mut self, cursor: Option<(usize, usize)>);

    /// Forgets what is on screen and clears what the grid does not cover (the framebuffer's
    /// border), so that drawing every cell afterwards repaints the whole display.
    fn reset(&mut self);
}

/// A backend that draws nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headless;

impl Backend for Headless {
    fn soft_cursor(&self) -> bool {
        false
    }

    fn draw_row(&mut self, _row: usize, _cells: &[Cell; COLS], _changed: u128, _style: RowStyle) {}

    fn set_cursor(&mut self, _cursor: Option<(usize, usize)>) {}

    fn reset(&mut self) {}
}

/// The display chosen at boot: nothing, a linear framebuffer or the VGA text buffer.
///
/// The framebuffer variant is large (about 95 KiB of glyph and colour tables), so a `static`
/// console should start as `Display::Framebuffer(FramebufferBackend::new())` (it draws nothing
/// until attached) and be attached in place, see [`super::Console::attach_framebuffer`].
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "lives in a static; there is no heap to box it in"
)]
pub enum Display<'a, T, C> {
    /// No screen: output goes to serial only.
    Headless,
    /// A linear framebuffer (UEFI GOP, or any 32-bpp mode).
    Framebuffer(FramebufferBackend<Framebuffer<'a>>),
    /// The VGA text buffer at 0xb8000 and the CRTC cursor registers.
    VgaText(VgaTextBackend<T, C>),
}

impl<T: TextBuffer, C: Crtc> Backend for Display<'_, T, C> {
    fn soft_cursor(&self) -> bool {
        match self {
            Display::Headless => false,
            Display::Framebuffer(fb) => fb.soft_cursor(),
            Display::VgaText(vga) => vga.soft_cursor(),
        }
    }

    fn draw_row(&mut self, row: usize, cells: &[Cell; COLS], changed: u128, style: RowStyle) {
        match self {
            Display::Headless => {}
            Display::Framebuffer(fb) => fb.draw_row(row, cells, changed, style),
            Display::VgaText(vga) => vga.draw_row(row, cells, changed, style),
        }
    }

    fn set_cursor(&mut self, cursor: Option<(usize, usize)>) {
        match self {
            Display::Headless => {}
            Display::Framebuffer(fb) => fb.set_cursor(cursor),
            Display::VgaText(vga) => vga.set_cursor(cursor),
        }
    }

    fn reset(&mut self) {
        match self {
            Display::Headless => {}
            Display::Framebuffer(fb) => fb.reset(),
            Display::VgaText(vga) => vga.reset(),
        }
    }
}
