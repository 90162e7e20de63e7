//! Kernel initialisation, in the order of docs/architecture.md, "Boot flow" (steps 3 to 8).

use log::{LevelFilter, error, info, warn};

use crate::boot::{self, info::MemoryKind};
use crate::{arch, console, drivers, interrupts, logger, memory, serial, time};

/// Size of the boot CPU's kernel stack (a guard page lies below it).
const KERNEL_STACK_SIZE: u64 = 512 * 1024;

/// Mebibytes in `bytes`, rounded down.
const fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

/// Brings the kernel up and never returns. `entry_tsc` is the TSC read first thing at entry.
///
/// Runs on the loader's stack only until the memory module can give the kernel its own.
pub fn start(entry_tsc: u64) -> ! {
    time::record_entry(entry_tsc);
    // Before the kernel's IDT exists: a fatal exception from then on is reported.
    crate::panic::install();
    // COM1 next: every later message reaches the serial console.
    let have_serial = serial::init();
    // Our own GDT/TSS/IDT before touching anything the loader handed over: the IDT at entry
    // is undefined, so without this a fault while copying the responses would triple-fault.
    arch::trap::init(); // traps
    // Then the clock, so every log line carries a real timestamp.
    let tsc_source = time::calibrate();
    logger::init(LevelFilter::Info);

    if let Err(e) = boot::init_with(boot::limine::collect) {
        error!("cannot continue: {e}");
        panic!("boot failed: {e}");
    }
    let info = boot::boot_info();
    match info.cmdline().log_level() {
        Some(Ok(level)) => logger::init(level),
        Some(Err(bad)) => warn!("{bad} on the command line; keeping `info`"),
        None => {}
    }
    if !have_serial {
        warn!("no UART at COM1");
    }
    match tsc_source {
        time::TscSource::Pit | time::TscSource::PmTimer => {}
        time::TscSource::Cpuid => warn!("no working PIT: TSC rate taken from CPUID"),
        time::TscSource::Unknown => {
            warn!("no working PIT and no TSC rate in CPUID; trying the ACPI PM timer next")
        }
    }
    // The kernel's own page tables (HHDM, W^X image, area slots), built while the loader's
    // are still active; then tables and stack switch in one step.
    memory::init(info);
    let stack = match memory::alloc_stack("boot CPU kernel stack", KERNEL_STACK_SIZE) {
        Ok(stack) => stack,
        Err(e) => panic!("cannot allocate the kernel stack: {e}"),
    };
    // `continue_boot` never returns, so nothing on the loader's stack is used again.
    memory::enter(stack, continue_boot)
}

/// Guard-paged stacks for the double-fault, NMI and machine-check handlers.
fn guarded_ist_stacks() -> Result<[memory::Stack; 3], memory::MapError> {
    Ok([
        memory::alloc_stack("double-fault IST stack", 32 * 1024)?,
        memory::alloc_stack("NMI IST stack", 16 * 1024)?,
        memory::alloc_stack("machine-check IST stack", 16 * 1024)?,
    ])
}

/// The boot log's account of the CPU protections: what is on, what the CPU lacks.
fn log_protections(features: &arch::cpu::CpuFeatures) {
    use arch::cpu::Protection;
    let mut on: heapless::String<64> = heapless::String::new();
    let mut missing: heapless::String<64> = heapless::String::new();
    for p in Protection::ALL {
        let list = if p.is_on() {
            &mut on
        } else if !p.supported(features) {
            &mut missing
        } else {
            // Supported but off: a kernel bug, reported loudly.
            warn!("cpu: {} is supported but did not turn on", p.name());
            continue;
        };
        if !list.is_empty() {
            let _ = list.push(' ');
        }
        let _ = list.push_str(p.name());
    }
    info!(
        "cpu: protections {} on; missing: {}",
        if on.is_empty() { "none" } else { &on },
        if missing.is_empty() { "none" } else { &missing }
    );
}

