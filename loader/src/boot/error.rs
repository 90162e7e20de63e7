//! Why a boot stopped: [`LoadError`] while the firmware still runs the machine (the loader
//! reports it and returns to the firmware), [`FinishError`] after `ExitBootServices` (reported
//! on COM1, then the machine halts). [`FileError`] and [`EfiStatus`] describe what the firmware
//! said when a file could not be read.

use alloc::string::String;
use core::fmt;

use crate::config::{self, BootEntryError, ConfigError};
use crate::elf::ElfError;
use crate::memmap::MemmapError;
use crate::paging::PagingError;
use crate::protocol::{OutOfBounds, RevisionError, ScanError};

/// A UEFI status code as the firmware returned it (UEFI specification, Appendix D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EfiStatus(pub usize);

impl EfiStatus {
    /// The high bit that marks an error code.
    pub const ERROR_BIT: usize = 1 << (usize::BITS - 1);

    /// The specification's name of the code, if it is a well-known error.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 36] = [
            "",
            "LOAD_ERROR",
            "INVALID_PARAMETER",
            "UNSUPPORTED",
            "BAD_BUFFER_SIZE",
            "BUFFER_TOO_SMALL",
            "NOT_READY",
            "DEVICE_ERROR",
            "WRITE_PROTECTED",
            "OUT_OF_RESOURCES",
            "VOLUME_CORRUPTED",
            "VOLUME_FULL",
            "NO_MEDIA",
            "MEDIA_CHANGED",
            "NOT_FOUND",
            "ACCESS_DENIED",
            "NO_RESPONSE",
            "NO_MAPPING",
            "TIMEOUT",
            "NOT_STARTED",
            "ALREADY_STARTED",
            "ABORTED",
            "ICMP_ERROR",
            "TFTP_ERROR",
            "PROTOCOL_ERROR",
            "INCOMPATIBLE_VERSION",
            "SECURITY_VIOLATION",
            "CRC_ERROR",
            "END_OF_MEDIA",
            "",
            "",
            "END_OF_FILE",
            "INVALID_LANGUAGE",
            "COMPROMISED_DATA",
            "IP_ADDRESS_CONFLICT",
            "HTTP_ERROR",
        ];
        if self.0 == 0 {
            return Some("SUCCESS");
        }
        if self.0 & Self::ERROR_BIT == 0 {
            return None;
        }
        NAMES
            .get(self.0 & !Self::ERROR_BIT)
            .copied()
            .filter(|n| !n.is_empty())
    }
}

impl fmt::Display for EfiStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "status {:#x}", self.0),
        }
    }
}

/// Why a file on the boot volume could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// The volume of the loader could not be opened.
    NoVolume(EfiStatus),
    /// The path cannot be expressed in UCS-2 for the firmware.
    BadPath(String),
    /// No such file.
    NotFound(String),
    /// The firmware failed while opening or reading.
    Io(String, EfiStatus),
    /// No memory for the file's contents.
    NoMemory(String, usize),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoVolume(s) => write!(f, "cannot open the boot volume: {s}"),
            Self::BadPath(p) => write!(f, "path {p} cannot be expressed for the firmware"),
            Self::NotFound(p) => write!(f, "{p}: not found on the boot volume"),
            Self::Io(p, s) => write!(f, "{p}: read error {s}"),
            Self::NoMemory(p, n) => write!(f, "{p}: no memory for {n} bytes"),
        }
    }
}

impl core::error::Error for FileError {}

/// A failure before the hand-off; the machine is still in the firmware's hands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The firmware runs 5-level paging, which the loader cannot leave (CR4.LA57 can only be
    /// cleared with paging off, from 32-bit code).
    FiveLevelFirmware,
    /// No configuration file anywhere the loader looks.
    NoConfig,
    /// The configuration file is not UTF-8.
    ConfigNotText(&'static str),
    /// The configuration file does not parse.
    Config(ConfigError),
    /// No bootable entry, or the chosen one cannot be booted.
    Entry(BootEntryError),
    /// The configuration file or the volume could not be read.
    File(FileError),
    /// The kernel file could not be read.
    KernelFile(FileError),
    /// The kernel file is not a loadable kernel.
    Elf {
        /// The kernel's path on the boot volume.
        path: String,
        /// What is wrong with it.
        error: ElfError,
    },
    /// The kernel's requests are malformed.
    Scan(ScanError),
    /// The kernel asks for a base revision this loader refuses.
    Revision(RevisionError),
    /// The base revision tag lies outside the loaded image.
    TagOutsideImage(OutOfBounds),
    /// A request field lies outside the loaded image.
    RequestOutsideImage {
        /// Offset of the field in the image.
        offset: usize,
    },
    /// The paging mode request's `min_mode` asks for 5-level paging.
    FiveLevelKernel {
        /// The `min_mode` the kernel wrote.
        min_mode: u64,
    },
    /// The entry point request names an address outside every executable segment.
    EntryPointOutsideCode {
        /// The address the kernel asked to be entered at.
        requested: u64,
    },
    /// The firmware refused memory.
    OutOfMemory(&'static str),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FiveLevelFirmware => f.write_str(
                "the firmware runs 5-level paging; the bundled loader hands off with 4-level \
                 paging only (use real Limine, or firmware/QEMU settings without 5-level paging)",
            ),
            Self::NoConfig => write!(
                f,
                "limine.conf not found on the boot volume (looked for {})",
                config::CONFIG_SEARCH_PATHS.join(", ")
            ),
            Self::ConfigNotText(path) => write!(f, "{path} is not UTF-8 text"),
            Self::Config(e) => write!(f, "{e}"),
            Self::Entry(e) => write!(f, "{e}"),
            Self::File(e) => write!(f, "{e}"),
            Self::KernelFile(FileError::NotFound(p)) => {
                write!(f, "kernel file boot():{p} not found on the boot volume")
            }
            Self::KernelFile(e) => write!(f, "kernel file: {e}"),
            Self::Elf { path, error } => {
                write!(f, "kernel boot():{path} cannot be loaded: {error}")
            }
            Self::Scan(e) => write!(f, "kernel requests: {e}"),
            Self::Revision(e) => write!(f, "{e}"),
            Self::TagOutsideImage(e) => write!(f, "kernel base revision tag: {e}"),
            Self::RequestOutsideImage { offset } => write!(
                f,
                "kernel requests: a request field at image offset {offset:#x} lies outside the \
                 loaded image"
            ),
            Self::FiveLevelKernel { min_mode } => write!(
                f,
                "the kernel requires 5-level paging (paging mode request min_mode {min_mode}), \
                 which the bundled loader does not provide"
            ),
            Self::EntryPointOutsideCode { requested } => write!(
                f,
                "entry point request names {requested:#x}, which is not inside an executable \
                 segment"
            ),
            Self::OutOfMemory(what) => write!(f, "out of memory for {what}"),
        }
    }
}

