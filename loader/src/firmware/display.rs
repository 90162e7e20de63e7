//! The GOP framebuffer: pick a mode, switch to it, describe it for the Framebuffer response.

use alloc::vec::Vec;

use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams};
use uefi::proto::console::gop::{GraphicsOutput, PixelFormat as GopFormat};

use loader::video::{self, PixelFormat};

/// The framebuffer the kernel gets.
#[derive(Debug, Clone)]
pub struct Display {
    /// Physical address.
    pub base: u64,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Bytes per row.
    pub pitch: u64,
    /// Pixel layout.
    pub format: PixelFormat,
    /// Every usable mode (for the response's mode list): (mode, pitch in bytes).
    pub modes: Vec<(video::Mode, u64)>,
}

fn format_of(info: &uefi::proto::console::gop::ModeInfo) -> Option<PixelFormat> {
    match info.pixel_format() {
        GopFormat::Rgb => Some(PixelFormat::RGBX),
        GopFormat::Bgr => Some(PixelFormat::BGRX),
        GopFormat::Bitmask => {
            let m = info.pixel_bitmask()?;
            PixelFormat::from_masks(m.red, m.green, m.blue, m.reserved)
        }
        GopFormat::BltOnly => None,
    }
}

/// Switches to the best mode (the `wanted` size if offered) and returns its description, or
/// `None` when there is no GOP or no linear 32-bit mode (the kernel then gets no framebuffer).
pub fn setup(wanted: Option<(u32, u32)>) -> Option<Display> {
    let handle = boot::get_handle_for_protocol::<GraphicsOutput>().ok()?;
    // SAFETY: GetProtocol does not take the GOP away from the console driver (an exclusive
    // open would stop firmware text output, which error reports still need); the loader is the
    // only one changing modes, and it does so once.
    let mut gop = unsafe {
        boot::open_protocol::<GraphicsOutput>(
            OpenProtocolParams {
                handle,
                agent: boot::image_handle(),
                controller: None,
            },
            OpenProtocolAttributes::GetProtocol,
        )
    }
    .ok()?;
    let all: Vec<_> = gop.modes().collect();
    let described: Vec<video::Mode> = all
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (w, h) = m.info().resolution();
            video::Mode {
                number: i as u32,
                width: w as u32,
                height: h as u32,
                format: format_of(m.info()),
            }
        })
        .collect();
    let choice = video::choose(&described, wanted)?;
    let target = &all[choice.number as usize];
    let current = gop.current_mode_info();
    if current.resolution() != target.info().resolution()
        || current.pixel_format() != target.info().pixel_format()
    {
        gop.set_mode(target).ok()?;
    }
    let info = gop.current_mode_info();
    let format = format_of(&info)?;
    let (width, height) = info.resolution();
    let base = gop.frame_buffer().as_mut_ptr() as u64;
    let modes = described
        .iter()
        .zip(&all)
        .filter(|(d, _)| d.format.is_some())
        .map(|(d, m)| (*d, m.info().stride() as u64 * 4))
        .collect();
    Some(Display {
        base,
        width: width as u64,
        height: height as u64,
        pitch: info.stride() as u64 * 4,
        format,
        modes,
    })
}
