//! An async API over [`Appc`] for Rust services: a [`Tp`] and its
//! [`Conversation`]s, one `async fn` per verb, each resolving to the verb's
//! outcome as a `Result` whose error carries the documented return codes
//! ([`VerbError`]).
//!
//! * **Any executor.** Every verb is one [`Appc::submit_future`]: the
//!   engine wakes the task's waker from whichever thread finishes the
//!   verb, so the layer needs no runtime, no thread and no timer of its
//!   own; tokio (current-thread or multi-thread), `futures::executor` or a
//!   hand-written poll loop all drive it.
//! * **Cancellation is dropping.** Dropping a verb's future before it
//!   resolves is `WinAPPCCancelAsyncRequest` on it, with its documented
//!   side effects: a conversation verb's session is closed (the partner
//!   sees `AP_CONV_FAILURE_RETRY`, this conversation is over), a pending
//!   `RECEIVE_ALLOCATE` is withdrawn. So `tokio::time::timeout(...)` or a
//!   `select!` arm that loses ends the conversation, as the Windows API's
//!   cancel does; a caller that wants to keep it must let the verb finish.
//! * **Owned handles.** A [`Tp`] and its conversations hold the
//!   application in an `Arc` and are `Send + Sync + 'static`, so they move
//!   into spawned tasks. Nothing is ended on drop: end a TP with
//!   [`Tp::end`] (or let [`Appc`]'s cleanup end it), as with the C API.
//!
//! ```
//! # use appc::{Appc, Node, tp_async::{Allocation, Tp}};
//! # use std::future::Future;
//! # use std::sync::Arc;
//! # let node = Node::new();
//! # let app = Arc::new(Appc::startup(appc_engine::WINAPPC_VERSION, &node).unwrap().0);
//! # let run = async {
//! let server = Tp::receive_allocate(&app, "ECHO");
//! let client = Tp::start(&app, "", "CLIENT").await?;
//! let conv = client.allocate(&Allocation::mapped("LOCAL", "ECHO")).await?;
//! conv.send_data(b"hi".to_vec()).await?;
//! conv.flush().await?;
//! let (_tp, incoming) = server.await?;
//! let got = incoming.receive(100).await?;
//! assert_eq!(got.data, b"hi");
//! # Ok::<_, appc::tp_async::VerbError>(())
//! # };
//! # let mut run = std::pin::pin!(run);
//! # let waker = std::task::Waker::noop();
//! # loop {
//! #     if let std::task::Poll::Ready(r) = run.as_mut().poll(&mut std::task::Context::from_waker(&waker)) {
//! #         r.unwrap();
//! #         break;
//! #     }
//! #     std::thread::yield_now();
//! # }
//! ```

mod conversation;
mod error;

pub use conversation::{Conversation, Received};
pub use error::VerbError;

use crate::rc::{PrimaryRc, SecondaryRc};
use crate::verbs::{self, name, values, Body, TpId, Verb};
use crate::Appc;
use appc_engine::TaskFuture;
use std::future::Future;
use std::sync::Arc;

/// Starts `verb`: its future, or the error of an engine that refused it.
///
/// Every verb method calls this with the verb built in the call, inside
/// the method's own future at its first poll: the verb goes straight into
/// the engine, never stored in the method's future first (a `Verb` is a
/// few hundred bytes; copying it through nested futures cost more than the
/// rest of the layer).
#[inline]
fn issue(app: &Appc, what: &'static str, verb: Verb) -> Result<TaskFuture<Verb>, VerbError> {
    app.submit_future(verb)
        .map_err(|_| VerbError::not_accepted(what))
}

/// The finished `verb`, or the error its return codes make.
#[inline]
fn checked(what: &'static str, verb: Verb) -> Result<Verb, VerbError> {
    if verb.primary_rc == PrimaryRc::OK {
        Ok(verb)
    } else {
        Err(VerbError::new(what, verb.primary_rc, verb.secondary_rc))
    }
}

/// A transaction program: `TP_STARTED` (invoking) or `RECEIVE_ALLOCATE`
/// (invoked).
#[derive(Clone, Debug)]
pub struct Tp {
    app: Arc<Appc>,
    tp_id: TpId,
}

/// What `[MC_]ALLOCATE` asks for.
#[derive(Clone, Debug)]
pub struct Allocation {
    /// The partner LU alias.
    pub plu_alias: String,
    /// The partner TP's name.
    pub tp_name: String,
    /// The mode (default `#INTER`).
    pub mode_name: String,
    /// Mapped (true) or basic.
    pub mapped: bool,
    /// `AP_NONE` or `AP_CONFIRM_SYNC_LEVEL` ([`values::SYNC_CONFIRM`]).
    pub sync_level: u8,
}

