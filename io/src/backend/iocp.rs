//! The Windows backend: I/O completion ports.
//!
//! # Threads
//!
//! [`Config::threads`] reactors (0 = one per core), each with its own
//! completion port and one thread blocked in `GetQueuedCompletionStatusEx`.
//! A link belongs to one reactor for its whole life (`id % reactors`): its
//! socket is associated with that reactor's port, and only that thread
//! issues its I/O and delivers its events, so "one thread at a time, in
//! order" holds without a per-link lock. Other threads (the caller of
//! `connect` / `send` / `close`, or the reactor that accepted the socket)
//! hand work over with a command pushed to the reactor's queue plus one
//! `PostQueuedCompletionStatus` wake-up packet (key [`KEY_CMD`]) when the
//! queue was empty.
//!
//! # Accept, connect, close
//!
//! * Listening sockets keep [`ACCEPTS`] `AcceptEx` operations in flight on
//!   the reactor that owns the listener (chosen round-robin). `AcceptEx`
//!   rather than a blocking accept thread: no extra thread per listener, no
//!   wake-up problem when the backend stops (the pending accepts are
//!   cancelled like any other I/O), and accepted sockets are born
//!   overlapped. A completed accept gets `SO_UPDATE_ACCEPT_CONTEXT`, a new
//!   link id, an association with its owner's port and a command to that
//!   owner, which announces `connected` and starts receiving.
//! * `connect` creates and binds the socket on the caller's thread (so that
//!   resource errors are returned directly), associates it, and hands it to
//!   its reactor, which issues `ConnectEx`; failure is reported as `closed`
//!   with the error.
//! * Closing (by [`Backend::close`], end of stream, an error, or the backend
//!   stopping) marks the link closing, `CancelIoEx`es its pending operations
//!   and waits until every one of their packets has been dequeued (a
//!   cancelled one ends with `ERROR_OPERATION_ABORTED`, 995). Only then is
//!   the socket closed, the operations' memory freed and `closed` delivered.
//!
//! # OVERLAPPED ownership
//!
//! Each operation's `OVERLAPPED` lives at the start of a heap block together
//! with its buffers ([`OpMem`]); a link owns one block per kind of
//! operation (receive, send, connect), a listener one per `AcceptEx`. At
//! most one operation per block is in flight. The block stays allocated
//! until the reactor has dequeued the operation's completion packet; if it
//! were ever dropped while still pending it is leaked, never freed. A
//! socket's completion key is its link id (generation-tagged: ids are never
//! reused), and the `OVERLAPPED` pointer tells which of the link's blocks
//! completed, compared by address (never dereferenced as a guess).
#![allow(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::windows::io::{AsRawSocket, FromRawSocket, OwnedSocket};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE, WAIT_TIMEOUT};
use windows_sys::Win32::Networking::WinSock::{
    bind, getpeername, getsockname, listen, setsockopt, AcceptEx, WSACleanup, WSAGetLastError,
    WSAGetOverlappedResult, WSAIoctl, WSARecv, WSASend, WSASocketW, WSAStartup, AF_INET, AF_INET6,
    IN6_ADDR, IN6_ADDR_0, INVALID_SOCKET, IN_ADDR, IN_ADDR_0, IPPROTO_TCP, LPFN_CONNECTEX,
    SIO_GET_EXTENSION_FUNCTION_POINTER, SOCKADDR, SOCKADDR_IN, SOCKADDR_IN6, SOCKADDR_IN6_0,
    SOCKADDR_STORAGE, SOCKET, SOCKET_ERROR, SOCK_STREAM, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
    SO_UPDATE_CONNECT_CONTEXT, TCP_NODELAY, WSABUF, WSADATA, WSAEINVAL, WSAID_CONNECTEX,
    WSA_FLAG_NO_HANDLE_INHERIT, WSA_FLAG_OVERLAPPED, WSA_IO_PENDING,
};
use windows_sys::Win32::System::Threading::INFINITE;
use windows_sys::Win32::System::IO::{
    CancelIoEx, CreateIoCompletionPort, GetQueuedCompletionStatusEx, PostQueuedCompletionStatus,
    OVERLAPPED, OVERLAPPED_ENTRY,
};

use super::backoff::Backoff;
use super::{Backend, Config, Events, LinkId};
use std::time::Instant;

/// Completion key of the command wake-up packets (link ids start at 1).
const KEY_CMD: usize = 0;
/// Completion keys of listening sockets have this bit set (link ids never do).
const KEY_LISTENER: usize = 1 << 63;
/// Receive buffer per link.
const RECV_BUF: usize = 64 * 1024;
/// `AcceptEx` operations kept in flight per listener.
const ACCEPTS: usize = 4;
/// Buffers gathered into one `WSASend`.
const SEND_BATCH: usize = 64;
/// Bytes handed to one `WSASend` at most.
const MAX_WRITE: usize = 1 << 30;
/// Completion packets dequeued per `GetQueuedCompletionStatusEx`.
const BATCH: usize = 128;
/// Address space `AcceptEx` needs per address.
const ADDR_LEN: usize = mem::size_of::<SOCKADDR_STORAGE>() + 16;
/// Listen backlog.
const BACKLOG: i32 = 1024;

