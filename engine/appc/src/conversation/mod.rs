//! One LU 6.2 conversation end: the half-duplex protocol between two TPs,
//! as a single-owner state machine ([`End`]) that sends to a [`Peer`].
//!
//! # Ownership
//!
//! An [`End`] is owned by exactly one thread at a time and needs no lock of
//! its own. Both ends of an in-memory conversation sit in one [`Pair`]
//! behind one lock, each the other's peer (`pair.rs`): a flow one sends is
//! pushed into the other's inbound queue, and the other makes progress
//! once the sender's step is done. The end of a conversation with another
//! node is a [`RemoteEnd`] (`remote.rs`), owned by the session layer that
//! carries it, which runs its verbs and what arrives for it on its own
//! thread and is its peer. Either way the protocol below is the same code.
//!
//! An end that holds the send direction drops data, confirmation requests
//! and changes of direction as they arrive (`End::wants`), unless a
//! partner's error that hands the direction back is waiting before them:
//! they can only be what the partner sent before this end's SEND_ERROR
//! reached it, which SEND_ERROR purges.
//!
//! # Buffering (`docs/api.md`, "Buffering and flushing")
//!
//! ALLOCATE's attach and SEND_DATA's data wait in the sender's send buffer
//! until a flush: FLUSH, CONFIRM, PREPARE_TO_RECEIVE, DEALLOCATE, a receive
//! issued in SEND, a SEND_DATA with a combined type, SEND_ERROR, or more
//! than [`SEND_BUFFER`] bytes. The attach flows with the first flush; if
//! the partner LU rejects it, the allocating end becomes `broken` with
//! `AP_ALLOCATION_ERROR`, which its waiting verb or its next verb reports.
//! A SEND_DATA that flushes with nothing buffered before it goes to its
//! peer straight from the verb's buffer; the buffer goes back to the
//! application with the verb's completion, so a TP that sends from the
//! buffer its last SEND_DATA returned allocates nothing.
//!
//! With a session layer two more things flow between the end and its peer
//! (bounded memory, `appc-io`'s pacing): after every verb and every
//! arrival, what the local TP took off the data the session delivered
//! (received, or purged) goes to [`Peer::consumed`]; and a SEND_DATA or
//! FLUSH that would complete at once first asks [`Peer::backlogged`]: if
//! the session holds too much not yet sent, the verb waits until
//! [`RemoteEnd::writable`], a session failure, or a cancel.
//!
//! # Verbs
//!
//! Every verb reaches its end as an [`IssuedVerb`]: the verb is already an
//! engine task (the application has its handle), and its inputs, data
//! buffers included, were moved out of it into the request, so nothing
//! touches the verb in its slot until its one completion writes the
//! results (and the buffers) back. [`End::issue`] runs the request in this
//! order: the verb-slot rule (`AP_CONV_BUSY`, with the posting-receive
//! exceptions of [`states::during_pending`](crate::states::during_pending)),
//! basic versus mapped (`AP_CONVERSATION_TYPE_MIXED`), the state check
//! ([`states::check`](crate::states::check)), the checks that need the
//! conversation (logical-record boundary, sync level, LL validity); all of
//! these refuse the verb with nothing changed. Then a session failure, or
//! an error or abend the partner sent while this end was sending, is
//! reported. Only then does the conversation change: the verb either
//! finishes at once or waits in its end's `wait` until [`End::progress`]
//! finds what it waits for.
//!
//! Every waiting verb is completed through the engine's state word, so a
//! cancel that won first leaves the completion a no-op (KB Q153523: the
//! two never both release anything: the wait record is dropped exactly
//! once, by the end's owner).
//!
//! [`Peer`]: crate::session::Peer
//! [`Peer::consumed`]: crate::session::Peer::consumed
//! [`Peer::backlogged`]: crate::session::Peer::backlogged

mod end;
mod input;
mod issue;
mod pair;
mod progress;
mod remote;
mod wait;

pub(crate) use end::End;
pub(crate) use input::Input;
pub use input::IssuedVerb;
pub(crate) use pair::{Pair, PairLock};
pub use remote::{Attachment, Ending, RemoteEnd};

/// Buffered SEND_DATA bytes beyond which the send buffer flushes by itself
/// (one RU-chain's worth; the "buffer full" flush).
pub const SEND_BUFFER: usize = 32 * 1024;
