/*
 * The layout proof at compile time: every size and offset of
 * layout_table.h as a static assertion, so that compiling this file for a
 * target (32-bit Windows with i686-w64-mingw32-gcc, where nothing runs)
 * proves the header's layout there.
 */
#include "winappc.h"

#if UINTPTR_MAX > 0xFFFFFFFFu
#define PICK(a64, a32) (a64)
#else
#define PICK(a64, a32) (a32)
#endif

#define SIZE(s, a64, a32) \
  _Static_assert(sizeof(struct s) == PICK(a64, a32), "sizeof(struct " #s ")");
#define FIELD(s, f, a64, a32) \
  _Static_assert(offsetof(struct s, f) == PICK(a64, a32), "offsetof(" #s ", " #f ")");
#include "layout_table.h"

_Static_assert(sizeof(AP_ULONG) == 4, "unsigned long fields are 32 bits");

int main(void) { return 0; }
