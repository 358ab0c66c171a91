//! The caller's completion objects, and how a completion reaches them.
//!
//! | entry point | Windows | Linux stand-in |
//! |---|---|---|
//! | `WinAsyncAPPCEx(hEvent)`, a post verb's event | `SetEvent` | `hEvent` is an eventfd: its counter gets 1 added |
//! | `WinAsyncAPPC(hWnd)` | `PostMessage` of the registered `"WinAsyncAPPC"` message, `wParam` the task, `lParam` the VCB | `hWnd` is a pipe or socket: one `WINAPPC_MESSAGE` (task, VCB) is written |
//! | `WinAsyncAPPCIOCP(info)` | `PostQueuedCompletionStatus` with the caller's bytes, key and OVERLAPPED | the port is a pipe or socket: one `APPC_IOCP_PACKET` is written |
//!
//! Linux has no window or completion port; a pipe is what a C program
//! there waits on in their place (`read`, `poll`, `epoll`), and each record
//! is smaller than `PIPE_BUF`, so concurrent completions never interleave.
//! The write blocks while the pipe is full: a completion is never dropped,
//! and a program that does not drain its pipe stalls the finishing thread
//! (docs/capi.md says how to size it).
//! A notification is sent only after the VCB is written, and the system
//! call (or Win32 call) that sends it is what orders the two for the
//! waiting thread.

/// Where one verb's completion is announced.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Notify {
    /// An event (`HANDLE`; on Linux an eventfd).
    Event(usize),
    /// A window (`HWND`; on Linux a pipe's write end).
    Window(usize),
    /// A completion port with the caller's packet values.
    Port {
        /// The port (`HANDLE`; on Linux a pipe's write end).
        port: usize,
        /// `APPC_NumberOfBytesTransferred`.
        bytes: u32,
        /// `APPC_CompletionKey`.
        key: u32,
        /// `APPC_pOverlapped`.
        overlapped: usize,
    },
}

impl Notify {
    /// Announces the completion of task `task`, whose VCB is `vcb`.
    pub(crate) fn send(self, task: u64, vcb: *mut u8) {
        match self {
            Notify::Event(event) => os::set_event(event),
            Notify::Window(window) => os::post_message(window, task, vcb),
            Notify::Port {
                port,
                bytes,
                key,
                overlapped,
            } => os::post_packet(port, bytes, key, overlapped),
        }
    }
}

#[cfg(unix)]
mod os {
    use std::os::fd::RawFd;

    /// `WINAPPC_MESSAGE` of the header.
    #[repr(C)]
    struct Message {
        task: usize,
        vcb: *mut u8,
    }

    /// `APPC_IOCP_PACKET` of the header.
    #[repr(C)]
    struct Packet {
        bytes: u32,
        key: u32,
        overlapped: usize,
    }

    /// Writes `record` whole to `fd`, retrying on EINTR. A descriptor the
    /// caller closed or filled is its own error; the completion is lost to
    /// it as a `PostMessage` to a destroyed window is.
    fn write_record<T>(fd: usize, record: &T) {
        let len = std::mem::size_of::<T>();
        loop {
            // SAFETY: `record` is a live value of `len` bytes; `write`
            // reads them and nothing else.
            let n = unsafe { libc::write(fd as RawFd, std::ptr::from_ref(record).cast(), len) };
            if n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return;
            }
        }
    }

    pub(super) fn set_event(fd: usize) {
        write_record(fd, &1u64);
    }

    pub(super) fn post_message(fd: usize, task: u64, vcb: *mut u8) {
        write_record(
            fd,
            &Message {
                task: task as usize,
                vcb,
            },
        );
    }

    pub(super) fn post_packet(fd: usize, bytes: u32, key: u32, overlapped: usize) {
        write_record(
            fd,
            &Packet {
                bytes,
                key,
                overlapped,
            },
        );
    }
}

#[cfg(windows)]
mod os {
    use std::sync::OnceLock;
    use windows_sys::Win32::System::Threading::SetEvent;
    use windows_sys::Win32::System::IO::PostQueuedCompletionStatus;
    use windows_sys::Win32::UI::WindowsAndMessaging::{PostMessageA, RegisterWindowMessageA};

    /// The message number of `RegisterWindowMessage("WinAsyncAPPC")`.
    pub(crate) fn message() -> u32 {
        static MESSAGE: OnceLock<u32> = OnceLock::new();
        // SAFETY: a NUL-terminated string literal.
        *MESSAGE.get_or_init(|| unsafe { RegisterWindowMessageA(c"WinAsyncAPPC".as_ptr().cast()) })
    }

    pub(super) fn set_event(event: usize) {
        // SAFETY: the caller's event handle; a bad handle fails the call
        // and touches nothing else.
        unsafe { SetEvent(event as _) };
    }

    pub(super) fn post_message(window: usize, task: u64, vcb: *mut u8) {
        // SAFETY: posting to a window handle only queues a message.
        unsafe { PostMessageA(window as _, message(), task as usize, vcb as isize) };
    }

    pub(super) fn post_packet(port: usize, bytes: u32, key: u32, overlapped: usize) {
        // SAFETY: the caller's port and OVERLAPPED pointer, passed through
        // uninterpreted as WinAsyncAPPCIOCP documents.
        unsafe { PostQueuedCompletionStatus(port as _, bytes, key as usize, overlapped as _) };
    }
}
