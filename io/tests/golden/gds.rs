//! Logical records and GDS variables: the HP segmentation example,
//! encoding, a null map name then data (KB156083), bad lengths.

use appc_io::wire::{
    gds::{GDS_APPLICATION_DATA, GDS_MAP_NAME, MAX_LL},
    Record, RecordReader, WireError,
};

// ---------------------------------------------------------------- `docs/wire.md#logical-records-and-gds-variables` GDS

#[test]
fn gds_hp_segmentation_example() {
    // HP-GDS: 10 data bytes in three segments, the ID only in the first.
    let stream = [
        0x80, 0x08, 0x12, 0xFF, 0xD1, 0xD2, 0xD3, 0xD4, // LL 8 + continue, 12FF, 4 bytes
        0x80, 0x06, 0xD5, 0xD6, 0xD7, 0xD8, // LL 6 + continue, 4 bytes
        0x00, 0x04, 0xD9, 0xDA, // LL 4, last 2 bytes
    ];
    let mut reader = RecordReader::new(true, 100);
    reader.push(&stream).unwrap();
    assert_eq!(
        reader.pop(),
        Some(Record {
            id: Some(GDS_APPLICATION_DATA),
            data: vec![0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA],
        })
    );
    assert!(reader.at_record_boundary());
}

#[test]
fn gds_encoding() {
    let data = [0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA];
    // One segment: LL 000E = 2 + 2 + 10.
    let mut out = Vec::new();
    appc_io::wire::encode_record(Some(GDS_APPLICATION_DATA), &data, MAX_LL, &mut out).unwrap();
    let mut expected = vec![0x00, 0x0E, 0x12, 0xFF];
    expected.extend_from_slice(&data);
    assert_eq!(out, expected);
    // Segments of at most 8: 8008 12FF +4, then 0008 +6 (no ID).
    let mut out = Vec::new();
    appc_io::wire::encode_record(Some(GDS_APPLICATION_DATA), &data, 8, &mut out).unwrap();
    assert_eq!(
        out,
        [
            0x80, 0x08, 0x12, 0xFF, 0xD1, 0xD2, 0xD3, 0xD4, //
            0x00, 0x08, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
        ]
    );
    // Basic conversation record, no ID: LL counts itself.
    let mut out = Vec::new();
    appc_io::wire::encode_record(None, &[0xC1, 0xC2], MAX_LL, &mut out).unwrap();
    assert_eq!(out, [0x00, 0x04, 0xC1, 0xC2]);
    // Empty mapped record: 0004 12FF.
    let mut out = Vec::new();
    appc_io::wire::encode_record(Some(GDS_APPLICATION_DATA), &[], MAX_LL, &mut out).unwrap();
    assert_eq!(out, [0x00, 0x04, 0x12, 0xFF]);
}

#[test]
fn gds_kb156083_null_map_name_then_data() {
    let mut stream = vec![
        0x00, 0x04, 0x12, 0xF3, // null map name
        0x00, 0xA2, 0x12, 0xFF, // application data, 162 bytes
    ];
    stream.extend_from_slice(&[0x40; 158]);
    let mut reader = RecordReader::new(true, 1000);
    // Fed one byte at a time, as RU boundaries may fall anywhere.
    for b in &stream {
        reader.push(std::slice::from_ref(b)).unwrap();
    }
    assert_eq!(reader.pop().unwrap().id, Some(GDS_MAP_NAME));
    assert_eq!(reader.pop().unwrap().data, vec![0x40; 158]);
    assert_eq!(reader.pop(), None);
}

#[test]
fn gds_invalid_lengths_and_limit() {
    // `docs/wire.md#logical-records-and-gds-variables`: LL 0000, 0001, 8000, 8001 are invalid.
    for ll in [[0x00, 0x00], [0x00, 0x01], [0x80, 0x00], [0x80, 0x01]] {
        let mut reader = RecordReader::new(false, 100);
        assert!(matches!(
            reader.push(&ll),
            Err(WireError::Invalid {
                field: "LL",
                offset: 0,
                ..
            })
        ));
    }
    // With an ID, the first segment needs LL >= 4.
    let mut reader = RecordReader::new(true, 100);
    assert!(reader.push(&[0x00, 0x03, 0x12, 0xFF]).is_err());
    // Over the limit: refused at the header, before the data arrives.
    let mut reader = RecordReader::new(true, 10);
    assert_eq!(
        reader.push(&[0x00, 0x0F, 0x12, 0xFF]),
        Err(WireError::TooLarge {
            field: "logical record",
            len: 11,
            max: 10
        })
    );
}
