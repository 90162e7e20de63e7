//! The `#[repr(C)]` layouts of every response the loader writes, checked at compile time.

use super::*;

/// The field every response starts with.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseHeader {
    /// Response revision the loader implements.
    pub revision: u64,
}

/// Bootloader info response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BootloaderInfoResponse {
    /// Response revision (0).
    pub revision: u64,
    /// HHDM address of a NUL-terminated ASCII name.
    pub name: u64,
    /// HHDM address of a NUL-terminated ASCII version.
    pub version: u64,
}

/// Executable command line response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutableCmdlineResponse {
    /// Response revision (0).
    pub revision: u64,
    /// HHDM address of the NUL-terminated command line (`""` when unset, never NULL).
    pub cmdline: u64,
}

/// Firmware type response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirmwareTypeResponse {
    /// Response revision (0).
    pub revision: u64,
    /// One of the `FIRMWARE_TYPE_*` constants ([`FIRMWARE_TYPE_UEFI64`] for us).
    pub firmware_type: u64,
}

/// Stack size response (revision 0, no fields).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackSizeResponse {
    /// Response revision (0).
    pub revision: u64,
}

/// HHDM response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HhdmResponse {
    /// Response revision (0).
    pub revision: u64,
    /// Virtual address of physical address 0.
    pub offset: u64,
}

/// Framebuffer response (revision 1 when every framebuffer has valid `mode_count`/`modes`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FramebufferResponse {
    /// Response revision.
    pub revision: u64,
    /// Number of framebuffers.
    pub framebuffer_count: u64,
    /// HHDM address of an array of `framebuffer_count` HHDM pointers to [`Framebuffer`].
    pub framebuffers: u64,
}

/// `limine_framebuffer` (80 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Framebuffer {
    /// HHDM address of the pixels (mapped write-combining).
    pub address: u64,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Bytes per row.
    pub pitch: u64,
    /// Bits per pixel.
    pub bpp: u16,
    /// [`FRAMEBUFFER_RGB`].
    pub memory_model: u8,
    /// Red mask width in bits.
    pub red_mask_size: u8,
    /// Red mask lowest bit.
    pub red_mask_shift: u8,
    /// Green mask width in bits.
    pub green_mask_size: u8,
    /// Green mask lowest bit.
    pub green_mask_shift: u8,
    /// Blue mask width in bits.
    pub blue_mask_size: u8,
    /// Blue mask lowest bit.
    pub blue_mask_shift: u8,
    /// Unused, zero.
    pub unused: [u8; 7],
    /// EDID size in bytes (0 if none).
    pub edid_size: u64,
    /// HHDM address of the EDID blob, NULL if none.
    pub edid: u64,
    /// Number of video modes (response revision ≥ 1).
    pub mode_count: u64,
    /// HHDM address of an array of HHDM pointers to [`VideoMode`] (response revision ≥ 1).
    pub modes: u64,
}

/// `limine_video_mode` (40 bytes; the last 7 are padding, zero).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoMode {
    /// Bytes per row.
    pub pitch: u64,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Bits per pixel.
    pub bpp: u16,
    /// [`FRAMEBUFFER_RGB`].
    pub memory_model: u8,
    /// Red mask width in bits.
    pub red_mask_size: u8,
    /// Red mask lowest bit.
    pub red_mask_shift: u8,
    /// Green mask width in bits.
    pub green_mask_size: u8,
    /// Green mask lowest bit.
    pub green_mask_shift: u8,
    /// Blue mask width in bits.
    pub blue_mask_size: u8,
    /// Blue mask lowest bit.
    pub blue_mask_shift: u8,
    /// Tail padding of the C struct, made explicit so every byte is initialised.
    pub padding: [u8; 7],
}

/// Paging mode response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PagingModeResponse {
    /// Response revision (0).
    pub revision: u64,
    /// Mode enabled ([`PAGING_MODE_X86_64_4LVL`] for us).
    pub mode: u64,
}

/// MP response, x86-64 layout (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MpResponse {
    /// Response revision (0).
    pub revision: u64,
    /// Bit 0 ([`MP_X2APIC`]): x2APIC enabled.
    pub flags: u32,
    /// LAPIC ID of the bootstrap processor.
    pub bsp_lapic_id: u32,
    /// Number of CPUs, BSP included.
    pub cpu_count: u64,
    /// HHDM address of an array of `cpu_count` HHDM pointers to [`MpInfo`].
    pub cpus: u64,
}

