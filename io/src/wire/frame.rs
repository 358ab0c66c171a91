//! PIUs framed on a TCP stream, and the incremental decoder of that stream.
//!
//! ```text
//! frame = length (4 bytes, big-endian) | PIU
//! PIU   = TH (FID2, 6 bytes) | RH (3 bytes) | RU (0.. bytes)
//! ```
//!
//! The length counts the PIU only, not itself. `docs/wire.md#framing-on-tcp` leaves the
//! width open (2 bytes as in RFC 1538, or 4 "if the project wants
//! headroom"); we take **4 bytes**, so a max RU of `X'FF'` (491,520 bytes,
//! `docs/wire.md#bind-image`) still fits, and bound it by a configured frame limit instead. The
//! prefix stays outside the PIU, so the PIU bytes can be handed to tshark
//! unchanged (`docs/wire.md#checking-the-bytes`).
//!
//! Over TCP only whole BIUs travel (TH MPF `11`, `docs/wire.md#transmission-header-fid2`, `docs/wire.md#indicators-not-used`); a segment is
//! [`WireError::Unsupported`].
//!
//! [`Decoder`] is total: any byte string, cut into any chunks, yields frames
//! or typed errors. It holds at most one partial PIU, and it refuses a
//! length prefix over the limit before allocating anything. An error inside
//! a well-framed PIU (bad TH or RH) costs only that frame; a bad length
//! prefix loses the framing, so the decoder stops there for good
//! ([`Decoder::is_broken`]) and the connection must be dropped.

use super::error::WireError;
use super::rh::{Rh, RH_LEN};
use super::th::{Mpf, Th, TH_LEN};

/// Width of the length prefix.
pub const PREFIX_LEN: usize = 4;
/// Shortest PIU: a TH and an RH with an empty RU.
pub const MIN_PIU: usize = TH_LEN + RH_LEN;
/// Default frame limit: an RU of 72 KiB (73,728 = 9·2^13, a size a BIND
/// can state exactly) plus its headers. 72, not 64: the largest mapped
/// record (one MC_SEND_DATA of 65,535 bytes) is 65,543 bytes with its GDS
/// headers (`LL ID` and two continuation `LL`s), which a 64 KiB RU cut in
/// two, the second of 7 bytes. Each took a pacing slot, so a window of
/// `W` RUs carried only `W/2` records; one RU per record gives one session
/// markedly more bandwidth (`docs/design.md#receive-buffers-and-frame-size`).
pub const DEFAULT_MAX_PIU: usize = 73_728 + MIN_PIU;

/// One PIU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub th: Th,
    pub rh: Rh,
    pub ru: Vec<u8>,
}

impl Frame {
    /// Appends the PIU without the length prefix (for tshark, `docs/wire.md#checking-the-bytes`).
    pub fn encode_piu(&self, out: &mut Vec<u8>) {
        self.encode_th_rh(out);
        out.extend_from_slice(&self.ru);
    }

    fn encode_th_rh(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.th.to_bytes());
        out.extend_from_slice(&self.rh.to_bytes());
    }

    /// Bytes [`encode`](Self::encode) appends: the length prefix and the
    /// PIU.
    pub fn encoded_len(&self) -> usize {
        PREFIX_LEN + MIN_PIU + self.ru.len()
    }

    /// Appends the length prefix and the PIU. Fails if the PIU is longer
    /// than `max_piu`, which the receiving [`Decoder`] would refuse.
    pub fn encode(&self, max_piu: usize, out: &mut Vec<u8>) -> Result<(), WireError> {
        self.encode_header(max_piu, out)?;
        out.extend_from_slice(&self.ru);
        Ok(())
    }

    /// Appends what [`encode`](Self::encode) puts before the RU: the
    /// length prefix, the TH and the RH. For a sender that hands the RU to
    /// the socket as a buffer of its own (a gathered write), uncopied.
    pub fn encode_header(&self, max_piu: usize, out: &mut Vec<u8>) -> Result<(), WireError> {
        let len = MIN_PIU + self.ru.len();
        let prefix =
            u32::try_from(len)
                .ok()
                .filter(|_| len <= max_piu)
                .ok_or(WireError::TooLarge {
                    field: "PIU",
                    len,
                    max: max_piu,
                })?;
        out.extend_from_slice(&prefix.to_be_bytes());
        self.encode_th_rh(out);
        Ok(())
    }

    /// Decodes one whole PIU (no prefix) into an owned frame. Offsets in
    /// errors count from the start of the PIU.
    pub fn decode_piu(piu: &[u8]) -> Result<Self, WireError> {
        FrameRef::decode_piu(piu).map(|frame| frame.to_frame())
    }

    /// The frame as a [`FrameRef`], its RU borrowed.
    pub fn as_ref(&self) -> FrameRef<'_> {
        FrameRef {
            th: self.th,
            rh: self.rh,
            ru: &self.ru,
        }
    }
}

