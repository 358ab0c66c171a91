//! The node: the local LU that TPs run on, routing attaches from ALLOCATE
//! to RECEIVE_ALLOCATE, keeping the TP and conversation ids, and routing
//! each conversation verb to the owner of its conversation.
//!
//! Every partner LU alias not registered with [`Node::add_partner`] loops
//! back to this node, so two TPs in one process (in one application or in
//! two) hold real conversations through it. A registered alias belongs to
//! a session layer (an [`Owner`]), which takes the conversations allocated
//! to it and runs them on its own threads.
//!
//! # What it keeps (the registry)
//!
//! * Applications by id, with their engine (to refuse a verb for a
//!   conversation that is gone).
//! * TPs by `tp_id`: the application that owns each, its local LU alias, its
//!   conversations. `TP_STARTED` and an accepted `RECEIVE_ALLOCATE` create
//!   one; `TP_ENDED`, a cancelled TP verb and `WinAPPCCleanup` end it.
//! * Conversations by `conv_id`: the [`Pair`] and which end is whose, or
//!   that the conversation is remote.
//! * TP names that accept attaches: each with the `RECEIVE_ALLOCATE`s
//!   waiting for one (unbounded) and the attaches waiting for a
//!   `RECEIVE_ALLOCATE`, up to [`MAX_QUEUED_ATTACHES`] (a limit with a
//!   documented refusal, where the original's attach counter overflowed
//!   under stress: KB Q140833). A name accepts attaches once a
//!   `RECEIVE_ALLOCATE` has named it, or once [`Node::define_tp`] has; an
//!   attach for any other name is rejected with `AP_ALLOCATION_ERROR` /
//!   `AP_TP_NAME_NOT_RECOGNIZED`, which the allocating TP sees on the verb
//!   that flushed the attach or on a later one.
//! * An attach whose conversation fails or is ended abnormally before any
//!   RECEIVE_ALLOCATE takes it leaves its queue at once (its allocator's
//!   verb was cancelled, its session was lost, its allocator abended it or
//!   ended its TP or application outside SEND): no TP is started for a
//!   conversation that is already over, and a name nobody serves holds
//!   only live attaches. One its allocator deallocated normally
//!   (SEND_CONVERSATION, DEALLOCATE(FLUSH), TP_ENDED in SEND) stays: its
//!   data and its end are the TP's to receive.
//!
//! # Conversation ids and routing
//!
//! A conversation id carries its owner in its top byte: 0 for an
//! in-memory conversation, else the index of the [`Owner`] that holds it
//! (the low 24 bits count per owner, skipping ids still in use). So a verb
//! on a remote conversation goes to its owner without the registry: the
//! verb becomes a task, its inputs move into a
//! [`Request`](crate::conversation::Request), and the owner runs it on its
//! own thread, where the conversation lives. Only verbs on in-memory
//! conversations, TP verbs, and the rare paths (a verb for a conversation
//! that is gone, the end of a conversation) take the registry lock.
//!
//! # Locks
//!
//! One registry lock, held only for map updates. A conversation's own lock
//! (see the `conversation` module) may be held while the registry lock is
//! taken, never the other way round: paths that start at the registry
//! (TP_ENDED, cleanup, cancel, a RECEIVE_ALLOCATE taking a queued attach)
//! collect what they need, drop the registry lock, and only then lock
//! conversations.
//!
//! Per-session error state lives in the [`End`] of one conversation and
//! dies with it; a new conversation starts clean (KB Q182578).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::conversation::{Attachment, End, Ending, Input, Pair, PairLock, RemoteEnd, Request};
use crate::lock::lock;
use crate::outcome::{complete, done, AppCore, Attributes, Out};
use crate::param::Refusal;
use crate::rc::{PrimaryRc, SecondaryRc};
use crate::session::{Attach, Owner, TpEnd, Work};
use crate::states::{Entry, Step};
use crate::verbs::{name, values, Body, Conv, ConvId, TpId, Verb};
use appc_engine::activity::Activity;
use appc_engine::deferred::Deferred;
use appc_engine::id_hash::IdHashMap;
use appc_engine::{CompleteOutcome, Handle, Rejected};

