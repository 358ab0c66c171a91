//! Logical records of basic conversations and the records of mapped
//! conversations: the sending and receiving halves of the data a
//! conversation carries, as pure data handling (no I/O, no locks).
//!
//! # Basic conversations: logical records
//!
//! A basic `SEND_DATA` buffer, and the data a basic receive returns with
//! `fill = AP_LL`, is a byte stream of logical records. Each record is a
//! 2-byte length field `LL`, **big-endian** (230 is `00 E6`, never
//! `E6 00`), followed by `LL - 2` data bytes; `LL` counts itself, so an
//! empty record is `00 02` and the longest has `LL = 0x7FFF` (32,765 data
//! bytes). A `SEND_DATA` may end anywhere inside a record, even between the
//! two bytes of its `LL`, and the next `SEND_DATA` continues it; a receive
//! may likewise return a record in pieces.
//!
//! * **Valid LL values are `0x0002..=0x7FFF`.** Anything else is
//!   `AP_BAD_LL` ([`SecondaryRc::BAD_LL`], with `AP_PARAMETER_CHECK`): the
//!   values the documentation names (`0000`, `0001`, `8000`, `8001`) and every
//!   other value with the high bit set. A first `LL` byte with the high bit
//!   set is rejected at once, without waiting for the second byte.
//! * **The high bit.** The HIS page also says that setting the most
//!   significant bit "indicates that the information ... is continued in
//!   the next logical record", while saying on the same page that `LL`
//!   cannot be `0x8000` or more. The continuation bit is the wire's GDS
//!   segmentation (`docs/wire.md#logical-records-and-gds-variables`: `LL & 0x7FFF` is the segment length),
//!   which the LU, not the application, produces; basic records never need
//!   it, since they fit in 15 bits. This module follows the second
//!   statement and `docs/api.md#logical-records` ( valid LL values are 2..0x7FFF): an
//!   application `LL` with the high bit set is `AP_BAD_LL`. **\[unsure\]**
//!   whether HIS accepts `0x8002..=0xFFFF`.
//! * **Record boundaries.** A verb that needs one (CONFIRM, DEALLOCATE
//!   FLUSH / SYNC_LEVEL, PREPARE_TO_RECEIVE, a receive issued in SEND state,
//!   SEND_DATA with a combined type) fails with its `*_NOT_LL_BDY` state
//!   check while a record is half sent: [`RecordWriter::at_boundary`]. For
//!   SEND_DATA with a combined type the boundary counts *after* the data of
//!   that SEND_DATA, so the engine asks [`RecordWriter::after_write`] first
//!   and commits only if it passes. A SEND_ERROR issued part-way through a
//!   record ([`RecordWriter::truncated`]) makes the partner see `*_TRUNC`
//!   instead of `*_NO_TRUNC`, and ends that record: the next SEND_DATA
//!   starts a new one with a fresh [`RecordWriter`].
//!
//! # Receiving
//!
//! [`RecordReader`] (basic) and [`MappedReader`] (mapped) buffer inbound
//! data and hand it out per receive as a [`Take`]:
//!
//! * **`fill = AP_LL`** returns at most one logical record, **including its
//!   LL prefix**: the HIS page says records are "sent from or received in a
//!   data buffer" whose LL field is big-endian, and the LU 6.2 receive
//!   returns the record as it was sent. A record (or its rest) that fits in
//!   `max_len` comes back with [`WhatRcvd::DATA_COMPLETE`]; otherwise the
//!   first `max_len` bytes come back with [`WhatRcvd::DATA_INCOMPLETE`] and
//!   the next receive continues the same record ("a complete logical
//!   record, a `max_len` byte portion of a logical record, or the end of a
//!   logical record", HIS RECEIVE_AND_WAIT page).
//! * **`fill = AP_BUFFER`** returns the stream regardless of record
//!   boundaries, as [`WhatRcvd::DATA`]. HIS: the TP "receives data until
//!   the number of bytes specified by `max_len` is reached or until the end
//!   of the data", the end of the data being a status or a non-OK return
//!   code on the *next* receive. So a receive that may wait is satisfied by
//!   `max_len` bytes, and returns fewer only when no more data can come
//!   before a status (SNAplus2's CPI-C guide: only an immediate receive "can
//!   be less than `requested_length` if a smaller amount of data has
//!   arrived"). An engine that wants "whatever has arrived" passes
//!   `complete_input = true`.
//! * **Waiting.** A receive that may wait (`complete_input = false`) gets
//!   [`Take::NeedMore`] while what has arrived does not satisfy it, and the
//!   engine leaves it pending. When a status (change of direction, confirm,
//!   deallocate, error) follows the data, or for RECEIVE_IMMEDIATE, the
//!   engine passes `complete_input = true` and gets what there is; with
//!   `fill = AP_LL` a record cut short comes back as `DATA_INCOMPLETE`
//!   (the partner's SEND_ERROR part-way through a record: the engine then
//!   reports `*_TRUNC` and calls [`RecordReader::purge`]).
//! * **`max_len = 0`** "probes for status without taking data". With
//!   nothing buffered the take is [`Take::Empty`] and the engine reports
//!   the status (or waits). With data buffered no data is taken, and the
//!   receive learns that data is waiting: `DATA_INCOMPLETE` (`fill =
//!   AP_LL`, mapped) or `DATA` (`fill = AP_BUFFER`), with no bytes; a
//!   mapped null record (zero-length MC_SEND_DATA) is received whole, as
//!   `DATA_COMPLETE` with no bytes. This is **\[inferred\]** from the SNA
//!   Server CPI-C Receive page (same product line), which documents exactly
//!   these `data_received` values for `requested_length = 0`; the HIS APPC
//!   pages only say that it shows whether the partner has data to send.
//!
//! The readers' input contract: the engine pushes only data that precedes
//! the next status it has not yet reported, and keeps anything later
//! itself. [`RecordReader::push`] validates the inbound LLs exactly as
//! [`RecordWriter::write`] does; a bad one is a partner protocol error, for
//! the engine to answer, and nothing is buffered.
//!
//! # Mapped conversations
//!
//! One MC_SEND_DATA is one record of up to [`MAX_DATA`](super::verbs::MAX_DATA)
//! bytes, with no LL visible to the application (on the wire the LU wraps it
//! as GDS `12FF`). [`MappedReader`] queues whole records and hands them out
//! with the same `DATA_COMPLETE` / `DATA_INCOMPLETE` rules as `fill =
//! AP_LL`, sharing its code with [`RecordReader`].
//!
//! # Sources
//!
//! `docs/api.md#vcbs-layout-and-byte-order` (big-endian LL), `docs/api.md#verbs` (`fill` values), `docs/api.md#what_rcvd`
//! (`what_rcvd`), `docs/api.md#return-codes` (`AP_BAD_LL` values), `docs/api.md#buffering-and-flushing` (basic logical records,
//! `fill = AP_BUFFER`, `max_len = 0`); `docs/wire.md#logical-records-and-gds-variables` (LL continuation
//! bit); HIS "Logical Records Used in Basic Conversations" and
//! the HIS RECEIVE_AND_WAIT page; SNA Server CPI-C "Receive" (`requested_length`
//! zero); SNAplus2 CPI-C Programmer's Guide, Receive (`cmrcv`).

