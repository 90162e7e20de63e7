//! Feature IDs (request ID words 2 and 3) and the [`Feature`] each names.

use super::COMMON_MAGIC;

/// Words 2 and 3 of each feature's request ID (PROTOCOL.md, "Feature List"). Words 0 and 1 are
/// [`COMMON_MAGIC`].
pub mod feature_id {
    /// Bootloader info.
    pub const BOOTLOADER_INFO: [u64; 2] = [0xf550_38d8_e2a1_202f, 0x2794_26fc_f5f5_9740];
    /// Executable command line (Limine 9.0+).
    pub const EXECUTABLE_CMDLINE: [u64; 2] = [0x4b16_1536_e598_651e, 0xb390_ad4a_2f1f_303a];
    /// Firmware type.
    pub const FIRMWARE_TYPE: [u64; 2] = [0x8c2f_75d9_0bef_28a8, 0x7045_a468_8eac_00c3];
    /// Stack size.
    pub const STACK_SIZE: [u64; 2] = [0x224e_f046_0a8e_8926, 0xe1cb_0fc2_5f46_ea3d];
    /// Higher-half direct map.
    pub const HHDM: [u64; 2] = [0x48dc_f1cb_8ad2_b852, 0x6398_4e95_9a98_244b];
    /// Framebuffer.
    pub const FRAMEBUFFER: [u64; 2] = [0x9d58_27dc_d881_dd75, 0xa314_8604_f6fa_b11b];
    /// Paging mode.
    pub const PAGING_MODE: [u64; 2] = [0x95c1_a0ed_ab09_44cb, 0xa4e5_cb38_42f7_488a];
    /// MP (formerly SMP).
    pub const MP: [u64; 2] = [0x95a6_7b81_9a1b_857e, 0xa0b6_1b72_3b6a_73e0];
    /// Memory map.
    pub const MEMMAP: [u64; 2] = [0x67cf_3d9d_378a_806f, 0xe304_acdf_c50c_3c62];
    /// Entry point.
    pub const ENTRY_POINT: [u64; 2] = [0x13d8_6c03_5a1c_d3e1, 0x2b0c_aa89_d8f3_026a];
    /// Executable (formerly kernel) file.
    pub const EXECUTABLE_FILE: [u64; 2] = [0xad97_e90e_83f1_ed67, 0x31eb_5d1c_5ff2_3b69];
    /// Modules.
    pub const MODULE: [u64; 2] = [0x3e7e_2797_02be_32af, 0xca1c_4f3b_d128_0cee];
    /// RSDP.
    pub const RSDP: [u64; 2] = [0xc5e7_7b6b_397e_7b43, 0x2763_7845_accd_cf3c];
    /// SMBIOS entry points.
    pub const SMBIOS: [u64; 2] = [0x9e90_46f1_1e09_5391, 0xaa4a_520f_efbd_e5ee];
    /// EFI system table.
    pub const EFI_SYSTEM_TABLE: [u64; 2] = [0x5ceb_a516_3eaa_f6d6, 0x0a69_8161_0cf6_5fcc];
    /// EFI memory map.
    pub const EFI_MEMMAP: [u64; 2] = [0x7df6_2a43_1d68_72d5, 0xa4fc_dfb3_e573_06c8];
    /// Date at boot (formerly boot time).
    pub const DATE_AT_BOOT: [u64; 2] = [0x5027_46e1_84c0_88aa, 0xfbc5_ec83_e632_7893];
    /// Executable (formerly kernel) address.
    pub const EXECUTABLE_ADDRESS: [u64; 2] = [0x71ba_7686_3cc5_5f63, 0xb264_4a48_c516_a487];
    /// Device tree blob.
    pub const DTB: [u64; 2] = [0xb40d_db48_fb54_bac7, 0x5450_8149_3f81_ffb7];
    /// Deprecated 5-level paging request.
    pub const FIVE_LEVEL_PAGING: [u64; 2] = [0x9446_9551_da9b_3192, 0xebe5_e86d_b738_2888];
    /// Deprecated terminal request.
    pub const TERMINAL: [u64; 2] = [0xc8ac_5931_0c2b_0844, 0xa68d_0c72_65d3_8878];
    /// Bootloader performance (newer than crate 0.5).
    pub const BOOTLOADER_PERFORMANCE: [u64; 2] = [0x6b50_ad9b_f36d_13ad, 0xdc4c_7e88_fc75_9e17];
    /// x86-64 keep IOMMU (newer than crate 0.5).
    pub const KEEP_IOMMU: [u64; 2] = [0x8eba_abe5_1f49_0179, 0x2aa8_6a59_ffb4_ab0f];
    /// TSC frequency (newer than crate 0.5).
    pub const TSC_FREQUENCY: [u64; 2] = [0x10f2_ee1d_87d1_95e4, 0xf747_a2b7_8f6d_db31];
    /// TPM event log (newer than crate 0.5).
    pub const TPM_EVENT_LOG: [u64; 2] = [0x98e0_94fc_7e76_e979, 0xee8d_8775_c54e_1d1f];
    /// Flanterm framebuffer parameters (newer than crate 0.5).
    pub const FLANTERM_FB_PARAMS: [u64; 2] = [0x3259_399f_e7c5_f126, 0xe01c_1c8c_5db9_d1a9];
    /// Entropy (newer than crate 0.5).
    pub const ENTROPY: [u64; 2] = [0x65ea_8025_5d56_82c5, 0x9117_2407_23f4_93eb];
}