/// Bits of a conversation id below its owner's index.
const OWNER_SHIFT: u32 = 24;
/// The owners a node can have (index 0 is the node itself).
const MAX_OWNERS: usize = 1 << (32 - OWNER_SHIFT);

/// The attaches one TP name queues while no `RECEIVE_ALLOCATE` takes them,
/// unless [`Node::set_max_queued_attaches`] says otherwise. Microsoft's
/// Host Integration Server documentation (`RECEIVE_ALLOCATE_EX`) gives a
/// server 2,048 and rejects the next attach with sense `084B6031`
/// (`AP_TRANS_PGM_NOT_AVAIL_RETRY`, under `AP_ALLOCATION_ERROR`), which is
/// what this node does.
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
                owners: (0..MAX_OWNERS).map(|_| OnceLock::new()).collect(),
                next_conv: (0..MAX_OWNERS).map(|_| AtomicU32::new(0)).collect(),
                next_tp: AtomicU64::new(0),
                next_app: AtomicU64::new(0),
                deferred: Arc::default(),
                max_queued_attaches: AtomicUsize::new(MAX_QUEUED_ATTACHES),
            }),
        }
    }

    /// Makes `plu_alias` (blank-padded to 8 bytes) a partner LU on another
    /// node, reached through `owner` (the session layer): an ALLOCATE
    /// naming it hands the new conversation to `owner`, which runs it from
    /// then on. Panics if more than 255 distinct owners are registered.
    pub fn add_partner(&self, plu_alias: &str, owner: Arc<dyn Owner>) {
        let mut reg = lock(&self.inner.registry);
        let index = self.inner.owner_index(&mut reg, &owner);
        reg.partners.insert(name(plu_alias), index);
    }

    /// An attach arrived from another node, through the session layer
    /// `owner`, which will hold the conversation. Returns the local end,
    /// for `owner` to keep and run, or the sense code to reject the attach
    /// with (`AP_TP_NAME_NOT_RECOGNIZED` for a TP name that no
    /// RECEIVE_ALLOCATE or [`Node::define_tp`] has named). The conversation
    /// goes to a waiting RECEIVE_ALLOCATE at once, or waits for one; until
    /// then the end has no TP ([`RemoteEnd::is_attached`]), and when one
    /// takes it, `owner` gets [`Work::Attached`].
    pub fn incoming_attach(
        &self,
        attach: Attach,
        owner: &Arc<dyn Owner>,
    ) -> Result<RemoteEnd, SecondaryRc> {
        self.inner.incoming_attach(attach, owner)
    }

    /// Completes a verb for a conversation its owner no longer holds (it
    /// ended): `AP_PARAMETER_CHECK` with `AP_BAD_CONV_ID`, or `AP_BAD_TP_ID`
    /// if its TP is gone too.
    pub fn refuse(&self, request: Request) {
        let refusal = self.inner.lookup_refusal(&request);
        self.inner.refuse(request, refusal);
    }

    /// Attaches waiting for a RECEIVE_ALLOCATE, over every TP name.
    pub fn queued_attaches(&self) -> usize {
        lock(&self.inner.registry).queued_at.len()
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
    /// This node, for the remote ends handed to session layers.
    me: Weak<NodeInner>,
    registry: Mutex<Registry>,
    /// The session layers holding remote conversations, by the index in
    /// their conversations' ids (never index 0). Read without a lock.
    owners: Box<[OnceLock<Arc<dyn Owner>>]>,
    /// Per owner index, the next conversation id's low bits.
    next_conv: Box<[AtomicU32]>,
    next_tp: AtomicU64,
    next_app: AtomicU64,
    /// TPs whose `TP_ENDED(AP_SOFT)` may now run: their last active verb
    /// finished while a conversation was being worked on (see
    /// [`Activity`]).
    deferred: Arc<Deferred<TpId>>,
    /// See [`Node::set_max_queued_attaches`].
    max_queued_attaches: AtomicUsize,
}

