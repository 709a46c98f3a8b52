/*
 * A stand-in for Windows' bcryptprimitives.dll, for Wine builds that lack it.
 * Rust's standard library draws its random numbers (HashMap seeds) from
 * ProcessPrng in that DLL; this one answers from RtlGenRandom
 * (advapi32!SystemFunction036), which every Wine provides. Built and placed next
 * to each binary by scripts/wine-run; never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG part = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, part))
            return FALSE;
        data += part;
        len -= part;
    }
    return TRUE;
}
