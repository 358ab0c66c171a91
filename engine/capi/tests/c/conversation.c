/*
 * A two-TP conversation through the C ABI: SEND_DATA, RECEIVE_AND_WAIT,
 * CONFIRM / CONFIRMED, DEALLOCATE, with the data landing in the caller's
 * buffer and the return codes flipped in the VCB; then the partner's
 * verb failing (an abend seen as AP_DEALLOC_ABEND, a verb on the dead
 * conversation refused), GET_STATE / GET_TYPE / GET_ATTRIBUTES, and the
 * posting verbs, whose second completion sets the VCB's own event.
 */
#include "pair.h"

static void exchange(void)
{
  PAIR p;
  MC_CONFIRM confirm;
  MC_CONFIRMED confirmed;
  MC_RECEIVE_AND_WAIT rcv;
  MC_DEALLOCATE dealloc;
  GET_STATE state;
  GET_TYPE type;
  MC_GET_ATTRIBUTES attrs;
  unsigned char buf[64];
  HANDLE event = new_event(), task;

  open_pair(&p, "CAPICONV");

  memset(&state, 0, sizeof state);
  state.opcode = AP_GET_STATE;
  memcpy(state.tp_id, p.b_tp, 8);
  state.conv_id = p.b_conv;
  APPC(VCB(state));
  CHECK_RC(state, 0x0000, 0);
  CHECK(state.conv_state == AP_RECEIVE_STATE);

  memset(&type, 0, sizeof type);
  type.opcode = AP_GET_TYPE;
  memcpy(type.tp_id, p.a_tp, 8);
  type.conv_id = p.a_conv;
  APPC(VCB(type));
  CHECK_RC(type, 0x0000, 0);
  CHECK(type.conv_type == AP_MAPPED_CONVERSATION);

  mc_conv_vcb(&attrs, sizeof attrs, AP_M_GET_ATTRIBUTES, p.a_tp, p.a_conv);
  APPC(VCB(attrs));
  CHECK_RC(attrs, 0x0000, 0);
  CHECK(attrs.sync_level == AP_CONFIRM_SYNC_LEVEL);
  CHECK(memcmp(attrs.plu_alias, "CAPILU  ", 8) == 0);
  CHECK(attrs.mode_name[0] == 0x7B); /* '#' of #INTER, EBCDIC */

  /* A: data, then CONFIRM, which waits for B's CONFIRMED. */
  mc_send(p.a_tp, p.a_conv, "hello, partner", AP_NONE, 0x0000, 0);
  mc_conv_vcb(&confirm, sizeof confirm, AP_M_CONFIRM, p.a_tp, p.a_conv);
  task = WinAsyncAPPCEx(event, VCB(confirm));
  CHECK(task != NULL);

  /* B: the data, straight into its buffer, then the confirmation request. */
  memset(buf, 0xEE, sizeof buf);
  mc_receive_vcb(&rcv, p.b_tp, p.b_conv, buf, sizeof buf);
  APPC(VCB(rcv));
  CHECK_RC(rcv, 0x0000, 0);
  CHECK(rcv.what_rcvd == AP_DATA_COMPLETE);
  CHECK(rcv.dlen == 14);
  CHECK(memcmp(buf, "hello, partner", 14) == 0);
  CHECK(buf[14] == 0xEE);

  mc_receive_vcb(&rcv, p.b_tp, p.b_conv, buf, sizeof buf);
  APPC(VCB(rcv));
  CHECK_RC(rcv, 0x0000, 0);
  CHECK(rcv.what_rcvd == AP_CONFIRM_WHAT_RECEIVED);
  CHECK(rcv.dlen == 0);
  CHECK(!wait_event(event, 50)); /* A's CONFIRM still waits */

  mc_conv_vcb(&confirmed, sizeof confirmed, AP_M_CONFIRMED, p.b_tp, p.b_conv);
  APPC(VCB(confirmed));
  CHECK_RC(confirmed, 0x0000, 0);
  CHECK(wait_event(event, 5000));
  CHECK_RC(confirm, 0x0000, 0);
  CHECK(confirm.rts_rcvd == AP_NO);

  /* A ends the conversation; B sees DEALLOC_NORMAL. */
  mc_conv_vcb(&dealloc, sizeof dealloc, AP_M_DEALLOCATE, p.a_tp, p.a_conv);
  dealloc.dealloc_type = AP_FLUSH;
  APPC(VCB(dealloc));
  CHECK_RC(dealloc, 0x0000, 0);
  mc_receive_vcb(&rcv, p.b_tp, p.b_conv, buf, sizeof buf);
  APPC(VCB(rcv));
  CHECK_RC(rcv, 0x0009, 0); /* AP_DEALLOC_NORMAL */

  close_pair(&p);
  close_event(event);
}

