//! Cutting what a flow sends into RUs: a record's GDS segments, and
//! the RUs of at most the session's size, as borrowed parts.

use super::*;

/// The most parts of one record's stream: a record of at most 65,535
/// bytes (`MAX_DATA`) takes at most three GDS segments, each a header
/// and its data.
pub(super) const MAX_PARTS: usize = 8;

/// A byte stream given as consecutive parts, cut into RUs of at most
/// `max` bytes: `ru` gets each RU's parts (borrowed), in order. No RU for
/// an empty stream.
pub(super) fn cut(parts: &[&[u8]], max: usize, mut ru: impl FnMut(&[&[u8]])) {
    let mut pieces: [&[u8]; MAX_PARTS] = [&[]; MAX_PARTS];
    let (mut count, mut len) = (0, 0);
    for part in parts {
        let mut rest: &[u8] = part;
        while !rest.is_empty() {
            let take = rest.len().min(max - len);
            let (piece, after) = rest.split_at(take);
            pieces[count] = piece;
            count += 1;
            len += take;
            rest = after;
            if len == max || count == MAX_PARTS {
                ru(&pieces[..count]);
                (count, len) = (0, 0);
            }
        }
    }
    if count > 0 {
        ru(&pieces[..count]);
    }
}

/// The GDS headers of `data` as one mapped record (`12FF`), segmented at
/// [`MAX_LL`]: `headers` holds them and the returned parts interleave them
/// with the data (a record of at most 65,535 bytes takes three segments).
pub(super) fn gds_parts<'a>(
    data: &'a [u8],
    headers: &'a mut [[u8; 4]; 3],
) -> ([&'a [u8]; 6], usize) {
    let mut parts: [&[u8]; 6] = [&[]; 6];
    let mut count = 0;
    let mut rest = data;
    let mut first = true;
    let mut lens = [0usize; 3];
    let mut segments = 0;
    // First the header values, then the borrows (the headers are written
    // before any part refers to them).
    loop {
        let header = if first { 4 } else { 2 };
        let room = usize::from(MAX_LL) - header;
        let take = rest.len().min(room);
        let more = take < rest.len();
        let mut ll = (take + header) as u16;
        if more {
            ll |= LL_CONTINUES;
        }
        let [hi, lo] = ll.to_be_bytes();
        let [id_hi, id_lo] = GDS_APPLICATION_DATA.to_be_bytes();
        headers[segments] = [hi, lo, id_hi, id_lo];
        lens[segments] = take;
        segments += 1;
        rest = &rest[take..];
        first = false;
        if !more || segments == headers.len() {
            break;
        }
    }
    let mut from = 0;
    for (i, header) in headers.iter().take(segments).enumerate() {
        parts[count] = if i == 0 { &header[..] } else { &header[..2] };
        parts[count + 1] = &data[from..from + lens[i]];
        from += lens[i];
        count += 2;
    }
    (parts, count)
}
