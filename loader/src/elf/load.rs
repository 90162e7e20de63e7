//! [`choose_slide`] and [`load`]: where the image goes, and filling its block.

use alloc::vec::Vec;

use super::read::{align_down, align_up, to_usize};
use super::reloc::Fixup;
use super::*;

/// Picks the slide for `image`.
///
/// - Fixed (`ET_EXEC`) kernels: 0.
/// - Relocatable kernels: [`KernelImage::base_slide`], plus with `kaslr` a multiple of
///   [`KernelImage::alignment`] chosen from `random` among all positions that keep the image
///   inside `[KERNEL_FLOOR, ADDRESS_LIMIT)`. The image only moves up from its base position.
///
/// The position is `random % count`. `count` is at most 2^19 (2 GiB / 4 KiB), so the modulo
/// bias is below 2^-44: negligible. The result is deterministic in `random` so it can be tested.
pub fn choose_slide(image: &KernelImage<'_>, random: u64, kaslr: bool) -> u64 {
    if !image.relocatable {
        return 0;
    }
    let base = image.base_slide;
    if !kaslr {
        return base;
    }
    // `parse` guarantees image_end + base <= ADDRESS_LIMIT and a power-of-two alignment.
    let Some(room) = image
        .image_end
        .checked_add(base)
        .and_then(|end| ADDRESS_LIMIT.checked_sub(end))
    else {
        return base;
    };
    let Some(count) = (room / image.alignment.max(1)).checked_add(1) else {
        return base;
    };
    (random % count)
        .checked_mul(image.alignment)
        .and_then(|extra| base.checked_add(extra))
        .unwrap_or(base)
}

/// Fills `dest`, the block that will be mapped at `image.image_start() + slide`: zeroes it,
/// copies every segment's file bytes and applies the relocations for `slide`.
///
/// # Errors
///
/// [`ElfError::DestinationSize`] if `dest` is not [`KernelImage::image_size`] bytes;
/// [`ElfError::InvalidSlide`] if `slide` is nonzero for a fixed kernel, not page-aligned, or
/// moves the image outside `[KERNEL_FLOOR, ADDRESS_LIMIT)`. Problems in the file itself were
/// already reported by [`parse`].
pub fn load(image: &KernelImage<'_>, slide: u64, dest: &mut [u8]) -> Result<LoadedInfo, ElfError> {
    let image_size = image.image_size();
    if to_usize(image_size) != Some(dest.len()) {
        return Err(ElfError::DestinationSize {
            expected: image_size,
            got: dest.len(),
        });
    }
    let bad_slide = ElfError::InvalidSlide { slide };
    if !image.relocatable && slide != 0 {
        return Err(bad_slide);
    }
    let start = image
        .image_start
        .checked_add(slide)
        .ok_or(bad_slide.clone())?;
    let end = image
        .image_end
        .checked_add(slide)
        .ok_or(bad_slide.clone())?;
    if !slide.is_multiple_of(PAGE_SIZE) || start < KERNEL_FLOOR || end > ADDRESS_LIMIT {
        return Err(bad_slide);
    }

    dest.fill(0);
    let mut segments = Vec::with_capacity(image.segments.len());
    for s in &image.segments {
        let broken = ElfError::SegmentOutOfFile {
            index: s.index,
            offset: s.file_offset,
            filesz: s.filesz,
        };
        let image_offset = s.vaddr.wrapping_sub(image.image_start);
        let src_start = to_usize(s.file_offset).ok_or(broken.clone())?;
        let src_end = to_usize(s.file_offset.wrapping_add(s.filesz)).ok_or(broken.clone())?;
        let dst_start = to_usize(image_offset).ok_or(broken.clone())?;
        let len = src_end.checked_sub(src_start).ok_or(broken.clone())?;
        let dst_end = dst_start.checked_add(len).ok_or(broken.clone())?;
        let src = image.file.get(src_start..src_end).ok_or(broken.clone())?;
        dest.get_mut(dst_start..dst_end)
            .ok_or(broken)?
            .copy_from_slice(src);
        // In range: parse checked vaddr + memsz, and the slid image ends below ADDRESS_LIMIT.
        let vaddr = s.vaddr.wrapping_add(slide);
        segments.push(LoadedSegment {
            vaddr,
            memsz: s.memsz,
            image_offset,
            flags: s.flags,
            page_start: align_down(vaddr, PAGE_SIZE),
            page_end: align_up(vaddr.wrapping_add(s.memsz), PAGE_SIZE).unwrap_or(end),
        });
    }

    let relocations = if image.relocatable {
        image.walk_relocations(slide, |offset, fixup| {
            let out = ElfError::RelocationOutOfImage {
                table: RelocTable::Rela,
                index: 0,
                target: image.image_start.wrapping_add(offset as u64),
            };
            let word: &mut [u8; 8] = offset
                .checked_add(8)
                .and_then(|e| dest.get_mut(offset..e))
                .and_then(|w| w.try_into().ok())
                .ok_or(out)?;
            let value = match fixup {
                Fixup::Write(value) => value,
                Fixup::AddSlide => u64::from_le_bytes(*word).wrapping_add(slide),
            };
            *word = value.to_le_bytes();
            Ok(())
        })?
    } else {
        0
    };

    Ok(LoadedInfo {
        slide,
        entry: image.entry.wrapping_add(slide),
        image_start: start,
        virtual_base: image.min_vaddr.wrapping_add(slide),
        image_size,
        scan_len: image.scan_len(),
        segments,
        relocations,
    })
}
