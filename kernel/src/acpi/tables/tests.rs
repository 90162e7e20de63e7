use super::*;
use proptest::prelude::*;
use std::string::ToString;
use std::vec::Vec;

/// Sets byte `at` so that `bytes[..len]` sums to zero.
fn fix_checksum(bytes: &mut [u8], len: usize, at: usize) {
    bytes[at] = 0;
    bytes[at] = 0u8.wrapping_sub(checksum(&bytes[..len]));
}

fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RSD PTR ");
    b.push(0);
    b.extend_from_slice(b"BOCHS ");
    b.push(revision);
    b.extend_from_slice(&rsdt.to_le_bytes());
    b.extend_from_slice(&(RSDP_V2_LEN as u32).to_le_bytes());
    b.extend_from_slice(&xsdt.to_le_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    fix_checksum(&mut b, RSDP_V1_LEN, 8);
    fix_checksum(&mut b, RSDP_V2_LEN, 32);
    b
}

fn table(signature: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(signature);
    t.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_le_bytes());
    t.push(revision);
    t.push(0);
    t.extend_from_slice(b"BOCHS BXPC    ");
    t.resize(HEADER_LEN, 0);
    t.extend_from_slice(body);
    let len = t.len();
    fix_checksum(&mut t, len, 9);
    t
}

#[test]
fn rsdp_revisions() {
    let v2 = rsdp(2, 0x7fb7_0000, 0x7fb7_1000);
    let r = parse_rsdp(&v2).unwrap();
    assert_eq!(r.revision, 2);
    assert_eq!(&r.oem_id, b"BOCHS ");
    assert_eq!(r.rsdt, 0x7fb7_0000);
    assert_eq!(r.xsdt, Some(0x7fb7_1000));
    assert_eq!(r.root(), Some((0x7fb7_1000, true)));
    // Revision 0: 20 bytes suffice, the XSDT field is not read.
    let v1 = rsdp(0, 0x000e_0000, 0xdead);
    let mut short = v1[..RSDP_V1_LEN].to_vec();
    fix_checksum(&mut short, RSDP_V1_LEN, 8);
    let r = parse_rsdp(&short).unwrap();
    assert_eq!((r.revision, r.xsdt), (0, None));
    assert_eq!(r.root(), Some((0xe_0000, false)));
    // Revision 2 with a zero XSDT falls back to the RSDT; neither: no root.
    assert_eq!(
        parse_rsdp(&rsdp(2, 0x1000, 0)).unwrap().root(),
        Some((0x1000, false))
    );
    assert_eq!(parse_rsdp(&rsdp(2, 0, 0)).unwrap().root(), None);
}

#[test]
fn rsdp_errors() {
    let good = rsdp(2, 0x1000, 0x2000);
    assert_eq!(parse_rsdp(&good[..19]), Err(RsdpError::Short));
    assert_eq!(parse_rsdp(&good[..30]), Err(RsdpError::Short));
    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(parse_rsdp(&bad), Err(RsdpError::Signature));
    let mut bad = good.clone();
    bad[16] ^= 1;
    assert_eq!(parse_rsdp(&bad), Err(RsdpError::Checksum));
    let mut bad = good.clone();
    bad[24] ^= 1;
    assert_eq!(parse_rsdp(&bad), Err(RsdpError::ExtendedChecksum));
    assert!(RsdpError::ExtendedChecksum.to_string().contains("extended"));
}

#[test]
fn headers() {
    let t = table(b"FACP", 3, &[0; 8]);
    assert_eq!(checksum(&t), 0);
    let h = parse_header(&t).unwrap();
    assert_eq!(&h.signature, b"FACP");
    assert_eq!(h.length, 44);
    assert_eq!(h.revision, 3);
    assert_eq!(&h.oem_id, b"BOCHS ");
    assert_eq!(parse_header(&t[..35]), None);
    let mut short = t.clone();
    short[4..8].copy_from_slice(&35u32.to_le_bytes());
    assert_eq!(parse_header(&short), None);
}

#[test]
fn root_tables() {
    let xsdt = table(
        b"XSDT",
        1,
        &[0x1000u64.to_le_bytes(), 0x1_0000_2000u64.to_le_bytes()].concat(),
    );
    let e: Vec<u64> = root_entries(&xsdt).unwrap().collect();
    assert_eq!(e, [0x1000, 0x1_0000_2000]);
    let rsdt = table(
        b"RSDT",
        1,
        &[
            0x1000u32.to_le_bytes(),
            0x2000u32.to_le_bytes(),
            [1, 2, 3, 4],
        ]
        .concat(),
    );
    let e: Vec<u64> = root_entries(&rsdt).unwrap().collect();
    assert_eq!(e, [0x1000, 0x2000, 0x0403_0201]);
    // The header's length bounds the entries; a partial entry is dropped.
    let mut cut = xsdt.clone();
    cut[4..8].copy_from_slice(&((HEADER_LEN + 12) as u32).to_le_bytes());
    assert_eq!(root_entries(&cut).unwrap().collect::<Vec<_>>(), [0x1000]);
    // A length past the bytes given: only what is there.
    assert_eq!(root_entries(&xsdt[..HEADER_LEN + 8]).unwrap().count(), 1);
    assert!(root_entries(&table(b"FACP", 1, &[0; 8])).is_none());
    assert!(root_entries(&xsdt[..10]).is_none());
}

