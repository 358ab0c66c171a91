//! The exported functions of `winappc.h`, with its names, signatures,
//! calling convention (`WINAPI`: `extern "system"`) and return values.
//!
//! Each function checks what it is given (a null VCB is not accepted, an
//! unknown handle is `WAPPCINVALID`) and otherwise hands over to the
//! modules that do the work: `decode` and `call` for the
//! asynchronous entry points, the engine's blocking call for `APPC`.
#![allow(non_snake_case)]

use crate::call::{self, Finish, VcbPtr};
use crate::decode::{decode, Found};
use crate::encode::encode;
use crate::notify::Notify;
use crate::process;
use appc::rc::{get_appc_return_code, GetRcError, PrimaryRc, SecondaryRc};
use appc::verbs::{Body, Verb};
use appc_engine::{WAPPCINVALID, WINAPPC_VERSION};
use std::cell::Cell;
use std::ffi::c_void;
use std::sync::Arc;

/// `HANDLE`, `HWND`.
pub type Handle = *mut c_void;

/// `FARPROC` as the blocking hook: a `BOOL` function, non-zero to go on
/// hooking. Only the `BOOL`'s 32 bits are read, as a hook declared `BOOL
/// WINAPI hook(void)` and cast to `FARPROC` (what applications write)
/// returns them.
pub type BlockingHook = Option<unsafe extern "system" fn() -> i32>;

/// `WAPPCDATA`.
#[repr(C)]
#[derive(Debug)]
pub struct WappcData {
    /// `wVersion`.
    pub version: u16,
    /// `szDescription`.
    pub description: [u8; 128],
}

/// `APPC_IOCP_INFO`.
#[repr(C)]
#[derive(Debug)]
pub struct IocpInfo {
    /// `APPC_CompletionPort`.
    pub port: Handle,
    /// `APPC_NumberOfBytesTransferred`.
    pub bytes: u32,
    /// `APPC_CompletionKey` (a 32-bit `DWORD` in the published header).
    pub key: u32,
    /// `APPC_pOverlapped`.
    pub overlapped: *mut c_void,
}

thread_local! {
    /// This thread's blocking hook (`None`: the default, which sleeps).
    static HOOK: Cell<BlockingHook> = const { Cell::new(None) };
}

/// `WinAPPCStartup`.
///
/// # Safety
/// `data` is null or points to a writable `WAPPCDATA`.
#[no_mangle]
pub unsafe extern "system" fn WinAPPCStartup(version: u16, data: *mut WappcData) -> i32 {
    let code = process::startup(version);
    if code == 0 && !data.is_null() {
        let text = b"appc-capi: lock-free asynchronous APPC (LU 6.2)";
        let mut description = [0u8; 128];
        description[..text.len()].copy_from_slice(text);
        // SAFETY: the caller's guarantee; written without reading it.
        unsafe {
            data.write_unaligned(WappcData {
                version: WINAPPC_VERSION,
                description,
            })
        };
    }
    code
}

/// `WinAPPCCleanup`: TRUE, or FALSE if the application was not started.
#[no_mangle]
pub extern "system" fn WinAPPCCleanup() -> i32 {
    i32::from(process::cleanup())
}

/// Starts the verb at `vcb` asynchronously, completing to `notify`.
///
/// # Safety
/// `vcb` is null or a VCB the caller gives to the library until its
/// completion.
unsafe fn submit(vcb: isize, notify: Notify) -> Handle {
    let vcb = vcb as *mut u8;
    if vcb.is_null() {
        return std::ptr::null_mut();
    }
    let process = process::current();
    let Some(process) = process.as_ref() else {
        return std::ptr::null_mut();
    };
    let mut found = Found::default();
    // SAFETY: the caller's guarantee.
    let verb = unsafe { decode(vcb, process.posts.event(), &mut found) };
    match call::submit(&process.app, verb, finish(vcb, process, found), notify) {
        Some(task) => task as usize as Handle,
        None => std::ptr::null_mut(),
    }
}

/// How to finish the verb of the VCB at `vcb`, given what decoding found.
#[inline]
fn finish(vcb: *mut u8, process: &process::Process, found: Found) -> Finish {
    Finish {
        vcb: VcbPtr(vcb),
        refusal: found.refusal,
        post: found.post_event.map(|event| (process.posts.clone(), event)),
    }
}

/// `WinAsyncAPPC`: completion posts the `"WinAsyncAPPC"` message to `window`
/// (Linux: writes a `WINAPPC_MESSAGE` to the descriptor `window`).
///
/// # Safety
/// `vcb` is null or a VCB the caller gives to the library until its
/// completion.
#[no_mangle]
pub unsafe extern "system" fn WinAsyncAPPC(window: Handle, vcb: isize) -> Handle {
    // SAFETY: the caller's guarantee.
    unsafe { submit(vcb, Notify::Window(window as usize)) }
}

/// `WinAsyncAPPCEx`: completion signals `event` (Linux: an eventfd).
///
/// # Safety
/// As [`WinAsyncAPPC`].
#[no_mangle]
pub unsafe extern "system" fn WinAsyncAPPCEx(event: Handle, vcb: isize) -> Handle {
    // SAFETY: the caller's guarantee.
    unsafe { submit(vcb, Notify::Event(event as usize)) }
}

/// `WinAsyncAPPCIOCP`: completion posts the caller's packet to its port.
///
/// # Safety
/// As [`WinAsyncAPPC`]; `info` is null or points to an `APPC_IOCP_INFO`.
#[no_mangle]
pub unsafe extern "system" fn WinAsyncAPPCIOCP(info: *const IocpInfo, vcb: isize) -> Handle {
    if info.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: non-null, the caller's guarantee; copied out at once.
    let info = unsafe { info.read_unaligned() };
    let notify = Notify::Port {
        port: info.port as usize,
        bytes: info.bytes,
        key: info.key,
        overlapped: info.overlapped as usize,
    };
    // SAFETY: the caller's guarantee.
    unsafe { submit(vcb, notify) }
}

