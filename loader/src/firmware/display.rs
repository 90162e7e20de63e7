//! The GOP framebuffer: list the modes, switch to the one the library chose, describe it.

use alloc::vec::Vec;

use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams};
use uefi::proto::console::gop::{GraphicsOutput, PixelFormat as GopFormat};

use loader::boot::{Display, DisplayMode};
use loader::video::{self, PixelFormat};

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

/// Opens the GOP without taking it from the console driver.
fn gop() -> Option<uefi::boot::ScopedProtocol<GraphicsOutput>> {
    let handle = boot::get_handle_for_protocol::<GraphicsOutput>().ok()?;
    // SAFETY: GetProtocol does not take the GOP away from the console driver (an exclusive
    // open would stop firmware text output, which error reports still need); the loader is the
    // only one changing modes, and it does so once.
    unsafe {
        boot::open_protocol::<GraphicsOutput>(
            OpenProtocolParams {
                handle,
                agent: boot::image_handle(),
                controller: None,
            },
            OpenProtocolAttributes::GetProtocol,
        )
    }
    .ok()
}

/// Every mode the GOP offers, numbered as the GOP numbers them; empty without a GOP.
pub fn modes() -> Vec<DisplayMode> {
    let Some(gop) = gop() else {
        return Vec::new();
    };
    gop.modes()
        .enumerate()
        .map(|(i, m)| {
            let (w, h) = m.info().resolution();
            DisplayMode {
                mode: video::Mode {
                    number: i as u32,
                    width: w as u32,
                    height: h as u32,
                    format: format_of(m.info()),
                },
                pitch: m.info().stride() as u64 * 4,
            }
        })
        .collect()
}

/// Switches to mode `number` (unless it is the current one) and describes its framebuffer;
/// `None` without a GOP, for an unknown mode, a failed switch or a non-linear pixel layout.
pub fn set_mode(number: u32) -> Option<Display> {
    let mut gop = gop()?;
    let target = gop.modes().nth(number as usize)?;
    let current = gop.current_mode_info();
    if current.resolution() != target.info().resolution()
        || current.pixel_format() != target.info().pixel_format()
    {
        gop.set_mode(&target).ok()?;
    }
    let info = gop.current_mode_info();
    let format = format_of(&info)?;
    let (width, height) = info.resolution();
    Some(Display {
        base: gop.frame_buffer().as_mut_ptr() as u64,
        width: width as u64,
        height: height as u64,
        pitch: info.stride() as u64 * 4,
        format,
    })
}
