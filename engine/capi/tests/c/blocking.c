/*
 * The blocking entry point APPC with a blocking hook:
 *  - while APPC waits, the thread's hook runs; WinAPPCIsBlocking is TRUE
 *    there, and a nested APPC is refused with AP_THREAD_BLOCKING;
 *  - the hook issues the partner's send asynchronously and the blocking
 *    receive returns with the data;
 *  - the hook cancels with WinAPPCCancelBlockingCall: 0, and APPC returns
 *    with WAPPCCANCEL in primary_rc; outside a call it is WAPPCINVALID;
 *  - Set returns the previous hook, Unhook restores the default;
 *  - WinAPPCCleanup on one thread ends a blocking call waiting on another
 *    (it returns with AP_CANCELLED).
 */
#include "pair.h"
#ifndef _WIN32
#include <pthread.h>
#endif

static PAIR pair;
static int hook_calls, nested_refused, blocking_seen, cancel_result = -1;
static int send_on_call = -1, cancel_on_call = -1;
static MC_SEND_DATA async_send;
static HANDLE send_event;

static BOOL WINAPI hook(void)
{
  TP_STARTED nested;
  hook_calls++;
  blocking_seen += WinAPPCIsBlocking() != 0;
  if (hook_calls == 1) {
    memset(&nested, 0, sizeof nested);
    nested.opcode = AP_TP_STARTED;
    APPC(VCB(nested));
    nested_refused = nested.primary_rc == APPC_FLIPI(0xF006); /* AP_THREAD_BLOCKING */
  }
  if (hook_calls == send_on_call) {
    memset(&async_send, 0, sizeof async_send);
    async_send.opcode = AP_M_SEND_DATA;
    async_send.opext = AP_MAPPED_CONVERSATION;
    memcpy(async_send.tp_id, pair.a_tp, 8);
    async_send.conv_id = pair.a_conv;
    async_send.dlen = 5;
    async_send.dptr = (unsigned char *)"ping!";
    async_send.type = AP_SEND_DATA_FLUSH;
    WinAsyncAPPCEx(send_event, VCB(async_send));
  }
  if (hook_calls == cancel_on_call) {
    cancel_result = WinAPPCCancelBlockingCall();
  }
  return TRUE;
}

static MC_RECEIVE_AND_WAIT waiting;
static int waiting_returned;

#ifdef _WIN32
static DWORD WINAPI wait_in_appc(void *arg)
#else
static void *wait_in_appc(void *arg)
#endif
{
  (void)arg;
  APPC(VCB(waiting));
  __atomic_store_n(&waiting_returned, 1, __ATOMIC_RELEASE);
  return 0;
}

/* A blocking call on another thread, ended by WinAPPCCleanup here. */
static void cleanup_ends_a_blocking_call(void)
{
  PAIR p;
  static unsigned char buf[16];
  int waited;
#ifdef _WIN32
  HANDLE thread;
#else
  pthread_t thread;
#endif
  open_pair(&p, "CAPICLEAN");
  mc_receive_vcb(&waiting, p.b_tp, p.b_conv, buf, sizeof buf);
#ifdef _WIN32
  thread = CreateThread(NULL, 0, wait_in_appc, NULL, 0, NULL);
#else
  pthread_create(&thread, NULL, wait_in_appc, NULL);
#endif
  sleep_ms(100); /* long enough for its hook to have run */
  CHECK(!__atomic_load_n(&waiting_returned, __ATOMIC_ACQUIRE));
  CHECK(WinAPPCCleanup());
  for (waited = 0; waited < 5000 && !__atomic_load_n(&waiting_returned, __ATOMIC_ACQUIRE);
       waited += 10)
    sleep_ms(10);
  CHECK(__atomic_load_n(&waiting_returned, __ATOMIC_ACQUIRE));
  CHECK(waiting.primary_rc == APPC_FLIPI(0x0021) || waiting.primary_rc == APPC_FLIPI(WAPPCCANCEL));
#ifdef _WIN32
  WaitForSingleObject(thread, INFINITE);
  CloseHandle(thread);
#else
  pthread_join(thread, NULL);
#endif
}

int main(void)
{
  MC_RECEIVE_AND_WAIT rcv;
  unsigned char buf[16];

  startup();
  send_event = new_event();
  CHECK(WinAPPCSetBlockingHook((FARPROC)(uintptr_t)hook) == NULL);
  CHECK(WinAPPCIsBlocking() == 0);
  CHECK(WinAPPCCancelBlockingCall() == WAPPCINVALID);

  open_pair(&pair, "CAPIBLOCK");

  /* The hook sends on its third call; the receive gets the data. */
  send_on_call = 3;
  mc_receive_vcb(&rcv, pair.b_tp, pair.b_conv, buf, sizeof buf);
  APPC(VCB(rcv));
  CHECK_RC(rcv, 0x0000, 0);
  CHECK(rcv.what_rcvd == AP_DATA_COMPLETE);
  CHECK(rcv.dlen == 5 && memcmp(buf, "ping!", 5) == 0);
  CHECK(hook_calls >= 3);
  CHECK(blocking_seen == hook_calls);
  CHECK(nested_refused);
  CHECK(wait_event(send_event, 5000));
  CHECK_RC(async_send, 0x0000, 0);

  /* The hook cancels the call on its second call. */
  hook_calls = 0;
  send_on_call = -1;
  cancel_on_call = 2;
  mc_receive_vcb(&rcv, pair.b_tp, pair.b_conv, buf, sizeof buf);
  APPC(VCB(rcv));
  CHECK(cancel_result == 0);
  CHECK(rcv.primary_rc == APPC_FLIPI(WAPPCCANCEL));
  CHECK(hook_calls >= 2);
  CHECK(WinAPPCIsBlocking() == 0);
  CHECK(WinAPPCCancelBlockingCall() == WAPPCINVALID);

  CHECK(WinAPPCSetBlockingHook(NULL) == (FARPROC)(uintptr_t)hook);
  CHECK(WinAPPCSetBlockingHook((FARPROC)(uintptr_t)hook) == NULL);
  CHECK(WinAPPCUnhookBlockingHook());
  CHECK(WinAPPCSetBlockingHook(NULL) == NULL);

  close_pair(&pair);
  close_event(send_event);
  cleanup_ends_a_blocking_call();
  CHECK(!WinAPPCCleanup());
  return report("blocking");
}
