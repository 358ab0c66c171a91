//! The record handling's unit tests: logical records written and read in
//! every split, bad LLs, the fill modes, mapped records, and properties
//! over random splits.

use super::*;
use proptest::prelude::*;

/// One logical record: its LL (big-endian) and `data`.
fn record(data: &[u8]) -> Vec<u8> {
    let ll = u16::try_from(data.len() + 2).expect("test record fits");
    let mut out = ll.to_be_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

/// A take with its data, for comparing.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Data(Vec<u8>, WhatRcvd),
    NeedMore,
    Empty,
}

fn got(take: Take, data: Vec<u8>) -> Got {
    match take {
        Take::Data { what } => Got::Data(data, what),
        Take::NeedMore => Got::NeedMore,
        Take::Empty => Got::Empty,
    }
}

impl RecordReader {
    fn got(&mut self, fill: Fill, max_len: u16, complete_input: bool) -> Got {
        let mut data = vec![0xEE; 3];
        let take = self.take(fill, max_len, complete_input, &mut data);
        got(take, data)
    }
}

impl MappedReader {
    fn got(&mut self, max_len: u16) -> Got {
        let mut data = vec![0xEE; 3];
        let take = self.take(max_len, &mut data);
        got(take, data)
    }
}

fn data(data: &[u8], what: WhatRcvd) -> Got {
    Got::Data(data.to_vec(), what)
}

/// Three records: one with data, an empty one, and one more.
fn sample() -> (Vec<Vec<u8>>, Vec<u8>) {
    let records = vec![record(b"hello, world"), record(b""), record(&[0xAB; 17])];
    let stream = records.concat();
    (records, stream)
}

#[test]
fn fill_maps_vcb_values() {
    assert_eq!(Fill::from_vcb(values::FILL_BUFFER), Some(Fill::Buffer));
    assert_eq!(Fill::from_vcb(values::FILL_LL), Some(Fill::Ll));
    assert_eq!(Fill::from_vcb(2), None);
    assert_eq!(Fill::from_vcb(0xFF), None);
}

#[test]
fn ll_validation() {
    let bad = [
        0x0000, 0x0001, 0x8000, 0x8001, 0x8002, 0x8005, 0xC000, 0xFFFF,
    ];
    for ll in bad {
        let mut w = RecordWriter::new();
        assert_eq!(
            w.write(&u16::to_be_bytes(ll)),
            Err(SecondaryRc::BAD_LL),
            "{ll:#06x}"
        );
        assert!(w.at_boundary(), "{ll:#06x}: an error changes nothing");
        let mut r = RecordReader::new();
        assert_eq!(r.push(&u16::to_be_bytes(ll)), Err(SecondaryRc::BAD_LL));
        assert_eq!(r.got(Fill::Buffer, 10, true), Got::Empty);
    }
    for ll in [0x0002, 0x0003, 0x00E6, 0x7FFF] {
        let mut w = RecordWriter::new();
        assert_eq!(w.write(&u16::to_be_bytes(ll)), Ok(()));
        assert_eq!(w.at_boundary(), ll == 2, "{ll:#06x}");
    }
    // Little-endian 230 is 0xE600: the high bit is set.
    assert_eq!(
        RecordWriter::new().write(&[0xE6, 0x00]),
        Err(SecondaryRc::BAD_LL)
    );
}

#[test]
fn bad_ll_split_across_writes() {
    // A first byte with the high bit set fails at once.
    for high in [0x80, 0x81, 0xFF] {
        assert_eq!(RecordWriter::new().write(&[high]), Err(SecondaryRc::BAD_LL));
    }
    // 0x0000 / 0x0001 fail when the second byte arrives.
    for low in [0x00, 0x01] {
        let mut w = RecordWriter::new();
        assert_eq!(w.write(&[0x00]), Ok(()));
        assert!(w.truncated());
        let before = w;
        assert_eq!(w.write(&[low, 0x00, 0x02]), Err(SecondaryRc::BAD_LL));
        assert_eq!(w, before, "an error changes nothing");
        assert_eq!(w.write(&[0x03, b'x']), Ok(()));
        assert!(w.at_boundary());
    }
    // A bad LL after good records: the whole write is refused.
    let mut w = RecordWriter::new();
    let mut data = record(b"ok");
    data.extend_from_slice(&[0x00, 0x01]);
    assert_eq!(w.write(&data), Err(SecondaryRc::BAD_LL));
    assert_eq!(w, RecordWriter::new());
    let mut r = RecordReader::new();
    assert_eq!(r.push(&data), Err(SecondaryRc::BAD_LL));
    assert!(r.is_empty());
    assert_eq!(r.push(&record(b"ok")), Ok(()));
    assert_eq!(r.got(Fill::Ll, 100, false), data_ll(b"ok"));
}

