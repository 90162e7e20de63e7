//! Host tests of the boot sequence over a fake firmware: what the kernel finds in its requests,
//! the page tables and the hand-off arguments, and every refusal with its message.

mod fake;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};

use self::fake::{ACPI_BASE, FB_BASE, Fake, HANDOFF_CODE};
use super::*;
use crate::elf::ElfError;
use crate::paging::{Cache, PageSize, translate};
use crate::protocol::{
    BASE_REVISION_MAGIC, COMMON_MAGIC, Feature, REQUESTS_END_MARKER, REQUESTS_START_MARKER,
};
use crate::video::{Mode, PixelFormat};

// --- a test kernel ---------------------------------------------------------------------------

/// Link address of the kernel: text page, then data page (requests), then a `.bss` page.
const BASE: u64 = 0xffff_ffff_8000_0000;
const ENTRY: u64 = BASE + 0x10;
const DATA: u64 = BASE + 0x1000;
/// Bytes each request gets in the data segment.
const SLOT: usize = 96;

/// A request: its feature, request revision and the words after the 48-byte header.
#[derive(Debug, Clone)]
struct Req {
    id: [u64; 2],
    revision: u64,
    fields: Vec<u64>,
}

fn req(feature: Feature) -> Req {
    Req {
        id: feature.id(),
        revision: 0,
        fields: Vec::new(),
    }
}

fn req_with(feature: Feature, revision: u64, fields: &[u64]) -> Req {
    Req {
        id: feature.id(),
        revision,
        fields: fields.to_vec(),
    }
}

/// A fixed (`ET_EXEC`) higher-half kernel with a base revision tag and requests between the
/// markers.
#[derive(Debug, Clone)]
struct Kernel {
    tag: Option<u64>,
    requests: Vec<Req>,
    /// File-backed bytes of the data segment.
    data_len: usize,
}

impl Kernel {
    fn new(requests: Vec<Req>) -> Self {
        Self {
            tag: Some(6),
            requests,
            data_len: 0x1000,
        }
    }

    /// Image offset (from `BASE`) of request `i`.
    fn request_offset(i: usize) -> u64 {
        0x1000 + 32 + 24 + (i * SLOT) as u64
    }

    fn data(&self) -> Vec<u8> {
        let mut d = Vec::new();
        let words = |d: &mut Vec<u8>, w: &[u64]| {
            for x in w {
                d.extend_from_slice(&x.to_le_bytes());
            }
        };
        words(&mut d, &REQUESTS_START_MARKER);
        match self.tag {
            Some(rev) => words(
                &mut d,
                &[BASE_REVISION_MAGIC[0], BASE_REVISION_MAGIC[1], rev],
            ),
            None => words(&mut d, &[0, 0, 0]),
        }
        for r in &self.requests {
            let start = d.len();
            words(
                &mut d,
                &[
                    COMMON_MAGIC[0],
                    COMMON_MAGIC[1],
                    r.id[0],
                    r.id[1],
                    r.revision,
                    0,
                ],
            );
            words(&mut d, &r.fields);
            d.resize(start + SLOT, 0);
        }
        words(&mut d, &REQUESTS_END_MARKER);
        d.resize(self.data_len.max(d.len()), 0);
        d
    }

    fn elf(&self) -> Vec<u8> {
        let data = self.data();
        let mut f = vec![0u8; 0x2000];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // ELFCLASS64
        f[5] = 1; // little-endian
        f[6] = 1; // EV_CURRENT
        let put = |f: &mut [u8], at: usize, bytes: &[u8]| {
            f[at..at + bytes.len()].copy_from_slice(bytes);
        };
        put(&mut f, 16, &2u16.to_le_bytes()); // ET_EXEC
        put(&mut f, 18, &62u16.to_le_bytes()); // EM_X86_64
        put(&mut f, 20, &1u32.to_le_bytes());
        put(&mut f, 24, &ENTRY.to_le_bytes());
        put(&mut f, 32, &64u64.to_le_bytes()); // e_phoff
        put(&mut f, 52, &64u16.to_le_bytes()); // e_ehsize
        put(&mut f, 54, &56u16.to_le_bytes()); // e_phentsize
        put(&mut f, 56, &2u16.to_le_bytes()); // e_phnum
        // (type, flags, offset, vaddr, filesz, memsz)
        let phdrs = [
            (1u32, 5u32, 0x1000u64, BASE, 0x1000u64, 0x1000u64),
            (
                1,
                6,
                0x2000,
                DATA,
                data.len() as u64,
                data.len() as u64 + 0x1000,
            ),
        ];
        for (i, (ty, flags, offset, vaddr, filesz, memsz)) in phdrs.into_iter().enumerate() {
            let at = 64 + i * 56;
            put(&mut f, at, &ty.to_le_bytes());
            put(&mut f, at + 4, &flags.to_le_bytes());
            put(&mut f, at + 8, &offset.to_le_bytes());
            put(&mut f, at + 16, &vaddr.to_le_bytes());
            put(&mut f, at + 24, &vaddr.to_le_bytes());
            put(&mut f, at + 32, &filesz.to_le_bytes());
            put(&mut f, at + 40, &memsz.to_le_bytes());
            put(&mut f, at + 48, &0x1000u64.to_le_bytes());
        }
        f[0x1000..0x1010].fill(0x90);
        f[0x1010] = 0xf4; // hlt at the entry point
        f.extend_from_slice(&data);
        f
    }
}

const CONF: &str = "timeout: 0\n/Kernel\n    protocol: limine\n    \
                    kernel_path: boot():/boot/kernel\n    cmdline: log=info\n";

