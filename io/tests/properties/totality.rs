//! Any bytes into every decoder: no panic, and every error typed with an
//! offset inside the input. Where the encoding is canonical (TH, RH, FMH-7)
//! a successful decode re-encodes to the same bytes.

use appc_io::wire::{
    ebcdic, Attach, Bind, ControlRu, Decoder, ErrorDescription, Fmh, Frame, RecordReader, Rh, Ru,
    Th, WireError,
};
use proptest::prelude::*;

use crate::strategies::*;

/// The error's offset, if it has one, lies within `len` bytes.
fn check(result: Result<impl Sized, WireError>, len: usize) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let _ = e.to_string();
        let offset = match e {
            WireError::Truncated { offset, .. }
            | WireError::Invalid { offset, .. }
            | WireError::Unsupported { offset, .. }
            | WireError::Length { offset, .. } => offset,
            WireError::TooLarge { .. } => 0,
        };
        prop_assert!(offset <= len, "{e:?} beyond {len} bytes");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn headers(bytes in bytes(12)) {
        let th = Th::decode(&bytes);
        if let Ok(th) = th {
            prop_assert_eq!(&th.to_bytes()[..], &bytes[..6]);
        }
        check(th, bytes.len())?;
        let rh = Rh::decode(&bytes);
        if let Ok(rh) = rh {
            prop_assert_eq!(&rh.to_bytes()[..], &bytes[..3]);
        }
        check(rh, bytes.len())?;
    }

    #[test]
    fn fm_headers(bytes in bytes(300)) {
        check(Fmh::decode(&bytes), bytes.len())?;
        check(Attach::decode(&bytes), bytes.len())?;
        let e = ErrorDescription::decode(&bytes);
        if let Ok(e) = e {
            prop_assert_eq!(&e.to_bytes()[..], &bytes[..7]);
        }
        check(e, bytes.len())?;
    }

    /// Bytes that start like an Attach reach the deeper fields.
    #[test]
    fn attach_like(tail in bytes(120), flags in any::<u8>(), len in any::<u8>()) {
        let mut bytes = vec![len, 0x05, 0x02, 0xFF, flags, 0x03, 0xD1, 0x00, 0x40];
        bytes.extend_from_slice(&tail);
        check(Attach::decode(&bytes), bytes.len())?;
    }

    #[test]
    fn control_and_bind(bytes in bytes(120), rh in rh()) {
        check(Bind::decode(&bytes), bytes.len())?;
        for category in [
            appc_io::wire::RuCategory::Fmd,
            appc_io::wire::RuCategory::Nc,
            appc_io::wire::RuCategory::Dfc,
            appc_io::wire::RuCategory::Sc,
        ] {
            check(ControlRu::decode(category, &bytes), bytes.len())?;
        }
        check(Ru::decode(&rh, &bytes), bytes.len())?;
        let _ = ebcdic::decode(&bytes);
    }

    /// Bytes that start like a BIND reach the variable part.
    #[test]
    fn bind_like(tail in bytes(80)) {
        let mut bytes = vec![0x31, 0, 0x13, 0x07, 0xB0, 0xB0, 0x50, 0xA3, 0, 0, 0x87, 0x87, 0, 0, 6, 2];
        bytes.extend_from_slice(&[0; 11]);
        bytes.extend_from_slice(&tail);
        check(Bind::decode(&bytes), bytes.len())?;
    }

    #[test]
    fn record_streams(bytes in bytes(300), with_id in any::<bool>(), limit in 0..200usize) {
        let mut reader = RecordReader::new(with_id, limit);
        let result = reader.push(&bytes);
        if let Err(e) = &result {
            prop_assert_eq!(reader.push(&[]), Err(e.clone()), "errors are sticky");
        }
        check(result, bytes.len())?;
        while let Some(record) = reader.pop() {
            prop_assert!(record.data.len() <= limit);
        }
    }

    #[test]
    fn frame_streams(bytes in bytes(300), max in 0..200usize) {
        check(Frame::decode_piu(&bytes), bytes.len())?;
        let mut decoder = Decoder::new(max);
        for result in decoder.frames(&bytes) {
            if let Ok(frame) = &result {
                prop_assert!(frame.ru.len() + 9 <= max);
            }
            check(result, bytes.len())?;
        }
    }

    /// Frame-shaped garbage: plausible length prefixes around random PIUs.
    #[test]
    fn framed_garbage(pius in proptest::collection::vec(bytes(30), 0..5)) {
        let mut stream = Vec::new();
        for piu in &pius {
            stream.extend_from_slice(&(piu.len() as u32).to_be_bytes());
            stream.extend_from_slice(piu);
        }
        let mut decoder = Decoder::new(64);
        for result in decoder.frames(&stream) {
            check(result, stream.len())?;
        }
    }
}