/// Every feature PROTOCOL.md's "Feature List" names, so a found request can be dispatched.
///
/// The loader does not have to answer all of them; an unanswered request keeps a NULL response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// See [`feature_id::BOOTLOADER_INFO`].
    BootloaderInfo,
    /// See [`feature_id::EXECUTABLE_CMDLINE`].
    ExecutableCmdline,
    /// See [`feature_id::FIRMWARE_TYPE`].
    FirmwareType,
    /// See [`feature_id::STACK_SIZE`].
    StackSize,
    /// See [`feature_id::HHDM`].
    Hhdm,
    /// See [`feature_id::FRAMEBUFFER`].
    Framebuffer,
    /// See [`feature_id::PAGING_MODE`].
    PagingMode,
    /// See [`feature_id::MP`].
    Mp,
    /// See [`feature_id::MEMMAP`].
    Memmap,
    /// See [`feature_id::ENTRY_POINT`].
    EntryPoint,
    /// See [`feature_id::EXECUTABLE_FILE`].
    ExecutableFile,
    /// See [`feature_id::MODULE`].
    Module,
    /// See [`feature_id::RSDP`].
    Rsdp,
    /// See [`feature_id::SMBIOS`].
    Smbios,
    /// See [`feature_id::EFI_SYSTEM_TABLE`].
    EfiSystemTable,
    /// See [`feature_id::EFI_MEMMAP`].
    EfiMemmap,
    /// See [`feature_id::DATE_AT_BOOT`].
    DateAtBoot,
    /// See [`feature_id::EXECUTABLE_ADDRESS`].
    ExecutableAddress,
    /// See [`feature_id::DTB`].
    Dtb,
    /// See [`feature_id::FIVE_LEVEL_PAGING`] (deprecated).
    FiveLevelPaging,
    /// See [`feature_id::TERMINAL`] (deprecated).
    Terminal,
    /// See [`feature_id::BOOTLOADER_PERFORMANCE`].
    BootloaderPerformance,
    /// See [`feature_id::KEEP_IOMMU`].
    KeepIommu,
    /// See [`feature_id::TSC_FREQUENCY`].
    TscFrequency,
    /// See [`feature_id::TPM_EVENT_LOG`].
    TpmEventLog,
    /// See [`feature_id::FLANTERM_FB_PARAMS`].
    FlantermFbParams,
    /// See [`feature_id::ENTROPY`].
    Entropy,
}

impl Feature {
    /// Every variant, in declaration order.
    pub const ALL: [Feature; 27] = [
        Feature::BootloaderInfo,
        Feature::ExecutableCmdline,
        Feature::FirmwareType,
        Feature::StackSize,
        Feature::Hhdm,
        Feature::Framebuffer,
        Feature::PagingMode,
        Feature::Mp,
        Feature::Memmap,
        Feature::EntryPoint,
        Feature::ExecutableFile,
        Feature::Module,
        Feature::Rsdp,
        Feature::Smbios,
        Feature::EfiSystemTable,
        Feature::EfiMemmap,
        Feature::DateAtBoot,
        Feature::ExecutableAddress,
        Feature::Dtb,
        Feature::FiveLevelPaging,
        Feature::Terminal,
        Feature::BootloaderPerformance,
        Feature::KeepIommu,
        Feature::TscFrequency,
        Feature::TpmEventLog,
        Feature::FlantermFbParams,
        Feature::Entropy,
    ];