/// A fake with `CONF` and `kernel` on its volume.
fn machine(kernel: &Kernel) -> Fake {
    Fake::new()
        .file("/limine.conf", CONF)
        .file("/boot/kernel", kernel.elf())
}

/// What a finished boot left behind.
#[derive(Debug)]
struct Booted {
    fake: Fake,
    args: HandoffArgs,
    revision: u64,
    io_apics: Vec<IoApic>,
    reset_local_apic: bool,
    pat: Option<u64>,
}

impl Booted {
    /// Physical address behind a kernel virtual address, through the built page tables.
    fn phys(&self, virt: u64) -> u64 {
        let ram = self.fake.ram.borrow();
        translate(&*ram, self.args.cr3, virt)
            .unwrap_or_else(|| panic!("{virt:#x} is not mapped"))
            .phys
    }

    /// The `u64` at a kernel virtual address.
    fn u64(&self, virt: u64) -> u64 {
        let phys = self.phys(virt);
        self.fake
            .ram
            .borrow()
            .u64(phys)
            .unwrap_or_else(|| panic!("nothing at {phys:#x}"))
    }

    /// The string at a kernel virtual address.
    fn cstr(&self, virt: u64) -> String {
        let phys = self.phys(virt);
        self.fake.ram.borrow().cstr(phys).expect("a string")
    }

    /// The response pointer of request `i`, as the kernel reads it (0: unanswered).
    fn response(&self, i: usize) -> u64 {
        self.u64(BASE + Kernel::request_offset(i) + 40)
    }
}

fn boot(mut fake: Fake) -> Booted {
    let prepared = prepare(&mut fake).unwrap_or_else(|e| panic!("refused: {e}"));
    let q = prepared.quiesce();
    assert!(q.mask_pics);
    let (revision, io_apics, reset_local_apic, pat) =
        (q.revision, q.io_apics.to_vec(), q.reset_local_apic, q.pat);
    let map = fake.final_map();
    let args = prepared
        .finish(&map)
        .unwrap_or_else(|e| panic!("finish failed: {e}"));
    Booted {
        fake,
        args,
        revision,
        io_apics,
        reset_local_apic,
        pat,
    }
}

fn refusal(mut fake: Fake) -> (LoadError, Fake) {
    match prepare(&mut fake) {
        Ok(_) => panic!("booted, expected a refusal"),
        Err(e) => (e, fake),
    }
}

fn refusal_message(fake: Fake) -> String {
    refusal(fake).0.to_string()
}

// --- the happy path --------------------------------------------------------------------------

#[test]
fn every_supported_request_is_answered() {
    let features = [
        req(Feature::BootloaderInfo),
        req(Feature::ExecutableCmdline),
        req(Feature::FirmwareType),
        req(Feature::Hhdm),
        req(Feature::ExecutableAddress),
        req(Feature::ExecutableFile),
        req(Feature::Memmap),
        req(Feature::EfiMemmap),
        req(Feature::Rsdp),
        req(Feature::Smbios),
        req(Feature::EfiSystemTable),
        req(Feature::DateAtBoot),
        req_with(Feature::PagingMode, 1, &[0, 0, 0]),
    ];
    let kernel = Kernel::new(features.to_vec());
    let mut fake = machine(&kernel);
    fake.tables = FirmwareTables {
        rsdp: Some(0x000e_1000),
        smbios_32: Some(0x000f_0000),
        smbios_64: None,
        system_table: Some(0x0070_0000),
    };
    fake.time = Some(clock::DateTime {
        year: 2026,
        month: 1,
        day: 2,
        hour: 3,
        minute: 4,
        second: 5,
        utc_offset_minutes: Some(0),
    });
    let b = boot(fake);
    assert_eq!(b.revision, 6);
    let resp = |i| {
        let r = b.response(i);
        assert!(r > HHDM_OFFSET, "request {i} unanswered");
        r
    };

    // Bootloader info: name and version strings.
    let info = resp(0);
    assert_eq!(b.u64(info), 0);
    assert_eq!(b.cstr(b.u64(info + 8)), LOADER_NAME);
    assert_eq!(b.cstr(b.u64(info + 16)), LOADER_VERSION);
    // Command line of the entry.
    assert_eq!(b.cstr(b.u64(resp(1) + 8)), "log=info");
    // UEFI 64-bit firmware.
    assert_eq!(b.u64(resp(2) + 8), protocol::FIRMWARE_TYPE_UEFI64);
    // HHDM offset.
    assert_eq!(b.u64(resp(3) + 8), HHDM_OFFSET);
    // Executable address: where the image really is.
    let ea = resp(4);
    assert_eq!(b.u64(ea + 16), BASE);
    assert_eq!(b.u64(ea + 8), b.phys(BASE));
    // Executable file: the file as read, path and command line.
    let file = b.u64(resp(5) + 8);
    let kernel_file = kernel.elf();
    assert_eq!(b.u64(file + 16), kernel_file.len() as u64);
    assert_eq!(b.cstr(b.u64(file + 24)), "/boot/kernel");
    assert_eq!(b.cstr(b.u64(file + 32)), "log=info");
    let contents = b.u64(file + 8);
    assert_eq!(
        b.u64(contents),
        u64::from_le_bytes(kernel_file[..8].try_into().unwrap())
    );
    // Memory map: sorted, the kernel image typed executable-and-modules.
    let mm = resp(6);
    let count = b.u64(mm + 8);
    let entries = b.u64(mm + 16);
    assert!(count > 4, "{count} entries");
    let mut kernel_entry = false;
    let mut last = 0;
    for i in 0..count {
        let e = b.u64(entries + i * 8);
        let (base, len, ty) = (b.u64(e), b.u64(e + 8), b.u64(e + 16));
        assert!(base >= last, "entry {i} unsorted");
        last = base + len;
        if ty == protocol::MEMMAP_EXECUTABLE_AND_MODULES {
            assert_eq!((base, len), (b.phys(BASE), 0x3000));
            kernel_entry = true;
        }
    }
    assert!(kernel_entry);
    // EFI memory map: the firmware's own buffer.
    let efi = resp(7);
    let raw = b.fake.final_map().raw;
    assert_eq!(b.u64(efi + 8), hhdm(raw.phys));
    assert_eq!(b.u64(efi + 16), raw.size);
    assert_eq!(b.u64(efi + 24), 48);
    assert_eq!(b.u64(efi + 32), 1);
    // Revision 6: RSDP, SMBIOS and system table pointers are HHDM addresses.
    assert_eq!(b.u64(resp(8) + 8), hhdm(0x000e_1000));
    assert_eq!(b.u64(resp(9) + 8), hhdm(0x000f_0000));
    assert_eq!(b.u64(resp(9) + 16), 0);
    assert_eq!(b.u64(resp(10) + 8), hhdm(0x0070_0000));
    // Date at boot.
    assert_eq!(b.u64(resp(11) + 8), 1_767_323_045);
    // Paging mode: 4-level.
    assert_eq!(b.u64(resp(12) + 8), protocol::PAGING_MODE_X86_64_4LVL);
}

