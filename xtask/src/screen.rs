//! Checking what the guest shows: QEMU screendumps (PPM) read back and tested at the console's
//! cell positions, which the kernel states in its boot log.

use crate::error::Result;

/// An RGB image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// RGB triples, row-major.
    pub rgb: Vec<u8>,
}

impl Image {
    /// The pixel at (x, y).
    pub fn pixel(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y * self.width + x) * 3;
        Some([self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]])
    }
}

/// Parses a binary PPM (`P6`, maxval 255), as QEMU's `screendump` writes by default.
pub fn parse_ppm(bytes: &[u8]) -> Result<Image> {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) == Some(&b'#') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if start == i {
            return Err("truncated PPM header".into());
        }
        fields.push(String::from_utf8_lossy(&bytes[start..i]).into_owned());
    }
    i += 1; // the single whitespace byte after maxval
    if fields[0] != "P6" || fields[3] != "255" {
        return Err(format!("unsupported PPM ({} maxval {})", fields[0], fields[3]).into());
    }
    let width: usize = fields[1].parse().map_err(|_| "bad PPM width")?;
    let height: usize = fields[2].parse().map_err(|_| "bad PPM height")?;
    let need = width * height * 3;
    let rgb = bytes
        .get(i..i + need)
        .ok_or("PPM pixel data truncated")?
        .to_vec();
    Ok(Image { width, height, rgb })
}

/// The console's geometry as printed in the boot log:
/// `console: 80x25 cells of 14x32 px x1 at (80, 0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Cell width on screen (scale applied).
    pub cell_w: usize,
    /// Cell height on screen (scale applied).
    pub cell_h: usize,
    /// Left edge of the grid.
    pub x: usize,
    /// Top edge of the grid.
    pub y: usize,
}

impl Geometry {
    /// Finds the geometry line in a (colour-stripped) serial log.
    pub fn from_log(log: &str) -> Option<Self> {
        let line = log
            .lines()
            .find(|l| l.contains("console: 80x25 cells of"))?;
        let nums: Vec<usize> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        // ... 80 25 <w> <h> <scale> <x> <y>, after the timestamp's numbers.
        let at = nums.windows(2).position(|w| w == [80, 25])?;
        let &[w, h, scale, x, y] = nums.get(at + 2..at + 7)? else {
            return None;
        };
        Some(Self {
            cell_w: w * scale,
            cell_h: h * scale,
            x,
            y,
        })
    }

    /// Screen position of a point inside cell (row, col), as fractions of the cell.
    pub fn point(&self, row: usize, col: usize, fx: f32, fy: f32) -> (usize, usize) {
        (
            self.x + col * self.cell_w + (self.cell_w as f32 * fx) as usize,
            self.y + row * self.cell_h + (self.cell_h as f32 * fy) as usize,
        )
    }
}

/// The VGA 16-colour palette.
pub const PALETTE: [[u8; 3]; 16] = [
    [0x00, 0x00, 0x00],
    [0x00, 0x00, 0xaa],
    [0x00, 0xaa, 0x00],
    [0x00, 0xaa, 0xaa],
    [0xaa, 0x00, 0x00],
    [0xaa, 0x00, 0xaa],
    [0xaa, 0x55, 0x00],
    [0xaa, 0xaa, 0xaa],
    [0x55, 0x55, 0x55],
    [0x55, 0x55, 0xff],
    [0x55, 0xff, 0x55],
    [0x55, 0xff, 0xff],
    [0xff, 0x55, 0x55],
    [0xff, 0x55, 0xff],
    [0xff, 0xff, 0x55],
    [0xff, 0xff, 0xff],
];

