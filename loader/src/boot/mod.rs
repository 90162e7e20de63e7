//! The boot sequence: every decision the loader makes, over a firmware the caller supplies.
//!
//! The UEFI binary (`firmware/`) implements [`Firmware`] (files, page allocation, the display,
//! the configuration tables, the menu, messages) and [`Pages`] (a block of allocated physical
//! memory it can lend as a byte slice). Everything else happens here, where host tests drive it
//! with a fake firmware:
//!
//! 1. [`prepare`], while boot services run: refuse a firmware in 5-level paging; read and parse
//!    `limine.conf`, choose the entry (menu if asked) and check it; read the kernel, check and
//!    load the ELF into one block (with a KASLR slide when `kaslr: yes`), scan its requests,
//!    negotiate the base revision; set up the display if a framebuffer is requested; list the
//!    IOAPICs; answer every request that does not depend on the final memory map, in memory
//!    reported to the kernel as bootloader-reclaimable; allocate the stack (the larger of
//!    [`MIN_STACK_SIZE`] and the stack size request) and the page-table pool. Any refusal is a
//!    [`LoadError`] and the firmware still runs the machine.
//! 2. The firmware glue exits boot services, then quiets the machine as [`Prepared::quiesce`]
//!    says (PICs, IOAPIC entries, from revision 5 the local APIC, the PAT).
//! 3. [`Prepared::finish`] converts the final memory map, answers the memory-map requests,
//!    publishes every response pointer, builds the page tables and returns the [`HandoffArgs`]
//!    for the jump. A failure here is a [`FinishError`]: the glue reports it and halts.
//!
//! The machine state at entry is that of PROTOCOL.md (upstream Limine), "Machine State at
//! Entry"; the responses are those of its "Feature List". See docs/architecture.md, "Boot flow".

mod error;
mod finish;
mod responses;
#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::acpi::{self, IoApic, PhysRead};
use crate::config::{self, Builtins, Config, Entry, Timeout};
use crate::elf::{self, LoadedSegment};
use crate::protocol::{self, FoundRequest};
use crate::{clock, paging, video};

pub use error::{EfiStatus, FileError, FinishError, LoadError};
pub use finish::HandoffArgs;

/// The loader's name in the Bootloader Info response (its own, not "Limine").
pub const LOADER_NAME: &str = "bundled-loader";
/// Its version.
pub const LOADER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The HHDM offset (fixed, like Limine's default without `randomise_hhdm_base`).
pub const HHDM_OFFSET: u64 = protocol::HHDM_DEFAULT_BASE;
/// The smallest kernel stack, whatever the stack size request asks (Limine's default).
pub const MIN_STACK_SIZE: u64 = 64 * 1024;
/// The protocol's GDT (PROTOCOL.md, "Machine State at Entry"): null, 16-bit code/data, 32-bit
/// code/data, 64-bit code (selector 0x28) and data (0x30).
pub const GDT: [u64; 7] = [
    0,
    0x0000_9a00_0000_ffff,
    0x0000_9200_0000_ffff,
    0x00cf_9a00_0000_ffff,
    0x00cf_9200_0000_ffff,
    0x00af_9a00_0000_ffff,
    0x00cf_9200_0000_ffff,
];
/// Page size of every allocation.
pub const PAGE_SIZE: usize = 4096;

/// Pages of physical memory the firmware allocated for the loader, zeroed.
///
/// The loader runs identity-mapped, so the physical address is also where the glue accesses
/// the bytes. The block is never freed: the kernel finds it in the memory map (as
/// bootloader-reclaimable, or executable-and-modules for the kernel image).
pub trait Pages {
    /// Physical address of the first byte (4 KiB aligned).
    fn phys(&self) -> u64;
    /// The bytes asked for (not rounded up to pages).
    fn bytes(&self) -> &[u8];
    /// The same bytes, writable.
    fn bytes_mut(&mut self) -> &mut [u8];
}

/// What an allocation holds, which decides its type in the memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    /// The kernel image: reported as executable-and-modules
    /// ([`crate::memmap::KERNEL_MEMORY_TYPE`] in the firmware's map).
    KernelImage,
    /// Responses, the stack, page tables, files: reported as bootloader-reclaimable
    /// (UEFI `LoaderData`).
    Reclaimable,
}