#[test]
fn base_revision_3_hands_out_physical_pointers() {
    let kernel = Kernel {
        tag: Some(3),
        ..Kernel::new(vec![
            req(Feature::Rsdp),
            req(Feature::Smbios),
            req(Feature::EfiSystemTable),
        ])
    };
    let mut fake = machine(&kernel);
    fake.tables = FirmwareTables {
        rsdp: Some(0x000e_1000),
        smbios_32: Some(0x000f_0000),
        smbios_64: Some(0x000f_1000),
        system_table: Some(0x0070_0000),
    };
    let b = boot(fake);
    assert_eq!(b.revision, 3);
    assert_eq!(b.u64(b.response(0) + 8), 0x000e_1000);
    assert_eq!(b.u64(b.response(1) + 8), 0x000f_0000);
    assert_eq!(b.u64(b.response(1) + 16), 0x000f_1000);
    assert_eq!(b.u64(b.response(2) + 8), 0x0070_0000);
    // The tag's word 1 says which revision was served, word 2 is 0 (supported).
    assert_eq!(b.u64(DATA + 32 + 8), 3);
    assert_eq!(b.u64(DATA + 32 + 16), 0);
    // Revision 3 and 4 leave the local APIC as it is.
    assert!(!b.reset_local_apic);
}

#[test]
fn a_capped_revision_is_served_and_the_tag_says_so() {
    let kernel = Kernel::new(vec![req(Feature::Hhdm)]);
    let conf = CONF.replace("timeout: 0\n", "timeout: 0\nbundled_max_base_revision: 4\n");
    let b = boot(machine(&kernel).file("/limine.conf", conf));
    assert_eq!(b.revision, 4);
    assert_eq!(b.u64(DATA + 32 + 8), 4);
    // Word 2 keeps the kernel's request, so the kernel can tell it was not served.
    assert_eq!(b.u64(DATA + 32 + 16), 6);
}

#[test]
fn unanswerable_requests_stay_null() {
    // No display, no tables, no clock: those responses stay NULL, as does an unknown request.
    let kernel = Kernel::new(vec![
        req(Feature::Framebuffer),
        req(Feature::Rsdp),
        req(Feature::Smbios),
        req(Feature::EfiSystemTable),
        req(Feature::DateAtBoot),
        Req {
            id: [0x1111, 0x2222],
            revision: 0,
            fields: Vec::new(),
        },
        req(Feature::Mp),
    ]);
    let b = boot(machine(&kernel));
    for i in 0..7 {
        assert_eq!(b.response(i), 0, "request {i}");
    }
    assert_eq!(b.fake.mode_switches, Vec::<u32>::new());
    // The MP request is the one left unanswered with a warning even when not verbose.
    assert_eq!(
        b.fake.said,
        vec![
            "loader: warning: the MP request is not supported by the bundled loader; other CPUs \
             stay halted"
                .to_string()
        ]
    );
}

#[test]
fn verbose_says_what_it_does() {
    let kernel = Kernel::new(vec![Req {
        id: [0x1111, 0x2222],
        revision: 0,
        fields: Vec::new(),
    }]);
    let conf = CONF.replace("timeout: 0\n", "timeout: 0\nverbose: yes\n") + "    foo: bar\n";
    let b = boot(machine(&kernel).file("/limine.conf", conf));
    let said = b.fake.said.join("\n");
    assert!(said.contains(&format!(
        "loader: {LOADER_NAME} {LOADER_VERSION}, config /limine.conf"
    )));
    assert!(said.contains("loader: note: option `foo` (line 7) is not used by the bundled loader"));
    assert!(said.contains("loader: kernel /boot/kernel: "), "{said}");
    assert!(
        said.contains("1 requests, base revision 6 (asked 6)"),
        "{said}"
    );
    assert!(
        said.contains("loader: unknown request [\n    0x1111,\n    0x2222,\n] left unanswered")
    );
}

