//! A reactor's links: what it keeps for each, the handler's view of them
//! ([`LinkIo`], the [`Io`] it is given), and the operations the reactor
//! issues for them and what their packets mean.
//!
//! Per link at most one operation of each kind is in flight: a
//! `ConnectEx`, a `WSARecv` into the link's receive block, and a `WSASend`
//! of the link's output from its first unwritten byte (one at a time keeps
//! the stream in order across partial sends). The bytes a send reads are
//! the output's flight buffer, which nothing touches until its packet
//! ([`Output`]).
//!
//! Closing (asked for, the peer's end of stream, or an error) is
//! two-phase: the link is marked with the reason, its unsent output is
//! dropped, and its operations in flight are cancelled (`CancelIoEx`).
//! Only when the last of their packets has been dequeued is the socket
//! closed, the link's memory freed and `closed` reported.

use rustc_hash::FxHashMap;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::windows::io::OwnedSocket;
use std::ptr;

use windows_sys::Win32::Networking::WinSock::{WSARecv, WSASend, SOCKET_ERROR, WSABUF};
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::op::OpMem;
use super::reactor::Reactor;
use super::sys::{self, ConnectEx};
use super::{Doorbell, Key};
use crate::backend::effects::Effects;
use crate::backend::links::split;
use crate::backend::output::Output;
use crate::backend::sink::Sink;
use crate::backend::{Handler, Io, LinkId};

/// Receive buffer per link.
const RECV_BUF: usize = 64 * 1024;
/// Bytes handed to one `WSASend` at most; the rest goes with the next. A
/// send's bytes count as unwritten ([`Io::queued`], the output limit)
/// until its packet comes, though the kernel may have taken most of them
/// long before, and a close cannot take them back: the cap bounds both
/// (under Wine, a close after one 3.5 MiB send let all of it through).
const MAX_WRITE: usize = 256 * 1024;

/// One TCP link on the reactor.
#[derive(Debug)]
pub(super) struct Link {
    pub(super) id: LinkId,
    pub(super) sock: OwnedSocket,
    peer: SocketAddr,
    /// The connect's block, from `Io::connect` until its packet.
    conn: Option<OpMem<()>>,
    recv: OpMem<Vec<u8>>,
    send: OpMem<()>,
    output: Output,
    /// The output has bytes the reactor has not looked at yet.
    pub(super) dirty: bool,
    /// Set once closing starts: the error to report (`None`: a clean end).
    pub(super) closing: Option<Option<io::Error>>,
}

impl Link {
    pub(super) fn new(id: LinkId, sock: OwnedSocket, peer: SocketAddr) -> Self {
        Self {
            id,
            sock,
            peer,
            conn: None,
            recv: OpMem::new(vec![0; RECV_BUF]),
            send: OpMem::new(()),
            output: Output::default(),
            dirty: false,
            closing: None,
        }
    }

    pub(super) fn pending(&self) -> bool {
        self.recv.pending() || self.send.pending() || self.conn.as_ref().is_some_and(OpMem::pending)
    }

