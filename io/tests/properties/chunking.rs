//! The same stream, split at every position (and at several random
//! positions), decodes to the same frames and errors as in one piece.

use appc_io::wire::{frame::DEFAULT_MAX_PIU, Decoder, Frame, WireError};
use proptest::prelude::*;

use crate::strategies::*;

fn decode_in(chunks: &[&[u8]]) -> Vec<Result<Frame, WireError>> {
    let mut decoder = Decoder::new(DEFAULT_MAX_PIU);
    chunks
        .iter()
        .flat_map(|chunk| decoder.frames(chunk).collect::<Vec<_>>())
        .collect()
}

/// Valid frames, then (maybe) a frame with a bad TH, then (maybe) a broken
/// length prefix: every outcome the decoder has.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(frame(), 1..4),
        any::<bool>(),
        proptest::option::of(bytes(8)),
    )
        .prop_map(|(frames, bad_th, tail)| {
            let mut stream = Vec::new();
            for f in &frames {
                f.encode(DEFAULT_MAX_PIU, &mut stream).unwrap();
            }
            if bad_th {
                stream.extend_from_slice(&[0, 0, 0, 9, 0x1C, 0, 0, 0, 0, 0, 0x03, 0x90, 0x20]);
            }
            if let Some(tail) = tail {
                stream.extend_from_slice(&[0, 0, 0, 1]);
                stream.extend_from_slice(&tail);
            }
            stream
        })
}

proptest! {
    #[test]
    fn every_split_point(stream in stream()) {
        let whole = decode_in(&[&stream]);
        for at in 0..=stream.len() {
            let (a, b) = stream.split_at(at);
            prop_assert_eq!(&decode_in(&[a, b]), &whole, "split at {}", at);
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(&decode_in(&bytewise), &whole);
    }

    #[test]
    fn random_splits(stream in stream(), cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        prop_assert_eq!(decode_in(&chunks(&stream, &cuts)), decode_in(&[&stream]));
    }
}