/// CPU features the hand-off depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuFeatures {
    /// NX (EFER.NXE) available.
    pub nx: bool,
    /// PAT available.
    pub pat: bool,
    /// 1 GiB pages available (CPUID.80000001h:EDX bit 26).
    pub huge_1g: bool,
    /// The firmware runs 5-level paging (CR4.LA57).
    pub la57_active: bool,
}

/// A display mode the firmware offers, with its row pitch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayMode {
    /// The mode as [`video::choose`] sees it.
    pub mode: video::Mode,
    /// Bytes per row in this mode.
    pub pitch: u64,
}

/// The framebuffer of the mode the firmware switched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Display {
    /// Physical address of the pixels.
    pub base: u64,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Bytes per row.
    pub pitch: u64,
    /// Pixel layout.
    pub format: video::PixelFormat,
}

/// Physical addresses from the firmware's configuration and system tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirmwareTables {
    /// The ACPI RSDP (ACPI 2.0 table preferred).
    pub rsdp: Option<u64>,
    /// The 32-bit SMBIOS entry point (`_SM_`).
    pub smbios_32: Option<u64>,
    /// The 64-bit SMBIOS entry point (`_SM3_`).
    pub smbios_64: Option<u64>,
    /// The EFI system table.
    pub system_table: Option<u64>,
}

/// Which firmware the loader runs on: decides the Firmware Type response and `${FW_TYPE}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirmwareKind {
    /// 64-bit UEFI (the `BOOTX64.EFI` loader).
    #[default]
    Uefi64,
    /// PC BIOS (the Multiboot entry, `loader-bios.bin`).
    Bios,
}

impl FirmwareKind {
    /// The Firmware Type response's value (PROTOCOL.md, "Firmware Type Feature").
    pub const fn response_value(self) -> u64 {
        match self {
            Self::Uefi64 => protocol::FIRMWARE_TYPE_UEFI64,
            Self::Bios => protocol::FIRMWARE_TYPE_X86_BIOS,
        }
    }

    /// The configuration's built-in macros on this firmware.
    pub const fn builtins(self) -> Builtins<'static> {
        match self {
            Self::Uefi64 => Builtins::UEFI_X86_64,
            Self::Bios => Builtins::BIOS_X86_64,
        }
    }
}

/// The services the boot sequence needs from the firmware while boot services run.
///
/// [`PhysRead`] reads physical memory (identity-mapped by the firmware), for the ACPI tables.
pub trait Firmware: PhysRead {
    /// Allocated memory.
    type Pages: Pages;

    /// Which firmware this is (UEFI unless the implementation says otherwise).
    fn kind(&self) -> FirmwareKind {
        FirmwareKind::Uefi64
    }

