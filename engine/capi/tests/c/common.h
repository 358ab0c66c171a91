/*
 * Helpers the C tests share: checks that count and report, names in the
 * VCB's code pages, and waiting for a WinAsyncAPPCEx event (a Win32 event
 * on Windows, an eventfd on Linux).
 */
#ifndef CAPI_TEST_COMMON_H
#define CAPI_TEST_COMMON_H

#include "winappc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#endif

static int t_failures, t_checks;

/* Counted atomically: the stress test checks from several threads. */
#define COUNT(counter) __atomic_add_fetch(&(counter), 1, __ATOMIC_RELAXED)

#define CHECK(cond)                                                          \
  do {                                                                       \
    COUNT(t_checks);                                                         \
    if (!(cond)) {                                                           \
      COUNT(t_failures);                                                     \
      printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
    }                                                                        \
  } while (0)

/* Checks a VCB's return codes (documented, unflipped values). */
#define CHECK_RC(vcb, prc, src)                                              \
  do {                                                                       \
    COUNT(t_checks);                                                         \
    if ((vcb).primary_rc != APPC_FLIPI(prc) ||                               \
        (vcb).secondary_rc != APPC_FLIPL(src)) {                             \
      COUNT(t_failures);                                                     \
      printf("FAIL %s:%d: %s: rc %04X/%08lX, expected %04X/%08lX\n",         \
             __FILE__, __LINE__, #vcb, APPC_FLIPI((vcb).primary_rc),         \
             (unsigned long)APPC_FLIPL((vcb).secondary_rc), (unsigned)(prc), \
             (unsigned long)(src));                                          \
    }                                                                        \
  } while (0)

static inline int report(const char *name)
{
  printf("%s: %d checks\n", name, t_checks);
  printf("%d passed, %d failed\n", t_checks - t_failures, t_failures);
  return t_failures != 0;
}

/* An ASCII name, blank-padded, into an ASCII VCB field. */
static inline void ascii_field(unsigned char *field, size_t len, const char *name)
{
  size_t n = strlen(name);
  memset(field, ' ', len);
  memcpy(field, name, n < len ? n : len);
}

/* An ASCII name into an EBCDIC VCB field (name characters only). */
static inline void ebcdic_field(unsigned char *field, size_t len, const char *name)
{
  size_t i;
  memset(field, 0x40, len);
  for (i = 0; i < len && name[i]; i++) {
    char c = name[i];
    unsigned char e = 0x6F;
    if (c >= 'A' && c <= 'I') e = (unsigned char)(0xC1 + (c - 'A'));
    else if (c >= 'J' && c <= 'R') e = (unsigned char)(0xD1 + (c - 'J'));
    else if (c >= 'S' && c <= 'Z') e = (unsigned char)(0xE2 + (c - 'S'));
    else if (c >= '0' && c <= '9') e = (unsigned char)(0xF0 + (c - '0'));
    else if (c == '#') e = 0x7B;
    else if (c == '@') e = 0x7C;
    else if (c == '$') e = 0x5B;
    else if (c == '.') e = 0x4B;
    field[i] = e;
  }
}

#define ASCII(field, name) ascii_field((field), sizeof(field), (name))
#define EBCDIC(field, name) ebcdic_field((field), sizeof(field), (name))

/* An auto-reset event for WinAsyncAPPCEx. */
static inline HANDLE new_event(void)
{
#ifdef _WIN32
  return CreateEvent(NULL, FALSE, FALSE, NULL);
#else
  return APPC_FD_HANDLE(eventfd(0, 0));
#endif
}

static inline void close_event(HANDLE event)
{
#ifdef _WIN32
  CloseHandle(event);
#else
  close((int)(intptr_t)event);
#endif
}

/* Waits up to `ms` for the event; consumes one signal. 1 if it came. */
static inline int wait_event(HANDLE event, int ms)
{
#ifdef _WIN32
  return WaitForSingleObject(event, (DWORD)ms) == WAIT_OBJECT_0;
#else
  struct pollfd p;
  uint64_t count;
  p.fd = (int)(intptr_t)event;
  p.events = POLLIN;
  if (poll(&p, 1, ms) != 1) return 0;
  /* eventfd counts signals; take one at a time like an auto-reset event
   * that was set once per completion. */
  if (read(p.fd, &count, sizeof count) != (ssize_t)sizeof count) return 0;
  if (count > 1) {
    uint64_t rest = count - 1;
    if (write(p.fd, &rest, sizeof rest) != (ssize_t)sizeof rest) return 0;
  }
  return 1;
#endif
}


