//! GRUB for the BIOS half of the bundled ISO (`make iso` without `LIMINE_DIR`).
//!
//! Debian's `grub-pc-bin` provides the i386-pc images and modules, `grub-common` provides
//! `grub-mkimage`. The layout is `grub-mkrescue`'s, without GRUB on the UEFI side (UEFI
//! starts the bundled loader directly):
//!
//! - `boot/grub/i386-pc/eltorito.img`: `cdboot.img` plus a core image (`grub-mkimage -O
//!   i386-pc-eltorito`) with every module the boot needs built in; the El Torito BIOS image.
//! - `boot_hybrid.img` in the MBR (xorriso `--grub2-mbr`, patched by `--grub2-boot-info` to
//!   load the same core image), so the file also boots from a BIOS disk (USB stick).
//! - The core image's early config finds the ISO by its filesystem UUID (xorriso's
//!   `--modification-date`, unique per build) and reads `boot/grub/grub.cfg`, which starts
//!   the bundled loader's BIOS entry through Multiboot2 with the kernel and `limine.conf` as
//!   modules, the display left in VGA text mode.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// Where Debian's `grub-pc-bin` puts the i386-pc images and modules.
pub const I386_PC: &str = "/usr/lib/grub/i386-pc";

/// Path of the bundled loader's BIOS entry (a Multiboot2 image) on the ISO.
pub const BIOS_ENTRY_ON_ISO: &str = "/boot/loader-bios.bin";
/// Path of the kernel on the ISO, and the command line of its module: the BIOS entry finds
/// `kernel_path: boot():/boot/kernel` by it.
pub const KERNEL_MODULE: &str = "/boot/kernel";
/// Path of `limine.conf` on the ISO, and the command line of its module.
pub const CONF_MODULE: &str = "/boot/limine.conf";

/// The modules built into the core image: disk and filesystem access for both ways the
/// image boots (El Torito CD, or the MBR of a disk), the config language and the
/// commands `grub.cfg` uses. `grub-mkimage` adds their dependencies.
const MODULES: &[&str] = &[
    "biosdisk",
    "iso9660",
    "part_msdos",
    "part_gpt",
    "search_fs_uuid",
    "normal",
    "configfile",
    "echo",
    "test",
    "serial",
    "terminal",
    "multiboot2",
    "sleep",
    "halt",
    "reboot",
];

/// Whether the i386-pc GRUB files `make iso` needs are installed.
pub fn have_i386_pc() -> bool {
    let dir = Path::new(I386_PC);
    [
        "cdboot.img",
        "boot_hybrid.img",
        "moddep.lst",
        "multiboot2.mod",
    ]
    .iter()
    .all(|f| dir.join(f).is_file())
}

/// The `boot_hybrid.img` MBR boot code.
pub fn boot_hybrid() -> PathBuf {
    Path::new(I386_PC).join("boot_hybrid.img")
}

/// A build stamp: xorriso's `--modification-date` value (`YYYYMMDDhhmmsscc`) and the
/// ISO9660 UUID GRUB derives from it (`YYYY-MM-DD-hh-mm-ss-cc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoStamp {
    /// For `--modification-date=`.
    pub date: String,
    /// For `search --fs-uuid`.
    pub uuid: String,
}

impl IsoStamp {
    /// The stamp for `unix_ms` milliseconds since 1970 (UTC).
    pub fn at(unix_ms: u128) -> Self {
        let secs = unix_ms / 1000;
        let cs = (unix_ms % 1000) / 10;
        let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
        let rem = secs % 86_400;
        let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
        Self {
            date: format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}{cs:02}"),
            uuid: format!("{y:04}-{mo:02}-{d:02}-{h:02}-{mi:02}-{s:02}-{cs:02}"),
        }
    }

    /// The stamp for now.
    pub fn now() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Self::at(ms)
    }
}

/// (year, month, day) of `days` since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The core image's early config: the ISO's filesystem by UUID becomes `root` (a CD boot
/// already starts there; a disk boot starts on `(hd0)`, and a machine may have several
/// disks), then `grub.cfg` is read from it.
pub fn early_config(uuid: &str) -> String {
    format!("search --no-floppy --fs-uuid --set=root {uuid}\nset prefix=($root)/boot/grub\n")
}

