/*
 * Proves the header's VCB layouts: sizeof and offsetof of every field of
 * every VCB against the documented offsets in layout_table.h, for the
 * target it is compiled for (gcc on Linux, mingw for Windows under Wine).
 * Also checks the byte-flipped constants' bytes in memory.
 */
#include "winappc.h"
#include <stdio.h>
#include <string.h>

static int failures, checks;

static void check(const char *what, size_t got, size_t want)
{
  checks++;
  if (got != want) {
    failures++;
    printf("FAIL %s: %zu, documented %zu\n", what, got, want);
  }
}

#if UINTPTR_MAX > 0xFFFFFFFFu
#define PICK(a64, a32) (a64)
#else
#define PICK(a64, a32) (a32)
#endif

int main(void)
{
#define SIZE(s, a64, a32) check("sizeof(struct " #s ")", sizeof(struct s), PICK(a64, a32));
#define FIELD(s, f, a64, a32) \
  check("offsetof(" #s ", " #f ")", offsetof(struct s, f), PICK(a64, a32));
#include "layout_table.h"
#undef SIZE
#undef FIELD

  /* Flipped constants hold the big-endian form in memory. */
  {
    struct appc_hdr hdr;
    unsigned char bytes[12];
    memset(&hdr, 0, sizeof hdr);
    hdr.opcode = AP_M_RECEIVE_AND_POST;
    hdr.opext = AP_MAPPED_CONVERSATION;
    hdr.primary_rc = AP_STATE_CHECK;
    hdr.secondary_rc = AP_RCV_AND_WAIT_BAD_STATE;
    memcpy(bytes, &hdr, sizeof bytes);
    check("opcode byte 0", bytes[0], 0x0D);
    check("opcode byte 1", bytes[1], 0x00);
    check("opext", bytes[2], 0x01);
    check("primary_rc byte 0", bytes[4], 0x00);
    check("primary_rc byte 1", bytes[5], 0x02);
    check("secondary_rc byte 8", bytes[8], 0x00);
    check("secondary_rc byte 11", bytes[11], 0xB1);
    check("sizeof(AP_ULONG)", sizeof(AP_ULONG), 4);
  }

  printf("layout: %d checks\n", checks);
  printf("%d passed, %d failed\n", checks - failures, failures);
  return failures != 0;
}
