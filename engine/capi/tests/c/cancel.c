/*
 * Cancellation and bad input through the C ABI:
 *  - WinAPPCCancelAsyncRequest on a pending receive returns 0 and the
 *    receive completes with AP_CANCELLED; again, WAPPCALREADY; a made-up
 *    handle, WAPPCINVALID;
 *  - a null VCB is not accepted (handle 0) and APPC(NULL) returns;
 *    an unknown opcode is AP_INVALID_VERB; a length with no buffer is
 *    AP_PARAMETER_CHECK / AP_INVALID_DATA_SEGMENT; a posting verb with no
 *    event AP_INVALID_SEMAPHORE_HANDLE; GetAppcReturnCode's text and its
 *    errors;
 *  - the other completion targets (Linux: a window is a pipe that gets a
 *    WINAPPC_MESSAGE, a port a pipe that gets an APPC_IOCP_PACKET).
 */
#include "pair.h"
#include <errno.h>

static void cancel_pending_receive(void)
{
  PAIR p;
  MC_RECEIVE_AND_WAIT rcv;
  unsigned char buf[16];
  HANDLE event = new_event(), task;

  open_pair(&p, "CAPICANCEL");
  mc_receive_vcb(&rcv, p.b_tp, p.b_conv, buf, sizeof buf);
  task = WinAsyncAPPCEx(event, VCB(rcv));
  CHECK(task != NULL);
  CHECK(!wait_event(event, 50));
  CHECK(WinAPPCCancelAsyncRequest(task) == 0);
  /* The completion was posted before the cancel returned. */
  CHECK(wait_event(event, 0));
  CHECK_RC(rcv, 0x0021, 0); /* AP_CANCELLED */
  CHECK(WinAPPCCancelAsyncRequest(task) == WAPPCALREADY);
  CHECK(WinAPPCCancelAsyncRequest((HANDLE)(intptr_t)0x5EED1234) == WAPPCINVALID);
  CHECK(WinAPPCCancelAsyncRequest(NULL) == WAPPCINVALID);
  /* The cancel closed the session: A's conversation failed. */
  mc_send(p.a_tp, p.a_conv, "after", AP_SEND_DATA_FLUSH, 0x000F, 0); /* CONV_FAILURE_RETRY */
  close_pair(&p);
  close_event(event);
}

static void bad_vcbs(void)
{
  struct appc_hdr unknown;
  MC_SEND_DATA send;
  MC_RECEIVE_AND_WAIT rcv;
  MC_RECEIVE_AND_POST post;
  unsigned char tp[8];
  unsigned char text[256];
  HANDLE event = new_event(), task;

  CHECK(WinAsyncAPPCEx(event, 0) == NULL);
  APPC(0); /* returns, nothing to write */

  memset(&unknown, 0, sizeof unknown);
  unknown.opcode = APPC_FLIPI(0x7777);
  APPC(VCB(unknown));
  CHECK_RC(unknown, 0xFFFF, 0); /* AP_INVALID_VERB */
  memset(&unknown, 0, sizeof unknown);
  unknown.opcode = APPC_FLIPI(0x7777);
  task = WinAsyncAPPCEx(event, VCB(unknown));
  CHECK(task != NULL); /* accepted: exactly one completion follows */
  CHECK(wait_event(event, 5000));
  CHECK_RC(unknown, 0xFFFF, 0);

  tp_started(tp, "CAPIBAD");
  memset(&send, 0, sizeof send);
  send.opcode = AP_M_SEND_DATA;
  send.opext = AP_MAPPED_CONVERSATION;
  memcpy(send.tp_id, tp, 8);
  send.conv_id = 1;
  send.dlen = 100;
  send.dptr = NULL;
  APPC(VCB(send));
  CHECK_RC(send, 0x0001, 0x00000006); /* AP_INVALID_DATA_SEGMENT */
  task = WinAsyncAPPCEx(event, VCB(send));
  CHECK(task != NULL);
  CHECK(wait_event(event, 5000));
  CHECK_RC(send, 0x0001, 0x00000006);

  mc_receive_vcb(&rcv, tp, 1, NULL, 50);
  APPC(VCB(rcv));
  CHECK_RC(rcv, 0x0001, 0x00000006);

  memset(&post, 0, sizeof post);
  post.opcode = AP_M_RECEIVE_AND_POST;
  post.opext = AP_MAPPED_CONVERSATION;
  memcpy(post.tp_id, tp, 8);
  post.conv_id = 1;
  post.max_len = sizeof text;
  post.dptr = text;
  post.sema = NULL;
  APPC(VCB(post));
  CHECK_RC(post, 0x0001, 0x000000D6); /* AP_INVALID_SEMAPHORE_HANDLE */

  /* A conversation id that names nothing. */
  memset(&send, 0, sizeof send);
  send.opcode = AP_M_SEND_DATA;
  send.opext = AP_MAPPED_CONVERSATION;
  memcpy(send.tp_id, tp, 8);
  send.conv_id = 0x7FFFFFFF;
  APPC(VCB(send));
  CHECK_RC(send, 0x0001, 0x00000002); /* AP_BAD_CONV_ID */

  CHECK(GetAppcReturnCode(&unknown, sizeof text, text) > 0);
  CHECK(strlen((char *)text) > 0);
  CHECK(GetAppcReturnCode(NULL, sizeof text, text) == 0);
  CHECK(GetAppcReturnCode(&unknown, 2, text) == 0);
#ifndef _WIN32
  CHECK(errno == APPC_GRC_BUFFER_TOO_SMALL);
#else
  CHECK(GetLastError() == APPC_GRC_BUFFER_TOO_SMALL);
#endif
  tp_ended(tp);
  close_event(event);
}