    /// Shows one line to the person at the machine (the firmware console, mirrored to serial).
    fn say(&mut self, line: fmt::Arguments<'_>);
    /// The CPU's features.
    fn cpu(&self) -> CpuFeatures;
    /// A random value for KASLR (a hardware source when there is one).
    fn random_u64(&mut self) -> u64;
    /// Reads a small file from the boot volume.
    ///
    /// # Errors
    ///
    /// [`FileError::NotFound`] when there is no such file, other variants when the volume or
    /// the firmware fail.
    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, FileError>;
    /// Reads a file from the boot volume into fresh [`Memory::Reclaimable`] pages.
    ///
    /// # Errors
    ///
    /// As for [`Firmware::read_file`], and [`FileError::NoMemory`].
    fn load_file(&mut self, path: &str) -> Result<Self::Pages, FileError>;
    /// Allocates `bytes` (rounded up to whole pages) of zeroed memory aligned to `align` (a
    /// power of two, at least [`PAGE_SIZE`]); `None` when the firmware has no such block.
    fn allocate(&mut self, memory: Memory, bytes: usize, align: usize) -> Option<Self::Pages>;
    /// Shows the boot menu: `names`, `default` highlighted, waiting up to `timeout` seconds
    /// (`None`: forever). Returns the index chosen, `default` when the time runs out.
    fn menu(&mut self, names: &[&str], default: usize, timeout: Option<u64>) -> usize;
    /// The display modes, empty when there is no graphics output.
    fn display_modes(&mut self) -> Vec<DisplayMode>;
    /// Switches to mode `number` (one of [`Firmware::display_modes`]) and describes its
    /// framebuffer; `None` if that fails or its pixels are not a linear 32-bit layout.
    fn set_display_mode(&mut self, number: u32) -> Option<Display>;
    /// The configuration and system tables' addresses.
    fn tables(&self) -> FirmwareTables;
    /// The firmware clock's date and time, if it has one.
    fn time(&self) -> Option<clock::DateTime>;
    /// About how many regions the firmware's memory map has, and where it ends.
    fn memory_map_extent(&self) -> (usize, u64);
    /// Physical range (start, length; page aligned) of the hand-off code, which the page
    /// tables map identically so that the switch of CR3 does not pull it away.
    fn handoff_code(&self) -> (u64, u64);
}

/// The firmware's final memory map, read after `ExitBootServices` (UEFI) or built from the
/// Multiboot memory map and the loader's own allocations (BIOS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalMap {
    /// Every UEFI descriptor (empty on BIOS).
    pub regions: Vec<crate::memmap::UefiRegion>,
    /// Byte-exact regions already in Limine types (BIOS; empty on UEFI).
    pub typed: Vec<crate::memmap::TypedRegion>,
    /// The raw map as the firmware wrote it, for the EFI memory map response (size 0 on BIOS:
    /// the request stays unanswered).
    pub raw: RawMemoryMap,
}

/// Where the firmware's own memory-map buffer is, and its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawMemoryMap {
    /// Physical address of the buffer (bootloader-reclaimable memory).
    pub phys: u64,
    /// Bytes of descriptors.
    pub size: u64,
    /// Size of one descriptor.
    pub desc_size: u64,
    /// Descriptor version.
    pub desc_version: u32,
}

/// What the glue does to the machine right after `ExitBootServices` (PROTOCOL.md, "Machine
/// State at Entry": interrupt controllers masked; "Caching": the PAT as Limine programs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quiesce<'a> {
    /// Mask both 8259 PICs (always).
    pub mask_pics: bool,
    /// The IOAPICs whose redirection entries to mask (see [`ioapic_entry_must_be_masked`]).
    pub io_apics: &'a [IoApic],
    /// The base revision in use, for [`ioapic_entry_must_be_masked`].
    pub revision: u64,
    /// Revision 5 and later: the boot CPU's local APIC enabled, every LVT masked, TPR 0.
    pub reset_local_apic: bool,
    /// The value to program into IA32_PAT, when the CPU has one.
    pub pat: Option<u64>,
}

/// Whether an IOAPIC redirection entry (its low word) must be masked at hand-off: delivery
/// mode Fixed or Lowest Priority, and from revision 5 also NMI and ExtINT.
pub const fn ioapic_entry_must_be_masked(low: u32, revision: u64) -> bool {
    let mode = (low >> 8) & 0b111;
    matches!(mode, 0b000 | 0b001) || (revision >= 5 && matches!(mode, 0b100 | 0b111))
}

