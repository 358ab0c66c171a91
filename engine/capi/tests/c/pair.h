/*
 * Two TPs of this process in one conversation over the in-memory node:
 * the invoking TP (A, in SEND after this) and the invoked one (B, in
 * RECEIVE), B's RECEIVE_ALLOCATE issued with WinAsyncAPPCEx.
 */
#ifndef CAPI_TEST_PAIR_H
#define CAPI_TEST_PAIR_H

#include "common.h"

typedef struct
{
  unsigned char a_tp[8], b_tp[8];
  AP_ULONG a_conv, b_conv;
} PAIR;

static inline void open_pair(PAIR *p, const char *tp_name)
{
  RECEIVE_ALLOCATE ra;
  MC_FLUSH flush;
  HANDLE event = new_event(), task;

  memset(&ra, 0, sizeof ra);
  ra.opcode = AP_RECEIVE_ALLOCATE;
  EBCDIC(ra.tp_name, tp_name);
  task = WinAsyncAPPCEx(event, VCB(ra));
  CHECK(task != NULL);

  tp_started(p->a_tp, "CAPIA");
  p->a_conv = mc_allocate(p->a_tp, "CAPILU", tp_name);
  /* ALLOCATE is buffered: the attach flows with the first flush. */
  mc_conv_vcb(&flush, sizeof flush, AP_M_FLUSH, p->a_tp, p->a_conv);
  APPC(VCB(flush));
  CHECK_RC(flush, 0x0000, 0);

  CHECK(wait_event(event, 5000));
  CHECK_RC(ra, 0x0000, 0);
  CHECK(ra.conv_type == AP_MAPPED_CONVERSATION);
  CHECK(ra.sync_level == AP_CONFIRM_SYNC_LEVEL);
  memcpy(p->b_tp, ra.tp_id, 8);
  p->b_conv = ra.conv_id;
  close_event(event);
}

static inline void close_pair(PAIR *p)
{
  tp_ended(p->a_tp);
  tp_ended(p->b_tp);
}

#endif
