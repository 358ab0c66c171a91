/* Stand-in for Windows' bcryptprimitives.dll under Wine 8, which lacks it.
 * Rust's std (1.78+) fills its random keys through ProcessPrng from this
 * DLL; this one forwards to RtlGenRandom (SystemFunction036 in advapi32),
 * which Wine has. Built and installed by .ci/wine-setup. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