    /// Words 2 and 3 of this feature's request ID.
    pub const fn id(self) -> [u64; 2] {
        use feature_id as f;
        match self {
            Feature::BootloaderInfo => f::BOOTLOADER_INFO,
            Feature::ExecutableCmdline => f::EXECUTABLE_CMDLINE,
            Feature::FirmwareType => f::FIRMWARE_TYPE,
            Feature::StackSize => f::STACK_SIZE,
            Feature::Hhdm => f::HHDM,
            Feature::Framebuffer => f::FRAMEBUFFER,
            Feature::PagingMode => f::PAGING_MODE,
            Feature::Mp => f::MP,
            Feature::Memmap => f::MEMMAP,
            Feature::EntryPoint => f::ENTRY_POINT,
            Feature::ExecutableFile => f::EXECUTABLE_FILE,
            Feature::Module => f::MODULE,
            Feature::Rsdp => f::RSDP,
            Feature::Smbios => f::SMBIOS,
            Feature::EfiSystemTable => f::EFI_SYSTEM_TABLE,
            Feature::EfiMemmap => f::EFI_MEMMAP,
            Feature::DateAtBoot => f::DATE_AT_BOOT,
            Feature::ExecutableAddress => f::EXECUTABLE_ADDRESS,
            Feature::Dtb => f::DTB,
            Feature::FiveLevelPaging => f::FIVE_LEVEL_PAGING,
            Feature::Terminal => f::TERMINAL,
            Feature::BootloaderPerformance => f::BOOTLOADER_PERFORMANCE,
            Feature::KeepIommu => f::KEEP_IOMMU,
            Feature::TscFrequency => f::TSC_FREQUENCY,
            Feature::TpmEventLog => f::TPM_EVENT_LOG,
            Feature::FlantermFbParams => f::FLANTERM_FB_PARAMS,
            Feature::Entropy => f::ENTROPY,
        }
    }

    /// The full 4-word request ID ([`COMMON_MAGIC`] followed by [`Feature::id`]).
    pub const fn full_id(self) -> [u64; 4] {
        let id = self.id();
        [COMMON_MAGIC[0], COMMON_MAGIC[1], id[0], id[1]]
    }

    /// The feature with these ID words 2 and 3, if it is one the specification lists.
    pub fn from_id(id: [u64; 2]) -> Option<Feature> {
        Feature::ALL.iter().copied().find(|f| f.id() == id)
    }

    /// Human-readable name, used in log lines and error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::BootloaderInfo => "bootloader info",
            Feature::ExecutableCmdline => "executable cmdline",
            Feature::FirmwareType => "firmware type",
            Feature::StackSize => "stack size",
            Feature::Hhdm => "HHDM",
            Feature::Framebuffer => "framebuffer",
            Feature::PagingMode => "paging mode",
            Feature::Mp => "MP",
            Feature::Memmap => "memory map",
            Feature::EntryPoint => "entry point",
            Feature::ExecutableFile => "executable file",
            Feature::Module => "module",
            Feature::Rsdp => "RSDP",
            Feature::Smbios => "SMBIOS",
            Feature::EfiSystemTable => "EFI system table",
            Feature::EfiMemmap => "EFI memory map",
            Feature::DateAtBoot => "date at boot",
            Feature::ExecutableAddress => "executable address",
            Feature::Dtb => "device tree blob",
            Feature::FiveLevelPaging => "5-level paging (deprecated)",
            Feature::Terminal => "terminal (deprecated)",
            Feature::BootloaderPerformance => "bootloader performance",
            Feature::KeepIommu => "keep IOMMU",
            Feature::TscFrequency => "TSC frequency",
            Feature::TpmEventLog => "TPM event log",
            Feature::FlantermFbParams => "flanterm framebuffer parameters",
            Feature::Entropy => "entropy",
        }
    }
}