fn data_ll(payload: &[u8]) -> Got {
    data(&record(payload), WhatRcvd::DATA_COMPLETE)
}

#[test]
fn longest_record() {
    let big = record(&[7; 0x7FFD]);
    assert_eq!(big[..2], [0x7F, 0xFF]);
    let mut w = RecordWriter::new();
    assert_eq!(w.write(&big[..0x4000]), Ok(()));
    assert!(w.truncated());
    assert_eq!(w.write(&big[0x4000..]), Ok(()));
    assert!(w.at_boundary());
    let mut r = RecordReader::new();
    assert_eq!(r.push(&big), Ok(()));
    assert_eq!(
        r.got(Fill::Ll, u16::MAX, false),
        data(&big, WhatRcvd::DATA_COMPLETE)
    );
}

#[test]
fn boundary_at_every_split() {
    let (records, stream) = sample();
    let ends: Vec<usize> = records
        .iter()
        .scan(0, |end, r| {
            *end += r.len();
            Some(*end)
        })
        .collect();
    let boundary = |at: usize| at == 0 || ends.contains(&at);
    for i in 0..=stream.len() {
        for j in i..=stream.len() {
            let mut w = RecordWriter::new();
            let mut r = RecordReader::new();
            for (from, to) in [(0, i), (i, j), (j, stream.len())] {
                let part = &stream[from..to];
                assert_eq!(w.write(part), Ok(()), "{i}/{j}");
                assert_eq!(w.at_boundary(), boundary(to), "{i}/{j} at {to}");
                assert_eq!(w.truncated(), !boundary(to));
                assert_eq!(w.after_write(&[]), Ok(w));
                assert_eq!(r.push(part), Ok(()));
            }
            for rec in &records {
                assert_eq!(
                    r.got(Fill::Ll, 100, false),
                    data(rec, WhatRcvd::DATA_COMPLETE)
                );
            }
            assert_eq!(r.got(Fill::Ll, 100, false), Got::Empty);
        }
    }
}

#[test]
fn after_write_does_not_commit() {
    let w = RecordWriter::new();
    let next = w.after_write(&[0x00, 0x05, 1]).expect("valid");
    assert!(w.at_boundary());
    assert!(next.truncated());
    assert!(next.after_write(&[2, 3]).expect("valid").at_boundary());
}

#[test]
fn fill_ll_complete_incomplete_and_continued() {
    let (records, stream) = sample();
    let mut r = RecordReader::new();
    assert_eq!(r.push(&stream), Ok(()));
    assert!(r.at_record_boundary());
    // 14 bytes: "hello, world" with its LL, in pieces of 5.
    assert_eq!(
        r.got(Fill::Ll, 5, false),
        data(&records[0][..5], WhatRcvd::DATA_INCOMPLETE)
    );
    assert!(!r.at_record_boundary());
    assert_eq!(
        r.got(Fill::Ll, 5, false),
        data(&records[0][5..10], WhatRcvd::DATA_INCOMPLETE)
    );
    // The rest fits: complete, and never more than one record.
    assert_eq!(
        r.got(Fill::Ll, 500, false),
        data(&records[0][10..], WhatRcvd::DATA_COMPLETE)
    );
    assert!(r.at_record_boundary());
    // An exact fit is complete.
    assert_eq!(
        r.got(Fill::Ll, 2, false),
        data(&records[1], WhatRcvd::DATA_COMPLETE)
    );
    assert_eq!(
        r.got(Fill::Ll, 19, false),
        data(&records[2], WhatRcvd::DATA_COMPLETE)
    );
    assert!(r.is_empty());
    assert_eq!(r.got(Fill::Ll, 19, false), Got::Empty);
}

