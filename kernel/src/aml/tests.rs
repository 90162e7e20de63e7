use super::*;
use proptest::prelude::*;
use std::vec::Vec;

/// `Name (_S5, Package (4) { Zero, Zero, Zero, Zero })`, as QEMU's DSDT encodes it.
const QEMU_S5: &[u8] = &[
    0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
];

fn table(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(signature);
    t.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_le_bytes());
    t.resize(HEADER_LEN, 0);
    t.extend_from_slice(body);
    t
}

/// Encodes a PkgLength of `len` in `bytes` bytes (1-4).
fn pkg_len(len: usize, bytes: usize) -> Vec<u8> {
    if bytes == 1 {
        assert!(len < 64);
        return vec![len as u8];
    }
    let mut v = vec![(((bytes - 1) as u8) << 6) | (len & 0x0F) as u8];
    for i in 0..bytes - 1 {
        v.push((len >> (4 + 8 * i)) as u8);
    }
    v
}

/// `Name (\_S5, Package () { elements })` with a PkgLength of `len_bytes` bytes.
fn s5(root: bool, elements: &[&[u8]], count: u8, len_bytes: usize) -> Vec<u8> {
    let mut body: Vec<u8> = vec![count];
    for e in elements {
        body.extend_from_slice(e);
    }
    let total = body.len() + len_bytes;
    let mut v = vec![NAME_OP];
    if root {
        v.push(b'\\');
    }
    v.extend_from_slice(b"_S5_");
    v.push(PACKAGE_OP);
    v.extend(pkg_len(total, len_bytes));
    v.extend(body);
    v
}

#[test]
fn qemu_encoding() {
    assert_eq!(find_s5(QEMU_S5), Ok(SleepType { a: 0, b: 0 }));
    let t = table(
        b"DSDT",
        &[&[0x10, 0x05, b'\\', b'_', b'S', b'B', b'_'][..], QEMU_S5].concat(),
    );
    assert_eq!(find_s5_in_table(&t), Ok(SleepType { a: 0, b: 0 }));
}

#[test]
fn element_encodings() {
    let cases: &[(&[&[u8]], u8, SleepType)] = &[
        (
            &[&[0x0A, 0x05], &[0x0A, 0x07], &[0x00], &[0x00]],
            4,
            SleepType { a: 5, b: 7 },
        ),
        (&[&[0x01], &[0x0B, 0x06, 0x00]], 2, SleepType { a: 1, b: 6 }),
        (
            &[&[0x0C, 0x03, 0, 0, 0], &[0x0E, 0x02, 0, 0, 0, 0, 0, 0, 0]],
            2,
            SleepType { a: 3, b: 2 },
        ),
        // Packed: one element, low byte a, next byte b.
        (&[&[0x0B, 0x05, 0x06]], 1, SleepType { a: 5, b: 6 }),
    ];
    for (elements, count, want) in cases {
        for root in [false, true] {
            for len_bytes in 1..=4 {
                let aml = s5(root, elements, *count, len_bytes);
                assert_eq!(find_s5(&aml), Ok(*want), "{aml:02x?}");
            }
        }
    }
}