/// Checks the boot banner: a blue title bar on row 0 and the 16 palette colours in cells
/// 64..80 of that row (see `kernel::console::screen::banner`). Returns the problems found.
pub fn check_banner(img: &Image, geo: &Geometry) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, want) in PALETTE.iter().enumerate() {
        for (fx, fy) in [(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)] {
            let (x, y) = geo.point(0, 64 + i, fx, fy);
            match img.pixel(x, y) {
                Some(got) if got == *want => {}
                got => problems.push(format!(
                    "palette cell {i} at ({x}, {y}): {got:?}, want {want:?}"
                )),
            }
        }
    }
    // A space in the title bar: blue background everywhere in the cell.
    for (fx, fy) in [(0.0, 0.0), (0.5, 0.5)] {
        let (x, y) = geo.point(0, 62, fx, fy);
        if img.pixel(x, y) != Some(PALETTE[1]) {
            problems.push(format!(
                "title bar at ({x}, {y}) is {:?}, want blue",
                img.pixel(x, y)
            ));
        }
    }
    // Row 0 has lit (white, bold) glyph pixels somewhere in "Rust".
    let lit = (0..geo.cell_w * 5)
        .flat_map(|dx| (0..geo.cell_h).map(move |dy| (dx, dy)))
        .any(|(dx, dy)| img.pixel(geo.x + geo.cell_w + dx, geo.y + dy) == Some(PALETTE[15]));
    if !lit {
        problems.push("no white text in the title bar".into());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with_banner(geo: &Geometry, width: usize, height: usize) -> Image {
        let mut rgb = vec![0u8; width * height * 3];
        let mut fill = |x0: usize, y0: usize, w: usize, h: usize, c: [u8; 3]| {
            for y in y0..y0 + h {
                for x in x0..x0 + w {
                    let i = (y * width + x) * 3;
                    rgb[i..i + 3].copy_from_slice(&c);
                }
            }
        };
        fill(geo.x, geo.y, geo.cell_w * 64, geo.cell_h, PALETTE[1]);
        fill(geo.x + geo.cell_w + 3, geo.y + 5, 2, 10, PALETTE[15]);
        for (i, c) in PALETTE.iter().enumerate() {
            fill(
                geo.x + (64 + i) * geo.cell_w,
                geo.y,
                geo.cell_w,
                geo.cell_h,
                *c,
            );
        }
        Image { width, height, rgb }
    }

    #[test]
    fn geometry_from_log() {
        let log = "[   0.000000] INFO  init: console: 80x25 cells of 14x32 px x1 at (80, 0)\n";
        assert_eq!(
            Geometry::from_log(log),
            Some(Geometry {
                cell_w: 14,
                cell_h: 32,
                x: 80,
                y: 0
            })
        );
        let log = "[ 1.5] INFO  init: console: 80x25 cells of 16x32 px x2 at (0, 0)";
        assert_eq!(
            Geometry::from_log(log).map(|g| (g.cell_w, g.cell_h)),
            Some((32, 64))
        );
        assert_eq!(Geometry::from_log("no console"), None);
    }

    #[test]
    fn banner_check_passes_and_fails() {
        let geo = Geometry {
            cell_w: 14,
            cell_h: 32,
            x: 80,
            y: 0,
        };
        let mut img = image_with_banner(&geo, 1280, 800);
        assert_eq!(check_banner(&img, &geo), Vec::<String>::new());
        // Break one palette cell: exactly that cell is reported.
        let (x, y) = geo.point(0, 64 + 4, 0.5, 0.5);
        let i = (y * img.width + x) * 3;
        img.rgb[i..i + 3].copy_from_slice(&[1, 2, 3]);
        let problems = check_banner(&img, &geo);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("palette cell 4"));
        assert!(
            !check_banner(
                &Image {
                    width: 10,
                    height: 10,
                    rgb: vec![0; 300]
                },
                &geo
            )
            .is_empty()
        );
    }

    #[test]
    fn ppm_round_trip() {
        let mut bytes = b"P6\n# qemu\n2 1\n255\n".to_vec();
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let img = parse_ppm(&bytes).expect("valid");
        assert_eq!((img.width, img.height), (2, 1));
        assert_eq!(img.pixel(1, 0), Some([4, 5, 6]));
        assert!(parse_ppm(b"P6\n2 1\n255\n\x01").is_err());
        assert!(parse_ppm(b"P3\n1 1\n255\n1 2 3").is_err());
    }
}