use std::collections::VecDeque;

use super::rc::{SecondaryRc, WhatRcvd};
use super::verbs::values;

/// The smallest valid LL: a record with no data.
const MIN_LL: u16 = 2;
/// The largest valid LL (the high bit is the wire's continuation flag).
const MAX_LL: u16 = 0x7FFF;

/// The data length a logical record's LL announces, or `AP_BAD_LL`.
fn data_len(ll: u16) -> Result<u16, SecondaryRc> {
    match ll {
        MIN_LL..=MAX_LL => Ok(ll - MIN_LL),
        _ => Err(SecondaryRc::BAD_LL),
    }
}

/// Where a stream of logical records stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Position {
    /// Between records: the next byte is the first of an LL.
    #[default]
    Boundary,
    /// The first (high) LL byte, seen but not yet completed.
    HalfLl(u8),
    /// Inside a record's data; this many bytes (at least 1) are still owed.
    Data(u16),
}

impl Position {
    /// The position after `owed` more data bytes are due.
    fn owing(owed: u16) -> Self {
        match owed {
            0 => Position::Boundary,
            _ => Position::Data(owed),
        }
    }

    /// Consumes the start of `data` (non-empty) that completes this
    /// position's current part of a record (an LL or the data owed).
    /// Returns the new position and how many bytes were consumed (at least
    /// one), or `AP_BAD_LL`.
    fn step(self, data: &[u8]) -> Result<(Self, usize), SecondaryRc> {
        match (self, data) {
            // Only for exhaustiveness: `walk` never passes empty data.
            (_, []) => Ok((self, 0)),
            (Position::Boundary, &[high]) => match high & 0x80 {
                0 => Ok((Position::HalfLl(high), 1)),
                _ => Err(SecondaryRc::BAD_LL),
            },
            (Position::Boundary, &[high, low, ..]) => {
                let owed = data_len(u16::from_be_bytes([high, low]))?;
                Ok((Position::owing(owed), 2))
            }
            (Position::HalfLl(high), &[low, ..]) => {
                let owed = data_len(u16::from_be_bytes([high, low]))?;
                Ok((Position::owing(owed), 1))
            }
            (Position::Data(owed), _) => {
                let taken = u16::try_from(data.len()).map_or(owed, |len| len.min(owed));
                Ok((Position::owing(owed - taken), usize::from(taken)))
            }
        }
    }