/// `limine_mp_info`, x86-64 layout (32 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MpInfo {
    /// ACPI processor UID from the MADT.
    pub processor_id: u32,
    /// LAPIC ID from the MADT.
    pub lapic_id: u32,
    /// Loader-private (AP stack top); the kernel must not modify it.
    pub reserved: u64,
    /// Where the AP jumps once written (NULL at entry).
    pub goto_address: u64,
    /// Free for the kernel.
    pub extra_argument: u64,
}

/// Memory map response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemmapResponse {
    /// Response revision (0).
    pub revision: u64,
    /// Number of entries.
    pub entry_count: u64,
    /// HHDM address of an array of `entry_count` HHDM pointers to [`MemmapEntry`].
    pub entries: u64,
}

/// `limine_memmap_entry` (24 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MemmapEntry {
    /// Physical base.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// One of the `MEMMAP_*` constants.
    pub ty: u64,
}

impl MemmapEntry {
    /// End of the entry (exclusive), `None` if it would exceed `u64::MAX`.
    pub const fn end(&self) -> Option<u64> {
        self.base.checked_add(self.length)
    }
}

/// Entry point response (revision 0, no fields).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryPointResponse {
    /// Response revision (0).
    pub revision: u64,
}

/// Executable file response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutableFileResponse {
    /// Response revision (0).
    pub revision: u64,
    /// HHDM address of the [`File`] describing the kernel as read from disk.
    pub executable_file: u64,
}

/// Module response.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModuleResponse {
    /// Response revision.
    pub revision: u64,
    /// Number of modules.
    pub module_count: u64,
    /// HHDM address of an array of `module_count` HHDM pointers to [`File`].
    pub modules: u64,
}

/// `limine_internal_module` as the kernel provides it in a module request (24 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InternalModule {
    /// Virtual address of the path, relative to the executable's directory.
    pub path: u64,
    /// Virtual address of the command line (non-NULL, may be `""`).
    pub cmdline: u64,
    /// [`INTERNAL_MODULE_REQUIRED`], [`INTERNAL_MODULE_COMPRESSED`].
    pub flags: u64,
}

/// `limine_uuid` (16 bytes; all zero means unknown).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uuid {
    /// First group.
    pub a: u32,
    /// Second group.
    pub b: u16,
    /// Third group.
    pub c: u16,
    /// Remaining bytes.
    pub d: [u8; 8],
}

/// `limine_file` (112 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct File {
    /// Structure revision (0).
    pub revision: u64,
    /// HHDM address of the contents (4 KiB aligned).
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
    /// HHDM address of the path within the volume (leading `/`).
    pub path: u64,
    /// HHDM address of the command line (`""` when unset, never NULL).
    pub cmdline: u64,
    /// One of the `MEDIA_TYPE_*` constants.
    pub media_type: u32,
    /// Unused, zero.
    pub unused: u32,
    /// TFTP server IPv4 address (0 if not TFTP).
    pub tftp_ip: u32,
    /// TFTP server port (0 if not TFTP).
    pub tftp_port: u32,
    /// 1-based partition index, 0 = none.
    pub partition_index: u32,
    /// MBR disk ID, 0 = none.
    pub mbr_disk_id: u32,
    /// GPT disk UUID.
    pub gpt_disk_uuid: Uuid,
    /// GPT partition UUID.
    pub gpt_part_uuid: Uuid,
    /// Filesystem UUID.
    pub part_uuid: Uuid,
}

/// RSDP response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RsdpResponse {
    /// Response revision (0).
    pub revision: u64,
    /// RSDP address: physical under revision 3, HHDM otherwise ([`rsdp_pointer_physical`]).
    pub address: u64,
}

/// SMBIOS response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmbiosResponse {
    /// Response revision (0).
    pub revision: u64,
    /// 32-bit (`_SM_`) entry point address, 0 if absent; physical under revisions 3–4.
    pub entry_32: u64,
    /// 64-bit (`_SM3_`) entry point address, 0 if absent; physical under revisions 3–4.
    pub entry_64: u64,
}

/// EFI system table response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EfiSystemTableResponse {
    /// Response revision (0).
    pub revision: u64,
    /// System table address; physical under revisions 3–4, HHDM otherwise.
    pub address: u64,
}

