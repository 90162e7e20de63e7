//! Screendumps of VGA text mode (BIOS boots): QEMU renders the 80x25 text grid itself, at
//! 720x400 (9x16 cells) or 640x400 (8x16), so the cell geometry follows from the image size
//! instead of the kernel's boot log.

use crate::screen::{Geometry, Image};

/// The cell geometry of a text-mode screendump; `None` if the image is not an 80x25 text
/// screen (a graphics framebuffer is larger).
pub fn geometry(img: &Image) -> Option<Geometry> {
    let text = matches!((img.width, img.height), (720, 400) | (640, 400));
    text.then_some(Geometry {
        cell_w: img.width / 80,
        cell_h: img.height / 25,
        x: 0,
        y: 0,
    })
}

/// Checks that `img` is VGA text mode showing the boot banner (as `screen::check_banner`
/// describes it) at its cells. Returns the problems found.
pub fn check_banner(img: &Image) -> Vec<String> {
    match geometry(img) {
        Some(geo) => crate::screen::check_banner(img, &geo),
        None => vec![format!(
            "the screen is {}x{} pixels, not VGA text mode (720x400 or 640x400)",
            img.width, img.height
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::PALETTE;

    fn text_screen(banner: bool) -> Image {
        let (width, height) = (720, 400);
        let mut rgb = vec![0u8; width * height * 3];
        if banner {
            for y in 0..16 {
                for x in 0..width {
                    let col = x / 9;
                    let c = match col {
                        64.. => PALETTE[col - 64],
                        1..=5 if (3..5).contains(&(x % 9)) && (4..12).contains(&y) => PALETTE[15],
                        _ => PALETTE[1],
                    };
                    rgb[(y * width + x) * 3..][..3].copy_from_slice(&c);
                }
            }
        }
        Image { width, height, rgb }
    }

    #[test]
    fn text_mode_banner_found_and_missed() {
        assert_eq!(
            geometry(&text_screen(false)).map(|g| (g.cell_w, g.cell_h)),
            Some((9, 16))
        );
        assert_eq!(check_banner(&text_screen(true)), Vec::<String>::new());
        assert!(!check_banner(&text_screen(false)).is_empty());
        let fb = Image {
            width: 1280,
            height: 800,
            rgb: vec![0; 1280 * 800 * 3],
        };
        let problems = check_banner(&fb);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("not VGA text mode"), "{problems:?}");
    }
}
