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
//! * Conversations by `conv_id`: the in-memory pair and which end is
//!   whose, or that the conversation is remote.
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
//! [`IssuedVerb`], and the owner runs it on its
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
//! Per-session error state lives in the `End` of one conversation and
//! dies with it; a new conversation starts clean (KB Q182578).
//!
//! # Files
//!
//! `entries.rs` holds what the registry keeps per TP, conversation and
//! waiting attach, `names.rs` the TP names and their queues,
//! `registry.rs` the registry itself; `tp.rs` runs the TP verbs and a
//! TP's end, `allocate.rs` ALLOCATE and SEND_CONVERSATION, `attach.rs`
//! the routing of attaches to RECEIVE_ALLOCATE, `verb.rs` the routing of
//! conversation verbs.

mod allocate;
mod attach;
mod entries;
mod names;
mod registry;
mod tp;
mod verb;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::conversation::{IssuedVerb, RemoteEnd};
use crate::lock::lock;
use crate::outcome::AppCore;
use crate::rc::SecondaryRc;
use crate::session::{Attach, Owner};
use crate::verbs::{name, Conv, ConvId, TpId};
use appc_engine::deferred::Deferred;
use registry::Registry;

pub(crate) use entries::AppId;
pub use names::MAX_QUEUED_ATTACHES;

/// Bits of a conversation id below its owner's index.
const OWNER_SHIFT: u32 = 24;
/// The owners a node can have (index 0 is the node itself).
const MAX_OWNERS: usize = 1 << (32 - OWNER_SHIFT);

/// A node (local LU) that applications start TPs on.
///
/// Cloning gives another reference to the same node.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

/// A reference to a [`Node`] that does not keep it alive: what a session
/// layer the node holds (as an [`Owner`]) keeps of the node, so that the
/// two do not keep each other alive.
#[derive(Clone, Debug)]
pub struct WeakNode(Weak<NodeInner>);

impl WeakNode {
    /// The node, if anything else still holds it.
    pub fn upgrade(&self) -> Option<Node> {
        self.0.upgrade().map(|inner| Node { inner })
    }
}

impl Default for Node {
    fn default() -> Self {
        Self::new()
    }
}

impl Node {
    /// A reference that does not keep the node alive.
    pub fn downgrade(&self) -> WeakNode {
        WeakNode(Arc::downgrade(&self.inner))
    }