/// EFI memory map response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EfiMemmapResponse {
    /// Response revision (0).
    pub revision: u64,
    /// HHDM address of a bootloader-reclaimable copy of the firmware map.
    pub memmap: u64,
    /// Size of that copy in bytes.
    pub memmap_size: u64,
    /// Size of one descriptor.
    pub desc_size: u64,
    /// Descriptor version.
    pub desc_version: u64,
}

/// Date at boot response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateAtBootResponse {
    /// Response revision (0).
    pub revision: u64,
    /// UNIX time in seconds, from the RTC at boot.
    pub timestamp: i64,
}

/// Executable address response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutableAddressResponse {
    /// Response revision (0).
    pub revision: u64,
    /// Physical address of the image's lowest byte.
    pub physical_base: u64,
    /// Virtual address of the image's lowest byte (lowest `p_vaddr` plus slide).
    pub virtual_base: u64,
}

// Layout checks against the C structures of PROTOCOL.md ("Features", "Feature List").
const _: () = {
    assert!(size_of::<RequestHeader>() == 48);
    assert!(offset_of!(RequestHeader, revision) == 32);
    assert!(offset_of!(RequestHeader, response) == 40);

    assert!(size_of::<ResponseHeader>() == 8);

    assert!(size_of::<BootloaderInfoResponse>() == 24);
    assert!(offset_of!(BootloaderInfoResponse, name) == 8);
    assert!(offset_of!(BootloaderInfoResponse, version) == 16);

    assert!(size_of::<ExecutableCmdlineResponse>() == 16);
    assert!(offset_of!(ExecutableCmdlineResponse, cmdline) == 8);

    assert!(size_of::<FirmwareTypeResponse>() == 16);
    assert!(offset_of!(FirmwareTypeResponse, firmware_type) == 8);

    assert!(size_of::<StackSizeResponse>() == 8);

    assert!(size_of::<HhdmResponse>() == 16);
    assert!(offset_of!(HhdmResponse, offset) == 8);

    assert!(size_of::<FramebufferResponse>() == 24);
    assert!(offset_of!(FramebufferResponse, framebuffer_count) == 8);
    assert!(offset_of!(FramebufferResponse, framebuffers) == 16);

    assert!(size_of::<Framebuffer>() == 80);
    assert!(offset_of!(Framebuffer, address) == 0);
    assert!(offset_of!(Framebuffer, width) == 8);
    assert!(offset_of!(Framebuffer, height) == 16);
    assert!(offset_of!(Framebuffer, pitch) == 24);
    assert!(offset_of!(Framebuffer, bpp) == 32);
    assert!(offset_of!(Framebuffer, memory_model) == 34);
    assert!(offset_of!(Framebuffer, red_mask_size) == 35);
    assert!(offset_of!(Framebuffer, red_mask_shift) == 36);
    assert!(offset_of!(Framebuffer, green_mask_size) == 37);
    assert!(offset_of!(Framebuffer, green_mask_shift) == 38);
    assert!(offset_of!(Framebuffer, blue_mask_size) == 39);
    assert!(offset_of!(Framebuffer, blue_mask_shift) == 40);
    assert!(offset_of!(Framebuffer, unused) == 41);
    assert!(offset_of!(Framebuffer, edid_size) == 48);
    assert!(offset_of!(Framebuffer, edid) == 56);
    assert!(offset_of!(Framebuffer, mode_count) == 64);
    assert!(offset_of!(Framebuffer, modes) == 72);

    assert!(size_of::<VideoMode>() == 40);
    assert!(offset_of!(VideoMode, pitch) == 0);
    assert!(offset_of!(VideoMode, width) == 8);
    assert!(offset_of!(VideoMode, height) == 16);
    assert!(offset_of!(VideoMode, bpp) == 24);
    assert!(offset_of!(VideoMode, memory_model) == 26);
    assert!(offset_of!(VideoMode, red_mask_size) == 27);
    assert!(offset_of!(VideoMode, red_mask_shift) == 28);
    assert!(offset_of!(VideoMode, green_mask_size) == 29);
    assert!(offset_of!(VideoMode, green_mask_shift) == 30);
    assert!(offset_of!(VideoMode, blue_mask_size) == 31);
    assert!(offset_of!(VideoMode, blue_mask_shift) == 32);

    assert!(size_of::<PagingModeResponse>() == 16);
    assert!(offset_of!(PagingModeResponse, mode) == 8);

    assert!(size_of::<MpResponse>() == 32);
    assert!(offset_of!(MpResponse, flags) == 8);
    assert!(offset_of!(MpResponse, bsp_lapic_id) == 12);
    assert!(offset_of!(MpResponse, cpu_count) == 16);
    assert!(offset_of!(MpResponse, cpus) == 24);

    assert!(size_of::<MpInfo>() == 32);
    assert!(offset_of!(MpInfo, processor_id) == 0);
    assert!(offset_of!(MpInfo, lapic_id) == 4);
    assert!(offset_of!(MpInfo, reserved) == 8);
    assert!(offset_of!(MpInfo, goto_address) == 16);
    assert!(offset_of!(MpInfo, extra_argument) == 24);

    assert!(size_of::<MemmapResponse>() == 24);
    assert!(offset_of!(MemmapResponse, entry_count) == 8);
    assert!(offset_of!(MemmapResponse, entries) == 16);

    assert!(size_of::<MemmapEntry>() == 24);
    assert!(offset_of!(MemmapEntry, base) == 0);
    assert!(offset_of!(MemmapEntry, length) == 8);
    assert!(offset_of!(MemmapEntry, ty) == 16);

    assert!(size_of::<EntryPointResponse>() == 8);

    assert!(size_of::<ExecutableFileResponse>() == 16);
    assert!(offset_of!(ExecutableFileResponse, executable_file) == 8);

    assert!(size_of::<ModuleResponse>() == 24);
    assert!(offset_of!(ModuleResponse, module_count) == 8);
    assert!(offset_of!(ModuleResponse, modules) == 16);

    assert!(size_of::<InternalModule>() == 24);
    assert!(offset_of!(InternalModule, path) == 0);
    assert!(offset_of!(InternalModule, cmdline) == 8);
    assert!(offset_of!(InternalModule, flags) == 16);

    assert!(size_of::<Uuid>() == 16);
    assert!(offset_of!(Uuid, a) == 0);
    assert!(offset_of!(Uuid, b) == 4);
    assert!(offset_of!(Uuid, c) == 6);
    assert!(offset_of!(Uuid, d) == 8);

    assert!(size_of::<File>() == 112);
    assert!(offset_of!(File, revision) == 0);
    assert!(offset_of!(File, address) == 8);
    assert!(offset_of!(File, size) == 16);
    assert!(offset_of!(File, path) == 24);
    assert!(offset_of!(File, cmdline) == 32);
    assert!(offset_of!(File, media_type) == 40);
    assert!(offset_of!(File, unused) == 44);
    assert!(offset_of!(File, tftp_ip) == 48);
    assert!(offset_of!(File, tftp_port) == 52);
    assert!(offset_of!(File, partition_index) == 56);
    assert!(offset_of!(File, mbr_disk_id) == 60);
    assert!(offset_of!(File, gpt_disk_uuid) == 64);
    assert!(offset_of!(File, gpt_part_uuid) == 80);
    assert!(offset_of!(File, part_uuid) == 96);

    assert!(size_of::<RsdpResponse>() == 16);
    assert!(offset_of!(RsdpResponse, address) == 8);

    assert!(size_of::<SmbiosResponse>() == 24);
    assert!(offset_of!(SmbiosResponse, entry_32) == 8);
    assert!(offset_of!(SmbiosResponse, entry_64) == 16);

    assert!(size_of::<EfiSystemTableResponse>() == 16);
    assert!(offset_of!(EfiSystemTableResponse, address) == 8);

    assert!(size_of::<EfiMemmapResponse>() == 40);
    assert!(offset_of!(EfiMemmapResponse, memmap) == 8);
    assert!(offset_of!(EfiMemmapResponse, memmap_size) == 16);
    assert!(offset_of!(EfiMemmapResponse, desc_size) == 24);
    assert!(offset_of!(EfiMemmapResponse, desc_version) == 32);

    assert!(size_of::<DateAtBootResponse>() == 16);
    assert!(offset_of!(DateAtBootResponse, timestamp) == 8);

    assert!(size_of::<ExecutableAddressResponse>() == 24);
    assert!(offset_of!(ExecutableAddressResponse, physical_base) == 8);
    assert!(offset_of!(ExecutableAddressResponse, virtual_base) == 16);
};

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// A structure the loader writes into memory the kernel reads, in the byte layout above.
///
/// The library has no `unsafe`, so structures are not copied as raw memory: each field is
/// written little-endian at its `offset_of!` position. Padding is left untouched (the loader
/// writes into zeroed memory).
pub trait Encode {
    /// Writes every field into `out`, which starts where the structure goes. Fields that would
    /// fall outside `out` are not written; give it at least `size_of::<Self>()` bytes.
    fn encode(&self, out: &mut [u8]);
}

