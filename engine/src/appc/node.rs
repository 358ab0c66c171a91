//! The in-memory node: the local LU that TPs run on, routing attaches from
//! ALLOCATE to RECEIVE_ALLOCATE and keeping the TP and conversation ids.
//!
//! Every partner LU alias loops back to this node, so two TPs in one
//! process (in one application or in two) hold real conversations through
//! it. The sockets issue adds nodes that reach each other over TCP; this
//! one stays as the loopback case.
//!
//! # What it keeps (the registry)
//!
//! * TPs by `tp_id`: the application that owns each, its local LU alias, its
//!   conversations. `TP_STARTED` and an accepted `RECEIVE_ALLOCATE` create
//!   one; `TP_ENDED`, a cancelled TP verb and `WinAPPCCleanup` end it.
//! * Conversations by `conv_id`: the [`Pair`] and which end is whose.
//! * TP names that accept attaches: each with the `RECEIVE_ALLOCATE`s
//!   waiting for one (unbounded) and the attaches waiting for a
//!   `RECEIVE_ALLOCATE`, up to [`MAX_QUEUED_ATTACHES`] (see there; a
//!   limit with a documented refusal, where the original's attach counter
//!   overflowed under stress: KB Q140833). A name accepts attaches once a
//!   `RECEIVE_ALLOCATE` has named it, or once [`Node::define_tp`] has; an
//!   attach for any other name is rejected with `AP_ALLOCATION_ERROR` /
//!   `AP_TP_NAME_NOT_RECOGNIZED`, which the allocating TP sees on the verb
//!   that flushed the attach or on a later one.
//!
//! # Locks
//!
//! One registry lock, held only for map updates. A conversation's own lock
//! (see the `conversation` module) may be held while the registry lock is
//! taken, never the other way round: paths that start at the registry
//! (TP_ENDED, cleanup, cancel) collect what they need, drop the registry
//! lock, and only then lock conversations.
//!
//! Per-session error state lives in the [`Pair`] of one conversation and
//! dies with it; a new conversation starts clean (KB Q182578).

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::activity::{Active, Activity};
use super::conversation::{Attached, Pair, PairLock, Side};
use super::deferred::Deferred;
use super::outcome::{complete, done, AppCore, Attributes, Out};
use super::rc::{PrimaryRc, SecondaryRc};
use super::session::{Attach, ConvPort, Partner, Session};
use super::states::Entry;
use super::verbs::{name, values, Body, Conv, ConvId, TpId, Verb};
use crate::id_hash::IdHashMap;
use crate::state::{Finisher, Verdict};
use crate::sync::{lock, Arc, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering::Relaxed, Weak};
use crate::{Handle, Rejected};

/// The attaches one TP name queues while no `RECEIVE_ALLOCATE` takes them,
/// by default: Microsoft's Host Integration Server documentation
/// (`RECEIVE_ALLOCATE_EX`) gives a server 2,048 and rejects the next attach
/// with sense `084B6031` (`AP_TRANS_PGM_NOT_AVAIL_RETRY`, under
/// `AP_ALLOCATION_ERROR`), which is what this node does. See
/// [`Node::set_max_queued_attaches`].
pub const MAX_QUEUED_ATTACHES: usize = 2048;

/// A node (local LU) that applications start TPs on.
///
/// Cloning gives another reference to the same node.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

impl Default for Node {
    fn default() -> Self {
        Self::new()
    }
}

impl Node {
    /// A node with no TP names and no partner LUs defined yet: every
    /// partner LU alias loops back to it.
    pub fn new() -> Self {
        Self {
            inner: Arc::new_cyclic(|me| NodeInner {
                me: me.clone(),
                registry: Mutex::default(),
                next_conv: AtomicU32::new(0),
                next_tp: AtomicU64::new(0),
                next_app: AtomicU64::new(0),
                deferred: Arc::default(),
                max_queued_attaches: AtomicUsize::new(MAX_QUEUED_ATTACHES),
            }),
        }
    }

    /// Makes `plu_alias` (blank-padded to 8 bytes) a partner LU on another
    /// node: an ALLOCATE naming it sends its attach to `partner` (the
    /// session layer), and the conversation's flows then go over the
    /// session `partner` returns.
    pub fn add_partner(&self, plu_alias: &str, partner: Arc<dyn Partner>) {
        lock(&self.inner.registry)
            .partners
            .insert(name(plu_alias), partner);
    }

