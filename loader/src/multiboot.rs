//! Multiboot 1 and Multiboot 2 boot information, as plain data.
//!
//! The BIOS entry (`loader-bios.bin`) is started by a Multiboot loader: QEMU's `-kernel`
//! (Multiboot 1, "The Multiboot Specification" 0.6.96, section 3.3 "Boot information format")
//! or GRUB's `multiboot2` (Multiboot2 Specification 2.0, section 3.6 "Boot information"). The
//! entry stub passes the magic value from EAX and the physical address from EBX; [`parse`]
//! reads the structure through [`PhysRead`] (identity-mapped memory in the loader, a byte array
//! in host tests) and returns an [`Info`]: the memory map (E820 types), the modules with their
//! command lines, a copy of the ACPI RSDP when the loader passed one (Multiboot 2 only), and
//! every byte range the information occupies, so the page allocator keeps away from it.
//!
//! Nothing here trusts the input: lengths are bounded, entries of impossible sizes end the
//! walk with an error, strings are cut at [`MAX_STRING`] bytes.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::acpi::PhysRead;

/// EAX at entry from a Multiboot 1 loader.
pub const MULTIBOOT1_MAGIC: u32 = 0x2bad_b002;
/// EAX at entry from a Multiboot 2 loader.
pub const MULTIBOOT2_MAGIC: u32 = 0x36d7_6289;
/// Longest string read (a command line or module name).
pub const MAX_STRING: usize = 4096;
/// Most modules or memory-map entries accepted.
pub const MAX_ENTRIES: usize = 1024;
/// Largest Multiboot 2 information structure accepted.
pub const MAX_INFO2: u32 = 1 << 20;

/// Size of the Multiboot 1 information structure up to and including the VBE fields.
const INFO1_SIZE: usize = 88;

/// Which protocol started the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Multiboot 1 (QEMU `-kernel`, GRUB `multiboot`).
    One,
    /// Multiboot 2 (GRUB `multiboot2`).
    Two,
}

/// One BIOS (E820) memory-map entry as the Multiboot loader reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct E820Entry {
    /// Physical start.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// E820 type (1 usable, 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 bad, ...).
    pub ty: u32,
}

/// A module the Multiboot loader loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Physical start.
    pub start: u64,
    /// Physical end (exclusive).
    pub end: u64,
    /// Its command line (QEMU: the whole `-initrd` item, file name first; GRUB: the words
    /// after the file name).
    pub cmdline: String,
}

impl Module {
    /// The name the module is known by: the last word of its command line (`/boot/kernel` for
    /// both `-initrd "build/kernel.elf /boot/kernel"` and `module2 /k.elf /boot/kernel`).
    pub fn name(&self) -> &str {
        self.cmdline.split_whitespace().next_back().unwrap_or("")
    }

    /// Its length in bytes.
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether it is empty.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The boot information, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The protocol.
    pub version: Version,
    /// The memory map (empty if the loader gave none; see [`Info::memory_or_basic`]).
    pub memory: Vec<E820Entry>,
    /// `mem_lower`/`mem_upper` in KiB, when given.
    pub basic_memory: Option<(u32, u32)>,
    /// The modules, in the loader's order.
    pub modules: Vec<Module>,
    /// Physical address of the RSDP copy in the information (Multiboot 2 ACPI tags; the
    /// ACPI 2.0 one preferred).
    pub rsdp_copy: Option<u64>,
    /// The loader's command line for the image, when given.
    pub cmdline: Option<String>,
    /// The loader's name, when given.
    pub bootloader: Option<String>,
    /// Every `[start, end)` range the information occupies.
    pub footprint: Vec<(u64, u64)>,
}

impl Info {
    /// The memory map, or one built from `mem_lower`/`mem_upper` (conventional memory at 0
    /// and at 1 MiB) when the loader gave no map.
    pub fn memory_or_basic(&self) -> Vec<E820Entry> {
        match (self.memory.is_empty(), self.basic_memory) {
            (true, Some((lower, upper))) => alloc::vec![
                E820Entry {
                    base: 0,
                    length: u64::from(lower) * 1024,
                    ty: 1,
                },
                E820Entry {
                    base: 0x10_0000,
                    length: u64::from(upper) * 1024,
                    ty: 1,
                },
            ],
            _ => self.memory.clone(),
        }
    }
}

/// Why the boot information could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultibootError {
    /// EAX held neither Multiboot magic value.
    UnknownMagic(u32),
    /// Memory at this address (holding `what`) could not be read.
    Unreadable {
        /// What was being read.
        what: &'static str,
        /// Its physical address.
        addr: u64,
    },
    /// A size field is impossible (`what` says which).
    BadSize {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// More than [`MAX_ENTRIES`] modules or memory-map entries.
    TooMany(&'static str),
    /// A module ends before it starts.
    BadModule {
        /// Its index.
        index: usize,
    },
}

impl fmt::Display for MultibootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnknownMagic(m) => write!(
                f,
                "started with EAX={m:#010x}, not by a Multiboot loader (expected {MULTIBOOT1_MAGIC:#x} \
                 or {MULTIBOOT2_MAGIC:#x})"
            ),
            Self::Unreadable { what, addr } => {
                write!(f, "Multiboot {what} at {addr:#x} cannot be read")
            }
            Self::BadSize { what, value } => {
                write!(f, "Multiboot {what} has an impossible size {value}")
            }
            Self::TooMany(what) => write!(f, "more than {MAX_ENTRIES} Multiboot {what}"),
            Self::BadModule { index } => {
                write!(f, "Multiboot module {index} ends before it starts")
            }
        }
    }
}

