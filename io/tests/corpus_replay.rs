//! Replays the fuzz corpus (`io/fuzz/corpus/decode/`) through every decoder
//! the fuzz target drives, as an ordinary test, so the seeds (and any crash
//! inputs added there later) are checked on every `cargo test` without
//! cargo-fuzz. For every file:
//!
//! - the stream decoder, whole and byte by byte, gives the same results;
//! - each frame's RU goes through the RU decoder, and the record-stream bytes
//!   of an FMD request through the logical-record reader both ways (mapped,
//!   with GDS IDs, and basic, plain LL records), as in the fuzz target;
//! - every error names a place inside the bytes it was given.
//!
//! Files named `valid-*` must decode to frames only, every RU decodable, and
//! their record bytes must read as whole records in the mode they were
//! written in. Others must not panic, whatever they yield.

use std::fs;
use std::path::Path;

use appc_io::wire::{Decoder, RecordReader, Ru, WireError};

/// The hand-made seeds; each must be in the corpus.
const SEEDS: [&str; 7] = [
    "garbage-bad-headers",
    "garbage-oversize",
    "garbage-truncated",
    "valid-attach",
    "valid-mapped-data",
    "valid-negative-rsp-fmh7",
    "valid-signal",
];

/// The fewest fuzz-found inputs (`fuzz-*`) the corpus may hold: it kept 534
/// after the fuzzing run of `docs/testing.md#fuzzing`. A corpus minimised below this
/// must lower it on purpose, so that an emptied directory cannot pass.
const MIN_FOUND: usize = 500;

/// Where `error` says the fault is, if it says (`TooLarge` names a length,
/// not a place).
fn offset(error: &WireError) -> Option<usize> {
    match *error {
        WireError::Truncated {
            offset, available, ..
        } => Some(offset + available),
        WireError::Invalid { offset, .. }
        | WireError::Unsupported { offset, .. }
        | WireError::Length { offset, .. } => Some(offset),
        WireError::TooLarge { .. } => None,
    }
}

/// Panics unless `error`, from decoding `len` bytes, lies inside them (a
/// truncation's last available byte at their end at most).
fn assert_inside(error: &WireError, len: usize, what: &str) {
    if let Some(at) = offset(error) {
        assert!(at <= len, "{what}: {error:?} points past the {len} bytes");
    }
}

/// Reads `data` as a record stream (mapped if `with_id`); the reader's
/// error, or whether it ended at a record boundary with every byte in a
/// record.
fn read_records(with_id: bool, data: &[u8]) -> Result<bool, WireError> {
    let mut reader = RecordReader::new(with_id, 1024);
    reader.push(data)?;
    let header = if with_id { 4 } else { 2 };
    let mut covered = 0;
    while let Some(record) = reader.pop() {
        assert_eq!(record.id.is_some(), with_id);
        covered += header + record.data.len();
    }
    Ok(reader.at_record_boundary() && covered <= data.len())
}

#[test]
fn replay_decode_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        replay(&name, &data);
        names.push(name);
    }
    for seed in SEEDS {
        assert!(names.iter().any(|n| n == seed), "seed {seed} missing");
    }
    let found = names.iter().filter(|n| n.starts_with("fuzz-")).count();
    assert!(
        found >= MIN_FOUND,
        "{found} fuzz-found inputs in {}, expected at least {MIN_FOUND}",
        dir.display()
    );
}

fn replay(name: &str, data: &[u8]) {
    let valid = name.starts_with("valid-");
    let mut decoder = Decoder::new(4096);
    let results: Vec<_> = decoder.frames(data).collect();
    for result in &results {
        let frame = match result {
            Ok(frame) => frame,
            Err(e) => {
                assert!(!valid, "{name}: {e}");
                assert_inside(e, data.len(), name);
                continue;
            }
        };
        let ru = match Ru::decode(&frame.rh, &frame.ru) {
            Ok(ru) => ru,
            Err(e) => {
                assert!(!valid, "{name}: {e:?}");
                assert_inside(&e, frame.ru.len(), name);
                continue;
            }
        };
        let Ru::Fmd { data: records, .. } = ru else {
            continue;
        };
        let read = [false, true].map(|with_id| {
            let read = read_records(with_id, records);
            if let Err(e) = &read {
                assert_inside(e, records.len(), name);
            }
            read
        });
        if valid && !records.is_empty() {
            assert!(
                read.iter().any(|r| r == &Ok(true)),
                "{name}: no mode reads its records whole: {read:?}"
            );
        }
    }
    if valid {
        assert!(!results.is_empty() && decoder.is_idle(), "{name}");
    }
    // Byte by byte: the same results.
    let mut bytewise = Decoder::new(4096);
    let again: Vec<_> = data
        .iter()
        .flat_map(|b| bytewise.frames(std::slice::from_ref(b)).collect::<Vec<_>>())
        .collect();
    assert_eq!(again, results, "{name}");
}
