//! A verb holding an end's verb slot until something arrives, and what a
//! verb does once it is past its checks.

use super::input::ReceiveParams;
use crate::outcome::Out;
use crate::rc::{PrimaryRc, SecondaryRc};
use crate::session::Confirmation;
use crate::states::{ConvState, Pending};
use appc_engine::activity::Active;
use appc_engine::Handle;

/// A waiting verb: its task, what it waits for, and the data buffer that
/// goes back into it with its completion.
#[derive(Debug)]
pub(crate) struct Wait {
    pub(super) handle: Handle,
    pub(super) kind: WaitKind,
    /// The verb's own buffer: a receive's, filled at completion; a send's,
    /// handed back as it was.
    pub(super) buf: Option<Vec<u8>>,
    /// Counts the verb as active for its TP (`TP_ENDED(AP_SOFT)` waits)
    /// until the wait is dropped.
    pub(super) active: Option<Active>,
}

impl Wait {
    /// The completion of a wait that ends without its result:
    /// `AP_CANCELLED`, its buffer handed back.
    pub(super) fn cancelled(mut self) -> Out {
        let mut out = Out::rc(PrimaryRc::CANCELLED, SecondaryRc(0));
        self.hand_back(&mut out);
        out
    }

    /// Puts the verb's buffer into its completion `out`, unless `out`
    /// carries data (a receive's is left empty).
    pub(super) fn hand_back(&mut self, out: &mut Out) {
        if out.data.is_none() {
            out.data = self.buf.take().map(|mut buf| {
                if matches!(self.kind, WaitKind::Receive { .. }) {
                    buf.clear();
                }
                buf
            });
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum WaitKind {
    /// A receive. `posting` is the state it was issued in when it holds
    /// the conversation in PENDING_POST (RECEIVE_AND_POST, or
    /// RECEIVE_AND_WAIT on an async entry point).
    Receive {
        params: ReceiveParams,
        posting: Option<ConvState>,
    },
    /// CONFIRM, or a verb with a confirmation request, awaiting the reply.
    Confirm(Confirmation),
    /// POST_ON_RECEIPT: data (at least `max_len` bytes) or status.
    PostOnReceipt { max_len: u16 },
    /// A send whose session holds too much not yet sent: it completes when
    /// the session reports it writable.
    Writable,
}

impl WaitKind {
    /// The verbs the slot holder lets through, if any (the posting-receive
    /// rules).
    pub(super) fn pending(&self) -> Option<Pending> {
        match self {
            WaitKind::Receive {
                posting: Some(_), ..
            } => Some(Pending::ReceivePost),
            WaitKind::PostOnReceipt { .. } => Some(Pending::PostOnReceipt),
            WaitKind::Receive { posting: None, .. } | WaitKind::Confirm(_) | WaitKind::Writable => {
                None
            }
        }
    }
}

/// What a verb does once it is past its checks.
pub(super) enum Act {
    Finish(Out),
    Wait(WaitKind),
}