/// One PIU whose RU stays in the bytes it was read into: what a node
/// decodes on its receive path, where copying every RU out of the read
/// buffer cost a copy of every byte received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    pub th: Th,
    pub rh: Rh,
    pub ru: &'a [u8],
}

impl<'a> FrameRef<'a> {
    /// Decodes one whole PIU (no prefix). Offsets in errors count from the
    /// start of the PIU.
    pub fn decode_piu(piu: &'a [u8]) -> Result<Self, WireError> {
        let th = Th::decode(piu)?;
        if th.mpf != Mpf::Whole {
            return Err(WireError::Unsupported {
                field: "TH MPF",
                offset: 0,
                value: th.mpf as u32,
            });
        }
        let rh = Rh::decode(piu.get(TH_LEN..).unwrap_or_default()).map_err(|e| e.at(TH_LEN))?;
        Ok(Self {
            th,
            rh,
            ru: piu.get(MIN_PIU..).unwrap_or_default(),
        })
    }

    /// The frame with its RU copied out.
    pub fn to_frame(&self) -> Frame {
        Frame {
            th: self.th,
            rh: self.rh,
            ru: self.ru.to_vec(),
        }
    }
}

/// Incremental decoder of a framed PIU stream. Offsets in its errors count
/// from the start of the stream.
#[derive(Debug)]
pub struct Decoder {
    max_piu: usize,
    /// Stream offset of the next input byte, for error offsets.
    offset: usize,
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    /// The PIU being collected, once its prefix is known.
    piu: Option<(usize, Vec<u8>)>,
    broken: Option<WireError>,
}

impl Decoder {
    /// A decoder that accepts PIUs of at most `max_piu` bytes.
    pub fn new(max_piu: usize) -> Self {
        Self {
            max_piu,
            offset: 0,
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
            piu: None,
            broken: None,
        }
    }

    /// Whether a framing error ended the stream.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Whether no partial frame is held (a clean place for EOF).
    pub fn is_idle(&self) -> bool {
        self.prefix_len == 0 && self.piu.is_none() && self.broken.is_none()
    }

    /// Consumes bytes from the front of `input` up to the end of the next
    /// frame. Returns `None` when `input` is used up without completing a
    /// frame (feed more), or the frame or error. Once broken, returns the
    /// framing error again and consumes nothing.
    pub fn decode(&mut self, input: &mut &[u8]) -> Option<Result<Frame, WireError>> {
        if let Some(e) = &self.broken {
            return Some(Err(e.clone()));
        }
        loop {
            if let Some((len, buf)) = &mut self.piu {
                let n = (*len - buf.len()).min(input.len());
                let (body, rest) = input.split_at(n);
                buf.extend_from_slice(body);
                self.offset += n;
                *input = rest;
                if buf.len() < *len {
                    return None;
                }
                let at = self.offset - *len;
                let (_, piu) = self.piu.take()?;
                return Some(Frame::decode_piu(&piu).map_err(|e| e.at(at)));
            }
            if input.is_empty() {
                return None;
            }
            let n = (PREFIX_LEN - self.prefix_len).min(input.len());
            let (head, rest) = input.split_at(n);
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(head);
            self.prefix_len += n;
            self.offset += n;
            *input = rest;
            if self.prefix_len < PREFIX_LEN {
                return None;
            }
            self.prefix_len = 0;
            let len = u32::from_be_bytes(self.prefix) as usize;
            let error = if len > self.max_piu {
                Some(WireError::TooLarge {
                    field: "PIU",
                    len,
                    max: self.max_piu,
                })
            } else if len < MIN_PIU {
                Some(WireError::Invalid {
                    field: "frame length",
                    offset: self.offset - PREFIX_LEN,
                    value: len as u32,
                })
            } else {
                None
            };
            if let Some(e) = error {
                self.broken = Some(e.clone());
                return Some(Err(e));
            }
            self.piu = Some((len, Vec::with_capacity(len)));
        }
    }

    /// The frames and errors in `chunk`, consuming all of it (the tail of a
    /// partial frame is kept for the next chunk). A framing error is
    /// yielded once and ends the stream: later calls yield nothing, so the
    /// results do not depend on how the stream was cut into chunks.
    pub fn frames<'d, 'c>(&'d mut self, chunk: &'c [u8]) -> Frames<'d, 'c> {
        let done = self.is_broken();
        Frames {
            decoder: self,
            input: chunk,
            done,
        }
    }
}

/// Iterator returned by [`Decoder::frames`].
#[derive(Debug)]
pub struct Frames<'d, 'c> {
    decoder: &'d mut Decoder,
    input: &'c [u8],
    done: bool,
}

impl Iterator for Frames<'_, '_> {
    type Item = Result<Frame, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.decoder.decode(&mut self.input);
        if item.is_none() || self.decoder.is_broken() {
            self.done = true;
        }
        item
    }
}