/// Starts the IOCP backend.
pub(super) fn start(events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    let wsa = Wsa::start()?;
    let n = match config.threads {
        0 => thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut ports = Vec::with_capacity(n);
    for _ in 0..n {
        // SAFETY: INVALID_HANDLE_VALUE with a null existing port asks for a
        // new port and associates no handle; no pointer is passed.
        let port = unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, ptr::null_mut(), 0, 1) };
        if port.is_null() {
            return Err(io::Error::last_os_error());
        }
        ports.push(Port(port));
    }
    let shared = Arc::new(Shared {
        reactors: ports
            .into_iter()
            .map(|port| ReactorHandle {
                port,
                cmds: Mutex::new(Vec::new()),
            })
            .collect(),
        links: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        next_listener: AtomicU64::new(0),
        events,
        max_queued_bytes: config.max_queued_bytes,
        stopped: AtomicBool::new(false),
        accept_errors: AtomicU64::new(0),
        connectex: OnceLock::new(),
        _wsa: wsa,
    });
    let mut threads = Vec::with_capacity(n);
    for index in 0..n {
        let s = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("appc-iocp-{index}"))
            .spawn(move || Reactor::new(s, index).run());
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                // Dropping the backend stops the threads already started.
                drop(Iocp {
                    shared,
                    threads: Mutex::new(threads),
                });
                return Err(e);
            }
        }
    }
    Ok(Arc::new(Iocp {
        shared,
        threads: Mutex::new(threads),
    }))
}

/// A completion port handle.
struct Port(HANDLE);

// SAFETY: a completion port handle is a kernel object handle that any thread
// may use concurrently (associate, post, dequeue); it is closed only when the
// last `Shared` goes, after every reactor thread has ended.
unsafe impl Send for Port {}
// SAFETY: as above: every operation on the handle is thread-safe.
unsafe impl Sync for Port {}

/// What the handle, the reactors and the callers share.
struct Shared {
    reactors: Vec<ReactorHandle>,
    /// Open (or connecting) links: what `send` and `close` look up. A link
    /// leaves it when it starts closing.
    links: Mutex<HashMap<u64, Arc<LinkShared>>>,
    next_id: AtomicU64,
    next_listener: AtomicU64,
    events: Arc<dyn Events>,
    max_queued_bytes: usize,
    /// Set when the backend is dropped: no event is delivered after it.
    stopped: AtomicBool,
    /// [`Backend::accept_errors`].
    accept_errors: AtomicU64,
    connectex: OnceLock<ConnectEx>,
    /// Last field: dropped after the sockets still in command queues.
    _wsa: Wsa,
}

/// `ConnectEx`, fetched once through `WSAIoctl`.
#[derive(Clone, Copy)]
struct ConnectEx(
    unsafe extern "system" fn(
        SOCKET,
        *const SOCKADDR,
        i32,
        *const core::ffi::c_void,
        u32,
        *mut u32,
        *mut OVERLAPPED,
    ) -> windows_sys::core::BOOL,
);

struct ReactorHandle {
    port: Port,
    cmds: Mutex<Vec<Cmd>>,
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the handle was created by `start` and is closed once,
        // here, when the last `Shared` goes: every reactor thread (each holds
        // an `Arc<Shared>`) has ended and no caller can post any more.
        unsafe { CloseHandle(self.0) };
    }
}

/// One `WSAStartup`, balanced by `WSACleanup` on drop.
struct Wsa;

impl Wsa {
    fn start() -> io::Result<Self> {
        let mut data = mem::MaybeUninit::<WSADATA>::uninit();
        // SAFETY: `data` is writable for a WSADATA.
        match unsafe { WSAStartup(0x202, data.as_mut_ptr()) } {
            0 => Ok(Self),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }
}

impl Drop for Wsa {
    fn drop(&mut self) {
        // SAFETY: balances the successful `WSAStartup` in `Wsa::start`.
        unsafe { WSACleanup() };
    }
}

impl Shared {
    fn reactor_of(&self, id: u64) -> usize {
        (id % self.reactors.len() as u64) as usize
    }

    /// Queues `cmd` for reactor `r`, waking it if its queue was empty.
    fn push(&self, r: usize, cmd: Cmd) {
        let reactor = &self.reactors[r];
        let mut cmds = lock(&reactor.cmds);
        let wake = cmds.is_empty();
        cmds.push(cmd);
        drop(cmds);
        if wake {
            // SAFETY: the port is open while `self` lives; a posted packet
            // carries no OVERLAPPED (null), so nothing is borrowed.
            let ok = unsafe { PostQueuedCompletionStatus(reactor.port.0, 0, KEY_CMD, ptr::null()) };
            assert!(
                ok != 0,
                "PostQueuedCompletionStatus: {}",
                io::Error::last_os_error()
            );
        }
    }

    fn link(&self, id: u64) -> Option<Arc<LinkShared>> {
        lock(&self.links).get(&id).cloned()
    }
}

/// The part of a link that `send` and `close` touch from any thread.
#[derive(Default)]
struct LinkShared {
    q: Mutex<SendQueue>,
}

#[derive(Default)]
struct SendQueue {
    bufs: VecDeque<Vec<u8>>,
    /// Bytes queued or being written.
    bytes: usize,
    /// `close` was called (or the link is closing): sends are refused.
    closed: bool,
    /// The reactor will look at `bufs` again (a wake-up command is queued,
    /// or a write is in flight), so `send` need not wake it.
    kicked: bool,
}

impl LinkShared {
    fn lock(&self) -> MutexGuard<'_, SendQueue> {
        lock(&self.q)
    }

    fn closed(&self) -> bool {
        self.lock().closed
    }
}