/// Everything prepared before `ExitBootServices`; see the module docs.
#[derive(Debug)]
pub struct Prepared<P: Pages> {
    revision: u64,
    io_apics: Vec<IoApic>,
    pat: bool,
    nx: bool,
    huge_1g: bool,
    kernel: P,
    image_start: u64,
    image_size: u64,
    segments: Vec<LoadedSegment>,
    entry: u64,
    arena: responses::Arena<P>,
    memmap_request: Option<FoundRequest>,
    efi_memmap_request: Option<FoundRequest>,
    memmap_entries: u64,
    memmap_pointers: u64,
    stack: P,
    gdtr: u64,
    framebuffer: Option<(u64, u64)>,
    pool: P,
    handoff_code: (u64, u64),
    /// Pending writes of response pointers into the kernel image: (offset, HHDM address).
    answers: Vec<(usize, u64)>,
    /// The kernel file as read (the Executable File response points at it).
    _file: P,
}

impl<P: Pages> Prepared<P> {
    /// The base revision the kernel is booted with.
    pub const fn revision(&self) -> u64 {
        self.revision
    }

    /// The kernel's entry point (after any entry point request).
    pub const fn entry(&self) -> u64 {
        self.entry
    }

    /// What to do to the machine right after `ExitBootServices`.
    pub fn quiesce(&self) -> Quiesce<'_> {
        Quiesce {
            mask_pics: true,
            io_apics: &self.io_apics,
            revision: self.revision,
            reset_local_apic: self.revision >= 5,
            pat: self.pat.then_some(paging::PAT_MSR_VALUE),
        }
    }
}

/// Physical to HHDM address.
const fn hhdm(phys: u64) -> u64 {
    phys.wrapping_add(HHDM_OFFSET)
}

/// Runs the boot sequence up to `ExitBootServices`; see the module docs.
///
/// # Errors
///
/// A [`LoadError`] for the first refusal or failure; nothing has been handed to the kernel and
/// the firmware still runs the machine.
pub fn prepare<F: Firmware>(fw: &mut F) -> Result<Prepared<F::Pages>, LoadError> {
    let cpu = fw.cpu();
    if cpu.la57_active {
        // Switching from 5- to 4-level paging needs a detour through 32-bit mode (paging off),
        // which this loader does not implement; refuse while the firmware can still report it.
        return Err(LoadError::FiveLevelFirmware);
    }
    let (config_path, cfg) = read_config(fw)?;
    let verbose = cfg
        .options
        .iter()
        .any(|s| s.key == "verbose" && s.value.eq_ignore_ascii_case("yes"));
    if verbose {
        fw.say(format_args!(
            "loader: {LOADER_NAME} {LOADER_VERSION}, config {config_path}"
        ));
    }

    let entry = choose_entry(fw, &cfg)?;
    entry.check_bootable().map_err(LoadError::Entry)?;
    if verbose {
        for s in &entry.options {
            fw.say(format_args!(
                "loader: note: option `{}` (line {}) is not used by the bundled loader",
                s.key, s.line
            ));
        }
    }
    // `check_bootable` refused entries without a kernel path on `boot()`, compressed or hashed.
    let path: String = entry
        .kernel_path
        .as_ref()
        .map(|k| k.path.clone())
        .unwrap_or_default();
    let file = fw.load_file(&path).map_err(LoadError::KernelFile)?;
    let elf_error = |error| LoadError::Elf {
        path: path.clone(),
        error,
    };
    let image = elf::parse(file.bytes()).map_err(elf_error)?;
    let slide = elf::choose_slide(&image, fw.random_u64(), entry.kaslr.unwrap_or(false));
    let oom_kernel = LoadError::OutOfMemory("the kernel image");
    let block_size = usize::try_from(image.image_size()).map_err(|_| oom_kernel.clone())?;
    let align = usize::try_from(image.alignment())
        .unwrap_or(PAGE_SIZE)
        .max(PAGE_SIZE);
    let mut kernel = fw
        .allocate(Memory::KernelImage, block_size, align)
        .ok_or(oom_kernel)?;
    let loaded = elf::load(&image, slide, kernel.bytes_mut()).map_err(elf_error)?;
    let scan_len = usize::try_from(loaded.scan_len)
        .unwrap_or(block_size)
        .min(block_size);
    let scan = protocol::scan(kernel.bytes().get(..scan_len).unwrap_or_default())
        .map_err(LoadError::Scan)?;
    let cap = cfg
        .option("bundled_max_base_revision")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(protocol::LOADER_MAX_REVISION);
    let negotiated = protocol::negotiate(scan.tag.map(|t| t.requested_revision), cap)
        .map_err(LoadError::Revision)?;
    if let Some(tag) = &scan.tag {
        protocol::write_tag(kernel.bytes_mut(), tag, &negotiated)
            .map_err(LoadError::TagOutsideImage)?;
    }
    if verbose {
        fw.say(format_args!(
            "loader: kernel {path}: {} bytes, slide {:#x}, {} relocations, {} requests, base \
             revision {} (asked {})",
            file.bytes().len(),
            loaded.slide,
            loaded.relocations,
            scan.requests.len(),
            negotiated.revision,
            negotiated.requested
        ));
    }

    let display = if scan.find(protocol::Feature::Framebuffer).is_some() {
        set_up_display(fw, entry)
    } else {
        None
    };
    let tables = fw.tables();
    let io_apics = match tables.rsdp {
        Some(rsdp) => acpi::io_apics(&*fw, rsdp).unwrap_or_else(|e| {
            fw.say(format_args!(
                "loader: warning: {e}; IOAPIC entries stay as the firmware left them"
            ));
            Vec::new()
        }),
        None => Vec::new(),
    };

    responses::answer(
        fw,
        responses::Inputs {
            scan: &scan,
            revision: negotiated.revision,
            kernel,
            loaded: &loaded,
            file,
            kernel_path: &path,
            cmdline: &entry.cmdline,
            display,
            tables,
            cpu,
            io_apics,
            verbose,
        },
    )
}