static void partner_fails(void)
{
  PAIR p;
  MC_RECEIVE_AND_WAIT rcv;
  MC_DEALLOCATE abend;
  unsigned char buf[16];
  HANDLE event = new_event(), task;

  open_pair(&p, "CAPIFAIL");
  /* B waits for data; A abends instead. */
  mc_receive_vcb(&rcv, p.b_tp, p.b_conv, buf, sizeof buf);
  task = WinAsyncAPPCEx(event, VCB(rcv));
  CHECK(task != NULL);
  mc_conv_vcb(&abend, sizeof abend, AP_M_DEALLOCATE, p.a_tp, p.a_conv);
  abend.dealloc_type = AP_ABEND;
  APPC(VCB(abend));
  CHECK_RC(abend, 0x0000, 0);
  CHECK(wait_event(event, 5000));
  CHECK_RC(rcv, 0x0005, 0); /* AP_DEALLOC_ABEND */

  /* A verb on the conversation that ended. */
  mc_send(p.b_tp, p.b_conv, "late", AP_NONE, 0x0001, 0x00000002); /* AP_BAD_CONV_ID */
  close_pair(&p);
  close_event(event);
}

static void state_check(void)
{
  PAIR p;
  MC_CONFIRMED confirmed;

  open_pair(&p, "CAPISTATE");
  /* CONFIRMED in SEND state: refused, state unchanged. */
  mc_conv_vcb(&confirmed, sizeof confirmed, AP_M_CONFIRMED, p.a_tp, p.a_conv);
  APPC(VCB(confirmed));
  CHECK_RC(confirmed, 0x0002, 0x00000041); /* AP_STATE_CHECK, AP_CONFIRMED_BAD_STATE */
  mc_send(p.a_tp, p.a_conv, "still in send", AP_SEND_DATA_FLUSH, 0x0000, 0);
  close_pair(&p);
}

static void posting_verbs(void)
{
  PAIR p;
  MC_RECEIVE_AND_POST post;
  MC_TEST_RTS_AND_POST rts_post;
  MC_REQUEST_TO_SEND rts;
  unsigned char buf[32];
  HANDLE sema = new_event(), rts_event = new_event(), entry = new_event(), task;

  open_pair(&p, "CAPIPOST");

  /* B: RECEIVE_AND_POST; the initial completion through the entry point,
   * the post (the data) through sema once A sends. */
  memset(&post, 0, sizeof post);
  post.opcode = AP_M_RECEIVE_AND_POST;
  post.opext = AP_MAPPED_CONVERSATION;
  memcpy(post.tp_id, p.b_tp, 8);
  post.conv_id = p.b_conv;
  post.max_len = sizeof buf;
  post.dptr = buf;
  post.sema = (unsigned char *)sema;
  task = WinAsyncAPPCEx(entry, VCB(post));
  CHECK(task != NULL);
  CHECK(wait_event(entry, 5000));
  CHECK_RC(post, 0x0000, 0);
  CHECK(!wait_event(sema, 50));
  mc_send(p.a_tp, p.a_conv, "posted", AP_SEND_DATA_FLUSH, 0x0000, 0);
  CHECK(wait_event(sema, 5000));
  CHECK_RC(post, 0x0000, 0);
  CHECK(post.what_rcvd == AP_DATA_COMPLETE);
  CHECK(post.dlen == 6 && memcmp(buf, "posted", 6) == 0);
  CHECK(!wait_event(entry, 50)); /* the post never signals the entry's event */

  /* B: POST_ON_RECEIPT; A's next data sets its event, and B receives it. */
  {
    MC_POST_ON_RECEIPT por;
    MC_RECEIVE_AND_WAIT rcv;
    HANDLE por_event = new_event();
    memset(&por, 0, sizeof por);
    por.opcode = AP_M_POST_ON_RECEIPT;
    por.opext = AP_MAPPED_CONVERSATION;
    memcpy(por.tp_id, p.b_tp, 8);
    por.conv_id = p.b_conv;
    por.max_len = 1;
    por.sema = (AP_ULONG)(uintptr_t)por_event;
    APPC(VCB(por));
    CHECK_RC(por, 0x0000, 0);
    CHECK(!wait_event(por_event, 50));
    mc_send(p.a_tp, p.a_conv, "arrived", AP_SEND_DATA_FLUSH, 0x0000, 0);
    CHECK(wait_event(por_event, 5000));
    CHECK(por.primary_rc == AP_OK);
    mc_receive_vcb(&rcv, p.b_tp, p.b_conv, buf, sizeof buf);
    APPC(VCB(rcv));
    CHECK_RC(rcv, 0x0000, 0);
    CHECK(rcv.dlen == 7 && memcmp(buf, "arrived", 7) == 0);
    close_event(por_event);
  }

  /* A: TEST_RTS_AND_POST; B's REQUEST_TO_SEND sets its event. */
  mc_conv_vcb(&rts_post, sizeof rts_post, AP_M_TEST_RTS_AND_POST, p.a_tp, p.a_conv);
  rts_post.handle = (AP_ULONG)(uintptr_t)rts_event;
  APPC(VCB(rts_post));
  CHECK_RC(rts_post, 0x0000, 0);
  CHECK(!wait_event(rts_event, 50));
  mc_conv_vcb(&rts, sizeof rts, AP_M_REQUEST_TO_SEND, p.b_tp, p.b_conv);
  APPC(VCB(rts));
  CHECK_RC(rts, 0x0000, 0);
  CHECK(wait_event(rts_event, 5000));
  CHECK_RC(rts_post, 0x0000, 0);

  close_pair(&p);
  close_event(sema);
  close_event(rts_event);
  close_event(entry);
}

int main(void)
{
  startup();
  exchange();
  partner_fails();
  state_check();
  posting_verbs();
  CHECK(WinAPPCCleanup());
  CHECK(!WinAPPCCleanup());
  return report("conversation");
}
