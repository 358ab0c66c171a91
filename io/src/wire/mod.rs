//! The LU 6.2 wire codec: byte-exact SNA inside a simple TCP framing
//! (`docs/wire.md`, which gives the layouts with their sources).
//!
//! | layer | module | `docs/wire.md` |
//! |---|---|---|
//! | length-prefixed PIU on TCP, stream decoder | [`frame`] | `docs/wire.md#framing-on-tcp` |
//! | FID2 transmission header | [`th`] | `docs/wire.md#transmission-header-fid2` |
//! | request/response header | [`rh`] | `docs/wire.md#requestresponse-header`, `docs/wire.md#verbs-on-the-wire` |
//! | FMH-5 Attach, FMH-7 Error Description | [`fmh`] | `docs/wire.md#fmh-5-attach`, `docs/wire.md#fmh-7-error-description` |
//! | logical records, GDS variables | [`gds`] | `docs/wire.md#logical-records-and-gds-variables` |
//! | UNBIND, SIGNAL, LUSTAT, responses | [`ru`] | `docs/wire.md#other-rus-unbind-signal-lustat-responses` |
//! | BIND | [`bind`] | `docs/wire.md#bind-image` |
//! | sense codes | [`sense`] | `docs/wire.md#fmh-5-attach`, `docs/wire.md#sense-codes` |
//! | errors | [`error`] | `docs/wire.md#framing-on-tcp` (totality) |
//!
//! Every decoder is total: any input yields a value or a [`WireError`],
//! never a panic, and no decoder allocates more than its input (or, for the
//! stream decoders, their configured limit).

pub mod bind;
pub mod ebcdic;
pub mod error;
pub mod fmh;
pub mod frame;
pub mod gds;
pub mod rh;
pub mod ru;
pub mod sense;
pub mod th;

pub use bind::{Bind, Pacing, RuSize, UserDataSubfield};
pub use error::WireError;
pub use fmh::{
    Attach, ConversationType, ErrorDescription, Fmh, Luw, Security, SecurityKind, SecuritySubfield,
    SyncLevel,
};
pub use frame::{Decoder, Frame, FrameRef, Frames};
pub use gds::{encode_record, Record, RecordReader};
pub use rh::{Request, Response, ResponseType, Rh, Rti, RuCategory};
pub use ru::{ControlRu, ResponseRu, Ru, Signal, Unbind, UnbindType};
pub use sense::Sense;
pub use th::{Flow, Lfsid, Mpf, Th};