enum Cmd {
    /// The link's send queue has bytes.
    Send(u64),
    /// `Backend::close`.
    Close(u64),
    /// An accepted socket, associated with this reactor's port.
    Adopt {
        id: u64,
        sock: OwnedSocket,
        peer: SocketAddr,
        shared: Arc<LinkShared>,
    },
    /// A bound socket, associated with this reactor's port, to connect.
    Connect {
        id: u64,
        sock: OwnedSocket,
        addr: SocketAddr,
        shared: Arc<LinkShared>,
        connectex: ConnectEx,
    },
    /// A listening socket, associated with this reactor's port.
    Listen {
        key: usize,
        sock: OwnedSocket,
        family: u16,
    },
    /// The backend is dropped.
    Stop,
}

/// The backend handle.
struct Iocp {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Iocp {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Backend for Iocp {
    fn name(&self) -> &'static str {
        "iocp"
    }

    fn shutdown(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        for r in 0..self.shared.reactors.len() {
            self.shared.push(r, Cmd::Stop);
        }
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        let me = thread::current().id();
        for t in threads {
            // Called from a callback: that reactor ends when it returns.
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }

    fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let sock = new_socket(&addr)?;
        let (sa, len) = encode(&addr);
        // SAFETY: `sa` is a valid socket address of `len` bytes for the call.
        check(unsafe { bind(raw(&sock), sa.as_ptr(), len) })?;
        // SAFETY: plain call on an owned socket.
        check(unsafe { listen(raw(&sock), BACKLOG) })?;
        let local = local_addr(&sock)?;
        let n = self.shared.next_listener.fetch_add(1, Ordering::Relaxed);
        let key = KEY_LISTENER | n as usize;
        let r = (n % self.shared.reactors.len() as u64) as usize;
        associate(&sock, &self.shared.reactors[r].port, key)?;
        let family = if addr.is_ipv4() { AF_INET } else { AF_INET6 };
        self.shared.push(r, Cmd::Listen { key, sock, family });
        Ok(local)
    }

