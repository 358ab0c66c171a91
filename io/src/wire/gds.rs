//! Logical records and GDS variables (`docs/wire.md#logical-records-and-gds-variables`): how conversation data
//! is laid out inside the FMD RUs of a chain.
//!
//! ```text
//! LL (2 bytes, big-endian) [ID (2 bytes)] data
//! LL bit 8000 = the record continues in the next segment
//! LL & 7FFF   = this segment's length, counting LL itself and the ID if present
//! ```
//!
//! A basic conversation ships the TP's own LL records unchanged (no ID); a
//! mapped conversation wraps each record as GDS variable `12FF`. A record
//! longer than one segment is split: the ID appears in the first segment
//! only (HP-GDS example: `8008 12FF DDDDDDDD` / `8006 DDDDDDDD` /
//! `0004 DDDD`). Segment lengths below the header (`0000`, `0001`, `8000`,
//! `8001`, and below 4 where an ID is expected) are invalid; `docs/wire.md#logical-records-and-gds-variables` notes a
//! syncpt escape that reuses one of them, which we do not support.
//!
//! Records are a byte stream across the RUs of a chain: an LL may straddle
//! two RUs. [`RecordReader`] therefore takes arbitrary chunks and holds at
//! most one partial record, capped by a configured limit that is checked
//! before any allocation.

use std::collections::VecDeque;

use super::error::WireError;

/// The continuation bit of an LL.
pub const LL_CONTINUES: u16 = 0x8000;
/// The largest segment length an LL can state.
pub const MAX_LL: u16 = 0x7FFF;

/// `12FF`: application data (a mapped-conversation record).
pub const GDS_APPLICATION_DATA: u16 = 0x12FF;
/// `12F1`: null data.
pub const GDS_NULL_DATA: u16 = 0x12F1;
/// `12F2`: user control data.
pub const GDS_USER_CONTROL_DATA: u16 = 0x12F2;
/// `12F3`: map name (precedes a data record; `0004 12F3` is a null map name
/// to accept and skip, `docs/wire.md#logical-records-and-gds-variables`).
pub const GDS_MAP_NAME: u16 = 0x12F3;
/// `12F4`: error data.
pub const GDS_ERROR_DATA: u16 = 0x12F4;
/// `12E1`: error log, after an FMH-7 whose byte 6 is `80`.
pub const GDS_ERROR_LOG: u16 = 0x12E1;
/// `12F5`: program initialisation parameters (after an FMH-5).
pub const GDS_PIP: u16 = 0x12F5;
/// `12E2`: one PIP subfield.
pub const GDS_PIP_SUBFIELD: u16 = 0x12E2;
/// `1210`: change number of sessions (CNOS).
pub const GDS_CNOS: u16 = 0x1210;

