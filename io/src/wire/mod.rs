//! The LU 6.2 wire codec: byte-exact SNA inside a simple TCP framing
//! (`/work/shared/reference/sna-wire.md`, §15 "Recommended wire design").
//!
//! | layer | module | sna-wire.md |
//! |---|---|---|
//! | length-prefixed PIU on TCP, stream decoder | [`frame`] | §1, §15 |
//! | FID2 transmission header | [`th`] | §2 |
//! | request/response header | [`rh`] | §3, §4 |
//! | FMH-5 Attach, FMH-7 Error Description | [`fmh`] | §5, §6 |
//! | logical records, GDS variables | [`gds`] | §7 |
//! | UNBIND, SIGNAL, LUSTAT, responses | [`ru`] | §3, §7 |
//! | BIND | [`bind`] | §9 |
//! | sense codes | [`sense`] | §5, §8 |
//! | errors | [`error`] | DESIGN.md "io/" |
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