impl Allocation {
    /// A mapped conversation at sync level CONFIRM in mode `#INTER`.
    pub fn mapped(plu_alias: &str, tp_name: &str) -> Self {
        Self {
            plu_alias: plu_alias.to_owned(),
            tp_name: tp_name.to_owned(),
            mode_name: "#INTER".to_owned(),
            mapped: true,
            sync_level: values::SYNC_CONFIRM,
        }
    }
}

impl Tp {
    /// `TP_STARTED` on local LU `lu_alias` (blank: the default LU).
    pub async fn start(app: &Arc<Appc>, lu_alias: &str, tp_name: &str) -> Result<Tp, VerbError> {
        let body = Body::TpStarted(verbs::TpStarted {
            lu_alias: name(lu_alias),
            tp_name: name(tp_name),
            tp_id: [0; 8],
        });
        let done = issue(app, "TP_STARTED", Verb::basic(body))?.await;
        match checked("TP_STARTED", done)?.body {
            Body::TpStarted(v) => Ok(Tp {
                app: app.clone(),
                tp_id: v.tp_id,
            }),
            other => unreachable!("TP_STARTED came back as {other:?}"),
        }
    }

    /// `RECEIVE_ALLOCATE`: the next attach for `tp_name`, as a new invoked
    /// TP and its conversation. The verb is issued when this is called, so
    /// attaches arriving before the first poll are not refused. Dropping
    /// the future withdraws it.
    pub fn receive_allocate(
        app: &Arc<Appc>,
        tp_name: &str,
    ) -> impl Future<Output = Result<(Tp, Conversation), VerbError>> + Send + 'static {
        let verb = Verb::basic(Body::ReceiveAllocate(verbs::ReceiveAllocate {
            tp_name: name(tp_name),
            lu_alias: name(""),
            ..Default::default()
        }));
        let app = app.clone();
        let submitted = issue(&app, "RECEIVE_ALLOCATE", verb);
        async move {
            let verb = checked("RECEIVE_ALLOCATE", submitted?.await)?;
            let Body::ReceiveAllocate(v) = verb.body else {
                unreachable!("RECEIVE_ALLOCATE came back as another verb")
            };
            let tp = Tp {
                app: app.clone(),
                tp_id: v.tp_id,
            };
            let mapped = v.conv_type == values::MAPPED_CONVERSATION;
            let conv = Conversation::new(app, v.tp_id, v.conv_id, mapped);
            Ok((tp, conv))
        }
    }

    /// The TP's id.
    pub fn id(&self) -> TpId {
        self.tp_id
    }

    /// `[MC_]ALLOCATE`: a conversation with a partner TP. ALLOCATE is
    /// buffered: the partner hears of it with the first flush.
    pub async fn allocate(&self, to: &Allocation) -> Result<Conversation, VerbError> {
        let body = Body::Allocate(verbs::Allocate {
            tp_id: self.tp_id,
            conv_type: u8::from(to.mapped),
            sync_level: to.sync_level,
            plu_alias: name(&to.plu_alias),
            mode_name: name(&to.mode_name),
            tp_name: name(&to.tp_name),
            ..Default::default()
        });
        let done = issue(
            &self.app,
            "ALLOCATE",
            Verb::with_opext(u8::from(to.mapped), body),
        )?
        .await;
        match checked("ALLOCATE", done)?.body {
            Body::Allocate(v) => Ok(Conversation::new(
                self.app.clone(),
                self.tp_id,
                v.conv_id,
                to.mapped,
            )),
            other => unreachable!("ALLOCATE came back as {other:?}"),
        }
    }

    /// `TP_ENDED`: `hard` ends active verbs and sessions at once
    /// (`AP_HARD`); otherwise conversations in SEND are flushed, others
    /// abended (`AP_SOFT`).
    pub async fn end(self, hard: bool) -> Result<(), VerbError> {
        let body = Body::TpEnded(verbs::TpEnded {
            tp_id: self.tp_id,
            tp_type: if hard { values::HARD } else { values::SOFT },
        });
        let done = issue(&self.app, "TP_ENDED", Verb::basic(body))?.await;
        checked("TP_ENDED", done).map(drop)
    }
}

/// The codes a verb the engine refused (cleaned up, or full) reports.
const NOT_ACCEPTED: (PrimaryRc, SecondaryRc) =
    (PrimaryRc::COMM_SUBSYSTEM_NOT_LOADED, SecondaryRc(0));