    /// An attach arrived from another node over `session` (which carries
    /// the conversation's flows back). Returns the local end's port, where
    /// the session layer delivers what arrives, or the sense code to
    /// reject the attach with (`AP_TP_NAME_NOT_RECOGNIZED` for a TP name
    /// that no RECEIVE_ALLOCATE or [`Node::define_tp`] has named). The
    /// conversation waits for a RECEIVE_ALLOCATE like a local one.
    pub fn incoming_attach(
        &self,
        attach: Attach,
        session: Arc<dyn Session>,
    ) -> Result<ConvPort, SecondaryRc> {
        self.inner.incoming_attach(attach, session)
    }

    /// Sets how many attaches one TP name may queue while no
    /// `RECEIVE_ALLOCATE` takes them ([`MAX_QUEUED_ATTACHES`] unless set);
    /// the next one is rejected with `AP_TRANS_PGM_NOT_AVAIL_RETRY`.
    /// `usize::MAX` is the project's choice for a partner that holds every
    /// attach it is sent (the load generator's scale mode holds a million).
    pub fn set_max_queued_attaches(&self, limit: usize) {
        self.inner.max_queued_attaches.store(limit, Relaxed);
    }

    /// Lets attaches for `tp_name` (blank-padded to 64 bytes) queue until a
    /// `RECEIVE_ALLOCATE` takes them, even before the first one is issued.
    pub fn define_tp(&self, tp_name: &str) {
        lock(&self.inner.registry)
            .names
            .entry(name(tp_name))
            .or_default();
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let registry = lock(&self.inner.registry);
        f.debug_struct("Node")
            .field("tps", &registry.tps.len())
            .field("conversations", &registry.convs.len())
            .finish()
    }
}

/// An application's identity on a node.
pub(crate) type AppId = u64;

/// The node's shared state.
pub(crate) struct NodeInner {
    /// This node, for the ports handed to session layers.
    me: Weak<NodeInner>,
    registry: Mutex<Registry>,
    next_conv: AtomicU32,
    next_tp: AtomicU64,
    next_app: AtomicU64,
    /// TPs whose `TP_ENDED(AP_SOFT)` may now run: their last active verb
    /// finished while a conversation was locked (see [`Activity`]).
    deferred: Arc<Deferred>,
    /// See [`Node::set_max_queued_attaches`].
    max_queued_attaches: AtomicUsize,
}

/// The node's TPs and conversations, by the ids the node hands out. Those
/// two maps are looked up on every verb and every conversation's end, and
/// their keys are ours (counters, never a caller's or a partner's choice),
/// so they are [`IdHashMap`]s, not SipHash maps (with a million
/// conversations a mass cancel spent about 20% of its time in these
/// lookups under SipHash, and most of what was left in their cache misses
/// under FxHash).
#[derive(Default)]
struct Registry {
    tps: IdHashMap<TpId, TpRec>,
    convs: IdHashMap<ConvId, ConvRef>,
    names: HashMap<[u8; 64], NameRec>,
    partners: HashMap<[u8; 8], Arc<dyn Partner>>,
}

struct TpRec {
    app: AppId,
    lu_alias: [u8; 8],
    /// Its conversations; a set, as a TP may hold a great many (a gateway
    /// TP with a million receives) and each one's end removes it.
    convs: BTreeSet<ConvId>,
    activity: Arc<Activity>,
    /// A waiting `TP_ENDED(AP_SOFT)`: TP verbs get `AP_TP_BUSY` meanwhile.
    ending: Option<(AppCore, Handle)>,
}

impl TpRec {
    fn new(app: AppId, tp_id: TpId, lu_alias: [u8; 8], deferred: &Arc<Deferred>) -> Self {
        Self {
            app,
            lu_alias,
            convs: BTreeSet::new(),
            activity: {
                let deferred = deferred.clone();
                Activity::new(move || deferred.push(tp_id))
            },
            ending: None,
        }
    }
}

#[derive(Clone)]
struct ConvRef {
    pair: PairLock,
    side: Side,
    tp_id: TpId,
}