/// `APPC`: runs the verb at `vcb` to completion on this thread, running the
/// thread's blocking hook meanwhile.
///
/// # Safety
/// `vcb` is null or a VCB readable and writable for its verb.
#[no_mangle]
pub unsafe extern "system" fn APPC(vcb: isize) {
    let vcb = vcb as *mut u8;
    if vcb.is_null() {
        return;
    }
    let Some(process) = process::current().as_ref().map(Arc::clone) else {
        let not_loaded = (PrimaryRc::COMM_SUBSYSTEM_NOT_LOADED, SecondaryRc(0));
        let mut unknown = Verb::with_opext(0, Body::Unknown { opcode: 0 });
        // SAFETY: the caller's guarantee; only the header is written.
        unsafe { encode(vcb, &mut unknown, Some(not_loaded)) };
        return;
    };
    let hook = HOOK.with(Cell::get);
    let mut found = Found::default();
    // The decoded verb goes straight into the call, never copied through
    // a local (a verb is a few hundred bytes).
    // SAFETY: the caller's guarantee.
    let mut recorded = None;
    let mut result = process.app.call_with_hook(
        unsafe { decode(vcb, process.posts.event(), &mut found) },
        |handle| {
            // The hook's first run: the call has waited a while; a cleanup
            // on another thread must be able to end it.
            if recorded.is_none() {
                recorded = Some(u64::from(handle));
                if process.blocked(u64::from(handle)) {
                    process.app.cancel_blocking_call();
                    return false;
                }
            }
            match hook {
                // SAFETY: the function the caller installed as this
                // thread's hook.
                Some(hook) => unsafe { hook() != 0 },
                None => false,
            }
        },
    );
    if let Some(handle) = recorded {
        process.unblocked(handle);
    }
    // Borrowed, not moved out: the verb is written back where it lies.
    match &mut result {
        Ok(verb) => finish(vcb, &process, found).complete(verb),
        Err(rejected) => {
            let not_loaded = (PrimaryRc::COMM_SUBSYSTEM_NOT_LOADED, SecondaryRc(0));
            // SAFETY: as above.
            unsafe { encode(vcb, &mut rejected.verb, Some(not_loaded)) };
        }
    }
}

/// `WinAPPCCancelAsyncRequest`: 0, `WAPPCALREADY` or `WAPPCINVALID`.
#[no_mangle]
pub extern "system" fn WinAPPCCancelAsyncRequest(task: Handle) -> i32 {
    match process::current().as_ref() {
        Some(process) => process.app.cancel(task as usize as u64).code(),
        None => WAPPCINVALID,
    }
}

/// `WinAPPCCancelBlockingCall`: 0, or `WAPPCINVALID` with no blocking call
/// on this thread.
#[no_mangle]
pub extern "system" fn WinAPPCCancelBlockingCall() -> i32 {
    match process::current().as_ref() {
        Some(process) => process.app.cancel_blocking_call(),
        None => WAPPCINVALID,
    }
}

/// `WinAPPCIsBlocking`.
#[no_mangle]
pub extern "system" fn WinAPPCIsBlocking() -> i32 {
    let process = process::current();
    i32::from(process.as_ref().is_some_and(|p| p.app.is_blocking()))
}

/// `WinAPPCSetBlockingHook`: installs `hook` for this thread; returns the
/// previous one (null for the default).
#[no_mangle]
pub extern "system" fn WinAPPCSetBlockingHook(hook: BlockingHook) -> BlockingHook {
    HOOK.with(|cell| cell.replace(hook))
}

/// `WinAPPCUnhookBlockingHook`: restores this thread's default hook.
#[no_mangle]
pub extern "system" fn WinAPPCUnhookBlockingHook() -> i32 {
    HOOK.with(|cell| cell.set(None));
    1
}

/// `GetAppcReturnCode`: the text of the VCB's return codes, NUL-terminated;
/// its length, or 0 with the error in `GetLastError` (Linux: `errno`).
///
/// # Safety
/// `vcb` is null or readable for a VCB header; `buffer` is null or
/// writable for `length` bytes.
#[no_mangle]
pub unsafe extern "system" fn GetAppcReturnCode(
    vcb: *const u8,
    length: u32,
    buffer: *mut u8,
) -> i32 {
    if vcb.is_null() || buffer.is_null() {
        set_last_error(GetRcError::BadParameters.code());
        return 0;
    }
    // SAFETY: the caller's guarantee: the header's two rc fields sit at
    // fixed offsets.
    let (primary, secondary) = unsafe {
        (
            vcb.add(4).cast::<[u8; 2]>().read_unaligned(),
            vcb.add(8).cast::<[u8; 4]>().read_unaligned(),
        )
    };
    // SAFETY: the caller's guarantee.
    let buf = unsafe { std::slice::from_raw_parts_mut(buffer, length as usize) };
    match get_appc_return_code(
        PrimaryRc::from_vcb_bytes(primary),
        SecondaryRc::from_vcb_bytes(secondary),
        buf,
    ) {
        Ok(len) => len as i32,
        Err(error) => {
            set_last_error(error.code());
            0
        }
    }
}

#[cfg(windows)]
fn set_last_error(code: u32) {
    // SAFETY: sets this thread's last-error value only.
    unsafe { windows_sys::Win32::Foundation::SetLastError(code) };
}

#[cfg(not(windows))]
fn set_last_error(code: u32) {
    // SAFETY: this thread's errno location, always valid.
    unsafe { *libc::__errno_location() = code as i32 };
}