    /// A node with no TP names and no partner LUs defined yet: every
    /// partner LU alias loops back to it.
    pub fn new() -> Self {
        let deferred: Arc<Deferred<TpId>> = Arc::default();
        Self {
            inner: Arc::new_cyclic(|me| NodeInner {
                link: NodeLink(Arc::new(LinkTarget {
                    node: me.clone(),
                    deferred: deferred.clone(),
                })),
                registry: Mutex::default(),
                owners: (0..MAX_OWNERS).map(|_| OnceLock::new()).collect(),
                next_conv: (0..MAX_OWNERS).map(|_| AtomicU32::new(0)).collect(),
                next_tp: AtomicU64::new(0),
                next_app: AtomicU64::new(0),
                deferred,
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
    /// RECEIVE_ALLOCATE or [`Node::define_tp`] has named,
    /// `AP_TRANS_PGM_NOT_AVAIL_RETRY` when the name's queue is full). The
    /// conversation goes to a waiting RECEIVE_ALLOCATE at once, or waits
    /// for one; until then the end has no TP ([`RemoteEnd::is_attached`]),
    /// and when one takes it, `owner` gets
    /// [`Work::Attached`](crate::Work::Attached).
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
    pub fn refuse(&self, request: IssuedVerb) {
        self.inner.refuse(request);
    }

    /// Attaches waiting for a RECEIVE_ALLOCATE, over every TP name.
    pub fn queued_attaches(&self) -> usize {
        lock(&self.inner.registry).names.queued()
    }

    /// Sets how many attaches one TP name may queue while no
    /// `RECEIVE_ALLOCATE` takes them ([`MAX_QUEUED_ATTACHES`] unless set);
    /// the next one is rejected with `AP_TRANS_PGM_NOT_AVAIL_RETRY`.
    /// `usize::MAX` is the project's choice for a partner that holds every
    /// attach it is sent (the load generator's scale mode holds a million).
    pub fn set_max_queued_attaches(&self, limit: usize) {
        lock(&self.inner.registry).names.set_limit(limit);
    }

    /// Lets attaches for `tp_name` (blank-padded to 64 bytes) queue until a
    /// `RECEIVE_ALLOCATE` takes them, even before the first one is issued.
    pub fn define_tp(&self, tp_name: &str) {
        lock(&self.inner.registry).names.define(name(tp_name));
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

/// The node's shared state.
pub(crate) struct NodeInner {
    /// This node, for the remote ends handed to session layers.
    link: NodeLink,
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
    /// [`Activity`](appc_engine::activity::Activity)).
    deferred: Arc<Deferred<TpId>>,
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

    /// Runs the soft TP ends whose last active verb has finished.
    pub(crate) fn run_deferred(&self) {
        while let Some(tp_id) = self.deferred.pop() {
            self.end_tp(tp_id);
        }
    }

    /// How a [`RemoteEnd`] of this node reaches it.
    pub(crate) fn link(&self) -> NodeLink {
        NodeLink(self.link.0.clone())
    }
}

/// What a conversation end asks of its node, beyond completing its own
/// verbs: the registry's part in the end of a conversation, the attach
/// an end withdraws, and the refusal of a verb for a conversation that is
/// not the caller's. None of it is on a verb's or an arrival's common
/// path, which is what lets a [`RemoteEnd`] reach its node through a weak
/// reference ([`NodeLink`]) it upgrades only here.
pub(crate) trait Registrar {
    /// An end went to RESET: its conversation id is no longer valid.
    fn forget(&self, ids: Conv);

    /// Takes the attach of invoked conversation `ids` out of its TP
    /// name's queue, if it still waits for a RECEIVE_ALLOCATE (its
    /// conversation failed or was ended abnormally; the end then ends,
    /// which forgets its id). False if a RECEIVE_ALLOCATE took it already.
    fn withdraw_attach(&self, ids: Conv) -> bool;

    /// Refuses `verb`: its conversation is not the caller's (see
    /// [`Node::refuse`]).
    fn refuse(&self, verb: IssuedVerb);
}

impl Registrar for NodeInner {
    fn forget(&self, ids: Conv) {
        lock(&self.registry).forget(ids);
    }

    fn withdraw_attach(&self, ids: Conv) -> bool {
        lock(&self.registry).names.withdraw(ids)
    }

    fn refuse(&self, verb: IssuedVerb) {
        NodeInner::refuse(self, verb);
    }
}

/// A node that is gone has nothing to forget, withdraw or refuse.
impl Registrar for Weak<NodeInner> {
    fn forget(&self, ids: Conv) {
        if let Some(node) = self.upgrade() {
            node.forget(ids);
        }
    }

    fn withdraw_attach(&self, ids: Conv) -> bool {
        self.upgrade()
            .is_some_and(|node| Registrar::withdraw_attach(&*node, ids))
    }

    fn refuse(&self, verb: IssuedVerb) {
        if let Some(node) = self.upgrade() {
            node.refuse(verb);
        }
    }
}

/// How a [`RemoteEnd`] reaches its node. Weak, since the node holds the
/// session layers (its owners) that hold the ends: a strong reference
/// would make every owner that keeps an end a cycle with the node. And
/// never upgraded on the common path of a verb or an arrival (a
/// contended read-modify-write of the node's reference count per verb,
/// from every session layer thread): that path checks that the node
/// still exists with a load ([`NodeLink::is_gone`]) and whether a soft TP
/// end waits with another ([`NodeLink::run_deferred`]); only the rare
/// paths ([`Registrar`], a deferred end) upgrade.
///
/// One pointer, to what every end of the node shares (made once, with
/// the node): it is in every conversation's block.
pub(crate) struct NodeLink(Arc<LinkTarget>);

/// What a [`NodeLink`] points to.
struct LinkTarget {
    node: Weak<NodeInner>,
    deferred: Arc<Deferred<TpId>>,
}

impl NodeLink {
    /// Whether the node was dropped: its conversations can only end.
    #[inline]
    pub(crate) fn is_gone(&self) -> bool {
        self.0.node.strong_count() == 0
    }

    /// The node's registry, for the rare paths that need it.
    pub(crate) fn registrar(&self) -> &dyn Registrar {
        &self.0.node
    }

    /// Runs the soft TP ends whose last active verb has finished, if any
    /// (see [`NodeInner::run_deferred`]).
    #[inline]
    pub(crate) fn run_deferred(&self) {
        if let Some(tp_id) = self.0.deferred.pop() {
            self.end_tp(tp_id);
        }
    }

    #[cold]
    #[inline(never)]
    fn end_tp(&self, tp_id: TpId) {
        if let Some(node) = self.0.node.upgrade() {
            node.end_tp(tp_id);
            node.run_deferred();
        }
    }
}
