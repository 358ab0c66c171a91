/*
 * Exactly one completion per accepted handle, under races (Linux, pthreads):
 * several threads each open conversations and race a receive's completion
 * (the partner's send) against WinAPPCCancelAsyncRequest from a second
 * thread. Every receive is issued with WinAsyncAPPC to a pipe (the window
 * stand-in), whose records name the task: each task must appear there
 * exactly once, and the cancel's answer must agree with the VCB: 0 with
 * AP_CANCELLED, WAPPCALREADY with the data.
 */
#include "pair.h"
#include <poll.h>
#include <pthread.h>

#define THREADS 4
#define ROUNDS 150

static int cancelled_total, completed_total;

typedef struct
{
  HANDLE task;
  int ready, go;
  int answer;
} CANCELLER;

static void *cancel_when_told(void *arg)
{
  CANCELLER *c = (CANCELLER *)arg;
  __atomic_store_n(&c->ready, 1, __ATOMIC_RELEASE);
  while (!__atomic_load_n(&c->go, __ATOMIC_ACQUIRE)) {
  }
  c->answer = WinAPPCCancelAsyncRequest(c->task);
  return NULL;
}

/* One message, or 0 if none came within `ms`. */
static int read_message(int fd, WINAPPC_MESSAGE *m, int ms)
{
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, ms) != 1) return 0;
  return read(fd, m, sizeof *m) == (ssize_t)sizeof *m;
}

static void *worker(void *arg)
{
  int id = (int)(intptr_t)arg, round, window[2];
  char name[16];
  CHECK(pipe(window) == 0);
  for (round = 0; round < ROUNDS; round++) {
    PAIR p;
    MC_RECEIVE_AND_WAIT rcv;
    MC_SEND_DATA send;
    unsigned char buf[16];
    WINAPPC_MESSAGE m;
    CANCELLER c;
    pthread_t t;
    int got;

    snprintf(name, sizeof name, "STRESS%d", id);
    open_pair(&p, name);
    mc_receive_vcb(&rcv, p.b_tp, p.b_conv, buf, sizeof buf);
    c.task = WinAsyncAPPC(APPC_FD_HANDLE(window[1]), VCB(rcv));
    CHECK(c.task != NULL);
    c.go = 0;
    c.ready = 0;
    pthread_create(&t, NULL, cancel_when_told, &c);
    while (!__atomic_load_n(&c.ready, __ATOMIC_ACQUIRE)) {
    }

    memset(&send, 0, sizeof send);
    send.opcode = AP_M_SEND_DATA;
    send.opext = AP_MAPPED_CONVERSATION;
    memcpy(send.tp_id, p.a_tp, 8);
    send.conv_id = p.a_conv;
    send.dlen = 4;
    send.dptr = (unsigned char *)"race";
    send.type = AP_SEND_DATA_FLUSH;
    __atomic_store_n(&c.go, 1, __ATOMIC_RELEASE);
    /* Vary who tends to win: the send at once, or after a pause. */
    for (got = 0; got < (round % 3) * 3000; got++) __atomic_load_n(&c.go, __ATOMIC_RELAXED);
    APPC(VCB(send)); /* OK, or CONV_FAILURE if the cancel closed the session first */
    pthread_join(t, NULL);

    got = read_message(window[0], &m, 5000);
    CHECK(got);
    CHECK(!got || (m.hAsyncTask == c.task && m.vcb == (void *)&rcv));
    CHECK(!read_message(window[0], &m, 0)); /* never a second completion */
    if (c.answer == 0) {
      CHECK(rcv.primary_rc == APPC_FLIPI(0x0021)); /* AP_CANCELLED */
      __atomic_add_fetch(&cancelled_total, 1, __ATOMIC_RELAXED);
    } else {
      CHECK(c.answer == WAPPCALREADY);
      CHECK(rcv.primary_rc == AP_OK && rcv.dlen == 4 && memcmp(buf, "race", 4) == 0);
      __atomic_add_fetch(&completed_total, 1, __ATOMIC_RELAXED);
    }
    CHECK(WinAPPCCancelAsyncRequest(c.task) == WAPPCALREADY);
    close_pair(&p);
  }
  close(window[0]);
  close(window[1]);
  return NULL;
}

int main(void)
{
  pthread_t threads[THREADS];
  int i;
  startup();
  for (i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, worker, (void *)(intptr_t)i);
  for (i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
  CHECK(WinAPPCCleanup());
  printf("stress: %d receives cancelled, %d completed first\n", cancelled_total, completed_total);
  CHECK(cancelled_total > 0 && completed_total > 0); /* both sides of the race ran */
  return report("stress");
}