#[derive(Default)]
struct NameRec {
    waiting: VecDeque<Waiter>,
    queued: VecDeque<Incoming>,
}

/// A RECEIVE_ALLOCATE waiting for an attach.
struct Waiter {
    app: AppId,
    core: AppCore,
    handle: Handle,
}

/// An attach waiting for a RECEIVE_ALLOCATE.
struct Incoming {
    pair: PairLock,
    ids: Conv,
    attach: Attach,
}

fn refuse(secondary: SecondaryRc) -> Out {
    Out::rc(PrimaryRc::PARAMETER_CHECK, secondary)
}

impl NodeInner {
    pub(crate) fn new_app(&self) -> AppId {
        self.next_app.fetch_add(1, Relaxed)
    }

    fn new_tp_id(&self) -> TpId {
        (self.next_tp.fetch_add(1, Relaxed) + 1).to_le_bytes()
    }

    fn new_conv_id(&self) -> ConvId {
        // Zero is never a conversation id.
        loop {
            let id = self.next_conv.fetch_add(1, Relaxed).wrapping_add(1);
            if id != 0 {
                return id;
            }
        }
    }

    /// A TP-level verb: TP_STARTED, RECEIVE_ALLOCATE, TP_ENDED, ALLOCATE,
    /// SEND_CONVERSATION.
    pub(crate) fn tp_verb<R>(
        &self,
        app: AppId,
        core: &AppCore,
        verb: Verb,
        submit: impl FnOnce(Verb) -> Result<(Handle, R), Rejected<Verb>>,
    ) -> Result<(Handle, R), Rejected<Verb>> {
        match &verb.body {
            Body::TpStarted(v) => {
                let lu_alias = v.lu_alias;
                let (handle, extra) = submit(verb)?;
                let tp_id = self.new_tp_id();
                lock(&self.registry)
                    .tps
                    .insert(tp_id, TpRec::new(app, tp_id, lu_alias, &self.deferred));
                let ids = Conv { tp_id, conv_id: 0 };
                complete(
                    core,
                    handle,
                    Out {
                        ids: Some(ids),
                        ..Out::ok()
                    },
                );
                Ok((handle, extra))
            }
            Body::TpEnded(v) => {
                let (tp_id, soft) = (v.tp_id, v.tp_type == values::SOFT);
                let mut reg = lock(&self.registry);
                let tp = match reg.tp_for_verb(&tp_id, app) {
                    Ok(tp) => tp,
                    Err(out) => {
                        drop(reg);
                        return done(core, verb, out, submit);
                    }
                };
                let (handle, extra) = submit(verb)?;
                tp.ending = Some((core.clone(), handle));
                let activity = tp.activity.clone();
                drop(reg);
                // AP_SOFT waits for the TP's active verbs; the last one to
                // finish ends the TP (see `Activity`).
                if activity.request_end() || !soft {
                    self.end_tp(tp_id);
                }
                Ok((handle, extra))
            }
            Body::ReceiveAllocate(v) => {
                let tp_name = v.tp_name;
                let mut reg = lock(&self.registry);
                let (handle, extra) = submit(verb)?;
                let name = reg.names.entry(tp_name).or_default();
                match name.queued.pop_front() {
                    None => name.waiting.push_back(Waiter {
                        app,
                        core: core.clone(),
                        handle,
                    }),
                    Some(incoming) => {
                        let out = Out {
                            ids: Some(incoming.ids),
                            attach: Some(Box::new(incoming.attach.clone())),
                            ..Out::ok()
                        };
                        reg.register(app, incoming, &self.deferred);
                        complete(core, handle, out);
                    }
                }
                Ok((handle, extra))
            }
            Body::Allocate(v) => {
                let mut reg = lock(&self.registry);
                let lu_alias = match reg.tp_for_verb(&v.tp_id, app) {
                    Ok(tp) => tp.lu_alias,
                    Err(out) => {
                        drop(reg);
                        return done(core, verb, out, submit);
                    }
                };
                let (ids, attach, attrs) = self.allocation(&verb, v, lu_alias);
                let (handle, extra) = submit(verb)?;
                let pair = Arc::new(Mutex::new(Pair::allocated(ids, attach, attrs)));
                reg.convs.insert(
                    ids.conv_id,
                    ConvRef {
                        pair,
                        side: 0,
                        tp_id: ids.tp_id,
                    },
                );
                if let Some(tp) = reg.tps.get_mut(&ids.tp_id) {
                    tp.convs.insert(ids.conv_id);
                }
                drop(reg);
                complete(
                    core,
                    handle,
                    Out {
                        ids: Some(ids),
                        ..Out::ok()
                    },
                );
                Ok((handle, extra))
            }
            Body::SendConversation(v) => {
                let lu_alias = lock(&self.registry)
                    .tp_for_verb(&v.allocate.tp_id, app)
                    .map(|tp| tp.lu_alias);
                let lu_alias = match lu_alias {
                    Ok(lu_alias) => lu_alias,
                    Err(out) => return done(core, verb, out, submit),
                };
                let (ids, attach, attrs) = self.allocation(&verb, &v.allocate, lu_alias);
                let data = v.data.clone();
                let (handle, extra) = submit(verb)?;
                // Never registered: the application gets no conv_id.
                let pair = Arc::new(Mutex::new(Pair::allocated(ids, attach, attrs)));
                let out = lock(&pair).send_conversation(self, &pair, data);
                complete(core, handle, out);
                self.run_deferred();
                Ok((handle, extra))
            }
            _ => done(
                core,
                verb,
                Out::rc(PrimaryRc::INVALID_VERB, SecondaryRc(0)),
                submit,
            ),
        }
    }