    fn connect(&self, addr: SocketAddr) -> io::Result<LinkId> {
        let sock = new_socket(&addr)?;
        let any = match addr {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let (sa, len) = encode(&any);
        // SAFETY: `sa` is a valid socket address of `len` bytes for the call.
        check(unsafe { bind(raw(&sock), sa.as_ptr(), len) })?;
        set_nodelay(&sock)?;
        let connectex = match self.shared.connectex.get() {
            Some(f) => *f,
            None => {
                let f = load_connectex(&sock)?;
                *self.shared.connectex.get_or_init(|| f)
            }
        };
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let r = self.shared.reactor_of(id);
        associate(&sock, &self.shared.reactors[r].port, id as usize)?;
        let shared = Arc::new(LinkShared::default());
        lock(&self.shared.links).insert(id, Arc::clone(&shared));
        self.shared.push(
            r,
            Cmd::Connect {
                id,
                sock,
                addr,
                shared,
                connectex,
            },
        );
        Ok(LinkId(id))
    }

    fn send_vectored(&self, link: LinkId, parts: Vec<Vec<u8>>) -> io::Result<()> {
        let Some(ls) = self.shared.link(link.0) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let mut q = ls.lock();
        if q.closed {
            return Err(io::ErrorKind::NotConnected.into());
        }
        if q.bytes >= self.shared.max_queued_bytes {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let len: usize = parts.iter().map(Vec::len).sum();
        if len == 0 {
            return Ok(());
        }
        q.bytes += len;
        q.bufs
            .extend(parts.into_iter().filter(|part| !part.is_empty()));
        if !q.kicked {
            q.kicked = true;
            drop(q);
            self.shared
                .push(self.shared.reactor_of(link.0), Cmd::Send(link.0));
        }
        Ok(())
    }

    fn queued(&self, link: LinkId) -> usize {
        self.shared.link(link.0).map_or(0, |ls| ls.lock().bytes)
    }

    fn accept_errors(&self) -> u64 {
        self.shared.accept_errors.load(Ordering::Relaxed)
    }

    fn close(&self, link: LinkId) {
        let Some(ls) = lock(&self.shared.links).remove(&link.0) else {
            return;
        };
        let mut q = ls.lock();
        q.closed = true;
        q.bufs.clear();
        drop(q);
        self.shared
            .push(self.shared.reactor_of(link.0), Cmd::Close(link.0));
    }
}

// ---------------------------------------------------------------------------
// Operation memory.

#[repr(C)]
struct Op<T> {
    /// First field: the OVERLAPPED pointer given to the kernel is the
    /// block's address.
    ov: OVERLAPPED,
    data: T,
}

/// The heap block of one overlapped operation: its `OVERLAPPED` and its
/// buffers. While `pending`, the kernel may write to it; it is not touched
/// through Rust references then, and it is freed only when not pending.
struct OpMem<T> {
    ptr: NonNull<Op<T>>,
    pending: bool,
}

impl<T> OpMem<T> {
    fn new(data: T) -> Self {
        let op = Box::new(Op {
            ov: OVERLAPPED::default(),
            data,
        });
        Self {
            ptr: NonNull::from(Box::leak(op)),
            pending: false,
        }
    }

    /// The operation's OVERLAPPED pointer (also its identity).
    fn ov(&self) -> *mut OVERLAPPED {
        // SAFETY: `ptr` is a live allocation (freed only in `drop`);
        // `addr_of_mut!` makes no reference, so a pending write by the
        // kernel is not aliased.
        unsafe { ptr::addr_of_mut!((*self.ptr.as_ptr()).ov) }
    }

    /// The buffers, for an operation that is not in flight.
    fn data(&mut self) -> &mut T {
        assert!(!self.pending, "operation memory touched while in flight");
        // SAFETY: live allocation, not pending: the kernel holds no pointer
        // into it, and `&mut self` makes this the only reference.
        unsafe { &mut (*self.ptr.as_ptr()).data }
    }

    /// Readies the block for a new operation: a zeroed OVERLAPPED.
    fn arm(&mut self) -> (*mut OVERLAPPED, &mut T) {
        assert!(!self.pending, "a second operation on one OVERLAPPED");
        let ov = self.ov();
        // SAFETY: live allocation and not pending: nothing else accesses it.
        unsafe { ov.write(OVERLAPPED::default()) };
        (ov, self.data())
    }

    /// The operation just started is in flight: its packet will come.
    fn started(&mut self) {
        self.pending = true;
    }

    /// Its packet was dequeued: the kernel is done with the block.
    fn completed(&mut self) {
        debug_assert!(self.pending);
        self.pending = false;
    }
}

impl<T> Drop for OpMem<T> {
    fn drop(&mut self) {
        if self.pending {
            // The kernel may still write here: leak rather than free. The
            // reactor only drops blocks whose packets it has dequeued, so
            // this is a last line of defence (e.g. a reactor that died).
            return;
        }
        // SAFETY: allocated by `Box` in `new`, not pending (no kernel
        // pointer), freed once.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

struct SendData {
    bufs: VecDeque<Vec<u8>>,
    /// Bytes of `bufs[0]` already written.
    off: usize,
}

struct AcceptData {
    sock: Option<OwnedSocket>,
    addrs: [u8; 2 * ADDR_LEN],
}

// ---------------------------------------------------------------------------
// The reactor.

enum State {
    Connecting(SocketAddr),
    Open,
    /// Waiting for the packets of its cancelled operations.
    Closing {
        error: Option<io::Error>,
        silent: bool,
    },
}

struct Link {
    sock: OwnedSocket,
    shared: Arc<LinkShared>,
    state: State,
    recv: OpMem<Vec<u8>>,
    send: OpMem<SendData>,
    conn: OpMem<()>,
}

impl Link {
    fn new(sock: OwnedSocket, shared: Arc<LinkShared>, state: State) -> Self {
        Self {
            sock,
            shared,
            state,
            recv: OpMem::new(vec![0; RECV_BUF]),
            send: OpMem::new(SendData {
                bufs: VecDeque::new(),
                off: 0,
            }),
            conn: OpMem::new(()),
        }
    }

    fn pending(&self) -> bool {
        self.recv.pending || self.send.pending || self.conn.pending
    }
}

struct Listener {
    sock: OwnedSocket,
    family: u16,
    accepts: Vec<OpMem<AcceptData>>,
    closing: bool,
    /// After an `AcceptEx` that could not be posted (no socket, no
    /// memory): when its idle slots are posted again (`backoff.rs`).
    retry: Option<Instant>,
    backoff: Backoff,
}

#[derive(Clone, Copy)]
enum Which {
    Recv,
    Send,
    Conn,
}

struct Reactor {
    shared: Arc<Shared>,
    events: Arc<dyn Events>,
    index: usize,
    port: HANDLE,
    links: HashMap<u64, Link>,
    listeners: HashMap<usize, Listener>,
    stopping: bool,
}

impl Reactor {
    fn new(shared: Arc<Shared>, index: usize) -> Self {
        Self {
            events: Arc::clone(&shared.events),
            port: shared.reactors[index].port.0,
            shared,
            index,
            links: HashMap::new(),
            listeners: HashMap::new(),
            stopping: false,
        }
    }

    fn run(mut self) {
        let mut entries = [OVERLAPPED_ENTRY::default(); BATCH];
        while !(self.stopping && self.links.is_empty() && self.listeners.is_empty()) {
            // A listener waiting to post its accepts again ends the wait.
            let timeout = self
                .listeners
                .values()
                .filter_map(|l| l.retry)
                .min()
                .map_or(INFINITE, |at| {
                    let wait = at.saturating_duration_since(Instant::now());
                    wait.as_millis().min(u128::from(INFINITE - 1)) as u32
                });
            let mut n = 0u32;
            // SAFETY: `entries` is writable for BATCH entries; the port is
            // open while `self.shared` lives.
            let ok = unsafe {
                GetQueuedCompletionStatusEx(
                    self.port,
                    entries.as_mut_ptr(),
                    BATCH as u32,
                    &mut n,
                    timeout,
                    0,
                )
            };
            // SAFETY: reads the calling thread's last error; no pointers.
            if ok == 0 && unsafe { windows_sys::Win32::Foundation::GetLastError() } == WAIT_TIMEOUT
            {
                n = 0;
            } else if ok == 0 {
                // Only a broken port fails with INFINITE; blocks still in
                // flight are leaked by `OpMem::drop`, never freed.
                tracing::error!(
                    error = %io::Error::last_os_error(),
                    "IOCP reactor stops: GetQueuedCompletionStatusEx failed"
                );
                return;
            }
            let batch = &entries[..n as usize];
            let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for e in batch {
                    match e.lpCompletionKey {
                        KEY_CMD => self.commands(),
                        key if key & KEY_LISTENER != 0 => self.accepted(key, e.lpOverlapped),
                        id => self.link_io(id as u64, e.lpOverlapped),
                    }
                }
                self.retry_accepts();
            }));
            if let Err(payload) = turn {
                // Blocks still in flight are leaked by `OpMem::drop`.
                let reason = crate::diag::panic_message(&*payload);
                tracing::error!(reason, "an IOCP reactor panicked: its links are lost");
                if live(&self.shared) {
                    self.events.failed(&reason);
                }
                return;
            }
        }
    }

    fn commands(&mut self) {
        let cmds = mem::take(&mut *lock(&self.shared.reactors[self.index].cmds));
        for cmd in cmds {
            match cmd {
                Cmd::Send(id) => self.start_send(id),
                Cmd::Close(id) => self.teardown(id, None),
                Cmd::Adopt {
                    id,
                    sock,
                    peer,
                    shared,
                } => {
                    if self.stopping {
                        continue;
                    }
                    self.links.insert(id, Link::new(sock, shared, State::Open));
                    if live(&self.shared) {
                        self.events.connected(LinkId(id), peer);
                    }
                    self.post_recv(id);
                    self.start_send(id);
                }
                Cmd::Connect {
                    id,
                    sock,
                    addr,
                    shared,
                    connectex,
                } => {
                    if self.stopping {
                        continue;
                    }
                    self.links
                        .insert(id, Link::new(sock, shared, State::Connecting(addr)));
                    self.post_connect(id, addr, connectex);
                }
                Cmd::Listen { key, sock, family } => {
                    if self.stopping {
                        continue;
                    }
                    let accepts = (0..ACCEPTS)
                        .map(|_| {
                            OpMem::new(AcceptData {
                                sock: None,
                                addrs: [0; 2 * ADDR_LEN],
                            })
                        })
                        .collect();
                    self.listeners.insert(
                        key,
                        Listener {
                            sock,
                            family,
                            accepts,
                            closing: false,
                            retry: None,
                            backoff: Backoff::default(),
                        },
                    );
                    for i in 0..ACCEPTS {
                        self.post_accept(key, i);
                    }
                }
                Cmd::Stop => self.stop(),
            }
        }
    }

    fn stop(&mut self) {
        self.stopping = true;
        let ids: Vec<u64> = self.links.keys().copied().collect();
        for id in ids {
            self.close_link(id, None, true);
        }
        let keys: Vec<usize> = self.listeners.keys().copied().collect();
        for key in keys {
            let l = self.listeners.get_mut(&key).expect("listener");
            l.closing = true;
            if l.accepts.iter().any(|a| a.pending) {
                // SAFETY: cancels this socket's operations; their blocks
                // stay allocated until their packets are dequeued.
                unsafe { CancelIoEx(raw(&l.sock) as HANDLE, ptr::null()) };
            } else {
                self.listeners.remove(&key);
            }
        }
    }

    // --- links --------------------------------------------------------------

    fn link_io(&mut self, id: u64, ov: *mut OVERLAPPED) {
        let Some(link) = self.links.get_mut(&id) else {
            debug_assert!(false, "completion for unknown link {id}");
            return;
        };
        let which = if ov == link.recv.ov() {
            link.recv.completed();
            Which::Recv
        } else if ov == link.send.ov() {
            link.send.completed();
            Which::Send
        } else if ov == link.conn.ov() {
            link.conn.completed();
            Which::Conn
        } else {
            debug_assert!(false, "foreign OVERLAPPED for link {id}");
            return;
        };
        let result = overlapped_result(&link.sock, ov);
        if let State::Closing { .. } = link.state {
            if !link.pending() {
                self.finish(id);
            }
            return;
        }
        match which {
            Which::Recv => self.received(id, result),
            Which::Send => self.sent(id, result),
            Which::Conn => self.connected(id, result),
        }
    }

    fn connected(&mut self, id: u64, result: io::Result<u32>) {
        let link = self.links.get_mut(&id).expect("link");
        let State::Connecting(peer) = link.state else {
            unreachable!("connect completion on an open link")
        };
        if let Err(e) = result {
            return self.teardown(id, Some(e));
        }
        // SAFETY: plain call on the link's socket; no option value.
        let rc = unsafe {
            setsockopt(
                raw(&link.sock),
                SOL_SOCKET,
                SO_UPDATE_CONNECT_CONTEXT,
                ptr::null(),
                0,
            )
        };
        if rc == SOCKET_ERROR {
            return self.teardown(id, Some(wsa_error()));
        }
        if link.shared.closed() {
            return self.teardown(id, None);
        }
        link.state = State::Open;
        if live(&self.shared) {
            self.events.connected(LinkId(id), peer);
        }
        self.post_recv(id);
        self.start_send(id);
    }

    fn received(&mut self, id: u64, result: io::Result<u32>) {
        let link = self.links.get_mut(&id).expect("link");
        match result {
            Ok(0) => self.teardown(id, None),
            Ok(n) => {
                if link.shared.closed() {
                    return self.teardown(id, None);
                }
                if live(&self.shared) {
                    let data = &link.recv.data()[..n as usize];
                    self.events.received(LinkId(id), data);
                }
                self.post_recv(id);
            }
            Err(e) => self.teardown(id, Some(e)),
        }
    }

    fn post_recv(&mut self, id: u64) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if !matches!(link.state, State::Open) {
            return;
        }
        if link.shared.closed() {
            return self.teardown(id, None);
        }
        let sock = raw(&link.sock);
        let (ov, buf) = link.recv.arm();
        let wsabuf = WSABUF {
            len: buf.len() as u32,
            buf: buf.as_mut_ptr(),
        };
        let mut flags = 0u32;
        // SAFETY: `wsabuf` points into the link's receive block, which stays
        // allocated and untouched until this operation's packet is dequeued
        // (OpMem); Winsock copies the WSABUF array itself before returning.
        let rc = unsafe { WSARecv(sock, &wsabuf, 1, ptr::null_mut(), &mut flags, ov, None) };
        match started(rc) {
            Ok(()) => link.recv.started(),
            Err(e) => self.teardown(id, Some(e)),
        }
    }