/// Reads the first configuration file found on the boot volume and parses it.
fn read_config<F: Firmware>(fw: &mut F) -> Result<(&'static str, Config), LoadError> {
    for path in config::CONFIG_SEARCH_PATHS {
        match fw.read_file(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| LoadError::ConfigNotText(path))?;
                let cfg =
                    config::parse_with(&text, &fw.kind().builtins()).map_err(LoadError::Config)?;
                return Ok((path, cfg));
            }
            Err(FileError::NotFound(_)) => {}
            Err(e) => return Err(LoadError::File(e)),
        }
    }
    Err(LoadError::NoConfig)
}

/// The entry to boot: the default one at once with `timeout: 0` or when there is nothing to
/// choose from, else the one picked in the menu (directories are not offered).
fn choose_entry<'c, F: Firmware>(fw: &mut F, cfg: &'c Config) -> Result<&'c Entry, LoadError> {
    let default = cfg.boot_entry().map_err(LoadError::Entry)?;
    let timeout = match cfg.timeout {
        Timeout::Seconds(0) => return Ok(default),
        Timeout::Seconds(s) => Some(s),
        Timeout::Never => None,
    };
    let entries: Vec<&Entry> = cfg
        .visible_entries()
        .into_iter()
        .filter(|e| !e.has_children)
        .collect();
    if entries.len() <= 1 && timeout.is_some() {
        return Ok(default);
    }
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let default_index = entries
        .iter()
        .position(|e| core::ptr::eq(*e, default))
        .unwrap_or(0);
    let chosen = fw.menu(&names, default_index, timeout);
    Ok(entries.get(chosen).copied().unwrap_or(default))
}

/// Switches to the best display mode (the entry's `resolution:` if offered).
fn set_up_display<F: Firmware>(fw: &mut F, entry: &Entry) -> Option<(Display, Vec<DisplayMode>)> {
    let modes = fw.display_modes();
    let described: Vec<video::Mode> = modes.iter().map(|m| m.mode).collect();
    let wanted = entry.resolution.map(|r| (r.width, r.height));
    let choice = video::choose(&described, wanted)?;
    let display = fw.set_display_mode(choice.number)?;
    let usable = modes
        .into_iter()
        .filter(|m| m.mode.format.is_some())
        .collect();
    Some((display, usable))
}