    /// A new conversation's ids, attach and attributes from ALLOCATE's
    /// fields.
    fn allocation(
        &self,
        verb: &Verb,
        v: &super::verbs::Allocate,
        lu_alias: [u8; 8],
    ) -> (Conv, Attach, Attributes) {
        let ids = Conv {
            tp_id: v.tp_id,
            conv_id: self.new_conv_id(),
        };
        // MC_ALLOCATE is always mapped; a basic ALLOCATE says which.
        let mapped = verb.is_mapped() || v.conv_type == values::MAPPED_CONVERSATION;
        let attach = Attach {
            tp_name: v.tp_name,
            mapped,
            sync_level: v.sync_level,
            lu_alias,
            plu_alias: v.plu_alias,
            mode_name: v.mode_name,
            user_id: v.user_id,
            pip: v.pip.clone(),
        };
        let attrs = Attributes {
            sync_level: v.sync_level,
            mode_name: v.mode_name,
            lu_alias,
            plu_alias: v.plu_alias,
            user_id: v.user_id,
        };
        (ids, attach, attrs)
    }

    /// A conversation verb from application `app`.
    pub(crate) fn conversation_verb<R>(
        &self,
        app: AppId,
        core: &AppCore,
        verb: Verb,
        entry: Entry,
        submit: impl FnOnce(Verb) -> Result<(Handle, R), Rejected<Verb>>,
    ) -> Result<(Handle, R), Rejected<Verb>> {
        let Some(ids) = verb.body.conv() else {
            let out = Out::rc(PrimaryRc::INVALID_VERB, SecondaryRc(0));
            return done(core, verb, out, submit);
        };
        let found = {
            let reg = lock(&self.registry);
            match (reg.tps.get(&ids.tp_id), reg.convs.get(&ids.conv_id)) {
                (Some(tp), _) if tp.app != app => Err(SecondaryRc::BAD_TP_ID),
                (None, _) => Err(SecondaryRc::BAD_TP_ID),
                (Some(_), Some(c)) if c.tp_id == ids.tp_id => Ok(c.clone()),
                (Some(_), _) => Err(SecondaryRc::BAD_CONV_ID),
            }
        };
        let conv = match found {
            Ok(conv) => conv,
            Err(secondary) => return done(core, verb, refuse(secondary), submit),
        };
        let mut pair = lock(&conv.pair);
        if !pair.is_live(conv.side, ids) {
            drop(pair);
            return done(core, verb, refuse(SecondaryRc::BAD_CONV_ID), submit);
        }
        let result = pair.issue(self, &conv.pair, conv.side, verb, entry, core, submit);
        drop(pair);
        self.run_deferred();
        result
    }