#[test]
fn handoff_arguments_and_page_tables() {
    let kernel = Kernel::new(vec![]);
    let b = boot(machine(&kernel));
    let args = b.args;
    assert_eq!(args.entry, ENTRY);
    assert_eq!(args.hhdm, HHDM_OFFSET);
    assert_eq!(args.pml4, hhdm(args.cr3));
    assert_eq!(args.efer, (1 << 8) | (1 << 10) | (1 << 11));
    // The default stack: 64 KiB, its top 16-byte aligned and mapped in the HHDM.
    assert_eq!(args.stack_top % 16, 0);
    let ram = b.fake.ram.borrow();
    let top = translate(&*ram, args.cr3, args.stack_top - 8).expect("stack mapped");
    let bottom = translate(&*ram, args.cr3, args.stack_top - MIN_STACK_SIZE).expect("mapped");
    assert_eq!(top.phys - bottom.phys, MIN_STACK_SIZE - 8);
    // The GDTR image: limit and the HHDM address of the protocol GDT.
    drop(ram);
    let gdtr_word = b.u64(args.gdtr);
    assert_eq!(gdtr_word & 0xffff, 55);
    let gdt = (gdtr_word >> 16) | (b.u64(args.gdtr + 8) << 48);
    for (i, d) in GDT.iter().enumerate() {
        assert_eq!(b.u64(gdt + i as u64 * 8), *d, "descriptor {i}");
    }
    // Kernel segments with their own permissions; the HHDM writable, write-back, executable.
    let ram = b.fake.ram.borrow();
    let text = translate(&*ram, args.cr3, BASE).expect("text mapped");
    assert!(!text.flags.writable && !text.flags.no_execute);
    let data = translate(&*ram, args.cr3, DATA).expect("data mapped");
    assert!(data.flags.writable && data.flags.no_execute);
    let bss = translate(&*ram, args.cr3, DATA + 0x1000).expect("bss mapped");
    assert_eq!(bss.phys, text.phys + 0x2000);
    assert_eq!(translate(&*ram, args.cr3, DATA + 0x2000), None);
    let hhdm_page = translate(&*ram, args.cr3, hhdm(0x0010_0000)).expect("HHDM");
    assert_eq!(hhdm_page.phys, 0x0010_0000);
    assert_eq!(hhdm_page.flags.cache, Cache::WriteBack);
    assert!(hhdm_page.flags.writable && !hhdm_page.flags.no_execute);
    // 1 GiB pages where the CPU has them.
    assert_eq!(
        translate(&*ram, args.cr3, hhdm(0x6000_0000)).map(|t| t.page_size),
        Some(PageSize::Size1GiB)
    );
    // The hand-off code identity-mapped.
    let code = translate(&*ram, args.cr3, HANDOFF_CODE.0 + 0x1000).expect("identity map");
    assert_eq!(code.phys, HANDOFF_CODE.0 + 0x1000);
    // Nothing else in the lower half.
    assert_eq!(translate(&*ram, args.cr3, 0x0010_0000), None);
}

#[test]
fn without_nx_and_huge_pages() {
    let kernel = Kernel::new(vec![]);
    let mut fake = machine(&kernel);
    fake.cpu.nx = false;
    fake.cpu.huge_1g = false;
    fake.cpu.pat = false;
    let b = boot(fake);
    assert_eq!(b.args.efer, (1 << 8) | (1 << 10));
    assert_eq!(b.pat, None);
    let ram = b.fake.ram.borrow();
    let page = translate(&*ram, b.args.cr3, hhdm(0x6000_0000)).expect("HHDM");
    assert_eq!(page.page_size, PageSize::Size2MiB);
}

#[test]
fn quiesce_follows_the_revision_and_the_cpu() {
    let b = boot(machine(&Kernel::new(vec![])));
    assert!(b.reset_local_apic);
    assert_eq!(b.pat, Some(paging::PAT_MSR_VALUE));
    assert_eq!(b.io_apics, Vec::new());
}

#[test]
fn ioapic_entries_to_mask() {
    // (delivery mode, masked under revision 4, under revision 5)
    for (mode, rev4, rev5) in [
        (0b000, true, true),   // Fixed
        (0b001, true, true),   // Lowest priority
        (0b010, false, false), // SMI
        (0b100, false, true),  // NMI
        (0b101, false, false), // INIT
        (0b111, false, true),  // ExtINT
    ] {
        let low = (mode << 8) | 0x30;
        assert_eq!(ioapic_entry_must_be_masked(low, 4), rev4, "mode {mode:#b}");
        assert_eq!(ioapic_entry_must_be_masked(low, 5), rev5, "mode {mode:#b}");
    }
}

/// ACPI tables with one IOAPIC: RSDP (revision 2) -> XSDT -> MADT.
fn acpi_tables(rsdp_checksum_ok: bool) -> Vec<(u64, Vec<u8>)> {
    fn sum(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b))
    }
    fn sdt(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 36];
        t[..4].copy_from_slice(sig);
        t[4..8].copy_from_slice(&(36 + body.len() as u32).to_le_bytes());
        t[8] = 1;
        t.extend_from_slice(body);
        t[9] = 0u8.wrapping_sub(sum(&t));
        t
    }
    let rsdp_at = ACPI_BASE;
    let xsdt_at = ACPI_BASE + 0x100;
    let madt_at = ACPI_BASE + 0x200;
    let mut rsdp = vec![0u8; 36];
    rsdp[..8].copy_from_slice(b"RSD PTR ");
    rsdp[15] = 2;
    rsdp[20..24].copy_from_slice(&36u32.to_le_bytes());
    rsdp[24..32].copy_from_slice(&xsdt_at.to_le_bytes());
    rsdp[8] = 0u8.wrapping_sub(sum(&rsdp[..20]));
    rsdp[32] = 0u8.wrapping_sub(sum(&rsdp));
    if !rsdp_checksum_ok {
        rsdp[8] ^= 1;
    }
    let xsdt = sdt(b"XSDT", &madt_at.to_le_bytes());
    let mut madt_body = vec![0u8; 8];
    madt_body.extend_from_slice(&[1, 12, 7, 0]);
    madt_body.extend_from_slice(&0xfec0_0000u32.to_le_bytes());
    madt_body.extend_from_slice(&0u32.to_le_bytes());
    let madt = sdt(b"APIC", &madt_body);
    vec![(rsdp_at, rsdp), (xsdt_at, xsdt), (madt_at, madt)]
}

