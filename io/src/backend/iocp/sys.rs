//! The Win32 and Winsock calls the IOCP reactors make that hand the kernel
//! no memory beyond the call: completion ports, `ConnectEx`'s lookup, an
//! operation's result, and socket setup. The overlapped calls themselves
//! (`WSARecv`, `WSASend`, `AcceptEx`, `ConnectEx`) are made where the
//! memory they lend is owned, in `reactor.rs`, `link.rs` and `accept.rs`.
//!
//! Sockets are made, bound, configured and asked for their addresses
//! through `socket2`, as the Linux backends do: its `Socket::new` on
//! Windows is `WSASocketW` with `WSA_FLAG_OVERLAPPED` and
//! `WSA_FLAG_NO_HANDLE_INHERIT`, which is what an IOCP socket needs, and
//! its `SockAddr` is the `sockaddr` `ConnectEx` takes. Only the two
//! options `socket2` does not know (`SO_UPDATE_ACCEPT_CONTEXT`,
//! `SO_UPDATE_CONNECT_CONTEXT`) are set here by hand.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::windows::io::{AsRawSocket, OwnedSocket};
use std::ptr;

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, HANDLE, INVALID_HANDLE_VALUE, WAIT_TIMEOUT,
};
use windows_sys::Win32::Networking::WinSock::{
    setsockopt, WSACleanup, WSAGetLastError, WSAGetOverlappedResult, WSAIoctl, WSAStartup,
    LPFN_CONNECTEX, SIO_GET_EXTENSION_FUNCTION_POINTER, SOCKADDR, SOCKET, SOCKET_ERROR, SOL_SOCKET,
    SO_UPDATE_ACCEPT_CONTEXT, SO_UPDATE_CONNECT_CONTEXT, WSADATA, WSAID_CONNECTEX, WSA_IO_PENDING,
};
use windows_sys::Win32::System::IO::{
    CancelIoEx, CreateIoCompletionPort, GetQueuedCompletionStatusEx, PostQueuedCompletionStatus,
    OVERLAPPED, OVERLAPPED_ENTRY,
};

/// Listen backlog.
const BACKLOG: i32 = 1024;

/// One `WSAStartup`, balanced by `WSACleanup` when dropped (after every
/// socket of the backend is closed: the backend and each reactor hold it).
#[derive(Debug)]
pub(super) struct Wsa(());

impl Wsa {
    pub(super) fn start() -> io::Result<Self> {
        let mut data = mem::MaybeUninit::<WSADATA>::uninit();
        // SAFETY: `data` is writable for a WSADATA.
        match unsafe { WSAStartup(0x202, data.as_mut_ptr()) } {
            0 => Ok(Self(())),
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

/// A completion port, closed when dropped.
#[derive(Debug)]
pub(super) struct Port(HANDLE);

// SAFETY: a completion port handle is a kernel object handle that any thread
// may use concurrently (associate, post, dequeue).
unsafe impl Send for Port {}
// SAFETY: as above: every operation on the handle is thread-safe.
unsafe impl Sync for Port {}

impl Port {
    pub(super) fn new() -> io::Result<Self> {
        // SAFETY: INVALID_HANDLE_VALUE with a null existing port asks for a
        // new port and associates no handle; no pointer is passed.
        let port = unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, ptr::null_mut(), 0, 1) };
        if port.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(port))
    }