    /// Counts a verb of TP `tp_id` that starts waiting (called with its
    /// conversation locked); `None` if the TP is gone.
    pub(crate) fn activity(&self, tp_id: TpId) -> Option<Active> {
        Some(Activity::begin(
            &lock(&self.registry).tps.get(&tp_id)?.activity,
        ))
    }

    /// Runs the soft TP ends whose last active verb has finished.
    pub(crate) fn run_deferred(&self) {
        loop {
            let Some(tp_id) = self.deferred.pop() else {
                return;
            };
            self.end_tp(tp_id);
        }
    }

    /// Routes ALLOCATE's attach (called with `pair` locked, at its first
    /// flush): to a waiting RECEIVE_ALLOCATE, else into the name's queue.
    /// Returns the invoked end's ids.
    pub(crate) fn attach(&self, pair: &PairLock, attach: &Attach) -> Result<Attached, SecondaryRc> {
        let partner = lock(&self.registry)
            .partners
            .get(&attach.plu_alias)
            .cloned();
        match partner {
            Some(partner) => Ok(Attached::Remote(partner)),
            None => self.route(pair, attach).map(Attached::Local),
        }
    }

    /// An attach from another node (see [`Node::incoming_attach`]).
    fn incoming_attach(
        &self,
        attach: Attach,
        session: Arc<dyn Session>,
    ) -> Result<ConvPort, SecondaryRc> {
        let pair = Arc::new(Mutex::new(Pair::incoming(&attach, session)));
        // Routing may hand the conversation to a waiting RECEIVE_ALLOCATE,
        // whose TP may issue verbs at once: they wait for this lock until
        // the invoked end is set up.
        let mut locked = lock(&pair);
        let ids = self.route(&pair, &attach)?;
        locked.attached(ids, &attach);
        drop(locked);
        Ok(ConvPort {
            pair,
            side: 1,
            node: self.weak(),
        })
    }

    /// This node, for a [`ConvPort`].
    pub(crate) fn weak(&self) -> Weak<NodeInner> {
        self.me.clone()
    }

    /// Gives an attach to a waiting RECEIVE_ALLOCATE of its TP name, or
    /// queues it for the next one (called with `pair` locked). Returns the
    /// invoked end's ids.
    fn route(&self, pair: &PairLock, attach: &Attach) -> Result<Conv, SecondaryRc> {
        let mut reg = lock(&self.registry);
        if !reg.names.contains_key(&attach.tp_name) {
            return Err(SecondaryRc::TP_NAME_NOT_RECOGNIZED);
        }
        let conv_id = self.new_conv_id();
        let incoming = |tp_id| Incoming {
            pair: pair.clone(),
            ids: Conv { tp_id, conv_id },
            attach: attach.clone(),
        };
        while let Some(waiter) = reg
            .names
            .get_mut(&attach.tp_name)
            .and_then(|name| name.waiting.pop_front())
        {
            let incoming = incoming(self.new_tp_id());
            let out = Out {
                ids: Some(incoming.ids),
                attach: Some(Box::new(attach.clone())),
                ..Out::ok()
            };
            // A RECEIVE_ALLOCATE cancelled meanwhile takes no attach.
            let verdict = waiter
                .core
                .finish(waiter.handle, Finisher::Completer, |verb| out.apply(verb));
            if verdict == Verdict::Pending {
                let ids = incoming.ids;
                reg.register(waiter.app, incoming, &self.deferred);
                return Ok(ids);
            }
        }
        let limit = self.max_queued_attaches.load(Relaxed);
        if reg
            .names
            .get(&attach.tp_name)
            .is_some_and(|name| name.queued.len() >= limit)
        {
            return Err(SecondaryRc::TRANS_PGM_NOT_AVAIL_RETRY);
        }
        let incoming = incoming(self.new_tp_id());
        let ids = incoming.ids;
        if let Some(name) = reg.names.get_mut(&attach.tp_name) {
            name.queued.push_back(incoming);
        }
        Ok(ids)
    }

    /// An end went to RESET: its conversation id is no longer valid.
    pub(crate) fn forget(&self, ids: Conv) {
        let mut reg = lock(&self.registry);
        if reg
            .convs
            .get(&ids.conv_id)
            .is_some_and(|c| c.tp_id == ids.tp_id)
        {
            reg.convs.remove(&ids.conv_id);
        }
        if let Some(tp) = reg.tps.get_mut(&ids.tp_id) {
            tp.convs.remove(&ids.conv_id);
        }
    }