    fn start_send(&mut self, id: u64) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if !matches!(link.state, State::Open) || link.send.pending {
            return;
        }
        let shared = Arc::clone(&link.shared);
        let data = link.send.data();
        if data.bufs.is_empty() {
            let mut q = shared.lock();
            let take = q.bufs.len().min(SEND_BATCH);
            data.bufs.extend(q.bufs.drain(..take));
            data.off = 0;
            if data.bufs.is_empty() {
                q.kicked = false;
                return;
            }
        }
        let sock = raw(&link.sock);
        let (ov, data) = link.send.arm();
        // At most MAX_WRITE bytes per WSASend, so that lengths and the
        // transferred count fit their u32s; the rest goes next time.
        let mut room = MAX_WRITE;
        let mut bufs: Vec<WSABUF> = Vec::with_capacity(data.bufs.len());
        for (i, b) in data.bufs.iter_mut().enumerate() {
            let skip = if i == 0 { data.off } else { 0 };
            let b = &mut b[skip..];
            let len = b.len().min(room);
            if len == 0 {
                break;
            }
            room -= len;
            bufs.push(WSABUF {
                len: len as u32,
                buf: b.as_mut_ptr(),
            });
        }
        // SAFETY: the WSABUFs point into vectors owned by the link's send
        // block, which stays allocated and untouched until this operation's
        // packet is dequeued (OpMem); Winsock copies the array itself.
        let rc = unsafe {
            WSASend(
                sock,
                bufs.as_ptr(),
                bufs.len() as u32,
                ptr::null_mut(),
                0,
                ov,
                None,
            )
        };
        match started(rc) {
            Ok(()) => link.send.started(),
            Err(e) => self.teardown(id, Some(e)),
        }
    }

