//! Property tests: every value the encoders accept decodes back to itself.

use appc_io::wire::{
    encode_record, fmh::FMH7_LEN, frame::DEFAULT_MAX_PIU, Attach, Bind, ControlRu, Decoder, Fmh,
    Frame, RecordReader, Rh, Th,
};

use crate::strategies::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn th_round_trips(th in th()) {
        prop_assert_eq!(Th::decode(&th.to_bytes()), Ok(th));
        prop_assert_eq!(Th::new(th.lfsid(), th.flow, th.snf), th);
    }

    #[test]
    fn rh_round_trips(rh in rh()) {
        prop_assert_eq!(Rh::decode(&rh.to_bytes()), Ok(rh));
    }

    #[test]
    fn attach_round_trips(a in attach()) {
        let mut out = Vec::new();
        a.encode(&mut out).unwrap();
        prop_assert_eq!(Attach::decode(&out), Ok((a.clone(), out.len())));
        prop_assert_eq!(Fmh::decode(&out), Ok((Fmh::Attach(a), out.len())));
    }

    #[test]
    fn fmh7_round_trips(e in error_description()) {
        prop_assert_eq!(Fmh::decode(&e.to_bytes()), Ok((Fmh::Error(e), FMH7_LEN)));
    }

    #[test]
    fn bind_round_trips(b in bind()) {
        let mut out = Vec::new();
        b.encode(&mut out).unwrap();
        prop_assert_eq!(Bind::decode(&out), Ok(b));
    }

    #[test]
    fn control_ru_round_trips(ru in control_ru()) {
        let mut out = Vec::new();
        ru.encode(&mut out).unwrap();
        prop_assert_eq!(ControlRu::decode(ru.category(), &out), Ok(ru));
    }

    #[test]
    fn records_round_trip((with_id, max_ll, records) in records(), cuts in proptest::collection::vec(any::<usize>(), 0..5)) {
        let mut stream = Vec::new();
        for (id, data) in &records {
            encode_record(with_id.then_some(*id), data, max_ll, &mut stream).unwrap();
        }
        let mut reader = RecordReader::new(with_id, 100);
        for chunk in chunks(&stream, &cuts) {
            reader.push(chunk).unwrap();
        }
        for (id, data) in &records {
            let got = reader.pop().unwrap();
            prop_assert_eq!(got.id, with_id.then_some(*id));
            prop_assert_eq!(&got.data, data);
        }
        prop_assert_eq!(reader.pop(), None);
        prop_assert!(reader.at_record_boundary());
    }

    #[test]
    fn frames_round_trip(frames in proptest::collection::vec(frame(), 0..6), cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let mut stream = Vec::new();
        for f in &frames {
            f.encode(DEFAULT_MAX_PIU, &mut stream).unwrap();
        }
        let mut decoder = Decoder::new(DEFAULT_MAX_PIU);
        let mut got: Vec<Frame> = Vec::new();
        for chunk in chunks(&stream, &cuts) {
            for f in decoder.frames(chunk) {
                got.push(f.unwrap());
            }
        }
        prop_assert_eq!(got, frames);
        prop_assert!(decoder.is_idle());
    }
}
