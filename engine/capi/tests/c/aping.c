/*
 * APING written in C against winappc.h, talking over TCP to the project's
 * apingd (started by run.sh; the node's partner comes from the
 * environment: APPC_PARTNERS=APINGSRV=host:port). The classic exchange:
 * MC_ALLOCATE to TP APINGD at sync level CONFIRM, the version records
 * with PREPARE_TO_RECEIVE, echo iterations, MC_DEALLOCATE, TP_ENDED; all
 * verbs but the first two through WinAsyncAPPCEx, as a gateway would.
 */
#include "common.h"
#include <time.h>

#define BLOCK 100
#define ITERATIONS 20

static HANDLE event;

/* Issues `vcb` with WinAsyncAPPCEx and waits for its completion. */
static void run_async(APPC_VCB vcb)
{
  HANDLE task = WinAsyncAPPCEx(event, vcb);
  CHECK(task != NULL);
  CHECK(wait_event(event, 10000));
}

static void send_turn(const unsigned char tp[8], AP_ULONG conv, const unsigned char *data,
                      unsigned short len)
{
  MC_SEND_DATA v;
  memset(&v, 0, sizeof v);
  v.opcode = AP_M_SEND_DATA;
  v.opext = AP_MAPPED_CONVERSATION;
  memcpy(v.tp_id, tp, 8);
  v.conv_id = conv;
  v.dlen = len;
  v.dptr = (unsigned char *)data;
  v.type = AP_SEND_DATA_P_TO_R_FLUSH;
  run_async(VCB(v));
  CHECK_RC(v, 0x0000, 0);
}

/* Receives records until the partner hands the direction back; returns
 * how many came, the last one in `buf`. */
static int receive_turn(const unsigned char tp[8], AP_ULONG conv, unsigned char *buf,
                        unsigned short max, unsigned short *len)
{
  MC_RECEIVE_AND_WAIT v;
  int records = 0;
  for (;;) {
    mc_receive_vcb(&v, tp, conv, buf, max);
    run_async(VCB(v));
    CHECK_RC(v, 0x0000, 0);
    if (v.primary_rc != AP_OK) return -1;
    if (v.what_rcvd == AP_DATA_COMPLETE) {
      records++;
      *len = v.dlen;
    } else if (v.what_rcvd == AP_SEND) {
      return records;
    } else {
      CHECK(!"unexpected what_rcvd");
      return -1;
    }
  }
}

static double ms_since(const struct timespec *start)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1e3 + (now.tv_nsec - start->tv_nsec) / 1e6;
}

int main(void)
{
  static const unsigned char version[] = {0x01, 2, 40, 0x02, 'C', ' ', 'A', 'B', 'I', 0};
  unsigned char tp[8], block[BLOCK], buf[32767];
  unsigned short len = 0;
  AP_ULONG conv;
  MC_DEALLOCATE dealloc;
  struct timespec start;
  int i, echoed = 0;
  double total;

  event = new_event();
  startup();
  tp_started(tp, "APING");
  conv = mc_allocate(tp, "APINGSRV", "APINGD");

  clock_gettime(CLOCK_MONOTONIC, &start);
  send_turn(tp, conv, version, sizeof version);
  CHECK(receive_turn(tp, conv, buf, sizeof buf, &len) == 1);
  CHECK(len >= 3 && buf[0] == 0x01 && buf[1] == 2);
  printf("aping (C): partner version %d.%02d, startup and version exchange %.3f ms\n", buf[1],
         buf[2], ms_since(&start));

  for (i = 0; i < BLOCK; i++) block[i] = (unsigned char)i;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (i = 0; i < ITERATIONS; i++) {
    send_turn(tp, conv, block, BLOCK);
    if (receive_turn(tp, conv, buf, sizeof buf, &len) == 1 && len == BLOCK &&
        memcmp(buf, block, BLOCK) == 0)
      echoed++;
  }
  total = ms_since(&start);
  CHECK(echoed == ITERATIONS);
  printf("aping (C): %d echoes of %d bytes, %.3f ms each\n", echoed, BLOCK, total / ITERATIONS);

  mc_conv_vcb(&dealloc, sizeof dealloc, AP_M_DEALLOCATE, tp, conv);
  dealloc.dealloc_type = AP_FLUSH;
  run_async(VCB(dealloc));
  CHECK_RC(dealloc, 0x0000, 0);
  tp_ended(tp);
  CHECK(WinAPPCCleanup());
  close_event(event);
  return report("aping");
}
