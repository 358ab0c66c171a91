/*
 * The Windows completion mechanisms, for real (run under Wine in CI):
 *  - WinAsyncAPPC posts the registered "WinAsyncAPPC" message to a window,
 *    wParam the task handle, lParam the VCB, received by a GetMessage loop;
 *    a cancelled receive's AP_CANCELLED arrives the same way;
 *  - WinAsyncAPPCIOCP posts the caller's bytes, key and OVERLAPPED to a
 *    completion port, read with GetQueuedCompletionStatus;
 *  - WinAsyncAPPCEx signals a Win32 event (the other tests use it too).
 */
#include "pair.h"

static UINT appc_message;

/* Pumps messages until the APPC completion of `task` arrives (or 5 s). */
static int wait_message(HANDLE task, void *vcb)
{
  MSG msg;
  DWORD until = GetTickCount() + 5000;
  while (GetTickCount() < until) {
    if (PeekMessageA(&msg, NULL, 0, 0, PM_REMOVE)) {
      if (msg.message == appc_message) {
        CHECK(msg.wParam == (WPARAM)task);
        CHECK(msg.lParam == (LPARAM)vcb);
        return 1;
      }
      TranslateMessage(&msg);
      DispatchMessageA(&msg);
    } else {
      MsgWaitForMultipleObjects(0, NULL, FALSE, 50, QS_ALLINPUT);
    }
  }
  return 0;
}

static void window_messages(HWND window)
{
  TP_STARTED started;
  PAIR p;
  MC_RECEIVE_AND_WAIT rcv;
  unsigned char buf[16];
  HANDLE task;

  memset(&started, 0, sizeof started);
  started.opcode = AP_TP_STARTED;
  EBCDIC(started.tp_name, "CAPIWIN");
  task = WinAsyncAPPC(window, VCB(started));
  CHECK(task != NULL);
  CHECK(wait_message(task, &started));
  CHECK_RC(started, 0x0000, 0);
  tp_ended(started.tp_id);

  open_pair(&p, "CAPIWINMSG");
  mc_receive_vcb(&rcv, p.b_tp, p.b_conv, buf, sizeof buf);
  task = WinAsyncAPPC(window, VCB(rcv));
  CHECK(task != NULL);
  CHECK(WinAPPCCancelAsyncRequest(task) == 0);
  CHECK(wait_message(task, &rcv));
  CHECK_RC(rcv, 0x0021, 0); /* AP_CANCELLED */
  CHECK(WinAPPCCancelAsyncRequest(task) == WAPPCALREADY);
  close_pair(&p);
}

static void completion_port(void)
{
  HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
  APPC_IOCP_INFO info;
  TP_STARTED started;
  OVERLAPPED overlapped;
  DWORD bytes = 0;
  ULONG_PTR key = 0;
  LPOVERLAPPED got = NULL;
  HANDLE task;

  CHECK(port != NULL);
  memset(&started, 0, sizeof started);
  started.opcode = AP_TP_STARTED;
  EBCDIC(started.tp_name, "CAPIIOCP");
  info.APPC_CompletionPort = port;
  info.APPC_NumberOfBytesTransferred = 77;
  info.APPC_CompletionKey = 0xC0FFEE;
  info.APPC_pOverlapped = &overlapped;
  task = WinAsyncAPPCIOCP(&info, VCB(started));
  CHECK(task != NULL);
  CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &got, 5000));
  CHECK(bytes == 77);
  CHECK(key == 0xC0FFEE);
  CHECK(got == &overlapped);
  CHECK_RC(started, 0x0000, 0);
  tp_ended(started.tp_id);
  CloseHandle(port);
}

int main(void)
{
  HWND window;
  startup();
  appc_message = RegisterWindowMessageA(WIN_APPC_ASYNC_COMPLETE_MESSAGE);
  CHECK(appc_message != 0);
  window = CreateWindowExA(0, "STATIC", "appc", 0, 0, 0, 0, 0, HWND_MESSAGE, NULL, NULL, NULL);
  CHECK(window != NULL);
  if (window != NULL) window_messages(window);
  completion_port();
  if (window != NULL) DestroyWindow(window);
  CHECK(WinAPPCCleanup());
  return report("windows");
}