#[test]
fn fill_ll_waits_for_the_record() {
    let rec = record(b"abcdef");
    let mut r = RecordReader::new();
    assert_eq!(r.push(&rec[..1]), Ok(()));
    assert_eq!(r.got(Fill::Ll, 100, false), Got::NeedMore);
    assert!(!r.is_empty());
    assert_eq!(r.push(&rec[1..5]), Ok(()));
    assert_eq!(r.got(Fill::Ll, 100, false), Got::NeedMore);
    // max_len bytes of the record have arrived: no need to wait.
    assert_eq!(
        r.got(Fill::Ll, 3, false),
        data(&rec[..3], WhatRcvd::DATA_INCOMPLETE)
    );
    assert_eq!(r.got(Fill::Ll, 100, false), Got::NeedMore);
    // A status follows: take what there is.
    assert_eq!(
        r.got(Fill::Ll, 100, true),
        data(&rec[3..5], WhatRcvd::DATA_INCOMPLETE)
    );
    assert!(r.is_empty());
    assert!(!r.at_record_boundary());
    assert_eq!(r.got(Fill::Ll, 100, false), Got::Empty);
    assert_eq!(r.got(Fill::Ll, 100, true), Got::Empty);
    // The rest arrives and completes the same record.
    assert_eq!(r.push(&rec[5..]), Ok(()));
    assert_eq!(
        r.got(Fill::Ll, 100, false),
        data(&rec[5..], WhatRcvd::DATA_COMPLETE)
    );
    assert!(r.at_record_boundary());
    assert!(r.is_empty());
}

#[test]
fn fill_ll_one_byte_of_ll() {
    let rec = record(b"xy");
    let mut r = RecordReader::new();
    assert_eq!(r.push(&rec), Ok(()));
    assert_eq!(
        r.got(Fill::Ll, 1, false),
        data(&rec[..1], WhatRcvd::DATA_INCOMPLETE)
    );
    assert_eq!(
        r.got(Fill::Ll, 1, false),
        data(&rec[1..2], WhatRcvd::DATA_INCOMPLETE)
    );
    assert_eq!(
        r.got(Fill::Ll, 2, false),
        data(&rec[2..], WhatRcvd::DATA_COMPLETE)
    );
}

#[test]
fn fill_buffer_crosses_records() {
    let (records, stream) = sample();
    let mut r = RecordReader::new();
    assert_eq!(r.push(&stream), Ok(()));
    // 14 + 2 + 19 = 35 bytes.
    assert_eq!(
        r.got(Fill::Buffer, 15, false),
        data(&stream[..15], WhatRcvd::DATA)
    );
    assert!(!r.at_record_boundary());
    // Switching to fill LL continues the record cut by the buffer.
    assert_eq!(
        r.got(Fill::Ll, 100, false),
        data(&records[1][1..], WhatRcvd::DATA_COMPLETE)
    );
    assert!(r.at_record_boundary());
    // Fewer than max_len bytes: wait, unless no more can come.
    assert_eq!(r.got(Fill::Buffer, 100, false), Got::NeedMore);
    assert_eq!(
        r.got(Fill::Buffer, 100, true),
        data(&stream[16..], WhatRcvd::DATA)
    );
    assert_eq!(r.got(Fill::Buffer, 100, true), Got::Empty);

    let mut r = RecordReader::new();
    assert_eq!(r.push(&stream[..20]), Ok(()));
    assert_eq!(
        r.got(Fill::Buffer, 20, false),
        data(&stream[..20], WhatRcvd::DATA)
    );
    assert!(r.is_empty());
    assert!(!r.at_record_boundary());
    assert_eq!(r.push(&stream[20..]), Ok(()));
    assert_eq!(
        r.got(Fill::Buffer, 15, false),
        data(&stream[20..], WhatRcvd::DATA)
    );
    assert!(r.at_record_boundary());
}