    /// Which of the link's operations `ov` is; marks it completed.
    pub(super) fn completed(&mut self, ov: *mut OVERLAPPED) -> Option<Which> {
        if self.recv.completed(ov) {
            Some(Which::Recv)
        } else if self.send.completed(ov) {
            Some(Which::Send)
        } else if self.conn.as_mut().is_some_and(|conn| conn.completed(ov)) {
            Some(Which::Conn)
        } else {
            None
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if self.send.pending() {
            // A send the reactor could not wait out reads the flight
            // buffer: leak it with the send's block (the socket closes).
            mem::forget(mem::take(&mut self.output));
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Which {
    Recv,
    Send,
    Conn,
}

/// The reactor's links, as its handler acts on them.
pub(super) struct LinkIo<'a> {
    pub(super) index: usize,
    pub(super) links: &'a mut FxHashMap<u32, Link>,
    pub(super) effects: &'a mut Effects,
    pub(super) sink: &'a Sink,
    pub(super) doorbell: &'a Doorbell,
    pub(super) connectex: &'a mut Option<ConnectEx>,
    pub(super) max_queued: usize,
}

impl LinkIo<'_> {
    /// Link `id`, unless it is gone or closing.
    fn live(links: &mut FxHashMap<u32, Link>, id: LinkId) -> Option<&mut Link> {
        links
            .get_mut(&split(id).0)
            .filter(|link| link.id == id && link.closing.is_none())
    }

    /// A socket for `ConnectEx` to `addr`, associated with this reactor
    /// under the key of `id`.
    fn connector(&mut self, addr: SocketAddr, id: LinkId) -> io::Result<OwnedSocket> {
        let sock = sys::connector(&addr)?;
        if self.connectex.is_none() {
            *self.connectex = Some(ConnectEx::load(&sock)?);
        }
        self.doorbell
            .port
            .associate(&sock, Key::Link(split(id).0).encode())?;
        Ok(sock)
    }
}

impl Io for LinkIo<'_> {
    fn output(&mut self, id: LinkId) -> Option<&mut Vec<u8>> {
        let max = self.max_queued;
        let link = Self::live(self.links, id)?;
        self.effects
            .output(id, split(id).0, &mut link.output, &mut link.dirty, max)
    }

    fn queued(&self, id: LinkId) -> usize {
        self.links
            .get(&split(id).0)
            .filter(|link| link.id == id)
            .map_or(0, |link| link.output.unwritten())
    }

    fn connect(&mut self, addr: SocketAddr) -> io::Result<LinkId> {
        let id = self.sink.links.open(self.index);
        let sock = match self.connector(addr, id) {
            Ok(sock) => sock,
            Err(error) => {
                // Never announced, so no call is owed for it.
                self.sink.links.release(id);
                return Err(error);
            }
        };
        let slot = split(id).0;
        let mut link = Link::new(id, sock, addr);
        link.conn = Some(OpMem::new(()));
        self.links.insert(slot, link);
        self.effects.connects.push(slot);
        Ok(id)
    }

    fn close(&mut self, id: LinkId) {
        if Self::live(self.links, id).is_some() && !self.effects.closing(id) {
            self.effects.closes.push((id, None));
        }
    }
}

impl Reactor {
    /// A socket accepted on a listener becomes a link of this reactor.
    pub(super) fn adopt(&mut self, handler: &mut dyn Handler, sock: OwnedSocket, peer: SocketAddr) {
        let id = self.sink.links.open(self.index);
        let slot = split(id).0;
        if let Err(error) = self
            .doorbell
            .port
            .associate(&sock, Key::Link(slot).encode())
        {
            // Never announced, so no call is owed for it.
            tracing::warn!(%error, "IOCP: an accepted socket cannot be associated");
            self.sink.links.release(id);
            return;
        }
        self.links.insert(slot, Link::new(id, sock, peer));
        handler.connected(&mut self.io(), id, peer);
        self.post_recv(slot);
        self.effects(handler);
        self.maybe_finish(handler, slot);
    }

    pub(super) fn post_connect(&mut self, slot: u32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        let (Some(conn), None, Some(connectex)) = (&mut link.conn, &link.closing, self.connectex)
        else {
            return;
        };
        if conn.pending() {
            return;
        }
        let sa = sys::encode(&link.peer);
        let (ov, ()) = conn.arm();
        // SAFETY: `sa` is valid for the call (ConnectEx copies it); the
        // OVERLAPPED is the connect block's, which the link keeps until
        // the packet is dequeued (or leaks, `OpMem`).
        let ok = unsafe {
            (connectex.0)(
                sys::raw(&link.sock),
                sa.as_ptr(),
                sa.len(),
                ptr::null(),
                0,
                ptr::null_mut(),
                ov,
            )
        };
        match sys::started(ok != 0) {
            Ok(()) => conn.started(),
            Err(error) => self.begin_close(slot, Some(error)),
        }
    }

    pub(super) fn connected(
        &mut self,
        handler: &mut dyn Handler,
        slot: u32,
        result: io::Result<u32>,
    ) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        // Done with (not pending): freed.
        link.conn = None;
        if let Err(error) = result.and_then(|_| sys::update_connect_context(&link.sock)) {
            return self.begin_close(slot, Some(error));
        }
        let (id, peer) = (link.id, link.peer);
        handler.connected(&mut self.io(), id, peer);
        self.post_recv(slot);
        self.arm_send(slot);
    }

