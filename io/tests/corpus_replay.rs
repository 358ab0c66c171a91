//! Replays the fuzz corpus (`io/fuzz/corpus/decode/`) through the stream
//! decoder as an ordinary test, so the seeds (and any crash inputs added
//! there later) are checked on every `cargo test` without cargo-fuzz.
//! Files named `valid-*` must decode to frames only, with every RU
//! decodable; others must not panic, whatever they yield.

use std::fs;
use std::path::Path;

use appc_io::wire::{Decoder, RecordReader, Ru};

#[test]
fn replay_decode_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let valid = name.starts_with("valid-");
        let mut decoder = Decoder::new(4096);
        let results: Vec<_> = decoder.frames(&data).collect();
        for result in &results {
            match result {
                Ok(frame) => {
                    let ru = Ru::decode(&frame.rh, &frame.ru);
                    assert!(!valid || ru.is_ok(), "{name}: {ru:?}");
                    if let Ok(Ru::Fmd { data, .. }) = ru {
                        let _ = RecordReader::new(true, 1024).push(data);
                    }
                }
                Err(e) => assert!(!valid, "{name}: {e}"),
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
        seen += 1;
    }
    assert!(seen >= 4, "corpus seeds missing in {}", dir.display());
}