#[test]
fn max_len_zero_takes_nothing() {
    let (records, stream) = sample();
    let mut r = RecordReader::new();
    for fill in [Fill::Ll, Fill::Buffer] {
        assert_eq!(r.got(fill, 0, false), Got::Empty);
        assert_eq!(r.got(fill, 0, true), Got::Empty);
    }
    assert_eq!(r.push(&stream[..1]), Ok(()));
    assert_eq!(
        r.got(Fill::Ll, 0, false),
        data(&[], WhatRcvd::DATA_INCOMPLETE)
    );
    assert_eq!(r.got(Fill::Buffer, 0, false), data(&[], WhatRcvd::DATA));
    assert_eq!(r.push(&stream[1..]), Ok(()));
    assert_eq!(
        r.got(Fill::Ll, 0, true),
        data(&[], WhatRcvd::DATA_INCOMPLETE)
    );
    assert!(r.at_record_boundary(), "nothing was taken");
    assert_eq!(
        r.got(Fill::Ll, 100, false),
        data(&records[0], WhatRcvd::DATA_COMPLETE)
    );
}

#[test]
fn byte_queue_is_fifo_and_reuses_its_buffer() {
    let mut q = ByteQueue::default();
    q.extend(b"abc");
    q.extend(b"de");
    assert_eq!(q.as_slice(), b"abcde");
    q.consume(2);
    assert_eq!((q.len(), q.as_slice()), (3, &b"cde"[..]));
    // Filled past its capacity while its front is taken: what it holds
    // moves to the front, in order.
    let capacity = q.buf.capacity();
    let more = vec![b'x'; capacity];
    q.extend(&more);
    assert_eq!(q.head, 0);
    assert_eq!(&q.as_slice()[..3], b"cde");
    assert_eq!(q.len(), 3 + capacity);
    // Drained, it starts over at the front of its buffer.
    q.consume(q.len());
    assert_eq!((q.len(), q.head), (0, 0));
    q.extend(b"z");
    assert_eq!(q.as_slice(), b"z");
    q.clear();
    assert_eq!(q.len(), 0);
}

#[test]
fn purge_discards_everything() {
    let (_, stream) = sample();
    let mut r = RecordReader::new();
    assert_eq!(r.push(&stream[..20]), Ok(()));
    assert_eq!(
        r.got(Fill::Ll, 3, false),
        data(&stream[..3], WhatRcvd::DATA_INCOMPLETE)
    );
    r.purge();
    assert!(r.is_empty());
    assert!(r.at_record_boundary());
    assert_eq!(r.got(Fill::Buffer, 100, true), Got::Empty);
    // The stream restarts at a record boundary: the cut record's rest
    // would now be read as an LL.
    let fresh = record(b"new");
    assert_eq!(r.push(&fresh), Ok(()));
    assert_eq!(
        r.got(Fill::Ll, 100, false),
        data(&fresh, WhatRcvd::DATA_COMPLETE)
    );
}

#[test]
fn mapped_records() {
    let mut m = MappedReader::new();
    assert!(m.is_empty());
    assert_eq!(m.got(10), Got::Empty);
    m.push(b"0123456789");
    m.push(&[]);
    m.push(b"ab");
    assert!(!m.is_empty());
    // max_len 0: data is waiting, nothing taken.
    assert_eq!(m.got(0), data(&[], WhatRcvd::DATA_INCOMPLETE));
    assert!(m.at_record_boundary());
    assert_eq!(m.got(4), data(b"0123", WhatRcvd::DATA_INCOMPLETE));
    assert!(!m.at_record_boundary());
    assert_eq!(m.got(4), data(b"4567", WhatRcvd::DATA_INCOMPLETE));
    assert_eq!(m.got(4), data(b"89", WhatRcvd::DATA_COMPLETE));
    assert!(m.at_record_boundary());
    // The null record is received whole, even with max_len 0.
    assert_eq!(m.got(0), data(&[], WhatRcvd::DATA_COMPLETE));
    assert_eq!(m.got(2), data(b"ab", WhatRcvd::DATA_COMPLETE));
    assert!(m.is_empty());
    assert_eq!(m.got(2), Got::Empty);

    m.push(b"abc");
    assert_eq!(m.got(1), data(b"a", WhatRcvd::DATA_INCOMPLETE));
    m.purge();
    assert!(m.is_empty());
    assert!(m.at_record_boundary());
    assert_eq!(m.got(10), Got::Empty);
}