#[test]
fn ioapics_come_from_the_madt() {
    let mut fake = machine(&Kernel::new(vec![]));
    fake.acpi = acpi_tables(true);
    fake.tables.rsdp = Some(ACPI_BASE);
    let b = boot(fake);
    assert_eq!(
        b.io_apics,
        vec![IoApic {
            id: 7,
            address: 0xfec0_0000,
            gsi_base: 0
        }]
    );
    assert!(b.fake.said.is_empty(), "{:?}", b.fake.said);
}

#[test]
fn a_broken_madt_is_reported_and_the_boot_goes_on() {
    let mut fake = machine(&Kernel::new(vec![]));
    fake.acpi = acpi_tables(false);
    fake.tables.rsdp = Some(ACPI_BASE);
    let b = boot(fake);
    assert_eq!(b.io_apics, Vec::new());
    assert_eq!(
        b.fake.said,
        vec![
            "loader: warning: ACPI RSDP has a bad signature or checksum; IOAPIC entries stay \
             as the firmware left them"
                .to_string()
        ]
    );
}

#[test]
fn stack_size_request_enlarges_the_stack() {
    let kernel = Kernel::new(vec![req_with(Feature::StackSize, 0, &[256 * 1024 + 1])]);
    let b = boot(machine(&kernel));
    assert!(b.response(0) > HHDM_OFFSET);
    let ram = b.fake.ram.borrow();
    let size = 256 * 1024 + 4096;
    let top = translate(&*ram, b.args.cr3, b.args.stack_top - 8).expect("mapped");
    let bottom = translate(&*ram, b.args.cr3, b.args.stack_top - size).expect("mapped");
    assert_eq!(top.phys - bottom.phys, size - 8);
    // A smaller request keeps the 64 KiB minimum.
    drop(ram);
    let small = Kernel::new(vec![req_with(Feature::StackSize, 0, &[4096])]);
    let mut fake = machine(&small);
    let prepared = prepare(&mut fake).expect("boots");
    assert_eq!(prepared.stack.bytes().len() as u64, MIN_STACK_SIZE);
}

#[test]
fn entry_point_request_moves_the_entry() {
    let kernel = Kernel::new(vec![req_with(Feature::EntryPoint, 0, &[BASE + 0x800])]);
    let b = boot(machine(&kernel));
    assert_eq!(b.args.entry, BASE + 0x800);
    assert!(b.response(0) > HHDM_OFFSET);
}

#[test]
fn framebuffer_in_the_chosen_mode() {
    let mode = |number, width, height, format| DisplayMode {
        mode: Mode {
            number,
            width,
            height,
            format,
        },
        pitch: u64::from(width) * 4,
    };
    let kernel = Kernel::new(vec![req(Feature::Framebuffer), req(Feature::Memmap)]);
    let conf = CONF.replace("cmdline:", "resolution: 1024x768\n    cmdline:");
    let mut fake = machine(&kernel).file("/limine.conf", conf);
    fake.modes = vec![
        mode(0, 640, 480, Some(PixelFormat::BGRX)),
        mode(1, 1024, 768, Some(PixelFormat::BGRX)),
        mode(2, 1280, 800, None),
    ];
    let b = boot(fake);
    assert_eq!(b.fake.mode_switches, vec![1]);
    let resp = b.response(0);
    assert_eq!(b.u64(resp), 1, "response revision 1 (with modes)");
    assert_eq!(b.u64(resp + 8), 1);
    let fb = b.u64(b.u64(resp + 16));
    assert_eq!(b.u64(fb), hhdm(FB_BASE));
    assert_eq!(
        [b.u64(fb + 8), b.u64(fb + 16), b.u64(fb + 24)],
        [1024, 768, 4096]
    );
    let pixel = b.u64(fb + 32);
    assert_eq!(pixel & 0xffff, 32, "bpp");
    assert_eq!((pixel >> 16) & 0xff, u64::from(protocol::FRAMEBUFFER_RGB));
    assert_eq!((pixel >> 24) & 0xffff, 0x1008, "red: 8 bits at 16");
    // Only the two usable modes are listed.
    assert_eq!(b.u64(fb + 64), 2);
    let modes = b.u64(fb + 72);
    assert_eq!(b.u64(b.u64(modes + 8) + 8), 1024);
    // The framebuffer is in the memory map and mapped write-combining in the HHDM.
    let ram = b.fake.ram.borrow();
    let t = translate(&*ram, b.args.cr3, hhdm(FB_BASE)).expect("framebuffer mapped");
    assert_eq!(t.flags.cache, Cache::WriteCombining);
    drop(ram);
    let mm = b.response(1);
    let entries = b.u64(mm + 16);
    let fb_entry = (0..b.u64(mm + 8))
        .map(|i| b.u64(entries + i * 8))
        .find(|&e| b.u64(e + 16) == protocol::MEMMAP_FRAMEBUFFER)
        .expect("a framebuffer entry");
    assert_eq!(
        (b.u64(fb_entry), b.u64(fb_entry + 8)),
        (FB_BASE, 768 * 4096)
    );
}