    /// Walks `data` from this position, calling `piece` for each run of
    /// bytes within one record with whether the run ends that record.
    /// Returns the position after `data`, or `AP_BAD_LL` (the pieces before
    /// the bad LL have been reported; callers discard them).
    fn walk<'a>(
        self,
        mut data: &'a [u8],
        mut piece: impl FnMut(&'a [u8], bool),
    ) -> Result<Self, SecondaryRc> {
        let mut position = self;
        while !data.is_empty() {
            let (next, consumed) = position.step(data)?;
            let (run, rest) = data.split_at(consumed);
            piece(run, next == Position::Boundary);
            position = next;
            data = rest;
        }
        Ok(position)
    }
}

/// The sending half of a basic conversation: tracks the logical-record
/// boundary across `SEND_DATA` calls and validates every LL.
///
/// SEND_ERROR ends the current record (the partner sees `*_TRUNC` if
/// [`truncated`](Self::truncated)); replace the writer with
/// [`RecordWriter::new`] then.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordWriter {
    position: Position,
}

impl RecordWriter {
    /// A writer at a record boundary (a new conversation).
    pub const fn new() -> Self {
        Self {
            position: Position::Boundary,
        }
    }

    /// The writer as it would be after sending `data`, leaving `self`
    /// unchanged: `Err(AP_BAD_LL)` if an LL that starts in `data` (or is
    /// completed by it) is not valid.
    pub fn after_write(&self, data: &[u8]) -> Result<Self, SecondaryRc> {
        let position = self.position.walk(data, |_, _| ())?;
        Ok(Self { position })
    }

    /// Accounts for the `data` of one `SEND_DATA`: validates every LL in it
    /// and moves the record boundary. On `Err(AP_BAD_LL)` nothing changes.
    pub fn write(&mut self, data: &[u8]) -> Result<(), SecondaryRc> {
        *self = self.after_write(data)?;
        Ok(())
    }

    /// Whether every record sent so far is complete (no LL half sent, no
    /// data owed): the condition the `*_NOT_LL_BDY` state checks require.
    pub fn at_boundary(&self) -> bool {
        self.position == Position::Boundary
    }

    /// Whether a record is half sent: a SEND_ERROR now makes the partner
    /// see `*_TRUNC`. The negation of [`at_boundary`](Self::at_boundary).
    pub fn truncated(&self) -> bool {
        !self.at_boundary()
    }
}

/// The `fill` of a basic receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fill {
    /// `AP_BUFFER`: data regardless of record boundaries.
    Buffer,
    /// `AP_LL`: at most one logical record, LL included.
    Ll,
}

impl Fill {
    /// The fill a VCB's `fill` byte names, or `None` for a value that is not
    /// valid (the engine answers `AP_*_BAD_FILL`).
    pub const fn from_vcb(fill: u8) -> Option<Self> {
        match fill {
            values::FILL_BUFFER => Some(Fill::Buffer),
            values::FILL_LL => Some(Fill::Ll),
            _ => None,
        }
    }
}

/// What one receive takes from a reader. The data goes into the
/// receive's own buffer, passed to `take`: the reader's bytes are copied
/// once, into the buffer the TP gets, and nothing is allocated when that
/// buffer already has the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Take {
    /// Data for the receive, now in its buffer: at most `max_len` bytes,
    /// and the `what_rcvd` data part (`DATA`, `DATA_COMPLETE` or
    /// `DATA_INCOMPLETE`). The data is empty only for `max_len = 0` or a
    /// mapped null record.
    Data {
        /// The data part of `what_rcvd`.
        what: WhatRcvd,
    },
    /// Data has arrived but does not satisfy a receive that may wait yet;
    /// leave the receive pending. Only with `complete_input = false`.
    NeedMore,
    /// No data is buffered: report the next status, or wait for input.
    Empty,
}