    fn sent(&mut self, id: u64, result: io::Result<u32>) {
        let n = match result {
            Ok(n) => n as usize,
            Err(e) => return self.teardown(id, Some(e)),
        };
        let link = self.links.get_mut(&id).expect("link");
        {
            let mut q = link.shared.lock();
            q.bytes = q.bytes.saturating_sub(n);
        }
        let data = link.send.data();
        let mut left = n;
        while left > 0 {
            let Some(front) = data.bufs.front() else {
                break;
            };
            let rest = front.len() - data.off;
            if left >= rest {
                left -= rest;
                data.bufs.pop_front();
                data.off = 0;
            } else {
                data.off += left;
                left = 0;
            }
        }
        self.start_send(id);
    }

    fn post_connect(&mut self, id: u64, addr: SocketAddr, connectex: ConnectEx) {
        let link = self.links.get_mut(&id).expect("link");
        if link.shared.closed() {
            return self.teardown(id, None);
        }
        let sock = raw(&link.sock);
        let (sa, len) = encode(&addr);
        let (ov, ()) = link.conn.arm();
        // SAFETY: `sa` is valid for the call (ConnectEx copies it); the
        // OVERLAPPED belongs to the link's connect block, which stays
        // allocated until the packet is dequeued.
        let ok =
            unsafe { (connectex.0)(sock, sa.as_ptr(), len, ptr::null(), 0, ptr::null_mut(), ov) };
        match started(if ok != 0 { 0 } else { SOCKET_ERROR }) {
            Ok(()) => link.conn.started(),
            Err(e) => self.teardown(id, Some(e)),
        }
    }

    /// A link ends by itself (end of stream, error) or by `close`.
    fn teardown(&mut self, id: u64, error: Option<io::Error>) {
        self.close_link(id, error, false);
    }