/// One field's little-endian bytes at `at`.
trait Field {
    fn put(&self, out: &mut [u8], at: usize);
}

fn put_bytes(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = at
        .checked_add(bytes.len())
        .and_then(|end| out.get_mut(at..end))
    {
        dst.copy_from_slice(bytes);
    }
}

macro_rules! le_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn put(&self, out: &mut [u8], at: usize) {
                put_bytes(out, at, &self.to_le_bytes());
            }
        }
    )*};
}
le_field!(u8, u16, u32, u64, i64);

impl<const N: usize> Field for [u8; N] {
    fn put(&self, out: &mut [u8], at: usize) {
        put_bytes(out, at, self);
    }
}

impl<const N: usize> Field for [u64; N] {
    fn put(&self, out: &mut [u8], at: usize) {
        for (i, word) in self.iter().enumerate() {
            word.put(out, at.saturating_add(i.saturating_mul(8)));
        }
    }
}

impl<T: Encode> Field for T {
    fn put(&self, out: &mut [u8], at: usize) {
        if let Some(tail) = out.get_mut(at..) {
            self.encode(tail);
        }
    }
}

/// `size_of` of a field, named by a projection (only its type matters).
const fn field_size<S, F>(_: fn(&S) -> &F) -> usize {
    size_of::<F>()
}