impl core::error::Error for MultibootError {}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Reads `len` bytes at `addr`, or says what could not be read.
fn read<'m>(
    mem: &'m impl PhysRead,
    addr: u64,
    len: usize,
    what: &'static str,
) -> Result<&'m [u8], MultibootError> {
    mem.read(addr, len)
        .filter(|b| b.len() == len)
        .ok_or(MultibootError::Unreadable { what, addr })
}

/// The NUL-terminated string at `addr` (at most [`MAX_STRING`] bytes, lossy UTF-8), and the
/// bytes it occupies with its terminator.
fn c_string(
    mem: &impl PhysRead,
    addr: u64,
    what: &'static str,
) -> Result<(String, u64), MultibootError> {
    let mut bytes = Vec::new();
    for i in 0..MAX_STRING as u64 {
        let at = addr
            .checked_add(i)
            .ok_or(MultibootError::Unreadable { what, addr })?;
        match read(mem, at, 1, what)?.first() {
            Some(0) | None => return Ok((String::from_utf8_lossy(&bytes).into_owned(), i + 1)),
            Some(&b) => bytes.push(b),
        }
    }
    Ok((
        String::from_utf8_lossy(&bytes).into_owned(),
        MAX_STRING as u64,
    ))
}

/// The string inside `bytes` up to its NUL (or its end).
fn inline_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// Reads the boot information at `addr` the loader passed with `magic`.
///
/// # Errors
///
/// A [`MultibootError`] for an unknown magic value or a structure that cannot be read.
pub fn parse(magic: u32, addr: u64, mem: &impl PhysRead) -> Result<Info, MultibootError> {
    match magic {
        MULTIBOOT1_MAGIC => parse_v1(addr, mem),
        MULTIBOOT2_MAGIC => parse_v2(addr, mem),
        other => Err(MultibootError::UnknownMagic(other)),
    }
}

/// Multiboot 1 ("The Multiboot Specification" 0.6.96, 3.3).
fn parse_v1(addr: u64, mem: &impl PhysRead) -> Result<Info, MultibootError> {
    let head = read(mem, addr, INFO1_SIZE, "information structure")?;
    let field = |off| u32_at(head, off).unwrap_or(0);
    let flags = field(0);
    let mut info = Info {
        version: Version::One,
        memory: Vec::new(),
        basic_memory: (flags & 1 != 0).then(|| (field(4), field(8))),
        modules: Vec::new(),
        rsdp_copy: None,
        cmdline: None,
        bootloader: None,
        footprint: alloc::vec![(addr, addr.saturating_add(INFO1_SIZE as u64))],
    };
    if flags & (1 << 2) != 0 && field(16) != 0 {
        let at = u64::from(field(16));
        let (s, len) = c_string(mem, at, "command line")?;
        info.footprint.push((at, at + len));
        info.cmdline = Some(s);
    }
    if flags & (1 << 9) != 0 && field(64) != 0 {
        let at = u64::from(field(64));
        let (s, len) = c_string(mem, at, "boot loader name")?;
        info.footprint.push((at, at + len));
        info.bootloader = Some(s);
    }
    if flags & (1 << 3) != 0 {
        let count = field(20) as usize;
        if count > MAX_ENTRIES {
            return Err(MultibootError::TooMany("modules"));
        }
        let table = u64::from(field(24));
        let bytes = read(mem, table, count * 16, "module list")?;
        info.footprint.push((table, table + (count * 16) as u64));
        for index in 0..count {
            let e = |off| u32_at(bytes, index * 16 + off).unwrap_or(0);
            let (start, end) = (u64::from(e(0)), u64::from(e(4)));
            if end < start {
                return Err(MultibootError::BadModule { index });
            }
            let cmdline = if e(8) == 0 {
                String::new()
            } else {
                let at = u64::from(e(8));
                let (s, len) = c_string(mem, at, "module command line")?;
                info.footprint.push((at, at + len));
                s
            };
            info.modules.push(Module {
                start,
                end,
                cmdline,
            });
        }
    }
    if flags & (1 << 6) != 0 {
        let length = field(44);
        let base = u64::from(field(48));
        if length as usize > MAX_ENTRIES * 64 {
            return Err(MultibootError::BadSize {
                what: "memory map",
                value: u64::from(length),
            });
        }
        let bytes = read(mem, base, length as usize, "memory map")?;
        info.footprint.push((base, base + u64::from(length)));
        // Each entry: size (of the rest), base_addr, length, type; the next follows `size`
        // bytes after the size field.
        let mut off = 0usize;
        while off + 4 <= bytes.len() {
            let size = u32_at(bytes, off).unwrap_or(0) as usize;
            if size < 20 {
                return Err(MultibootError::BadSize {
                    what: "memory map entry",
                    value: size as u64,
                });
            }
            let (Some(b), Some(l), Some(t)) = (
                u64_at(bytes, off + 4),
                u64_at(bytes, off + 12),
                u32_at(bytes, off + 20),
            ) else {
                break; // a truncated last entry
            };
            if info.memory.len() == MAX_ENTRIES {
                return Err(MultibootError::TooMany("memory map entries"));
            }
            info.memory.push(E820Entry {
                base: b,
                length: l,
                ty: t,
            });
            off += size + 4;
        }
    }
    Ok(info)
}