/// `boot/grub/grub.cfg`: one entry, started at once, that hands the BIOS entry the kernel
/// and `limine.conf` as Multiboot2 modules. GRUB prints each failing command's error and,
/// when the entry fails, waits with "Press any key to continue...", so a failure stays on
/// screen; the messages go to COM1 as well when the machine has one.
pub fn config() -> String {
    format!(
        r#"# Written by `make iso` (xtask/src/grub.rs): GRUB starts the bundled loader's BIOS entry
# through Multiboot2, with the kernel and limine.conf as modules, in VGA text mode.
set timeout=0
set default=0
if serial --unit=0 --speed=115200; then
    terminal_output --append serial
fi

menuentry "Rust kernel (bundled loader, BIOS)" {{
    set gfxpayload=text
    echo "grub: starting {entry} (Multiboot2)"
    if multiboot2 {entry}; then
        if module2 {kernel} {kernel}; then
            if module2 {conf} {conf}; then
                boot
            fi
        fi
    fi
    echo "grub: could not start {entry}: see the error above"
}}
"#,
        entry = BIOS_ENTRY_ON_ISO,
        kernel = KERNEL_MODULE,
        conf = CONF_MODULE,
    )
}

/// Stages GRUB's BIOS files under `root` (`boot/grub/...`) for an ISO whose filesystem UUID
/// is `uuid`: the El Torito image, `grub.cfg`, and the module directory (so GRUB's command
/// line is complete when something fails). Returns the El Torito image's path inside `root`.
pub fn stage(root: &Path, uuid: &str) -> Result<&'static str> {
    const ELTORITO: &str = "boot/grub/i386-pc/eltorito.img";
    if !have_i386_pc() {
        return Err(format!(
            "GRUB's i386-pc files are not in {I386_PC}: run `make deps` (Debian/Ubuntu package \
             grub-pc-bin), or set LIMINE_DIR to build real Limine's ISO instead"
        )
        .into());
    }
    let grub = root.join("boot/grub");
    let modules = grub.join("i386-pc");
    std::fs::create_dir_all(&modules)
        .map_err(|e| Error::io(format!("cannot create {}", modules.display()), e))?;
    for entry in std::fs::read_dir(I386_PC)
        .map_err(|e| Error::io(format!("cannot list {I386_PC}"), e))?
        .filter_map(std::result::Result::ok)
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "mod" || e == "lst") {
            std::fs::copy(&path, modules.join(entry.file_name()))
                .map_err(|e| Error::io(format!("cannot copy {}", path.display()), e))?;
        }
    }
    std::fs::write(grub.join("grub.cfg"), config())
        .map_err(|e| Error::io("cannot write grub.cfg", e))?;
    let early = grub.join("early.cfg");
    std::fs::write(&early, early_config(uuid))
        .map_err(|e| Error::io("cannot write early.cfg", e))?;
    let mut mkimage = Command::new("grub-mkimage");
    mkimage
        .args([
            "-O",
            "i386-pc-eltorito",
            "-d",
            I386_PC,
            "-p",
            "/boot/grub",
            "-c",
        ])
        .arg(&early)
        .arg("-o")
        .arg(root.join(ELTORITO))
        .args(MODULES);
    crate::iso::run(mkimage, "grub-mkimage")?;
    std::fs::remove_file(&early).map_err(|e| Error::io("cannot remove early.cfg", e))?;
    Ok(ELTORITO)
}