/// Second half of the boot, on the kernel's own stack.
extern "sysv64" fn continue_boot() -> ! {
    let info = boot::boot_info();
    // On the kernel's own tables and stack: CPU protections (PGE now that the kernel half is
    // global), guard-paged interrupt stacks, then the loader's memory joins the free frames.
    let features = arch::cpu::enable_protections();
    // The IST stacks loaded with the traps are static; give them guard pages now.
    match guarded_ist_stacks() {
        Ok([double_fault, nmi, machine_check]) => {
            arch::gdt::switch_ist_stacks(double_fault, nmi, machine_check)
        }
        Err(e) => warn!("interrupt stacks stay without guard pages: {e}"),
    }
    let reclaimed = memory::reclaim(info);
    crate::print!("{}", console::screen::banner());
    // Pin the title bar: only rows 2-25 scroll (screen only; a serial terminal keeps its own
    // scrolling).
    console::screen::pin_title();
    match console::screen::init(info) {
        Ok(console::screen::ScreenKind::Framebuffer(layout)) => info!(
            "console: 80x25 cells of {}x{} px x{} at ({}, {})",
            layout.cell_width, layout.cell_height, layout.scale, layout.origin_x, layout.origin_y
        ),
        Ok(kind) => info!("console: {kind:?}"),
        Err(e) => warn!("console: {e}; serial only"),
    }

    let rev = info.revision;
    if rev.used < boot::info::MIN_REVISION {
        error!(
            "loader uses base revision {}, older than this kernel supports (2); continuing",
            rev.used
        );
    } else if !rev.supported {
        warn!(
            "loader does not support base revision {}; it booted revision {}{} - continuing",
            rev.requested,
            rev.used,
            if rev.reported {
                ""
            } else {
                " (inferred: the loader does not report it)"
            }
        );
    }

    summary(info, time::tsc_hz());
    if let Some(b) = memory::build_report() {
        let us = |cycles| time::cycles_to_nanos(cycles, time::tsc_hz()) / 1000;
        info!(
            "memory: kernel page tables in {} us, {} frames (HHDM of {} MiB: {} frames, {} pages, \
             {} us)",
            us(b.cycles),
            b.frames,
            b.hhdm_bytes >> 20,
            b.hhdm_frames,
            if b.huge_1g { "1 GiB" } else { "2 MiB" },
            us(b.hhdm_cycles)
        );
    }
    info!("{reclaimed}");
    // The heap, on the kernel's tables with the loader's memory reclaimed.
    crate::heap::init(info);
    if reclaimed.acpi_kept > 0 {
        info!(
            "memory: {} KiB ACPI-reclaimable kept: the tables are read again after boot",
            reclaimed.acpi_kept / 1024
        );
    }
    log_protections(&features);

    // Without a working PIT, the ACPI PM timer is the reference clock (ACPI is readable now).
    if time::tsc_source() != time::TscSource::Pit
        && let Some((port, bits)) = info.rsdp_phys.and_then(crate::acpi::pm_timer)
    {
        match time::calibrate_with_pm_timer(port, bits) {
            Some(hz) => info!(
                "tsc: {}.{:03} MHz (ACPI PM timer at port {port:#x})",
                hz / 1_000_000,
                (hz / 1000) % 1000
            ),
            None => warn!("tsc: the ACPI PM timer does not count either"),
        }
    }
    let mode = interrupts::init(info);
    match drivers::keyboard::init() {
        Ok(()) => info!("keyboard: PS/2, IRQ 1, US layout"),
        Err(e) => warn!("keyboard: unavailable: {e}"),
    }
    match serial::enable_rx_interrupt() {
        Ok(()) => log::debug!("serial: COM1 receive interrupt on IRQ 4"),
        Err(e) => warn!("serial: input by polling only: {e}"),
    }
    log::debug!("interrupt path: {mode:?}");

    let ready_ms = time::nanos_since_entry() / 1_000_000;
    crate::println!("boot: ready in {ready_ms} ms");
    console::screen::flush();

    #[cfg(feature = "ktest")]
    {
        let selector = info.cmdline().get("ktest").unwrap_or("all");
        crate::testing::runner::run(selector)
    }
    #[cfg(not(feature = "ktest"))]
    crate::runtime::run()
}

fn summary(info: &boot::BootInfo, tsc_hz: u64) {
    let rev = info.revision;
    info!(
        "loader: {} {}, base revision {}{}{}",
        if info.loader_name.is_empty() {
            "(unnamed)"
        } else {
            &info.loader_name
        },
        info.loader_version,
        rev.used,
        if rev.reported { "" } else { " (inferred)" },
        if rev.supported {
            ""
        } else {
            ", older than requested"
        }
    );
    match info.firmware {
        Some(fw) => info!("firmware: {fw}"),
        None => info!("firmware: not reported"),
    }
    let map = &info.memory_map;
    info!(
        "memory: {} MiB RAM, {} MiB usable, {} map entries{}",
        mib(boot::info::ram_bytes(map)),
        mib(boot::info::usable_bytes(map)),
        map.len(),
        if info.memory_map_dropped > 0 {
            " (some dropped: map too long)"
        } else {
            ""
        }
    );
    for r in map.iter() {
        log::debug!("  {:#014x}..{:#014x} {}", r.base, r.end(), r.kind.name());
    }
    if let Err(e) = boot::info::check_memory_map(map) {
        warn!("memory map: {e}");
    }
    let reclaimable: u64 = map
        .iter()
        .filter(|r| r.kind == MemoryKind::BootloaderReclaimable)
        .map(|r| r.length)
        .sum();
    log::debug!("memory: {} KiB bootloader-reclaimable", reclaimable / 1024);
    match &info.framebuffer {
        Some(fb) => info!(
            "framebuffer: {}x{}x{}, pitch {}, at {:#x}{}",
            fb.width,
            fb.height,
            fb.bpp,
            fb.pitch,
            fb.phys,
            if info.framebuffer_count > 1 {
                " (first of several)"
            } else {
                ""
            }
        ),
        None => info!("framebuffer: none"),
    }
    info!("hhdm: offset {:#x}", info.hhdm_offset);
    match (info.kernel_phys_base, info.kernel_virt_base) {
        (Some(p), Some(v)) => info!("kernel: phys {p:#x}, virt {v:#x}"),
        _ => warn!("kernel: address not reported"),
    }
    match info.rsdp_phys {
        Some(p) => info!("acpi: RSDP at {p:#x}"),
        None => info!("acpi: no RSDP"),
    }
    info!(
        "cmdline: {:?}{}",
        info.cmdline.as_str(),
        if info.cmdline_truncated {
            " (truncated)"
        } else {
            ""
        }
    );
    info!(
        "tsc: {}.{:03} MHz",
        tsc_hz / 1_000_000,
        (tsc_hz / 1_000) % 1_000
    );
    let _ = arch::cpu::interrupts_enabled();
}