    fn close_link(&mut self, id: u64, error: Option<io::Error>, silent: bool) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if let State::Closing { silent: s, .. } = &mut link.state {
            *s |= silent;
            return;
        }
        lock(&self.shared.links).remove(&id);
        {
            let mut q = link.shared.lock();
            q.closed = true;
            q.bufs.clear();
        }
        link.state = State::Closing { error, silent };
        if link.pending() {
            // SAFETY: cancels this socket's operations; their blocks stay
            // allocated until their packets (ERROR_OPERATION_ABORTED or a
            // late success) are dequeued in `link_io`, which then finishes.
            unsafe { CancelIoEx(raw(&link.sock) as HANDLE, ptr::null()) };
        } else {
            self.finish(id);
        }
    }

    /// Every packet of a closing link is in: close its socket, free its
    /// blocks, tell the user.
    fn finish(&mut self, id: u64) {
        let link = self.links.remove(&id).expect("link");
        debug_assert!(!link.pending());
        let State::Closing { error, silent } = link.state else {
            unreachable!("finish on a live link")
        };
        drop(link.sock);
        if !silent && live(&self.shared) {
            self.events.closed(LinkId(id), error);
        }
    }

    // --- listeners ----------------------------------------------------------

    /// Listeners whose wait is over post their idle accepts again.
    fn retry_accepts(&mut self) {
        let now = Instant::now();
        let due: Vec<usize> = self
            .listeners
            .iter_mut()
            .filter(|(_, l)| !l.closing && l.retry.is_some_and(|at| at <= now))
            .map(|(&key, l)| {
                l.retry = None;
                key
            })
            .collect();
        for key in due {
            let idle: Vec<usize> = self.listeners[&key]
                .accepts
                .iter()
                .enumerate()
                .filter(|(_, a)| !a.pending)
                .map(|(i, _)| i)
                .collect();
            for i in idle {
                self.post_accept(key, i);
            }
        }
    }

    /// Posts accept `i` of listener `key`. If it cannot be posted (no
    /// socket or memory left, or `AcceptEx` refused it), the listener
    /// waits for its backoff and posts its idle accepts again then
    /// (`retry_accepts`), rather than losing the slot for good.
    fn post_accept(&mut self, key: usize, i: usize) {
        let Some(l) = self.listeners.get_mut(&key) else {
            return;
        };
        if l.retry.is_some() {
            // Paused: posted when the wait is over.
            return;
        }
        // A few tries: an immediate failure (a connection reset before it
        // was accepted) only costs this socket.
        for _ in 0..4 {
            if l.closing {
                return;
            }
            let sock = match new_socket_family(l.family) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "IOCP: no socket for AcceptEx");
                    break;
                }
            };
            let listener = raw(&l.sock);
            let accept = raw(&sock);
            let op = &mut l.accepts[i];
            let (ov, data) = op.arm();
            data.sock = Some(sock);
            let mut n = 0u32;
            // SAFETY: the address buffer and the OVERLAPPED belong to this
            // accept's block, which owns the accept socket too and stays
            // allocated until the packet is dequeued.
            let ok = unsafe {
                AcceptEx(
                    listener,
                    accept,
                    data.addrs.as_mut_ptr().cast(),
                    0,
                    ADDR_LEN as u32,
                    ADDR_LEN as u32,
                    &mut n,
                    ov,
                )
            };
            match started(if ok != 0 { 0 } else { SOCKET_ERROR }) {
                Ok(()) => return op.started(),
                Err(e) => {
                    op.data().sock = None;
                    tracing::warn!(error = %e, "IOCP: AcceptEx failed");
                }
            }
        }
        self.shared.accept_errors.fetch_add(1, Ordering::Relaxed);
        l.retry = Some(Instant::now() + l.backoff.failed());
    }

    fn accepted(&mut self, key: usize, ov: *mut OVERLAPPED) {
        let Some(l) = self.listeners.get_mut(&key) else {
            debug_assert!(false, "completion for unknown listener");
            return;
        };
        let Some(i) = l.accepts.iter().position(|a| a.ov() == ov) else {
            debug_assert!(false, "foreign OVERLAPPED for a listener");
            return;
        };
        l.accepts[i].completed();
        let result = overlapped_result(&l.sock, ov);
        let sock = l.accepts[i].data().sock.take();
        if l.closing {
            drop(sock);
            if !l.accepts.iter().any(|a| a.pending) {
                self.listeners.remove(&key);
            }
            return;
        }
        if let (Ok(_), Some(sock)) = (result, sock) {
            l.backoff.reset();
            if let Err(e) = adopt(&self.shared, &l.sock, sock) {
                tracing::warn!(error = %e, "IOCP: an accepted socket could not be set up");
            }
        }
        self.post_accept(key, i);
    }
}

/// Makes an accepted socket a link and hands it to its reactor.
fn adopt(shared: &Shared, listener: &OwnedSocket, sock: OwnedSocket) -> io::Result<()> {
    let lsock = raw(listener);
    // SAFETY: the option value is the listening socket, read during the
    // call only.
    check(unsafe {
        setsockopt(
            raw(&sock),
            SOL_SOCKET,
            SO_UPDATE_ACCEPT_CONTEXT,
            ptr::addr_of!(lsock).cast(),
            mem::size_of::<SOCKET>() as i32,
        )
    })?;
    set_nodelay(&sock)?;
    let peer = peer_addr(&sock)?;
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let r = shared.reactor_of(id);
    associate(&sock, &shared.reactors[r].port, id as usize)?;
    let link = Arc::new(LinkShared::default());
    lock(&shared.links).insert(id, Arc::clone(&link));
    shared.push(
        r,
        Cmd::Adopt {
            id,
            sock,
            peer,
            shared: link,
        },
    );
    Ok(())
}