/// Appends `data` as one logical record, with GDS `id` when given, split into
/// segments whose LL is at most `max_ll` (use [`MAX_LL`] on the wire; a
/// smaller value reproduces segmentation examples).
///
/// `max_ll` must leave room for a header and one data byte (3 without ID,
/// 5 with one) and be at most [`MAX_LL`].
pub fn encode_record(
    id: Option<u16>,
    data: &[u8],
    max_ll: u16,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let first_header = if id.is_some() { 4 } else { 2 };
    if max_ll > MAX_LL || usize::from(max_ll) <= first_header {
        return Err(WireError::Invalid {
            field: "LL segment limit",
            offset: 0,
            value: max_ll.into(),
        });
    }
    let mut header = first_header;
    let mut rest = data;
    loop {
        let room = usize::from(max_ll) - header;
        let (segment, after) = rest.split_at(room.min(rest.len()));
        // `segment.len() + header <= max_ll <= 0x7FFF`: the cast is exact.
        let mut ll = (segment.len() + header) as u16;
        if !after.is_empty() {
            ll |= LL_CONTINUES;
        }
        out.extend_from_slice(&ll.to_be_bytes());
        if header == 4 {
            if let Some(id) = id {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
        out.extend_from_slice(segment);
        if after.is_empty() {
            return Ok(());
        }
        rest = after;
        header = 2;
    }
}

/// One reassembled logical record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The GDS ID, when the reader expects one.
    pub id: Option<u16>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Collecting a segment header (LL, then ID on a record's first segment).
    Header,
    /// Copying `remaining` data bytes of the current segment.
    Data { remaining: usize, continues: bool },
}

/// Reassembles logical records from chunks of a record stream.
#[derive(Debug)]
pub struct RecordReader {
    with_id: bool,
    limit: usize,
    /// Stream offset of the next input byte, for error offsets.
    offset: usize,
    header: [u8; 4],
    header_len: usize,
    first_segment: bool,
    stage: Stage,
    id: Option<u16>,
    data: Vec<u8>,
    ready: VecDeque<Record>,
    failed: Option<WireError>,
}

impl RecordReader {
    /// A reader of records with a GDS ID (`with_id`: mapped conversations)
    /// or plain LL records (basic conversations), each at most `limit` data
    /// bytes.
    pub fn new(with_id: bool, limit: usize) -> Self {
        Self {
            with_id,
            limit,
            offset: 0,
            header: [0; 4],
            header_len: 0,
            first_segment: true,
            stage: Stage::Header,
            id: None,
            data: Vec::new(),
            ready: VecDeque::new(),
            failed: None,
        }
    }

    /// Whether no partial record is held: a chain may end here without
    /// truncating a record.
    pub fn at_record_boundary(&self) -> bool {
        self.first_segment && self.header_len == 0 && self.stage == Stage::Header
    }

    /// Drops a partial record (after a truncating FMH-7, `docs/wire.md#sense-codes` `08890001`)
    /// and clears a failure.
    pub fn discard_partial(&mut self) {
        self.header_len = 0;
        self.first_segment = true;
        self.stage = Stage::Header;
        self.id = None;
        self.data.clear();
        self.failed = None;
    }

    /// Data bytes held: the partial record and the complete records not
    /// yet popped.
    pub fn buffered(&self) -> usize {
        self.data.len() + self.ready.iter().map(|r| r.data.len()).sum::<usize>()
    }

    /// The next complete record, if any.
    pub fn pop(&mut self) -> Option<Record> {
        self.ready.pop_front()
    }

    /// Feeds the next chunk of the stream; complete records queue for
    /// [`RecordReader::pop`]. After an error the reader keeps returning it
    /// until [`RecordReader::discard_partial`].
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), WireError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        while !chunk.is_empty() {
            match self.step(&mut chunk) {
                Ok(true) => {
                    let mut data = std::mem::take(&mut self.data);
                    // What `reserve` took ahead and the record did not
                    // use: given back in place (a shrinking realloc copies
                    // nothing), as the record may wait a while for its TP.
                    data.shrink_to_fit();
                    self.ready.push_back(Record {
                        id: self.id.take(),
                        data,
                    });
                }
                Ok(false) => {}
                Err(e) => {
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Feeds the next chunk of the stream, handing each record to `record`
    /// as it completes, with its GDS ID: a record that lies whole in the
    /// chunk as one segment (every record of a stream of small ones) is
    /// handed in place, uncopied; any other is assembled in the reader's
    /// buffer, which the reader keeps for the next, so a steady stream
    /// allocates nothing. Nothing queues for [`RecordReader::pop`].
    /// Errors as [`RecordReader::push`].
    pub fn feed(
        &mut self,
        mut chunk: &[u8],
        mut record: impl FnMut(Option<u16>, &[u8]),
    ) -> Result<(), WireError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        while !chunk.is_empty() {
            if let Some(used) = self.whole(chunk, &mut record) {
                chunk = &chunk[used..];
                self.offset += used;
                continue;
            }
            match self.step(&mut chunk) {
                Ok(true) => {
                    record(self.id.take(), &self.data);
                    self.data.clear();
                }
                Ok(false) => {}
                Err(e) => {
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// At a record boundary, a record of one segment that `chunk` holds
    /// whole: hands it over in place and returns the bytes it took.
    fn whole(&self, chunk: &[u8], record: &mut impl FnMut(Option<u16>, &[u8])) -> Option<usize> {
        if !self.at_record_boundary() {
            return None;
        }
        let want = if self.with_id { 4 } else { 2 };
        let header = chunk.get(..want)?;
        let ll = u16::from_be_bytes([header[0], header[1]]);
        let seg_len = usize::from(ll);
        // A continued record, a bad LL, one over the limit or one not
        // whole here takes the general path (which reports the errors).
        if ll & LL_CONTINUES != 0 || seg_len < want || seg_len - want > self.limit {
            return None;
        }
        let data = chunk.get(want..seg_len)?;
        let id = self
            .with_id
            .then(|| u16::from_be_bytes([header[2], header[3]]));
        record(id, data);
        Some(seg_len)
    }

    /// Room for a segment of `remaining` data bytes, checked against the
    /// limit by the caller. A record cut into segments grows by up to
    /// [`MAX_LL`] a segment: reserving exactly each time reallocated and
    /// copied the record once per segment (1.5 extra copies of a 64 KiB
    /// record, the largest MC_SEND_DATA, which takes three segments). So a
    /// segment that says more follow reserves two further segments too
    /// (within the limit): such a record is allocated once.
    fn reserve(&mut self, remaining: usize, continues: bool) {
        if self.data.capacity() - self.data.len() >= remaining {
            return;
        }
        let ahead = if continues {
            2 * usize::from(MAX_LL)
        } else {
            0
        };
        let room = self.limit - self.data.len();
        self.data.reserve_exact((remaining + ahead).min(room));
    }

    /// Takes the start of `chunk`; true when that completes a record (its
    /// data in `self.data`, its ID in `self.id`).
    fn step(&mut self, chunk: &mut &[u8]) -> Result<bool, WireError> {
        match self.stage {
            Stage::Header => {
                let want = if self.first_segment && self.with_id {
                    4
                } else {
                    2
                };
                let n = (want - self.header_len).min(chunk.len());
                let (head, rest) = chunk.split_at(n);
                self.header[self.header_len..self.header_len + n].copy_from_slice(head);
                self.header_len += n;
                self.offset += n;
                *chunk = rest;
                if self.header_len < want {
                    return Ok(false);
                }
                let seg_at = self.offset - want;
                let ll = u16::from_be_bytes([self.header[0], self.header[1]]);
                let seg_len = usize::from(ll & MAX_LL);
                if seg_len < want {
                    return Err(WireError::Invalid {
                        field: "LL",
                        offset: seg_at,
                        value: ll.into(),
                    });
                }
                if want == 4 {
                    self.id = Some(u16::from_be_bytes([self.header[2], self.header[3]]));
                }
                let remaining = seg_len - want;
                let total = self.data.len() + remaining;
                if total > self.limit {
                    return Err(WireError::TooLarge {
                        field: "logical record",
                        len: total,
                        max: self.limit,
                    });
                }
                self.reserve(remaining, ll & LL_CONTINUES != 0);
                self.header_len = 0;
                self.first_segment = false;
                self.stage = Stage::Data {
                    remaining,
                    continues: ll & LL_CONTINUES != 0,
                };
            }
            Stage::Data {
                remaining,
                continues,
            } => {
                let n = remaining.min(chunk.len());
                let (body, rest) = chunk.split_at(n);
                self.data.extend_from_slice(body);
                self.offset += n;
                *chunk = rest;
                self.stage = Stage::Data {
                    remaining: remaining - n,
                    continues,
                };
            }
        }
        if self.stage
            == (Stage::Data {
                remaining: 0,
                continues: false,
            })
        {
            self.first_segment = true;
            self.stage = Stage::Header;
            return Ok(true);
        } else if let Stage::Data { remaining: 0, .. } = self.stage {
            self.stage = Stage::Header;
        }
        Ok(false)
    }
}