/// A 286-byte Multiboot2 image that stands in for the BIOS entry in the GRUB tests: it
/// checks the Multiboot2 magic, prints each module's command line on COM1, and exits QEMU
/// through isa-debug-exit (status 33). Assembled from (GNU as, `ld -Ttext=0x100000
/// --oformat binary`):
///
/// ```text
/// hdr:  .long 0xE85250D6, 0, 64, -(0xE85250D6 + 64)     # magic, i386, length, checksum
///       .short 2, 0; .long 24, 0x100000, 0x100000, 0, 0x102000   # address tag (bss: stack)
///       .short 3, 0; .long 12, 0x100040; .long 0        # entry address tag, padding
///       .short 0, 0; .long 8                            # end tag
/// entry: mov $0x102000, %esp; mov $0x3f8, %dx
///       cmp $0x36d76289, %eax; jne bad
///       puts "mb2-stub: started by a Multiboot2 loader\n"
///       lea 8(%ebx), %edi                               # first tag
/// next: mov (%edi), %eax; test %eax, %eax; jz done
///       cmp $3, %eax; jne skip                          # module tag
///       puts "mb2-stub: module "; puts 16(%edi); puts "\n"
/// skip: mov 4(%edi), %ecx; add $7, %ecx; and $-8, %ecx; add %ecx, %edi; jmp next
/// bad:  puts "mb2-stub: bad magic in eax\n"
/// done: puts "mb2-stub: end\n"; mov $0x10, %al; out %al, $0xf4; 1: hlt; jmp 1b
/// puts: lodsb; test %al, %al; jz 2f; out %al, %dx; jmp puts; 2: ret
/// ```
pub const MULTIBOOT2_STUB: &[u8] = &[
    0xd6, 0x50, 0x52, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0xea, 0xae, 0xad, 0x17,
    0x02, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x10, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00,
    0x40, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
    0xbc, 0x00, 0x20, 0x10, 0x00, 0x66, 0xba, 0xf8, 0x03, 0x3d, 0x89, 0x62, 0xd7, 0x36, 0x75, 0x41,
    0xbe, 0xb5, 0x00, 0x10, 0x00, 0xe8, 0x52, 0x00, 0x00, 0x00, 0x8d, 0x7b, 0x08, 0x8b, 0x07, 0x85,
    0xc0, 0x74, 0x38, 0x83, 0xf8, 0x03, 0x75, 0x1c, 0xbe, 0xfb, 0x00, 0x10, 0x00, 0xe8, 0x3a, 0x00,
    0x00, 0x00, 0x8d, 0x77, 0x10, 0xe8, 0x32, 0x00, 0x00, 0x00, 0xbe, 0x0d, 0x01, 0x10, 0x00, 0xe8,
    0x28, 0x00, 0x00, 0x00, 0x8b, 0x4f, 0x04, 0x83, 0xc1, 0x07, 0x83, 0xe1, 0xf8, 0x01, 0xcf, 0xeb,
    0xcc, 0xbe, 0xdf, 0x00, 0x10, 0x00, 0xe8, 0x11, 0x00, 0x00, 0x00, 0xbe, 0x0f, 0x01, 0x10, 0x00,
    0xe8, 0x07, 0x00, 0x00, 0x00, 0xb0, 0x10, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd, 0xac, 0x84, 0xc0, 0x74,
    0x03, 0xee, 0xeb, 0xf8, 0xc3, 0x6d, 0x62, 0x32, 0x2d, 0x73, 0x74, 0x75, 0x62, 0x3a, 0x20, 0x73,
    0x74, 0x61, 0x72, 0x74, 0x65, 0x64, 0x20, 0x62, 0x79, 0x20, 0x61, 0x20, 0x4d, 0x75, 0x6c, 0x74,
    0x69, 0x62, 0x6f, 0x6f, 0x74, 0x32, 0x20, 0x6c, 0x6f, 0x61, 0x64, 0x65, 0x72, 0x0a, 0x00, 0x6d,
    0x62, 0x32, 0x2d, 0x73, 0x74, 0x75, 0x62, 0x3a, 0x20, 0x62, 0x61, 0x64, 0x20, 0x6d, 0x61, 0x67,
    0x69, 0x63, 0x20, 0x69, 0x6e, 0x20, 0x65, 0x61, 0x78, 0x0a, 0x00, 0x6d, 0x62, 0x32, 0x2d, 0x73,
    0x74, 0x75, 0x62, 0x3a, 0x20, 0x6d, 0x6f, 0x64, 0x75, 0x6c, 0x65, 0x20, 0x00, 0x0a, 0x00, 0x6d,
    0x62, 0x32, 0x2d, 0x73, 0x74, 0x75, 0x62, 0x3a, 0x20, 0x65, 0x6e, 0x64, 0x0a, 0x00,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_grub_iso9660_uuids() {
        assert_eq!(
            IsoStamp::at(0),
            IsoStamp {
                date: "1970010100000000".into(),
                uuid: "1970-01-01-00-00-00-00".into()
            }
        );
        // 2024-02-29 23:59:58.127 UTC (a leap day).
        let s = IsoStamp::at(1_709_251_198_127);
        assert_eq!(s.date, "2024022923595812");
        assert_eq!(s.uuid, "2024-02-29-23-59-58-12");
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn config_starts_the_bios_entry_with_both_modules() {
        let cfg = config();
        assert!(cfg.contains("set gfxpayload=text"));
        assert!(!cfg.contains("gfxterm"));
        assert!(cfg.contains("if multiboot2 /boot/loader-bios.bin; then\n"));
        assert!(cfg.contains("if module2 /boot/kernel /boot/kernel; then\n"));
        assert!(cfg.contains("if module2 /boot/limine.conf /boot/limine.conf; then\n"));
        assert!(cfg.contains("set timeout=0"));
        let early = early_config("2024-02-29-23-59-58-12");
        assert!(
            early.starts_with("search --no-floppy --fs-uuid --set=root 2024-02-29-23-59-58-12\n")
        );
    }

    #[test]
    fn stub_is_a_multiboot2_image() {
        let word = |i: usize| u32::from_le_bytes(MULTIBOOT2_STUB[i..i + 4].try_into().unwrap());
        assert_eq!(word(0), 0xE852_50D6);
        assert_eq!(
            word(0)
                .wrapping_add(word(4))
                .wrapping_add(word(8))
                .wrapping_add(word(12)),
            0
        );
        assert_eq!(word(8), 64);
        // The entry tag points at offset 64 of an image loaded at 1 MiB.
        assert_eq!(word(0x30), 0x10_0040);
        assert!(MULTIBOOT2_STUB.windows(13).any(|w| w == b"mb2-stub: end"));
    }
}