/// Whether events may still be delivered (the backend is not dropped).
fn live(shared: &Shared) -> bool {
    !shared.stopped.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------
// Winsock helpers.

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn raw(s: &OwnedSocket) -> SOCKET {
    s.as_raw_socket() as SOCKET
}

fn wsa_error() -> io::Error {
    // SAFETY: reads the calling thread's last Winsock error.
    io::Error::from_raw_os_error(unsafe { WSAGetLastError() })
}

fn check(rc: i32) -> io::Result<()> {
    if rc == SOCKET_ERROR {
        Err(wsa_error())
    } else {
        Ok(())
    }
}

/// An overlapped call's return code: started (pending or done at once: a
/// packet comes either way) or failed (no packet comes).
fn started(rc: i32) -> io::Result<()> {
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: reads the calling thread's last Winsock error.
    match unsafe { WSAGetLastError() } {
        WSA_IO_PENDING => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// The result of a completed operation (its packet was dequeued): bytes
/// transferred, or the Winsock error (995 for a cancelled one).
fn overlapped_result(sock: &OwnedSocket, ov: *mut OVERLAPPED) -> io::Result<u32> {
    let mut bytes = 0u32;
    let mut flags = 0u32;
    // SAFETY: `ov` is a completed operation's OVERLAPPED, still allocated
    // (its block is freed only after this); no wait is asked for.
    let ok = unsafe { WSAGetOverlappedResult(raw(sock), ov, &mut bytes, 0, &mut flags) };
    if ok != 0 {
        Ok(bytes)
    } else {
        Err(wsa_error())
    }
}

fn new_socket(addr: &SocketAddr) -> io::Result<OwnedSocket> {
    new_socket_family(if addr.is_ipv4() { AF_INET } else { AF_INET6 })
}

/// An overlapped, non-inheritable TCP socket.
fn new_socket_family(family: u16) -> io::Result<OwnedSocket> {
    let flags = WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT;
    // SAFETY: no protocol info pointer; plain arguments.
    let mut s = unsafe {
        WSASocketW(
            family.into(),
            SOCK_STREAM,
            IPPROTO_TCP,
            ptr::null(),
            0,
            flags,
        )
    };
    // SAFETY: reads the calling thread's last Winsock error.
    if s == INVALID_SOCKET && unsafe { WSAGetLastError() } == WSAEINVAL {
        // Older systems lack WSA_FLAG_NO_HANDLE_INHERIT.
        // SAFETY: as above.
        s = unsafe {
            WSASocketW(
                family.into(),
                SOCK_STREAM,
                IPPROTO_TCP,
                ptr::null(),
                0,
                WSA_FLAG_OVERLAPPED,
            )
        };
    }
    if s == INVALID_SOCKET {
        return Err(wsa_error());
    }
    // SAFETY: `s` is a fresh socket owned by nobody else.
    Ok(unsafe { OwnedSocket::from_raw_socket(s as _) })
}

fn set_nodelay(s: &OwnedSocket) -> io::Result<()> {
    let on: i32 = 1;
    // SAFETY: the option value is an i32 read during the call only.
    check(unsafe {
        setsockopt(
            raw(s),
            IPPROTO_TCP,
            TCP_NODELAY,
            ptr::addr_of!(on).cast(),
            4,
        )
    })
}

/// Associates `s` with `port` under `key`.
fn associate(s: &OwnedSocket, port: &Port, key: usize) -> io::Result<()> {
    // SAFETY: both handles are open; the association lasts as long as the
    // socket, whose packets carry `key`.
    let r = unsafe { CreateIoCompletionPort(raw(s) as HANDLE, port.0, key, 0) };
    if r.is_null() {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn load_connectex(s: &OwnedSocket) -> io::Result<ConnectEx> {
    let guid = WSAID_CONNECTEX;
    let mut f: LPFN_CONNECTEX = None;
    let mut n = 0u32;
    // SAFETY: the in buffer is the GUID, the out buffer one function
    // pointer, both valid for the (synchronous) call.
    let rc = unsafe {
        WSAIoctl(
            raw(s),
            SIO_GET_EXTENSION_FUNCTION_POINTER,
            ptr::addr_of!(guid).cast(),
            mem::size_of_val(&guid) as u32,
            ptr::addr_of_mut!(f).cast(),
            mem::size_of::<LPFN_CONNECTEX>() as u32,
            &mut n,
            ptr::null_mut(),
            None,
        )
    };
    check(rc)?;
    f.map(ConnectEx)
        .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "no ConnectEx"))
}

/// Room for an IPv4 or IPv6 socket address.
#[repr(C)]
union SockAddr {
    v4: SOCKADDR_IN,
    v6: SOCKADDR_IN6,
    any: SOCKADDR_STORAGE,
}

impl SockAddr {
    fn as_ptr(&self) -> *const SOCKADDR {
        ptr::from_ref(self).cast()
    }
}

fn encode(addr: &SocketAddr) -> (SockAddr, i32) {
    match addr {
        SocketAddr::V4(a) => {
            let v4 = SOCKADDR_IN {
                sin_family: AF_INET,
                sin_port: a.port().to_be(),
                sin_addr: IN_ADDR {
                    S_un: IN_ADDR_0 {
                        S_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                },
                sin_zero: [0; 8],
            };
            (SockAddr { v4 }, mem::size_of::<SOCKADDR_IN>() as i32)
        }
        SocketAddr::V6(a) => {
            let v6 = SOCKADDR_IN6 {
                sin6_family: AF_INET6,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: IN6_ADDR {
                    u: IN6_ADDR_0 {
                        Byte: a.ip().octets(),
                    },
                },
                Anonymous: SOCKADDR_IN6_0 {
                    sin6_scope_id: a.scope_id(),
                },
            };
            (SockAddr { v6 }, mem::size_of::<SOCKADDR_IN6>() as i32)
        }
    }
}

fn decode(sa: &SockAddr) -> io::Result<SocketAddr> {
    // SAFETY: `any` was fully initialised (zeroed) before the kernel filled
    // it, and every field of these plain C structs is valid for any bits.
    unsafe {
        match sa.any.ss_family {
            AF_INET => {
                let a = &sa.v4;
                let ip = Ipv4Addr::from(a.sin_addr.S_un.S_addr.to_ne_bytes());
                Ok(SocketAddrV4::new(ip, u16::from_be(a.sin_port)).into())
            }
            AF_INET6 => {
                let a = &sa.v6;
                let ip = Ipv6Addr::from(a.sin6_addr.u.Byte);
                let port = u16::from_be(a.sin6_port);
                Ok(SocketAddrV6::new(ip, port, a.sin6_flowinfo, a.Anonymous.sin6_scope_id).into())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unknown address family",
            )),
        }
    }
}

fn peer_addr(s: &OwnedSocket) -> io::Result<SocketAddr> {
    let mut sa = SockAddr {
        any: SOCKADDR_STORAGE::default(),
    };
    let mut len = mem::size_of::<SockAddr>() as i32;
    // SAFETY: `sa` is writable for `len` bytes.
    check(unsafe { getpeername(raw(s), ptr::addr_of_mut!(sa).cast(), &mut len) })?;
    decode(&sa)
}

fn local_addr(s: &OwnedSocket) -> io::Result<SocketAddr> {
    let mut sa = SockAddr {
        any: SOCKADDR_STORAGE::default(),
    };
    let mut len = mem::size_of::<SockAddr>() as i32;
    // SAFETY: `sa` is writable for `len` bytes.
    check(unsafe { getsockname(raw(s), ptr::addr_of_mut!(sa).cast(), &mut len) })?;
    decode(&sa)
}