    pub(super) fn post_recv(&mut self, slot: u32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if link.recv.pending() || link.conn.is_some() || link.closing.is_some() {
            return;
        }
        let sock = sys::raw(&link.sock);
        let (ov, buf) = link.recv.arm();
        let wsabuf = WSABUF {
            len: buf.len() as u32,
            buf: buf.as_mut_ptr(),
        };
        let mut flags = 0u32;
        // SAFETY: `wsabuf` points into the link's receive block, which stays
        // allocated and untouched until this operation's packet is dequeued
        // (`OpMem`); Winsock copies the WSABUF array itself before returning.
        let rc = unsafe { WSARecv(sock, &wsabuf, 1, ptr::null_mut(), &mut flags, ov, None) };
        match sys::started(rc != SOCKET_ERROR) {
            Ok(()) => link.recv.started(),
            Err(error) => self.begin_close(slot, Some(error)),
        }
    }

    pub(super) fn received(
        &mut self,
        handler: &mut dyn Handler,
        slot: u32,
        result: io::Result<u32>,
    ) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        match result {
            Ok(0) => self.begin_close(slot, None),
            Ok(n) => {
                let id = link.id;
                // Out of the link while the handler, which sees the links
                // through `io`, reads it.
                let buffer = mem::take(link.recv.data());
                handler.received(&mut self.io(), id, &buffer[..n as usize]);
                if let Some(link) = self.links.get_mut(&slot) {
                    *link.recv.data() = buffer;
                }
                self.post_recv(slot);
            }
            Err(error) => self.begin_close(slot, Some(error)),
        }
    }

    pub(super) fn arm_send(&mut self, slot: u32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if link.send.pending() || link.conn.is_some() || link.closing.is_some() {
            return;
        }
        let bytes = link.output.next();
        if bytes.is_empty() {
            return;
        }
        let wsabuf = WSABUF {
            len: bytes.len().min(MAX_WRITE) as u32,
            buf: bytes.as_ptr().cast_mut(),
        };
        let sock = sys::raw(&link.sock);
        let (ov, ()) = link.send.arm();
        // SAFETY: the bytes are the output's flight buffer, which nothing
        // changes, moves or frees while the send is pending (appends go to
        // the other buffer; a link dropped with its send pending leaks it),
        // and the OVERLAPPED is the send block's (`OpMem`). Winsock only
        // reads the buffer, and copies the WSABUF array before returning.
        let rc = unsafe { WSASend(sock, &wsabuf, 1, ptr::null_mut(), 0, ov, None) };
        match sys::started(rc != SOCKET_ERROR) {
            Ok(()) => link.send.started(),
            Err(error) => self.begin_close(slot, Some(error)),
        }
    }

    pub(super) fn sent(&mut self, slot: u32, result: io::Result<u32>) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        match result {
            Ok(n) => {
                link.output.advance(n as usize);
                self.arm_send(slot);
            }
            Err(error) => self.begin_close(slot, Some(error)),
        }
    }

    /// Starts closing `slot` (the first reason wins): drops its unsent
    /// output and cancels its operations; [`maybe_finish`](Self::maybe_finish)
    /// ends it.
    pub(super) fn begin_close(&mut self, slot: u32, reason: Option<io::Error>) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if link.closing.is_some() {
            return;
        }
        link.closing = Some(reason);
        // The flight stays until its send's packet (the kernel reads it).
        link.output.drop_pending();
        if link.pending() {
            sys::cancel(&link.sock);
        }
    }

    /// Ends a closing link whose operations have all completed, exactly
    /// once: closes its socket, then reports it (unless the backend is
    /// stopping).
    pub(super) fn maybe_finish(&mut self, handler: &mut dyn Handler, slot: u32) {
        let done = self
            .links
            .get(&slot)
            .is_some_and(|link| link.closing.is_some() && !link.pending());
        if !done {
            return;
        }
        if let Some(mut link) = self.links.remove(&slot) {
            let reason = link.closing.take().flatten();
            let id = link.id;
            drop(link);
            self.sink.links.release(id);
            if !self.sink.is_stopped() {
                handler.closed(&mut self.io(), id, reason);
                self.effects(handler);
            }
        }
    }
}
