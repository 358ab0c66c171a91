//! What a driver step writes to its links, until the flush hands it to the
//! backend: per link, the parts of one gathered send
//! ([`Backend::send_vectored`](crate::backend::Backend::send_vectored)).
//!
//! Frames are encoded one after the other into one buffer, except that an
//! RU of at least [`GATHER_FROM`] bytes becomes a part of its own behind
//! its headers: moved, not copied. On one session's 64 KiB records the copy
//! into the outgoing buffer was a copy of every byte sent, into a buffer
//! freshly allocated per flush (6.7% of the samples of the epoll bandwidth
//! run's profile, a reactor's share).

use crate::backend::LinkId;
use crate::wire::{Frame, WireError};

/// An RU at least this long is sent as its own part. Shorter ones are
/// copied: that is cheap, and it keeps a flush of many small PIUs to one
/// buffer (one iovec).
pub(crate) const GATHER_FROM: usize = 4 << 10;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    links: Vec<Outgoing>,
}

#[derive(Debug)]
struct Outgoing {
    link: LinkId,
    parts: Vec<Vec<u8>>,
    /// The last part is encoded frames, which more may follow.
    open: bool,
}

impl Outbox {
    /// Encodes `frames` after what `link` has. A frame longer than
    /// `max_piu` is dropped and reported; the others still go.
    pub(crate) fn write(
        &mut self,
        link: LinkId,
        frames: Vec<Frame>,
        max_piu: usize,
    ) -> Result<(), WireError> {
        if frames.is_empty() {
            return Ok(());
        }
        let at = match self.links.iter().position(|out| out.link == link) {
            Some(at) => at,
            None => {
                self.links.push(Outgoing {
                    link,
                    parts: Vec::new(),
                    open: false,
                });
                self.links.len() - 1
            }
        };
        let out = &mut self.links[at];
        let mut result = Ok(());
        for frame in frames {
            if let Err(e) = out.push(frame, max_piu) {
                result = Err(e);
            }
        }
        result
    }

    /// Everything written since the last take, per link.
    pub(crate) fn take(&mut self) -> impl Iterator<Item = (LinkId, Vec<Vec<u8>>)> {
        std::mem::take(&mut self.links)
            .into_iter()
            .map(|out| (out.link, out.parts))
    }
}

impl Outgoing {
    fn push(&mut self, frame: Frame, max_piu: usize) -> Result<(), WireError> {
        if !self.open {
            self.parts.push(Vec::new());
            self.open = true;
        }
        let Some(tail) = self.parts.last_mut() else {
            return Ok(());
        };
        if frame.ru.len() < GATHER_FROM {
            return frame.encode(max_piu, tail);
        }
        frame.encode_header(max_piu, tail)?;
        self.parts.push(frame.ru);
        self.open = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::{DEFAULT_MAX_PIU, MIN_PIU, PREFIX_LEN};
    use crate::wire::{Decoder, Flow, Lfsid, Request, ResponseType, Rh, RuCategory, Th};

    fn frame(ru_len: usize, fill: u8) -> Frame {
        let lfsid = Lfsid {
            odai: false,
            sidh: 1,
            sidl: 2,
        };
        Frame {
            th: Th::new(lfsid, Flow::Normal, u16::from(fill)),
            rh: Rh::Request(Request::new(RuCategory::Fmd, ResponseType::Rqe1)),
            ru: vec![fill; ru_len],
        }
    }

    /// The frames the parts carry, decoded from their concatenation.
    fn decoded(parts: &[Vec<u8>]) -> Vec<Frame> {
        let bytes = parts.concat();
        let (mut input, mut decoder) = (&bytes[..], Decoder::new(DEFAULT_MAX_PIU));
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut input) {
            frames.push(frame.unwrap());
        }
        assert!(decoder.is_idle(), "the parts end on a frame boundary");
        frames
    }

    #[test]
    fn large_rus_are_moved_small_frames_share_a_buffer() {
        let frames = vec![
            frame(3, 1),
            frame(GATHER_FROM, 2),
            frame(0, 3),
            frame(GATHER_FROM - 1, 4),
            frame(70_000, 5),
        ];
        let (expected, big) = (frames.clone(), frames[4].ru.as_ptr());
        let mut outbox = Outbox::default();
        outbox.write(LinkId(7), frames, DEFAULT_MAX_PIU).unwrap();
        let sent: Vec<_> = outbox.take().collect();
        assert_eq!(sent.len(), 1);
        let (link, parts) = &sent[0];
        assert_eq!(*link, LinkId(7));
        let lens: Vec<usize> = parts.iter().map(Vec::len).collect();
        let header = PREFIX_LEN + MIN_PIU;
        assert_eq!(
            lens,
            [
                2 * header + 3,
                GATHER_FROM,
                3 * header + GATHER_FROM - 1,
                70_000
            ]
        );
        assert_eq!(parts[3].as_ptr(), big, "the large RU itself, uncopied");
        assert_eq!(decoded(parts), expected);
        assert_eq!(outbox.take().count(), 0, "taken once");
    }

    #[test]
    fn links_keep_their_own_order() {
        let mut outbox = Outbox::default();
        let (a, b) = (LinkId(1), LinkId(2));
        outbox
            .write(a, vec![frame(GATHER_FROM, 1)], DEFAULT_MAX_PIU)
            .unwrap();
        outbox.write(b, vec![frame(5, 2)], DEFAULT_MAX_PIU).unwrap();
        outbox.write(a, vec![frame(5, 3)], DEFAULT_MAX_PIU).unwrap();
        let sent: Vec<_> = outbox.take().collect();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].0, a);
        assert_eq!(decoded(&sent[0].1), [frame(GATHER_FROM, 1), frame(5, 3)]);
        assert_eq!(decoded(&sent[1].1), [frame(5, 2)]);
    }

    #[test]
    fn an_oversize_frame_is_refused_and_the_rest_still_go() {
        let mut outbox = Outbox::default();
        let frames = vec![frame(1, 1), frame(GATHER_FROM, 2), frame(2, 3)];
        let max = MIN_PIU + GATHER_FROM - 1;
        assert!(outbox.write(LinkId(1), frames, max).is_err());
        let sent: Vec<_> = outbox.take().collect();
        assert_eq!(decoded(&sent[0].1), [frame(1, 1), frame(2, 3)]);
    }
}