static inline void sleep_ms(int ms)
{
#ifdef _WIN32
  Sleep((DWORD)ms);
#else
  usleep((useconds_t)ms * 1000);
#endif
}

#define VCB(v) ((APPC_VCB)(intptr_t)&(v))

static inline void startup(void)
{
  WAPPCDATA data;
  memset(&data, 0, sizeof data);
  CHECK(WinAPPCStartup(0x0001, &data) == 0);
  CHECK(data.wVersion == 0x0001);
  CHECK(data.szDescription[0] != 0);
}

/* TP_STARTED (blocking); returns the tp_id in `tp_id`. */
static inline void tp_started(unsigned char tp_id[8], const char *name)
{
  TP_STARTED v;
  memset(&v, 0, sizeof v);
  v.opcode = AP_TP_STARTED;
  ASCII(v.lu_alias, "");
  EBCDIC(v.tp_name, name);
  APPC(VCB(v));
  CHECK_RC(v, 0x0000, 0);
  memcpy(tp_id, v.tp_id, 8);
}

static inline void tp_ended(const unsigned char tp_id[8])
{
  TP_ENDED v;
  memset(&v, 0, sizeof v);
  v.opcode = AP_TP_ENDED;
  memcpy(v.tp_id, tp_id, 8);
  v.type = AP_SOFT;
  APPC(VCB(v));
  CHECK_RC(v, 0x0000, 0);
}

/* An MC_ALLOCATE at sync level CONFIRM to `plu` / `tp` (blocking). */
static inline AP_ULONG mc_allocate(const unsigned char tp_id[8], const char *plu, const char *tp)
{
  MC_ALLOCATE v;
  memset(&v, 0, sizeof v);
  v.opcode = AP_M_ALLOCATE;
  v.opext = AP_MAPPED_CONVERSATION;
  memcpy(v.tp_id, tp_id, 8);
  v.sync_level = AP_CONFIRM_SYNC_LEVEL;
  v.rtn_ctl = AP_WHEN_SESSION_ALLOCATED;
  ASCII(v.plu_alias, plu);
  EBCDIC(v.mode_name, "#INTER");
  EBCDIC(v.tp_name, tp);
  v.security = AP_NONE;
  APPC(VCB(v));
  CHECK_RC(v, 0x0000, 0);
  return v.conv_id;
}

static inline void mc_send(const unsigned char tp_id[8], AP_ULONG conv, const char *data,
                    unsigned char type, unsigned short prc, AP_ULONG src)
{
  MC_SEND_DATA v;
  memset(&v, 0, sizeof v);
  v.opcode = AP_M_SEND_DATA;
  v.opext = AP_MAPPED_CONVERSATION;
  memcpy(v.tp_id, tp_id, 8);
  v.conv_id = conv;
  v.dlen = (unsigned short)strlen(data);
  v.dptr = (unsigned char *)data;
  v.type = type;
  APPC(VCB(v));
  CHECK_RC(v, prc, src);
}

static inline void mc_receive_vcb(MC_RECEIVE_AND_WAIT *v, const unsigned char tp_id[8], AP_ULONG conv,
                           unsigned char *buf, unsigned short max)
{
  memset(v, 0, sizeof *v);
  v->opcode = AP_M_RECEIVE_AND_WAIT;
  v->opext = AP_MAPPED_CONVERSATION;
  memcpy(v->tp_id, tp_id, 8);
  v->conv_id = conv;
  v->rtn_status = AP_NO;
  v->max_len = max;
  v->dptr = buf;
}

static inline void mc_conv_vcb(void *vcb, size_t size, unsigned short opcode,
                        const unsigned char tp_id[8], AP_ULONG conv)
{
  struct mc_confirmed *v = (struct mc_confirmed *)vcb;
  memset(vcb, 0, size);
  v->opcode = opcode;
  v->opext = AP_MAPPED_CONVERSATION;
  memcpy(v->tp_id, tp_id, 8);
  v->conv_id = conv;
}

#endif