/// Multiboot 2 tag types (Multiboot2 Specification 2.0, 3.6).
mod tag {
    pub const END: u32 = 0;
    pub const CMDLINE: u32 = 1;
    pub const BOOTLOADER_NAME: u32 = 2;
    pub const MODULE: u32 = 3;
    pub const BASIC_MEMINFO: u32 = 4;
    pub const MMAP: u32 = 6;
    pub const ACPI_OLD: u32 = 14;
    pub const ACPI_NEW: u32 = 15;
}

/// Multiboot 2 (Multiboot2 Specification 2.0, 3.6).
fn parse_v2(addr: u64, mem: &impl PhysRead) -> Result<Info, MultibootError> {
    let head = read(mem, addr, 8, "information structure")?;
    let total = u32_at(head, 0).unwrap_or(0);
    if !(16..=MAX_INFO2).contains(&total) {
        return Err(MultibootError::BadSize {
            what: "information structure",
            value: u64::from(total),
        });
    }
    let bytes = read(mem, addr, total as usize, "information structure")?;
    let mut info = Info {
        version: Version::Two,
        memory: Vec::new(),
        basic_memory: None,
        modules: Vec::new(),
        rsdp_copy: None,
        cmdline: None,
        bootloader: None,
        footprint: alloc::vec![(addr, addr.saturating_add(u64::from(total)))],
    };
    let (mut acpi_old, mut acpi_new) = (None, None);
    let mut off = 8usize;
    while off + 8 <= bytes.len() {
        let ty = u32_at(bytes, off).unwrap_or(0);
        let size = u32_at(bytes, off + 4).unwrap_or(0) as usize;
        if ty == tag::END {
            break;
        }
        if size < 8 || off + size > bytes.len() {
            return Err(MultibootError::BadSize {
                what: "tag",
                value: size as u64,
            });
        }
        let body = bytes.get(off + 8..off + size).unwrap_or_default();
        let body_addr = addr + off as u64 + 8;
        match ty {
            tag::CMDLINE => info.cmdline = Some(inline_string(body)),
            tag::BOOTLOADER_NAME => info.bootloader = Some(inline_string(body)),
            tag::MODULE => {
                let (Some(start), Some(end)) = (u32_at(body, 0), u32_at(body, 4)) else {
                    return Err(MultibootError::BadSize {
                        what: "module tag",
                        value: size as u64,
                    });
                };
                if end < start {
                    return Err(MultibootError::BadModule {
                        index: info.modules.len(),
                    });
                }
                if info.modules.len() == MAX_ENTRIES {
                    return Err(MultibootError::TooMany("modules"));
                }
                info.modules.push(Module {
                    start: u64::from(start),
                    end: u64::from(end),
                    cmdline: inline_string(body.get(8..).unwrap_or_default()),
                });
            }
            tag::BASIC_MEMINFO => {
                if let (Some(lower), Some(upper)) = (u32_at(body, 0), u32_at(body, 4)) {
                    info.basic_memory = Some((lower, upper));
                }
            }
            tag::MMAP => {
                let entry_size = u32_at(body, 0).unwrap_or(0) as usize;
                if entry_size < 20 {
                    return Err(MultibootError::BadSize {
                        what: "memory map entry",
                        value: entry_size as u64,
                    });
                }
                let entries = body.get(8..).unwrap_or_default();
                for e in entries.chunks_exact(entry_size) {
                    if info.memory.len() == MAX_ENTRIES {
                        return Err(MultibootError::TooMany("memory map entries"));
                    }
                    info.memory.push(E820Entry {
                        base: u64_at(e, 0).unwrap_or(0),
                        length: u64_at(e, 8).unwrap_or(0),
                        ty: u32_at(e, 16).unwrap_or(0),
                    });
                }
            }
            tag::ACPI_OLD if !body.is_empty() => acpi_old = Some(body_addr),
            tag::ACPI_NEW if !body.is_empty() => acpi_new = Some(body_addr),
            _ => {}
        }
        // Tags are padded to 8 bytes.
        off += size.next_multiple_of(8);
    }
    info.rsdp_copy = acpi_new.or(acpi_old);
    Ok(info)
}

#[cfg(test)]
pub(crate) mod tests;