#[test]
fn no_framebuffer_request_no_mode_switch() {
    let mut fake = machine(&Kernel::new(vec![req(Feature::Hhdm)]));
    fake.modes = vec![DisplayMode {
        mode: Mode {
            number: 0,
            width: 800,
            height: 600,
            format: Some(PixelFormat::RGBX),
        },
        pitch: 3200,
    }];
    let b = boot(fake);
    assert_eq!(b.fake.mode_listings, 0);
    assert!(b.fake.mode_switches.is_empty());
}

// --- the menu ----------------------------------------------------------------------------------

const TWO_ENTRIES: &str = "timeout: 3\ndefault_entry: 2\n\
    /One\n    protocol: limine\n    kernel_path: boot():/boot/kernel\n    cmdline: one\n\
    /Two\n    protocol: limine\n    kernel_path: boot():/boot/kernel\n    cmdline: two\n";

#[test]
fn the_menu_offers_the_entries_and_boots_the_choice() {
    let kernel = Kernel::new(vec![req(Feature::ExecutableCmdline)]);
    let mut fake = machine(&kernel).file("/limine.conf", TWO_ENTRIES);
    fake.menu_answer = 0;
    let b = boot(fake);
    assert_eq!(
        b.fake.menus,
        vec![(vec!["One".to_string(), "Two".to_string()], 1, Some(3))]
    );
    assert_eq!(b.cstr(b.u64(b.response(0) + 8)), "one");
}

#[test]
fn timeout_zero_boots_the_default_without_a_menu() {
    let kernel = Kernel::new(vec![req(Feature::ExecutableCmdline)]);
    let conf = TWO_ENTRIES.replace("timeout: 3", "timeout: 0");
    let b = boot(machine(&kernel).file("/limine.conf", conf));
    assert!(b.fake.menus.is_empty());
    assert_eq!(b.cstr(b.u64(b.response(0) + 8)), "two");
}

#[test]
fn timeout_no_waits_forever_even_for_one_entry() {
    let conf = CONF.replace("timeout: 0", "timeout: no");
    let b = boot(machine(&Kernel::new(vec![])).file("/limine.conf", conf));
    assert_eq!(b.fake.menus, vec![(vec!["Kernel".to_string()], 0, None)]);
}

#[test]
fn the_config_is_looked_for_in_order() {
    let kernel = Kernel::new(vec![]);
    let fake = Fake::new()
        .file("/boot/limine/limine.conf", CONF)
        .file("/boot/kernel", kernel.elf());
    let conf = CONF.replace("timeout: 0\n", "timeout: 0\nverbose: yes\n");
    let b = boot(fake.file("/EFI/BOOT/limine.conf", conf));
    // `/boot/limine/limine.conf` comes before `/EFI/BOOT/limine.conf`: not verbose.
    assert!(b.fake.said.is_empty());
}

// --- refusals, each with its message ------------------------------------------------------------

#[test]
fn refuses_a_five_level_firmware() {
    let mut fake = machine(&Kernel::new(vec![]));
    fake.cpu.la57_active = true;
    let (e, fake) = refusal(fake);
    assert_eq!(e, LoadError::FiveLevelFirmware);
    assert_eq!(
        e.to_string(),
        "the firmware runs 5-level paging; the bundled loader hands off with 4-level paging \
         only (use real Limine, or firmware/QEMU settings without 5-level paging)"
    );
    // Refused before anything was read or allocated.
    assert!(fake.said.is_empty() && fake.ram.borrow().bytes(fake::ALLOC_BASE, 1).is_none());
}

#[test]
fn refuses_without_a_config() {
    let (e, _) = refusal(Fake::new());
    assert_eq!(e, LoadError::NoConfig);
    let msg = e.to_string();
    assert!(msg.starts_with("limine.conf not found on the boot volume (looked for /limine.conf, "));
    for path in config::CONFIG_SEARCH_PATHS {
        assert!(msg.contains(path), "{msg}");
    }
}

#[test]
fn refuses_a_config_that_is_not_text() {
    let fake = Fake::new().file("/limine.conf", vec![b'a', 0xff, 0xfe]);
    assert_eq!(refusal_message(fake), "/limine.conf is not UTF-8 text");
}

#[test]
fn refuses_a_config_that_does_not_parse() {
    let fake = Fake::new().file("/limine.conf", "timeout: 0\n/K\n    this has no colon\n");
    assert!(refusal_message(fake).starts_with("limine.conf line 3: expected `key: value`"),);
}

#[test]
fn refuses_a_config_naming_another_volume() {
    let conf = CONF.replace("boot():", "hdd(1:2):");
    let fake = Fake::new().file("/limine.conf", conf);
    assert_eq!(
        refusal_message(fake),
        "limine.conf line 4: `kernel_path: hdd(1:2):/boot/kernel` is not on `boot()`; the \
         bundled loader reads files only from the volume holding limine.conf (`boot():/...`)"
    );
}

#[test]
fn reports_a_config_read_error() {
    let mut fake = Fake::new();
    let status = EfiStatus(EfiStatus::ERROR_BIT | 7);
    fake.broken_files.insert(
        "/limine.conf".into(),
        FileError::Io("/limine.conf".into(), status),
    );
    assert_eq!(
        refusal_message(fake),
        "/limine.conf: read error DEVICE_ERROR"
    );
    let mut fake = Fake::new();
    fake.broken_files
        .insert("/limine.conf".into(), FileError::NoVolume(status));
    assert_eq!(
        refusal_message(fake),
        "cannot open the boot volume: DEVICE_ERROR"
    );
}

