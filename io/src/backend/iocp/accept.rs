//! A reactor's listeners: each keeps [`ACCEPTS`] `AcceptEx` operations in
//! flight, on the reactor it was dealt to, whose handler gets the links.
//!
//! `AcceptEx` rather than a blocking accept thread: no thread per
//! listener, nothing to wake when the backend stops (pending accepts are
//! cancelled like any other operation), and accepted sockets are born
//! overlapped. An accept that cannot be posted for want of resources (no
//! socket, no memory) pauses the listener for its backoff (`backoff.rs`);
//! its idle accepts are posted again when the wait is over. An accept that
//! completes with an error is a connection's own (reset before it was
//! taken): counted, logged, and posted again at once.

use std::net::SocketAddr;
use std::os::windows::io::OwnedSocket;
use std::sync::atomic::Ordering;
use std::time::Instant;
use std::{io, mem};

use windows_sys::Win32::Networking::WinSock::{AcceptEx, SOCKADDR_STORAGE};
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::op::OpMem;
use super::reactor::{unexpected, Reactor};
use super::sys;
use crate::backend::backoff::Backoff;
use crate::backend::Handler;
use crate::diag::{limited, Limits};

/// `AcceptEx` operations kept in flight per listener.
const ACCEPTS: usize = 4;
/// Address space `AcceptEx` needs per address.
const ADDR_LEN: usize = mem::size_of::<SOCKADDR_STORAGE>() + 16;
/// Tries to post one accept: an immediate failure (a connection reset
/// before it was accepted) only costs its socket.
const TRIES: usize = 4;

/// One accept's block: the socket it accepts into, and where `AcceptEx`
/// writes the addresses.
#[derive(Debug)]
struct AcceptData {
    sock: Option<OwnedSocket>,
    addrs: [u8; 2 * ADDR_LEN],
}

/// A listening socket and its accepts.
#[derive(Debug)]
pub(super) struct Listener {
    /// Its number ([`Key::Listener`](super::Key::Listener)).
    number: usize,
    pub(super) sock: OwnedSocket,
    family: socket2::Domain,
    accepts: Vec<OpMem<AcceptData>>,
    /// Paused until then: idle accepts are posted again at that time.
    pub(super) retry: Option<Instant>,
    backoff: Backoff,
    log: Limits,
}

impl Listener {
    pub(super) fn pending(&self) -> bool {
        self.accepts.iter().any(OpMem::pending)
    }

    /// The accept `ov` is, marked completed, and the socket it took.
    fn completed(&mut self, ov: *mut OVERLAPPED) -> Option<(usize, Option<OwnedSocket>)> {
        let i = self.accepts.iter_mut().position(|a| a.completed(ov))?;
        Some((i, self.accepts[i].data().sock.take()))
    }
}

impl Reactor {
    /// Starts accepting on `sock`, listener `number`, already associated
    /// under its key.
    pub(super) fn listen(&mut self, number: usize, sock: OwnedSocket, family: socket2::Domain) {
        let addr = sys::local_addr(&sock).ok();
        let accepts = (0..ACCEPTS)
            .map(|_| {
                OpMem::new(AcceptData {
                    sock: None,
                    addrs: [0; 2 * ADDR_LEN],
                })
            })
            .collect();
        self.listeners.push(Listener {
            number,
            sock,
            family,
            accepts,
            retry: None,
            backoff: Backoff::default(),
            log: Limits::new(tracing::warn_span!(parent: None, "listener", ?addr)),
        });
        let l = self.listeners.len() - 1;
        for i in 0..ACCEPTS {
            self.post_accept(l, i);
        }
    }

    /// Paused listeners whose wait is over post their idle accepts again.
    pub(super) fn retry_accepts(&mut self) {
        let now = Instant::now();
        for l in 0..self.listeners.len() {
            let listener = &mut self.listeners[l];
            if listener.retry.is_some_and(|at| at <= now) {
                listener.retry = None;
                for i in 0..ACCEPTS {
                    if !self.listeners[l].accepts[i].pending() {
                        self.post_accept(l, i);
                    }
                }
            }
        }
    }