impl core::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Config(e) => Some(e),
            Self::Entry(e) => Some(e),
            Self::File(e) | Self::KernelFile(e) => Some(e),
            Self::Elf { error, .. } => Some(error),
            Self::Scan(e) => Some(e),
            Self::Revision(e) => Some(e),
            Self::TagOutsideImage(e) => Some(e),
            _ => None,
        }
    }
}

/// A failure after `ExitBootServices`: nothing can be undone, the machine halts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishError {
    /// The Limine memory map could not be built from the firmware's.
    Memmap(MemmapError),
    /// The built memory map breaks one of the protocol's rules (a loader bug).
    MemmapSelfCheck(MemmapError),
    /// More entries than the response arrays reserved before the exit hold.
    MemmapTooLarge {
        /// Entries the map has.
        entries: usize,
        /// Entries reserved.
        capacity: usize,
    },
    /// The response area reserved before the exit is full (a loader bug).
    ResponsesFull,
    /// A response pointer lies outside the kernel image (a loader bug).
    ResponsePointer(OutOfBounds),
    /// The page-table pool could not even hold the PML4.
    PageTables(PagingError),
    /// Mapping part of the HHDM failed.
    Hhdm {
        /// Physical start of the range.
        start: u64,
        /// Physical end of the range (exclusive).
        end: u64,
        /// Why.
        error: PagingError,
    },
    /// Mapping a kernel segment failed.
    KernelSegment {
        /// Virtual start of the segment's pages.
        at: u64,
        /// Why.
        error: PagingError,
    },
    /// Identity-mapping the hand-off trampoline failed.
    Trampoline(PagingError),
}

impl fmt::Display for FinishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memmap(e) => write!(f, "memory map: {e}"),
            Self::MemmapSelfCheck(e) => write!(f, "memory map self-check: {e}"),
            Self::MemmapTooLarge { entries, capacity } => write!(
                f,
                "memory map has {entries} entries, more than the {capacity} reserved for it"
            ),
            Self::ResponsesFull => f.write_str("out of room for the responses (loader bug)"),
            Self::ResponsePointer(e) => write!(f, "response pointer: {e}"),
            Self::PageTables(e) => write!(f, "page tables: {e}"),
            Self::Hhdm { start, end, error } => write!(f, "HHDM {start:#x}..{end:#x}: {error}"),
            Self::KernelSegment { at, error } => write!(f, "kernel segment at {at:#x}: {error}"),
            Self::Trampoline(e) => write!(f, "trampoline identity map: {e}"),
        }
    }
}

impl core::error::Error for FinishError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Memmap(e) | Self::MemmapSelfCheck(e) => Some(e),
            Self::ResponsePointer(e) => Some(e),
            Self::PageTables(e)
            | Self::Hhdm { error: e, .. }
            | Self::KernelSegment { error: e, .. }
            | Self::Trampoline(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efi_status_names() {
        assert_eq!(
            EfiStatus(EfiStatus::ERROR_BIT | 14).to_string(),
            "NOT_FOUND"
        );
        assert_eq!(
            EfiStatus(EfiStatus::ERROR_BIT | 31).to_string(),
            "END_OF_FILE"
        );
        assert_eq!(EfiStatus(0).to_string(), "SUCCESS");
        // Unused codes, warnings and vendor codes print as numbers.
        assert_eq!(
            EfiStatus(EfiStatus::ERROR_BIT | 29).to_string(),
            format!("status {:#x}", EfiStatus::ERROR_BIT | 29)
        );
        assert_eq!(EfiStatus(4).to_string(), "status 0x4");
        assert_eq!(
            EfiStatus(EfiStatus::ERROR_BIT | 1000).to_string(),
            format!("status {:#x}", EfiStatus::ERROR_BIT | 1000)
        );
    }

    #[test]
    fn errors_chain_their_causes() {
        use core::error::Error as _;
        let e = LoadError::KernelFile(FileError::NotFound("/boot/k".into()));
        assert_eq!(
            e.to_string(),
            "kernel file boot():/boot/k not found on the boot volume"
        );
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("/boot/k: not found on the boot volume")
        );
        let e = LoadError::KernelFile(FileError::Io(
            "/boot/k".into(),
            EfiStatus(EfiStatus::ERROR_BIT | 7),
        ));
        assert_eq!(
            e.to_string(),
            "kernel file: /boot/k: read error DEVICE_ERROR"
        );
        assert!(LoadError::FiveLevelFirmware.source().is_none());
    }
}