#ifndef _WIN32
static void pipe_targets(void)
{
  int window[2], port[2];
  TP_STARTED a, b;
  WINAPPC_MESSAGE message;
  APPC_IOCP_PACKET packet;
  APPC_IOCP_INFO info;
  HANDLE task;
  static int overlapped_stand_in;

  CHECK(pipe(window) == 0);
  CHECK(pipe(port) == 0);

  memset(&a, 0, sizeof a);
  a.opcode = AP_TP_STARTED;
  EBCDIC(a.tp_name, "CAPIWIN");
  task = WinAsyncAPPC(APPC_FD_HANDLE(window[1]), VCB(a));
  CHECK(task != NULL);
  CHECK(read(window[0], &message, sizeof message) == (ssize_t)sizeof message);
  CHECK(message.hAsyncTask == task);
  CHECK(message.vcb == (void *)&a);
  CHECK_RC(a, 0x0000, 0);

  memset(&b, 0, sizeof b);
  b.opcode = AP_TP_STARTED;
  EBCDIC(b.tp_name, "CAPIPORT");
  info.APPC_CompletionPort = APPC_FD_HANDLE(port[1]);
  info.APPC_NumberOfBytesTransferred = 77;
  info.APPC_CompletionKey = 0xC0FFEE;
  info.APPC_pOverlapped = (LPOVERLAPPED)&overlapped_stand_in;
  task = WinAsyncAPPCIOCP(&info, VCB(b));
  CHECK(task != NULL);
  CHECK(read(port[0], &packet, sizeof packet) == (ssize_t)sizeof packet);
  CHECK(packet.NumberOfBytesTransferred == 77);
  CHECK(packet.CompletionKey == 0xC0FFEE);
  CHECK(packet.pOverlapped == (LPOVERLAPPED)&overlapped_stand_in);
  CHECK_RC(b, 0x0000, 0);
  CHECK(WinAsyncAPPCIOCP(NULL, VCB(b)) == NULL);

  tp_ended(a.tp_id);
  tp_ended(b.tp_id);
  close(window[0]);
  close(window[1]);
  close(port[0]);
  close(port[1]);
}
#endif

int main(void)
{
  TP_STARTED early;
  /* Before startup: nothing is accepted. */
  memset(&early, 0, sizeof early);
  early.opcode = AP_TP_STARTED;
  CHECK(WinAsyncAPPCEx(new_event(), VCB(early)) == NULL);
  CHECK(WinAPPCCancelAsyncRequest((HANDLE)1) == WAPPCINVALID);
  CHECK(WinAPPCStartup(0x0000, NULL) == WAPPCINVALID);
  CHECK(WinAPPCStartup(0x0002, NULL) == WAPPCVERNOTSUPPORTED);

  startup();
  cancel_pending_receive();
  bad_vcbs();
#ifndef _WIN32
  pipe_targets();
#endif
  CHECK(WinAPPCCleanup());
  return report("cancel");
}
