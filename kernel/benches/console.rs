//! Console rendering benchmarks: full redraw, one-line scroll and single characters into a
//! 1280x800x32 RAM framebuffer, against a plain copy of the same number of bytes.
//!
//! Criterion reports first; then the bench measures the contract figures itself (interleaved
//! batches timed with `Instant`, best batch average) and prints them in the `bench:` line format
//! that `make bench` collects (the same format as the in-kernel figures, `testing::bench`):
//!
//! ```text
//! bench: console_redraw: <us> us
//! bench: console_scroll: <us> us
//! bench: memcpy_fb: <us> us
//! bench: console_putchar: <ns> ns
//! ratio: console_redraw_vs_memcpy: <memcpy time / redraw time>
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use kernel::console::{Console, Framebuffer, FramebufferBackend, FramebufferInfo, PixelFormat};

const WIDTH: usize = 1280;
const HEIGHT: usize = 800;
const FB_BYTES: usize = WIDTH * HEIGHT * 4;

type FbConsole<'a> = Console<FramebufferBackend<Framebuffer<'a>>>;

/// Sample text lines; consecutive lines differ in almost every column.
const WORDS: &[&str] = &[
    "kernel", "frame", "page", "table", "alloc", "task", "waker", "timer", "serial", "acpi",
    "apic", "ioapic", "limine", "console", "glyph", "scroll",
];

fn line(i: usize) -> String {
    let mut s = format!("\x1b[{}m{:5} ", 31 + i % 7, i);
    let mut k = i * 7;
    while s.len() < 85 {
        s.push_str(WORDS[k % WORDS.len()]);
        s.push(' ');
        k += 3;
    }
    s.truncate(85);
    s.push_str("\x1b[0m");
    s
}

/// A console on `mem`, with a screen full of coloured text.
fn console(mem: &mut [u8]) -> Box<FbConsole<'_>> {
    let info = FramebufferInfo {
        width: WIDTH,
        height: HEIGHT,
        pitch: WIDTH * 4,
        bpp: 32,
        format: PixelFormat::XRGB8888,
    };
    let fb = Framebuffer::new(mem, info).expect("valid framebuffer");
    let mut c = Box::new(Console::new(FramebufferBackend::new()));
    c.backend_mut().attach(fb).expect("1280x800 fits");
    for i in 0..25 {
        c.write_str(&line(i));
        c.write_str("\n");
    }
    c.repaint();
    c
}

/// Average time of one call of `f` over a batch of `n` calls.
fn batch(n: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n
}

fn criterion_benches(c: &mut Criterion, mem: &mut [u8], src: &[u8], dst: &mut [u8]) {
    let mut con = console(mem);
    c.bench_function("console_redraw", |b| b.iter(|| con.repaint()));
    let mut i = 100;
    c.bench_function("console_scroll", |b| {
        b.iter(|| {
            i += 1;
            con.write_str(&line(i));
            con.write_str("\n");
        })
    });
    c.bench_function("memcpy_fb", |b| {
        b.iter(|| dst.copy_from_slice(black_box(src)))
    });
    con.write_str("\x1b[12;1H");
    let mut col = 0;
    c.bench_function("console_putchar", |b| {
        b.iter(|| {
            col += 1;
            if col == 79 {
                col = 0;
                con.write_bytes(b"\r");
            }
            con.write_bytes(&[b'a' + (col % 26) as u8]);
        })
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let test_mode = args.iter().any(|a| a == "--test" || a == "--list");

    let mut mem = vec![0u8; FB_BYTES];
    let src = vec![0x5au8; FB_BYTES];
    let mut dst = vec![0u8; FB_BYTES];

    let mut criterion = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    criterion_benches(&mut criterion, &mut mem, &src, &mut dst);
    criterion.final_summary();
    if test_mode {
        return;
    }

    // Own measurements: interleaved batches, best batch average of each.
    let mut con = console(&mut mem);
    let lines: Vec<String> = (0..64).map(|i| line(1000 + i)).collect();
    let mut best = [Duration::MAX; 4];
    let mut li = 0;
    for _ in 0..15 {
        let redraw = batch(40, || con.repaint());
        let scroll = batch(40, || {
            li = (li + 1) % lines.len();
            con.write_str(&lines[li]);
            con.write_str("\n");
        });
        let memcpy = batch(40, || dst.copy_from_slice(black_box(&src)));
        con.write_str("\x1b[12;1H");
        let putchar = batch(79 * 200, {
            let mut col = 0;
            let con = &mut con;
            move || {
                col += 1;
                if col == 79 {
                    col = 0;
                    con.write_bytes(b"\r");
                }
                con.write_bytes(&[b'a' + (col % 26) as u8]);
            }
        });
        con.write_str("\x1b[25;1H");
        for (b, d) in best.iter_mut().zip([redraw, scroll, memcpy, putchar]) {
            *b = (*b).min(d);
        }
    }
    black_box(&dst);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let [redraw, scroll, memcpy, putchar] = best;
    println!("bench: console_redraw: {:.1} us", us(redraw));
    println!("bench: console_scroll: {:.1} us", us(scroll));
    println!("bench: memcpy_fb: {:.1} us", us(memcpy));
    println!(
        "bench: console_putchar: {:.0} ns",
        putchar.as_secs_f64() * 1e9
    );
    println!(
        "ratio: console_redraw_vs_memcpy: {:.2}",
        memcpy.as_secs_f64() / redraw.as_secs_f64()
    );
}
