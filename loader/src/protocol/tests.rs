//! Host tests for the request scan, revision negotiation and revision rules.

use super::*;
use proptest::prelude::*;

/// Builds a byte image from words.
fn image(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A request's 6 words for `feature` with `revision`.
fn request(feature: Feature, revision: u64) -> Vec<u64> {
    let mut v = feature.full_id().to_vec();
    v.extend([revision, 0]);
    v
}

/// A request with an arbitrary ID (words 2–3 = `n`, `!n`).
fn request_n(n: u64) -> Vec<u64> {
    vec![COMMON_MAGIC[0], COMMON_MAGIC[1], n, !n, 0, 0]
}

fn tag(rev: u64) -> Vec<u64> {
    vec![BASE_REVISION_MAGIC[0], BASE_REVISION_MAGIC[1], rev]
}

fn start() -> Vec<u64> {
    REQUESTS_START_MARKER.to_vec()
}

fn end() -> Vec<u64> {
    REQUESTS_END_MARKER.to_vec()
}

fn cat(parts: &[Vec<u64>]) -> Vec<u64> {
    parts.concat()
}

fn ids(s: &Scan) -> Vec<Option<Feature>> {
    s.requests.iter().map(FoundRequest::feature).collect()
}

#[test]
fn empty_and_tiny_images_scan_to_nothing() {
    assert_eq!(scan(&[]), Ok(Scan::default()));
    assert_eq!(scan(&[0xff; 7]), Ok(Scan::default()));
    assert_eq!(scan(&[0; 4096]), Ok(Scan::default()));
}

#[test]
fn no_markers_means_whole_image() {
    let words = cat(&[
        vec![0, 0],
        tag(3),
        request(Feature::Hhdm, 0),
        vec![7],
        request(Feature::Memmap, 2),
    ]);
    let s = scan(&image(&words)).unwrap();
    assert_eq!(
        s.tag,
        Some(TagInfo {
            offset: 16,
            requested_revision: 3
        })
    );
    assert_eq!(
        s.requests,
        vec![
            FoundRequest {
                offset: 40,
                id: feature_id::HHDM,
                revision: 0
            },
            FoundRequest {
                offset: 96,
                id: feature_id::MEMMAP,
                revision: 2
            },
        ]
    );
    assert_eq!(s.find(Feature::Memmap).map(|r| r.offset), Some(96));
    assert_eq!(s.find(Feature::Framebuffer), None);
    assert_eq!(s.requests[0].response_offset(), 80);
    assert_eq!(s.requests[0].field_offset(48), 88);
}

#[test]
fn only_requests_after_last_start_marker_count() {
    let words = cat(&[
        tag(4),
        request(Feature::Hhdm, 0),
        start(),
        request(Feature::Memmap, 0),
        start(),
        tag(5),
        request(Feature::Framebuffer, 1),
        end(),
    ]);
    let s = scan(&image(&words)).unwrap();
    assert_eq!(ids(&s), vec![Some(Feature::Framebuffer)]);
    assert_eq!(s.tag.map(|t| t.requested_revision), Some(5));
}

#[test]
fn start_marker_discards_the_tag_too() {
    let words = cat(&[tag(4), start(), request(Feature::Hhdm, 0), end()]);
    let s = scan(&image(&words)).unwrap();
    assert_eq!(s.tag, None);
    assert_eq!(ids(&s), vec![Some(Feature::Hhdm)]);
}

#[test]
fn first_end_marker_stops_the_scan() {
    let words = cat(&[
        start(),
        request(Feature::Hhdm, 0),
        end(),
        request(Feature::Memmap, 0),
        tag(3),
        // A start marker after the end marker does not reopen anything.
        start(),
        request(Feature::Rsdp, 0),
        end(),
    ]);
    let s = scan(&image(&words)).unwrap();
    assert_eq!(ids(&s), vec![Some(Feature::Hhdm)]);
    assert_eq!(s.tag, None);
}

#[test]
fn end_marker_without_start_marker_counts_from_zero() {
    let words = cat(&[
        request(Feature::Hhdm, 0),
        end(),
        request(Feature::Memmap, 0),
    ]);
    let s = scan(&image(&words)).unwrap();
    assert_eq!(ids(&s), vec![Some(Feature::Hhdm)]);
}

#[test]
fn unaligned_magic_is_ignored() {
    let mut bytes = vec![0u8; 4];
    bytes.extend(image(&cat(&[tag(3), request(Feature::Hhdm, 0), end()])));
    bytes.extend([0u8; 4]);
    assert_eq!(scan(&bytes), Ok(Scan::default()));
    // An unaligned end marker does not stop the scan either.
    let mut bytes = vec![0u8; 4];
    bytes.extend(image(&end()));
    bytes.extend([0u8; 4]);
    bytes.extend(image(&request(Feature::Hhdm, 0)));
    let s = scan(&bytes).unwrap();
    assert_eq!(ids(&s), vec![Some(Feature::Hhdm)]);
}

#[test]
fn unknown_ids_are_collected() {
    let words = cat(&[request_n(42)]);
    let s = scan(&image(&words)).unwrap();
    assert_eq!(s.requests.len(), 1);
    assert_eq!(s.requests[0].feature(), None);
}

#[test]
fn duplicate_ids_are_refused_and_named() {
    let words = cat(&[
        start(),
        request(Feature::Hhdm, 0),
        request(Feature::Memmap, 0),
        request(Feature::Hhdm, 1),
        end(),
    ]);
    let err = scan(&image(&words)).unwrap_err();
    assert_eq!(
        err,
        ScanError::DuplicateRequest {
            id: feature_id::HHDM,
            first: 32,
            second: 128
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("0x48dcf1cb8ad2b852"), "{msg}");
    assert!(msg.contains("0x63984e959a98244b"), "{msg}");
    assert!(msg.contains("HHDM"), "{msg}");
}

#[test]
fn duplicates_before_the_last_start_marker_are_forgotten() {
    let words = cat(&[
        request(Feature::Hhdm, 0),
        request(Feature::Hhdm, 0),
        tag(3),
        tag(3),
        start(),
        request(Feature::Hhdm, 0),
        tag(3),
        end(),
    ]);
    let s = scan(&image(&words)).unwrap();
    assert_eq!(ids(&s), vec![Some(Feature::Hhdm)]);
    assert!(s.tag.is_some());
}

#[test]
fn duplicates_after_the_end_marker_are_ignored() {
    let words = cat(&[
        request(Feature::Hhdm, 0),
        end(),
        request(Feature::Hhdm, 0),
        tag(3),
        tag(3),
    ]);
    assert!(scan(&image(&words)).is_ok());
}

#[test]
fn at_most_128_requests() {
    let mut words = start();
    for n in 0..128 {
        words.extend(request_n(n));
    }
    let ok = scan(&image(&cat(&[words.clone(), end()]))).unwrap();
    assert_eq!(ok.requests.len(), 128);
    words.extend(request_n(128));
    words.extend(end());
    assert_eq!(scan(&image(&words)), Err(ScanError::TooManyRequests));
    // The error names the limit.
    assert!(ScanError::TooManyRequests.to_string().contains("128"));
}

#[test]
fn a_second_tag_is_refused() {
    let words = cat(&[start(), tag(3), request(Feature::Hhdm, 0), tag(4), end()]);
    assert_eq!(
        scan(&image(&words)),
        Err(ScanError::DuplicateTag {
            first: 32,
            second: 104
        })
    );
}

#[test]
fn truncated_request_and_tag_are_refused() {
    // ID complete but `revision`/`response` cut off.
    let mut words = request(Feature::Hhdm, 0);
    words.truncate(5);
    assert_eq!(
        scan(&image(&words)),
        Err(ScanError::TruncatedRequest {
            offset: 0,
            available: 40
        })
    );
    // Only the first two ID words: still recognisably a request.
    words.truncate(2);
    assert!(matches!(
        scan(&image(&words)),
        Err(ScanError::TruncatedRequest { .. })
    ));
    let words = vec![0, BASE_REVISION_MAGIC[0], BASE_REVISION_MAGIC[1]];
    assert_eq!(
        scan(&image(&words)),
        Err(ScanError::TruncatedTag {
            offset: 8,
            available: 16
        })
    );
    // Cut off after the end marker does not matter.
    let mut words = cat(&[end(), request(Feature::Hhdm, 0)]);
    words.truncate(4);
    assert!(scan(&image(&words)).is_ok());
}

#[test]
fn marker_prefix_at_image_end_is_not_a_marker() {
    let words = cat(&[
        request(Feature::Hhdm, 0),
        REQUESTS_START_MARKER[..3].to_vec(),
    ]);
    let s = scan(&image(&words)).unwrap();
    assert_eq!(ids(&s), vec![Some(Feature::Hhdm)]);
}

#[test]
fn every_error_message_is_nonempty() {
    let errs = [
        ScanError::DuplicateRequest {
            id: [1, 2],
            first: 0,
            second: 8,
        },
        ScanError::TooManyRequests,
        ScanError::DuplicateTag {
            first: 0,
            second: 8,
        },
        ScanError::TruncatedRequest {
            offset: 0,
            available: 8,
        },
        ScanError::TruncatedTag {
            offset: 0,
            available: 8,
        },
    ];
    for e in errs {
        assert!(e.to_string().len() > 20);
    }
    assert!(
        ScanError::DuplicateRequest {
            id: [1, 2],
            first: 0,
            second: 8
        }
        .to_string()
        .contains("unknown feature")
    );
}

// ------------------------------------------------------------------------------------------
// Negotiation
// ------------------------------------------------------------------------------------------

#[test]
fn negotiation_table() {
    for cap in 3..=6u64 {
        assert_eq!(negotiate(None, cap), Err(RevisionError::NoTag));
        for requested in [0, 1, 2] {
            assert_eq!(
                negotiate(Some(requested), cap),
                Err(RevisionError::Dropped { requested })
            );
        }
        for requested in [3, 4, 5, 6, 7, 100, u64::MAX] {
            let n = negotiate(Some(requested), cap).unwrap();
            assert_eq!(n.requested, requested);
            if requested <= cap {
                assert_eq!((n.revision, n.supported), (requested, true));
                assert_eq!((n.word1(), n.word2()), (requested, Some(0)));
            } else {
                assert_eq!((n.revision, n.supported), (cap, false));
                assert_eq!((n.word1(), n.word2()), (cap, None));
            }
        }
    }
}

#[test]
fn cap_is_clamped() {
    assert_eq!(clamp_cap(0), 3);
    assert_eq!(clamp_cap(2), 3);
    assert_eq!(clamp_cap(4), 4);
    assert_eq!(clamp_cap(7), 6);
    assert_eq!(clamp_cap(u64::MAX), 6);
    // A cap below 3 still serves 3.
    assert_eq!(negotiate(Some(3), 0).unwrap().revision, 3);
    assert_eq!(negotiate(Some(6), 1).unwrap().revision, 3);
    // A cap above 6 still stops at 6.
    let n = negotiate(Some(7), 99).unwrap();
    assert_eq!((n.revision, n.supported), (6, false));
}

#[test]
fn revision_errors_say_what_is_served() {
    for e in [
        RevisionError::NoTag,
        RevisionError::Dropped { requested: 2 },
    ] {
        let msg = e.to_string();
        assert!(msg.contains("3..=6"), "{msg}");
    }
}

#[test]
fn write_tag_writes_word1_and_maybe_word2() {
    let words = cat(&[vec![0], tag(4)]);
    let mut bytes = image(&words);
    let s = scan(&bytes).unwrap();
    let t = s.tag.unwrap();
    let n = negotiate(Some(t.requested_revision), 6).unwrap();
    write_tag(&mut bytes, &t, &n).unwrap();
    assert_eq!(read_u64(&bytes, 8), Some(BASE_REVISION_MAGIC[0]));
    assert_eq!(read_u64(&bytes, 16), Some(4));
    assert_eq!(read_u64(&bytes, 24), Some(0));

    let mut bytes = image(&tag(7));
    let t = scan(&bytes).unwrap().tag.unwrap();
    let n = negotiate(Some(7), 5).unwrap();
    write_tag(&mut bytes, &t, &n).unwrap();
    assert_eq!(read_u64(&bytes, 8), Some(5));
    assert_eq!(read_u64(&bytes, 16), Some(7));

    // Out of bounds: nothing written.
    let mut small = image(&[1, 2]);
    let bad = TagInfo {
        offset: 0,
        requested_revision: 3,
    };
    let n = negotiate(Some(3), 6).unwrap();
    assert!(write_tag(&mut small, &bad, &n).is_err());
    assert_eq!(small, image(&[1, 2]));
    let far = TagInfo {
        offset: usize::MAX - 4,
        requested_revision: 3,
    };
    assert!(write_tag(&mut small, &far, &n).is_err());
}

// ------------------------------------------------------------------------------------------
// Revision rules
// ------------------------------------------------------------------------------------------

#[test]
fn hhdm_coverage_table() {
    // Rows: type 0..=9; columns: revisions 3, 4, 5, 6.
    let table: [(u64, [bool; 4]); 10] = [
        (MEMMAP_USABLE, [true; 4]),
        (MEMMAP_RESERVED, [false; 4]),
        (MEMMAP_ACPI_RECLAIMABLE, [false, true, true, true]),
        (MEMMAP_ACPI_NVS, [false, true, true, true]),
        (MEMMAP_BAD_MEMORY, [false; 4]),
        (MEMMAP_BOOTLOADER_RECLAIMABLE, [true; 4]),
        (MEMMAP_EXECUTABLE_AND_MODULES, [true; 4]),
        (MEMMAP_FRAMEBUFFER, [true; 4]),
        (MEMMAP_RESERVED_MAPPED, [false, true, true, true]),
        (9, [false; 4]),
    ];
    for (ty, row) in table {
        for (i, rev) in (3..=6).enumerate() {
            assert_eq!(hhdm_covers(ty, rev), row[i], "type {ty} rev {rev}");
        }
        // Revisions beyond 6 behave like 6.
        assert_eq!(hhdm_covers(ty, 7), row[3]);
        assert_eq!(hhdm_covers(ty, u64::MAX), row[3]);
    }
    // Old revisions, for completeness.
    assert!(hhdm_covers(MEMMAP_RESERVED, 0));
    assert!(!hhdm_covers(MEMMAP_RESERVED, 2));
    assert!(!hhdm_covers(MEMMAP_BAD_MEMORY, 1));
    assert!(hhdm_covers(MEMMAP_ACPI_NVS, 2));
    assert!(!hhdm_covers(MEMMAP_RESERVED_MAPPED, 2));
}

#[test]
fn table_pointer_kinds() {
    let expect = [
        // (rev, rsdp physical, smbios physical, efi st physical)
        (2, false, false, false),
        (3, true, true, true),
        (4, false, true, true),
        (5, false, false, false),
        (6, false, false, false),
    ];
    for (rev, rsdp, smbios, efi) in expect {
        assert_eq!(rsdp_pointer_physical(rev), rsdp, "rev {rev}");
        assert_eq!(smbios_pointers_physical(rev), smbios, "rev {rev}");
        assert_eq!(efi_system_table_pointer_physical(rev), efi, "rev {rev}");
    }
}

// ------------------------------------------------------------------------------------------
// Helpers, IDs, layouts
// ------------------------------------------------------------------------------------------

#[test]
fn byte_helpers_are_bounds_checked() {
    let mut b = vec![0u8; 12];
    assert_eq!(read_u64(&b, 0), Some(0));
    assert_eq!(read_u64(&b, 4), Some(0));
    assert_eq!(read_u64(&b, 5), None);
    assert_eq!(read_u64(&b, usize::MAX), None);
    write_u64(&mut b, 3, 0x0102_0304_0506_0708).unwrap();
    assert_eq!(&b[3..11], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(read_u64(&b, 3), Some(0x0102_0304_0506_0708));
    let before = b.clone();
    let e = write_u64(&mut b, 5, 1).unwrap_err();
    assert_eq!(
        e,
        OutOfBounds {
            offset: 5,
            size: 8,
            len: 12
        }
    );
    assert!(e.to_string().contains("0x5"));
    assert!(write_u64(&mut b, usize::MAX - 2, 1).is_err());
    assert_eq!(b, before);
}

#[test]
fn feature_ids_are_unique_and_round_trip() {
    for (i, a) in Feature::ALL.iter().enumerate() {
        assert_eq!(Feature::from_id(a.id()), Some(*a));
        assert_eq!(&a.full_id()[..2], &COMMON_MAGIC);
        assert!(!a.name().is_empty());
        for b in &Feature::ALL[i + 1..] {
            assert_ne!(a.id(), b.id(), "{a:?} vs {b:?}");
        }
    }
    assert_eq!(Feature::from_id([0, 0]), None);
    // Spot-check a few words against PROTOCOL.md's "Feature List".
    assert_eq!(feature_id::MEMMAP, [0x67cf3d9d378a806f, 0xe304acdfc50c3c62]);
    assert_eq!(
        feature_id::ENTROPY,
        [0x65ea80255d5682c5, 0x9117240723f493eb]
    );
}

#[test]
fn memmap_type_and_misc_constants() {
    let types = [
        MEMMAP_USABLE,
        MEMMAP_RESERVED,
        MEMMAP_ACPI_RECLAIMABLE,
        MEMMAP_ACPI_NVS,
        MEMMAP_BAD_MEMORY,
        MEMMAP_BOOTLOADER_RECLAIMABLE,
        MEMMAP_EXECUTABLE_AND_MODULES,
        MEMMAP_FRAMEBUFFER,
        MEMMAP_RESERVED_MAPPED,
    ];
    assert_eq!(types, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(FIRMWARE_TYPE_UEFI64, 2);
    assert_eq!(REQUEST_HEADER_SIZE, 48);
    assert_eq!(REQUEST_REVISION_OFFSET, 32);
    assert_eq!(REQUEST_RESPONSE_OFFSET, 40);
    assert_eq!(HHDM_DEFAULT_BASE, 0xffff_8000_0000_0000);
    assert_eq!((LOADER_MIN_REVISION, LOADER_MAX_REVISION), (3, 6));
}

#[test]
fn layouts_have_no_hidden_padding() {
    // Compile-time asserts cover sizes and offsets; check the two structs with small fields
    // survive a Default round trip and the entry helper.
    assert_eq!(VideoMode::default().padding, [0; 7]);
    assert_eq!(Framebuffer::default().unused, [0; 7]);
    let e = MemmapEntry {
        base: u64::MAX,
        length: 1,
        ty: 0,
    };
    assert_eq!(e.end(), None);
}

/// Words that steer the scanner into every branch.
fn interesting_word() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0),
        Just(COMMON_MAGIC[0]),
        Just(COMMON_MAGIC[1]),
        Just(BASE_REVISION_MAGIC[0]),
        Just(BASE_REVISION_MAGIC[1]),
        Just(REQUESTS_START_MARKER[0]),
        Just(REQUESTS_START_MARKER[1]),
        Just(REQUESTS_START_MARKER[2]),
        Just(REQUESTS_START_MARKER[3]),
        Just(REQUESTS_END_MARKER[0]),
        Just(REQUESTS_END_MARKER[1]),
        Just(feature_id::HHDM[0]),
        Just(feature_id::HHDM[1]),
        (0u64..4),
    ]
}

/// Checks the invariants of a successful scan.
fn check_scan(bytes: &[u8], s: &Scan) {
    assert!(s.requests.len() <= MAX_REQUESTS);
    for (i, r) in s.requests.iter().enumerate() {
        assert_eq!(r.offset % 8, 0);
        assert!(r.offset + REQUEST_HEADER_SIZE <= bytes.len());
        assert_eq!(read_u64(bytes, r.offset), Some(COMMON_MAGIC[0]));
        assert_eq!(read_u64(bytes, r.offset + 8), Some(COMMON_MAGIC[1]));
        assert!(s.requests[i + 1..].iter().all(|o| o.id != r.id));
        if i > 0 {
            assert!(s.requests[i - 1].offset < r.offset);
        }
    }
    if let Some(t) = s.tag {
        assert_eq!(t.offset % 8, 0);
        assert!(t.offset + BASE_REVISION_TAG_SIZE <= bytes.len());
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(s) = scan(&bytes) {
            check_scan(&bytes, &s);
        }
    }

    #[test]
    fn magic_laden_images_never_panic(
        words in proptest::collection::vec(interesting_word(), 0..400),
        tail in 0usize..8,
    ) {
        let mut bytes = image(&words);
        bytes.extend(std::iter::repeat_n(0xa5u8, tail));
        if let Ok(s) = scan(&bytes) {
            check_scan(&bytes, &s);
        }
    }

    #[test]
    fn structured_images_scan_exactly(
        before in proptest::collection::vec(0u64..40, 0..20),
        inside in proptest::collection::btree_set(0u64..1000, 0..40),
        after in proptest::collection::vec(0u64..40, 0..20),
        with_tag in any::<bool>(),
    ) {
        // Junk requests (possibly duplicate) outside the markers, unique ones inside.
        let mut words = Vec::new();
        for n in &before { words.extend(request_n(*n)); }
        words.extend(start());
        if with_tag { words.extend(tag(3)); }
        for n in &inside { words.extend(request_n(*n)); }
        words.extend(end());
        for n in &after { words.extend(request_n(*n)); }
        let s = scan(&image(&words)).unwrap();
        let found: Vec<u64> = s.requests.iter().map(|r| r.id[0]).collect();
        let expected: Vec<u64> = inside.iter().copied().collect();
        prop_assert_eq!(found, expected);
        prop_assert_eq!(s.tag.is_some(), with_tag);
    }
}

#[test]
fn responses_encode_every_field_at_its_offset() {
    let fb = Framebuffer {
        address: 0x1111,
        width: 2,
        height: 3,
        pitch: 4,
        bpp: 0x0506,
        memory_model: 7,
        red_mask_size: 8,
        red_mask_shift: 9,
        green_mask_size: 10,
        green_mask_shift: 11,
        blue_mask_size: 12,
        blue_mask_shift: 13,
        unused: [14; 7],
        edid_size: 15,
        edid: 16,
        mode_count: 17,
        modes: 18,
    };
    let mut out = [0xaau8; 88];
    fb.encode(&mut out);
    assert_eq!(read_u64(&out, 0), Some(0x1111));
    assert_eq!(read_u64(&out, 24), Some(4));
    assert_eq!(&out[32..41], &[6, 5, 7, 8, 9, 10, 11, 12, 13]);
    assert_eq!(&out[41..48], &[14; 7]);
    assert_eq!(read_u64(&out, 72), Some(18));
    // Nothing past the structure is touched.
    assert_eq!(&out[80..], &[0xaa; 8]);

    let file = File {
        revision: 1,
        media_type: 0x0203_0405,
        gpt_part_uuid: Uuid {
            a: 0x0a0b_0c0d,
            b: 0x0e0f,
            c: 0x1011,
            d: [1, 2, 3, 4, 5, 6, 7, 8],
        },
        ..File::default()
    };
    let mut out = [0u8; 112];
    file.encode(&mut out);
    assert_eq!(read_u64(&out, 0), Some(1));
    assert_eq!(&out[40..44], &[5, 4, 3, 2]);
    assert_eq!(
        &out[80..88],
        &[0x0d, 0x0c, 0x0b, 0x0a, 0x0f, 0x0e, 0x11, 0x10]
    );
    assert_eq!(&out[88..96], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(out[96..].iter().all(|&b| b == 0));

    // A short buffer gets the fields that fit, and no panic.
    let mut short = [0u8; 12];
    HhdmResponse {
        revision: 9,
        offset: 10,
    }
    .encode(&mut short);
    assert_eq!(read_u64(&short, 0), Some(9));
    assert_eq!(&short[8..], &[0; 4]);
}