/// Implements [`Encode`] for structures, listing every field. The compile-time check that the
/// fields' sizes add up to the structure's size catches a forgotten field (every structure
/// here spells its padding out as a field).
macro_rules! encode {
    ($($ty:ident { $($field:ident),+ $(,)? })+) => {$(
        impl Encode for $ty {
            fn encode(&self, out: &mut [u8]) {
                $( Field::put(&self.$field, out, offset_of!($ty, $field)); )+
            }
        }
        const _: () = assert!(
            0 $(+ field_size(|s: &$ty| &s.$field))+ == size_of::<$ty>(),
            concat!(stringify!($ty), ": a field is missing from its encode! list"),
        );
    )+};
}

encode! {
    RequestHeader { id, revision, response }
    ResponseHeader { revision }
    BootloaderInfoResponse { revision, name, version }
    ExecutableCmdlineResponse { revision, cmdline }
    FirmwareTypeResponse { revision, firmware_type }
    StackSizeResponse { revision }
    HhdmResponse { revision, offset }
    FramebufferResponse { revision, framebuffer_count, framebuffers }
    Framebuffer {
        address, width, height, pitch, bpp, memory_model, red_mask_size, red_mask_shift,
        green_mask_size, green_mask_shift, blue_mask_size, blue_mask_shift, unused, edid_size,
        edid, mode_count, modes,
    }
    VideoMode {
        pitch, width, height, bpp, memory_model, red_mask_size, red_mask_shift,
        green_mask_size, green_mask_shift, blue_mask_size, blue_mask_shift, padding,
    }
    PagingModeResponse { revision, mode }
    MpResponse { revision, flags, bsp_lapic_id, cpu_count, cpus }
    MpInfo { processor_id, lapic_id, reserved, goto_address, extra_argument }
    MemmapResponse { revision, entry_count, entries }
    MemmapEntry { base, length, ty }
    EntryPointResponse { revision }
    ExecutableFileResponse { revision, executable_file }
    ModuleResponse { revision, module_count, modules }
    InternalModule { path, cmdline, flags }
    Uuid { a, b, c, d }
    File {
        revision, address, size, path, cmdline, media_type, unused, tftp_ip, tftp_port,
        partition_index, mbr_disk_id, gpt_disk_uuid, gpt_part_uuid, part_uuid,
    }
    RsdpResponse { revision, address }
    SmbiosResponse { revision, entry_32, entry_64 }
    EfiSystemTableResponse { revision, address }
    EfiMemmapResponse { revision, memmap, memmap_size, desc_size, desc_version }
    DateAtBootResponse { revision, timestamp }
    ExecutableAddressResponse { revision, physical_base, virtual_base }
}