#[test]
fn ascii() {
    assert_eq!(Ascii(b"BOCHS ").to_string(), "BOCHS");
    assert_eq!(Ascii(b"AB\x01C\0\0").to_string(), "AB?C");
    assert_eq!(Ascii(b"      ").to_string(), "");
    assert_eq!(Ascii(b"\xffAPIC").to_string(), "?APIC");
}

fn gas(space: AddressSpace, bit_width: u8, access: AccessSize, address: u64) -> GenericAddress {
    GenericAddress {
        address_space: space,
        bit_width,
        bit_offset: 0,
        access_size: access,
        address,
    }
}

#[test]
fn gas_decoding() {
    use AccessSize::*;
    use AddressSpace::*;
    // QEMU's X_PM1a_CNT and its reset register; the legacy fallback the crate builds
    // (bit width from PM1_CNT_LEN, no access size).
    assert_eq!(
        decode(&gas(SystemIo, 16, WordAccess, 0x604), Width::Byte),
        Ok(Register {
            space: Space::Io(0x604),
            width: Width::Word
        })
    );
    assert_eq!(
        decode(&gas(SystemIo, 16, Undefined, 0xb004), Width::Byte),
        Ok(Register {
            space: Space::Io(0xb004),
            width: Width::Word
        })
    );
    assert_eq!(
        decode(&gas(SystemIo, 8, Undefined, 0xcf9), Width::Word),
        Ok(Register {
            space: Space::Io(0xcf9),
            width: Width::Byte
        })
    );
    // Access size wins over bit width; no width at all: the natural one.
    assert_eq!(
        decode(&gas(SystemMemory, 8, DWordAccess, 0xfed0_0000), Width::Byte).map(|r| r.width),
        Ok(Width::Dword)
    );
    assert_eq!(
        decode(&gas(SystemMemory, 0, Undefined, 0xfed0_0000), Width::Word),
        Ok(Register {
            space: Space::Memory(0xfed0_0000),
            width: Width::Word
        })
    );
    assert_eq!(
        decode(&gas(SystemIo, 16, WordAccess, 0), Width::Word),
        Err(RegisterError::Absent)
    );
    assert_eq!(
        decode(&gas(SystemIo, 16, Undefined, 0x1_0000), Width::Word),
        Err(RegisterError::PortOutOfRange(0x1_0000))
    );
    assert_eq!(
        decode(&gas(PciConfigSpace, 8, ByteAccess, 0x1f_0000), Width::Byte),
        Err(RegisterError::UnsupportedSpace(PciConfigSpace))
    );
    assert_eq!(
        decode(&gas(SystemIo, 12, Undefined, 0x604), Width::Word),
        Err(RegisterError::BadWidth(12))
    );
    assert_eq!(
        decode(&gas(SystemIo, 64, QWordAccess, 0x604), Width::Word),
        Err(RegisterError::BadWidth(64))
    );
    let mut g = gas(SystemIo, 8, ByteAccess, 0xcf9);
    g.bit_offset = 1;
    assert_eq!(decode(&g, Width::Byte), Err(RegisterError::BitOffset(1)));
    assert_eq!(
        Register {
            space: Space::Io(0x604),
            width: Width::Word
        }
        .to_string(),
        "I/O port 0x604 (16-bit)"
    );
    assert!(
        RegisterError::UnsupportedSpace(EmbeddedController)
            .to_string()
            .contains("EmbeddedController")
    );
}

#[test]
fn widths() {
    assert_eq!(Width::Byte.mask(), 0xff);
    assert_eq!(Width::Word.mask(), 0xffff);
    assert_eq!(Width::Dword.mask(), 0xffff_ffff);
    assert_eq!(Width::Qword.mask(), u64::MAX);
    assert_eq!(Width::Dword.bytes(), 4);
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = parse_rsdp(&bytes);
        let _ = parse_header(&bytes);
        if let Some(e) = root_entries(&bytes) {
            prop_assert!(e.count() <= bytes.len() / 4);
        }
        let _ = Ascii(&bytes).to_string();
    }

    #[test]
    fn any_root_entry_list_round_trips(entries in proptest::collection::vec(any::<u64>(), 0..16)) {
        let body: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
        let t = table(b"XSDT", 1, &body);
        prop_assert_eq!(root_entries(&t).unwrap().collect::<Vec<_>>(), entries);
    }
}

#[test]
fn ascii_pads() {
    assert_eq!(std::format!("[{:<6}]", Ascii(b"AB  ")), "[AB    ]");
    assert_eq!(Ascii(&[b'x'; 100]).to_string().len(), 64);
}
