//! The text console: an 80x25 grid of VGA cells on a linear framebuffer or the VGA text buffer.
//!
//! ```text
//!  bytes (UTF-8 + ANSI) ──> ansi::Parser ──Op──> grid::Grid ──dirty cells──> Backend
//!                           (utf8, cp437)        (cells, cursor)             ├─ render::FramebufferBackend
//!                                                                            │    (font, shapes, framebuffer)
//!                                                                            ├─ vga_text::VgaTextBackend
//!                                                                            │    (TextBuffer, Crtc)
//!                                                                            └─ Headless
//! ```
//!
//! [`Console`] ties the pieces together; the kernel owns one in a global behind an
//! interrupt-disabling lock, feeds it `print!` output, mirrors to serial and ticks it from the
//! timer. Everything here is pure logic that builds for the host as well: no allocation (the
//! console starts before the heap), no hardware access except through the traits
//! [`PixelTarget`], [`TextBuffer`] and [`Crtc`], which the kernel implements over mapped memory
//! and I/O ports.

pub mod ansi;
pub mod backend;
pub mod color;
pub mod cp437;
pub mod facade;
pub mod font;
pub mod framebuffer;
pub mod grid;
pub mod render;
#[cfg(target_os = "none")]
pub mod screen;
pub mod scrollback;
pub mod shapes;
#[cfg(test)]
mod testutil;
pub mod utf8;
pub mod vga_text;

pub use backend::{Backend, Display, Headless, RowStyle};
pub use color::{Color, ColorCode, PALETTE, Rgb};
pub use facade::Console;
pub use font::{FontWeight, Layout, RasterHeight};
pub use framebuffer::{Framebuffer, FramebufferError, FramebufferInfo, PixelFormat, PixelTarget};
pub use grid::{COLS, Cell, Grid, ROWS};
pub use render::FramebufferBackend;
pub use scrollback::{History, SCROLLBACK_LINES};
pub use vga_text::{Crtc, NoCrtc, TextBuffer, VgaTextBackend};
