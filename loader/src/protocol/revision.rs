//! Base revision negotiation, and the rules that depend on the revision in use.

use core::fmt;

use super::*;

// ---------------------------------------------------------------------------------------------
// Base revision negotiation
// ---------------------------------------------------------------------------------------------

/// Clamps a configured maximum revision (a test knob emulating older loaders) to
/// [`LOADER_MIN_REVISION`]`..=`[`LOADER_MAX_REVISION`].
pub const fn clamp_cap(cap: u64) -> u64 {
    if cap < LOADER_MIN_REVISION {
        LOADER_MIN_REVISION
    } else if cap > LOADER_MAX_REVISION {
        LOADER_MAX_REVISION
    } else {
        cap
    }
}

/// The outcome of [`negotiate`]: the revision to boot with and what to write into the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Base revision the loader boots with (decides HHDM coverage, pointer kinds, memmap types).
    pub revision: u64,
    /// Revision the kernel asked for (tag word 2 as found).
    pub requested: u64,
    /// Whether the requested revision is served as asked. If not, the kernel's request was
    /// higher than the cap and the loader boots with the cap.
    pub supported: bool,
}

impl Negotiated {
    /// Value for tag word 1: always the revision used.
    pub const fn word1(&self) -> u64 {
        self.revision
    }

    /// Value for tag word 2: `Some(0)` when the request is supported, `None` (leave the kernel's
    /// value unchanged so it can decide whether to stop) otherwise.
    pub const fn word2(&self) -> Option<u64> {
        if self.supported { Some(0) } else { None }
    }
}

/// Why [`negotiate`] refuses to boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionError {
    /// No base revision tag: the kernel implicitly asks for revision 0.
    NoTag,
    /// The kernel asks for a revision this loader has dropped.
    Dropped {
        /// Requested revision.
        requested: u64,
    },
}

impl fmt::Display for RevisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevisionError::NoTag => write!(
                f,
                "kernel has no base revision tag, which means base revision 0; this loader serves \
                 base revisions {LOADER_MIN_REVISION}..={LOADER_MAX_REVISION} only. Add a base \
                 revision tag asking for {LOADER_MIN_REVISION} or later inside the request markers"
            ),
            RevisionError::Dropped { requested } => write!(
                f,
                "kernel asks for base revision {requested}, which this loader no longer supports; \
                 it serves base revisions {LOADER_MIN_REVISION}..={LOADER_MAX_REVISION}. Rebuild \
                 the kernel asking for revision {LOADER_MIN_REVISION} or later"
            ),
        }
    }
}

impl core::error::Error for RevisionError {}

/// Decides the base revision from the tag's word 2 (`None` when there is no tag) and the
/// loader's maximum `cap` (normally [`LOADER_MAX_REVISION`]; clamped with [`clamp_cap`]).
///
/// | requested            | result                                              |
/// |----------------------|-----------------------------------------------------|
/// | no tag (revision 0)  | refuse ([`RevisionError::NoTag`])                   |
/// | `< 3`                | refuse ([`RevisionError::Dropped`])                 |
/// | `3..=cap`            | boot with it; word 1 := it, word 2 := 0             |
/// | `> cap`              | boot with `cap`; word 1 := cap, word 2 unchanged    |
///
/// For a request above the cap the newest spec recommends refusing; we follow the older rule
/// (boot and let the kernel decide), which is what kernels that check word 2 expect.
///
/// # Errors
///
/// [`RevisionError`] when the loader must refuse to boot.
pub fn negotiate(requested: Option<u64>, cap: u64) -> Result<Negotiated, RevisionError> {
    let cap = clamp_cap(cap);
    let requested = requested.ok_or(RevisionError::NoTag)?;
    if requested < LOADER_MIN_REVISION {
        return Err(RevisionError::Dropped { requested });
    }
    Ok(if requested <= cap {
        Negotiated {
            revision: requested,
            requested,
            supported: true,
        }
    } else {
        Negotiated {
            revision: cap,
            requested,
            supported: false,
        }
    })
}

/// Writes the negotiation result into the tag found at `tag.offset` in `image`: word 1 always,
/// word 2 only when [`Negotiated::word2`] says so.
///
/// # Errors
///
/// [`OutOfBounds`] if the tag does not lie inside `image` (then nothing is written).
pub fn write_tag(image: &mut [u8], tag: &TagInfo, result: &Negotiated) -> Result<(), OutOfBounds> {
    let len = image.len();
    let err = OutOfBounds {
        offset: tag.offset,
        size: BASE_REVISION_TAG_SIZE,
        len,
    };
    let end = tag.offset.checked_add(BASE_REVISION_TAG_SIZE).ok_or(err)?;
    if end > len {
        return Err(err);
    }
    write_u64(image, tag.offset + 8, result.word1())?;
    if let Some(w2) = result.word2() {
        write_u64(image, tag.offset + 16, w2)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Revision-dependent rules
// ---------------------------------------------------------------------------------------------

/// Whether the HHDM maps memory map entries of type `memmap_type` under base `revision`.
///
/// - 3: USABLE, BOOTLOADER_RECLAIMABLE, EXECUTABLE_AND_MODULES, FRAMEBUFFER.
/// - 4 and later (5 and 6 equal 4 on x86): also ACPI_RECLAIMABLE, ACPI_NVS, RESERVED_MAPPED.
///   (From 5 the EFI runtime regions are typed RESERVED_MAPPED; that is a memory map concern.)
/// - 1 and 2: every known type except RESERVED and BAD_MEMORY; 0: every known type. These
///   revisions also map all of 0–4 GiB, which a per-type answer cannot express; the loader does
///   not serve them.
///
/// Unknown types are never covered.
pub const fn hhdm_covers(memmap_type: u64, revision: u64) -> bool {
    let rev3 = matches!(
        memmap_type,
        MEMMAP_USABLE
            | MEMMAP_BOOTLOADER_RECLAIMABLE
            | MEMMAP_EXECUTABLE_AND_MODULES
            | MEMMAP_FRAMEBUFFER
    );
    match revision {
        0 => memmap_type <= MEMMAP_FRAMEBUFFER,
        1 | 2 => {
            memmap_type <= MEMMAP_FRAMEBUFFER
                && memmap_type != MEMMAP_RESERVED
                && memmap_type != MEMMAP_BAD_MEMORY
        }
        3 => rev3,
        _ => {
            rev3 || matches!(
                memmap_type,
                MEMMAP_ACPI_RECLAIMABLE | MEMMAP_ACPI_NVS | MEMMAP_RESERVED_MAPPED
            )
        }
    }
}

/// Whether the RSDP response holds a physical address (revision 3 only; HHDM otherwise).
pub const fn rsdp_pointer_physical(revision: u64) -> bool {
    revision == 3
}

/// Whether the SMBIOS response's entry points are physical (revisions 3 and 4; HHDM otherwise).
pub const fn smbios_pointers_physical(revision: u64) -> bool {
    revision == 3 || revision == 4
}

/// Whether the EFI system table response holds a physical address (revisions 3 and 4; HHDM
/// otherwise).
pub const fn efi_system_table_pointer_physical(revision: u64) -> bool {
    revision == 3 || revision == 4
}
