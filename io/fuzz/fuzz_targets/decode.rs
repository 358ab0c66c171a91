//! Feeds arbitrary bytes through every wire decoder: the stream decoder
//! (whole, then byte by byte), and each frame's RU through the RU, FM header
//! and logical-record decoders. libFuzzer reports any panic or any
//! allocation beyond its limit. `io/tests/corpus_replay.rs` replays the
//! corpus through the same path as an ordinary test.
#![no_main]

use appc_io::wire::{Decoder, RecordReader, Ru};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(4096);
    for frame in decoder.frames(data).flatten() {
        if let Ok(Ru::Fmd { data, .. }) = Ru::decode(&frame.rh, &frame.ru) {
            for with_id in [false, true] {
                let _ = RecordReader::new(with_id, 1024).push(data);
            }
        }
    }
    let mut bytewise = Decoder::new(4096);
    for b in data {
        for _ in bytewise.frames(std::slice::from_ref(b)) {}
    }
});