/// Drains `r` with fill LL, cycling through `lens`, into `out` (a list
/// of records, the last possibly part-received); checks each piece's
/// size. Stops at `NeedMore` / `Empty`, returning it.
fn drain_ll(
    r: &mut RecordReader,
    lens: &mut impl Iterator<Item = u16>,
    out: &mut Vec<Vec<u8>>,
    open: &mut bool,
    complete_input: bool,
) -> Got {
    loop {
        let max_len = lens.next().unwrap_or(1);
        match r.got(Fill::Ll, max_len, complete_input) {
            Got::Data(data, what) => {
                assert!(data.len() <= usize::from(max_len));
                if !*open {
                    out.push(Vec::new());
                }
                out.last_mut().expect("pushed").extend_from_slice(&data);
                *open = match what {
                    WhatRcvd::DATA_COMPLETE => false,
                    WhatRcvd::DATA_INCOMPLETE => {
                        if !complete_input {
                            assert_eq!(data.len(), usize::from(max_len));
                        }
                        true
                    }
                    other => panic!("unexpected {other:?}"),
                };
            }
            other => return other,
        }
    }
}

proptest! {
    #[test]
    fn records_survive_any_chunking(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..12),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        lens in prop::collection::vec(1u16..400, 1..8),
    ) {
        let records: Vec<Vec<u8>> = payloads.iter().map(|p| record(p)).collect();
        let stream = records.concat();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();

        let mut w = RecordWriter::new();
        let mut r = RecordReader::new();
        let mut lens = lens.into_iter().cycle();
        let (mut out, mut open, mut from) = (Vec::new(), false, 0);
        for to in cuts {
            let chunk = &stream[from..to];
            from = to;
            prop_assert_eq!(w.write(chunk), Ok(()));
            prop_assert_eq!(r.push(chunk), Ok(()));
            let end = drain_ll(&mut r, &mut lens, &mut out, &mut open, false);
            prop_assert!(matches!(end, Got::NeedMore | Got::Empty));
        }
        prop_assert!(w.at_boundary());
        prop_assert_eq!(drain_ll(&mut r, &mut lens, &mut out, &mut open, true), Got::Empty);
        prop_assert!(!open);
        prop_assert!(r.at_record_boundary());
        prop_assert_eq!(out, records);
    }

    #[test]
    fn fill_buffer_returns_the_stream(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..8),
        lens in prop::collection::vec(1u16..64, 1..8),
    ) {
        let stream: Vec<u8> = payloads.iter().flat_map(|p| record(p)).collect();
        let mut r = RecordReader::new();
        prop_assert_eq!(r.push(&stream), Ok(()));
        let mut out = Vec::new();
        for max_len in lens.into_iter().cycle().take(stream.len() + 1) {
            match r.got(Fill::Buffer, max_len, true) {
                Got::Data(data, what) => {
                    prop_assert_eq!(what, WhatRcvd::DATA);
                    prop_assert_eq!(data.len(), usize::from(max_len).min(stream.len() - out.len()));
                    out.extend_from_slice(&data);
                }
                other => {
                    prop_assert_eq!(other, Got::Empty);
                    break;
                }
            }
        }
        prop_assert_eq!(out, stream);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..10),
        takes in prop::collection::vec((any::<bool>(), 0u16..50, any::<bool>()), 0..20),
    ) {
        let mut w = RecordWriter::new();
        let mut r = RecordReader::new();
        let mut m = MappedReader::new();
        for chunk in &chunks {
            // The reader validates exactly as the writer does.
            let written = w.write(chunk);
            prop_assert_eq!(r.push(chunk), written);
            if r.is_empty() {
                // All received: received and arrived positions agree.
                prop_assert_eq!(r.at_record_boundary(), w.at_boundary());
            }
            m.push(chunk);
            for &(ll, max_len, complete_input) in &takes {
                let fill = if ll { Fill::Ll } else { Fill::Buffer };
                if let Got::Data(data, _) = r.got(fill, max_len, complete_input) {
                    prop_assert!(data.len() <= usize::from(max_len));
                }
                if let Got::Data(data, _) = m.got(max_len) {
                    prop_assert!(data.len() <= usize::from(max_len));
                }
            }
        }
    }
}