/// Bytes taken from the front and added at the back: a buffer and the
/// offset of its first byte not yet taken. Emptied, it starts again at the
/// front of its buffer, so a queue drained as it fills (a receive waiting
/// as data arrives) moves no byte but the ones it takes and gives; one
/// that is not drained moves what it holds to the front before its buffer
/// would grow. It keeps its capacity.
#[derive(Debug, Default)]
pub(crate) struct ByteQueue {
    buf: Vec<u8>,
    head: usize,
}

impl ByteQueue {
    /// Bytes held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    /// The bytes held, oldest first.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    /// Adds `bytes` at the back.
    #[inline]
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        if self.head > 0 && bytes.len() > self.buf.capacity() - self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Drops the `count` oldest bytes (at most [`ByteQueue::len`]).
    #[inline]
    pub(crate) fn consume(&mut self, count: usize) {
        self.head += count;
        if self.head >= self.buf.len() {
            self.clear();
        }
    }

    /// Drops everything.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
    }
}

/// Inbound records waiting to be received, oldest first, as one byte
/// queue and the records' lengths: both keep their capacity, so a
/// conversation in its steady state allocates nothing for what arrives.
/// Every record is complete except that the last may still be arriving
/// (basic only).
#[derive(Debug, Default)]
struct Inbound {
    bytes: ByteQueue,
    /// The length of each record in `bytes` (the first one counted whole,
    /// `taken` of it already received).
    records: VecDeque<usize>,
    /// The last record is still arriving.
    open: bool,
    /// Bytes of the first record already received.
    taken: usize,
}

impl Inbound {
    /// Appends a run of bytes of one record: to the last record if that is
    /// still arriving, else as a new record. `ends` closes the record.
    fn append(&mut self, run: &[u8], ends: bool) {
        match self.records.back_mut() {
            Some(last) if self.open => *last += run.len(),
            _ => self.records.push_back(run.len()),
        }
        self.bytes.extend(run);
        self.open = !ends;
    }

    /// Queues one whole record (the last record must be complete).
    fn push_record(&mut self, record: &[u8]) {
        debug_assert!(!self.open, "a whole record after a part-arrived one");
        self.records.push_back(record.len());
        self.bytes.extend(record);
    }

    /// The length of the unreceived rest of the first record, and whether
    /// that record is complete.
    fn front(&self) -> Option<(usize, bool)> {
        let complete = self.records.len() > 1 || !self.open;
        let len = *self.records.front()?;
        Some((len.saturating_sub(self.taken), complete))
    }

    /// Takes for a record-oriented receive (`fill = AP_LL`, mapped).
    fn take_record(&mut self, max_len: usize, complete_input: bool, into: &mut Vec<u8>) -> Take {
        let Some((len, complete)) = self.front() else {
            return Take::Empty;
        };
        let (count, what) = if complete && len <= max_len {
            (len, WhatRcvd::DATA_COMPLETE)
        } else if len == 0 {
            // A record still arriving, all of it received so far.
            return Take::Empty;
        } else if len >= max_len || complete_input {
            (len.min(max_len), WhatRcvd::DATA_INCOMPLETE)
        } else {
            return Take::NeedMore;
        };
        self.deliver(count, into);
        Take::Data { what }
    }

    /// Takes for `fill = AP_BUFFER`: the stream, across record boundaries.
    fn take_buffer(&mut self, max_len: usize, complete_input: bool, into: &mut Vec<u8>) -> Take {
        let available = self.buffered();
        if available == 0 {
            Take::Empty
        } else if available < max_len && !complete_input {
            Take::NeedMore
        } else {
            self.deliver(available.min(max_len), into);
            Take::Data {
                what: WhatRcvd::DATA,
            }
        }
    }

    /// Moves the next `count` bytes (at most what is buffered) into `into`
    /// (replacing what it held), dropping each complete record once it is
    /// all received. A record of length 0 at the front is dropped when
    /// `count` is 0 and it is complete (a mapped null record).
    fn deliver(&mut self, count: usize, into: &mut Vec<u8>) {
        let count = count.min(self.bytes.len());
        into.clear();
        into.extend_from_slice(&self.bytes.as_slice()[..count]);
        self.bytes.consume(count);
        let mut left = count;
        while let Some((rest, complete)) = self.front() {
            let part = rest.min(left);
            self.taken += part;
            left -= part;
            if part < rest || !complete {
                break;
            }
            self.records.pop_front();
            self.taken = 0;
            if left == 0 {
                // A null record right behind is not part of this take.
                break;
            }
        }
    }