#[test]
fn refuses_an_entry_it_cannot_boot() {
    let conf = CONF.replace("protocol: limine", "protocol: linux");
    let fake = Fake::new().file("/limine.conf", conf);
    assert_eq!(
        refusal_message(fake),
        "limine.conf line 2, entry `Kernel` uses `protocol: linux`; the bundled loader boots \
         only `protocol: limine`"
    );
}

#[test]
fn refuses_a_missing_kernel() {
    let fake = Fake::new().file("/limine.conf", CONF);
    let (e, _) = refusal(fake);
    assert_eq!(
        e,
        LoadError::KernelFile(FileError::NotFound("/boot/kernel".into()))
    );
    assert_eq!(
        e.to_string(),
        "kernel file boot():/boot/kernel not found on the boot volume"
    );
}

#[test]
fn refuses_a_file_that_is_not_a_kernel() {
    let fake = Fake::new()
        .file("/limine.conf", CONF)
        .file("/boot/kernel", b"MZ not an ELF file".repeat(10));
    let (e, _) = refusal(fake);
    assert!(matches!(
        e,
        LoadError::Elf {
            error: ElfError::NotElf,
            ..
        }
    ));
    assert!(
        e.to_string()
            .starts_with("kernel boot():/boot/kernel cannot be loaded: "),
        "{e}"
    );
    let mut truncated = Kernel::new(vec![]).elf();
    truncated.truncate(0x2800);
    let fake = Fake::new()
        .file("/limine.conf", CONF)
        .file("/boot/kernel", truncated);
    let (e, _) = refusal(fake);
    assert!(
        matches!(
            e,
            LoadError::Elf {
                error: ElfError::SegmentOutOfFile { index: 1, .. },
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn refuses_malformed_requests() {
    let kernel = Kernel::new(vec![req(Feature::Hhdm), req(Feature::Hhdm)]);
    let (e, _) = refusal(machine(&kernel));
    assert!(matches!(
        e,
        LoadError::Scan(protocol::ScanError::DuplicateRequest { .. })
    ));
    assert!(e.to_string().starts_with("kernel requests: "), "{e}");
}

#[test]
fn refuses_a_kernel_without_base_revision_tag() {
    let kernel = Kernel {
        tag: None,
        ..Kernel::new(vec![])
    };
    let (e, _) = refusal(machine(&kernel));
    assert_eq!(e, LoadError::Revision(protocol::RevisionError::NoTag));
    assert!(
        e.to_string().starts_with("kernel has no base revision tag"),
        "{e}"
    );
    let old = Kernel {
        tag: Some(2),
        ..Kernel::new(vec![])
    };
    assert!(
        refusal_message(machine(&old))
            .starts_with("kernel asks for base revision 2, which this loader no longer supports")
    );
}

#[test]
fn refuses_a_kernel_that_needs_five_level_paging() {
    let kernel = Kernel::new(vec![req_with(
        Feature::PagingMode,
        1,
        &[1, 1, protocol::PAGING_MODE_X86_64_5LVL],
    )]);
    let (e, _) = refusal(machine(&kernel));
    assert_eq!(e, LoadError::FiveLevelKernel { min_mode: 1 });
    assert_eq!(
        e.to_string(),
        "the kernel requires 5-level paging (paging mode request min_mode 1), which the \
         bundled loader does not provide"
    );
    // Revision 0 of the request has no min_mode: 4-level is fine whatever `mode` prefers.
    let kernel = Kernel::new(vec![req_with(Feature::PagingMode, 0, &[1])]);
    let b = boot(machine(&kernel));
    assert_eq!(b.u64(b.response(0) + 8), protocol::PAGING_MODE_X86_64_4LVL);
}

#[test]
fn refuses_an_entry_point_outside_the_code() {
    for target in [DATA, BASE - 1, BASE + 0x1000, 0] {
        let kernel = Kernel::new(vec![req_with(Feature::EntryPoint, 0, &[target])]);
        let (e, _) = refusal(machine(&kernel));
        assert_eq!(e, LoadError::EntryPointOutsideCode { requested: target });
        assert_eq!(
            e.to_string(),
            format!(
                "entry point request names {target:#x}, which is not inside an executable \
                 segment"
            )
        );
    }
}

#[test]
fn refuses_a_request_field_outside_the_image() {
    // A stack size request whose header ends the file-backed data: its field is past the
    // scanned bytes. Without markers the whole image is scanned.
    let mut kernel = Kernel::new(vec![]);
    kernel.data_len = 0;
    let mut data = Vec::new();
    for w in [BASE_REVISION_MAGIC[0], BASE_REVISION_MAGIC[1], 6] {
        data.extend_from_slice(&w.to_le_bytes());
    }
    data.resize(0x1000 - 48, 0);
    let id = Feature::StackSize.id();
    for w in [COMMON_MAGIC[0], COMMON_MAGIC[1], id[0], id[1], 0, 0] {
        data.extend_from_slice(&w.to_le_bytes());
    }
    let mut elf = kernel.elf();
    elf.truncate(0x2000);
    elf.extend_from_slice(&data);
    // Data segment: file size 0x1000, no .bss, so the block ends right after the request.
    elf[64 + 56 + 32..64 + 56 + 40].copy_from_slice(&0x1000u64.to_le_bytes());
    elf[64 + 56 + 40..64 + 56 + 48].copy_from_slice(&0x1000u64.to_le_bytes());
    let fake = Fake::new()
        .file("/limine.conf", CONF)
        .file("/boot/kernel", elf);
    let (e, _) = refusal(fake);
    assert_eq!(e, LoadError::RequestOutsideImage { offset: 0x2000 });
    assert_eq!(
        e.to_string(),
        "kernel requests: a request field at image offset 0x2000 lies outside the loaded image"
    );
}

#[test]
fn reports_each_allocation_that_fails() {
    let kernel = Kernel::new(vec![req_with(Feature::StackSize, 0, &[8 << 20])]);
    let mut fake = machine(&kernel);
    fake.refuse = Some(Memory::KernelImage);
    assert_eq!(refusal_message(fake), "out of memory for the kernel image");
    let mut fake = machine(&kernel);
    fake.refuse = Some(Memory::Reclaimable);
    assert_eq!(refusal_message(fake), "out of memory for the responses");
    let mut fake = machine(&kernel);
    fake.refuse_from_bytes = 8 << 20;
    assert_eq!(refusal_message(fake), "out of memory for the kernel stack");
    let mut fake = machine(&Kernel::new(vec![]));
    fake.extent = Some((1 << 20, 1 << 40));
    fake.refuse_from_bytes = 1 << 30;
    assert_eq!(refusal_message(fake), "out of memory for page tables");
}

// --- after ExitBootServices -------------------------------------------------------------------

#[test]
fn finish_reports_a_memory_map_it_cannot_describe() {
    let mut fake = machine(&Kernel::new(vec![req(Feature::Memmap)]));
    let prepared = prepare(&mut fake).expect("boots");
    let mut map = fake.final_map();
    // Alternate types page by page: far more entries than the response can hold.
    let start = 0x2000_0000u64;
    let last = map.regions.last_mut().expect("regions");
    assert_eq!(last.phys_start + last.pages * 4096, fake::RAM_END);
    last.pages = (start - last.phys_start) / 4096;
    for i in 0..1100u64 {
        map.regions.push(crate::memmap::UefiRegion {
            ty: if i % 2 == 0 { 0 } else { 7 },
            phys_start: start + i * 4096,
            pages: 1,
            attribute: 0,
        });
    }
    let e = prepared.finish(&map).expect_err("too fragmented");
    assert!(matches!(e, FinishError::Memmap(_)), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("memory map: memory map would have "),
        "{e}"
    );
}

#[test]
fn finish_reports_a_page_table_pool_that_ran_out() {
    let mut fake = machine(&Kernel::new(vec![]));
    fake.cpu.huge_1g = false;
    fake.extent = Some((0, 0));
    let prepared = prepare(&mut fake).expect("boots");
    let mut map = fake.final_map();
    // Far more RAM than the estimate promised: 512 GiB of 2 MiB pages need 512 directories.
    map.regions.push(crate::memmap::UefiRegion {
        ty: 7,
        phys_start: 1 << 32,
        pages: (512u64 << 30) / 4096,
        attribute: 0,
    });
    let e = prepared.finish(&map).expect_err("pool too small");
    assert!(matches!(e, FinishError::Hhdm { .. }), "{e:?}");
    assert!(e.to_string().starts_with("HHDM 0x"), "{e}");
}

#[test]
fn finish_error_messages() {
    let paging = paging::PagingError::OutOfMemory;
    for (e, text) in [
        (
            FinishError::MemmapTooLarge {
                entries: 2000,
                capacity: 1024,
            },
            "memory map has 2000 entries, more than the 1024 reserved for it",
        ),
        (
            FinishError::ResponsesFull,
            "out of room for the responses (loader bug)",
        ),
        (
            FinishError::KernelSegment {
                at: BASE,
                error: paging,
            },
            "kernel segment at 0xffffffff80000000: ",
        ),
        (FinishError::Trampoline(paging), "trampoline identity map: "),
        (FinishError::PageTables(paging), "page tables: "),
    ] {
        assert!(e.to_string().starts_with(text), "{e}");
    }
}

// --- the BIOS entry ---------------------------------------------------------------------------

#[test]
fn bios_firmware_type_builtins_and_no_efi_memory_map() {
    let kernel = Kernel::new(alloc::vec![
        req(Feature::FirmwareType),
        req(Feature::Memmap),
        req(Feature::EfiMemmap),
        req(Feature::ExecutableCmdline),
    ]);
    let mut fake = Fake::new()
        .file(
            "/boot/limine.conf",
            "timeout: 0\n/Kernel\n    protocol: limine\n    kernel_path: boot():/boot/kernel\n    \
             cmdline: fw=${FW_TYPE}\n",
        )
        .file("/boot/kernel", kernel.elf());
    fake.kind = FirmwareKind::Bios;
    let prepared = prepare(&mut fake).unwrap_or_else(|e| panic!("refused: {e}"));
    let map = fake.bios_final_map();
    let args = prepared.finish(&map).unwrap_or_else(|e| panic!("{e}"));
    let b = Booted {
        fake,
        args,
        revision: 6,
        io_apics: Vec::new(),
        reset_local_apic: true,
        pat: None,
    };
    assert_eq!(b.u64(b.response(0) + 8), protocol::FIRMWARE_TYPE_X86_BIOS);
    // The memory map is answered from the typed regions; the EFI memory map is not.
    let memmap = b.response(1);
    assert!(memmap > HHDM_OFFSET);
    assert!(b.u64(memmap + 8) > 2, "entry count");
    assert_eq!(b.response(2), 0, "EFI memory map answered on BIOS");
    assert_eq!(b.cstr(b.u64(b.response(3) + 8)), "fw=BIOS");
}