#[test]
fn errors() {
    assert_eq!(find_s5(&[]), Err(AmlError::NotFound));
    assert_eq!(find_s5(b"no sleep here"), Err(AmlError::NotFound));
    // A string that merely contains the name is not a definition.
    assert_eq!(find_s5(b"\x0d_S5_\x00"), Err(AmlError::NotFound));
    // Defined as a method: not supported.
    assert_eq!(
        find_s5(&[
            0x14, 0x09, b'_', b'S', b'5', b'_', 0x00, 0xA4, 0x12, 0x03, 0x01, 0x00
        ]),
        Err(AmlError::NotFound)
    );
    // ... even when its PkgLength byte happens to equal NameOp: an error, never a value.
    assert_eq!(
        find_s5(&[0x14, 0x08, b'_', b'S', b'5', b'_', 0x00, 0xA4, 0x00]),
        Err(AmlError::NotAPackage)
    );
    assert_eq!(
        find_s5(&[0x08, b'_', b'S', b'5', b'_', 0x0A, 0x05]),
        Err(AmlError::NotAPackage)
    );
    assert_eq!(find_s5(&QEMU_S5[..9]), Err(AmlError::Truncated));
    assert_eq!(find_s5(&QEMU_S5[..5]), Err(AmlError::Truncated));
    assert_eq!(find_s5(&s5(false, &[], 0, 1)), Err(AmlError::Empty));
    assert_eq!(
        find_s5(&s5(false, &[&[0x0A, 0x08], &[0x00]], 2, 1)),
        Err(AmlError::OutOfRange(8))
    );
    assert_eq!(
        find_s5(&s5(false, &[&[0xFF], &[0x00]], 2, 1)),
        Err(AmlError::OutOfRange(u64::MAX))
    );
    assert_eq!(
        find_s5(&s5(false, &[&[0x0D, b'x', 0], &[0x00]], 2, 1)),
        Err(AmlError::BadElement(0x0D))
    );
    // Count says 2, the package holds 1: the second read runs past the package's end.
    assert_eq!(
        find_s5(&s5(false, &[&[0x00]], 2, 1)),
        Err(AmlError::Truncated)
    );
    // PkgLength with reserved bits set, and one shorter than itself.
    assert_eq!(
        find_s5(&[
            0x08, b'_', b'S', b'5', b'_', 0x12, 0x70, 0x00, 0x02, 0x00, 0x00
        ]),
        Err(AmlError::BadLength)
    );
    assert_eq!(
        find_s5(&[0x08, b'_', b'S', b'5', b'_', 0x12, 0x01, 0x02, 0x00, 0x00]),
        Err(AmlError::BadLength)
    );
    // A broken candidate does not hide a later good one.
    let aml = [&[0x08, b'_', b'S', b'5', b'_', 0x0A][..], QEMU_S5].concat();
    assert_eq!(find_s5(&aml), Ok(SleepType { a: 0, b: 0 }));
    // Tables.
    assert_eq!(find_s5_in_table(b"DSDT"), Err(AmlError::BadTable));
    assert_eq!(
        find_s5_in_table(&table(b"APIC", QEMU_S5)),
        Err(AmlError::BadTable)
    );
    assert_eq!(
        find_s5_in_table(&table(b"SSDT", QEMU_S5)),
        Ok(SleepType { a: 0, b: 0 })
    );
    // The length field cuts the AML off before the package ends.
    let mut t = table(b"DSDT", QEMU_S5);
    t[4..8].copy_from_slice(&((HEADER_LEN + 8) as u32).to_le_bytes());
    assert_eq!(find_s5_in_table(&t), Err(AmlError::Truncated));
    t[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(find_s5_in_table(&t), Ok(SleepType { a: 0, b: 0 }));
    assert!(AmlError::BadElement(0x0D).to_string().contains("0x0d"));
}

#[test]
fn pkg_length_forms() {
    assert_eq!(pkg_length(&[0x3F], 0), Ok((63, 1)));
    assert_eq!(pkg_length(&[0x45, 0x12], 0), Ok((0x125, 2)));
    assert_eq!(pkg_length(&[0x81, 0x23, 0x01], 0), Ok((0x01231, 3)));
    assert_eq!(
        pkg_length(&[0xC2, 0x11, 0x22, 0x33], 0),
        Ok((0x0332_2112, 4))
    );
    assert_eq!(pkg_length(&[0xC2, 0x11], 0), Err(AmlError::Truncated));
    assert_eq!(pkg_length(&[], 0), Err(AmlError::Truncated));
}

#[test]
fn pm1_value() {
    assert_eq!(pm1_control_value(0, 5), (5 << 10) | (1 << 13));
    // Other bits kept, an old sleep type replaced.
    assert_eq!(pm1_control_value(0x1C01, 0), 0x2001);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = find_s5(&bytes);
        let _ = find_s5_in_table(&bytes);
        let mut t = b"DSDT".to_vec();
        t.extend_from_slice(&bytes);
        let _ = find_s5_in_table(&t);
    }

    #[test]
    fn found_inside_random_aml(
        prefix in proptest::collection::vec(any::<u8>(), 0..512),
        suffix in proptest::collection::vec(any::<u8>(), 0..512),
        a in 0u8..8,
        b in 0u8..8,
        len_bytes in 1usize..=4,
        root: bool,
    ) {
        prop_assume!(!prefix.windows(4).any(|w| w == b"_S5_"));
        let s5 = s5(root, &[&[0x0A, a], &[0x0A, b], &[0x00], &[0x00]], 4, len_bytes);
        let aml = [&prefix[..], &s5, &suffix].concat();
        prop_assert_eq!(find_s5(&aml), Ok(SleepType { a, b }));
    }

    /// Truncating a valid definition anywhere never yields a wrong value.
    #[test]
    fn truncation_is_an_error(cut in 0usize..20) {
        let s5 = s5(true, &[&[0x0A, 5], &[0x0A, 5], &[0x00], &[0x00]], 4, 2);
        let cut = cut.min(s5.len() - 1);
        prop_assert!(find_s5(&s5[..cut]).is_err());
    }
}