/// The node's applications, TPs and conversations, by the ids the node
/// hands out. The TP and conversation maps are looked up on every verb of
/// an in-memory conversation and every conversation's end, and their keys
/// are ours (counters, never a caller's or a partner's choice), so they
/// are [`IdHashMap`]s, not SipHash maps.
#[derive(Default)]
struct Registry {
    apps: HashMap<AppId, AppCore>,
    tps: IdHashMap<TpId, TpRec>,
    convs: IdHashMap<ConvId, ConvRef>,
    names: HashMap<[u8; 64], NameRec>,
    /// Where each queued attach waits, by its conversation id: its TP
    /// name and its place in that name's queue.
    queued_at: IdHashMap<ConvId, ([u8; 64], u64)>,
    /// The next place in a name's queue.
    next_place: u64,
    /// Partner LU aliases, by the index of their owner.
    partners: HashMap<[u8; 8], usize>,
    /// Owner indexes handed out (the `owners` entries set).
    owner_count: usize,
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
    fn new(app: AppId, tp_id: TpId, lu_alias: [u8; 8], deferred: &Arc<Deferred<TpId>>) -> Self {
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

/// Where a conversation lives.
#[derive(Clone)]
enum Route {
    /// In memory: its pair, and which end is the registered TP's.
    Local(PairLock, usize),
    /// With the owner of this index.
    Remote(usize),
}

#[derive(Clone)]
struct ConvRef {
    route: Route,
    tp_id: TpId,
}

#[derive(Default)]
struct NameRec {
    waiting: VecDeque<Waiter>,
    /// In arrival order, by place (see [`Registry::queued_at`]), so that a
    /// dead one leaves from anywhere in the queue.
    queued: BTreeMap<u64, Incoming>,
}

/// A RECEIVE_ALLOCATE waiting for an attach.
struct Waiter {
    app: AppId,
    core: AppCore,
    handle: Handle,
}

/// An attach waiting for a RECEIVE_ALLOCATE, with the ids it will get.
struct Incoming {
    route: Route,
    ids: Conv,
    attach: Attach,
}

fn refuse(secondary: SecondaryRc) -> Out {
    Out::rc(PrimaryRc::PARAMETER_CHECK, secondary)
}

impl NodeInner {
    pub(crate) fn new_app(&self, tasks: AppCore) -> AppId {
        let app = self.next_app.fetch_add(1, Relaxed);
        lock(&self.registry).apps.insert(app, tasks);
        app
    }

    fn new_tp_id(&self) -> TpId {
        (self.next_tp.fetch_add(1, Relaxed) + 1).to_le_bytes()
    }

    /// A conversation id of owner `owner` (0: this node) that is not in use.
    fn new_conv_id(&self, reg: &Registry, owner: usize) -> ConvId {
        let high = (owner as u32) << OWNER_SHIFT;
        loop {
            let low = self.next_conv[owner].fetch_add(1, Relaxed).wrapping_add(1)
                & ((1 << OWNER_SHIFT) - 1);
            let id = high | low;
            // Zero is never a conversation id.
            if id != 0 && !reg.convs.contains_key(&id) {
                return id;
            }
        }
    }

    /// The index of `owner`, registering it if new.
    fn owner_index(&self, reg: &mut Registry, owner: &Arc<dyn Owner>) -> usize {
        let known = (1..=reg.owner_count).find(|&index| {
            self.owners[index]
                .get()
                .is_some_and(|known| Arc::ptr_eq(known, owner))
        });
        known.unwrap_or_else(|| {
            reg.owner_count += 1;
            let index = reg.owner_count;
            assert!(
                index < MAX_OWNERS,
                "more than 255 session layers on one node"
            );
            let _ = self.owners[index].set(owner.clone());
            index
        })
    }

    /// The owner of a remote conversation id: `Ok(None)` for an in-memory
    /// one, `Err` for an owner index nobody holds.
    fn owner_of(&self, conv_id: ConvId) -> Result<Option<&Arc<dyn Owner>>, ()> {
        match (conv_id >> OWNER_SHIFT) as usize {
            0 => Ok(None),
            index => self.owners[index].get().map(Some).ok_or(()),
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
                match name.queued.pop_first() {
                    None => {
                        name.waiting.push_back(Waiter {
                            app,
                            core: core.clone(),
                            handle,
                        });
                        Ok((handle, extra))
                    }
                    Some((_, incoming)) => {
                        reg.queued_at.remove(&incoming.ids.conv_id);
                        let out = Out {
                            ids: Some(incoming.ids),
                            attach: Some(Box::new(incoming.attach.clone())),
                            ..Out::ok()
                        };
                        let activity = reg.register(app, &incoming, &self.deferred);
                        drop(reg);
                        self.attached(incoming, app, core, activity);
                        complete(core, handle, out);
                        Ok((handle, extra))
                    }
                }
            }
            Body::Allocate(v) => {
                let mut reg = lock(&self.registry);
                let (lu_alias, activity) = match reg.tp_for_verb(&v.tp_id, app) {
                    Ok(tp) => (tp.lu_alias, tp.activity.clone()),
                    Err(out) => {
                        drop(reg);
                        return done(core, verb, out, submit);
                    }
                };
                let owner = reg.partners.get(&v.plu_alias).copied().unwrap_or(0);
                let (ids, attach, attrs) = self.allocation(&reg, owner, &verb, v, lu_alias);
                let (handle, extra) = submit(verb)?;
                let mut end = End::allocated(ids, attach, attrs);
                end.attached(ids, app, core.clone(), Some(activity));
                let route = if owner == 0 {
                    Route::Local(Arc::new(Mutex::new(Pair::allocated_with(end))), 0)
                } else {
                    if let Some(owner) = self.owners[owner].get() {
                        owner.post(Work::Open(Box::new(RemoteEnd::new(
                            end,
                            ids.conv_id,
                            self.weak(),
                        ))));
                    }
                    Route::Remote(owner)
                };
                reg.convs.insert(
                    ids.conv_id,
                    ConvRef {
                        route,
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
                let reg = lock(&self.registry);
                let (lu_alias, owner) = match reg.tp_for_verb_ref(&v.allocate.tp_id, app) {
                    Ok(tp) => (
                        tp.lu_alias,
                        reg.partners
                            .get(&v.allocate.plu_alias)
                            .copied()
                            .unwrap_or(0),
                    ),
                    Err(out) => {
                        drop(reg);
                        return done(core, verb, out, submit);
                    }
                };
                let (ids, attach, attrs) =
                    self.allocation(&reg, owner, &verb, &v.allocate, lu_alias);
                drop(reg);
                let mut verb = verb;
                let data = match &mut verb.body {
                    Body::SendConversation(v) => std::mem::take(&mut v.data),
                    _ => Vec::new(),
                };
                let (handle, extra) = submit(verb)?;
                // Never registered: the application gets no conv_id.
                let mut end = End::allocated(ids, attach, attrs);
                end.attached(ids, app, core.clone(), None);
                if owner == 0 {
                    let pair = Arc::new(Mutex::new(Pair::allocated_with(end)));
                    let mut out = lock(&pair).send_conversation(self, &pair, &data);
                    out.data = Some(data);
                    complete(core, handle, out);
                    self.run_deferred();
                } else if let Some(owner) = self.owners[owner].get() {
                    let mut remote = RemoteEnd::new(end, ids.conv_id, self.weak());
                    remote.send_conversation_on_open(handle, data);
                    owner.post(Work::Open(Box::new(remote)));
                }
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
        reg: &Registry,
        owner: usize,
        verb: &Verb,
        v: &crate::verbs::Allocate,
        lu_alias: [u8; 8],
    ) -> (Conv, Attach, Attributes) {
        let ids = Conv {
            tp_id: v.tp_id,
            conv_id: self.new_conv_id(reg, owner),
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
        let owner = match self.owner_of(ids.conv_id) {
            Ok(owner) => owner,
            Err(()) => return done(core, verb, refuse(SecondaryRc::BAD_CONV_ID), submit),
        };
        let (step, mapped) = (Step::of(&verb.body), verb.is_mapped());
        if let Some(owner) = owner {
            // Remote: the owner checks the ids against the conversation.
            let (handle, extra, input) = submit_taking(verb, submit)?;
            owner.post(Work::Verb(Request {
                handle,
                app,
                ids,
                step,
                entry,
                mapped,
                input,
            }));
            return Ok((handle, extra));
        }
        let found = {
            let reg = lock(&self.registry);
            match (reg.tps.get(&ids.tp_id), reg.convs.get(&ids.conv_id)) {
                (Some(tp), _) if tp.app != app => Err(SecondaryRc::BAD_TP_ID),
                (None, _) => Err(SecondaryRc::BAD_TP_ID),
                (Some(_), Some(c)) if c.tp_id == ids.tp_id => match &c.route {
                    Route::Local(pair, side) => Ok((pair.clone(), *side)),
                    Route::Remote(_) => Err(SecondaryRc::BAD_CONV_ID),
                },
                (Some(_), _) => Err(SecondaryRc::BAD_CONV_ID),
            }
        };
        let (pair, side) = match found {
            Ok(found) => found,
            Err(secondary) => return done(core, verb, refuse(secondary), submit),
        };
        let mut locked = lock(&pair);
        if !locked.is_live(side, ids) {
            drop(locked);
            return done(core, verb, refuse(SecondaryRc::BAD_CONV_ID), submit);
        }
        let result = submit_taking(verb, submit).map(|(handle, extra, input)| {
            let request = Request {
                handle,
                app,
                ids,
                step,
                entry,
                mapped,
                input,
            };
            locked.issue(self, &pair, side, request);
            (handle, extra)
        });
        drop(locked);
        self.run_deferred();
        result
    }

    /// Whether `request` names `end` (its TP, of its application), or the
    /// refusal that a verb for a conversation the caller does not hold gets.
    pub(crate) fn check_remote_verb(&self, end: &End, request: &Request) -> Result<(), Refusal> {
        if end.is_live(request.ids) && end.app == request.app {
            Ok(())
        } else {
            Err(self.lookup_refusal(request))
        }
    }

    /// The refusal of a verb whose conversation is not the caller's:
    /// `AP_BAD_TP_ID` if its TP is not one of the application's, else
    /// `AP_BAD_CONV_ID`.
    fn lookup_refusal(&self, request: &Request) -> Refusal {
        let reg = lock(&self.registry);
        let secondary = match reg.tps.get(&request.ids.tp_id) {
            Some(tp) if tp.app == request.app => SecondaryRc::BAD_CONV_ID,
            _ => SecondaryRc::BAD_TP_ID,
        };
        (PrimaryRc::PARAMETER_CHECK, secondary)
    }

    /// Completes `request` with `refusal`, through its application's
    /// engine (an application cleaned up meanwhile has cancelled the task).
    pub(crate) fn refuse(&self, request: Request, refusal: Refusal) {
        let tasks = lock(&self.registry).apps.get(&request.app).cloned();
        if let Some(tasks) = tasks {
            let (primary, secondary) = refusal;
            complete(
                &tasks,
                request.handle,
                request.input.back(Out::rc(primary, secondary)),
            );
        }
    }

    /// Runs the soft TP ends whose last active verb has finished.
    pub(crate) fn run_deferred(&self) {
        while let Some(tp_id) = self.deferred.pop() {
            self.end_tp(tp_id);
        }
    }

    /// This node, for a [`RemoteEnd`].
    pub(crate) fn weak(&self) -> Weak<NodeInner> {
        self.me.clone()
    }

    /// Routes an in-memory conversation's attach, at its first flush
    /// (called with the pair locked): to a waiting RECEIVE_ALLOCATE of its
    /// TP name, else into the name's queue. `invoked` becomes the invoked
    /// end.
    pub(crate) fn route_local(
        &self,
        pair: &PairLock,
        attach: &Attach,
        invoked: &mut End,
    ) -> Result<(), SecondaryRc> {
        let mut reg = lock(&self.registry);
        let incoming = self.route(&mut reg, Route::Local(pair.clone(), 1), attach)?;
        *invoked = End::invoked(attach);
        match incoming {
            Routed::Taken(app, core, activity, ids) => {
                invoked.attached(ids, app, core, Some(activity))
            }
            Routed::Queued(ids) => invoked.ids = ids,
        }
        Ok(())
    }

    /// An attach from another node (see [`Node::incoming_attach`]).
    fn incoming_attach(
        &self,
        attach: Attach,
        owner: &Arc<dyn Owner>,
    ) -> Result<RemoteEnd, SecondaryRc> {
        let mut reg = lock(&self.registry);
        let index = self.owner_index(&mut reg, owner);
        let routed = self.route(&mut reg, Route::Remote(index), &attach)?;
        drop(reg);
        let mut end = End::invoked(&attach);
        let conv_id = match routed {
            Routed::Taken(app, core, activity, ids) => {
                end.attached(ids, app, core, Some(activity));
                ids.conv_id
            }
            Routed::Queued(ids) => {
                end.ids = ids;
                ids.conv_id
            }
        };
        Ok(RemoteEnd::new(end, conv_id, self.weak()))
    }

    /// Gives an attach to a waiting RECEIVE_ALLOCATE of its TP name, or
    /// queues it for the next one.
    fn route(
        &self,
        reg: &mut Registry,
        route: Route,
        attach: &Attach,
    ) -> Result<Routed, SecondaryRc> {
        if !reg.names.contains_key(&attach.tp_name) {
            return Err(SecondaryRc::TP_NAME_NOT_RECOGNIZED);
        }
        let owner = match route {
            Route::Remote(index) => index,
            Route::Local(..) => 0,
        };
        let conv_id = self.new_conv_id(reg, owner);
        let incoming = |tp_id| Incoming {
            route: route.clone(),
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
            let outcome = waiter.core.complete(waiter.handle, |verb| out.apply(verb));
            if outcome == CompleteOutcome::Delivered {
                let ids = incoming.ids;
                let activity = reg.register(waiter.app, &incoming, &self.deferred);
                return Ok(Routed::Taken(waiter.app, waiter.core, activity, ids));
            }
        }
        let limit = self.max_queued_attaches.load(Relaxed);
        let Some(name) = reg.names.get_mut(&attach.tp_name) else {
            return Err(SecondaryRc::TP_NAME_NOT_RECOGNIZED);
        };
        if name.queued.len() >= limit {
            return Err(SecondaryRc::TRANS_PGM_NOT_AVAIL_RETRY);
        }
        let incoming = incoming(self.new_tp_id());
        let ids = incoming.ids;
        let place = reg.next_place;
        reg.next_place += 1;
        name.queued.insert(place, incoming);
        reg.queued_at.insert(ids.conv_id, (attach.tp_name, place));
        reg.convs.insert(
            ids.conv_id,
            ConvRef {
                route,
                tp_id: ids.tp_id,
            },
        );
        Ok(Routed::Queued(ids))
    }

    /// A queued attach taken by a RECEIVE_ALLOCATE of `app` (the registry
    /// lock let go): its end gets its TP.
    fn attached(&self, incoming: Incoming, app: AppId, core: &AppCore, activity: Arc<Activity>) {
        let ids = incoming.ids;
        match incoming.route {
            Route::Local(pair, side) => {
                lock(&pair)
                    .end(side)
                    .attached(ids, app, core.clone(), Some(activity));
            }
            Route::Remote(index) => {
                if let Some(owner) = self.owners[index].get() {
                    let attachment = Attachment {
                        ids,
                        app,
                        tasks: core.clone(),
                        activity: Some(activity),
                    };
                    owner.post(Work::Attached(ids.conv_id, attachment));
                }
            }
        }
    }

    /// Takes the attach of invoked conversation `conv_id` out of its TP
    /// name's queue, if it still waits for a RECEIVE_ALLOCATE (its
    /// conversation failed or was ended abnormally; the end then ends,
    /// which forgets its id). False if a RECEIVE_ALLOCATE took it already.
    pub(crate) fn withdraw_attach(&self, conv_id: ConvId) -> bool {
        let mut reg = lock(&self.registry);
        let Some((tp_name, place)) = reg.queued_at.remove(&conv_id) else {
            return false;
        };
        reg.names
            .get_mut(&tp_name)
            .and_then(|name| name.queued.remove(&place))
            .is_some()
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
    /// `End::end_tp`) and its id becomes invalid; then a TP_ENDED waiting
    /// for this completes (once its remote conversations' owners have
    /// ended theirs).
    pub(crate) fn end_tp(&self, tp_id: TpId) {
        self.end_tp_as(tp_id, TpEnd::Ended);
    }

    /// [`NodeInner::end_tp`], its conversations ended `how`.
    fn end_tp_as(&self, tp_id: TpId, how: TpEnd) {
        let (convs, ending): (Vec<(ConvId, ConvRef)>, _) = {
            let mut reg = lock(&self.registry);
            let Some(tp) = reg.tps.remove(&tp_id) else {
                return;
            };
            let convs = tp
                .convs
                .iter()
                .filter_map(|c| Some((*c, reg.convs.get(c)?.clone())));
            (convs.collect(), tp.ending)
        };
        let remote = convs
            .iter()
            .filter(|(_, c)| matches!(c.route, Route::Remote(_)))
            .count();
        let ending = Ending::new(remote + 1, ending);
        for (conv_id, conv) in convs {
            match conv.route {
                Route::Local(pair, side) => lock(&pair).end_tp(self, &pair, side, how),
                Route::Remote(index) => match self.owners[index].get() {
                    Some(owner) => owner.post(Work::EndTp(conv_id, how, ending.clone())),
                    None => ending.clone().done(),
                },
            }
        }
        ending.done();
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
        lock(&self.registry).apps.remove(&app);
    }

    /// The teardown of a cancelled task (`WinAPPCCancelAsyncRequest`, a
    /// cancelled blocking call, cleanup): a conversation verb closes its
    /// conversation's session (a remote one's owner does, in order with
    /// the conversation's other work); a waiting RECEIVE_ALLOCATE is
    /// withdrawn, so its TP never starts. Other TP verbs never wait.
    pub(crate) fn teardown(&self, handle: Handle, verb: &Verb) {
        if let Body::TpEnded(v) = &verb.body {
            // A TP_ENDED(AP_SOFT) still waiting: the TP ends now, as with
            // AP_HARD, but flushing nothing (a cancelled verb never
            // flushes).
            self.end_tp_as(v.tp_id, TpEnd::Cancelled);
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
        match self.owner_of(ids.conv_id) {
            Ok(Some(owner)) => owner.post(Work::Abort(ids, handle)),
            Ok(None) => {
                let conv = lock(&self.registry)
                    .convs
                    .get(&ids.conv_id)
                    .filter(|c| c.tp_id == ids.tp_id)
                    .cloned();
                if let Some(ConvRef {
                    route: Route::Local(pair, side),
                    ..
                }) = conv
                {
                    let mut locked = lock(&pair);
                    if locked.is_live(side, ids) {
                        locked.abort(self, &pair, side);
                    }
                }
                self.run_deferred();
            }
            Err(()) => {}
        }
    }
}

/// Where [`NodeInner::route`] put an attach.
enum Routed {
    /// A waiting RECEIVE_ALLOCATE of this application took it.
    Taken(AppId, AppCore, Arc<Activity>, Conv),
    /// It waits for one, with these ids.
    Queued(Conv),
}

/// Takes `verb`'s inputs out and submits it: the handle and the inputs,
/// or, if refused, the verb with its inputs put back.
fn submit_taking<R>(
    mut verb: Verb,
    submit: impl FnOnce(Verb) -> Result<(Handle, R), Rejected<Verb>>,
) -> Result<(Handle, R, Input), Rejected<Verb>> {
    let input = Input::take(&mut verb);
    match submit(verb) {
        Ok((handle, extra)) => Ok((handle, extra, input)),
        Err(mut rejected) => {
            input.restore(&mut rejected.verb);
            Err(rejected)
        }
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

    /// [`Registry::tp_for_verb`], read-only.
    fn tp_for_verb_ref(&self, tp_id: &TpId, app: AppId) -> Result<&TpRec, Out> {
        match self.tps.get(tp_id).filter(|tp| tp.app == app) {
            None => Err(refuse(SecondaryRc::BAD_TP_ID)),
            Some(tp) if tp.ending.is_some() => Err(Out::rc(PrimaryRc::TP_BUSY, SecondaryRc(0))),
            Some(tp) => Ok(tp),
        }
    }

    /// An attach taken by a RECEIVE_ALLOCATE of `app`: its TP and
    /// conversation become known. Returns the new TP's activity.
    fn register(
        &mut self,
        app: AppId,
        incoming: &Incoming,
        deferred: &Arc<Deferred<TpId>>,
    ) -> Arc<Activity> {
        let ids = incoming.ids;
        let mut tp = TpRec::new(app, ids.tp_id, incoming.attach.plu_alias, deferred);
        tp.convs.insert(ids.conv_id);
        let activity = tp.activity.clone();
        self.tps.insert(ids.tp_id, tp);
        self.convs.insert(
            ids.conv_id,
            ConvRef {
                route: incoming.route.clone(),
                tp_id: ids.tp_id,
            },
        );
        activity
    }
}