    /// Ends a TP as `TP_ENDED(AP_HARD)`: each of its conversations ends (see
    /// `Pair::end_tp`) and its id becomes invalid; then a TP_ENDED waiting
    /// for this completes.
    pub(crate) fn end_tp(&self, tp_id: TpId) {
        let (convs, ending): (Vec<ConvRef>, _) = {
            let mut reg = lock(&self.registry);
            let Some(tp) = reg.tps.remove(&tp_id) else {
                return;
            };
            let convs = tp.convs.iter().filter_map(|c| reg.convs.get(c).cloned());
            (convs.collect(), tp.ending)
        };
        for conv in convs {
            lock(&conv.pair).end_tp(self, &conv.pair, conv.side);
        }
        if let Some((core, handle)) = ending {
            complete(&core, handle, Out::ok());
        }
        self.run_deferred();
    }

    /// `WinAPPCCleanup`: ends every TP of `app` and withdraws its waiting
    /// RECEIVE_ALLOCATEs (the engine's cleanup then cancels their tasks).
    pub(crate) fn end_app(&self, app: AppId) {
        let tps: Vec<TpId> = {
            let mut reg = lock(&self.registry);
            for name in reg.names.values_mut() {
                name.waiting.retain(|w| w.app != app);
            }
            reg.tps
                .iter()
                .filter(|(_, tp)| tp.app == app)
                .map(|(id, _)| *id)
                .collect()
        };
        for tp_id in tps {
            self.end_tp(tp_id);
        }
    }

    /// The teardown of a cancelled task (`WinAPPCCancelAsyncRequest`, a
    /// cancelled blocking call, cleanup): a conversation verb closes its
    /// conversation's session; a waiting RECEIVE_ALLOCATE is withdrawn, so
    /// its TP never starts. Other TP verbs never wait.
    pub(crate) fn teardown(&self, handle: Handle, verb: &Verb) {
        if let Body::TpEnded(v) = &verb.body {
            // A TP_ENDED(AP_SOFT) still waiting: end the TP now, as AP_HARD.
            self.end_tp(v.tp_id);
            return;
        }
        if let Body::ReceiveAllocate(v) = &verb.body {
            if let Some(name) = lock(&self.registry).names.get_mut(&v.tp_name) {
                name.waiting.retain(|w| w.handle != handle);
            }
            return;
        }
        let Some(ids) = verb.body.conv() else {
            return;
        };
        let conv = lock(&self.registry)
            .convs
            .get(&ids.conv_id)
            .filter(|c| c.tp_id == ids.tp_id)
            .cloned();
        if let Some(conv) = conv {
            let mut pair = lock(&conv.pair);
            if pair.is_live(conv.side, ids) {
                pair.abort(self, conv.side);
            }
        }
        self.run_deferred();
    }
}

impl Registry {
    /// The TP a TP verb of `app` names: `AP_BAD_TP_ID` if it is not one of
    /// the application's, `AP_TP_BUSY` while its `TP_ENDED(AP_SOFT)` waits.
    fn tp_for_verb(&mut self, tp_id: &TpId, app: AppId) -> Result<&mut TpRec, Out> {
        match self.tps.get_mut(tp_id).filter(|tp| tp.app == app) {
            None => Err(refuse(SecondaryRc::BAD_TP_ID)),
            Some(tp) if tp.ending.is_some() => Err(Out::rc(PrimaryRc::TP_BUSY, SecondaryRc(0))),
            Some(tp) => Ok(tp),
        }
    }

    /// An attach taken by a RECEIVE_ALLOCATE of `app`: its TP and
    /// conversation become known.
    fn register(&mut self, app: AppId, incoming: Incoming, deferred: &Arc<Deferred>) {
        let Incoming { pair, ids, attach } = incoming;
        let mut tp = TpRec::new(app, ids.tp_id, attach.plu_alias, deferred);
        tp.convs.insert(ids.conv_id);
        self.tps.insert(ids.tp_id, tp);
        self.convs.insert(
            ids.conv_id,
            ConvRef {
                pair,
                side: 1,
                tp_id: ids.tp_id,
            },
        );
    }
}