    /// Posts accept `i` of listener `l`; if it cannot be (no socket or
    /// memory left, or `AcceptEx` refused it), pauses the listener.
    fn post_accept(&mut self, l: usize, i: usize) {
        let listener = &mut self.listeners[l];
        if listener.retry.is_some() {
            // Paused: posted when the wait is over.
            return;
        }
        let mut error = None;
        for _ in 0..TRIES {
            let sock = match sys::new_socket(listener.family) {
                Ok(sock) => sock,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            let (listening, accepting) = (sys::raw(&listener.sock), sys::raw(&sock));
            let op = &mut listener.accepts[i];
            let (ov, data) = op.arm();
            data.sock = Some(sock);
            let mut n = 0u32;
            // SAFETY: the address buffer and the OVERLAPPED belong to this
            // accept's block, which owns the accepting socket too and stays
            // allocated until the packet is dequeued (`OpMem`).
            let ok = unsafe {
                AcceptEx(
                    listening,
                    accepting,
                    data.addrs.as_mut_ptr().cast(),
                    0,
                    ADDR_LEN as u32,
                    ADDR_LEN as u32,
                    &mut n,
                    ov,
                )
            };
            match sys::started(ok != 0) {
                Ok(()) => return op.started(),
                Err(e) => {
                    op.data().sock = None;
                    error = Some(e);
                }
            }
        }
        self.sink.accept_errors.fetch_add(1, Ordering::Relaxed);
        let listener = &mut self.listeners[l];
        let wait = listener.backoff.failed();
        listener.retry = Some(Instant::now() + wait);
        let error = error.map(|e| e.to_string());
        limited!(
            warn,
            &mut listener.log,
            "accept",
            ?error,
            ?wait,
            "IOCP: no accept could be posted; pausing"
        );
    }

    /// An accept's packet.
    pub(super) fn accepted(
        &mut self,
        handler: &mut dyn Handler,
        number: usize,
        ov: *mut OVERLAPPED,
    ) {
        let Some(l) = self.listeners.iter().position(|l| l.number == number) else {
            return unexpected("a packet for an unknown listener");
        };
        let listener = &mut self.listeners[l];
        let Some((i, sock)) = listener.completed(ov) else {
            return unexpected("a foreign OVERLAPPED for a listener");
        };
        if self.sink.is_stopped() {
            return;
        }
        let result = sys::overlapped_result(&listener.sock, ov);
        match (result, sock) {
            (Ok(_), Some(sock)) => {
                listener.backoff.reset();
                match set_up(&sock, &listener.sock) {
                    Ok(peer) => self.adopt(handler, sock, peer),
                    // A peer that already reset has no address: dropped
                    // unannounced.
                    Err(error) => tracing::debug!(%error, "IOCP: an accepted socket is gone"),
                }
            }
            (result, _) => {
                self.sink.accept_errors.fetch_add(1, Ordering::Relaxed);
                let error = result.err().map(|e| e.to_string());
                limited!(warn, &mut listener.log, "accept", ?error, "accept failed");
            }
        }
        self.post_accept(l, i);
    }

    /// Marks an accept whose packet came after the handler is gone done.
    pub(super) fn settle_accept(&mut self, number: usize, ov: *mut OVERLAPPED) {
        if let Some(listener) = self.listeners.iter_mut().find(|l| l.number == number) {
            listener.completed(ov);
        }
    }
}

/// An accepted socket made usable: the listener's context, no Nagle; its
/// peer's address.
fn set_up(sock: &OwnedSocket, listener: &OwnedSocket) -> io::Result<SocketAddr> {
    sys::update_accept_context(sock, listener)?;
    sys::set_nodelay(sock)?;
    sys::peer_addr(sock)
}