    /// Associates `socket` with the port: its operations' packets come
    /// here, carrying `key`.
    pub(super) fn associate(&self, socket: &OwnedSocket, key: usize) -> io::Result<()> {
        // SAFETY: both handles are open; no pointer is passed.
        let port = unsafe { CreateIoCompletionPort(raw(socket) as HANDLE, self.0, key, 0) };
        if port.is_null() {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Queues a packet with `key` and no operation.
    pub(super) fn post(&self, key: usize) -> io::Result<()> {
        // SAFETY: the port is open while `self` lives; the packet carries no
        // OVERLAPPED (null), so nothing is borrowed.
        if unsafe { PostQueuedCompletionStatus(self.0, 0, key, ptr::null()) } == 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Dequeues up to `entries.len()` packets, waiting up to `timeout_ms`
    /// (`INFINITE`: no limit) for the first; 0 when the wait timed out.
    pub(super) fn wait(
        &self,
        entries: &mut [OVERLAPPED_ENTRY],
        timeout_ms: u32,
    ) -> io::Result<usize> {
        let mut n = 0u32;
        let room = u32::try_from(entries.len()).unwrap_or(u32::MAX);
        // SAFETY: `entries` is writable for `room` entries; the port is open
        // while `self` lives.
        let ok = unsafe {
            GetQueuedCompletionStatusEx(self.0, entries.as_mut_ptr(), room, &mut n, timeout_ms, 0)
        };
        if ok != 0 {
            return Ok(n as usize);
        }
        // SAFETY: reads the calling thread's last error; no pointers.
        match unsafe { GetLastError() } {
            WAIT_TIMEOUT => Ok(0),
            e => Err(io::Error::from_raw_os_error(e as i32)),
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the handle was created by `Port::new` and is closed once,
        // here; whoever could post to it or wait on it holds the `Port`.
        unsafe { CloseHandle(self.0) };
    }
}

/// `ConnectEx`, fetched through `WSAIoctl` (once per reactor).
#[derive(Clone, Copy, Debug)]
pub(super) struct ConnectEx(
    pub(super)  unsafe extern "system" fn(
        SOCKET,
        *const SOCKADDR,
        i32,
        *const core::ffi::c_void,
        u32,
        *mut u32,
        *mut OVERLAPPED,
    ) -> windows_sys::core::BOOL,
);

impl ConnectEx {
    pub(super) fn load(s: &OwnedSocket) -> io::Result<Self> {
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
        f.map(Self)
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "no ConnectEx"))
    }
}

pub(super) fn raw(s: &OwnedSocket) -> SOCKET {
    s.as_raw_socket() as SOCKET
}

pub(super) fn wsa_error() -> io::Error {
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

/// An overlapped call's outcome, from whether it succeeded at once:
/// started (pending, or done at once: a packet comes either way) or
/// failed (no packet comes).
pub(super) fn started(done: bool) -> io::Result<()> {
    if done {
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
pub(super) fn overlapped_result(sock: &OwnedSocket, ov: *mut OVERLAPPED) -> io::Result<u32> {
    let mut bytes = 0u32;
    let mut flags = 0u32;
    // SAFETY: `ov` is a completed operation's OVERLAPPED, still allocated
    // (the caller frees its block only after this); no wait is asked for.
    let ok = unsafe { WSAGetOverlappedResult(raw(sock), ov, &mut bytes, 0, &mut flags) };
    if ok != 0 {
        Ok(bytes)
    } else {
        Err(wsa_error())
    }
}

/// Cancels every operation in flight on `sock`; each still ends with a
/// packet (`ERROR_OPERATION_ABORTED`, or its result if it was done).
pub(super) fn cancel(sock: &OwnedSocket) {
    // SAFETY: a null OVERLAPPED names every operation of the handle; the
    // call touches no memory of theirs.
    unsafe { CancelIoEx(raw(sock) as HANDLE, ptr::null()) };
}

pub(super) fn family(addr: &SocketAddr) -> Domain {
    Domain::for_address(*addr)
}

/// An overlapped, non-inheritable TCP socket (`socket2` asks `WSASocketW`
/// for both flags).
pub(super) fn new_socket(family: Domain) -> io::Result<OwnedSocket> {
    Socket::new(family, Type::STREAM, Some(Protocol::TCP)).map(OwnedSocket::from)
}

/// A socket bound to `addr` and listening; its bound address.
pub(super) fn listener(addr: &SocketAddr) -> io::Result<(OwnedSocket, SocketAddr)> {
    let sock = Socket::new(family(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.bind(&SockAddr::from(*addr))?;
    sock.listen(BACKLOG)?;
    let local = inet(sock.local_addr()?)?;
    Ok((sock.into(), local))
}

/// A socket ready for `ConnectEx` to `addr`: bound to the wildcard
/// address of its family (`ConnectEx` requires a bound socket), no Nagle.
pub(super) fn connector(addr: &SocketAddr) -> io::Result<OwnedSocket> {
    let sock = Socket::new(family(addr), Type::STREAM, Some(Protocol::TCP))?;
    let any = match addr {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    sock.bind(&SockAddr::from(any))?;
    sock.set_tcp_nodelay(true)?;
    Ok(sock.into())
}

pub(super) fn set_nodelay(s: &OwnedSocket) -> io::Result<()> {
    SockRef::from(s).set_tcp_nodelay(true)
}

/// Gives a socket `AcceptEx` accepted on `listener` the listener's
/// properties, so that `getpeername` and the like work on it.
pub(super) fn update_accept_context(s: &OwnedSocket, listener: &OwnedSocket) -> io::Result<()> {
    let listener = raw(listener);
    // SAFETY: the option value is the listening socket, read during the
    // call only.
    check(unsafe {
        setsockopt(
            raw(s),
            SOL_SOCKET,
            SO_UPDATE_ACCEPT_CONTEXT,
            ptr::addr_of!(listener).cast(),
            mem::size_of::<SOCKET>() as i32,
        )
    })
}

/// The same for a socket `ConnectEx` connected.
pub(super) fn update_connect_context(s: &OwnedSocket) -> io::Result<()> {
    // SAFETY: plain call on the socket; no option value.
    check(unsafe {
        setsockopt(
            raw(s),
            SOL_SOCKET,
            SO_UPDATE_CONNECT_CONTEXT,
            ptr::null(),
            0,
        )
    })
}

/// A socket address in the form `ConnectEx` takes: `as_ptr` and `len`
/// (valid while the `Encoded` lives).
#[derive(Debug)]
pub(super) struct Encoded(SockAddr);

impl Encoded {
    pub(super) fn as_ptr(&self) -> *const SOCKADDR {
        self.0.as_ptr().cast()
    }

    pub(super) fn len(&self) -> i32 {
        self.0.len()
    }
}

pub(super) fn encode(addr: &SocketAddr) -> Encoded {
    Encoded(SockAddr::from(*addr))
}

/// An IPv4 or IPv6 address, or an error for any other family.
fn inet(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IPv4 or IPv6 address"))
}

pub(super) fn peer_addr(s: &OwnedSocket) -> io::Result<SocketAddr> {
    inet(SockRef::from(s).peer_addr()?)
}

pub(super) fn local_addr(s: &OwnedSocket) -> io::Result<SocketAddr> {
    inet(SockRef::from(s).local_addr()?)
}