    /// Bytes buffered and not yet received.
    fn buffered(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing is left to receive.
    fn is_empty(&self) -> bool {
        self.front()
            .is_none_or(|(rest, complete)| rest == 0 && !complete)
    }

    /// Whether every record begun has been received whole.
    fn at_record_boundary(&self) -> bool {
        self.taken == 0
    }

    /// Drops everything, keeping the buffers' capacity.
    fn purge(&mut self) {
        self.bytes.clear();
        self.records.clear();
        self.open = false;
        self.taken = 0;
    }
}

/// The receiving half of a basic conversation: the inbound byte stream of
/// logical records, handed out per receive by `fill` and `max_len`.
#[derive(Debug, Default)]
pub struct RecordReader {
    /// Where the arrived stream stands (LL validation, record ends).
    arrived: Position,
    inbound: Inbound,
}

impl RecordReader {
    /// An empty reader at a record boundary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends inbound stream bytes (an RU's data, in order). Every LL is
    /// validated as [`RecordWriter::write`] does; on `Err(AP_BAD_LL)` (a
    /// partner protocol error) nothing is buffered.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), SecondaryRc> {
        // Validate first, so that a bad LL buffers nothing.
        let arrived = self.arrived.walk(bytes, |_, _| ())?;
        let inbound = &mut self.inbound;
        let _ = self
            .arrived
            .walk(bytes, |run, ends| inbound.append(run, ends));
        self.arrived = arrived;
        Ok(())
    }

    /// Takes the data for one receive into `into` (see the module docs):
    /// with [`Fill::Ll`] at most one logical record, LL included; with
    /// [`Fill::Buffer`] up to `max_len` bytes of the stream. A receive that
    /// may wait passes `complete_input = false`; `true` says no more data
    /// can come before the next status (or the receive cannot wait), so
    /// whatever is buffered is returned. `into` is left alone unless the
    /// take is [`Take::Data`].
    pub fn take(
        &mut self,
        fill: Fill,
        max_len: u16,
        complete_input: bool,
        into: &mut Vec<u8>,
    ) -> Take {
        let max_len = usize::from(max_len);
        match fill {
            Fill::Ll => self.inbound.take_record(max_len, complete_input, into),
            Fill::Buffer => self.inbound.take_buffer(max_len, complete_input, into),
        }
    }

    /// Whether no data is buffered (a record may still be part-received).
    pub fn is_empty(&self) -> bool {
        self.inbound.is_empty()
    }

    /// Bytes buffered and not yet received (POST_ON_RECEIPT's threshold).
    pub fn buffered(&self) -> usize {
        self.inbound.buffered()
    }

    /// Whether the application has received every record it began whole:
    /// no record is part-received.
    pub fn at_record_boundary(&self) -> bool {
        self.inbound.at_record_boundary()
    }

    /// Discards all inbound data and returns to a record boundary: SEND_ERROR
    /// issued in RECEIVE purges inbound data, and after reporting `*_TRUNC`
    /// the cut record's rest will never come.
    pub fn purge(&mut self) {
        self.arrived = Position::Boundary;
        self.inbound.purge();
    }
}

/// The receiving half of a mapped conversation: whole records (one per
/// partner MC_SEND_DATA), handed out per receive by `max_len`.
#[derive(Debug, Default)]
pub struct MappedReader {
    inbound: Inbound,
}

impl MappedReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues one complete inbound record (possibly empty: a null record).
    pub fn push(&mut self, record: &[u8]) {
        self.inbound.push_record(record);
    }

    /// Takes the data for one receive into `into`: the rest of the current
    /// record as `DATA_COMPLETE` if it fits in `max_len`, else its next
    /// `max_len` bytes as `DATA_INCOMPLETE`, continued by the next receive.
    /// Records arrive whole, so this never answers [`Take::NeedMore`].
    pub fn take(&mut self, max_len: u16, into: &mut Vec<u8>) -> Take {
        self.inbound.take_record(usize::from(max_len), true, into)
    }

    /// Whether no record is waiting.
    pub fn is_empty(&self) -> bool {
        self.inbound.is_empty()
    }

    /// Bytes buffered and not yet received.
    pub fn buffered(&self) -> usize {
        self.inbound.buffered()
    }

    /// Whether no record is part-received.
    pub fn at_record_boundary(&self) -> bool {
        self.inbound.at_record_boundary()
    }

    /// Discards all inbound records (SEND_ERROR issued in RECEIVE).
    pub fn purge(&mut self) {
        self.inbound.purge();
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
